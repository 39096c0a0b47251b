/*
 * log_fmt.h — the one logger of mentorlog-server: every part (network half,
 * application half, store, admin) writes its diagnostic lines through it, so
 * that every line on stderr has the same shape:
 *
 *   ts=2026-01-01T12:00:00.123Z level=info msg=push conn=7 device=ab12.. n=3
 *
 * ts is ISO-8601 UTC with milliseconds; level is one of debug, info, warn,
 * error; msg is a short snake_case event name. The rest are key=value pairs
 * supplied by the caller through a printf format. Values are written bare
 * when they contain only [A-Za-z0-9_.:/@+-] (ids, counts, error names,
 * addresses) and otherwise double-quoted with '"' and '\' escaped and control
 * bytes as \xNN (mls_log_value() does that for a caller's string).
 *
 * Content rule: ids, codes, counts and addresses only — never a mentor's
 * name, a device label, a token, an enrolment code or a record's payload.
 *
 * A line is at most MLS_LOG_LINE_MAX bytes (longer ones are cut) and written
 * with a single write, so lines from concurrent threads never interleave.
 * Thread-safe; never fails as a function (a line that cannot be written is
 * dropped).
 */
#ifndef MLS_LOG_FMT_H
#define MLS_LOG_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#define MLS_LOG_LINE_MAX 512

/* Writes "ts=.. level=.. msg=.. <fmt ...>\n" to stderr. fmt may be NULL or
 * "" for a line without fields; trailing blanks of the fields are dropped. */
void mls_logf(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mls_vlogf(const char *level, const char *msg, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Formats the line (with its '\n') for the time ts into out (cap >= 64);
 * returns its length. What mls_vlogf() writes; exposed for tests. */
size_t mls_log_format(char *out, size_t cap, const struct timespec *ts, const char *level,
                      const char *msg, const char *fields);

/* Writes v into out (cap bytes incl. NUL) as a logfmt value: bare when
 * possible, else quoted and escaped; cut to fit. Returns out. */
const char *mls_log_value(char *out, size_t cap, const char *v);

#endif
