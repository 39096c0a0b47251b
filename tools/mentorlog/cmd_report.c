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

static void rule_json(mlproto_json *j, const mentorlog_rule *r) {
  mlproto_json_obj(j);
  mlproto_json_ku64(j, "every", r->period_weeks);
  mlproto_json_ku64(j, "contacts", r->contacts);
  mlproto_json_key(j, "channels");
  mlproto_json_arr(j);
  for (int ch = 1; ch <= 7; ch++)
    if (r->channels & (1u << ch))
      mlproto_json_str(j, mentorlog_channel_name(ch));
  mlproto_json_end(j);
  mlproto_json_ku64(j, "min_minutes", r->min_minutes);
  mlproto_json_ku64(j, "partial_days", r->partial_days);
  mlproto_json_ku64(j, "grace_days", r->grace_days);
  mlproto_json_ku64(j, "late_days", r->late_days);
  mlproto_json_end(j);
}

static void period_json(mlproto_json *j, const mentorlog_period *p) {
  mlproto_json_obj(j);
  mlproto_json_kdate(j, "start", p->start);
  mlproto_json_kdate(j, "end", p->end);
  mlproto_json_key(j, "weeks");
  mlproto_json_arr(j);
  for (mentorlog_date d = p->start; d <= p->end; d += 7) {
    char w[9];
    mentorlog_iso_week(w, d);
    mlproto_json_str(j, w);
  }
  mlproto_json_end(j);
  mlproto_json_kstr(j, "status", mentorlog_status_name(p->status));
  mlproto_json_kstr(j, "reason", p->reason);
  mlproto_json_ku64(j, "qualifying", p->qualifying);
  mlproto_json_ku64(j, "attempts", p->attempts);
  mlproto_json_ku64(j, "minutes_held", p->minutes_held);
  mlproto_json_end(j);
}

static int compliance_json(const mentorlog_compliance *c) {
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  mlproto_json_obj(&j);
  mlproto_json_khex(&j, "grant", c->grant, MENTORLOG_ID_BYTES);
  mlproto_json_key(&j, "rule");
  rule_json(&j, &c->rule);
  mlproto_json_kdate(&j, "start", c->start);
  mlproto_json_kdate(&j, "end", c->end);
  mlproto_json_key(&j, "periods");
  mlproto_json_arr(&j);
  for (size_t i = 0; i < c->nperiods; i++)
    period_json(&j, &c->periods[i]);
  mlproto_json_end(&j);
  mlproto_json_ku64(&j, "met", c->met);
  mlproto_json_ku64(&j, "assessable_final", c->assessable_final);
  mlproto_json_key(&j, "missed");
  mlproto_json_arr(&j);
  for (size_t i = 0; i < c->nperiods; i++)
    if (c->periods[i].status == MENTORLOG_MISSED || c->periods[i].status == MENTORLOG_MISSED_WITH_ATTEMPTS)
      mlproto_json_date(&j, c->periods[i].start);
  mlproto_json_end(&j);
  mlproto_json_ku64(&j, "minutes_held", c->minutes_held);
  mlproto_json_ku64(&j, "minutes_granted", c->minutes_granted);
  mlproto_json_end(&j);
  return json_emit(&j, stdout, "compliance");
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
      rc = compliance_json(c);
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

/* One line (or JSON object, when j is not NULL) of a grant's period this
 * week that still lacks its contacts. */
static void week_item(mlproto_json *j, const mentorlog_case *cs, const mentorlog_grant *g, mentorlog_date today,
                      const mentorlog_period *p, uint32_t needed) {
  char w[9];
  mentorlog_iso_week(w, today);
  if (j) {
    mlproto_json_obj(j);
    mlproto_json_khex(j, "case", cs->id, MENTORLOG_ID_BYTES);
    mlproto_json_kstr(j, "name", cs->name);
    mlproto_json_khex(j, "grant", g->id, MENTORLOG_ID_BYTES);
    mlproto_json_kstr(j, "week", w);
    mlproto_json_kstr(j, "status", mentorlog_status_name(p->status));
    mlproto_json_ku64(j, "qualifying", p->qualifying);
    mlproto_json_ku64(j, "needed", needed);
    mlproto_json_end(j);
    return;
  }
  char cid[33], gid[33];
  hex(cid, cs->id);
  hex(gid, g->id);
  printf("%s  %s  grant %s  %s  %s  %u/%u\n", cid, cs->name ? cs->name : "", gid, w, mentorlog_status_name(p->status),
         p->qualifying, needed);
}

/* The items of one case's grants running today; 0 or a library error. */
static int week_case(mentorlog *h, mlproto_json *j, const mentorlog_case *cs, mentorlog_date today, int64_t now) {
  mentorlog_grant *g = NULL;
  size_t ng = 0;
  int err = mentorlog_grants(h, cs->id, &g, &ng);
  for (size_t i = 0; !err && i < ng; i++) {
    if (today < g[i].start || today > g[i].end)
      continue;
    mentorlog_compliance *c;
    if ((err = mentorlog_grant_compliance(h, g[i].id, now, &c)))
      break;
    for (size_t k = 0; k < c->nperiods; k++) {
      const mentorlog_period *p = &c->periods[k];
      if (today < p->start || today > p->end || p->status == MENTORLOG_MET || p->status == MENTORLOG_NOT_ASSESSABLE)
        continue;
      week_item(j, cs, &g[i], today, p, c->rule.contacts);
    }
    mentorlog_compliance_free(c);
  }
  mentorlog_grants_free(g, ng);
  return err;
}

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
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  mlproto_json_arr(&j);
  int err = mentorlog_cases(h, &cs, &nc);
  for (size_t i = 0; !err && i < nc; i++)
    if (!cs[i].erased)
      err = week_case(h, js ? &j : NULL, &cs[i], today, now);
  mlproto_json_end(&j);
  if (err)
    rc = fail(h, err, "week");
  else if (js)
    rc = json_emit(&j, stdout, "week");
  mlproto_buf_free(&b);
  mentorlog_cases_free(cs, nc);
  mentorlog_close(h);
  return rc;
}
