/* mentorlog — the mentor's command: the same library a phone app embeds,
 * for a laptop and for scripts. Subcommand table in the style of
 * wireguard-tools: main -> cmd_<name>(argc, argv). */
#include "mentorlog/mentorlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

enum { EXIT_USER = 1, EXIT_USAGE = 2, EXIT_INTERNAL = 3 };

static const char *prog = "mentorlog";
static const char *profile_dir;

static const char usage_main[] =
    "Usage: mentorlog [--profile DIR] COMMAND ...\n"
    "\n"
    "The mentor's encrypted offline log.\n"
    "\n"
    "Commands:\n"
    "  init                      create a profile (asks the passphrase twice)\n"
    "  passphrase                change the passphrase (re-wraps the keys only)\n"
    "  case open|list|erase      citizens' cases\n"
    "  grant open|update|close|list   grants (bevillinger) and their contact rule\n"
    "  contact add|correct|void|list\n"
    "  note add|revise|list\n"
    "  absence add|list\n"
    "  compliance GRANT          the grant's periods and their status\n"
    "  week                      this week's citizens still lacking a qualifying contact\n"
    "  export --format json|csv  everything, decrypted, to standard output\n"
    "  verify                    integrity check and hash-chain verification\n"
    "\n"
    "Profile: --profile DIR, else $MENTORLOG_PROFILE, else ~/.mentorlog.\n"
    "Passphrase: asked on the terminal (twice at init); otherwise the first line\n"
    "of the file named by $MENTORLOG_PASSPHRASE_FILE.\n"
    "$MENTORLOG_KDF: interactive (default) or moderate; 'fast' is for tests only\n"
    "(Argon2id at libsodium's minimum cost: never for a real profile).\n"
    "\n"
    "Ids (CASE, GRANT, RECORD): the full 32 hex digits or a unique prefix of >= 6.\n"
    "Exit status: 0 success, 1 user error (bad input, unknown id, wrong passphrase,\n"
    "disk full ...), 2 usage error, 3 internal failure (damaged profile, I/O, memory).\n"
    "'mentorlog COMMAND --help' describes each command.\n";

/* ------------------------------------------------------------ errors */

static int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (usage)
    fputs(usage, stderr);
  return EXIT_USAGE;
}

static int exit_for(int code) {
  switch (code) {
  case 0:
    return 0;
  case -3:  /* INTERNAL */
  case -4:  /* IO */
  case -2:  /* OUT_OF_MEMORY */
  case -301: /* PROFILE_CORRUPT */
  case -306: /* CHAIN_BROKEN */
    return EXIT_INTERNAL;
  default:
    return EXIT_USER;
  }
}

/* One clear line on stderr naming what was wrong. */
static int fail(mentorlog *h, int code, const char *what) {
  const char *detail = h ? mentorlog_errmsg(h) : "";
  if (detail && *detail)
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, detail, mentorlog_errname(code));
  else
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, mentorlog_strerror(code), mentorlog_errname(code));
  return exit_for(code);
}

/* ----------------------------------------------------------- options */

struct opt {
  const char *name;
  bool flag;        /* takes no value */
  const char *value;
  bool seen;
};

/* Parse argv into opts and up to maxpos positional arguments. --help prints
 * usage and returns -1 (exit 0). Returns EXIT_USAGE on error, 0 on success. */
static int parse_opts_rc(int argc, char **argv, struct opt *opts, const char **pos, int maxpos,
                         int *npos, const char *usage) {
  *npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage, stdout);
      return -1;
    }
    if (strncmp(a, "--", 2) == 0) {
      struct opt *o = NULL;
      for (struct opt *p = opts; p && p->name; p++)
        if (strcmp(p->name, a + 2) == 0)
          o = p;
      if (!o)
        return usage_error(usage, "unknown option %s", a);
      if (o->seen)
        return usage_error(usage, "option %s given twice", a);
      o->seen = true;
      if (!o->flag) {
        if (i + 1 >= argc)
          return usage_error(usage, "option %s needs a value", a);
        o->value = argv[++i];
      }
      continue;
    }
    if (*npos >= maxpos)
      return usage_error(usage, "unexpected argument '%s'", a);
    pos[(*npos)++] = a;
  }
  return 0;
}

/* As parse_opts_rc; true when the command is over (after --help or a usage
 * error), with its exit status in *rc. */
static bool parse_opts(int argc, char **argv, struct opt *opts, const char **pos, int maxpos, int *npos,
                       const char *usage, int *rc) {
  int r = parse_opts_rc(argc, argv, opts, pos, maxpos, npos, usage);
  *rc = r < 0 ? 0 : r;
  return r != 0;
}

/* A command with subcommands: argv[1] is the subcommand (*sub), the rest its
 * options and at most one positional argument. True when the command is
 * over, with its exit status in *rc. */
