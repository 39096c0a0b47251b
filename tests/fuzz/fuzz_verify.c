/* libFuzzer target: Ed25519 verification (protocol/src/crypto_verify.c) must
 * accept exactly what libsodium's crypto_sign_verify_detached accepts.
 * ML_FUZZ_MAX_LEN: 1024
 *
 * Input: byte 0 selects the mode.
 *   even: "raw"   — pk (32) || sig (64) || message: whatever the fuzzer makes.
 *   odd:  "valid" — a signature by a fixed key over the message that follows
 *         the 4-byte header (mode, u16be position, xor byte); the byte at
 *         position (mod 96 + message length) of R || S || A || message is
 *         XORed with the xor byte (0: unchanged, must verify).
 * Any disagreement aborts. */
#include "../../protocol/src/crypto_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t key_pk[32], key_sk[64];

static void check(const uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t pk[32], int want) {
  static uint8_t sm[64 + 1024], scratch[64 + 1024];
  memcpy(sm, sig, 64);
  if (len)
    memcpy(sm + 64, msg, len);
  int ours = mlproto__ed25519_open(sm, 64 + len, pk, scratch);
  int ref = crypto_sign_verify_detached(sig, msg, len, pk);
  if (ours != ref || (want == 0 && ours != 0))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    if (sodium_init() < 0)
      abort();
    uint8_t seed[32] = {7};
    crypto_sign_seed_keypair(key_pk, key_sk, seed);
    ready = 1;
  }
  if (size < 1 || size > 1024)
    return 0;
  if ((data[0] & 1) == 0) {
    if (size < 1 + 96)
      return 0;
    check(data + 33, data + 97, size - 97, data + 1, -1);
    return 0;
  }
  if (size < 4)
    return 0;
  size_t pos = (size_t)data[1] << 8 | data[2];
  uint8_t x = data[3];
  const uint8_t *m = data + 4;
  size_t len = size - 4;
  uint8_t sig[64], pk[32], msg[1024];
  memcpy(msg, m, len);
  memcpy(pk, key_pk, 32);
  crypto_sign_detached(sig, NULL, msg, len, key_sk);
  pos %= 96 + len;
  uint8_t *p = pos < 64 ? sig + pos : pos < 96 ? pk + (pos - 64) : msg + (pos - 96);
  *p ^= x;
  check(sig, msg, len, pk, x ? -1 : 0);
  return 0;
}
