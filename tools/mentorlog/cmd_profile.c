/* mentorlog init, passphrase, verify: the profile itself. */
#include "cli.h"
#include "subcommands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

int cmd_init(int argc, char **argv) {
  static const char usage[] =
      "Usage: mentorlog init\n\nCreate a new profile with a passphrase (asked twice on a terminal, or the\n"
      "first line of $MENTORLOG_PASSPHRASE_FILE).\n" PASS_RULES_HELP;
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, true, &h, &rc))
    return rc;
  uint8_t dev[32];
  mentorlog_device_id(h, dev);
  char s[65];
  sodium_bin2hex(s, sizeof s, dev, 32);
  printf("profile created in %s\ndevice %s\n", profile(), s);
  mentorlog_close(h);
  return 0;
}

int cmd_passphrase(int argc, char **argv) {
  static const char usage[] =
      "Usage: mentorlog passphrase\n\nChange the passphrase: reads the old one, then the new one\n"
      "(from the terminal, or the first and second line of $MENTORLOG_PASSPHRASE_FILE).\n" PASS_RULES_HELP;
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, false, &h, &rc))
    return rc;
  char *pass = sodium_malloc(PASS_MAX + 2);
  if (!pass) {
    mentorlog_close(h);
    return EXIT_INTERNAL;
  }
  if (!(rc = get_passphrase(pass, PASS_MAX + 2, 2, true)))
    rc = passphrase_check(pass);
  if (!rc) {
    mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
    o.passphrase = pass;
    o.passphrase_len = strlen(pass);
    o.kdf = kdf_from_env();
    int err = mentorlog_rekey(h, &o);
    rc = err ? fail(h, err, "change passphrase") : 0;
  }
  sodium_free(pass);
  mentorlog_close(h);
  return rc;
}
int cmd_verify(int argc, char **argv) {
  static const char usage[] = "Usage: mentorlog verify\nPRAGMA integrity_check and the device's hash chain.\n";
  mentorlog *h;
  int rc;
  if (parse_plain_open(argc, argv, usage, false, &h, &rc))
    return rc;
  int err = mentorlog_verify(h);
  uint64_t nr = 0, no = 0;
  if (!err)
    err = mentorlog_counts(h, &nr, &no);
  rc = err ? fail(h, err, "verify") : (printf("ok: %llu records, %llu waiting to sync\n", (unsigned long long)nr,
                                              (unsigned long long)no), 0);
  mentorlog_close(h);
  return rc;
}
