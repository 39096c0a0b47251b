/*
 * Log entries and signed tree heads of the transparency log (DESIGN §3).
 */
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <string.h>

#define HB MLPROTO_MERKLE_HASH_BYTES

/* ---------------------------------------------------------- log entries --- */

static int entry_type_ok(int type) {
  return type == MLPROTO_LOG_DEVICE_RECORD || type == MLPROTO_LOG_SERVER_EVENT;
}

int mlproto_log_entry_encode(uint8_t out[MLPROTO_LOG_ENTRY_BYTES], const mlproto_log_entry *e) {
  if (!entry_type_ok((int)e->type))
    return MLPROTO_ERR_FIELD_RANGE;
  out[0] = (uint8_t)e->type;
  mlproto_put_u64be(out + 1, e->received_at_ms);
  memcpy(out + 9, e->record_hash, HB);
  return MLPROTO_OK;
}

int mlproto_log_entry_decode(mlproto_log_entry *e, const uint8_t *in, size_t len) {
  if (len != MLPROTO_LOG_ENTRY_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  if (!entry_type_ok(in[0]))
    return MLPROTO_ERR_FIELD_RANGE;
  e->type = (mlproto_log_entry_type)in[0];
  e->received_at_ms = mlproto_get_u64be(in + 1);
  memcpy(e->record_hash, in + 9, HB);
  return MLPROTO_OK;
}

int mlproto_log_entry_leaf_hash(uint8_t out[32], const mlproto_log_entry *e) {
  uint8_t buf[MLPROTO_LOG_ENTRY_BYTES];
  int rc = mlproto_log_entry_encode(buf, e);
  if (rc != MLPROTO_OK)
    return rc;
  mlproto_merkle_leaf_hash(out, buf, sizeof buf);
  return MLPROTO_OK;
}

/* ----------------------------------------------------- signed tree heads --- */

/* The tag's terminating NUL is part of the signed bytes, so no other
 * Mentorlog message (all tagged "mentorlog/<what>/v1\0") can be replayed as
 * a tree head. */
_Static_assert(sizeof MLPROTO_STH_DOMAIN == 17, "STH domain tag is 17 bytes with its NUL");
_Static_assert(MLPROTO_STH_SIGNED_BYTES == 17 + 8 + 32 + 8, "STH signed bytes layout");

void mlproto_sth_signed_bytes(uint8_t out[MLPROTO_STH_SIGNED_BYTES], const mlproto_sth *sth) {
  memcpy(out, MLPROTO_STH_DOMAIN, sizeof MLPROTO_STH_DOMAIN);
  mlproto_put_u64be(out + 17, sth->size);
  memcpy(out + 25, sth->root, HB);
  mlproto_put_u64be(out + 57, sth->timestamp_ms);
}

int mlproto_sth_sign(mlproto_sth *sth, const uint8_t sk[64]) {
  if (sth->size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_TREE_RANGE;
  uint8_t msg[MLPROTO_STH_SIGNED_BYTES];
  mlproto_sth_signed_bytes(msg, sth);
  if (crypto_sign_detached(sth->signature, NULL, msg, sizeof msg, sk) != 0)
    return MLPROTO_ERR_INTERNAL;
  return MLPROTO_OK;
}

int mlproto_sth_verify(const mlproto_sth *sth, const uint8_t pk[32]) {
  if (sth->size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_STH_INVALID;
  if (sth->size == 0) {
    uint8_t empty[HB];
    mlproto_merkle_empty_root(empty);
    if (memcmp(empty, sth->root, HB) != 0)
      return MLPROTO_ERR_STH_INVALID;
  }
  uint8_t msg[MLPROTO_STH_SIGNED_BYTES];
  mlproto_sth_signed_bytes(msg, sth);
  if (crypto_sign_verify_detached(sth->signature, msg, sizeof msg, pk) != 0)
    return MLPROTO_ERR_STH_INVALID;
  return MLPROTO_OK;
}

void mlproto_sth_encode(uint8_t out[MLPROTO_STH_ENCODED_BYTES], const mlproto_sth *sth) {
  mlproto_put_u64be(out, sth->size);
  memcpy(out + 8, sth->root, HB);
  mlproto_put_u64be(out + 40, sth->timestamp_ms);
  memcpy(out + 48, sth->signature, 64);
}

int mlproto_sth_decode(mlproto_sth *sth, const uint8_t *in, size_t len) {
  if (len != MLPROTO_STH_ENCODED_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  uint64_t size = mlproto_get_u64be(in);
  if (size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_TREE_RANGE;
  sth->size = size;
  memcpy(sth->root, in + 8, HB);
  sth->timestamp_ms = mlproto_get_u64be(in + 40);
  memcpy(sth->signature, in + 48, 64);
  return MLPROTO_OK;
}

int mlproto_sth_check_split_view(const mlproto_sth *a, const mlproto_sth *b) {
  if (a->size == b->size && memcmp(a->root, b->root, HB) != 0)
    return MLPROTO_ERR_SPLIT_VIEW;
  return MLPROTO_OK;
}

int mlproto_sth_check_consistency(const mlproto_sth *older, const mlproto_sth *newer,
                                  const uint8_t (*proof)[32], size_t len) {
  if (older->size > MLPROTO_MERKLE_MAX_SIZE || newer->size > MLPROTO_MERKLE_MAX_SIZE ||
      newer->size < older->size)
    return MLPROTO_ERR_TREE_RANGE;
  if (older->size == newer->size || older->size == 0) {
    if (len != 0)
      return MLPROTO_ERR_PROOF_LENGTH;
    return mlproto_sth_check_split_view(older, newer);
  }
  return mlproto_merkle_verify_consistency(older->size, newer->size, older->root,
                                           newer->root, proof, len);
}