static bool parse_sub(int argc, char **argv, const char *group, const char *usage, struct opt *opts,
                      const char **pos, int *npos, const char **sub, int *rc) {
  if (argc < 2) {
    *rc = usage_error(usage, "%s: missing subcommand", group);
    return true;
  }
  *sub = argv[1];
  if (strcmp(*sub, "--help") == 0 || strcmp(*sub, "-h") == 0) {
    fputs(usage, stdout);
    *rc = 0;
    return true;
  }
  return parse_opts(argc - 1, argv + 1, opts, pos, 1, npos, usage, rc);
}

static struct opt *opt_get(struct opt *opts, const char *name) {
  for (struct opt *p = opts; p->name; p++)
    if (strcmp(p->name, name) == 0)
      return p;
  return NULL;
}
static const char *optv(struct opt *opts, const char *name) {
  struct opt *o = opt_get(opts, name);
  return o && o->seen ? o->value : NULL;
}

static int parse_uint(const char *s, uint32_t max, uint32_t *out) {
  if (!s || !*s)
    return -1;
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*end || errno || v > max || s[0] == '-' || s[0] == '+')
    return -1;
  *out = (uint32_t)v;
  return 0;
}

/* -------------------------------------------------------- passphrase */

#define PASS_MAX MENTORLOG_PASSPHRASE_MAX

static int read_tty_line(const char *prompt, char *buf, size_t cap) {
  FILE *tty = fopen("/dev/tty", "r+");
  if (!tty)
    return -1;
  struct termios old, no_echo;
  int fd = fileno(tty);
  if (tcgetattr(fd, &old) != 0) {
    fclose(tty);
    return -1;
  }
  no_echo = old;
  no_echo.c_lflag &= ~(tcflag_t)ECHO;
  fputs(prompt, tty);
  fflush(tty);
  tcsetattr(fd, TCSAFLUSH, &no_echo);
  char *r = fgets(buf, (int)cap, tty);
  tcsetattr(fd, TCSAFLUSH, &old);
  fputc('\n', tty);
  fclose(tty);
  if (!r)
    return -1;
  buf[strcspn(buf, "\r\n")] = 0;
  return 0;
}

/* Into buf (sodium_malloc'd by the caller). twice: ask again to confirm. */
static int get_passphrase(char *buf, size_t cap, bool twice) {
  const char *file = getenv("MENTORLOG_PASSPHRASE_FILE");
  if (file && *file) {
    FILE *f = fopen(file, "r");
    if (!f) {
      fprintf(stderr, "%s: cannot read the passphrase file named by MENTORLOG_PASSPHRASE_FILE: %s\n", prog,
              strerror(errno));
      return EXIT_USER;
    }
    char *r = fgets(buf, (int)cap, f);
    fclose(f);
    if (!r) {
      fprintf(stderr, "%s: the passphrase file is empty\n", prog);
      return EXIT_USER;
    }
    if (!strchr(buf, '\n') && strlen(buf) == cap - 1) {
      fprintf(stderr, "%s: the passphrase is longer than %d bytes\n", prog, PASS_MAX);
      return EXIT_USER;
    }
    buf[strcspn(buf, "\r\n")] = 0;
  } else {
    if (!isatty(STDIN_FILENO) && access("/dev/tty", R_OK) != 0) {
      fprintf(stderr, "%s: no passphrase: run on a terminal or set MENTORLOG_PASSPHRASE_FILE\n", prog);
      return EXIT_USER;
    }
    if (read_tty_line("Passphrase: ", buf, cap) != 0) {
      fprintf(stderr, "%s: no passphrase: run on a terminal or set MENTORLOG_PASSPHRASE_FILE\n", prog);
      return EXIT_USER;
    }
    if (twice) {
      char *again = sodium_malloc(cap);
      if (!again)
        return EXIT_INTERNAL;
      int bad = read_tty_line("Passphrase again: ", again, cap) != 0 || strcmp(again, buf) != 0;
      sodium_free(again);
      if (bad) {
        fprintf(stderr, "%s: the passphrases do not match\n", prog);
        return EXIT_USER;
      }
    }
  }
  if (!*buf) {
    fprintf(stderr, "%s: the passphrase is empty\n", prog);
    return EXIT_USER;
  }
  return 0;
}

static mentorlog_kdf kdf_from_env(void) {
  const char *k = getenv("MENTORLOG_KDF");
  if (k && strcmp(k, "fast") == 0)
    return MENTORLOG_KDF_FAST_INSECURE;
  if (k && strcmp(k, "moderate") == 0)
    return MENTORLOG_KDF_MODERATE;
  return MENTORLOG_KDF_INTERACTIVE;
}

