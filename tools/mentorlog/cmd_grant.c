/* mentorlog grant open|update|close|list: grants and their contact rule. */
#include "cli.h"
#include "subcommands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- grant */

static const char usage_grant[] =
    "Usage: mentorlog grant open CASE --jobcentre ID --ref REF --start YYYY-MM-DD --end YYYY-MM-DD\n"
    "              [--every WEEKS] [--contacts N] [--min-minutes M] [--partial-days K]\n"
    "              [--grace-days G] [--late-days L] [--hours-per-week H] [--legal-basis TEXT]\n"
    "              [--channels LIST]       (comma-separated; default in-person,home-visit,\n"
    "                                        accompaniment,video,phone)\n"
    "              [--purpose-file PATH|-] [--fields PATH|-]   (the purpose is sealed)\n"
    "                                                                   prints the grant id\n"
    "       mentorlog grant update GRANT [any option of grant open]    prints the new record id\n"
    "              (options not given keep their current values; a closed grant is not updated)\n"
    "       mentorlog grant close GRANT --date YYYY-MM-DD [--reason-file PATH|-] [--fields PATH|-]\n"
    "              (the reason is sealed)                               prints the record id\n"
    "       mentorlog grant list [CASE] [--json]\n"
    "Defaults of the contact rule: --every 1 --contacts 1 --min-minutes 0 --partial-days 3\n"
    "--grace-days 7 --late-days 7.\n"
    "\n"
    "Sealed KEYs: purpose (grant open/update; the BODY), reason (grant close; the BODY).\n"
    SEALED_HELP;

/* Apply the options of grant open/update onto p (defaults or the grant's
 * current values). Prints what was wrong; returns an exit code. */
static int grant_apply_opts(struct opt *opts, const char *purpose, mentorlog_grant_params *p) {
  int rc;
  const char *v;
  if (purpose)
    p->purpose = purpose;
  if ((v = optv(opts, "jobcentre")))
    p->jobcentre = v;
  if ((v = optv(opts, "ref")))
    p->reference = v;
  if ((v = optv(opts, "legal-basis")))
    p->legal_basis = v;
  if ((v = optv(opts, "start")) && (rc = parse_date_opt("start", v, &p->start)))
    return rc;
  if ((v = optv(opts, "end")) && (rc = parse_date_opt("end", v, &p->end)))
    return rc;
  struct { const char *name; uint32_t *dst; uint32_t max; } nums[] = {
      {"every", &p->rule.period_weeks, 2}, {"contacts", &p->rule.contacts, 100},
      {"min-minutes", &p->rule.min_minutes, 1440}, {"partial-days", &p->rule.partial_days, 10},
      {"grace-days", &p->rule.grace_days, 366}, {"late-days", &p->rule.late_days, 366}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    v = optv(opts, nums[i].name);
    if (v && parse_uint(v, nums[i].max, nums[i].dst) != 0) {
      fprintf(stderr, "%s: --%s '%s': expected a whole number 0..%u\n", prog, nums[i].name, v, nums[i].max);
      return EXIT_USER;
    }
  }
  if ((v = optv(opts, "hours-per-week"))) {
    char *end;
    errno = 0;
    double hours = strtod(v, &end);
    if (!*v || *end || errno || !(hours >= 0 && hours <= 168))
      return bad_opt("hours-per-week", v, "expected hours 0..168");
    p->minutes_per_week = (uint32_t)(hours * 60 + 0.5);
  }
  if ((v = optv(opts, "channels"))) {
    char buf[256];
    if (strlen(v) >= sizeof buf) {
      fprintf(stderr, "%s: --channels: the list is too long\n", prog);
      return EXIT_USER;
    }
    snprintf(buf, sizeof buf, "%s", v);
    p->rule.channels = 0;
    for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      int c = mentorlog_channel_parse(t);
      if (!c) {
        fprintf(stderr, "%s: --channels: unknown channel '%s'\n", prog, t);
        return EXIT_USER;
      }
      p->rule.channels |= 1u << c;
    }
  }
  return 0;
}

static const char *const grant_param_opts[] = {"jobcentre", "ref", "start", "end", "every", "contacts",
                                               "min-minutes", "partial-days", "grace-days", "late-days",
                                               "hours-per-week", "legal-basis", "channels", "purpose-file", NULL};

