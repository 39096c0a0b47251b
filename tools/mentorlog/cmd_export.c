/* mentorlog export: the profile's current state, decrypted. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ export */

static const char usage_export[] =
    "Usage: mentorlog export --format json|csv --output FILE|-\n"
    "The profile's current state, decrypted: cases (name, phone), grants (with\n"
    "purpose and close reason), contacts (with note), notes and absences (not yet\n"
    "their sealed reasons, nor the reasons of voided contacts), into FILE: a new\n"
    "file created with mode 0600 (an existing file or\n"
    "a symbolic link is refused, never overwritten; an incomplete file is removed),\n"
    "or to standard output only when asked with --output -. Without --output the\n"
    "export is refused: the citizens' names and notes would land wherever standard\n"
    "output goes. CSV (RFC 4180, rows end with CRLF): one row per item, first\n"
    "column the type; columns type,case,id,date,minutes,channel,outcome,\n"
    "name_or_text,phone_or_ref,purpose,close_reason (the last two filled for\n"
    "grants only). A field is quoted when it holds a comma, a quote or a line\n"
    "break; a text starting with = + - @ or a tab (a spreadsheet formula) is\n"
    "quoted and prefixed with ' so that it shows as text.\n";

/* What export writes of one case: its lists, or nothing (erased). */
struct case_items {
  mentorlog_grant *g;
  mentorlog_contact *c;
  mentorlog_note *nt;
  mentorlog_absence *a;
  size_t ng, nc, nn, na;
};

static int items_load(mentorlog *h, const uint8_t case_id[MENTORLOG_ID_BYTES], struct case_items *it) {
  int err;
  if ((err = mentorlog_grants(h, case_id, &it->g, &it->ng)) || (err = mentorlog_contacts(h, case_id, &it->c, &it->nc)) ||
      (err = mentorlog_notes(h, case_id, &it->nt, &it->nn)) || (err = mentorlog_absences(h, case_id, &it->a, &it->na)))
    return err;
  return 0;
}

static void items_free(struct case_items *it) {
  mentorlog_grants_free(it->g, it->ng);
  mentorlog_contacts_free(it->c, it->nc);
  mentorlog_notes_free(it->nt, it->nn);
  mentorlog_absences_free(it->a, it->na);
  memset(it, 0, sizeof *it);
}

/* ------------------------------------------------------------- JSON */

static void case_json(mlproto_json *j, const mentorlog_case *cs, const struct case_items *it) {
  mlproto_json_obj(j);
  mlproto_json_khex(j, "id", cs->id, MENTORLOG_ID_BYTES);
  mlproto_json_kbool(j, "erased", cs->erased);
  mlproto_json_kstr(j, "name", cs->name);
  mlproto_json_kstr(j, "phone", cs->phone);
  mlproto_json_key(j, "grants");
  mlproto_json_arr(j);
  for (size_t k = 0; k < it->ng; k++) {
    const mentorlog_grant *g = &it->g[k];
    mlproto_json_obj(j);
    mlproto_json_khex(j, "id", g->id, MENTORLOG_ID_BYTES);
    grant_json_texts(j, g);
    mlproto_json_kdate(j, "start", g->start);
    mlproto_json_kdate(j, "end", g->end);
    mlproto_json_kbool(j, "closed", g->closed);
    mlproto_json_kstr(j, "close_reason", g->close_reason);
    mlproto_json_ku64(j, "minutes_per_week", g->minutes_per_week);
    mlproto_json_end(j);
  }
  mlproto_json_end(j);
  mlproto_json_key(j, "contacts");
  mlproto_json_arr(j);
  for (size_t k = 0; k < it->nc; k++)
    contact_json(j, &it->c[k]);
  mlproto_json_end(j);
  mlproto_json_key(j, "notes");
  mlproto_json_arr(j);
  for (size_t k = 0; k < it->nn; k++) {
    char when[32];
    fmt_local(when, it->nt[k].recorded_ms);
    mlproto_json_obj(j);
    mlproto_json_khex(j, "record", it->nt[k].record, MENTORLOG_ID_BYTES);
    mlproto_json_kstr(j, "recorded", when);
    mlproto_json_kstr(j, "text", it->nt[k].text);
    mlproto_json_end(j);
  }
  mlproto_json_end(j);
  mlproto_json_key(j, "absences");
  mlproto_json_arr(j);
  for (size_t k = 0; k < it->na; k++) {
    const mentorlog_absence *a = &it->a[k];
    mlproto_json_obj(j);
    mlproto_json_khex(j, "record", a->record, MENTORLOG_ID_BYTES);
    mlproto_json_kdate(j, "from", a->from);
    mlproto_json_kdate(j, "to", a->to);
    mlproto_json_kstr(j, "kind", mentorlog_absence_kind_name(a->kind));
    mlproto_json_kstr(j, "approved_ref", a->approved_ref);
    mlproto_json_end(j);
  }
  mlproto_json_end(j);
  mlproto_json_end(j);
}

/* -------------------------------------------------------------- CSV */

/* The first four columns of a row: type, case, id, date. */
static void csv_head(mlproto_csv *c, const char *type, const uint8_t case_id[MENTORLOG_ID_BYTES],
                     const uint8_t id[MENTORLOG_ID_BYTES], const char *date) {
  mlproto_csv_str(c, type);
  mlproto_csv_hex(c, case_id, MENTORLOG_ID_BYTES);
  mlproto_csv_hex(c, id, MENTORLOG_ID_BYTES);
  mlproto_csv_str(c, date);
}

/* n empty fields. */
static void csv_skip(mlproto_csv *c, int n) {
  while (n-- > 0)
    mlproto_csv_str(c, NULL);
}

