/* The shared core of the mentor's command: errors and exit codes, option
 * parsing, the passphrase and the profile, output helpers (cli.h). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

const char *prog = "mentorlog";
const char *profile_dir;

/* ------------------------------------------------------------ errors */

int usage_error(const char *usage, const char *fmt, ...) {
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

int exit_for(int code) {
  switch (code) {
  case 0:
    return 0;
  case MENTORLOG_ERR_INTERNAL:
  case MENTORLOG_ERR_IO:
  case MENTORLOG_ERR_OUT_OF_MEMORY:
  case MENTORLOG_ERR_PROFILE_CORRUPT:
  case MENTORLOG_ERR_CHAIN_BROKEN:
    return EXIT_INTERNAL;
  default:
    return EXIT_USER;
  }
}

/* One clear line on stderr naming what was wrong. */
int fail(mentorlog *h, int code, const char *what) {
  const char *detail = h ? mentorlog_errmsg(h) : "";
  if (detail && *detail)
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, detail, mentorlog_errname(code));
  else
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, mentorlog_strerror(code), mentorlog_errname(code));
  return exit_for(code);
}

/* ----------------------------------------------------------- options */

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
      if (sealed_label(a + 2, strcspn(a + 2, "=")))
        return sealed_refuse(a + 2, NULL);
      struct opt *o = NULL;
      for (struct opt *p = opts; p && p->name; p++)
        if (strcmp(p->name, a + 2) == 0)
          o = p;
      if (!o) /* not "--opt=value": the value may be a secret */
        return usage_error(usage, "unknown option %.*s", (int)strcspn(a, "="), a);
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
    if (*npos >= maxpos) /* not echoed: a stray argument may be a note typed in the wrong place */
      return usage_error(usage, "unexpected argument number %d (at most %d here); sealed text is never an"
                                " argument", *npos + 1, maxpos);
    pos[(*npos)++] = a;
  }
  return 0;
}

/* As parse_opts_rc; true when the command is over (after --help or a usage
 * error), with its exit status in *rc. */
bool parse_opts(int argc, char **argv, struct opt *opts, const char **pos, int maxpos, int *npos,
                       const char *usage, int *rc) {
  int r = parse_opts_rc(argc, argv, opts, pos, maxpos, npos, usage);
  *rc = r < 0 ? 0 : r;
  return r != 0;
}

/* A command with subcommands: argv[1] is the subcommand (*sub), the rest its
 * options and at most one positional argument. True when the command is
 * over, with its exit status in *rc. */
bool parse_sub(int argc, char **argv, const char *group, const char *usage, struct opt *opts,
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

struct opt *opt_get(struct opt *opts, const char *name) {
  for (struct opt *p = opts; p->name; p++)
    if (strcmp(p->name, name) == 0)
      return p;
  return NULL;
}
const char *optv(struct opt *opts, const char *name) {
  struct opt *o = opt_get(opts, name);
  return o && o->seen ? o->value : NULL;
}

int parse_uint(const char *s, uint32_t max, uint32_t *out) {
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

/* ----------------------------------------------------------- profile */

mentorlog_kdf kdf_from_env(void) {
  const char *k = getenv("MENTORLOG_KDF");
  if (k && strcmp(k, "fast") == 0)
    return MENTORLOG_KDF_FAST_INSECURE;
  if (k && strcmp(k, "moderate") == 0)
    return MENTORLOG_KDF_MODERATE;
  return MENTORLOG_KDF_INTERACTIVE;
}

static char default_dir[4096];
const char *profile(void) {
  if (profile_dir)
    return profile_dir;
  const char *e = getenv("MENTORLOG_PROFILE");
  if (e && *e)
    return e;
  const char *home = getenv("HOME");
  snprintf(default_dir, sizeof default_dir, "%s/.mentorlog", home && *home ? home : ".");
  return default_dir;
}

/* A profile whose passphrase KDF is below Argon2id INTERACTIVE (made by a
 * test build, or an older version): say so on every open, with the way out.
 * The command itself goes on. */
static void warn_weak_kdf(mentorlog *h) {
  mentorlog_profile_info info = MENTORLOG_PROFILE_INFO_INIT;
  if (mentorlog_profile_info_get(h, &info) == 0 && info.kdf_weak)
    fprintf(stderr,
            "%s: warning: this profile's passphrase is stretched with weak Argon2id parameters"
            " (%llu passes, %llu MiB; the minimum is Argon2id INTERACTIVE); rekey it with"
            " 'mentorlog passphrase' (a new passphrase, or the same one if it meets the rules)\n",
            prog, (unsigned long long)info.kdf_opslimit, (unsigned long long)(info.kdf_memlimit >> 20));
}

/* Open the profile (or create it) with the passphrase; prints the error. */
int open_profile(mentorlog **h, bool create) {
  *h = NULL;
  char *pass = sodium_malloc(PASS_MAX + 2);
  if (!pass)
    return EXIT_INTERNAL;
  int rc = get_passphrase(pass, PASS_MAX + 2, 1, create);
  if (rc == 0 && create)
    rc = passphrase_check(pass);
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
    } else if (!create) {
      warn_weak_kdf(*h);
    }
  }
  sodium_free(pass);
  return rc;
}

/* ------------------------------------------------------------ output */

void hex(char out[MENTORLOG_ID_HEX + 1], const uint8_t id[MENTORLOG_ID_BYTES]) {
  sodium_bin2hex(out, MENTORLOG_ID_HEX + 1, id, MENTORLOG_ID_BYTES);
}
void print_id(const uint8_t id[MENTORLOG_ID_BYTES]) {
  char s[MENTORLOG_ID_HEX + 1];
  hex(s, id);
  puts(s);
}