static char default_dir[4096];
static const char *profile(void) {
  if (profile_dir)
    return profile_dir;
  const char *e = getenv("MENTORLOG_PROFILE");
  if (e && *e)
    return e;
  const char *home = getenv("HOME");
  snprintf(default_dir, sizeof default_dir, "%s/.mentorlog", home && *home ? home : ".");
  return default_dir;
}

/* Open the profile (or create it) with the passphrase; prints the error. */
static int open_profile(mentorlog **h, bool create) {
  *h = NULL;
  char *pass = sodium_malloc(PASS_MAX + 2);
  if (!pass)
    return EXIT_INTERNAL;
  int rc = get_passphrase(pass, PASS_MAX + 2, create);
  if (rc == 0) {
    mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
    o.passphrase = pass;
    o.passphrase_len = strlen(pass);
    o.kdf = kdf_from_env();
    int err = create ? mentorlog_create(h, profile(), &o) : mentorlog_open(h, profile(), &o);
    if (err) {
      const char *detail = mentorlog_open_errmsg();
      fprintf(stderr, "%s: %s %s: %s (%s)\n", prog, create ? "cannot create the profile in" : "cannot open the profile in",
              profile(), *detail ? detail : mentorlog_strerror(err), mentorlog_errname(err));
      rc = exit_for(err);
    }
  }
  sodium_free(pass);
  return rc;
}

/* ------------------------------------------------------------ output */

static void hex(char out[MENTORLOG_ID_HEX + 1], const uint8_t id[MENTORLOG_ID_BYTES]) {
  sodium_bin2hex(out, MENTORLOG_ID_HEX + 1, id, MENTORLOG_ID_BYTES);
}
static void print_id(const uint8_t id[MENTORLOG_ID_BYTES]) {
  char s[MENTORLOG_ID_HEX + 1];
  hex(s, id);
  puts(s);
}

static void json_str(FILE *f, const char *s) {
  if (!s) {
    fputs("null", f);
    return;
  }
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}
static void json_id(FILE *f, const uint8_t id[MENTORLOG_ID_BYTES]) {
  char s[MENTORLOG_ID_HEX + 1];
  hex(s, id);
  json_str(f, s);
}
static void json_date(FILE *f, mentorlog_date d) {
  char s[11];
  mentorlog_format_date(s, d);
  json_str(f, s);
}
static void csv_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"')
      fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void fmt_local(char out[32], int64_t ms) {
  /* Copenhagen wall time with offset; computed via the library's date. */
  mentorlog_date d = mentorlog_local_date(ms);
  char ds[11];
  mentorlog_format_date(ds, d);
  /* offset = local midnight relation: derive from the difference. */
  int64_t day_ms = (int64_t)d * 86400000;
  int64_t local_ms_of_day = ms - day_ms; /* UTC-based; add the offset below */
  int off = 0;
  for (int o = 1; o <= 2; o++) {
    int64_t l = ms + (int64_t)o * 3600000 - day_ms;
    int64_t t;
    char probe[40];
    if (l < 0 || l >= 86400000)
      continue;
    snprintf(probe, sizeof probe, "%s %02d:%02d+%02d:00", ds, (int)(l / 3600000), (int)(l / 60000 % 60), o);
    if (mentorlog_parse_local_time(&t, probe) == 0 && t / 60000 == ms / 60000) {
      off = o;
      local_ms_of_day = l;
      break;
    }
  }
  snprintf(out, 32, "%s %02d:%02d+%02d:00", ds, (int)(local_ms_of_day / 3600000),
           (int)(local_ms_of_day / 60000 % 60), off);
}

/* ------------------------------------------------------------ helpers */

static int resolve(mentorlog *h, uint8_t out[MENTORLOG_ID_BYTES], char what, const char *arg) {
  int err = mentorlog_resolve(h, out, what, arg);
  if (err)
    return fail(h, err, what == 'c' ? "case" : what == 'g' ? "grant" : "record");
  return 0;
}

/* Open the profile and resolve arg, an id of the kind what, into id; prints
 * what was wrong. On failure *h is NULL. */
