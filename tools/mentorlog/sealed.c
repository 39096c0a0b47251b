/* Sealed fields (citizen name and phone, note text, purpose, reasons) are
 * never taken from argv: from a file, standard input, or the terminal
 * (cli.h, "sealed fields"). Their plaintext lives only in sodium_malloc'd
 * memory, read with read(2) so that no stdio buffer keeps a copy. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* Every sealed field of every command: its option stem and what it is. */
static const struct {
  const char *key, *label;
} sealed_keys[] = {
    {"name", "the citizen's name"}, {"phone", "the citizen's phone"}, {"note", "the contact's note"},
    {"text", "the note's text"},    {"purpose", "the grant's purpose"}, {"reason", "the reason"},
};

const char *sealed_label(const char *key, size_t keylen) {
  for (size_t i = 0; i < sizeof sealed_keys / sizeof sealed_keys[0]; i++)
    if (strlen(sealed_keys[i].key) == keylen && memcmp(sealed_keys[i].key, key, keylen) == 0)
      return sealed_keys[i].label;
  return NULL;
}

int sealed_refuse(const char *opt, const char *usage) {
  size_t n = strcspn(opt, "=");
  const char *label = sealed_label(opt, n);
  fprintf(stderr,
          "%s: --%.*s: %s is sealed and is never taken from the command line: there every user of the\n"
          "machine can read it in the process list, and the shell saves it in its history.\n"
          "Give it in a file (--%.*s-file PATH), on standard input (--%.*s-file -, or several fields\n"
          "as 'KEY: value' lines with --fields PATH|-), or type it when asked on a terminal.\n",
          prog, (int)n, opt, label ? label : "the field", (int)n, opt, (int)n, opt);
  if (usage)
    fputs(usage, stderr);
  return EXIT_USAGE;
}

/* Up to max bytes from fd into a new guarded buffer (*out, NUL-terminated,
 * *len bytes). one_line: stop after the first newline (a terminal). Returns
 * 0, 1 when there is more than max, or -1 on a read error (errno). */
static int read_fd(int fd, size_t max, bool one_line, char **out, size_t *len) {
  *out = NULL;
  char *b = sodium_malloc(max + 2);
  if (!b)
    return -1;
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, b + n, max + 1 - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      sodium_free(b);
      errno = e;
      return -1;
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n > max) {
      sodium_free(b);
      return 1;
    }
    if (one_line && b[n - 1] == '\n')
      break;
  }
  b[n] = 0;
  *out = b;
  *len = n;
  return 0;
}

/* Drop trailing newlines (and CRs) of v. */
static void chomp_len(char *v, size_t *len) {
  while (*len && (v[*len - 1] == '\n' || v[*len - 1] == '\r'))
    v[--*len] = 0;
}

/* A new guarded copy of s[0..n) with a NUL. */
static char *guarded_copy(const char *s, size_t n) {
  char *v = sodium_malloc(n + 1);
  if (v) {
    memcpy(v, s, n);
    v[n] = 0;
  }
  return v;
}

/* The whole of source ("-" standard input, else a path) into *out. max is
 * the cap in bytes; what names the source in errors. Returns 0 or an exit
 * status (printed). */
static int read_source(const char *source, size_t max, const char *what, char **out, size_t *len) {
  bool in = strcmp(source, "-") == 0;
  int fd = in ? STDIN_FILENO : open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    fprintf(stderr, "%s: %s: cannot open '%s': %s\n", prog, what, source, strerror(errno));
    return EXIT_USER;
  }
  int r = read_fd(fd, max, false, out, len);
  int e = errno;
  if (!in)
    close(fd);
  if (r == 1) {
    fprintf(stderr, "%s: %s: more than %zu bytes\n", prog, what, max);
    return EXIT_USER;
  }
  if (r < 0) {
    if (e == ENOMEM)
      return EXIT_INTERNAL;
    fprintf(stderr, "%s: %s: cannot read '%s': %s\n", prog, what, in ? "standard input" : source, strerror(e));
    return EXIT_USER;
  }
  if (memchr(*out, 0, *len)) {
    fprintf(stderr, "%s: %s: contains a NUL byte\n", prog, what);
    sodium_free(*out);
    *out = NULL;
    return EXIT_USER;
  }
  return 0;
}

