/* mentorlog note add|revise|list. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* -------------------------------------------------------------- note */

static const char usage_note[] =
    "Usage: mentorlog note add CASE [--text TEXT]   (text from standard input when --text is absent)\n"
    "       mentorlog note revise RECORD [--text TEXT]\n"
    "       mentorlog note list CASE [--json]\n";

/* Note text from standard input, into guarded memory (it is plaintext of a
 * sealed field): at most MENTORLOG_TEXT_MAX bytes, trailing newlines dropped. */
static int read_stdin(char **out, size_t *len) {
  size_t n = 0;
  char *b = sodium_malloc(MENTORLOG_TEXT_MAX + 1);
  if (!b)
    return EXIT_INTERNAL;
  size_t r;
  while ((r = fread(b + n, 1, MENTORLOG_TEXT_MAX + 1 - n, stdin)) > 0) {
    n += r;
    if (n > MENTORLOG_TEXT_MAX) {
      sodium_free(b);
      fprintf(stderr, "%s: the note is longer than %d bytes\n", prog, MENTORLOG_TEXT_MAX);
      return EXIT_USER;
    }
  }
  while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
    n--;
  b[n] = 0;
  *out = b;
  *len = n;
  return 0;
}

static void note_print(const void *v, size_t i, bool js) {
  const mentorlog_note *nt = (const mentorlog_note *)v + i;
  char when[32];
  fmt_local(when, nt->recorded_ms);
  if (js) {
    fputs("{\"id\":", stdout);
    json_id(stdout, nt->id);
    fputs(",\"record\":", stdout);
    json_id(stdout, nt->record);
    printf(",\"recorded\":\"%s\",\"text\":", when);
    json_str(stdout, nt->text);
    printf(",\"conflict\":%s}", nt->conflict ? "true" : "false");
  } else {
    char s[33];
    hex(s, nt->record);
    printf("%s  %s%s\n%s\n\n", s, when, nt->conflict ? "  CONFLICT" : "", nt->text ? nt->text : "");
  }
}
LIST_ADAPTERS(notes, mentorlog_note, mentorlog_notes(h, case_id, &items, n), mentorlog_notes_free)
static const struct list_kind note_list = {"note list", fetch_notes, note_print, free_notes};

int cmd_note(int argc, char **argv) {
  struct opt opts[] = {{"text", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "note", usage_note, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_note, "note %s needs one id", sub);
  if (strcmp(sub, "list") == 0)
    return run_list(&note_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  bool add = strcmp(sub, "add") == 0, revise = strcmp(sub, "revise") == 0;
  if (add || revise) {
    char *text = NULL;
    size_t len = 0;
    if (!optv(opts, "text") && (rc = read_stdin(&text, &len)))
      return rc;
    uint8_t id[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if (!(rc = open_resolve(&h, add ? 'c' : 'r', pos[0], id))) {
      const char *t = text ? text : optv(opts, "text");
      size_t tl = text ? len : strlen(t);
      int err = add ? mentorlog_note_add(h, out, id, t, tl) : mentorlog_note_revise(h, out, id, t, tl);
      rc = print_written(h, err, add ? "note add" : "note revise", out);
    }
    sodium_free(text);
  } else {
    return usage_error(usage_note, "note: unknown subcommand '%s'", sub);
  }
  mentorlog_close(h);
  return rc;
}
