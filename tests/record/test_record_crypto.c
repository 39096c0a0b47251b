/* The crypto suite: typed keys, domain-tagged signatures, KEY_GRANT sealing,
 * key wrapping and Argon2id. */
#include "testutil.h"

#include "mlproto/crypto.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <string.h>

#define assert_rc(e, a) assert_string_equal(mlproto_errname(e), mlproto_errname(a))

static int setup(void **state) {
  (void)state;
  return mlproto_crypto_init() == MLPROTO_OK && mlproto_crypto_init() == MLPROTO_OK ? 0 : -1;
}

static void test_key_types(void **state) {
  (void)state;
  mlproto_key *s, *b, *c, *w, *k;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&s, MLPROTO_KEY_SIGN));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&b, MLPROTO_KEY_BOX));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&c, MLPROTO_KEY_CASE));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&w, MLPROTO_KEY_WRAP));
  assert_int_equal(mlproto_key_type_of(s), MLPROTO_KEY_SIGN);
  assert_int_equal(mlproto_key_type_of(c), MLPROTO_KEY_CASE);
  uint8_t pk[32], pk2[32], secret[32];
  assert_rc(MLPROTO_OK, mlproto_key_public(pk, s));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_key_public(pk, c));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_key_public(pk, w));
  /* Export/import reproduces the same public key. */
  mlproto_key_export(secret, s);
  assert_rc(MLPROTO_OK, mlproto_key_import(&k, MLPROTO_KEY_SIGN, secret, 32));
  assert_rc(MLPROTO_OK, mlproto_key_public(pk2, k));
  assert_memory_equal(pk, pk2, 32);
  mlproto_key_free(k);
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_key_import(&k, MLPROTO_KEY_SIGN, secret, 31));
  assert_null(k);
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_key_import(&k, (mlproto_key_type)9, secret, 32));
  sodium_memzero(secret, sizeof secret);
  /* X25519 public key from the secret. */
  mlproto_key_export(secret, b);
  uint8_t expect[32];
  crypto_scalarmult_base(expect, secret);
  assert_rc(MLPROTO_OK, mlproto_key_public(pk, b));
  assert_memory_equal(pk, expect, 32);
  mlproto_key_free(s);
  mlproto_key_free(b);
  mlproto_key_free(c);
  mlproto_key_free(w);
  mlproto_key_free(NULL);
}

static void test_sign_with_domain_tags(void **state) {
  (void)state;
  mlproto_key *s, *c;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&s, MLPROTO_KEY_SIGN));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&c, MLPROTO_KEY_CASE));
  uint8_t pk[32], sig[64];
  assert_rc(MLPROTO_OK, mlproto_key_public(pk, s));
  static const uint8_t msg[] = "hello";
  assert_rc(MLPROTO_OK, mlproto_sign(sig, s, "mentorlog/test/v1", msg, sizeof msg));
  assert_rc(MLPROTO_OK, mlproto_verify(sig, pk, "mentorlog/test/v1", msg, sizeof msg));
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_verify(sig, pk, "mentorlog/test/v2", msg, sizeof msg));
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_verify(sig, pk, "mentorlog/test/v1", msg, 3));
  /* The NUL of the tag is signed: tag||msg equals raw Ed25519 over those bytes. */
  uint8_t raw[18 + sizeof msg];
  memcpy(raw, "mentorlog/test/v1", 18);
  memcpy(raw + 18, msg, sizeof msg);
  assert_int_equal(0, crypto_sign_verify_detached(sig, raw, sizeof raw, pk));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_sign(sig, c, "t", msg, 1));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_sign(sig, s, "", msg, 1));
  /* A long message goes through the heap path. */
  static uint8_t big[5000];
  assert_rc(MLPROTO_OK, mlproto_sign(sig, s, "t", big, sizeof big));
  assert_rc(MLPROTO_OK, mlproto_verify(sig, pk, "t", big, sizeof big));
  big[4999] = 1;
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_verify(sig, pk, "t", big, sizeof big));
  mlproto_key_free(s);
  mlproto_key_free(c);
}

