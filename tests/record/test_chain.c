/* The per-author chain rule (mlproto/chain.h): every verdict, on real built
 * and verified records, for the device's own chain and another author's;
 * the stable error codes the server answers with. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/chain.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define F sample_fixture

#define assert_rc(expected, actual) assert_string_equal(mlproto_errname(expected), mlproto_errname(actual))
#define assert_verdict(expected, actual) \
  assert_string_equal(mlproto_chain_verdict_name(expected), mlproto_chain_verdict_name(actual))

/* A verified CONTACT of f's author at seq with prev. */
static mlproto_record *rec(const fixture *f, uint64_t seq, const uint8_t prev[32]) {
  uint8_t *env = NULL, hash[32];
  size_t len;
  assert_rc(MLPROTO_OK, sample_build(&env, &len, hash, f, MLPROTO_KIND_CONTACT, seq, prev, NULL, NULL));
  mlproto_record *r = NULL;
  assert_rc(MLPROTO_OK, mlproto_record_verify(&r, env, len));
  assert_memory_equal(r->hash, hash, 32);
  mlproto_free(env);
  return r;
}

static const uint8_t zero[32];

static void author_of(uint8_t pk[32], const mlproto_key *k) {
  assert_rc(MLPROTO_OK, mlproto_key_public(pk, k));
}

static void test_accept_and_advance(void **state) {
  (void)state;
  uint8_t pk[32];
  author_of(pk, F.author);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk);
  assert_int_equal(tip.seq, 0);
  assert_memory_equal(tip.hash, zero, 32);
  mlproto_record *r1 = rec(&F, 1, zero);
  assert_verdict(MLPROTO_CHAIN_ACCEPT, mlproto_chain_check(&tip, NULL, r1));
  mlproto_chain_advance(&tip, r1);
  assert_int_equal(tip.seq, 1);
  assert_memory_equal(tip.hash, r1->hash, 32);
  mlproto_record *r2 = rec(&F, 2, r1->hash);
  assert_verdict(MLPROTO_CHAIN_ACCEPT, mlproto_chain_check(&tip, NULL, r2));
  /* held_hash is only read for seq <= tip: it cannot change an ACCEPT. */
  assert_verdict(MLPROTO_CHAIN_ACCEPT, mlproto_chain_check(&tip, zero, r2));
  mlproto_chain_advance(&tip, r2);
  assert_int_equal(tip.seq, 2);
  assert_memory_equal(tip.hash, r2->hash, 32);
  mlproto_record_free(r1);
  mlproto_record_free(r2);
}

static void test_gap(void **state) {
  (void)state;
  uint8_t pk[32];
  author_of(pk, F.author);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk);
  mlproto_record *r1 = rec(&F, 1, zero);
  uint8_t any[32];
  memset(any, 0x5a, 32);
  mlproto_record *r3 = rec(&F, 3, any);
  /* From the empty chain, seq 2 and seq 3 are gaps (prev is not looked at). */
  mlproto_record *r2 = rec(&F, 2, r1->hash);
  assert_verdict(MLPROTO_CHAIN_GAP, mlproto_chain_check(&tip, NULL, r2));
  assert_verdict(MLPROTO_CHAIN_GAP, mlproto_chain_check(&tip, NULL, r3));
  mlproto_chain_advance(&tip, r1);
  assert_verdict(MLPROTO_CHAIN_GAP, mlproto_chain_check(&tip, NULL, r3));
  assert_rc(MLPROTO_ERR_SEQ_GAP, mlproto_chain_error(MLPROTO_CHAIN_GAP));
  mlproto_record_free(r1);
  mlproto_record_free(r2);
  mlproto_record_free(r3);
}

