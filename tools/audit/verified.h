/*
 * verified.h — what every command that reads an audit log file does first
 * (tools/audit, internal): the log key from --log-key or the --state
 * directory (state.h), the file mapped, and audit_verify over it with the
 * kept checkpoints. verify prints what it found; decrypt, regrant and report
 * refuse a file with any finding, so that nothing is ever read out of a log
 * the auditor could not verify.
 */
#ifndef ML_AUDIT_VERIFIED_H
#define ML_AUDIT_VERIFIED_H

#include "auditfile.h"
#include "state.h"
#include "verify.h"

typedef struct audit_verified {
  audit_state st;
  mlproto_note_verifier key;
  af_map map;
  audit_result r;
} audit_verified;

/* Resolves the key (vkey, or DIR/log-key when vkey is NULL; both: they must
 * agree), loads the kept checkpoints, maps path and verifies it. Messages go
 * to stderr as "mentorlog-audit: CMD: ..." (usage errors with the usage text
 * u). Returns AUDIT_EXIT_OK when the check ran (v->r.findings_total says
 * whether everything holds), else the exit status. v is the caller's to
 * close in every case. */
int audit_verified_open(audit_verified *v, const char *cmd, const char *u, const char *path,
                        const char *vkey, const char *state_dir);
/* The same, and AUDIT_EXIT_FAIL after printing the first findings when the
 * file does not verify ("run mentorlog-audit verify FILE for all of them"). */
int audit_verified_clean(audit_verified *v, const char *cmd, const char *u, const char *path,
                         const char *vkey, const char *state_dir);
void audit_verified_close(audit_verified *v);

#endif
