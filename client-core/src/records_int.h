/* Shared by records.c and query.c: the record writer and item lookups. */
#ifndef MENTORLOG_RECORDS_INT_H
#define MENTORLOG_RECORDS_INT_H

#include "internal.h"

#include "mlproto/compliance.h"
#include "mlproto/record.h"

struct ml_write {
  mlproto_kind kind;
  const uint8_t *case_id;
  const uint8_t *item_id; /* NULL: the record starts a new item */
  const uint8_t (*supersedes)[16];
  size_t n_supersedes;
  const mlproto_disclosed *disclosed;
  const mlproto_sealed *sealed;
  const mlproto_key *case_key;
};

/* An item and its current heads (to supersede them all). */
struct ml_target {
  uint8_t item_id[16];
  uint8_t case_id[16];
  size_t n;
  uint8_t heads[16][16];
};

/* ---- the record store (recstore.c) ---- */

/* What a record's rows hold besides the sealed envelope. */
struct ml_stored {
  const uint8_t *record_id; /* 16 */
  const uint8_t *case_id;   /* 16 */
  const uint8_t *item_id;   /* 16: the first version's record id */
  const uint8_t *author;    /* 32 */
  uint64_t seq;
  mlproto_kind kind;
  const uint8_t *hash;      /* 32: record hash, checked on every read */
  const uint8_t (*supersedes)[16];
  size_t n_supersedes;
};

/* Store one verified (or just built) record inside the caller's
 * transaction: the envelope sealed at rest, the indexed ids, the supersede
 * edges. Not the outbox: that is the writer's, for its own records. */
int ml__record_store(mentorlog *h, const struct ml_stored *m, const uint8_t *env, size_t len);
/* A record of another author (another device of the mentor): verified in
 * full (signature included), its item derived from what it supersedes,
 * stored through ml__record_store in its own transaction (or the caller's
 * batch). Every refusal is decided before the transaction, so a refused
 * record leaves a batch as it was: INVALID_ARGUMENT for a server event or
 * the device's own record; the record's verification error; NOT_FOUND when
 * a superseded record is not stored yet; ALREADY_EXISTS for a record id or
 * (author, seq) stored already. A record of a case erased here is stored
 * erased (header and signature only). The chain rule per author is the
 * caller's (mlproto_chain_check). */
int ml__record_ingest(mentorlog *h, const uint8_t *env, size_t len);
/* The same for a record r the caller verified from env (mlproto_record_verify). */
int ml__record_ingest_verified(mentorlog *h, const mlproto_record *r, const uint8_t *env, size_t len);
/* A stored row as a record: the envelope in column col_env opened with the
 * record key (AAD: the record id in col_id), then every check but the
 * signature, against the record hash in col_hash. PROFILE_CORRUPT for
 * anything that does not open or verify. */
int ml__row_record(mentorlog *h, sqlite3_stmt *st, int col_id, int col_env, int col_hash,
                   mlproto_record **out);
/* Open a stored envelope blob into the handle's buffer: *env valid until
 * the next call on h that reads a record. */
int ml__env_open(mentorlog *h, const void *record_id, int id_len, const void *blob, int blob_len,
                 const uint8_t **env, size_t *env_len);
/* Seal an envelope for storage under record_id: *out freed with mlproto_free. */
int ml__env_seal(mentorlog *h, const uint8_t record_id[16], const uint8_t *env, size_t len,
                 uint8_t **out, size_t *out_len);

/* Build, sign and store one record inside the caller's ml__begin. */
int ml__append(mentorlog *h, const struct ml_write *w, uint8_t out_id[16]);
int ml__case_check(mentorlog *h, const uint8_t case_id[16]);
/* Erase the case here, inside the caller's ml__begin: every stored record
 * of it but keep (a record id, may be NULL) rewritten to its erased form
 * (header and signature, sealed at rest), its case keys destroyed, the case
 * marked erased (once: a case erased already stays so). The caller flushes
 * the key cache (ml__casekey_flush) after its commit. Used by
 * mentorlog_case_erase, and when a CASE_ERASE of another device of the
 * mentor or a RETENTION_PURGE event of the server arrives (docs/
 * wire-protocol.md). */
int ml__case_erase_local(mentorlog *h, const uint8_t case_id[16], const uint8_t *keep);
/* After the commit of a transaction that erased a case (outside a batch):
 * truncate the WAL, which still holds the old page images. No-op otherwise. */
void ml__erased_scrub(mentorlog *h);
int ml__item_heads(mentorlog *h, const uint8_t record_id[16], int kind_lo, int kind_hi,
                   struct ml_target *t);

#endif
