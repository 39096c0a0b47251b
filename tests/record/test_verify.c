/* test_verify.c — Ed25519 verification (protocol/src/crypto_verify.c) accepts
 * exactly what libsodium 1.0.18's crypto_sign_verify_detached accepts:
 *  - valid signatures of random keys and messages of every size class;
 *  - every one of them with one bit flipped in R, S, A or the message;
 *  - signatures crafted with libsodium's point arithmetic so that the
 *    cofactorless equation holds with a small-order A (each of the eight
 *    points, both sign bits, the non-canonical encodings of 0 and 1), with R
 *    the identity, and with A of mixed order; S + L; non-canonical A;
 *  - random garbage.
 * Where the build has lib25519, the crafted cases also show that lib25519
 * alone would accept some of them: the checks in front of it matter. */
#include "testutil.h"

#include "mlproto/crypto.h"
#include "mlproto/errors.h"

#include "../../protocol/src/crypto_int.h"

#include <sodium.h>
#include <string.h>
#ifdef MLPROTO_HAVE_LIB25519
#include <lib25519.h>
#endif

enum { MSG_MAX = 1200 };

/* Both verifiers on sm = sig || msg; they must agree. Returns the verdict
 * (0 valid). raw: lib25519 without our checks (-2 when not built with it). */
static int both(const uint8_t sig[64], const uint8_t *msg, size_t len, const uint8_t pk[32], int *raw) {
  static uint8_t sm[64 + MSG_MAX], scratch[64 + MSG_MAX];
  assert_true(len <= MSG_MAX);
  memcpy(sm, sig, 64);
  if (len)
    memcpy(sm + 64, msg, len);
  int ours = mlproto__ed25519_open(sm, 64 + len, pk, scratch);
  int ref = crypto_sign_verify_detached(sig, msg, len, pk);
  assert_int_equal(ours, ref);
  if (raw) {
#ifdef MLPROTO_HAVE_LIB25519
    long long ml;
    *raw = lib25519_sign_open(scratch, &ml, sm, (long long)(64 + len), pk);
#else
    *raw = -2;
#endif
  }
  return ours;
}

static void engine_reported(void **state) {
  (void)state;
#ifdef MLPROTO_HAVE_LIB25519
  assert_int_equal(mlproto__ed25519_engine_is_lib25519(), 1);
#else
  assert_int_equal(mlproto__ed25519_engine_is_lib25519(), 0);
#endif
}

/* Random keys and messages; each signature, then each with one bit flipped. */
static void valid_and_mutated(void **state) {
  (void)state;
  static const size_t lens[] = {0, 1, 31, 32, 63, 64, 65, 111, 112, 127, 128, 129, 200, 333, 1024, 1200};
  uint8_t msg[MSG_MAX];
  size_t flips = 0;
  for (int round = 0; round < 40; round++) {
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
      size_t len = lens[li];
      uint8_t pk[32], sk[64], sig[64];
      crypto_sign_keypair(pk, sk);
      randombytes_buf(msg, len);
      crypto_sign_detached(sig, NULL, msg, len, sk);
      assert_int_equal(both(sig, msg, len, pk, NULL), 0);
      /* one flipped bit somewhere in R, S, A or the message */
      size_t where = randombytes_uniform((uint32_t)(64 + 32 + len));
      unsigned bit = randombytes_uniform(8);
      uint8_t *p = where < 64 ? sig + where : where < 96 ? pk + (where - 64) : msg + (where - 96);
      *p ^= (uint8_t)(1u << bit);
      assert_int_equal(both(sig, msg, len, pk, NULL), -1);
      flips++;
    }
  }
  assert_int_equal(flips, 40 * 16);
}

/* -------------------------------------------------- crafted signatures -- */

/* h = SHA-512(R || A || M) mod L */
static void hram(uint8_t h[32], const uint8_t R[32], const uint8_t A[32], const uint8_t *m, size_t len) {
  crypto_hash_sha512_state st;
  uint8_t wide[64];
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, R, 32);
  crypto_hash_sha512_update(&st, A, 32);
  crypto_hash_sha512_update(&st, m, len);
  crypto_hash_sha512_final(&st, wide);
  crypto_core_ed25519_scalar_reduce(h, wide);
}

/* The secret scalar a (reduced mod L) of a libsodium key pair. */
static void secret_scalar(uint8_t a[32], const uint8_t sk[64]) {
  uint8_t e[64], wide[64] = {0};
  crypto_hash_sha512(e, sk, 32);
  e[0] &= 248;
  e[31] &= 127;
  e[31] |= 64;
  memcpy(wide, e, 32);
  crypto_core_ed25519_scalar_reduce(a, wide);
}

static void random_scalar(uint8_t r[32]) { crypto_core_ed25519_scalar_random(r); }

static const uint8_t IDENTITY[32] = {1};

/* Encodings of the points of order dividing 8 (y only; see crypto_verify.c). */
static const uint8_t Y8A[32] = {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
                                0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
                                0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05};
