/* mentorlog-audit — the auditor's and the witness's tool: download the server's whole
 * transparency log and prove, offline, that nothing was removed,
 * reordered, back-dated or rewritten, trusting nothing but the log's key.
 * Subcommand table in the style of wireguard-tools: main -> cmd_<name>. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "mlproto/crypto.h"

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} commands[] = {
    {"fetch", cmd_fetch, "download the whole log into an audit log file"},
    {"verify", cmd_verify, "check an audit log file against the log's key, offline"},
    {"report", cmd_report, "every grant's compliance recomputed from a verified audit log file"},
    {"witness", cmd_witness, "cosign the log's checkpoint (a C2SP tlog-witness, pull mode)"},
    {"witness-keygen", cmd_witness_keygen, "create a witness key; prints its verifier key"},
    {"escrow-keygen", cmd_escrow_keygen, "create the organisation's escrow key; prints its public key"},
    {"decrypt", cmd_decrypt, "read a case's sealed parts with the escrow key (audit mandate)"},
    {"regrant", cmd_regrant, "re-grant case keys to a new device of a mentor who lost every device"},
};

static int usage_main(FILE *f) {
  fputs("Usage: mentorlog-audit COMMAND ...\n"
        "\n"
        "The auditor's tool: proves, offline, that the server's transparency log holds\n"
        "every record the mentors' devices signed, unaltered and in order, trusting\n"
        "nothing but the log's key.\n"
        "\n"
        "Commands:\n",
        f);
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    fprintf(f, "  %-16s %s\n", commands[c].name, commands[c].help);
  fputs("\n"
        "The file format is docs/audit-log-format.md; `mentorlog-server admin\n"
        "export-log` writes the same file on the server's machine.\n"
        "Exit status: 0 success (verify: every check holds), 1 findings or failure,\n"
        "2 usage error. 'mentorlog-audit COMMAND --help' describes each command.\n",
        f);
  return f == stdout ? AUDIT_EXIT_OK : AUDIT_EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, AUDIT_PROG ": missing command\n");
    return usage_main(stderr);
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)
    return usage_main(stdout);
  if (mlproto_crypto_init() != 0) {
    fprintf(stderr, AUDIT_PROG ": cannot initialise the crypto library\n");
    return AUDIT_EXIT_FAIL;
  }
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (strcmp(argv[1], commands[c].name) == 0) return commands[c].fn(argc - 1, argv + 1);
  fprintf(stderr, AUDIT_PROG ": unknown command '%s'\n", argv[1]);
  return usage_main(stderr);
}