/* The grant's text fields as JSON members (list and export share them). */
void grant_json_texts(mlproto_json *j, const mentorlog_grant *g) {
  mlproto_json_kstr(j, "jobcentre", g->jobcentre);
  mlproto_json_kstr(j, "ref", g->reference);
  mlproto_json_kstr(j, "legal_basis", g->legal_basis);
  mlproto_json_kstr(j, "purpose", g->purpose);
}

static void grant_print(const void *v, size_t i) {
  const mentorlog_grant *g = (const mentorlog_grant *)v + i;
  char gs[33], cs[33], a[11], b[11];
  hex(gs, g->id);
  hex(cs, g->case_id);
  mentorlog_format_date(a, g->start);
  mentorlog_format_date(b, g->end);
  printf("%s  case %s  %s %s  %s..%s%s%s%s%s\n", gs, cs, g->jobcentre, g->reference, a, b,
         g->closed ? "  closed" : "", g->close_reason ? ": " : "", g->close_reason ? g->close_reason : "",
         g->conflict ? "  CONFLICT" : "");
}

static void grant_json(mlproto_json *j, const void *v, size_t i) {
  const mentorlog_grant *g = (const mentorlog_grant *)v + i;
  mlproto_json_obj(j);
  mlproto_json_khex(j, "id", g->id, MENTORLOG_ID_BYTES);
  mlproto_json_khex(j, "case", g->case_id, MENTORLOG_ID_BYTES);
  grant_json_texts(j, g);
  mlproto_json_ku64(j, "minutes_per_week", g->minutes_per_week);
  mlproto_json_kdate(j, "start", g->start);
  mlproto_json_kdate(j, "end", g->end);
  mlproto_json_kbool(j, "closed", g->closed);
  mlproto_json_kstr(j, "close_reason", g->close_reason);
  mlproto_json_kbool(j, "conflict", g->conflict);
  mlproto_json_end(j);
}
LIST_ADAPTERS(grants, mentorlog_grant, mentorlog_grants(h, case_id, &items, n), mentorlog_grants_free)
static const struct list_kind grant_list = {"grant list", fetch_grants, grant_print, grant_json, free_grants};