static void small_order_encodings(uint8_t out[14][32]) {
  static const uint8_t p_minus_1[32] = {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  uint8_t ys[7][32] = {{0}, {1}};
  memcpy(ys[2], Y8A, 32);
  /* -y8 = p - y8 */
  unsigned borrow = 0;
  for (int i = 0; i < 32; i++) {
    int d = (int)(p_minus_1[i] + (i == 0 ? 1 : 0)) - Y8A[i] - (int)borrow;
    borrow = d < 0;
    ys[3][i] = (uint8_t)(d + (borrow ? 256 : 0));
  }
  memcpy(ys[4], p_minus_1, 32);
  memcpy(ys[5], p_minus_1, 32);
  ys[5][0] = 0xed; /* p */
  memcpy(ys[6], p_minus_1, 32);
  ys[6][0] = 0xee; /* p + 1 */
  for (int k = 0; k < 7; k++) {
    memcpy(out[2 * k], ys[k], 32);
    memcpy(out[2 * k + 1], ys[k], 32);
    out[2 * k + 1][31] |= 0x80;
  }
}

/* Each canonical entry is a point whose order divides 8 (libsodium's
 * arithmetic: doubling it three times gives the identity), so the list in
 * crypto_verify.c names what it claims. */
static void small_order_list_is_right(void **state) {
  (void)state;
  uint8_t e[14][32], seen[10][32];
  small_order_encodings(e);
  int points = 0;
  for (int k = 0; k < 10; k++) { /* 0, 1, y8, -y8, p - 1, each sign */
    uint8_t t[32];
    if (crypto_core_ed25519_add(t, e[k], IDENTITY) != 0)
      continue; /* no point with that sign */
    /* t is the canonical encoding: x = 0 with the sign bit ("-0") is the
     * same point as without it */
    int known = 0;
    for (int j = 0; j < points; j++)
      known |= memcmp(seen[j], t, 32) == 0;
    if (!known)
      memcpy(seen[points++], t, 32);
    for (int i = 0; i < 3; i++)
      assert_int_equal(crypto_core_ed25519_add(t, t, t), 0);
    assert_memory_equal(t, IDENTITY, 32);
  }
  assert_int_equal(points, 8); /* the whole torsion subgroup */
}

/* A of small order with S = r, R = [r]B: the equation holds whenever
 * [h]A = O, i.e. h = 0 mod 8 (found by trying messages). libsodium refuses
 * all of them; so must we. */
static void small_order_A(void **state) {
  (void)state;
  uint8_t e[14][32];
  small_order_encodings(e);
  int raw_accepted = 0;
  for (int k = 0; k < 14; k++) {
    for (int tries = 0; tries < 400; tries++) {
      uint8_t r[32], R[32], h[32], sig[64], msg[16];
      random_scalar(r);
      assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(R, r), 0);
      randombytes_buf(msg, sizeof msg);
      hram(h, R, e[k], msg, sizeof msg);
      if (h[0] & 7)
        continue;
      memcpy(sig, R, 32);
      memcpy(sig + 32, r, 32);
      int raw;
      assert_int_equal(both(sig, msg, sizeof msg, e[k], &raw), -1);
      raw_accepted += raw == 0;
      break;
    }
  }
#ifdef MLPROTO_HAVE_LIB25519
  assert_true(raw_accepted >= 8); /* lib25519 alone takes the canonical ones */
#endif
  (void)raw_accepted;
}

/* R = the identity and S = h a: the equation holds ([S]B - [h]A = O = R).
 * libsodium refuses a small-order R; so must we. */
static void identity_R(void **state) {
  (void)state;
  uint8_t pk[32], sk[64], a[32], h[32], S[32], sig[64], msg[40];
  crypto_sign_keypair(pk, sk);
  secret_scalar(a, sk);
  uint8_t e[14][32];
  small_order_encodings(e);
  int raw_accepted = 0;
  for (int k = 0; k < 14; k++) {
    randombytes_buf(msg, sizeof msg);
    hram(h, e[k], pk, msg, sizeof msg);
    crypto_core_ed25519_scalar_mul(S, h, a);
    memcpy(sig, e[k], 32);
    memcpy(sig + 32, S, 32);
    int raw;
    assert_int_equal(both(sig, msg, sizeof msg, pk, &raw), -1);
    raw_accepted += raw == 0;
  }
#ifdef MLPROTO_HAVE_LIB25519
  assert_int_equal(raw_accepted, 1); /* the canonical identity encoding */
#endif
  (void)raw_accepted;
}

/* A of mixed order (A + T, T of order 8) with S = r + h a, R = [r]B: the
 * cofactorless equation holds exactly when [h]T = O. libsodium accepts those
 * and refuses the others; so must we. R of mixed order fails either way. */