static void test_bad_prev(void **state) {
  (void)state;
  uint8_t pk[32];
  author_of(pk, F.author);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk);
  mlproto_record *r1 = rec(&F, 1, zero);
  mlproto_chain_advance(&tip, r1);
  uint8_t wrong[32];
  memcpy(wrong, r1->hash, 32);
  wrong[31] ^= 1; /* one bit off */
  mlproto_record *r2 = rec(&F, 2, wrong);
  assert_verdict(MLPROTO_CHAIN_BAD_PREV, mlproto_chain_check(&tip, NULL, r2));
  assert_rc(MLPROTO_ERR_PREV_MISMATCH, mlproto_chain_error(MLPROTO_CHAIN_BAD_PREV));
  /* A tip that holds another record at seq 1 (e.g. the server's, after a
   * restored backup): the honest next record does not link to it. */
  mlproto_record *r2ok = rec(&F, 2, r1->hash);
  memset(tip.hash, 0x11, 32);
  assert_verdict(MLPROTO_CHAIN_BAD_PREV, mlproto_chain_check(&tip, NULL, r2ok));
  mlproto_record_free(r1);
  mlproto_record_free(r2);
  mlproto_record_free(r2ok);
}

static void test_duplicate_fork_need_held(void **state) {
  (void)state;
  uint8_t pk[32];
  author_of(pk, F.author);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk);
  mlproto_record *r1 = rec(&F, 1, zero), *r1b = rec(&F, 1, zero);
  mlproto_chain_advance(&tip, r1);
  mlproto_record *r2 = rec(&F, 2, r1->hash), *r2b = rec(&F, 2, r1->hash);
  assert_memory_not_equal(r2->hash, r2b->hash, 32); /* fresh ids, salts, nonces */
  mlproto_chain_advance(&tip, r2);

  /* At the tip's seq the tip's hash decides. */
  assert_verdict(MLPROTO_CHAIN_DUPLICATE, mlproto_chain_check(&tip, NULL, r2));
  assert_verdict(MLPROTO_CHAIN_FORK, mlproto_chain_check(&tip, NULL, r2b));
  /* ... unless the caller gives the hash it holds there. */
  assert_verdict(MLPROTO_CHAIN_FORK, mlproto_chain_check(&tip, r2b->hash, r2));
  assert_verdict(MLPROTO_CHAIN_DUPLICATE, mlproto_chain_check(&tip, r2b->hash, r2b));

  /* Below the tip only the held hash can decide. */
  assert_verdict(MLPROTO_CHAIN_NEED_HELD, mlproto_chain_check(&tip, NULL, r1));
  assert_verdict(MLPROTO_CHAIN_NEED_HELD, mlproto_chain_check(&tip, NULL, r1b));
  assert_verdict(MLPROTO_CHAIN_DUPLICATE, mlproto_chain_check(&tip, r1->hash, r1));
  assert_verdict(MLPROTO_CHAIN_FORK, mlproto_chain_check(&tip, r1->hash, r1b));

  assert_rc(MLPROTO_OK, mlproto_chain_error(MLPROTO_CHAIN_DUPLICATE));
  assert_rc(MLPROTO_OK, mlproto_chain_error(MLPROTO_CHAIN_ACCEPT));
  assert_rc(MLPROTO_ERR_FORK, mlproto_chain_error(MLPROTO_CHAIN_FORK));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_chain_error(MLPROTO_CHAIN_NEED_HELD));
  mlproto_record_free(r1);
  mlproto_record_free(r1b);
  mlproto_record_free(r2);
  mlproto_record_free(r2b);
}

/* A device walking the chain of another device of its mentor (records
 * pulled from the server): same rule, the tip names the other author, and
 * its own records do not fit that chain. */
