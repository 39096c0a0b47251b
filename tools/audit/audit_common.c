/* audit_common.c — what every mentorlog-audit command shares (audit.h):
 * usage and failure messages. In ml_audit, so that the library's own files
 * (verified.c) and the commands use one implementation. */
#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int audit_usage(const char *u, const char *why) {
  if (why) fprintf(stderr, AUDIT_PROG ": %s\n", why);
  fputs(u, stderr);
  return AUDIT_EXIT_USAGE;
}

int audit_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, AUDIT_PROG ": %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return AUDIT_EXIT_FAIL;
}

int audit_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