void print_safe(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
    fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

void json_begin(mlproto_json *j, mlproto_buf *b) {
  mlproto_buf_init(b, OUT_CAP);
  mlproto_json_init(j, b);
}

int json_emit(mlproto_json *j, FILE *f, const char *what) {
  int err = mlproto_json_finish(j);
  int rc = err ? fail(NULL, err, what) : out_flush(j->out, f, what);
  mlproto_buf_free(j->out);
  return rc;
}

int out_flush(mlproto_buf *b, FILE *f, const char *what) {
  size_t n = b->len;
  int ok = n == 0 || fwrite(b->data, 1, n, f) == n;
  mlproto_buf_reset(b);
  if (!ok) {
    fprintf(stderr, "%s: %s: cannot write the output: %s\n", prog, what, strerror(errno));
    return EXIT_INTERNAL;
  }
  return 0;
}

void fmt_local(char out[32], int64_t ms) {
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

int resolve(mentorlog *h, uint8_t out[MENTORLOG_ID_BYTES], char what, const char *arg) {
  int err = mentorlog_resolve(h, out, what, arg);
  if (err)
    return fail(h, err, what == 'c' ? "case" : what == 'g' ? "grant" : "record");
  return 0;
}

/* Open the profile and resolve arg, an id of the kind what, into id; prints
 * what was wrong. On failure *h is NULL. */
int open_resolve(mentorlog **h, char what, const char *arg, uint8_t id[MENTORLOG_ID_BYTES]) {
  int rc = open_profile(h, false);
  if (!rc && (rc = resolve(*h, id, what, arg))) {
    mentorlog_close(*h);
    *h = NULL;
  }
  return rc;
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A value the library refused to parse: name it, and why. */
int bad_value(const char *name, const char *s, int err) {
  fprintf(stderr, "%s: --%s '%s': %s (%s)\n", prog, name, s, mentorlog_strerror(err), mentorlog_errname(err));
  return EXIT_USER;
}

/* A value refused here: name it, and what was expected. */
int bad_opt(const char *name, const char *v, const char *why) {
  fprintf(stderr, "%s: --%s '%s': %s\n", prog, name, v, why);
  return EXIT_USER;
}

/* The end of a command that wrote one record: its id, or the failure. */
int print_written(mentorlog *h, int err, const char *what, const uint8_t id[MENTORLOG_ID_BYTES]) {
  if (err)
    return fail(h, err, what);
  print_id(id);
  return 0;
}

int parse_now(struct opt *opts, int64_t *out) {
  const char *s = optv(opts, "now");
  if (!s) {
    *out = now_ms();
    return 0;
  }
  int err = mentorlog_parse_local_time(out, s);
  return err ? bad_value("now", s, err) : 0;
}

int parse_date_opt(const char *name, const char *s, mentorlog_date *out) {
  int err = mentorlog_parse_date(out, s);
  return err ? bad_value(name, s, err) : 0;
}

/* ------------------------------------------------------- bulk output */

int output_open(const char *path, FILE **out) {
  *out = NULL;
  if (strcmp(path, "-") == 0) {
    *out = stdout;
    return 0;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "%s: --output '%s': %s%s\n", prog, path, strerror(errno),
            errno == EEXIST ? " (a decrypted export never replaces a file: give a new name)" : "");
    return EXIT_USER;
  }
  /* Exactly 0600, whatever the umask. */
  if (fchmod(fd, 0600) != 0 || !(*out = fdopen(fd, "w"))) {
    fprintf(stderr, "%s: --output '%s': %s\n", prog, path, strerror(errno));
    close(fd);
    unlink(path);
    return EXIT_USER;
  }
  return 0;
}

int output_close(FILE *out, const char *path, int rc) {
  if (out == stdout) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
      fprintf(stderr, "%s: cannot write standard output: %s\n", prog, strerror(errno));
      return rc ? rc : EXIT_INTERNAL;
    }
    return rc;
  }
  bool bad = fflush(out) != 0 || ferror(out) || fsync(fileno(out)) != 0;
  int e = errno;
  bad |= fclose(out) != 0;
  if (bad && !rc) {
    fprintf(stderr, "%s: cannot write '%s': %s\n", prog, path, strerror(e));
    rc = EXIT_INTERNAL;
  }
  if (rc) {
    unlink(path);
    fprintf(stderr, "%s: removed the incomplete '%s'\n", prog, path);
  }
  return rc;
}

/* ------------------------------------------------------------- lists */

/* case_arg: the CASE argument, resolved; NULL lists every case's items. */
int run_list(const struct list_kind *k, const char *case_arg, bool json) {
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
  } else if (json) {
    mlproto_json j;
    mlproto_buf b;
    json_begin(&j, &b);
    mlproto_json_arr(&j);
    for (size_t i = 0; i < n; i++)
      k->json(&j, items, i);
    mlproto_json_end(&j);
    rc = json_emit(&j, stdout, k->what);
  } else {
    for (size_t i = 0; i < n; i++)
      k->print(items, i);
  }
  if (!err)
    k->free(items, n);
  mentorlog_close(h);
  return rc;
}

/* ---------------------------------------------------- plain commands */

/* A command without options or arguments, on the profile (created when
 * create). True when the command is over, with its exit status in *rc. */
bool parse_plain_open(int argc, char **argv, const char *usage, bool create, mentorlog **h, int *rc) {
  struct opt opts[] = {{0}};
  const char *pos[1];
  int npos;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage, rc))
    return true;
  return (*rc = open_profile(h, create)) != 0;
}