static void test_case_key_grant(void **state) {
  (void)state;
  mlproto_key *c, *b, *b2, *opened;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&c, MLPROTO_KEY_CASE));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&b, MLPROTO_KEY_BOX));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&b2, MLPROTO_KEY_BOX));
  uint8_t pk[32], sealed[MLPROTO_CASE_KEY_SEALEDBYTES];
  assert_rc(MLPROTO_OK, mlproto_key_public(pk, b));
  assert_rc(MLPROTO_OK, mlproto_case_key_seal(sealed, c, pk));
  assert_rc(MLPROTO_OK, mlproto_case_key_open(&opened, sealed, b));
  uint8_t x[32], y[32];
  mlproto_key_export(x, c);
  mlproto_key_export(y, opened);
  assert_memory_equal(x, y, 32);
  assert_int_equal(mlproto_key_type_of(opened), MLPROTO_KEY_CASE);
  mlproto_key_free(opened);
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED, mlproto_case_key_open(&opened, sealed, b2));
  assert_null(opened);
  sealed[40] ^= 1;
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED, mlproto_case_key_open(&opened, sealed, b));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_case_key_open(&opened, sealed, c));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_case_key_seal(sealed, b, pk));
  uint8_t small_order[32] = {0};
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_case_key_seal(sealed, c, small_order));
  mlproto_key_free(c);
  mlproto_key_free(b);
  mlproto_key_free(b2);
}

static void test_wrap(void **state) {
  (void)state;
  mlproto_key *w, *w2, *s, *u;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&w, MLPROTO_KEY_WRAP));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&w2, MLPROTO_KEY_WRAP));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&s, MLPROTO_KEY_SIGN));
  static const uint8_t pt[] = "storage key bytes";
  uint8_t ct[sizeof pt + MLPROTO_WRAP_OVERHEAD], back[sizeof pt];
  size_t cl, bl;
  assert_rc(MLPROTO_ERR_BUFFER_TOO_SMALL, mlproto_wrap(ct, sizeof ct - 1, &cl, w, "db", pt, sizeof pt));
  assert_rc(MLPROTO_OK, mlproto_wrap(ct, sizeof ct, &cl, w, "db", pt, sizeof pt));
  assert_int_equal(cl, sizeof ct);
  assert_rc(MLPROTO_OK, mlproto_unwrap(back, sizeof back, &bl, w, "db", ct, cl));
  assert_int_equal(bl, sizeof pt);
  assert_memory_equal(back, pt, sizeof pt);
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_unwrap(back, sizeof back, &bl, w, "dc", ct, cl));
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_unwrap(back, sizeof back, &bl, w2, "db", ct, cl));
  ct[0] ^= 1;
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_unwrap(back, sizeof back, &bl, w, "db", ct, cl));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_unwrap(back, sizeof back, &bl, w, "db", ct, 39));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_wrap(ct, sizeof ct, &cl, s, "db", pt, sizeof pt));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_wrap(ct, sizeof ct, &cl, w, "", pt, sizeof pt));

  uint8_t wk[MLPROTO_WRAPPED_KEY_BYTES];
  assert_rc(MLPROTO_OK, mlproto_key_wrap(wk, w, "device-sign", s));
  assert_rc(MLPROTO_OK, mlproto_key_unwrap(&u, MLPROTO_KEY_SIGN, w, "device-sign", wk));
  uint8_t p1[32], p2[32];
  assert_rc(MLPROTO_OK, mlproto_key_public(p1, s));
  assert_rc(MLPROTO_OK, mlproto_key_public(p2, u));
  assert_memory_equal(p1, p2, 32);
  mlproto_key_free(u);
  /* The type is authenticated: the same blob will not unwrap as a box key. */
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_key_unwrap(&u, MLPROTO_KEY_BOX, w, "device-sign", wk));
  assert_null(u);
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_key_unwrap(&u, MLPROTO_KEY_SIGN, w, "device-box", wk));
  mlproto_key_free(w);
  mlproto_key_free(w2);
  mlproto_key_free(s);
}

