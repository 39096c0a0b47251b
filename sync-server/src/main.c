/* main.c — mentorlog-server: `serve` (net.h), `admin` (admin.h), `--help`. */
#include "admin.h"
#include "net.h"

#include <stdio.h>
#include <string.h>

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
    "                 enrol mentors and devices, revoke devices, issue tokens,\n"
    "                 print the certificate fingerprint (`mentorlog-server admin --help`)\n"
    "  --help         this text\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

int main(int argc, char **argv) {
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
