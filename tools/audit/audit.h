/*
 * audit.h — the subcommands of mentorlog-audit, each `int cmd_X(int argc,
 * char **argv)` with argv[0] the subcommand's name; the return value is the
 * process's exit status (0 ok, 1 failure or refusal, 2 usage).
 */
#ifndef ML_AUDIT_H
#define ML_AUDIT_H

/* cmd_witness.c: a C2SP tlog-witness in pull mode (docs/witness.md). */
int cmd_witness(int argc, char **argv);
/* cmd_witness.c: a new witness key file; prints its vkey. */
int cmd_witness_keygen(int argc, char **argv);

#endif