/* Row-bound storage AEAD: the AAD names purpose and row; subkeys. */
static void test_wrap_bound_and_derive(void **state) {
  (void)state;
  mlproto_key *w, *d1, *d2, *d3, *s;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&w, MLPROTO_KEY_WRAP));
  assert_rc(MLPROTO_OK, mlproto_key_generate(&s, MLPROTO_KEY_SIGN));
  assert_rc(MLPROTO_OK, mlproto_key_derive(&d1, w, "envelope"));
  assert_rc(MLPROTO_OK, mlproto_key_derive(&d2, w, "envelope"));
  assert_rc(MLPROTO_OK, mlproto_key_derive(&d3, w, "envelopf"));
  assert_int_equal(mlproto_key_type_of(d1), MLPROTO_KEY_WRAP);
  uint8_t e1[32], e2[32], e3[32], ew[32];
  mlproto_key_export(e1, d1);
  mlproto_key_export(e2, d2);
  mlproto_key_export(e3, d3);
  mlproto_key_export(ew, w);
  assert_memory_equal(e1, e2, 32);     /* deterministic */
  assert_memory_not_equal(e1, e3, 32); /* one key per context */
  assert_memory_not_equal(e1, ew, 32); /* never the parent */
  mlproto_key *x = (mlproto_key *)1;
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_key_derive(&x, w, "short"));
  assert_null(x);
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_key_derive(&x, w, "ninechars"));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_key_derive(&x, s, "envelope"));

  static const uint8_t pt[] = "an envelope";
  const uint8_t row[16] = {1, 2, 3}, other[16] = {1, 2, 4};
  uint8_t ct[sizeof pt + MLPROTO_WRAP_OVERHEAD], back[sizeof pt];
  size_t cl, bl;
  assert_rc(MLPROTO_ERR_BUFFER_TOO_SMALL,
            mlproto_wrap_bound(ct, sizeof ct - 1, &cl, d1, "rows", row, 16, pt, sizeof pt));
  assert_rc(MLPROTO_OK, mlproto_wrap_bound(ct, sizeof ct, &cl, d1, "rows", row, 16, pt, sizeof pt));
  assert_int_equal(cl, sizeof ct);
  assert_rc(MLPROTO_OK, mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rows", row, 16, ct, cl));
  assert_int_equal(bl, sizeof pt);
  assert_memory_equal(back, pt, sizeof pt);
  assert_rc(MLPROTO_OK, mlproto_unwrap_bound(back, sizeof back, &bl, d2, "rows", row, 16, ct, cl));
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED,
            mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rows", other, 16, ct, cl));
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED,
            mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rows", row, 15, ct, cl));
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED,
            mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rowz", row, 16, ct, cl));
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED,
            mlproto_unwrap_bound(back, sizeof back, &bl, d3, "rows", row, 16, ct, cl));
  /* not the same AAD as a plain wrap of that purpose */
  assert_rc(MLPROTO_ERR_WRONG_PASSPHRASE, mlproto_unwrap(back, sizeof back, &bl, d1, "rows", ct, cl));
  ct[cl - 1] ^= 1;
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED,
            mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rows", row, 16, ct, cl));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_unwrap_bound(back, sizeof back, &bl, d1, "rows", row, 16, ct, 39));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT,
            mlproto_wrap_bound(ct, sizeof ct, &cl, d1, "rows", row, 0, pt, sizeof pt));
  uint8_t big[MLPROTO_WRAP_BIND_MAX + 1] = {0};
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT,
            mlproto_wrap_bound(ct, sizeof ct, &cl, d1, "rows", big, sizeof big, pt, sizeof pt));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_wrap_bound(ct, sizeof ct, &cl, s, "rows", row, 16, pt, sizeof pt));
  mlproto_key_free(w);
  mlproto_key_free(d1);
  mlproto_key_free(d2);
  mlproto_key_free(d3);
  mlproto_key_free(s);
}

