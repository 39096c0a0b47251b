/*
 * erase.h — crypto-shredding on the server (DESIGN §4, docs/operator.md
 * "Erasure and retention").
 *
 * A record's header commits only to the HASHES of its disclosed and sealed
 * parts (DESIGN §3), so the server can drop both parts of every record of
 * a case and keep everything the log proves: header, signature, record
 * hash, hence every leaf, inclusion and consistency proof and checkpoint,
 * byte for byte. What the envelope loses: the disclosed codes (grant
 * reference, dates, minutes, channels) and the sealed ciphertext (names,
 * notes; the case key is gone with the KEY_GRANTs' disclosed parts).
 *
 * Two things erase a case, both inside the write transaction that logs
 * them:
 *   - a device's CASE_ERASE record, accepted in a push (app_push.c); a
 *     record of an erased case pushed later (an offline device that wrote
 *     before it learnt of the erasure) is appended as usual, in its erased
 *     form (mls_erase_form): the log stays complete;
 *   - `admin retention purge` (admin.c), logged as a RETENTION_PURGE event.
 * The case stays in the jobcentre index (case_jobcentres), so a report
 * shows its grants as ERASED. After the commit, mls_store_scrub() removes
 * the old page images from the store's files.
 *
 * Every rewrite is checked: the erased form's mlproto_record_hash must equal
 * the log entry's record hash, or nothing is written (MLPROTO_ERR_STORAGE:
 * the stored envelope does not belong to its entry).
 */
#ifndef MLS_ERASE_H
#define MLS_ERASE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

/* The erased form of env (both parts' bytes removed, the erased bits set;
 * mlproto_envelope_erase) into a new buffer *out of *out_len bytes (free
 * with mlproto_free), after checking that its record hash equals
 * record_hash (the log entry's). *changed (may be NULL): 0 when env was
 * already in that form. Errors: STORAGE (another record hash), the errors
 * of mlproto_envelope_erase (MALFORMED, OUT_OF_MEMORY). */
int mls_erase_form(uint8_t **out, size_t *out_len, int *changed, const uint8_t *env, size_t len,
                   const uint8_t record_hash[32]);

/* Erases every log entry of the case within tx (a write transaction):
 * each envelope that still holds a part is replaced by its erased form
 * (envelope_replace); so is each envelope of the case kept as fork
 * evidence (fork_replace: the evidence stays, its record hashes with it);
 * then the case is marked erased at now_ms
 * (case_erased_set: NOT_FOUND when no one claimed it). *rewritten (may be
 * NULL): envelopes replaced; *entries (may be NULL): the case's entries. */
int mls_erase_case(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms, uint64_t *rewritten,
                   uint64_t *entries);

#endif