static struct sealed *find_field(struct sealed *f, size_t n, const char *key, size_t keylen) {
  for (size_t i = 0; i < n; i++)
    if (strlen(f[i].key) == keylen && memcmp(f[i].key, key, keylen) == 0)
      return &f[i];
  return NULL;
}

/* Set field f to the guarded copy of v[0..n); a field given twice is a usage
 * error. */
static int set_field(struct sealed *f, const char *v, size_t n, const char *cmd, const char *usage) {
  if (f->value)
    return usage_error(usage, "%s: %s is given twice", cmd, f->label);
  if (!(f->value = guarded_copy(v, n)))
    return EXIT_INTERNAL;
  f->len = n;
  return 0;
}

/* --fields: "KEY: value" lines, then optionally an empty line and the body. */
static int parse_fields(struct sealed *f, size_t nf, const char *buf, size_t len, const char *cmd,
                        const char *usage) {
  size_t i = 0;
  int rc;
  while (i < len) {
    const char *line = buf + i;
    const char *nl = memchr(line, '\n', len - i);
    size_t ll = nl ? (size_t)(nl - line) : len - i;
    i += ll + (nl ? 1 : 0);
    if (ll && line[ll - 1] == '\r')
      ll--;
    if (ll == 0) { /* the body: the rest, trailing newlines dropped */
      struct sealed *b = NULL;
      for (size_t k = 0; k < nf; k++)
        if (f[k].body)
          b = &f[k];
      size_t bl = len - i;
      while (bl && (buf[i + bl - 1] == '\n' || buf[i + bl - 1] == '\r'))
        bl--;
      if (!bl)
        return 0;
      if (!b)
        return usage_error(usage, "--fields: %s takes no body after the empty line", cmd);
      return set_field(b, buf + i, bl, cmd, usage);
    }
    const char *colon = memchr(line, ':', ll);
    struct sealed *t = colon ? find_field(f, nf, line, (size_t)(colon - line)) : NULL;
    if (!t) {
      char keys[128] = "";
      for (size_t k = 0; k < nf; k++)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", k ? ", " : "", f[k].key);
      /* The line's value is not printed: it may be one of the secrets. */
      return usage_error(usage, "--fields: line %s: expected 'KEY: value' with KEY one of: %s",
                         colon ? "with an unknown KEY" : "without 'KEY:'", keys);
    }
    const char *v = colon + 1;
    while (v < line + ll && (*v == ' ' || *v == '\t'))
      v++;
    if ((rc = set_field(t, v, (size_t)(line + ll - v), cmd, usage)))
      return rc;
  }
  return 0;
}

/* Ask for f on the terminal: the prompt on /dev/tty, the answer from
 * standard input (a terminal): one line, or up to end of input (Ctrl-D)
 * for a multi-line field. */
static int prompt_field(struct sealed *f) {
  FILE *tty = fopen("/dev/tty", "w");
  if (tty) {
    fprintf(tty, "Enter %s%s: ", f->label, f->multiline ? " (end with Ctrl-D on a new line)" : "");
    fflush(tty);
  }
  int r = read_fd(STDIN_FILENO, f->max, !f->multiline, &f->value, &f->len);
  if (tty) {
    if (f->multiline)
      fputc('\n', tty);
    fclose(tty);
  }
  if (r == 1) {
    fprintf(stderr, "%s: %s: more than %zu bytes\n", prog, f->label, f->max);
    return EXIT_USER;
  }
  return r < 0 ? EXIT_INTERNAL : 0;
}

