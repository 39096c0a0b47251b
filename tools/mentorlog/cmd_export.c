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
    "output goes. CSV: one row per item, first column the type;\n"
    "columns type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,\n"
    "purpose,close_reason (the last two filled for grants only).\n";

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
  bool js = strcmp(fmt, "json") == 0;
  mentorlog *h;
  FILE *out;
  if ((rc = open_profile(&h, false)))
    return rc;
  if ((rc = output_open(path, &out))) {
    mentorlog_close(h);
    return rc;
  }
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  int err = mentorlog_cases(h, &cs, &nc);
  if (js)
    fputs("{\"cases\":[", out);
  else
    fputs("type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,purpose,close_reason\n", out);
  for (size_t i = 0; !err && i < nc; i++) {
    char cid[33];
    hex(cid, cs[i].id);
    if (js) {
      fprintf(out, "%s{\"id\":\"%s\",\"erased\":%s,\"name\":", i ? "," : "", cid, cs[i].erased ? "true" : "false");
      json_str(out, cs[i].name);
      fputs(",\"phone\":", out);
      json_str(out, cs[i].phone);
    } else {
      fprintf(out, "case,%s,%s,,,,,", cid, cid);
      csv_str(out, cs[i].erased ? "(erased)" : cs[i].name);
      fputc(',', out);
      csv_str(out, cs[i].phone);
      fputs(",,\n", out);
    }
    if (cs[i].erased) {
      if (js)
        fputs(",\"grants\":[],\"contacts\":[],\"notes\":[],\"absences\":[]}", out);
      continue;
    }
    mentorlog_grant *g = NULL;
    mentorlog_contact *c = NULL;
    mentorlog_note *nt = NULL;
    mentorlog_absence *a = NULL;
    size_t ng = 0, ncn = 0, nn = 0, na = 0;
    if ((err = mentorlog_grants(h, cs[i].id, &g, &ng)) || (err = mentorlog_contacts(h, cs[i].id, &c, &ncn)) ||
        (err = mentorlog_notes(h, cs[i].id, &nt, &nn)) || (err = mentorlog_absences(h, cs[i].id, &a, &na))) {
      mentorlog_grants_free(g, ng);
      mentorlog_contacts_free(c, ncn);
      mentorlog_notes_free(nt, nn);
      break;
    }
    if (js)
      fputs(",\"grants\":[", out);
    for (size_t j = 0; j < ng; j++) {
      char gid[33], s[11], e[11];
      hex(gid, g[j].id);
      mentorlog_format_date(s, g[j].start);
      mentorlog_format_date(e, g[j].end);
      if (js) {
        fprintf(out, "%s{\"id\":\"%s\",", j ? "," : "", gid);
        grant_json_texts(out, &g[j]);
        fprintf(out, ",\"start\":\"%s\",\"end\":\"%s\",\"closed\":%s,\"close_reason\":", s, e,
               g[j].closed ? "true" : "false");
        json_str(out, g[j].close_reason);
        fprintf(out, ",\"minutes_per_week\":%u}", g[j].minutes_per_week);
      } else {
        fprintf(out, "grant,%s,%s,%s..%s,%u,,,", cid, gid, s, e, g[j].minutes_per_week);
        csv_str(out, g[j].jobcentre);
        fputc(',', out);
        csv_str(out, g[j].reference);
        fputc(',', out);
        csv_str(out, g[j].purpose);
        fputc(',', out);
        csv_str(out, g[j].close_reason);
        fputc('\n', out);
      }
    }
    if (js)
      fputs("],\"contacts\":[", out);
    for (size_t j = 0; j < ncn; j++) {
      if (js) {
        contact_json(out, &c[j], j == 0);
      } else {
        char id[33], when[32];
        hex(id, c[j].record);
        fmt_local(when, c[j].start_ms);
        fprintf(out, "contact,%s,%s,%s,%u,%s,%s,", cid, id, when, c[j].minutes, mentorlog_channel_name(c[j].channel),
               mentorlog_outcome_name(c[j].outcome));
        csv_str(out, c[j].note);
        fputs(",,,\n", out);
      }
    }
    if (js)
      fputs("],\"notes\":[", out);
    for (size_t j = 0; j < nn; j++) {
      char id[33], when[32];
      hex(id, nt[j].record);
      fmt_local(when, nt[j].recorded_ms);
      if (js) {
        fprintf(out, "%s{\"record\":\"%s\",\"recorded\":\"%s\",\"text\":", j ? "," : "", id, when);
        json_str(out, nt[j].text);
        fputc('}', out);
      } else {
        fprintf(out, "note,%s,%s,%s,,,,", cid, id, when);
        csv_str(out, nt[j].text);
        fputs(",,,\n", out);
      }
    }
    if (js)
      fputs("],\"absences\":[", out);
    for (size_t j = 0; j < na; j++) {
      char f[11], t[11], id[33];
      hex(id, a[j].record);
      mentorlog_format_date(f, a[j].from);
      mentorlog_format_date(t, a[j].to);
      if (js) {
        fprintf(out, "%s{\"record\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"kind\":\"%s\",\"approved_ref\":", j ? "," : "", id,
               f, t, mentorlog_absence_kind_name(a[j].kind));
        json_str(out, a[j].approved_ref);
        fputc('}', out);
      } else {
        fprintf(out, "absence,%s,%s,%s..%s,,,,%s,", cid, id, f, t, mentorlog_absence_kind_name(a[j].kind));
        csv_str(out, a[j].approved_ref);
        fputs(",,\n", out);
      }
    }
    if (js)
      fputs("]}", out);
    mentorlog_grants_free(g, ng);
    mentorlog_contacts_free(c, ncn);
    mentorlog_notes_free(nt, nn);
    mentorlog_absences_free(a, na);
  }
  if (js)
    fputs("]}\n", out);
  mentorlog_cases_free(cs, nc);
  rc = err ? fail(h, err, "export") : 0;
  rc = output_close(out, path, rc);
  mentorlog_close(h);
  return rc;
}