/* "from..to" of two dates into out. */
static void date_range(char out[23], mentorlog_date from, mentorlog_date to) {
  char f[11], t[11];
  mentorlog_format_date(f, from);
  mentorlog_format_date(t, to);
  snprintf(out, 23, "%s..%s", f, t);
}

static void case_csv(mlproto_csv *c, const mentorlog_case *cs, const struct case_items *it) {
  csv_head(c, "case", cs->id, cs->id, NULL);
  csv_skip(c, 3);
  mlproto_csv_str(c, cs->erased ? "(erased)" : cs->name);
  mlproto_csv_str(c, cs->phone);
  csv_skip(c, 2);
  mlproto_csv_row(c);
  for (size_t k = 0; k < it->ng; k++) {
    const mentorlog_grant *g = &it->g[k];
    char range[23];
    date_range(range, g->start, g->end);
    csv_head(c, "grant", cs->id, g->id, range);
    mlproto_csv_u64(c, g->minutes_per_week);
    csv_skip(c, 2);
    mlproto_csv_str(c, g->jobcentre);
    mlproto_csv_str(c, g->reference);
    mlproto_csv_str(c, g->purpose);
    mlproto_csv_str(c, g->close_reason);
    mlproto_csv_row(c);
  }
  for (size_t k = 0; k < it->nc; k++) {
    const mentorlog_contact *ct = &it->c[k];
    char when[32];
    fmt_local(when, ct->start_ms);
    csv_head(c, "contact", cs->id, ct->record, when);
    mlproto_csv_u64(c, ct->minutes);
    mlproto_csv_str(c, mentorlog_channel_name(ct->channel));
    mlproto_csv_str(c, mentorlog_outcome_name(ct->outcome));
    mlproto_csv_str(c, ct->note);
    csv_skip(c, 3);
    mlproto_csv_row(c);
  }
  for (size_t k = 0; k < it->nn; k++) {
    char when[32];
    fmt_local(when, it->nt[k].recorded_ms);
    csv_head(c, "note", cs->id, it->nt[k].record, when);
    csv_skip(c, 3);
    mlproto_csv_str(c, it->nt[k].text);
    csv_skip(c, 3);
    mlproto_csv_row(c);
  }
  for (size_t k = 0; k < it->na; k++) {
    const mentorlog_absence *a = &it->a[k];
    char range[23];
    date_range(range, a->from, a->to);
    csv_head(c, "absence", cs->id, a->record, range);
    csv_skip(c, 3);
    mlproto_csv_str(c, mentorlog_absence_kind_name(a->kind));
    mlproto_csv_str(c, a->approved_ref);
    csv_skip(c, 2);
    mlproto_csv_row(c);
  }
}

/* ----------------------------------------------------------- export */

/* The export of every case to out, one case at a time: each is built
 * whole in b, then written. Returns 0 or an exit status (printed). */
static int export_cases(mentorlog *h, FILE *out, bool js) {
  mlproto_buf b;
  mlproto_json j;
  mlproto_csv c;
  mlproto_buf_init(&b, OUT_CAP);
  mlproto_json_init(&j, &b);
  mlproto_csv_init(&c, &b);
  int *werr = js ? &j.err : &c.err; /* the writer's sticky error */
  if (js) {
    mlproto_json_obj(&j);
    mlproto_json_key(&j, "cases");
    mlproto_json_arr(&j);
  } else {
    static const char *const cols[] = {"type", "case", "id", "date", "minutes", "channel", "outcome",
                                       "name_or_text", "phone_or_ref", "purpose", "close_reason"};
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
      mlproto_csv_str(&c, cols[k]);
    mlproto_csv_row(&c);
  }
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  int err = mentorlog_cases(h, &cs, &nc), rc = 0;
  for (size_t i = 0; !err && !*werr && !rc && i < nc; i++) {
    struct case_items it = {0};
    if (!cs[i].erased && (err = items_load(h, cs[i].id, &it))) {
      items_free(&it);
      break;
    }
    if (js)
      case_json(&j, &cs[i], &it);
    else
      case_csv(&c, &cs[i], &it);
    items_free(&it);
    if (!*werr)
      rc = out_flush(&b, out, "export");
  }
  mentorlog_cases_free(cs, nc);
  if (js) {
    mlproto_json_end(&j);
    mlproto_json_end(&j);
  }
  int wrc = js ? mlproto_json_finish(&j) : mlproto_csv_finish(&c);
  if (err)
    rc = fail(h, err, "export");
  else if (!rc && wrc)
    rc = fail(NULL, wrc, "export");
  else if (!rc)
    rc = out_flush(&b, out, "export");
  mlproto_buf_free(&b);
  return rc;
}

int cmd_export(int argc, char **argv) {
  struct opt opts[] = {{"format", 0, 0, 0}, {"output", 0, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_export, &rc))
    return rc;
  const char *fmt = optv(opts, "format");
  if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "csv")))
    return usage_error(usage_export, "export needs --format json or csv");
  const char *path = optv(opts, "output");
  if (!path)
    return usage_error(usage_export,
                       "export writes every name and note decrypted: give --output FILE (a new file, mode 0600)\n"
                       "or, to write them to standard output, --output -");
  mentorlog *h;
  FILE *out;
  if ((rc = open_profile(&h, false)))
    return rc;
  if ((rc = output_open(path, &out))) {
    mentorlog_close(h);
    return rc;
  }
  rc = export_cases(h, out, strcmp(fmt, "json") == 0);
  rc = output_close(out, path, rc);
  mentorlog_close(h);
  return rc;
}
