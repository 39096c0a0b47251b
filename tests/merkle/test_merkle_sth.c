/* Signed tree heads (sign, verify, tamper with every field, encoding,
 * split view, consistency between heads) and log entries. Expected bytes
 * were computed independently (Python hashlib / struct). */
#include "testutil.h"

#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct keys {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t *sk; /* sodium_malloc'd */
  uint8_t other_pk[crypto_sign_PUBLICKEYBYTES];
} keys;

static int setup(void **state) {
  assert_true(sodium_init() >= 0);
  keys *k = calloc(1, sizeof *k);
  assert_non_null(k);
  k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  assert_non_null(k->sk);
  uint8_t seed[crypto_sign_SEEDBYTES], osk[crypto_sign_SECRETKEYBYTES];
  memset(seed, 7, sizeof seed);
  assert_int_equal(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
  seed[0] = 8;
  assert_int_equal(crypto_sign_seed_keypair(k->other_pk, osk, seed), 0);
  sodium_memzero(osk, sizeof osk);
  sodium_memzero(seed, sizeof seed);
  *state = k;
  return 0;
}

static int teardown(void **state) {
  keys *k = *state;
  sodium_free(k->sk);
  free(k);
  return 0;
}

static void fill_root(uint8_t root[32]) {
  for (int i = 0; i < 32; i++)
    root[i] = (uint8_t)i;
}

static void signed_bytes_layout(void **state) {
  (void)state;
  mlproto_sth sth = {.size = 5, .timestamp_ms = UINT64_C(1700000000123)};
  fill_root(sth.root);
  uint8_t got[MLPROTO_STH_SIGNED_BYTES];
  mlproto_sth_signed_bytes(got, &sth);
  size_t len;
  uint8_t *want = tu_unhex("6d656e746f726c6f672f7374682f7631000000000000000005000102030405060708"
                           "090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0000018bcfe5687b",
                           &len);
  assert_non_null(want);
  assert_int_equal(len, 65);
  assert_memory_equal(got, want, 65);
  free(want);
}

static void sign_verify_tamper(void **state) {
  keys *k = *state;
  mlproto_sth sth = {.size = 1000, .timestamp_ms = UINT64_C(1767225600000)};
  fill_root(sth.root);
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_OK);
  assert_int_equal(mlproto_sth_verify(&sth, k->pk), MLPROTO_OK);
  /* The signature is plain Ed25519 over the documented bytes. */
  uint8_t msg[MLPROTO_STH_SIGNED_BYTES];
  mlproto_sth_signed_bytes(msg, &sth);
  assert_int_equal(crypto_sign_verify_detached(sth.signature, msg, sizeof msg, k->pk), 0);

  assert_int_equal(mlproto_sth_verify(&sth, k->other_pk), MLPROTO_ERR_STH_INVALID);
  mlproto_sth t = sth;
  t.size++;
  assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
  t = sth;
  t.timestamp_ms--;
  assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
  for (unsigned bit = 0; bit < 256; bit++) {
    t = sth;
    t.root[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
  }
  for (unsigned bit = 0; bit < 512; bit++) {
    t = sth;
    t.signature[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
  }
  for (unsigned bit = 0; bit < 64; bit++) {
    t = sth;
    t.size ^= UINT64_C(1) << bit;
    assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
    t = sth;
    t.timestamp_ms ^= UINT64_C(1) << bit;
    assert_int_equal(mlproto_sth_verify(&t, k->pk), MLPROTO_ERR_STH_INVALID);
  }
}

static void sth_ranges(void **state) {
  keys *k = *state;
  mlproto_sth sth = {.size = MLPROTO_MERKLE_MAX_SIZE + 1, .timestamp_ms = 1};
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_ERR_TREE_RANGE);
  /* A validly signed head of an impossible size is still refused. */
  uint8_t msg[MLPROTO_STH_SIGNED_BYTES];
  mlproto_sth_signed_bytes(msg, &sth);
  assert_int_equal(crypto_sign_detached(sth.signature, NULL, msg, sizeof msg, k->sk), 0);
  assert_int_equal(mlproto_sth_verify(&sth, k->pk), MLPROTO_ERR_STH_INVALID);

  sth.size = MLPROTO_MERKLE_MAX_SIZE;
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_OK);
  assert_int_equal(mlproto_sth_verify(&sth, k->pk), MLPROTO_OK);

  /* The empty tree has exactly one root. */
  sth.size = 0;
  mlproto_merkle_empty_root(sth.root);
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_OK);
  assert_int_equal(mlproto_sth_verify(&sth, k->pk), MLPROTO_OK);
  sth.root[0] ^= 1;
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_OK);
  assert_int_equal(mlproto_sth_verify(&sth, k->pk), MLPROTO_ERR_STH_INVALID);
}

