/* cli.h — the shared core of the `mentorlog` command (internal to
 * tools/mentorlog): exit codes and error lines, option parsing, sealed
 * fields (sealed.c), the passphrase (passphrase.c) and the profile, no core
 * dumps (nodump_*.c), and output helpers (cli.c). Each command group lives
 * in its own cmd_<group>.c and uses only this header, mentorlog.h and the
 * protocol's JSON/CSV writer (mlproto/json.h, for --json and export); the
 * dispatch table is in mentorlog.c (the shape of wireguard-tools' wg.c with
 * show.c/set.c).
 *
 * Every function that can fail prints one line on stderr naming what was
 * wrong, prefixed by "mentorlog: ", and returns the process exit status
 * (0 or one of the EXIT_* codes); callers return it from their cmd_*. */
#ifndef MENTORLOG_CLI_H
#define MENTORLOG_CLI_H

#include "mentorlog/mentorlog.h"
#include "mlproto/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status of the command (documented in `mentorlog --help`). */
enum { EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

#define PASS_MAX MENTORLOG_PASSPHRASE_MAX

extern const char *prog;        /* "mentorlog": the prefix of every error line */
extern const char *profile_dir; /* --profile DIR given before the command, or NULL */

/* ------------------------------------------------------------- hardening */

/* Forbid core dumps, first thing in main: the process holds decrypted
 * names, notes and keys. Linux (nodump_linux.c): prctl(PR_SET_DUMPABLE, 0),
 * which also keeps other processes of the user from ptrace-attaching or
 * reading /proc/PID/mem, and gives the files in /proc/PID to root; elsewhere
 * (nodump_posix.c) only the next. Both: setrlimit(RLIMIT_CORE) to 0 (soft
 * and hard, inherited by children). Returns 0 or EXIT_INTERNAL (printed). */
int cli_no_core_dumps(void);

/* ---------------------------------------------------------------- errors */

/* Print "mentorlog: <fmt>" and, when usage is not NULL, the usage text on
 * stderr. Returns EXIT_USAGE. */
int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit status for a library error code: 0 for 0, EXIT_INTERNAL for
 * internal, I/O, memory, a damaged profile or a broken chain, EXIT_USER for
 * the rest. */
int exit_for(int code);

/* One line "what: detail (ERRNAME)" for the library error code; detail is
 * mentorlog_errmsg(h) when h is not NULL and has one, else the code's static
 * text. Returns exit_for(code). */
int fail(mentorlog *h, int code, const char *what);

/* "--name 'v': <library's text> (ERRNAME)" for a value the library refused
 * to parse. Returns EXIT_USER. */
int bad_value(const char *name, const char *v, int err);

/* "--name 'v': why" for a value refused by the command. Returns EXIT_USER. */
int bad_opt(const char *name, const char *v, const char *why);

/* --------------------------------------------------------------- options */

/* One long option of a command: a table of them ends with {0}. value and
 * seen are filled by parse_opts; value points into argv. */
struct opt {
  const char *name; /* without the leading "--" */
  bool flag;        /* takes no value */
  const char *value;
  bool seen;
};

/* Parse argv[1..argc-1] into opts and up to maxpos positional arguments
 * (*npos of them, pointers into argv, into pos). True when the command is
 * over: after --help (usage printed on stdout, *rc 0) or a usage error
 * (printed, *rc EXIT_USAGE). An option given twice is a usage error. */
bool parse_opts(int argc, char **argv, struct opt *opts, const char **pos, int maxpos, int *npos,
                const char *usage, int *rc);

/* A command with subcommands: argv[1] is the subcommand (*sub), the rest its
 * options and at most one positional argument. True when the command is
 * over, with its exit status in *rc (as parse_opts). */
bool parse_sub(int argc, char **argv, const char *group, const char *usage, struct opt *opts,
               const char **pos, int *npos, const char **sub, int *rc);

/* The entry of opts named name, or NULL when the table has none. */
struct opt *opt_get(struct opt *opts, const char *name);

/* The value of the option name when it was given, else NULL. */
const char *optv(struct opt *opts, const char *name);

/* A decimal whole number 0..max (no sign) into *out. Returns 0, or -1 with
 * *out unchanged; prints nothing. */
int parse_uint(const char *s, uint32_t max, uint32_t *out);

/* --now (Copenhagen wall time or UTC "Z"), or the clock when absent, into
 * *out (ms since the epoch). Returns 0 or EXIT_USER (printed). */
int parse_now(struct opt *opts, int64_t *out);

/* A YYYY-MM-DD value of the option name into *out. Returns 0 or EXIT_USER
 * (printed). */
int parse_date_opt(const char *name, const char *s, mentorlog_date *out);

/* The wall clock, ms since the epoch. */
int64_t now_ms(void);

/* --------------------------------------------------------- sealed fields */
/* A sealed field (the citizen's name and phone, a note's text, a contact's
 * note, a grant's purpose, a reason) is never taken from argv: parse_opts
 * refuses --name, --phone, --note, --text, --purpose and --reason (also as
 * --KEY=value) with exit status 2 and a message saying why and how to give
 * it instead. A command takes its sealed fields from:
 *   --KEY-file PATH   the whole file (trailing newlines dropped); PATH "-"
 *                     is standard input;
 *   --fields PATH|-   several at once: lines "KEY: value" (KEY as in
 *                     --KEY-file, the value is the rest of the line), then
 *                     optionally an empty line and the body: the rest of the
 *                     input (trailing newlines dropped) is the command's long
 *                     text (the field marked body), which may span lines;
 *   otherwise, for a required field only: asked on the terminal when standard
 *   input is one (the prompt on /dev/tty), else the whole of standard input.
 * Only one source may read standard input. */

/* The paragraph every command with sealed fields ends its usage with. */
#define SEALED_HELP                                                                \
  "Sealed fields are never taken from the command line (--KEY TEXT is refused:\n"  \
  "the process list and the shell history would keep them). Give each with\n"      \
  "--KEY-file PATH ('-' is standard input), or several with --fields PATH|-:\n"    \
  "lines 'KEY: value', then optionally an empty line and the BODY: the rest of\n"  \
  "the input, over as many lines as needed. A required field not given is asked\n" \
  "on the terminal, or is the whole of standard input when that is not one.\n"  \
  "At an interactive shell type them at the prompt or after --fields - (Ctrl-D\n" \
  "ends them): a here-document, echo or printf typed there is saved in the\n"     \
  "shell history; those forms are for scripts.\n"

/* One sealed field of a command. The caller fills key..max; sealed_read
 * fills value and len. */
struct sealed {
  const char *key;   /* option stem and --fields KEY: "name" (--name-file) */
  const char *label; /* in prompts and errors: "the citizen's name" */
  bool required;     /* asked for (terminal or standard input) when not given */
  bool body;         /* the body of --fields (at most one per command) */
  bool multiline;    /* may span lines (else a newline in it is refused) */
  size_t max;        /* cap in bytes */
  char *value;       /* out: sodium_malloc'd, NUL-terminated; NULL when not given */
  size_t len;        /* out: bytes in value */
};

/* The label of the sealed option key[0..keylen) ("name" -> "the citizen's
 * name"), or NULL when it is not a sealed field. Static. */
const char *sealed_label(const char *key, size_t keylen);

/* Refuse the sealed option opt (without "--"; a "=value" tail is not
 * printed) on stderr, then usage when not NULL. Returns EXIT_USAGE. */
int sealed_refuse(const char *opt, const char *usage);

/* Read the nf fields f of command cmd ("case open", for errors) from the
 * options opts (their table has "fields" and "KEY-file" for each field it
 * may take; a --KEY-file of a sealed field not in f is a usage error).
 * Returns 0 with each value set or NULL (optional, not given), or an exit
 * status (printed): EXIT_USAGE (a field given twice, two readers of standard
 * input, a bad --fields line), EXIT_USER (unreadable file, too long, a NUL
 * byte, empty required field, a newline in a one-line field). On failure
 * every value is freed and NULL. The caller frees with sealed_free. */
int sealed_read(struct sealed *f, size_t nf, struct opt *opts, const char *cmd, const char *usage);

/* For a subcommand without sealed fields that shares its option table: a
 * usage error (returned, printed) when --fields or a --KEY-file was given,
 * else 0. */
int sealed_none(struct opt *opts, const char *cmd, const char *usage);

/* Free (and zero) every value of f; each becomes NULL. */
void sealed_free(struct sealed *f, size_t nf);

/* ---------------------------------------------- passphrase and profile */

/* The passphrase into buf (cap bytes, sodium_malloc'd by the caller): line
 * `line` (1 or 2) of $MENTORLOG_PASSPHRASE_FILE when set, else asked on
 * the terminal without echo ("Passphrase: ", or "New passphrase: " for line
 * 2; twice when twice, to confirm). The file is refused unless it is a
 * regular file owned by the user without any permission for group or
 * others (the message says chmod 600). Returns 0, or an exit status
 * (printed); buf's content is then undefined. */
int get_passphrase(char *buf, size_t cap, int line, bool twice);

/* The strength a new passphrase must have (init, passphrase change): at
 * least PASS_MIN_CHARS characters, or PASS_MIN_WORDS words of at least
 * PASS_WORD_MIN characters; and not refused by libpwquality's dictionary
 * (cracklib) and pattern checks, nor, unless it has PASS_MIN_WORDS words, a
 * dictionary word with digits or symbols added. Returns 0, or EXIT_USER
 * (printed: why, and what to choose), EXIT_INTERNAL out of memory. */
int passphrase_check(const char *pass);
#define PASS_RULES_HELP                                                              \
  "A new passphrase has at least 12 characters, or 4 or more words; common\n"        \
  "passwords and dictionary words (also with digits or symbols added) are refused\n" \
  "(libpwquality with cracklib's dictionary). $MENTORLOG_PASSPHRASE_FILE must be a\n"\
  "regular file of yours that no one else may read or write (chmod 600).\n"
#define PASS_MIN_CHARS 12
#define PASS_MIN_WORDS 4
#define PASS_WORD_MIN 2

/* $MENTORLOG_KDF: "fast" (tests only), "moderate", else interactive. */
mentorlog_kdf kdf_from_env(void);

/* The profile directory: --profile, else $MENTORLOG_PROFILE, else
 * ~/.mentorlog. The string is static or from argv/environ. */
const char *profile(void);

/* Open the profile (create it when create) with the passphrase. Returns 0
 * with *h open, or an exit status (printed) with *h NULL. The caller closes
 * *h with mentorlog_close. */
int open_profile(mentorlog **h, bool create);

/* Resolve arg, an id or unique prefix of the kind what ('c' case, 'g' grant,
 * 'r' record), into out. Returns 0 or an exit status (printed). */
int resolve(mentorlog *h, uint8_t out[MENTORLOG_ID_BYTES], char what, const char *arg);

/* open_profile, then resolve arg into id. On failure *h is NULL (closed). */
int open_resolve(mentorlog **h, char what, const char *arg, uint8_t id[MENTORLOG_ID_BYTES]);

/* A command without options or arguments, on the profile (created when
 * create). True when the command is over, with its exit status in *rc;
 * false with *h open. */
bool parse_plain_open(int argc, char **argv, const char *usage, bool create, mentorlog **h, int *rc);

/* ---------------------------------------------------------------- output */

/* An id as 32 lower-case hex digits and a NUL. */
void hex(char out[MENTORLOG_ID_HEX + 1], const uint8_t id[MENTORLOG_ID_BYTES]);

/* An id as a hex line on stdout. */
void print_id(const uint8_t id[MENTORLOG_ID_BYTES]);

/* The end of a command that wrote one record: its id on stdout and 0, or
 * fail(h, err, what) when err. */
int print_written(mentorlog *h, int err, const char *what, const uint8_t id[MENTORLOG_ID_BYTES]);

/* s for a terminal, a text that came from the server or another device (a
 * label, the log's name): control characters (escape sequences) as '?'. */
void print_safe(FILE *f, const char *s);

/* --json and CSV output: a document is built in memory with the protocol's
 * writer (mlproto/json.h: it escapes, refuses text that is not UTF-8, and
 * bounds the size), then written out at once, so a failed one writes
 * nothing. OUT_CAP bounds one document (or one piece of an export). */
#define OUT_CAP ((size_t)64 << 20)

/* A new JSON document: b empty with the cap OUT_CAP, j writing into it. */
void json_begin(mlproto_json *j, mlproto_buf *b);

/* Finish j's document and write it to f; its buffer is freed (zeroed: it
 * holds decrypted text). Returns 0, or an exit status (printed "what:
 * error") with nothing written. */
int json_emit(mlproto_json *j, FILE *f, const char *what);

/* Write b's bytes to f and empty b: a long document in pieces (export).
 * Returns 0 or EXIT_INTERNAL (printed). */
int out_flush(mlproto_buf *b, FILE *f, const char *what);

/* ms as Copenhagen wall time "YYYY-MM-DD HH:MM+HH:00" into out. */
void fmt_local(char out[32], int64_t ms);

/* ----------------------------------------------------------- bulk output */
/* A command writing decrypted text in bulk (export) writes to a file it
 * creates, or to standard output only when asked with "-". */

/* Open path for writing into *out: "-" is stdout; else a new file created
 * with O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600 (an existing file or a
 * symbolic link is refused). Returns 0, or EXIT_USER (printed) with *out
 * NULL. */
int output_open(const char *path, FILE **out);

/* Finish the output of output_open: flush (and fsync and close a file).
 * rc is the command's status so far; when it is not 0, or finishing fails,
 * a created file is removed (said on stderr). Returns rc, or EXIT_INTERNAL
 * when writing failed. */
int output_close(FILE *out, const char *path, int rc);

/* ----------------------------------------------------------------- lists */

/* One `GROUP list` subcommand: the items of a case (or of all cases) as a
 * JSON array on one line, or as text lines. */
struct list_kind {
  const char *what; /* names a failure: "contact list" */
  int (*fetch)(mentorlog *h, const uint8_t *case_id, void **items, size_t *n);
  void (*print)(const void *items, size_t i);                /* item i as text on stdout */
  void (*json)(mlproto_json *j, const void *items, size_t i); /* item i as one JSON value */
  void (*free)(void *items, size_t n);
};

/* fetch_NAME and free_NAME of a typed list call (CALL fills items, n). */
#define LIST_ADAPTERS(name, type, call, free_fn)                                    \
  static int fetch_##name(mentorlog *h, const uint8_t *case_id, void **v, size_t *n) { \
    type *items = NULL;                                                               \
    int err = (call);                                                                 \
    *v = items;                                                                       \
    return err;                                                                       \
  }                                                                                   \
  static void free_##name(void *v, size_t n) { free_fn((type *)v, n); }

/* Open the profile and print kind k's list: of the case case_arg (resolved),
 * or of every case when case_arg is NULL. Returns an exit status. */
int run_list(const struct list_kind *k, const char *case_arg, bool json);

#endif
