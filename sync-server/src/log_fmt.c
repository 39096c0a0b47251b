/* log_fmt.c — the server's single logfmt writer (log_fmt.h). */
#include "log_fmt.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int bare_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         strchr("_.:/@+-", c) != NULL;
}

const char *mls_log_value(char *out, size_t cap, const char *v) {
  if (cap == 0) return out;
  out[0] = '\0';
  if (!v) v = "";
  int bare = *v != '\0';
  for (const char *p = v; *p && bare; p++) bare = bare_char((unsigned char)*p);
  if (bare) {
    snprintf(out, cap, "%s", v);
    return out;
  }
  size_t n = 0;
  if (cap < 3) return out;
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[5];
    size_t k;
    if (*p == '"' || *p == '\\') k = (size_t)snprintf(esc, sizeof esc, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f) k = (size_t)snprintf(esc, sizeof esc, "\\x%02x", *p);
    else esc[0] = (char)*p, k = 1;
    if (n + k + 2 > cap) break; /* room for the closing quote and the NUL */
    memcpy(out + n, esc, k);
    n += k;
  }
  out[n++] = '"';
  out[n] = '\0';
  return out;
}

size_t mls_log_format(char *out, size_t cap, const struct timespec *ts, const char *level,
                      const char *msg, const char *fields) {
  struct tm tm;
  time_t sec = ts->tv_sec;
  gmtime_r(&sec, &tm);
  char m[96];
  mls_log_value(m, sizeof m, msg && *msg ? msg : "-");
  int n = snprintf(out, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts->tv_nsec / 1000000, level ? level : "info", m);
  if (n < 0) n = 0;
  size_t len = (size_t)n < cap - 1 ? (size_t)n : cap - 2;
  if (fields) {
    size_t fl = strlen(fields);
    while (fl && (fields[fl - 1] == ' ' || fields[fl - 1] == '\n')) fl--;
    while (fl && *fields == ' ') fields++, fl--;
    if (fl && len + 1 < cap - 1) {
      out[len++] = ' ';
      if (fl > cap - 2 - len) fl = cap - 2 - len;
      memcpy(out + len, fields, fl);
      len += fl;
    }
  }
  out[len++] = '\n';
  out[len] = '\0';
  return len;
}

void mls_vlogf(const char *level, const char *msg, const char *fmt, va_list ap) {
  char fields[MLS_LOG_LINE_MAX];
  fields[0] = '\0';
  if (fmt && *fmt) vsnprintf(fields, sizeof fields, fmt, ap);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char line[MLS_LOG_LINE_MAX + 2];
  size_t n = mls_log_format(line, sizeof line, &ts, level, msg, fields);
  /* One write per line: concurrent threads never interleave inside a line. */
  ssize_t w = write(STDERR_FILENO, line, n);
  (void)w;
}

void mls_logf(const char *level, const char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mls_vlogf(level, msg, fmt, ap);
  va_end(ap);
}
