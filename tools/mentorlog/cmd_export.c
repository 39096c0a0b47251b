/* mentorlog export: everything, decrypted. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ export */

static const char usage_export[] =
    "Usage: mentorlog export --format json|csv\n"
    "Everything in the profile, decrypted, to standard output (cases, grants,\n"
    "contacts, notes, absences). CSV: one row per item, first column the type;\n"
    "columns type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,\n"
    "purpose,close_reason (the last two filled for grants only).\n";

int cmd_export(int argc, char **argv) {
  struct opt opts[] = {{"format", 0, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_export, &rc))
    return rc;
  const char *fmt = optv(opts, "format");
  if (!fmt || (strcmp(fmt, "json") && strcmp(fmt, "csv")))
    return usage_error(usage_export, "export needs --format json or csv");
  bool js = strcmp(fmt, "json") == 0;
  mentorlog *h;
  if ((rc = open_profile(&h, false)))
    return rc;
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  int err = mentorlog_cases(h, &cs, &nc);
  if (js)
    fputs("{\"cases\":[", stdout);
  else
    puts("type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,purpose,close_reason");
  for (size_t i = 0; !err && i < nc; i++) {
    char cid[33];
    hex(cid, cs[i].id);
    if (js) {
      printf("%s{\"id\":\"%s\",\"erased\":%s,\"name\":", i ? "," : "", cid, cs[i].erased ? "true" : "false");
      json_str(stdout, cs[i].name);
      fputs(",\"phone\":", stdout);
      json_str(stdout, cs[i].phone);
    } else {
      printf("case,%s,%s,,,,,", cid, cid);
      csv_str(stdout, cs[i].erased ? "(erased)" : cs[i].name);
      fputc(',', stdout);
      csv_str(stdout, cs[i].phone);
      fputs(",,\n", stdout);
    }
    if (cs[i].erased) {
      if (js)
        fputs(",\"grants\":[],\"contacts\":[],\"notes\":[],\"absences\":[]}", stdout);
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
      fputs(",\"grants\":[", stdout);
    for (size_t j = 0; j < ng; j++) {
      char gid[33], s[11], e[11];
      hex(gid, g[j].id);
      mentorlog_format_date(s, g[j].start);
      mentorlog_format_date(e, g[j].end);
      if (js) {
        printf("%s{\"id\":\"%s\",", j ? "," : "", gid);
        grant_json_texts(&g[j]);
        printf(",\"start\":\"%s\",\"end\":\"%s\",\"closed\":%s,\"close_reason\":", s, e,
               g[j].closed ? "true" : "false");
        json_str(stdout, g[j].close_reason);
        printf(",\"minutes_per_week\":%u}", g[j].minutes_per_week);
      } else {
        printf("grant,%s,%s,%s..%s,%u,,,", cid, gid, s, e, g[j].minutes_per_week);
        csv_str(stdout, g[j].jobcentre);
        fputc(',', stdout);
        csv_str(stdout, g[j].reference);
        fputc(',', stdout);
        csv_str(stdout, g[j].purpose);
        fputc(',', stdout);
        csv_str(stdout, g[j].close_reason);
        fputc('\n', stdout);
      }
    }
    if (js)
      fputs("],\"contacts\":[", stdout);
    for (size_t j = 0; j < ncn; j++) {
      if (js) {
        contact_json(stdout, &c[j], j == 0);
      } else {
        char id[33], when[32];
        hex(id, c[j].record);
        fmt_local(when, c[j].start_ms);
        printf("contact,%s,%s,%s,%u,%s,%s,", cid, id, when, c[j].minutes, mentorlog_channel_name(c[j].channel),
               mentorlog_outcome_name(c[j].outcome));
        csv_str(stdout, c[j].note);
        puts(",,,");
      }
    }
    if (js)
      fputs("],\"notes\":[", stdout);
    for (size_t j = 0; j < nn; j++) {
      char id[33], when[32];
      hex(id, nt[j].record);
      fmt_local(when, nt[j].recorded_ms);
      if (js) {
        printf("%s{\"record\":\"%s\",\"recorded\":\"%s\",\"text\":", j ? "," : "", id, when);
        json_str(stdout, nt[j].text);
        fputc('}', stdout);
      } else {
        printf("note,%s,%s,%s,,,,", cid, id, when);
        csv_str(stdout, nt[j].text);
        puts(",,,");
      }
    }
    if (js)
      fputs("],\"absences\":[", stdout);
    for (size_t j = 0; j < na; j++) {
      char f[11], t[11], id[33];
      hex(id, a[j].record);
      mentorlog_format_date(f, a[j].from);
      mentorlog_format_date(t, a[j].to);
      if (js) {
        printf("%s{\"record\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"kind\":\"%s\",\"approved_ref\":", j ? "," : "", id,
               f, t, mentorlog_absence_kind_name(a[j].kind));
        json_str(stdout, a[j].approved_ref);
        fputc('}', stdout);
      } else {
        printf("absence,%s,%s,%s..%s,,,,%s,", cid, id, f, t, mentorlog_absence_kind_name(a[j].kind));
        csv_str(stdout, a[j].approved_ref);
        fputs(",,\n", stdout);
      }
    }
    if (js)
      fputs("]}", stdout);
    mentorlog_grants_free(g, ng);
    mentorlog_contacts_free(c, ncn);
    mentorlog_notes_free(nt, nn);
    mentorlog_absences_free(a, na);
  }
  if (js)
    fputs("]}\n", stdout);
  mentorlog_cases_free(cs, nc);
  rc = err ? fail(h, err, "export") : 0;
  mentorlog_close(h);
  return rc;
}