static void sth_encoding(void **state) {
  keys *k = *state;
  mlproto_sth sth = {.size = 77, .timestamp_ms = UINT64_C(0x0102030405060708)};
  fill_root(sth.root);
  assert_int_equal(mlproto_sth_sign(&sth, k->sk), MLPROTO_OK);
  uint8_t enc[MLPROTO_STH_ENCODED_BYTES];
  mlproto_sth_encode(enc, &sth);
  assert_int_equal(enc[7], 77);
  assert_int_equal(enc[8 + 31], 31);
  assert_int_equal(enc[40], 1);
  assert_int_equal(enc[47], 8);
  assert_memory_equal(enc + 48, sth.signature, 64);
  mlproto_sth d;
  memset(&d, 0, sizeof d);
  assert_int_equal(mlproto_sth_decode(&d, enc, sizeof enc), MLPROTO_OK);
  assert_int_equal(d.size, sth.size);
  assert_int_equal(d.timestamp_ms, sth.timestamp_ms);
  assert_memory_equal(d.root, sth.root, 32);
  assert_memory_equal(d.signature, sth.signature, 64);
  assert_int_equal(mlproto_sth_verify(&d, k->pk), MLPROTO_OK);
  assert_int_equal(mlproto_sth_decode(&d, enc, sizeof enc - 1), MLPROTO_ERR_FIELD_SIZE);
  uint8_t big[MLPROTO_STH_ENCODED_BYTES + 1];
  memcpy(big, enc, sizeof enc);
  assert_int_equal(mlproto_sth_decode(&d, big, sizeof big), MLPROTO_ERR_FIELD_SIZE);
  enc[0] = 0x80;
  enc[7] = 1;
  assert_int_equal(mlproto_sth_decode(&d, enc, sizeof enc), MLPROTO_ERR_TREE_RANGE);
}

static void split_view_and_consistency(void **state) {
  keys *k = *state;
  mlproto_merkle_mem *mem;
  assert_int_equal(mlproto_merkle_mem_new(&mem, 64), MLPROTO_OK);
  mlproto_sth heads[21];
  memset(heads, 0, sizeof heads);
  mlproto_merkle_empty_root(heads[0].root);
  heads[0].size = 0;
  for (uint8_t i = 0; i < 20; i++) {
    uint8_t leaf[32];
    mlproto_merkle_leaf_hash(leaf, &i, 1);
    assert_int_equal(mlproto_merkle_mem_append(mem, leaf), MLPROTO_OK);
    heads[i + 1].size = i + 1u;
    heads[i + 1].timestamp_ms = 1000u + i;
    mlproto_merkle_mem_root(mem, heads[i + 1].root);
    assert_int_equal(mlproto_sth_sign(&heads[i + 1], k->sk), MLPROTO_OK);
  }
  /* Another history of size 7: the same leaves but the last. */
  mlproto_sth forked = heads[7];
  {
    uint8_t leaves[7][32];
    for (uint8_t i = 0; i < 7; i++)
      mlproto_merkle_leaf_hash(leaves[i], &i, 1);
    leaves[6][0] ^= 1;
    assert_int_equal(mlproto_merkle_root(forked.root, (const uint8_t(*)[32])leaves, 7),
                     MLPROTO_OK);
    forked.timestamp_ms = 5;
    assert_int_equal(mlproto_sth_sign(&forked, k->sk), MLPROTO_OK);
    assert_int_equal(mlproto_sth_verify(&forked, k->pk), MLPROTO_OK);
  }
  assert_int_equal(mlproto_sth_check_split_view(&heads[7], &forked), MLPROTO_ERR_SPLIT_VIEW);
  assert_int_equal(mlproto_sth_check_split_view(&forked, &heads[7]), MLPROTO_ERR_SPLIT_VIEW);
  assert_int_equal(mlproto_sth_check_split_view(&heads[7], &heads[7]), MLPROTO_OK);
  assert_int_equal(mlproto_sth_check_split_view(&heads[7], &heads[8]), MLPROTO_OK);
  mlproto_sth later = heads[7];
  later.timestamp_ms += 60000; /* re-signed later, same tree: no split view */
  assert_int_equal(mlproto_sth_check_split_view(&heads[7], &later), MLPROTO_OK);

  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len;
  for (unsigned a = 0; a <= 20; a++)
    for (unsigned b = a; b <= 20; b++) {
      len = 0;
      if (a > 0)
        assert_int_equal(mlproto_merkle_consistency_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF,
                                                          a, b, mlproto_merkle_mem_node, mem),
                         MLPROTO_OK);
      assert_int_equal(mlproto_sth_check_consistency(&heads[a], &heads[b],
                                                     (const uint8_t(*)[32])proof, len),
                       MLPROTO_OK);
      if (a < b)
        assert_int_equal(mlproto_sth_check_consistency(&heads[b], &heads[a],
                                                       (const uint8_t(*)[32])proof, len),
                         MLPROTO_ERR_TREE_RANGE);
      if (a >= 1 && a <= 7 && b >= 7 && a != b) {
        /* The forked head is consistent with nothing that the real one is. */
        const mlproto_sth *o = a == 7 ? &forked : &heads[a], *n = b == 7 ? &forked : &heads[b];
        if (a == 7 || b == 7)
          assert_int_equal(
              mlproto_sth_check_consistency(o, n, (const uint8_t(*)[32])proof, len),
              MLPROTO_ERR_PROOF_INVALID);
      }
    }
  assert_int_equal(mlproto_sth_check_consistency(&heads[7], &forked, NULL, 0),
                   MLPROTO_ERR_SPLIT_VIEW);
  assert_int_equal(mlproto_sth_check_consistency(&heads[0], &heads[5],
                                                 (const uint8_t(*)[32])proof, 1),
                   MLPROTO_ERR_PROOF_LENGTH);
  mlproto_merkle_mem_free(mem);
}