static int open_resolve(mentorlog **h, char what, const char *arg, uint8_t id[MENTORLOG_ID_BYTES]) {
  int rc = open_profile(h, false);
  if (!rc && (rc = resolve(*h, id, what, arg))) {
    mentorlog_close(*h);
    *h = NULL;
  }
  return rc;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A value the library refused to parse: name it, and why. */
static int bad_value(const char *name, const char *s, int err) {
  fprintf(stderr, "%s: --%s '%s': %s (%s)\n", prog, name, s, mentorlog_strerror(err), mentorlog_errname(err));
  return EXIT_USER;
}

/* A value refused here: name it, and what was expected. */
static int bad_opt(const char *name, const char *v, const char *why) {
  fprintf(stderr, "%s: --%s '%s': %s\n", prog, name, v, why);
  return EXIT_USER;
}

/* The end of a command that wrote one record: its id, or the failure. */
static int print_written(mentorlog *h, int err, const char *what, const uint8_t id[MENTORLOG_ID_BYTES]) {
  if (err)
    return fail(h, err, what);
  print_id(id);
  return 0;
}

static int parse_now(struct opt *opts, int64_t *out) {
  const char *s = optv(opts, "now");
  if (!s) {
    *out = now_ms();
    return 0;
  }
  int err = mentorlog_parse_local_time(out, s);
  return err ? bad_value("now", s, err) : 0;
}

static int parse_date_opt(const char *name, const char *s, mentorlog_date *out) {
  int err = mentorlog_parse_date(out, s);
  return err ? bad_value(name, s, err) : 0;
}

/* ------------------------------------------------------------- lists */

/* One `GROUP list` subcommand: the items of a case (or of all cases) as a
 * JSON array on one line, or as text lines. */
struct list_kind {
  const char *what; /* names a failure: "contact list" */
  int (*fetch)(mentorlog *h, const uint8_t *case_id, void **items, size_t *n);
  void (*print)(const void *items, size_t i, bool json); /* item i, without the separator */
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

/* case_arg: the CASE argument, resolved; NULL lists every case's items. */
static int run_list(const struct list_kind *k, const char *case_arg, bool json) {
  mentorlog *h;
  uint8_t cid[MENTORLOG_ID_BYTES];
  int rc = case_arg ? open_resolve(&h, 'c', case_arg, cid) : open_profile(&h, false);
  if (rc)
    return rc;
  void *items = NULL;
  size_t n = 0;
  int err = k->fetch(h, case_arg ? cid : NULL, &items, &n);
  if (err) {
    rc = fail(h, err, k->what);
  } else {
    if (json)
      fputc('[', stdout);
    for (size_t i = 0; i < n; i++) {
      if (json && i)
        fputc(',', stdout);
      k->print(items, i, json);
    }
    if (json)
      fputs("]\n", stdout);
    k->free(items, n);
  }
  mentorlog_close(h);
  return rc;
}

/* -------------------------------------------------------------- init */

/* A command without options or arguments, on the profile (created when
 * create). True when the command is over, with its exit status in *rc. */
static bool parse_plain_open(int argc, char **argv, const char *usage, bool create, mentorlog **h, int *rc) {
  struct opt opts[] = {{0}};
  const char *pos[1];
  int npos;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage, rc))
    return true;
  return (*rc = open_profile(h, create)) != 0;
}

static int cmd_init(int argc, char **argv) {
  static const char usage[] = "Usage: mentorlog init\n\nCreate a new profile with a passphrase (asked twice on a terminal).\n";
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, true, &h, &rc))
    return rc;
  uint8_t dev[32];
  mentorlog_device_id(h, dev);
  char s[65];
  sodium_bin2hex(s, sizeof s, dev, 32);
  printf("profile created in %s\ndevice %s\n", profile(), s);
  mentorlog_close(h);
  return 0;
}

static int cmd_passphrase(int argc, char **argv) {
  static const char usage[] =
      "Usage: mentorlog passphrase\n\nChange the passphrase: reads the old one, then the new one\n"
      "(from the terminal, or the first and second line of $MENTORLOG_PASSPHRASE_FILE).\n";
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, false, &h, &rc))
    return rc;
  char *pass = sodium_malloc(PASS_MAX + 2);
  const char *file = getenv("MENTORLOG_PASSPHRASE_FILE");
  if (!pass) {
    mentorlog_close(h);
    return EXIT_INTERNAL;
  }
  if (file && *file) {
    FILE *f = fopen(file, "r");
    rc = EXIT_USER;
    if (f && fgets(pass, PASS_MAX + 2, f) && fgets(pass, PASS_MAX + 2, f)) {
      pass[strcspn(pass, "\r\n")] = 0;
      rc = *pass ? 0 : EXIT_USER;
    }
    if (f)
      fclose(f);
    if (rc)
      fprintf(stderr, "%s: the new passphrase is the second line of the passphrase file\n", prog);
  } else {
    fprintf(stderr, "New passphrase:\n");
    rc = get_passphrase(pass, PASS_MAX + 2, true);
  }
  if (!rc) {
    mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
    o.passphrase = pass;
    o.passphrase_len = strlen(pass);
    o.kdf = kdf_from_env();
    int err = mentorlog_rekey(h, &o);
    rc = err ? fail(h, err, "change passphrase") : 0;
  }
  sodium_free(pass);
  mentorlog_close(h);
  return rc;
}

