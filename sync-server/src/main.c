/* main.c — mentorlog-server: `serve` (net.h), `admin` (admin.h), `--help`. */
#include "admin.h"
#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static const char HELP[] =
    "usage: mentorlog-server COMMAND [OPTIONS]\n"
    "\n"
    "Mentorlog's sync server: devices of a mentor organisation push and pull\n"
    "signed records; every record goes into a verifiable transparency log.\n"
    "\n"
    "Commands:\n"
    "  serve --data DIR [--listen ADDR:PORT] [--tls-cert F --tls-key F] [--workers N]\n"
    "                 run the server (see `mentorlog-server serve --help`)\n"
    "  admin --data DIR ...\n"
    "                 enrol mentors and devices, revoke devices, issue tokens, add\n"
    "                 witnesses, set the escrow key and import its re-grants, purge\n"
    "                 by retention, export the log, print the certificate\n"
    "                 fingerprint and the log's key (`mentorlog-server admin --help`)\n"
    "  --help         this text\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

/* The process holds the server's signing key, the TLS key and session
 * tokens in memory: it must never leave them in a core file. RLIMIT_CORE 0
 * (soft and hard, so nothing in the process can raise it again) stops a
 * core file; PR_SET_DUMPABLE 0 also stops a core piped to a handler
 * (systemd-coredump, apport ignore RLIMIT_CORE) and ptrace/proc access by
 * other processes of the same user. Both before anything is read. */
static int no_core_dumps(void) {
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_CORE, &rl) != 0) {
    fprintf(stderr, "mentorlog-server: cannot disable core dumps (RLIMIT_CORE): %s\n", strerror(errno));
    return -1;
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    fprintf(stderr, "mentorlog-server: cannot disable core dumps (PR_SET_DUMPABLE): %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (no_core_dumps() != 0)
    return 1;
  if (argc < 2) {
    fputs(HELP, stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
    fputs(HELP, stdout);
    return 0;
  }
  if (strcmp(argv[1], "serve") == 0) return mls_serve_main(argc - 1, argv + 1);
  if (strcmp(argv[1], "admin") == 0) return mls_admin_main(argc - 1, argv + 1);
  fprintf(stderr, "mentorlog-server: unknown command '%s'\n\n", argv[1]);
  fputs(HELP, stderr);
  return 2;
}
