/*
 * state.h — the auditor's state directory (`mentorlog-audit verify --state
 * DIR`, tools/audit internal): what one verification leaves for the next,
 * so that a log that rewrites its history between two audits is caught.
 *
 *   DIR/                          mode 0700, created when missing
 *   DIR/log-key                   the log's verifier key NAME+KEYID+BASE64 and
 *                                 a newline, written by the first successful
 *                                 verify that was given --log-key
 *   DIR/checkpoints/N.note        every checkpoint verified with success, N its
 *                                 tree size in 20 decimal digits (sorting by
 *                                 name sorts by size), the note byte for byte
 *
 * Every file is written atomically (auditfile.h af_replace) and only after a
 * verification found nothing; a kept checkpoint is never replaced (another
 * valid signature of the same tree, should one come, is not news).
 * Nothing here judges the log: audit_verify does, with the kept checkpoints.
 */
#ifndef ML_AUDIT_STATE_H
#define ML_AUDIT_STATE_H

#include "mlproto/checkpoint.h"

#include <stddef.h>

#define AUDIT_STATE_PATH_MAX 4096

typedef struct audit_state {
  char dir[AUDIT_STATE_PATH_MAX];
  int have_key;                     /* DIR/log-key was there */
  char vkey[MLPROTO_NOTE_VKEY_MAX]; /* its content, canonical */
  mlproto_note_verifier key;
  mlproto_checkpoint *kept;         /* audit_state_load_kept */
  size_t n_kept;
} audit_state;

/* Opens DIR (creating it and DIR/checkpoints, mode 0700, when missing) and
 * reads DIR/log-key when present. Errors: IO (errno set), BAD_KEY (the file
 * holds no verifier key). why (cap bytes) names the file at fault. */
int audit_state_open(audit_state *s, const char *dir, char *why, size_t cap);

/* Reads and opens every DIR/checkpoints/N.note with key. Errors: IO,
 * OUT_OF_MEMORY, and the code of mlproto_checkpoint_open (or TREE_RANGE
 * when N is not the note's size) for a note that does not open: the state
 * is damaged or of another log; why names the file. */
int audit_state_load_kept(audit_state *s, const mlproto_note_verifier *key, char *why, size_t cap);

/* After a verification that found nothing: DIR/log-key (canonical vkey,
 * when the state had none) and the checkpoint of size `size`, unless one of
 * that size is kept. *stored (may be NULL) is 1 when the note was written. */
int audit_state_save(audit_state *s, const mlproto_note_verifier *key, const uint8_t *note,
                     size_t len, uint64_t size, int *stored);

void audit_state_close(audit_state *s);

#endif