static void test_another_authors_chain(void **state) {
  (void)state;
  fixture other = F;
  mlproto_key *kb = NULL;
  assert_rc(MLPROTO_OK, mlproto_key_generate(&kb, MLPROTO_KEY_SIGN));
  other.author = kb;
  uint8_t pk_b[32];
  author_of(pk_b, kb);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk_b);
  uint8_t prev[32] = {0};
  for (uint64_t seq = 1; seq <= 5; seq++) {
    mlproto_record *r = rec(&other, seq, prev);
    assert_verdict(MLPROTO_CHAIN_ACCEPT, mlproto_chain_check(&tip, NULL, r));
    mlproto_chain_advance(&tip, r);
    memcpy(prev, r->hash, 32);
    mlproto_record_free(r);
  }
  assert_int_equal(tip.seq, 5);
  /* The walking device's own record at the right seq and prev: not B's. */
  mlproto_record *mine = rec(&F, 6, prev);
  assert_verdict(MLPROTO_CHAIN_WRONG_AUTHOR, mlproto_chain_check(&tip, NULL, mine));
  assert_verdict(MLPROTO_CHAIN_WRONG_AUTHOR, mlproto_chain_check(&tip, mine->hash, mine));
  assert_rc(MLPROTO_ERR_AUTHOR_MISMATCH, mlproto_chain_error(MLPROTO_CHAIN_WRONG_AUTHOR));
  mlproto_record *next = rec(&other, 6, prev);
  assert_verdict(MLPROTO_CHAIN_ACCEPT, mlproto_chain_check(&tip, NULL, next));
  mlproto_record_free(mine);
  mlproto_record_free(next);
  mlproto_key_free(kb);
}

static void test_invalid_and_edges(void **state) {
  (void)state;
  uint8_t pk[32];
  author_of(pk, F.author);
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, pk);
  mlproto_record *r1 = rec(&F, 1, zero);
  assert_verdict(MLPROTO_CHAIN_INVALID, mlproto_chain_check(NULL, NULL, r1));
  assert_verdict(MLPROTO_CHAIN_INVALID, mlproto_chain_check(&tip, NULL, NULL));
  /* An empty chain with a hash: the caller's tip is corrupt. */
  tip.hash[0] = 1;
  assert_verdict(MLPROTO_CHAIN_INVALID, mlproto_chain_check(&tip, NULL, r1));
  tip.hash[0] = 0;
  /* seq 0 never verifies; a hand-made record with it is refused, not wrapped. */
  mlproto_record z = *r1;
  z.seq = 0;
  z.disclosed = NULL;
  z.sealed = NULL;
  assert_verdict(MLPROTO_CHAIN_INVALID, mlproto_chain_check(&tip, NULL, &z));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_chain_error(MLPROTO_CHAIN_INVALID));
  /* A tip at the largest seq: nothing can follow it, tip + 1 must not wrap to 0. */
  tip.seq = UINT64_MAX;
  memset(tip.hash, 0x22, 32);
  assert_verdict(MLPROTO_CHAIN_NEED_HELD, mlproto_chain_check(&tip, NULL, r1));
  z.seq = UINT64_MAX;
  assert_verdict(MLPROTO_CHAIN_FORK, mlproto_chain_check(&tip, NULL, &z));
  /* Unknown verdicts map to INVALID_ARGUMENT and "unknown". */
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_chain_error((mlproto_chain_verdict)99));
  assert_string_equal(mlproto_chain_verdict_name((mlproto_chain_verdict)99), "unknown");
  assert_string_equal(mlproto_chain_verdict_name(MLPROTO_CHAIN_BAD_PREV), "bad_prev");
  assert_string_equal(mlproto_chain_verdict_name(MLPROTO_CHAIN_INVALID), "invalid");
  /* NULL arguments to the helpers are no-ops. */
  mlproto_chain_advance(NULL, r1);
  mlproto_chain_advance(&tip, NULL);
  assert_int_equal(tip.seq, UINT64_MAX);
  mlproto_chain_tip_init(NULL, pk);
  mlproto_record_free(r1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accept_and_advance),
      cmocka_unit_test(test_gap),
      cmocka_unit_test(test_bad_prev),
      cmocka_unit_test(test_duplicate_fork_need_held),
      cmocka_unit_test(test_another_authors_chain),
      cmocka_unit_test(test_invalid_and_edges),
  };
  return cmocka_run_group_tests(tests, sample_group_setup, sample_group_teardown);
}