static void log_entries(void **state) {
  (void)state;
  mlproto_log_entry e = {.type = MLPROTO_LOG_DEVICE_RECORD,
                         .received_at_ms = UINT64_C(1700000000000)};
  fill_root(e.record_hash);
  uint8_t enc[MLPROTO_LOG_ENTRY_BYTES], leaf[32];
  assert_int_equal(mlproto_log_entry_encode(enc, &e), MLPROTO_OK);
  size_t len;
  uint8_t *want = tu_unhex("010000018bcfe56800000102030405060708090a0b0c0d0e0f101112131415161718"
                           "191a1b1c1d1e1f",
                           &len);
  assert_non_null(want);
  assert_int_equal(len, 41);
  assert_memory_equal(enc, want, 41);
  free(want);
  assert_int_equal(mlproto_log_entry_leaf_hash(leaf, &e), MLPROTO_OK);
  want = tu_unhex("c9bf11f567c6c24f344a59e7422ca50778db58877bcfaf7426476609a02017ee", &len);
  assert_non_null(want);
  assert_memory_equal(leaf, want, 32);
  free(want);

  mlproto_log_entry d;
  assert_int_equal(mlproto_log_entry_decode(&d, enc, sizeof enc), MLPROTO_OK);
  assert_int_equal(d.type, MLPROTO_LOG_DEVICE_RECORD);
  assert_int_equal(d.received_at_ms, e.received_at_ms);
  assert_memory_equal(d.record_hash, e.record_hash, 32);
  assert_int_equal(mlproto_log_entry_decode(&d, enc, 40), MLPROTO_ERR_FIELD_SIZE);
  assert_int_equal(mlproto_log_entry_decode(&d, enc, 42), MLPROTO_ERR_FIELD_SIZE);
  for (int t = 0; t < 256; t++) {
    enc[0] = (uint8_t)t;
    int rc = mlproto_log_entry_decode(&d, enc, sizeof enc);
    assert_int_equal(rc, (t == 1 || t == 2) ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE);
  }
  e.type = MLPROTO_LOG_SERVER_EVENT;
  uint8_t leaf2[32];
  assert_int_equal(mlproto_log_entry_leaf_hash(leaf2, &e), MLPROTO_OK);
  assert_memory_not_equal(leaf, leaf2, 32); /* the type is committed */
  e.type = (mlproto_log_entry_type)3;
  assert_int_equal(mlproto_log_entry_encode(enc, &e), MLPROTO_ERR_FIELD_RANGE);
  assert_int_equal(mlproto_log_entry_leaf_hash(leaf2, &e), MLPROTO_ERR_FIELD_RANGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(signed_bytes_layout),
      cmocka_unit_test(sign_verify_tamper),
      cmocka_unit_test(sth_ranges),
      cmocka_unit_test(sth_encoding),
      cmocka_unit_test(split_view_and_consistency),
      cmocka_unit_test(log_entries),
  };
  return cmocka_run_group_tests_name("merkle_sth", tests, setup, teardown);
}
