/* mentorlog contact add|correct|void|list. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* ----------------------------------------------------------- contact */

static const char usage_contact[] =
    "Usage: mentorlog contact add CASE --at \"YYYY-MM-DD HH:MM[+HH:MM]\" --minutes M\n"
    "              --channel in-person|home-visit|accompaniment|video|phone|message|other\n"
    "              --outcome held|attempt-failed|no-show|cancelled-by-citizen|cancelled-by-mentor\n"
    "              [--transport-minutes T] [--note-file PATH|-] [--fields PATH|-]\n"
    "                                                              prints the record id\n"
    "       mentorlog contact correct RECORD [any option of contact add]   prints the new record id\n"
    "              (a corrected contact keeps its note unless a note is given)\n"
    "       mentorlog contact void RECORD [--reason-file PATH|-] [--fields PATH|-]\n"
    "       mentorlog contact list CASE [--json]\n"
    "--at is Copenhagen wall time; the offset is needed only when the time occurs\n"
    "twice (autumn); a time that does not exist (spring) is refused.\n"
    "\n"
    "Sealed KEYs: note (contact add/correct; the BODY), reason (contact void;\n"
    "required, the BODY), e.g.\n"
    "    mentorlog contact add CASE --at \"2026-11-03 10:00\" --minutes 60 \\\n"
    "        --channel home-visit --outcome held --note-file visit.txt\n"
    SEALED_HELP;

void contact_json(mlproto_json *j, const mentorlog_contact *c) {
  char when[32];
  fmt_local(when, c->start_ms);
  mlproto_json_obj(j);
  mlproto_json_khex(j, "id", c->id, MENTORLOG_ID_BYTES);
  mlproto_json_khex(j, "record", c->record, MENTORLOG_ID_BYTES);
  mlproto_json_kstr(j, "at", when);
  mlproto_json_ki64(j, "start_ms", c->start_ms);
  mlproto_json_ku64(j, "minutes", c->minutes);
  mlproto_json_kstr(j, "channel", mentorlog_channel_name(c->channel));
  mlproto_json_kstr(j, "outcome", mentorlog_outcome_name(c->outcome));
  mlproto_json_ku64(j, "transport_minutes", c->transport_minutes);
  mlproto_json_kstr(j, "note", c->note);
  mlproto_json_kbool(j, "late_entry", c->late_entry);
  mlproto_json_kbool(j, "conflict", c->conflict);
  mlproto_json_kbool(j, "locked", c->locked);
  mlproto_json_end(j);
}

static void contact_print(const void *v, size_t i) {
  const mentorlog_contact *c = (const mentorlog_contact *)v + i;
  char s[33], when[32];
  hex(s, c->record);
  fmt_local(when, c->start_ms);
  printf("%s  %s  %u min  %s  %s%s%s%s\n", s, when, c->minutes, mentorlog_channel_name(c->channel),
         mentorlog_outcome_name(c->outcome), c->note || c->locked ? "  " : "",
         c->note ? c->note : c->locked ? "(note locked: this device is not approved yet)" : "",
         c->conflict ? "  CONFLICT" : "");
}

static void contact_list_json(mlproto_json *j, const void *v, size_t i) {
  contact_json(j, (const mentorlog_contact *)v + i);
}
LIST_ADAPTERS(contacts, mentorlog_contact, mentorlog_contacts(h, case_id, &items, n), mentorlog_contacts_free)
static const struct list_kind contact_list = {"contact list", fetch_contacts, contact_print, contact_list_json,
                                              free_contacts};

/* The current values of the contact target (an item or a version id) into
 * p, its note into old_note (MENTORLOG_TEXT_MAX bytes, left empty when the
 * note does not fit). arg names the target in the error. */
static int contact_current(mentorlog *h, const uint8_t target[MENTORLOG_ID_BYTES], const char *arg,
                           mentorlog_contact_params *p, char *old_note) {
  mentorlog_contact *cs = NULL;
  size_t n = 0;
  int found = 0;
  mentorlog_case *cases = NULL;
  size_t nc = 0;
  int err = mentorlog_cases(h, &cases, &nc);
  for (size_t i = 0; !err && i < nc && !found; i++) {
    if (cases[i].erased || mentorlog_contacts(h, cases[i].id, &cs, &n) != 0)
      continue;
    for (size_t j = 0; j < n; j++) {
      if (memcmp(cs[j].id, target, 16) == 0 || memcmp(cs[j].record, target, 16) == 0) {
        p->start_ms = cs[j].start_ms;
        p->minutes = cs[j].minutes;
        p->channel = cs[j].channel;
        p->outcome = cs[j].outcome;
        p->transport_minutes = cs[j].transport_minutes;
        if (cs[j].note && strlen(cs[j].note) < MENTORLOG_TEXT_MAX)
          snprintf(old_note, MENTORLOG_TEXT_MAX, "%s", cs[j].note);
        found = 1;
      }
    }
    mentorlog_contacts_free(cs, n);
  }
  mentorlog_cases_free(cases, nc);
  if (err)
    return fail(h, err, "contact correct");
  if (!found) {
    fprintf(stderr, "%s: contact correct: %s is not a current contact (NOT_FOUND)\n", prog, arg);
    return EXIT_USER;
  }
  return 0;
}

