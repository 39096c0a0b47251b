/* mentorlog absence add|list. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* ----------------------------------------------------------- absence */

static const char usage_absence[] =
    "Usage: mentorlog absence add CASE --from YYYY-MM-DD --to YYYY-MM-DD\n"
    "              --kind citizen-holiday|citizen-sick|hospitalised|grant-paused|mentor-unavailable|other\n"
    "              [--approved-ref REF]   (approved by the municipality when a reference is given)\n"
    "              [--reason-file PATH|-] [--fields PATH|-]              prints the record id\n"
    "       mentorlog absence list CASE [--json]\n"
    "\n"
    "Sealed KEY: reason (absence add; optional, the BODY; stored sealed, not listed).\n"
    SEALED_HELP;

static void absence_print(const void *v, size_t i) {
  const mentorlog_absence *a = (const mentorlog_absence *)v + i;
  char f[11], t[11];
  mentorlog_format_date(f, a->from);
  mentorlog_format_date(t, a->to);
  printf("%s..%s  %s  %s\n", f, t, mentorlog_absence_kind_name(a->kind),
         a->approved_ref ? a->approved_ref : "(not approved)");
}

static void absence_json(mlproto_json *j, const void *v, size_t i) {
  const mentorlog_absence *a = (const mentorlog_absence *)v + i;
  mlproto_json_obj(j);
  mlproto_json_kdate(j, "from", a->from);
  mlproto_json_kdate(j, "to", a->to);
  mlproto_json_kstr(j, "kind", mentorlog_absence_kind_name(a->kind));
  mlproto_json_kstr(j, "approved_ref", a->approved_ref);
  mlproto_json_end(j);
}
LIST_ADAPTERS(absences, mentorlog_absence, mentorlog_absences(h, case_id, &items, n), mentorlog_absences_free)
static const struct list_kind absence_list = {"absence list", fetch_absences, absence_print, absence_json,
                                              free_absences};

int cmd_absence(int argc, char **argv) {
  struct opt opts[] = {{"from", 0, 0, 0}, {"to", 0, 0, 0}, {"kind", 0, 0, 0}, {"approved-ref", 0, 0, 0},
                       {"reason-file", 0, 0, 0}, {"fields", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "absence", usage_absence, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_absence, "absence %s needs CASE", sub);
  if (strcmp(sub, "list") == 0)
    return (rc = sealed_none(opts, "absence list", usage_absence))
               ? rc
               : run_list(&absence_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  if (strcmp(sub, "add") == 0) {
    if (!optv(opts, "from") || !optv(opts, "to") || !optv(opts, "kind"))
      return usage_error(usage_absence, "absence add needs --from, --to and --kind");
    mentorlog_absence_params p = {.version = MENTORLOG_ABSENCE_VERSION, .approved_ref = optv(opts, "approved-ref")};
    if ((rc = parse_date_opt("from", optv(opts, "from"), &p.from)) || (rc = parse_date_opt("to", optv(opts, "to"), &p.to)))
      return rc;
    if (!(p.kind = mentorlog_absence_kind_parse(optv(opts, "kind"))))
      return bad_opt("kind", optv(opts, "kind"), "unknown absence kind");
    struct sealed f[1] = {{"reason", "the reason", false, true, true, MENTORLOG_TEXT_MAX, 0, 0}};
    if ((rc = sealed_read(f, 1, opts, "absence add", usage_absence)))
      return rc;
    p.reason = f[0].value;
    uint8_t cid[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if (!(rc = open_resolve(&h, 'c', pos[0], cid))) {
      int err = mentorlog_absence_add(h, out, cid, &p);
      rc = print_written(h, err, "absence add", out);
    }
    sealed_free(f, 1);
  } else {
    return usage_error(usage_absence, "absence: unknown subcommand '%s'", sub);
  }
  mentorlog_close(h);
  return rc;
}