/* -------------------------------------------------------------- case */

static const char usage_case[] =
    "Usage: mentorlog case open --name NAME [--phone PHONE]   prints the case id\n"
    "       mentorlog case list [--json]\n"
    "       mentorlog case erase CASE     crypto-shreds the case (irreversible)\n";

static void case_print(const void *v, size_t i, bool js) {
  const mentorlog_case *c = (const mentorlog_case *)v + i;
  char s[MENTORLOG_ID_HEX + 1];
  hex(s, c->id);
  if (js) {
    printf("{\"id\":\"%s\",\"name\":", s);
    json_str(stdout, c->name);
    fputs(",\"phone\":", stdout);
    json_str(stdout, c->phone);
    printf(",\"erased\":%s}", c->erased ? "true" : "false");
  } else {
    printf("%s  %s%s%s\n", s, c->erased ? "(erased)" : c->name ? c->name : "", c->phone ? "  " : "",
           c->phone ? c->phone : "");
  }
}
LIST_ADAPTERS(cases, mentorlog_case, ((void)case_id, mentorlog_cases(h, &items, n)), mentorlog_cases_free)
static const struct list_kind case_list = {"case list", fetch_cases, case_print, free_cases};

static int cmd_case(int argc, char **argv) {
  struct opt opts[] = {{"name", 0, 0, 0}, {"phone", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "case", usage_case, opts, pos, &npos, &sub, &rc))
    return rc;
  mentorlog *h = NULL;
  if (strcmp(sub, "open") == 0) {
    if (!optv(opts, "name") || npos)
      return usage_error(usage_case, "case open needs --name and no other argument");
    if ((rc = open_profile(&h, false)))
      return rc;
    uint8_t id[MENTORLOG_ID_BYTES];
    int err = mentorlog_case_open(h, id, optv(opts, "name"), optv(opts, "phone"));
    rc = print_written(h, err, "case open", id);
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

/* ------------------------------------------------------------- grant */

static const char usage_grant[] =
    "Usage: mentorlog grant open CASE --jobcentre ID --ref REF --start YYYY-MM-DD --end YYYY-MM-DD\n"
    "              [--every WEEKS] [--contacts N] [--min-minutes M] [--partial-days K]\n"
    "              [--grace-days G] [--late-days L] [--hours-per-week H] [--legal-basis TEXT]\n"
    "              [--channels LIST]       (comma-separated; default in-person,home-visit,\n"
    "                                        accompaniment,video,phone)\n"
    "              [--purpose TEXT]        (sealed: only this mentor's devices read it)\n"
    "                                                                   prints the grant id\n"
    "       mentorlog grant update GRANT [any option of grant open]    prints the new record id\n"
    "              (options not given keep their current values; a closed grant is not updated)\n"
    "       mentorlog grant close GRANT --date YYYY-MM-DD [--reason TEXT]   (reason sealed)\n"
    "                                                                   prints the record id\n"
    "       mentorlog grant list [CASE] [--json]\n"
    "Defaults of the contact rule: --every 1 --contacts 1 --min-minutes 0 --partial-days 3\n"
    "--grace-days 7 --late-days 7.\n";

/* Apply the options of grant open/update onto p (defaults or the grant's
 * current values). Prints what was wrong; returns an exit code. */
static int grant_apply_opts(struct opt *opts, mentorlog_grant_params *p) {
  int rc;
  const char *v;
  if ((v = optv(opts, "jobcentre")))
    p->jobcentre = v;
  if ((v = optv(opts, "ref")))
    p->reference = v;
  if ((v = optv(opts, "legal-basis")))
    p->legal_basis = v;
  if ((v = optv(opts, "purpose")))
    p->purpose = v;
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
                                               "hours-per-week", "legal-basis", "channels", "purpose", NULL};

/* The grant's text fields as JSON members (list and export share them). */
static void grant_json_texts(const mentorlog_grant *g) {
  fputs("\"jobcentre\":", stdout);
  json_str(stdout, g->jobcentre);
  fputs(",\"ref\":", stdout);
  json_str(stdout, g->reference);
  fputs(",\"legal_basis\":", stdout);
  json_str(stdout, g->legal_basis);
  fputs(",\"purpose\":", stdout);
  json_str(stdout, g->purpose);
}

static void grant_print(const void *v, size_t i, bool js) {
  const mentorlog_grant *g = (const mentorlog_grant *)v + i;
  char gs[33], cs[33], a[11], b[11];
  hex(gs, g->id);
  hex(cs, g->case_id);
  mentorlog_format_date(a, g->start);
  mentorlog_format_date(b, g->end);
  if (js) {
    printf("{\"id\":\"%s\",\"case\":\"%s\",", gs, cs);
    grant_json_texts(g);
    printf(",\"minutes_per_week\":%u", g->minutes_per_week);
    printf(",\"start\":\"%s\",\"end\":\"%s\",\"closed\":%s,\"close_reason\":", a, b, g->closed ? "true" : "false");
    json_str(stdout, g->close_reason);
    printf(",\"conflict\":%s}", g->conflict ? "true" : "false");
  } else {
    printf("%s  case %s  %s %s  %s..%s%s%s%s%s\n", gs, cs, g->jobcentre, g->reference, a, b,
           g->closed ? "  closed" : "", g->close_reason ? ": " : "", g->close_reason ? g->close_reason : "",
           g->conflict ? "  CONFLICT" : "");
  }
}
LIST_ADAPTERS(grants, mentorlog_grant, mentorlog_grants(h, case_id, &items, n), mentorlog_grants_free)
static const struct list_kind grant_list = {"grant list", fetch_grants, grant_print, free_grants};

static int cmd_grant(int argc, char **argv) {
  struct opt opts[] = {{"jobcentre", 0, 0, 0}, {"ref", 0, 0, 0}, {"start", 0, 0, 0}, {"end", 0, 0, 0},
                       {"every", 0, 0, 0}, {"contacts", 0, 0, 0}, {"min-minutes", 0, 0, 0},
                       {"partial-days", 0, 0, 0}, {"grace-days", 0, 0, 0}, {"late-days", 0, 0, 0},
                       {"hours-per-week", 0, 0, 0}, {"legal-basis", 0, 0, 0}, {"channels", 0, 0, 0},
                       {"purpose", 0, 0, 0}, {"date", 0, 0, 0}, {"reason", 0, 0, 0}, {"json", 1, 0, 0}, {0}};
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
  if (strcmp(sub, "close") && optv(opts, "reason"))
    return usage_error(usage_grant, "only grant close takes --reason");
  if (open) {
    if (npos != 1 || !optv(opts, "jobcentre") || !optv(opts, "ref") || !optv(opts, "start") || !optv(opts, "end"))
      return usage_error(usage_grant, "grant open needs CASE, --jobcentre, --ref, --start and --end");
    mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION};
    mentorlog_rule_default(&p.rule);
    if ((rc = grant_apply_opts(opts, &p)))
      return rc;
    uint8_t cid[MENTORLOG_ID_BYTES], gid[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'c', pos[0], cid)))
      return rc;
    int err = mentorlog_grant_open(h, gid, cid, &p);
    rc = print_written(h, err, "grant open", gid);
  } else if (update) {
    if (npos != 1)
      return usage_error(usage_grant, "grant update needs GRANT");
    bool any = false;
    for (const char *const *o = grant_param_opts; *o; o++)
      any |= optv(opts, *o) != NULL;
    if (!any)
      return usage_error(usage_grant, "grant update needs at least one option of grant open");
    uint8_t gid[MENTORLOG_ID_BYTES], rid[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'g', pos[0], gid)))
      return rc;
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
      if (!(rc = grant_apply_opts(opts, &p))) {
        err = mentorlog_grant_update(h, rid, gid, &p);
        rc = print_written(h, err, "grant update", rid);
      }
    }
    mentorlog_grants_free(g, ng);
  } else if (strcmp(sub, "close") == 0) {
    if (npos != 1 || !optv(opts, "date"))
      return usage_error(usage_grant, "grant close needs GRANT and --date");
    mentorlog_date d;
    if ((rc = parse_date_opt("date", optv(opts, "date"), &d)))
      return rc;
    uint8_t gid[MENTORLOG_ID_BYTES], rid[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'g', pos[0], gid)))
      return rc;
    int err = mentorlog_grant_close(h, rid, gid, d, optv(opts, "reason"));
    rc = print_written(h, err, "grant close", rid);
  } else if (strcmp(sub, "list") == 0) {
    return run_list(&grant_list, npos ? pos[0] : NULL, opt_get(opts, "json")->seen);
  } else {
    return usage_error(usage_grant, "grant: unknown subcommand '%s'", sub);
  }
