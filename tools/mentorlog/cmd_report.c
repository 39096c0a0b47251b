/* mentorlog compliance GRANT and week: the reports on the contact rule. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* -------------------------------------------------------- compliance */

static const char usage_compliance[] =
    "Usage: mentorlog compliance GRANT [--now YYYY-MM-DDTHH:MM:SSZ] [--json]\n"
    "The grant's periods with their status (MET, NOT_ASSESSABLE, PENDING,\n"
    "MISSED_WITH_ATTEMPTS, MISSED), evaluated at --now (default: the clock).\n";

static void compliance_json(FILE *f, const mentorlog_compliance *c) {
  const mentorlog_rule *r = &c->rule;
  fputs("{\"grant\":", f);
  json_id(f, c->grant);
  fprintf(f, ",\"rule\":{\"every\":%u,\"contacts\":%u,\"channels\":[", r->period_weeks, r->contacts);
  int first = 1;
  for (int ch = 1; ch <= 7; ch++)
    if (r->channels & (1u << ch)) {
      fprintf(f, "%s\"%s\"", first ? "" : ",", mentorlog_channel_name(ch));
      first = 0;
    }
  fprintf(f, "],\"min_minutes\":%u,\"partial_days\":%u,\"grace_days\":%u,\"late_days\":%u},\"start\":",
          r->min_minutes, r->partial_days, r->grace_days, r->late_days);
  json_date(f, c->start);
  fputs(",\"end\":", f);
  json_date(f, c->end);
  fputs(",\"periods\":[", f);
  for (size_t i = 0; i < c->nperiods; i++) {
    const mentorlog_period *p = &c->periods[i];
    fprintf(f, "%s{\"start\":", i ? "," : "");
    json_date(f, p->start);
    fputs(",\"end\":", f);
    json_date(f, p->end);
    fputs(",\"weeks\":[", f);
    for (mentorlog_date d = p->start; d <= p->end; d += 7) {
      char w[9];
      mentorlog_iso_week(w, d);
      fprintf(f, "%s\"%s\"", d == p->start ? "" : ",", w);
    }
    fprintf(f, "],\"status\":\"%s\",\"reason\":", mentorlog_status_name(p->status));
    json_str(f, p->reason);
    fprintf(f, ",\"qualifying\":%u,\"attempts\":%u,\"minutes_held\":%u}", p->qualifying, p->attempts, p->minutes_held);
  }
  fprintf(f, "],\"met\":%u,\"assessable_final\":%u,\"missed\":[", c->met, c->assessable_final);
  first = 1;
  for (size_t i = 0; i < c->nperiods; i++)
    if (c->periods[i].status == MENTORLOG_MISSED || c->periods[i].status == MENTORLOG_MISSED_WITH_ATTEMPTS) {
      fputs(first ? "" : ",", f);
      json_date(f, c->periods[i].start);
      first = 0;
    }
  fprintf(f, "],\"minutes_held\":%llu,\"minutes_granted\":%llu}\n", (unsigned long long)c->minutes_held,
          (unsigned long long)c->minutes_granted);
}

int cmd_compliance(int argc, char **argv) {
  struct opt opts[] = {{"now", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 1, &npos, usage_compliance, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_compliance, "compliance needs GRANT");
  int64_t now;
  mentorlog *h;
  uint8_t gid[MENTORLOG_ID_BYTES];
  if ((rc = parse_now(opts, &now)) || (rc = open_resolve(&h, 'g', pos[0], gid)))
    return rc;
  mentorlog_compliance *c;
  int err = mentorlog_grant_compliance(h, gid, now, &c);
  if (err) {
    rc = fail(h, err, "compliance");
  } else {
    if (opt_get(opts, "json")->seen) {
      compliance_json(stdout, c);
    } else {
      for (size_t i = 0; i < c->nperiods; i++) {
        char a[11], w[9];
        mentorlog_format_date(a, c->periods[i].start);
        mentorlog_iso_week(w, c->periods[i].start);
        printf("%s  %s  %-20s  qualifying %u  attempts %u  %u min%s%s\n", w, a,
               mentorlog_status_name(c->periods[i].status), c->periods[i].qualifying, c->periods[i].attempts,
               c->periods[i].minutes_held, c->periods[i].reason ? "  " : "",
               c->periods[i].reason ? c->periods[i].reason : "");
      }
      printf("met %u of %u assessable final periods; %llu of %llu granted minutes held\n", c->met,
             c->assessable_final, (unsigned long long)c->minutes_held, (unsigned long long)c->minutes_granted);
    }
    mentorlog_compliance_free(c);
  }
  mentorlog_close(h);
  return rc;
}

/* -------------------------------------------------------------- week */

static const char usage_week[] =
    "Usage: mentorlog week [--now YYYY-MM-DDTHH:MM:SSZ] [--json]\n"
    "This week's citizens whose grant still lacks a qualifying contact in the\n"
    "current period (one line per grant: case, name, grant, week, status, count).\n";

int cmd_week(int argc, char **argv) {
  struct opt opts[] = {{"now", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_week, &rc))
    return rc;
  int64_t now;
  mentorlog *h;
  if ((rc = parse_now(opts, &now)) || (rc = open_profile(&h, false)))
    return rc;
  mentorlog_date today = mentorlog_local_date(now);
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  bool js = opt_get(opts, "json")->seen;
  int err = mentorlog_cases(h, &cs, &nc);
  if (js)
    fputc('[', stdout);
  int first = 1;
  for (size_t i = 0; !err && i < nc; i++) {
    if (cs[i].erased)
      continue;
    mentorlog_grant *g = NULL;
    size_t ng = 0;
    if ((err = mentorlog_grants(h, cs[i].id, &g, &ng)))
      break;
    for (size_t j = 0; !err && j < ng; j++) {
      if (today < g[j].start || today > g[j].end)
        continue;
      mentorlog_compliance *c;
      if ((err = mentorlog_grant_compliance(h, g[j].id, now, &c)))
        break;
      for (size_t k = 0; k < c->nperiods; k++) {
        const mentorlog_period *p = &c->periods[k];
        if (today < p->start || today > p->end || p->status == MENTORLOG_MET ||
            p->status == MENTORLOG_NOT_ASSESSABLE)
          continue;
        char cid[33], gid[33], w[9];
        hex(cid, cs[i].id);
        hex(gid, g[j].id);
        mentorlog_iso_week(w, today);
        if (js) {
          printf("%s{\"case\":\"%s\",\"name\":", first ? "" : ",", cid);
          json_str(stdout, cs[i].name);
          printf(",\"grant\":\"%s\",\"week\":\"%s\",\"status\":\"%s\",\"qualifying\":%u,\"needed\":%u}", gid, w,
                 mentorlog_status_name(p->status), p->qualifying, c->rule.contacts);
        } else {
          printf("%s  %s  grant %s  %s  %s  %u/%u\n", cid, cs[i].name ? cs[i].name : "", gid, w,
                 mentorlog_status_name(p->status), p->qualifying, c->rule.contacts);
        }
        first = 0;
      }
      mentorlog_compliance_free(c);
    }
    mentorlog_grants_free(g, ng);
  }
  if (js)
    fputs("]\n", stdout);
  mentorlog_cases_free(cs, nc);
  rc = err ? fail(h, err, "week") : 0;
  mentorlog_close(h);
  return rc;
}
