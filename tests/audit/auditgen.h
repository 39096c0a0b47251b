/*
 * auditgen.h — synthetic logs for the verifier's tests: a log key (seed
 * 0x42.., origin "audit.test/log"), server events signed with it, device
 * records from tools/devsim, and the audit log file of any list of entries
 * with a checkpoint signed over the leaves the caller chooses. What a
 * dishonest server could write, entry by entry, without the server.
 * Set-up failures fail the running cmocka test.
 */
#ifndef ML_TEST_AUDITGEN_H
#define ML_TEST_AUDITGEN_H

#include "devsim.h"

#include "mlproto/checkpoint.h"
#include "mlproto/util.h"

#include <stddef.h>
#include <stdint.h>

#define AG_ORIGIN "audit.test/log"
#define AG_T0 UINT64_C(1767225600000) /* 2026-01-01 */

typedef struct ag_entry {
  uint64_t index;    /* as written into the file */
  unsigned type;
  uint64_t received;
  uint8_t *env;      /* malloc'd */
  size_t len;
} ag_entry;

typedef struct ag_log {
  mlproto_key *server;       /* the log key, as a record signer */
  uint8_t *sk;               /* its libsodium secret key (sodium_malloc) */
  uint8_t pk[32];
  mlproto_note_verifier key;
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  uint64_t seq;              /* the server's own chain */
  uint8_t head[32];
  ag_entry *e;
  size_t n, cap;
} ag_log;

void ag_init(ag_log *l);
void ag_free(ag_log *l);

/* A server event as the next entry: by the log key (signer NULL), in the
 * server's chain; or forged by signer, as the first record of its chain. */
void ag_enroll(ag_log *l, const sim_dev *d, const mlproto_key *signer);
/* The same by the log key, naming d a device of mentor (ag_enroll names
 * every device one mentor's). */
void ag_enroll_as(ag_log *l, const sim_dev *d, const uint8_t mentor[16]);
void ag_revoke(ag_log *l, const sim_dev *d);
void ag_purge(ag_log *l, const uint8_t case_id[16]);
/* The next record of d's chain (devsim: CASE_OPEN, NOTE, CONTACT) as the
 * next entry, of case case_id. */
void ag_record(ag_log *l, sim_dev *d, mlproto_kind kind, const uint8_t case_id[16]);
/* Any envelope (copied) as the next entry, of type 1, received one second
 * after the entry before. */
void ag_add(ag_log *l, const uint8_t *env, size_t len);

/* The checkpoint note of the first `size` entries of l, as written (their
 * type, time and record hash), signed with the log key; note NUL-terminated
 * into out (MLPROTO_CHECKPOINT_SIGNED_MAX). */
void ag_checkpoint(const ag_log *l, size_t size, char *out, size_t *len);
/* The same as an opened checkpoint. */
mlproto_checkpoint ag_checkpoint_of(const ag_log *l, size_t size);

/* The file of l's entries (as they stand) with the checkpoint of all of
 * them, into b (initialised here; free with mlproto_buf_free). */
void ag_file(const ag_log *l, mlproto_buf *b);

/* The offset of an envelope's disclosed part (field 3) and its length in *n;
 * fails the test when it has none. */
size_t ag_disclosed_at(const uint8_t *env, size_t len, size_t *n);

#endif