out:
  mentorlog_close(h);
  return rc;
}

/* ----------------------------------------------------------- contact */

static const char usage_contact[] =
    "Usage: mentorlog contact add CASE --at \"YYYY-MM-DD HH:MM[+HH:MM]\" --minutes M\n"
    "              --channel in-person|home-visit|accompaniment|video|phone|message|other\n"
    "              --outcome held|attempt-failed|no-show|cancelled-by-citizen|cancelled-by-mentor\n"
    "              [--transport-minutes T] [--note TEXT]          prints the record id\n"
    "       mentorlog contact correct RECORD [any option of contact add]   prints the new record id\n"
    "       mentorlog contact void RECORD --reason TEXT\n"
    "       mentorlog contact list CASE [--json]\n"
    "--at is Copenhagen wall time; the offset is needed only when the time occurs\n"
    "twice (autumn); a time that does not exist (spring) is refused.\n";

static void contact_json(FILE *f, const mentorlog_contact *c, int first) {
  char when[32];
  fmt_local(when, c->start_ms);
  fprintf(f, "%s{\"id\":", first ? "" : ",");
  json_id(f, c->id);
  fputs(",\"record\":", f);
  json_id(f, c->record);
  fprintf(f, ",\"at\":\"%s\",\"start_ms\":%lld,\"minutes\":%u,\"channel\":\"%s\",\"outcome\":\"%s\","
             "\"transport_minutes\":%u,\"note\":",
          when, (long long)c->start_ms, c->minutes, mentorlog_channel_name(c->channel),
          mentorlog_outcome_name(c->outcome), c->transport_minutes);
  json_str(f, c->note);
  fprintf(f, ",\"late_entry\":%s,\"conflict\":%s}", c->late_entry ? "true" : "false",
          c->conflict ? "true" : "false");
}

