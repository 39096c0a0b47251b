/*
 * record_chain.c — the per-author chain rule (mlproto/chain.h).
 */
#include "mlproto/chain.h"

#include "mlproto/errors.h"

#include <string.h>

static const uint8_t zero_hash[MLPROTO_HASH_BYTES];

void mlproto_chain_tip_init(mlproto_chain_tip *tip,
                            const uint8_t author[MLPROTO_SIGN_PUBLICKEYBYTES]) {
  if (!tip)
    return;
  memset(tip, 0, sizeof *tip);
  if (author)
    memcpy(tip->author, author, sizeof tip->author);
}

mlproto_chain_verdict mlproto_chain_check(const mlproto_chain_tip *tip, const uint8_t *held_hash,
                                          const mlproto_record *r) {
  if (!tip || !r || r->seq == 0 ||
      (tip->seq == 0 && memcmp(tip->hash, zero_hash, MLPROTO_HASH_BYTES) != 0))
    return MLPROTO_CHAIN_INVALID;
  if (memcmp(r->author, tip->author, sizeof tip->author) != 0)
    return MLPROTO_CHAIN_WRONG_AUTHOR;
  /* r->seq >= 1, so r->seq - 1 never wraps (and tip->seq + 1 may). */
  if (r->seq - 1 == tip->seq)
    return memcmp(r->prev, tip->hash, MLPROTO_HASH_BYTES) == 0 ? MLPROTO_CHAIN_ACCEPT
                                                               : MLPROTO_CHAIN_BAD_PREV;
  if (r->seq - 1 > tip->seq)
    return MLPROTO_CHAIN_GAP;
  const uint8_t *held = held_hash ? held_hash : r->seq == tip->seq ? tip->hash : NULL;
  if (!held)
    return MLPROTO_CHAIN_NEED_HELD;
  return memcmp(r->hash, held, MLPROTO_HASH_BYTES) == 0 ? MLPROTO_CHAIN_DUPLICATE
                                                        : MLPROTO_CHAIN_FORK;
}

void mlproto_chain_advance(mlproto_chain_tip *tip, const mlproto_record *r) {
  if (!tip || !r)
    return;
  tip->seq = r->seq;
  memcpy(tip->hash, r->hash, MLPROTO_HASH_BYTES);
}

int mlproto_chain_error(mlproto_chain_verdict v) {
  switch (v) {
  case MLPROTO_CHAIN_ACCEPT:
  case MLPROTO_CHAIN_DUPLICATE:
    return MLPROTO_OK;
  case MLPROTO_CHAIN_GAP:
    return MLPROTO_ERR_SEQ_GAP;
  case MLPROTO_CHAIN_BAD_PREV:
    return MLPROTO_ERR_PREV_MISMATCH;
  case MLPROTO_CHAIN_FORK:
    return MLPROTO_ERR_FORK;
  case MLPROTO_CHAIN_WRONG_AUTHOR:
    return MLPROTO_ERR_AUTHOR_MISMATCH;
  case MLPROTO_CHAIN_NEED_HELD:
  case MLPROTO_CHAIN_INVALID:
    break;
  }
  return MLPROTO_ERR_INVALID_ARGUMENT;
}

const char *mlproto_chain_verdict_name(mlproto_chain_verdict v) {
  switch (v) {
  case MLPROTO_CHAIN_ACCEPT:
    return "accept";
  case MLPROTO_CHAIN_DUPLICATE:
    return "duplicate";
  case MLPROTO_CHAIN_GAP:
    return "gap";
  case MLPROTO_CHAIN_BAD_PREV:
    return "bad_prev";
  case MLPROTO_CHAIN_FORK:
    return "fork";
  case MLPROTO_CHAIN_NEED_HELD:
    return "need_held";
  case MLPROTO_CHAIN_WRONG_AUTHOR:
    return "wrong_author";
  case MLPROTO_CHAIN_INVALID:
    break;
  }
  return v == MLPROTO_CHAIN_INVALID ? "invalid" : "unknown";
}