int sealed_read(struct sealed *f, size_t nf, struct opt *opts, const char *cmd, const char *usage) {
  int rc;
  bool stdin_used = false;
  for (size_t i = 0; i < nf; i++) {
    f[i].value = NULL;
    f[i].len = 0;
  }
  /* A --KEY-file of a field this command does not take. */
  for (struct opt *o = opts; o->name; o++) {
    size_t n = strlen(o->name);
    if (o->seen && n > 5 && strcmp(o->name + n - 5, "-file") == 0 && sealed_label(o->name, n - 5) &&
        !find_field(f, nf, o->name, n - 5))
      return usage_error(usage, "%s does not take --%s", cmd, o->name);
  }
  const char *fields = optv(opts, "fields");
  if (fields) {
    size_t cap = 4096;
    for (size_t i = 0; i < nf; i++)
      cap += f[i].max + 64;
    char *buf;
    size_t len;
    if ((rc = read_source(fields, cap, "--fields", &buf, &len)))
      return rc;
    rc = parse_fields(f, nf, buf, len, cmd, usage);
    sodium_free(buf);
    if (rc)
      goto fail;
    stdin_used = strcmp(fields, "-") == 0;
  }
  for (size_t i = 0; i < nf; i++) {
    char name[32];
    snprintf(name, sizeof name, "%s-file", f[i].key);
    const char *src = optv(opts, name);
    if (!src)
      continue;
    if (f[i].value) {
      rc = usage_error(usage, "%s: %s is given both by --fields and by --%s", cmd, f[i].label, name);
      goto fail;
    }
    if (strcmp(src, "-") == 0) {
      if (stdin_used) {
        rc = usage_error(usage, "%s: only one of the options may read standard input ('-')", cmd);
        goto fail;
      }
      stdin_used = true;
    }
    char what[48];
    snprintf(what, sizeof what, "--%s", name);
    if ((rc = read_source(src, f[i].max, what, &f[i].value, &f[i].len)))
      goto fail;
    chomp_len(f[i].value, &f[i].len);
  }
  for (size_t i = 0; i < nf; i++) {
    if (!f[i].value && f[i].required) {
      if (stdin_used) {
        rc = usage_error(usage, "%s needs %s (standard input is already used)", cmd, f[i].label);
        goto fail;
      }
      /* A terminal is asked; otherwise standard input is the field. */
      if (isatty(STDIN_FILENO)) {
        if ((rc = prompt_field(&f[i])))
          goto fail;
      } else if ((rc = read_source("-", f[i].max, f[i].label, &f[i].value, &f[i].len))) {
        goto fail;
      }
      stdin_used = true;
      chomp_len(f[i].value, &f[i].len);
    }
    if (f[i].required && !f[i].len) {
      fprintf(stderr, "%s: %s: %s is empty\n", prog, cmd, f[i].label);
      rc = EXIT_USER;
      goto fail;
    }
    if (f[i].value && !f[i].multiline && memchr(f[i].value, '\n', f[i].len)) {
      fprintf(stderr, "%s: %s: %s must be one line\n", prog, cmd, f[i].label);
      rc = EXIT_USER;
      goto fail;
    }
  }
  return 0;
fail:
  sealed_free(f, nf);
  return rc;
}

void sealed_free(struct sealed *f, size_t nf) {
  for (size_t i = 0; i < nf; i++) {
    sodium_free(f[i].value);
    f[i].value = NULL;
    f[i].len = 0;
  }
}

int sealed_none(struct opt *opts, const char *cmd, const char *usage) {
  for (struct opt *o = opts; o->name; o++) {
    size_t n = strlen(o->name);
    bool file = n > 5 && strcmp(o->name + n - 5, "-file") == 0 && sealed_label(o->name, n - 5);
    if (o->seen && (file || strcmp(o->name, "fields") == 0))
      return usage_error(usage, "%s does not take --%s", cmd, o->name);
  }
  return 0;
}
