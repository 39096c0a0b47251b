/* crypto_verify.c — Ed25519 verification with libsodium 1.0.18's acceptance
 * rules, computed by lib25519 when the build has it (see crypto_int.h). */
#include "crypto_int.h"

#include <sodium.h>
#include <string.h>

#ifdef MLPROTO_HAVE_LIB25519
#include <lib25519.h>

/* The group order L = 2^252 + 27742317777372353535851937790883648493,
 * little-endian. */
static const uint8_t ORDER_L[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

/* y-coordinates (255 bits, little-endian) of the eight points of order 1,
 * 2, 4 and 8, with the two non-canonical encodings that fit in 255 bits:
 * 0 (order 4, x = ±sqrt(-1)), 1 (the identity), the two order-8 y values
 * (±y8 with y8^2 = -x^2, x^2 = (1 - sqrt(1 + d)) / d), p - 1 (order 2),
 * p (= 0) and p + 1 (= 1). The sign bit (x's parity) is not compared: both
 * signs name small-order points or no point. tests/record/test_verify.c
 * checks with libsodium's arithmetic that each is of order dividing 8. */
static const uint8_t SMALL_ORDER_Y[7][32] = {
    {0},
    {1},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
     0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
     0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

/* Everything here is public (keys, signatures), so plain comparisons. */

/* s < L (little-endian) */
static int scalar_canonical(const uint8_t s[32]) {
  for (int i = 31; i >= 0; i--)
    if (s[i] != ORDER_L[i])
      return s[i] < ORDER_L[i];
  return 0; /* s == L */
}

/* The y of the encoding (sign bit cleared) is < p = 2^255 - 19. */
static int point_canonical(const uint8_t s[32]) {
  if ((s[31] & 0x7f) != 0x7f)
    return 1;
  for (int i = 30; i > 0; i--)
    if (s[i] != 0xff)
      return 1;
  return s[0] < 0xed;
}

static int small_order(const uint8_t s[32]) {
  for (size_t k = 0; k < sizeof SMALL_ORDER_Y / sizeof SMALL_ORDER_Y[0]; k++)
    if (memcmp(s, SMALL_ORDER_Y[k], 31) == 0 && (s[31] & 0x7f) == SMALL_ORDER_Y[k][31])
      return 1;
  return 0;
}

int mlproto__ed25519_open(const uint8_t *sm, size_t smlen, const uint8_t pk[32], uint8_t *scratch) {
  if (smlen < 64 || smlen > (size_t)INT64_MAX)
    return -1;
  /* libsodium 1.0.18 crypto_sign_verify_detached refuses these before any
   * curve arithmetic; lib25519 refuses a non-canonical S or A itself, but
   * not small-order R or A. With them refused, both decide the same
   * cofactorless equation: encode([S]B - [h]A) == R byte for byte. */
  if (!scalar_canonical(sm + 32) || small_order(sm) || !point_canonical(pk) || small_order(pk))
    return -1;
  long long mlen = 0;
  return lib25519_sign_open(scratch, &mlen, sm, (long long)smlen, pk) == 0 ? 0 : -1;
}

int mlproto__ed25519_engine_is_lib25519(void) { return 1; }

#else /* libsodium alone */

int mlproto__ed25519_open(const uint8_t *sm, size_t smlen, const uint8_t pk[32], uint8_t *scratch) {
  (void)scratch;
  if (smlen < 64)
    return -1;
  return crypto_sign_verify_detached(sm, sm + 64, smlen - 64, pk) == 0 ? 0 : -1;
}

int mlproto__ed25519_engine_is_lib25519(void) { return 0; }

#endif
