/* The passphrase: from $MENTORLOG_PASSPHRASE_FILE (a regular file of the
 * user's, mode 0600 or stricter) or the terminal without echo, and the
 * strength a new one must have (libpwquality, with cracklib's dictionary).
 * The passphrase lives only in sodium_malloc'd memory: the file is read
 * with read(2), the terminal through an unbuffered stream. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <pwquality.h>
#include <sodium.h>

static int read_tty_line(const char *prompt, char *buf, size_t cap) {
  FILE *tty = fopen("/dev/tty", "r+");
  if (!tty)
    return -1;
  setvbuf(tty, NULL, _IONBF, 0); /* no stdio buffer keeps a copy */
  struct termios old, no_echo;
  int fd = fileno(tty);
  if (tcgetattr(fd, &old) != 0) {
    fclose(tty);
    return -1;
  }
  no_echo = old;
  no_echo.c_lflag &= ~(tcflag_t)ECHO;
  fputs(prompt, tty);
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

/* Line `line` (1 or 2) of the passphrase file into buf. The file must be a
 * regular file owned by the user with no permission for group or others. */
static int read_passfile(const char *file, int line, char *buf, size_t cap) {
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    fprintf(stderr, "%s: cannot read the passphrase file named by MENTORLOG_PASSPHRASE_FILE: %s\n", prog,
            strerror(errno));
    return EXIT_USER;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    fprintf(stderr, "%s: cannot read the passphrase file named by MENTORLOG_PASSPHRASE_FILE: %s\n", prog,
            strerror(errno));
    close(fd);
    return EXIT_USER;
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
    bool reg = S_ISREG(st.st_mode);
    close(fd);
    if (!reg)
      fprintf(stderr, "%s: the passphrase file '%s' is not a regular file\n", prog, file);
    else if (st.st_uid != geteuid())
      fprintf(stderr, "%s: the passphrase file '%s' belongs to another user; it must be yours, mode 0600\n", prog,
              file);
    else
      fprintf(stderr,
              "%s: the passphrase file '%s' can be read or written by others (mode %04o); refused.\n"
              "Make it yours alone: chmod 600 '%s' (and choose a new passphrase if others could read it)\n",
              prog, file, (unsigned)(st.st_mode & 07777), file);
    return EXIT_USER;
  }
  /* Two lines at most are needed: read up to two passphrases and their ends. */
  size_t max = 2 * (cap + 2);
  char *all = sodium_malloc(max + 1);
  if (!all) {
    close(fd);
    return EXIT_INTERNAL;
  }
  size_t n = 0;
  ssize_t r;
  while (n < max && ((r = read(fd, all + n, max - n)) > 0 || (r < 0 && errno == EINTR)))
    if (r > 0)
      n += (size_t)r;
  close(fd);
  all[n] = 0;
  const char *p = all;
  for (int l = 1; l < line && p; l++)
    p = (p = memchr(p, '\n', n - (size_t)(p - all))) ? p + 1 : NULL;
  int rc = 0;
  size_t len = p ? strcspn(p, "\r\n") : 0;
  if (!p || !len) {
    if (line == 1)
      fprintf(stderr, "%s: the passphrase file is empty\n", prog);
    else
      fprintf(stderr, "%s: the new passphrase is the second line of the passphrase file\n", prog);
    rc = EXIT_USER;
  } else if (len >= cap) {
    fprintf(stderr, "%s: the passphrase is longer than %d bytes\n", prog, PASS_MAX);
    rc = EXIT_USER;
  } else {
    memcpy(buf, p, len);
    buf[len] = 0;
  }
  sodium_free(all);
  return rc;
}

