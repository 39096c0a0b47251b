/* mentorlog note add|revise|list. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

/* -------------------------------------------------------------- note */

static const char usage_note[] =
    "Usage: mentorlog note add CASE [--text-file PATH|-] [--fields PATH|-]   prints the record id\n"
    "       mentorlog note revise RECORD [--text-file PATH|-] [--fields PATH|-]\n"
    "       mentorlog note list CASE [--json]\n"
    "\n"
    "Sealed KEY: text (required, the BODY; any number of lines, UTF-8). Without\n"
    "--text-file or --fields the text is typed on the terminal (end with Ctrl-D),\n"
    "or is the whole of standard input:\n"
    "    mentorlog note add CASE < note.txt\n"
    SEALED_HELP;

static void note_print(const void *v, size_t i) {
  const mentorlog_note *nt = (const mentorlog_note *)v + i;
  char s[33], when[32];
  hex(s, nt->record);
  fmt_local(when, nt->recorded_ms);
  printf("%s  %s%s\n%s\n\n", s, when, nt->conflict ? "  CONFLICT" : "", nt->text ? nt->text : nt->locked ? "(locked: this device is not approved yet)" : "");
}

static void note_json(mlproto_json *j, const void *v, size_t i) {
  const mentorlog_note *nt = (const mentorlog_note *)v + i;
  char when[32];
  fmt_local(when, nt->recorded_ms);
  mlproto_json_obj(j);
  mlproto_json_khex(j, "id", nt->id, MENTORLOG_ID_BYTES);
  mlproto_json_khex(j, "record", nt->record, MENTORLOG_ID_BYTES);
  mlproto_json_kstr(j, "recorded", when);
  mlproto_json_kstr(j, "text", nt->text);
  mlproto_json_kbool(j, "conflict", nt->conflict);
  mlproto_json_kbool(j, "locked", nt->locked);
  mlproto_json_end(j);
}
LIST_ADAPTERS(notes, mentorlog_note, mentorlog_notes(h, case_id, &items, n), mentorlog_notes_free)
static const struct list_kind note_list = {"note list", fetch_notes, note_print, note_json, free_notes};

int cmd_note(int argc, char **argv) {
  struct opt opts[] = {{"text-file", 0, 0, 0}, {"fields", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "note", usage_note, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_note, "note %s needs one id", sub);
  if (strcmp(sub, "list") == 0)
    return (rc = sealed_none(opts, "note list", usage_note)) ? rc
                                                             : run_list(&note_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  bool add = strcmp(sub, "add") == 0, revise = strcmp(sub, "revise") == 0;
  if (add || revise) {
    struct sealed f[1] = {{"text", "the note's text", true, true, true, MENTORLOG_TEXT_MAX, 0, 0}};
    if ((rc = sealed_read(f, 1, opts, add ? "note add" : "note revise", usage_note)))
      return rc;
    uint8_t id[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if (!(rc = open_resolve(&h, add ? 'c' : 'r', pos[0], id))) {
      int err = add ? mentorlog_note_add(h, out, id, f[0].value, f[0].len)
                    : mentorlog_note_revise(h, out, id, f[0].value, f[0].len);
      rc = print_written(h, err, add ? "note add" : "note revise", out);
    }
    sealed_free(f, 1);
  } else {
    return usage_error(usage_note, "note: unknown subcommand '%s'", sub);
  }
  mentorlog_close(h);
  return rc;
}
