/* audit.c — mentorlog-audit: the auditor's and witness's tool. A table of
 * subcommands (audit.h); this minimal dispatcher carries the witness
 * commands. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} command;

static const command COMMANDS[] = {
  {"witness", cmd_witness, "cosign the log's checkpoint (a C2SP tlog-witness, pull mode)"},
  {"witness-keygen", cmd_witness_keygen, "create a witness key; prints its verifier key"},
};

static int usage(FILE *f) {
  fputs("usage: mentorlog-audit COMMAND [ARGS...]   (COMMAND --help for more)\n\n", f);
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
    fprintf(f, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].help);
  fputs("\nExit status: 0 ok, 1 failure or refusal, 2 usage.\n", f);
  return f == stdout ? 0 : 2;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage(stderr);
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) return usage(stdout);
  for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
    if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "mentorlog-audit: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
