/* The escrow key's public string and the re-grant file (mlproto/escrow.h). */
#include "mlproto/escrow.h"

#include "mlproto/errors.h"

#include <sodium.h>
#include <string.h>

#define PREFIX_LEN (sizeof MLPROTO_ESCROW_PUB_PREFIX - 1)
#define B64_LEN (MLPROTO_ESCROW_PUB_LEN - PREFIX_LEN) /* base64 of 64 bytes */
#define MAGIC_LEN (sizeof MLPROTO_ESCROW_GRANTS_MAGIC - 1)

int mlproto_escrow_pub_format(char out[MLPROTO_ESCROW_PUB_LEN + 1], const uint8_t box_pub[32],
                              const uint8_t sign_pub[32]) {
  if (!out || !box_pub || !sign_pub)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t raw[64];
  memcpy(raw, box_pub, 32);
  memcpy(raw + 32, sign_pub, 32);
  memcpy(out, MLPROTO_ESCROW_PUB_PREFIX, PREFIX_LEN);
  sodium_bin2base64(out + PREFIX_LEN, B64_LEN + 1, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  return MLPROTO_OK;
}

int mlproto_escrow_pub_parse(const char *s, uint8_t box_pub[32], uint8_t sign_pub[32]) {
  if (!box_pub || !sign_pub)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(box_pub, 0, 32);
  memset(sign_pub, 0, 32);
  if (!s || strlen(s) != MLPROTO_ESCROW_PUB_LEN || memcmp(s, MLPROTO_ESCROW_PUB_PREFIX, PREFIX_LEN) != 0)
    return MLPROTO_ERR_BAD_KEY;
  uint8_t raw[64];
  size_t n = 0;
  const char *end = NULL;
  if (sodium_base642bin(raw, sizeof raw, s + PREFIX_LEN, B64_LEN, NULL, &n, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      n != sizeof raw || end != s + MLPROTO_ESCROW_PUB_LEN)
    return MLPROTO_ERR_BAD_KEY;
  /* canonical: the bytes encode back to the same string (no stray bits) */
  char again[B64_LEN + 1];
  sodium_bin2base64(again, sizeof again, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  static const uint8_t zero[32];
  if (memcmp(again, s + PREFIX_LEN, B64_LEN) != 0 || sodium_memcmp(raw, zero, 32) == 0 ||
      !crypto_core_ed25519_is_valid_point(raw + 32))
    return MLPROTO_ERR_BAD_KEY;
  memcpy(box_pub, raw, 32);
  memcpy(sign_pub, raw + 32, 32);
  return MLPROTO_OK;
}

int mlproto_escrow_grants_begin(mlproto_buf *b) {
  if (!b)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  return mlproto_buf_append(b, MLPROTO_ESCROW_GRANTS_MAGIC, MAGIC_LEN);
}

int mlproto_escrow_grants_add(mlproto_buf *b, const uint8_t *env, size_t len) {
  if (!b || (!env && len))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len == 0 || len > MLPROTO_ESCROW_GRANT_ENVELOPE_MAX)
    return MLPROTO_ERR_FIELD_SIZE;
  uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  size_t was = b->len;
  int rc = mlproto_buf_append(b, be, 4);
  if (!rc)
    rc = mlproto_buf_append(b, env, len);
  if (rc)
    b->len = was;
  return rc;
}

int mlproto_escrow_grants_next(const uint8_t *in, size_t len, size_t *off, size_t *count,
                               const uint8_t **env, size_t *env_len) {
  if (!off || !env || !env_len || (!in && len))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *env = NULL;
  *env_len = 0;
  size_t o = *off;
  if (o == 0) {
    if (len < MAGIC_LEN)
      return memcmp(in, MLPROTO_ESCROW_GRANTS_MAGIC, len) == 0 ? MLPROTO_ERR_AUDIT_FILE_TRUNCATED
                                                               : MLPROTO_ERR_AUDIT_FILE_MALFORMED;
    if (memcmp(in, MLPROTO_ESCROW_GRANTS_MAGIC, MAGIC_LEN) != 0)
      return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
    o = *off = MAGIC_LEN;
    if (o == len)
      return MLPROTO_ERR_AUDIT_FILE_MALFORMED; /* not one grant */
  }
  if (o > len)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (o == len)
    return 0;
  if (count && *count >= MLPROTO_ESCROW_GRANTS_MAX)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (len - o < 4)
    return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  size_t n = (size_t)in[o] << 24 | (size_t)in[o + 1] << 16 | (size_t)in[o + 2] << 8 | in[o + 3];
  if (n == 0 || n > MLPROTO_ESCROW_GRANT_ENVELOPE_MAX)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (len - o - 4 < n)
    return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  *env = in + o + 4;
  *env_len = n;
  *off = o + 4 + n;
  if (count)
    (*count)++;
  return 1;
}