int get_passphrase(char *buf, size_t cap, int line, bool twice) {
  const char *file = getenv("MENTORLOG_PASSPHRASE_FILE");
  if (file && *file)
    return read_passfile(file, line, buf, cap);
  if (!isatty(STDIN_FILENO) && access("/dev/tty", R_OK) != 0) {
    fprintf(stderr, "%s: no passphrase: run on a terminal or set MENTORLOG_PASSPHRASE_FILE\n", prog);
    return EXIT_USER;
  }
  if (read_tty_line(line == 1 ? "Passphrase: " : "New passphrase: ", buf, cap) != 0) {
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
  if (!*buf) {
    fprintf(stderr, "%s: the passphrase is empty\n", prog);
    return EXIT_USER;
  }
  return 0;
}

/* ------------------------------------------------------------ strength */

/* Characters (UTF-8 code points) of s. */
static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Words of s: runs of non-blank characters, counted when they have at least
 * PASS_WORD_MIN characters. */
static unsigned words(const char *s) {
  unsigned n = 0;
  while (*s) {
    s += strspn(s, " \t");
    size_t len = strcspn(s, " \t");
    if (len) {
      size_t chars = 0;
      for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
      n += chars >= PASS_WORD_MIN;
    }
    s += len;
  }
  return n;
}

/* libpwquality's verdict on s with its dictionary (cracklib) and pattern
 * checks; its own length rule is put at its minimum: ours is above. 0 or
 * the PWQ_ERROR_* code, with the message in msg. */
static int pwq_check(pwquality_settings_t *q, const char *s, char msg[PWQ_MAX_ERROR_MESSAGE_LEN]) {
  void *aux = NULL;
  int score = pwquality_check(q, s, NULL, NULL, &aux);
  if (score >= 0)
    return 0;
  pwquality_strerror(msg, PWQ_MAX_ERROR_MESSAGE_LEN, score, aux);
  return score;
}

int passphrase_check(const char *pass) {
  static const char advice[] =
      "Choose at least 12 characters, or 4 or more words (e.g. four unrelated words a\n"
      "stranger could not guess), and nothing used elsewhere.\n";
  size_t chars = utf8_chars(pass);
  unsigned nwords = words(pass);
  if (chars < PASS_MIN_CHARS && nwords < PASS_MIN_WORDS) {
    fprintf(stderr, "%s: the passphrase is too short (%zu character%s, %u word%s).\n%s", prog, chars,
            chars == 1 ? "" : "s", nwords, nwords == 1 ? "" : "s", advice);
    return EXIT_USER;
  }
  pwquality_settings_t *q = pwquality_default_settings();
  if (!q)
    return EXIT_INTERNAL;
  /* Not pwquality_read_config: the rule is the same on every machine. */
  pwquality_set_int_value(q, PWQ_SETTING_MIN_LENGTH, 6);
  char msg[PWQ_MAX_ERROR_MESSAGE_LEN];
  int err = pwq_check(q, pass, msg);
  if (!err && nwords < PASS_MIN_WORDS) {
    /* A common password with digits or symbols around it ("Password123!")
     * passes cracklib whole: check its letters alone against the
     * dictionary too. A phrase of several words is not one word. */
    char *stem = sodium_malloc(strlen(pass) + 1);
    if (!stem) {
      pwquality_free_settings(q);
      return EXIT_INTERNAL;
    }
    size_t n = 0;
    for (const char *p = pass; *p; p++)
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || ((unsigned char)*p & 0x80))
        stem[n++] = *p;
    stem[n] = 0;
    if (n >= 6 && n < strlen(pass) && pwq_check(q, stem, msg) == PWQ_ERROR_CRACKLIB_CHECK) {
      err = PWQ_ERROR_CRACKLIB_CHECK;
      snprintf(msg, sizeof msg, "it is a common word with digits or symbols added");
    }
    sodium_free(stem);
  }
  pwquality_free_settings(q);
  if (!err)
    return 0;
  fprintf(stderr, "%s: the passphrase is too easy to guess (libpwquality: %s).\n%s", prog, msg, advice);
  return EXIT_USER;
}
