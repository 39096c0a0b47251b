/* audit.h — the subcommands of `mentorlog-audit`, one file each
 * (cmd_<name>.c), dispatched by the table in audit.c (the shape of
 * wireguard-tools' wg.c). Each takes its own argv (argv[0] is the
 * command's name), prints its errors on stderr prefixed by
 * "mentorlog-audit: ", and returns the exit status. */
#ifndef ML_AUDIT_H
#define ML_AUDIT_H

/* Exit status of every command (stable; documented in --help). */
enum {
  AUDIT_EXIT_OK = 0,      /* done; verify: every check holds */
  AUDIT_EXIT_FAIL = 1,    /* findings (verify), or the command failed */
  AUDIT_EXIT_USAGE = 2    /* bad arguments */
};

#define AUDIT_PROG "mentorlog-audit"

int cmd_fetch(int argc, char **argv);  /* cmd_fetch.c */
int cmd_verify(int argc, char **argv); /* cmd_verify.c */
int cmd_report(int argc, char **argv); /* cmd_report.c */
/* cmd_witness.c: a C2SP tlog-witness in pull mode (docs/witness.md). */
int cmd_witness(int argc, char **argv);
/* cmd_witness.c: a new witness key file; prints its vkey. */
int cmd_witness_keygen(int argc, char **argv);

/* cmd_escrow.c: the escrow holder's commands (docs/escrow.md). */
int cmd_escrow_keygen(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_regrant(int argc, char **argv);

/* The usage text u on stderr after "mentorlog-audit: why" (why may be NULL);
 * returns AUDIT_EXIT_USAGE. (audit_common.c, as the two below) */
int audit_usage(const char *u, const char *why);
/* "mentorlog-audit: CMD: <message>" on stderr; returns AUDIT_EXIT_FAIL. */
int audit_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv holds --help or -h: the command prints u on stdout. */
int audit_wants_help(int argc, char **argv);

#endif