static void test_argon2id(void **state) {
  (void)state;
  mlproto_kdf_params p;
  mlproto_kdf_params_interactive(&p);
  assert_int_equal(p.opslimit, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  /* Small parameters keep the test fast; the function is the same. */
  p.opslimit = 1;
  p.memlimit = 64 * 1024;
  mlproto_key *k1, *k2, *k3;
  assert_rc(MLPROTO_OK, mlproto_kdf_argon2id(&k1, "correct horse", 13, &p));
  assert_rc(MLPROTO_OK, mlproto_kdf_argon2id(&k2, "correct horse", 13, &p));
  assert_rc(MLPROTO_OK, mlproto_kdf_argon2id(&k3, "correct horsf", 13, &p));
  assert_int_equal(mlproto_key_type_of(k1), MLPROTO_KEY_WRAP);
  uint8_t a[32], b[32], c[32];
  mlproto_key_export(a, k1);
  mlproto_key_export(b, k2);
  mlproto_key_export(c, k3);
  assert_memory_equal(a, b, 32);
  assert_memory_not_equal(a, c, 32);
  /* Known answer computed by libsodium directly. */
  uint8_t ref[32];
  assert_int_equal(0, crypto_pwhash(ref, 32, "correct horse", 13, p.salt, 1, 64 * 1024,
                                    crypto_pwhash_ALG_ARGON2ID13));
  assert_memory_equal(a, ref, 32);
  mlproto_key_free(k1);
  mlproto_key_free(k2);
  mlproto_key_free(k3);
  mlproto_key *k;
  p.opslimit = 0;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, mlproto_kdf_argon2id(&k, "x", 1, &p));
  p.opslimit = 1;
  p.memlimit = MLPROTO_KDF_MEMLIMIT_MAX + 1;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, mlproto_kdf_argon2id(&k, "x", 1, &p));
  p.memlimit = 64 * 1024;
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_kdf_argon2id(&k, "x", 0, &p));
  assert_null(k);
}

/* Device fingerprints: the known answer was computed independently
 * (Python's hashlib and a Crockford base32 of the first 80 bits). */
static void test_device_fingerprint(void **state) {
  (void)state;
  uint8_t sp[32], bp[32];
  memset(sp, 1, 32);
  memset(bp, 2, 32);
  char f[MLPROTO_FINGERPRINT_LEN + 1];
  assert_int_equal(mlproto_device_fingerprint(f, sp, bp), MLPROTO_OK);
  assert_string_equal(f, "DHYJ-A45N-EHAD-M9CW");
  assert_int_equal(strlen(f), MLPROTO_FINGERPRINT_LEN);
  /* the two keys are not interchangeable */
  char g[MLPROTO_FINGERPRINT_LEN + 1];
  assert_int_equal(mlproto_device_fingerprint(g, bp, sp), MLPROTO_OK);
  assert_string_not_equal(f, g);
  assert_true(mlproto_fingerprint_equal(f, "dhyj a45n ehad m9cw"));
  assert_true(mlproto_fingerprint_equal(f, "DHYJA45NEHADM9CW"));
  assert_true(mlproto_fingerprint_equal("0000-1111-0000-1111", "oooo-iiii-OOOO-llll"));
  assert_false(mlproto_fingerprint_equal(f, "DHYJ-A45N-EHAD-M9CX"));
  assert_false(mlproto_fingerprint_equal(f, "DHYJ-A45N-EHAD-M9C"));
  assert_false(mlproto_fingerprint_equal(f, "DHYJ-A45N-EHAD-M9CWW"));
  assert_false(mlproto_fingerprint_equal(f, "DHYJ-A45N-EHAD-M9CU")); /* U is not a symbol */
  assert_false(mlproto_fingerprint_equal(NULL, f));
  assert_int_equal(mlproto_device_fingerprint(f, NULL, bp), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_string_equal(f, "");
}

static void test_sizes(void **state) {
  (void)state;
  assert_int_equal(mlproto_sign_bytes(), 64);
  assert_int_equal(mlproto_sign_publickeybytes(), 32);
  assert_int_equal(mlproto_key_secretbytes(), 32);
  assert_int_equal(mlproto_case_key_sealedbytes(), 80);
  assert_int_equal(mlproto_wrapped_key_bytes(), 72);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_types),      cmocka_unit_test(test_sign_with_domain_tags),
      cmocka_unit_test(test_case_key_grant), cmocka_unit_test(test_wrap),
      cmocka_unit_test(test_wrap_bound_and_derive),
      cmocka_unit_test(test_argon2id),       cmocka_unit_test(test_sizes),
      cmocka_unit_test(test_device_fingerprint),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