/* Apply the options of contact add/correct onto p (zero or the contact's
 * current values). Prints what was wrong; returns an exit code. */
static int contact_apply_opts(struct opt *opts, mentorlog_contact_params *p) {
  const char *v;
  int err;
  if ((v = optv(opts, "at")) && (err = mentorlog_parse_local_time(&p->start_ms, v)))
    return bad_value("at", v, err);
  if ((v = optv(opts, "minutes")) && parse_uint(v, 1440, &p->minutes))
    return bad_opt("minutes", v, "expected 1..1440");
  if ((v = optv(opts, "transport-minutes")) && parse_uint(v, 1440, &p->transport_minutes))
    return bad_opt("transport-minutes", v, "expected 0..1440");
  if ((v = optv(opts, "channel")) && !(p->channel = mentorlog_channel_parse(v)))
    return bad_opt("channel", v, "unknown channel");
  if ((v = optv(opts, "outcome")) && !(p->outcome = mentorlog_outcome_parse(v)))
    return bad_opt("outcome", v, "unknown outcome");
  return 0;
}

int cmd_contact(int argc, char **argv) {
  struct opt opts[] = {{"at", 0, 0, 0}, {"minutes", 0, 0, 0}, {"channel", 0, 0, 0}, {"outcome", 0, 0, 0},
                       {"transport-minutes", 0, 0, 0}, {"note-file", 0, 0, 0}, {"reason-file", 0, 0, 0},
                       {"fields", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "contact", usage_contact, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_contact, "contact %s needs %s", sub, strcmp(sub, "add") && strcmp(sub, "list") ? "RECORD" : "CASE");
  if (strcmp(sub, "list") == 0)
    return (rc = sealed_none(opts, "contact list", usage_contact))
               ? rc
               : run_list(&contact_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  char *old_note = NULL; /* a corrected contact keeps its note unless one is given */
  bool add = strcmp(sub, "add") == 0, correct = strcmp(sub, "correct") == 0;
  struct sealed f[1] = {{"note", "the contact's note", false, true, true, MENTORLOG_TEXT_MAX, 0, 0}};
  if (add || correct) {
    if (add && (!optv(opts, "at") || !optv(opts, "minutes") || !optv(opts, "channel") || !optv(opts, "outcome")))
      return usage_error(usage_contact, "contact add needs --at, --minutes, --channel and --outcome");
    if ((rc = sealed_read(f, 1, opts, add ? "contact add" : "contact correct", usage_contact)))
      return rc;
    uint8_t target[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, add ? 'c' : 'r', pos[0], target)))
      goto out;
    mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION};
    old_note = sodium_malloc(MENTORLOG_TEXT_MAX);
    if (!old_note) {
      rc = EXIT_INTERNAL;
      goto out;
    }
    old_note[0] = 0;
    if ((correct && (rc = contact_current(h, target, pos[0], &p, old_note))) ||
        (rc = contact_apply_opts(opts, &p)))
      goto out;
    p.note = f[0].value ? f[0].value : (*old_note ? old_note : NULL);
    int err = add ? mentorlog_contact_add(h, out, target, &p) : mentorlog_contact_correct(h, out, target, &p);
    rc = print_written(h, err, add ? "contact add" : "contact correct", out);
  } else if (strcmp(sub, "void") == 0) {
    f[0] = (struct sealed){"reason", "the reason", true, true, true, MENTORLOG_TEXT_MAX, 0, 0};
    if ((rc = sealed_read(f, 1, opts, "contact void", usage_contact)))
      return rc;
    uint8_t target[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'r', pos[0], target)))
      goto out;
    int err = mentorlog_contact_void(h, out, target, f[0].value);
    rc = print_written(h, err, "contact void", out);
  } else {
    return usage_error(usage_contact, "contact: unknown subcommand '%s'", sub);
  }
out:
  sealed_free(f, 1);
  sodium_free(old_note);
  mentorlog_close(h);
  return rc;
}
