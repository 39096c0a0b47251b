/* mentorlog — the mentor's command: the same library a phone app embeds,
 * for a laptop and for scripts. Subcommand table in the style of
 * wireguard-tools: main -> cmd_<name>(argc, argv), one file per command
 * group (cmd_<group>.c) over a shared core (cli.h). */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static const char usage_main[] =
    "Usage: mentorlog [--profile DIR] COMMAND ...\n"
    "\n"
    "The mentor's encrypted offline log.\n"
    "\n"
    "Commands:\n"
    "  init                      create a profile (asks the passphrase twice)\n"
    "  passphrase                change the passphrase (re-wraps the keys only)\n"
    "  case open|list|erase      citizens' cases\n"
    "  grant open|update|close|list   grants (bevillinger) and their contact rule\n"
    "  contact add|correct|void|list\n"
    "  note add|revise|list\n"
    "  absence add|list\n"
    "  compliance GRANT          the grant's periods and their status\n"
    "  week                      this week's citizens still lacking a qualifying contact\n"
    "  export --format json|csv --output FILE|-\n"
    "                            everything, decrypted, into a new 0600 file (or stdout: -)\n"
    "  verify                    integrity check and hash-chain verification\n"
    "\n"
    "Sync (with the mentor's other devices, through the server):\n"
    "  enroll URL CODE (--pin SHA256 | --ca FILE) [--label TEXT]\n"
    "                            register this device with a one-time code\n"
    "  sync [--json]             push, then pull, until up to date\n"
    "  status [--json]           device, mentor, server, last sync, unsent records,\n"
    "                            last checkpoint, pending approvals\n"
    "  devices [--json]          the mentor's devices, their fingerprints and states\n"
    "  device approve ID --fingerprint F   let another device of yours read the cases\n"
    "  conflicts [--json]        items with concurrent versions (each version shown)\n"
    "Every command works offline; only enroll and sync use the network.\n"
    "\n"
    "Profile: --profile DIR, else $MENTORLOG_PROFILE, else ~/.mentorlog.\n"
    "Passphrase: asked on the terminal (twice at init); otherwise the first line\n"
    "of the file named by $MENTORLOG_PASSPHRASE_FILE, which must be yours alone\n"
    "(chmod 600). A new passphrase: >= 12 characters or >= 4 words, not a common one.\n"
    "$MENTORLOG_KDF: interactive (default) or moderate; 'fast' is for tests only\n"
    "(Argon2id at libsodium's minimum cost: never for a real profile).\n"
    "\n"
    "Sealed fields (the citizen's name and phone, notes, purposes, reasons) are\n"
    "never taken from the command line: --KEY-file PATH|-, --fields PATH|- or a\n"
    "prompt on the terminal (see 'mentorlog case --help').\n"
    "Ids (CASE, GRANT, RECORD, device ID): the full 32 hex digits or a unique prefix of >= 6.\n"
    "mentorlog never dumps core: it is not dumpable (prctl) and its core limit is 0.\n"
    "Exit status: 0 success, 1 user error (bad input, unknown id, wrong passphrase,\n"
    "disk full ...), 2 usage error, 3 internal failure (damaged profile, I/O, memory).\n"
    "'mentorlog COMMAND --help' describes each command.\n";

/* ------------------------------------------------------------- table */

static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
} commands[] = {
    {"init", cmd_init},       {"passphrase", cmd_passphrase}, {"case", cmd_case},
    {"grant", cmd_grant},     {"contact", cmd_contact},       {"note", cmd_note},
    {"absence", cmd_absence}, {"compliance", cmd_compliance}, {"week", cmd_week},
    {"export", cmd_export},   {"verify", cmd_verify},         {"enroll", cmd_enroll},
    {"sync", cmd_sync},       {"status", cmd_status},         {"devices", cmd_devices},
    {"device", cmd_device},   {"conflicts", cmd_conflicts},
};

int main(int argc, char **argv) {
  /* Before anything is read or decrypted. */
  if (cli_no_core_dumps() != 0)
    return EXIT_INTERNAL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--profile") == 0) {
      if (i + 1 >= argc)
        return usage_error(usage_main, "--profile needs a directory");
      profile_dir = argv[++i];
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0) {
      fputs(usage_main, stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      return usage_error(usage_main, "unknown option %s", argv[i]);
    } else {
      break;
    }
  }
  if (i >= argc)
    return usage_error(usage_main, "missing command");
  if (sodium_init() < 0) {
    fprintf(stderr, "%s: cannot initialise libsodium\n", prog);
    return EXIT_INTERNAL;
  }
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (strcmp(argv[i], commands[c].name) == 0)
      return commands[c].fn(argc - i, argv + i);
  return usage_error(usage_main, "unknown command '%s'", argv[i]);
}
