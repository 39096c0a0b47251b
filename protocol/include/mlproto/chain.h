/*
 * mlproto/chain.h — the per-author chain rule, in one place.
 *
 * Every author numbers its records seq = 1, 2, 3, ... and links each to the
 * record hash of its previous one (docs/record-format.md §9). Whoever keeps
 * an author's records — the server on a push, a device verifying its own
 * chain, a device storing the records of the mentor's other devices pulled
 * from the server — decides the same way whether the next record it is
 * given extends what it holds. That decision is mlproto_chain_check().
 *
 * The state is the author's *tip*: the last record accepted from that author
 * (its seq and record hash), seq 0 before the first. The function is pure:
 * no I/O, no allocation, no clock. It does not verify the record itself (do
 * that first with mlproto_record_verify() or mlproto_record_verify_stored():
 * then seq >= 1 and prev is zero exactly at seq 1).
 *
 * Usage, one author's records in seq order:
 *
 *   mlproto_chain_tip tip;
 *   mlproto_chain_tip_init(&tip, author_pub);   // or the stored tip
 *   for each verified record r:
 *     mlproto_chain_verdict v = mlproto_chain_check(&tip, NULL, r);
 *     if (v == MLPROTO_CHAIN_NEED_HELD) {         // r is older than the tip
 *       look up the hash of the record held at (author, r->seq);
 *       v = mlproto_chain_check(&tip, held_hash, r);
 *     }
 *     if (v == MLPROTO_CHAIN_ACCEPT) { store r; mlproto_chain_advance(&tip, r); }
 *     else if (v == MLPROTO_CHAIN_DUPLICATE) { already held: nothing to do }
 *     else refuse with mlproto_chain_error(v)   // SEQ_GAP, PREV_MISMATCH, FORK ...
 *
 * Thread-safety: reentrant; the tip is the caller's.
 */
#ifndef MLPROTO_CHAIN_H
#define MLPROTO_CHAIN_H

#include "mlproto/common.h"
#include "mlproto/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The last record accepted from one author. Plain data: fill it from a
 * store (author, last seq, its record hash) or with mlproto_chain_tip_init. */
typedef struct mlproto_chain_tip {
  uint8_t author[MLPROTO_SIGN_PUBLICKEYBYTES]; /* whose chain this is */
  uint64_t seq;                                /* last accepted seq; 0: none yet */
  uint8_t hash[MLPROTO_HASH_BYTES];            /* its record hash; zeros when seq == 0 */
} mlproto_chain_tip;

/* What a record is, relative to a tip. Values are stable. */
typedef enum mlproto_chain_verdict {
  /* r->seq == tip.seq + 1 and r->prev == tip.hash (zeros at seq 1): it
   * extends the chain. Store it, then mlproto_chain_advance(). */
  MLPROTO_CHAIN_ACCEPT = 0,
  /* r->seq <= tip.seq and r is the very record held at that seq (same record
   * hash): an identical resend. Nothing to store. */
  MLPROTO_CHAIN_DUPLICATE = 1,
  /* r->seq > tip.seq + 1: records in between are missing. */
  MLPROTO_CHAIN_GAP = 2,
  /* r->seq == tip.seq + 1 but r->prev is not the tip's hash. */
  MLPROTO_CHAIN_BAD_PREV = 3,
  /* r->seq <= tip.seq and a different record (another record hash) is held
   * at that seq: the author signed two records with one seq. Keep both as
   * evidence. */
  MLPROTO_CHAIN_FORK = 4,
  /* r->seq < tip.seq and held_hash was NULL: only the hash of the record
   * held at r->seq can tell DUPLICATE from FORK. Call again with it. */
  MLPROTO_CHAIN_NEED_HELD = 5,
  /* r->author is not tip.author: r belongs to another chain. */
  MLPROTO_CHAIN_WRONG_AUTHOR = 6,
  /* NULL tip or record, r->seq == 0, or a tip at seq 0 whose hash is not
   * zero: a caller's bug, never a property of the record. */
  MLPROTO_CHAIN_INVALID = 7
} mlproto_chain_verdict;

/* tip = author's empty chain: seq 0, hash zeros (author NULL: zeros). NULL tip: no-op. */
MLPROTO_EXTERN void mlproto_chain_tip_init(mlproto_chain_tip *tip,
                                           const uint8_t author[MLPROTO_SIGN_PUBLICKEYBYTES]);

/*
 * Where the verified record r stands in the chain whose last accepted record
 * is tip. Checks, in this order: arguments (INVALID), r->author == tip->author
 * (WRONG_AUTHOR); then by seq:
 *   r->seq == tip->seq + 1   prev == tip->hash ? ACCEPT : BAD_PREV
 *   r->seq >  tip->seq + 1   GAP
 *   r->seq <= tip->seq       r->hash against the record held at r->seq:
 *                            equal DUPLICATE, different FORK. That hash is
 *                            held_hash when non-NULL, else tip->hash when
 *                            r->seq == tip->seq, else NEED_HELD.
 * held_hash: NULL, or the record hash of the record the caller holds at
 * (tip->author, r->seq); only read when r->seq <= tip->seq. A caller that
 * holds no record there although its tip is past it has a hole in its own
 * store: that is not for this function to judge (the server answers
 * SEQ_GAP, docs/wire-protocol.md).
 * The tip is not changed (see mlproto_chain_advance).
 */
MLPROTO_EXTERN mlproto_chain_verdict mlproto_chain_check(const mlproto_chain_tip *tip,
                                                         const uint8_t *held_hash,
                                                         const mlproto_record *r)
    MLPROTO_WARN_UNUSED;

/* After ACCEPT: tip = (r->seq, r->hash). Does nothing for NULL arguments. */
MLPROTO_EXTERN void mlproto_chain_advance(mlproto_chain_tip *tip, const mlproto_record *r);

/*
 * The stable error code (mlproto/errors.def) of a verdict, as the server
 * answers it (docs/wire-protocol.md, push rule 4):
 *   ACCEPT, DUPLICATE  MLPROTO_OK
 *   GAP                MLPROTO_ERR_SEQ_GAP        (409)
 *   BAD_PREV           MLPROTO_ERR_PREV_MISMATCH  (409)
 *   FORK               MLPROTO_ERR_FORK           (409)
 *   WRONG_AUTHOR       MLPROTO_ERR_AUTHOR_MISMATCH (403)
 *   NEED_HELD, INVALID, any other value  MLPROTO_ERR_INVALID_ARGUMENT
 * A device checking its own store reports any of these as CHAIN_BROKEN.
 */
MLPROTO_EXTERN int mlproto_chain_error(mlproto_chain_verdict v);

/* Stable lower-case name: "accept", "duplicate", "gap", "bad_prev", "fork",
 * "need_held", "wrong_author", "invalid"; "unknown" otherwise. */
MLPROTO_EXTERN const char *mlproto_chain_verdict_name(mlproto_chain_verdict v);

#ifdef __cplusplus
}
#endif
#endif