static void contact_print(const void *v, size_t i, bool js) {
  const mentorlog_contact *c = (const mentorlog_contact *)v + i;
  if (js) {
    contact_json(stdout, c, 1);
    return;
  }
  char s[33], when[32];
  hex(s, c->record);
  fmt_local(when, c->start_ms);
  printf("%s  %s  %u min  %s  %s%s%s%s\n", s, when, c->minutes, mentorlog_channel_name(c->channel),
         mentorlog_outcome_name(c->outcome), c->note ? "  " : "", c->note ? c->note : "",
         c->conflict ? "  CONFLICT" : "");
}
LIST_ADAPTERS(contacts, mentorlog_contact, mentorlog_contacts(h, case_id, &items, n), mentorlog_contacts_free)
static const struct list_kind contact_list = {"contact list", fetch_contacts, contact_print, free_contacts};

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

static int cmd_contact(int argc, char **argv) {
  struct opt opts[] = {{"at", 0, 0, 0}, {"minutes", 0, 0, 0}, {"channel", 0, 0, 0}, {"outcome", 0, 0, 0},
                       {"transport-minutes", 0, 0, 0}, {"note", 0, 0, 0}, {"reason", 0, 0, 0},
                       {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "contact", usage_contact, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_contact, "contact %s needs %s", sub, strcmp(sub, "add") && strcmp(sub, "list") ? "RECORD" : "CASE");
  if (strcmp(sub, "list") == 0)
    return run_list(&contact_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  char *old_note = NULL; /* a corrected contact keeps its note unless --note is given */
  bool add = strcmp(sub, "add") == 0, correct = strcmp(sub, "correct") == 0;
  if (add || correct) {
    if (add && (!optv(opts, "at") || !optv(opts, "minutes") || !optv(opts, "channel") || !optv(opts, "outcome")))
      return usage_error(usage_contact, "contact add needs --at, --minutes, --channel and --outcome");
    uint8_t target[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, add ? 'c' : 'r', pos[0], target)))
      return rc;
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
    p.note = optv(opts, "note") ? optv(opts, "note") : (*old_note ? old_note : NULL);
    int err = add ? mentorlog_contact_add(h, out, target, &p) : mentorlog_contact_correct(h, out, target, &p);
    rc = print_written(h, err, add ? "contact add" : "contact correct", out);
  } else if (strcmp(sub, "void") == 0) {
    if (!optv(opts, "reason"))
      return usage_error(usage_contact, "contact void needs --reason");
    uint8_t target[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'r', pos[0], target)))
      return rc;
    int err = mentorlog_contact_void(h, out, target, optv(opts, "reason"));
    rc = print_written(h, err, "contact void", out);
  } else {
    return usage_error(usage_contact, "contact: unknown subcommand '%s'", sub);
  }
out:
  sodium_free(old_note);
  mentorlog_close(h);
  return rc;
}

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

