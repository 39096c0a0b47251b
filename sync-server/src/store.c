/* store.c — backend-independent helpers of store.h. */
#include "store.h"

#include <sodium.h>
#include <string.h>

void mls_device_id(uint8_t id[16], const uint8_t pub[32]) {
  static const char tag[] = "mentorlog/device-id/v1"; /* hashed with its NUL */
  crypto_hash_sha256_state st;
  uint8_t h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof tag);
  crypto_hash_sha256_update(&st, pub, 32);
  crypto_hash_sha256_final(&st, h);
  memcpy(id, h, 16);
}