int cmd_grant(int argc, char **argv) {
  struct opt opts[] = {{"jobcentre", 0, 0, 0}, {"ref", 0, 0, 0}, {"start", 0, 0, 0}, {"end", 0, 0, 0},
                       {"every", 0, 0, 0}, {"contacts", 0, 0, 0}, {"min-minutes", 0, 0, 0},
                       {"partial-days", 0, 0, 0}, {"grace-days", 0, 0, 0}, {"late-days", 0, 0, 0},
                       {"hours-per-week", 0, 0, 0}, {"legal-basis", 0, 0, 0}, {"channels", 0, 0, 0},
                       {"purpose-file", 0, 0, 0}, {"date", 0, 0, 0}, {"reason-file", 0, 0, 0}, {"fields", 0, 0, 0},
                       {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "grant", usage_grant, opts, pos, &npos, &sub, &rc))
    return rc;
  mentorlog *h = NULL;
  bool open = strcmp(sub, "open") == 0, update = strcmp(sub, "update") == 0;
  if (!open && !update && strcmp(sub, "close") && strcmp(sub, "list"))
    return usage_error(usage_grant, "grant: unknown subcommand '%s'", sub);
  if (!open && !update) {
    for (const char *const *o = grant_param_opts; *o; o++)
      if (optv(opts, *o))
        return usage_error(usage_grant, "grant %s does not take --%s", sub, *o);
  }
  if (strcmp(sub, "close") && optv(opts, "date"))
    return usage_error(usage_grant, "only grant close takes --date");
  if (strcmp(sub, "close") && optv(opts, "reason-file"))
    return usage_error(usage_grant, "only grant close takes --reason-file");
  /* The sealed field of the subcommand: the purpose, or the close reason. */
  struct sealed f[1] = {{"purpose", "the grant's purpose", false, true, true, MENTORLOG_TEXT_MAX, 0, 0}};
  if (strcmp(sub, "close") == 0)
    f[0] = (struct sealed){"reason", "the reason", false, true, true, MENTORLOG_TEXT_MAX, 0, 0};
  if (strcmp(sub, "list") == 0 ? (rc = sealed_none(opts, "grant list", usage_grant))
                               : (rc = sealed_read(f, 1, opts, sub[0] == 'o'   ? "grant open"
                                                               : sub[0] == 'u' ? "grant update"
                                                                               : "grant close",
                                                   usage_grant)))
    return rc;
  if (open) {
    if (npos != 1 || !optv(opts, "jobcentre") || !optv(opts, "ref") || !optv(opts, "start") || !optv(opts, "end")) {
      rc = usage_error(usage_grant, "grant open needs CASE, --jobcentre, --ref, --start and --end");
      goto out;
    }
    mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION};
    mentorlog_rule_default(&p.rule);
    uint8_t cid[MENTORLOG_ID_BYTES], gid[MENTORLOG_ID_BYTES];
    if ((rc = grant_apply_opts(opts, f[0].value, &p)) || (rc = open_resolve(&h, 'c', pos[0], cid)))
      goto out;
    int err = mentorlog_grant_open(h, gid, cid, &p);
    rc = print_written(h, err, "grant open", gid);
  } else if (update) {
    bool any = f[0].value != NULL;
    for (const char *const *o = grant_param_opts; *o; o++)
      any |= optv(opts, *o) != NULL;
    if (npos != 1 || !any) {
      rc = usage_error(usage_grant, npos != 1 ? "grant update needs GRANT"
                                              : "grant update needs at least one option of grant open");
      goto out;
    }
    uint8_t gid[MENTORLOG_ID_BYTES], rid[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'g', pos[0], gid)))
      goto out;
    mentorlog_grant *g = NULL;
    size_t ng = 0;
    int err = mentorlog_grants(h, NULL, &g, &ng);
    if (err) {
      rc = fail(h, err, "grant update");
      goto out;
    }
    const mentorlog_grant *cur = NULL;
    for (size_t i = 0; i < ng && !cur; i++)
      if (memcmp(g[i].id, gid, MENTORLOG_ID_BYTES) == 0)
        cur = &g[i];
    if (!cur) {
      fprintf(stderr, "%s: grant update: the grant's case was erased (CASE_ERASED)\n", prog);
      rc = EXIT_USER;
    } else if (cur->closed) {
      fprintf(stderr, "%s: grant update: the grant is closed; open a new grant for a renewal (GRANT_CLOSED)\n",
              prog);
      rc = EXIT_USER;
    } else {
      /* Start from the current values; the options given replace them. */
      mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = cur->jobcentre,
                                  .reference = cur->reference, .legal_basis = cur->legal_basis,
                                  .purpose = cur->purpose, .start = cur->start, .end = cur->end,
                                  .rule = cur->rule, .minutes_per_week = cur->minutes_per_week};
      if (!(rc = grant_apply_opts(opts, f[0].value, &p))) {
        err = mentorlog_grant_update(h, rid, gid, &p);
        rc = print_written(h, err, "grant update", rid);
      }
    }
    mentorlog_grants_free(g, ng);
  } else if (strcmp(sub, "close") == 0) {
    mentorlog_date d;
    uint8_t gid[MENTORLOG_ID_BYTES], rid[MENTORLOG_ID_BYTES];
    if (npos != 1 || !optv(opts, "date")) {
      rc = usage_error(usage_grant, "grant close needs GRANT and --date");
      goto out;
    }
    if ((rc = parse_date_opt("date", optv(opts, "date"), &d)) || (rc = open_resolve(&h, 'g', pos[0], gid)))
      goto out;
    int err = mentorlog_grant_close(h, rid, gid, d, f[0].value);
    rc = print_written(h, err, "grant close", rid);
  } else if (strcmp(sub, "list") == 0) {
    return run_list(&grant_list, npos ? pos[0] : NULL, opt_get(opts, "json")->seen);
  } else {
    return usage_error(usage_grant, "grant: unknown subcommand '%s'", sub);
  }
out:
  sealed_free(f, 1);
  mentorlog_close(h);
  return rc;
}