static int cmd_note(int argc, char **argv) {
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

/* ----------------------------------------------------------- absence */

static const char usage_absence[] =
    "Usage: mentorlog absence add CASE --from YYYY-MM-DD --to YYYY-MM-DD\n"
    "              --kind citizen-holiday|citizen-sick|hospitalised|grant-paused|mentor-unavailable|other\n"
    "              [--approved-ref REF]   (approved by the municipality when a reference is given)\n"
    "       mentorlog absence list CASE [--json]\n";

static void absence_print(const void *v, size_t i, bool js) {
  const mentorlog_absence *a = (const mentorlog_absence *)v + i;
  char f[11], t[11];
  mentorlog_format_date(f, a->from);
  mentorlog_format_date(t, a->to);
  if (js) {
    printf("{\"from\":\"%s\",\"to\":\"%s\",\"kind\":\"%s\",\"approved_ref\":", f, t,
           mentorlog_absence_kind_name(a->kind));
    json_str(stdout, a->approved_ref);
    fputc('}', stdout);
  } else {
    printf("%s..%s  %s  %s\n", f, t, mentorlog_absence_kind_name(a->kind),
           a->approved_ref ? a->approved_ref : "(not approved)");
  }
}
LIST_ADAPTERS(absences, mentorlog_absence, mentorlog_absences(h, case_id, &items, n), mentorlog_absences_free)
static const struct list_kind absence_list = {"absence list", fetch_absences, absence_print, free_absences};

static int cmd_absence(int argc, char **argv) {
  struct opt opts[] = {{"from", 0, 0, 0}, {"to", 0, 0, 0}, {"kind", 0, 0, 0}, {"approved-ref", 0, 0, 0},
                       {"json", 1, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "absence", usage_absence, opts, pos, &npos, &sub, &rc))
    return rc;
  if (npos != 1)
    return usage_error(usage_absence, "absence %s needs CASE", sub);
  if (strcmp(sub, "list") == 0)
    return run_list(&absence_list, pos[0], opt_get(opts, "json")->seen);
  mentorlog *h = NULL;
  if (strcmp(sub, "add") == 0) {
    if (!optv(opts, "from") || !optv(opts, "to") || !optv(opts, "kind"))
      return usage_error(usage_absence, "absence add needs --from, --to and --kind");
    mentorlog_absence_params p = {.version = MENTORLOG_ABSENCE_VERSION, .approved_ref = optv(opts, "approved-ref")};
    if ((rc = parse_date_opt("from", optv(opts, "from"), &p.from)) || (rc = parse_date_opt("to", optv(opts, "to"), &p.to)))
      return rc;
    if (!(p.kind = mentorlog_absence_kind_parse(optv(opts, "kind"))))
      return bad_opt("kind", optv(opts, "kind"), "unknown absence kind");
    uint8_t cid[MENTORLOG_ID_BYTES], out[MENTORLOG_ID_BYTES];
    if ((rc = open_resolve(&h, 'c', pos[0], cid)))
      return rc;
    int err = mentorlog_absence_add(h, out, cid, &p);
    rc = print_written(h, err, "absence add", out);
  } else {
    return usage_error(usage_absence, "absence: unknown subcommand '%s'", sub);
  }
  mentorlog_close(h);
  return rc;
}

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

static int cmd_compliance(int argc, char **argv) {
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

static int cmd_week(int argc, char **argv) {
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

/* ------------------------------------------------------------ export */

static const char usage_export[] =
    "Usage: mentorlog export --format json|csv\n"
    "Everything in the profile, decrypted, to standard output (cases, grants,\n"
    "contacts, notes, absences). CSV: one row per item, first column the type;\n"
    "columns type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,\n"
    "purpose,close_reason (the last two filled for grants only).\n";

static int cmd_export(int argc, char **argv) {
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

static int cmd_verify(int argc, char **argv) {
  static const char usage[] = "Usage: mentorlog verify\nPRAGMA integrity_check and the device's hash chain.\n";
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, false, &h, &rc))
    return rc;
  int err = mentorlog_verify(h);
  uint64_t nr = 0, no = 0;
  if (!err)
    err = mentorlog_counts(h, &nr, &no);
  rc = err ? fail(h, err, "verify") : (printf("ok: %llu records, %llu waiting to sync\n", (unsigned long long)nr,
                                              (unsigned long long)no), 0);
  mentorlog_close(h);
  return rc;
}

/* ------------------------------------------------------------- table */

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} commands[] = {
    {"init", cmd_init},       {"passphrase", cmd_passphrase}, {"case", cmd_case},
    {"grant", cmd_grant},     {"contact", cmd_contact},       {"note", cmd_note},
    {"absence", cmd_absence}, {"compliance", cmd_compliance}, {"week", cmd_week},
    {"export", cmd_export},   {"verify", cmd_verify},
};

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--profile") == 0) {
      if (i + 1 >= argc)
        return usage_error(usage_main, "--profile needs a directory");
      profile_dir = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0) {
      fputs(usage_main, stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      return usage_error(usage_main, "unknown option %s", argv[i]);
    } else {
      break;
    }
  }
  if (i >= argc)
    return usage_error(usage_main, "missing command");
  if (sodium_init() < 0) {
    fprintf(stderr, "%s: cannot initialise libsodium\n", prog);
    return EXIT_INTERNAL;
  }
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (strcmp(argv[i], commands[c].name) == 0)
      return commands[c].fn(argc - i, argv + i);
  return usage_error(usage_main, "unknown command '%s'", argv[i]);
}
