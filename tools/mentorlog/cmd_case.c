/* mentorlog case open|list|erase: citizens' cases. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* -------------------------------------------------------------- case */

static const char usage_case[] =
    "Usage: mentorlog case open [--name-file PATH|-] [--phone-file PATH|-] [--fields PATH|-]\n"
    "                                                  prints the case id\n"
    "       mentorlog case list [--json]\n"
    "       mentorlog case erase CASE     crypto-shreds the case (irreversible)\n"
    "\n"
    "Sealed KEYs of case open: name (required, one line), phone (one line), e.g.\n"
    "    mentorlog case open --fields -     then type, and end with Ctrl-D:\n"
    "    name: Ole Olsen\n"
    "    phone: +45 22 33 44 55\n"
    SEALED_HELP;

static void case_print(const void *v, size_t i) {
  const mentorlog_case *c = (const mentorlog_case *)v + i;
  char s[MENTORLOG_ID_HEX + 1];
  hex(s, c->id);
  printf("%s  %s%s%s\n", s,
         c->erased ? "(erased)" : c->locked ? "(locked: this device is not approved yet)" : c->name ? c->name : "",
         c->phone ? "  " : "", c->phone ? c->phone : "");
}

static void case_json(mlproto_json *j, const void *v, size_t i) {
  const mentorlog_case *c = (const mentorlog_case *)v + i;
  mlproto_json_obj(j);
  mlproto_json_khex(j, "id", c->id, MENTORLOG_ID_BYTES);
  mlproto_json_kstr(j, "name", c->name);
  mlproto_json_kstr(j, "phone", c->phone);
  mlproto_json_kbool(j, "erased", c->erased);
  mlproto_json_kbool(j, "locked", c->locked);
  mlproto_json_end(j);
}
LIST_ADAPTERS(cases, mentorlog_case, ((void)case_id, mentorlog_cases(h, &items, n)), mentorlog_cases_free)
static const struct list_kind case_list = {"case list", fetch_cases, case_print, case_json, free_cases};

int cmd_case(int argc, char **argv) {
  struct opt opts[] = {{"name-file", 0, 0, 0}, {"phone-file", 0, 0, 0}, {"fields", 0, 0, 0},
                       {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "case", usage_case, opts, pos, &npos, &sub, &rc))
    return rc;
  mentorlog *h = NULL;
  if (strcmp(sub, "open") && (rc = sealed_none(opts, "case", usage_case)))
    return rc;
  if (strcmp(sub, "open") == 0) {
    if (npos)
      return usage_error(usage_case, "case open takes no argument");
    struct sealed f[] = {{"name", "the citizen's name", true, false, false, MENTORLOG_NAME_MAX, 0, 0},
                         {"phone", "the citizen's phone", false, false, false, MENTORLOG_NAME_MAX, 0, 0}};
    if ((rc = sealed_read(f, 2, opts, "case open", usage_case)))
      return rc;
    if (!(rc = open_profile(&h, false))) {
      uint8_t id[MENTORLOG_ID_BYTES];
      int err = mentorlog_case_open(h, id, f[0].value, f[1].value);
      rc = print_written(h, err, "case open", id);
    }
    sealed_free(f, 2);
  } else if (strcmp(sub, "list") == 0) {
    if (npos)
      return usage_error(usage_case, "case list takes no argument");
    return run_list(&case_list, NULL, opt_get(opts, "json")->seen);
  } else if (strcmp(sub, "erase") == 0) {
    if (npos != 1)
      return usage_error(usage_case, "case erase needs CASE");
    uint8_t id[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'c', pos[0], id)))
      return rc;
    int err = mentorlog_case_erase(h, id);
    rc = err ? fail(h, err, "case erase") : 0;
  } else {
    return usage_error(usage_case, "case: unknown subcommand '%s'", sub);
  }
  mentorlog_close(h);
  return rc;
}