static void mixed_order(void **state) {
  (void)state;
  uint8_t pk[32], sk[64], a[32], T[32], A2[32];
  crypto_sign_keypair(pk, sk);
  secret_scalar(a, sk);
  memcpy(T, Y8A, 32);
  assert_int_equal(crypto_core_ed25519_add(A2, pk, T), 0);
  int accepted = 0, refused = 0;
  for (int tries = 0; tries < 200; tries++) {
    uint8_t r[32], R[32], h[32], ha[32], S[32], sig[64], msg[24];
    random_scalar(r);
    assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(R, r), 0);
    randombytes_buf(msg, sizeof msg);
    hram(h, R, A2, msg, sizeof msg);
    crypto_core_ed25519_scalar_mul(ha, h, a);
    crypto_core_ed25519_scalar_add(S, r, ha);
    memcpy(sig, R, 32);
    memcpy(sig + 32, S, 32);
    int v = both(sig, msg, sizeof msg, A2, NULL);
    assert_int_equal(v, (h[0] & 7) == 0 ? 0 : -1);
    accepted += v == 0;
    refused += v != 0;
    /* R + T with the key's own A: [S]B - [h]A = [r]B != R + T */
    uint8_t RT[32];
    assert_int_equal(crypto_core_ed25519_add(RT, R, T), 0);
    hram(h, RT, pk, msg, sizeof msg);
    crypto_core_ed25519_scalar_mul(ha, h, a);
    crypto_core_ed25519_scalar_add(S, r, ha);
    memcpy(sig, RT, 32);
    memcpy(sig + 32, S, 32);
    assert_int_equal(both(sig, msg, sizeof msg, pk, NULL), -1);
  }
  assert_true(accepted > 0 && refused > 0);
}

/* S + L (same point, non-canonical scalar) and non-canonical encodings of A
 * (y + p for y < 19). */
static void non_canonical(void **state) {
  (void)state;
  uint8_t pk[32], sk[64], sig[64], msg[50];
  crypto_sign_keypair(pk, sk);
  randombytes_buf(msg, sizeof msg);
  crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
  static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                0, 0, 0, 0x10};
  uint8_t s2[64];
  memcpy(s2, sig, 64);
  unsigned carry = 0;
  for (int i = 0; i < 32; i++) {
    unsigned v = s2[32 + i] + L[i] + carry;
    s2[32 + i] = (uint8_t)v;
    carry = v >> 8;
  }
  assert_int_equal(carry, 0);
  int raw;
  assert_int_equal(both(s2, msg, sizeof msg, pk, &raw), -1);
#ifdef MLPROTO_HAVE_LIB25519
  assert_int_equal(raw, -1); /* as does lib25519 */
#endif
  for (unsigned y = 0; y < 19; y++) {
    uint8_t A[32];
    memset(A, 0xff, 32);
    A[0] = (uint8_t)(0xed + y); /* p + y */
    A[31] = 0x7f;
    for (int sign = 0; sign < 2; sign++) {
      A[31] = (uint8_t)(0x7f | (sign << 7));
      assert_int_equal(both(sig, msg, sizeof msg, A, &raw), -1);
#ifdef MLPROTO_HAVE_LIB25519
      assert_int_equal(raw, -1); /* lib25519 refuses these itself */
#endif
    }
  }
}

/* Random keys, signatures and messages, and the tagged API. */
static void garbage_and_api(void **state) {
  (void)state;
  uint8_t pk[32], sig[64], msg[300];
  for (int i = 0; i < 300; i++) {
    randombytes_buf(pk, sizeof pk);
    randombytes_buf(sig, sizeof sig);
    size_t len = randombytes_uniform(sizeof msg);
    randombytes_buf(msg, len);
    if (i % 3 == 0)
      sig[63] &= 0x0f; /* S < L most of the time */
    assert_int_equal(both(sig, msg, len, pk, NULL), -1);
  }
  /* mlproto_sign / mlproto_verify: tag || NUL || message, any length */
  mlproto_key *k = NULL;
  assert_int_equal(mlproto_key_generate(&k, MLPROTO_KEY_SIGN), MLPROTO_OK);
  uint8_t kpk[32];
  assert_int_equal(mlproto_key_public(kpk, k), MLPROTO_OK);
  static uint8_t big[5000];
  randombytes_buf(big, sizeof big);
  const size_t lens[] = {0, 10, 2000, 5000};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(mlproto_sign(sig, k, "mentorlog/test/v1", big, lens[i]), MLPROTO_OK);
    assert_int_equal(mlproto_verify(sig, kpk, "mentorlog/test/v1", big, lens[i]), MLPROTO_OK);
    assert_int_equal(mlproto_verify(sig, kpk, "mentorlog/test/v2", big, lens[i]), MLPROTO_ERR_BAD_SIGNATURE);
    if (lens[i]) {
      big[lens[i] - 1] ^= 1;
      assert_int_equal(mlproto_verify(sig, kpk, "mentorlog/test/v1", big, lens[i]),
                       MLPROTO_ERR_BAD_SIGNATURE);
      big[lens[i] - 1] ^= 1;
    }
  }
  mlproto_key_free(k);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(engine_reported),       cmocka_unit_test(valid_and_mutated),
      cmocka_unit_test(small_order_list_is_right), cmocka_unit_test(small_order_A),
      cmocka_unit_test(identity_R),            cmocka_unit_test(mixed_order),
      cmocka_unit_test(non_canonical),         cmocka_unit_test(garbage_and_api),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
