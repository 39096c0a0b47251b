/* Hybrid logical clock: monotonicity, merging, counter overflow, drift. */
#include "testutil.h"

#include "mlproto/errors.h"
#include "mlproto/hlc.h"

#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static void test_hlc_monotonic(void **state) {
  (void)state;
  mlproto_hlc_state s;
  assert_int_equal(mlproto_hlc_init(&s, 0, MLPROTO_HLC_DEFAULT_MAX_DRIFT_MS), MLPROTO_OK);
  mlproto_hlc a, b, c, d;
  assert_int_equal(mlproto_hlc_now(&s, T0, &a), MLPROTO_OK);
  assert_int_equal(MLPROTO_HLC_MS(a), T0);
  assert_int_equal(MLPROTO_HLC_COUNTER(a), 0);
  /* Same millisecond: the counter orders events. */
  assert_int_equal(mlproto_hlc_now(&s, T0, &b), MLPROTO_OK);
  assert_int_equal(MLPROTO_HLC_MS(b), T0);
  assert_int_equal(MLPROTO_HLC_COUNTER(b), 1);
  /* The wall clock steps back 5 s: the HLC does not. */
  assert_int_equal(mlproto_hlc_now(&s, T0 - 5000, &c), MLPROTO_OK);
  assert_true(c > b);
  assert_int_equal(MLPROTO_HLC_MS(c), T0);
  assert_int_equal(MLPROTO_HLC_COUNTER(c), 2);
  /* Time moves on: counter resets. */
  assert_int_equal(mlproto_hlc_now(&s, T0 + 1, &d), MLPROTO_OK);
  assert_int_equal(d, MLPROTO_HLC_MAKE(T0 + 1, 0));
  mlproto_hlc prev = d;
  for (int i = 0; i < 10000; i++) {
    mlproto_hlc x;
    assert_int_equal(mlproto_hlc_now(&s, T0 + (i % 7) - 3, &x), MLPROTO_OK);
    assert_true(x > prev);
    prev = x;
  }
  assert_int_equal(s.last, prev);
}

static void test_hlc_update_merges(void **state) {
  (void)state;
  mlproto_hlc_state s;
  assert_int_equal(mlproto_hlc_init(&s, MLPROTO_HLC_MAKE(T0, 3), 60000), MLPROTO_OK);
  mlproto_hlc out;
  /* Remote ahead by 10 s (within drift): adopt its ms, counter + 1. */
  mlproto_hlc remote = MLPROTO_HLC_MAKE(T0 + 10000, 7);
  assert_int_equal(mlproto_hlc_update(&s, remote, T0, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 10000, 8));
  /* A later local event is still after the remote one. */
  assert_int_equal(mlproto_hlc_now(&s, T0 + 1, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 10000, 9));
  /* Remote behind: local wins. */
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0, 500), T0 + 2, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 10000, 10));
  /* Physical clock ahead of both: physical wins with counter 0. */
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0 + 20000, 9), T0 + 30000, &out),
                   MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 30000, 0));
  /* Same ms as local with a larger counter: max counter + 1. */
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0 + 30000, 41), T0 + 30000, NULL),
                   MLPROTO_OK);
  assert_int_equal(s.last, MLPROTO_HLC_MAKE(T0 + 30000, 42));
}

static void test_hlc_counter_overflow(void **state) {
  (void)state;
  mlproto_hlc_state s;
  assert_int_equal(mlproto_hlc_init(&s, MLPROTO_HLC_MAKE(T0, 0xFFFE), 1000), MLPROTO_OK);
  mlproto_hlc out;
  assert_int_equal(mlproto_hlc_now(&s, T0, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0, 0xFFFF));
  /* Saturated: the ms part advances instead of wrapping. */
  assert_int_equal(mlproto_hlc_now(&s, T0, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 1, 0));
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0 + 1, 0xFFFF), T0, &out), MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 2, 0));
  /* The very end of the 64-bit space is an error, state untouched. */
  assert_int_equal(mlproto_hlc_init(&s, UINT64_MAX, 1000), MLPROTO_OK);
  assert_int_equal(mlproto_hlc_now(&s, T0, &out), MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(s.last, UINT64_MAX);
  assert_int_equal(mlproto_hlc_init(&s, UINT64_MAX - 1, 1000), MLPROTO_OK);
  assert_int_equal(mlproto_hlc_now(&s, T0, &out), MLPROTO_OK);
  assert_int_equal(out, UINT64_MAX);
  /* Physical time out of the 48-bit range. */
  assert_int_equal(mlproto_hlc_init(&s, 0, 1000), MLPROTO_OK);
  assert_int_equal(mlproto_hlc_now(&s, -1, &out), MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(mlproto_hlc_now(&s, MLPROTO_HLC_MAX_MS + 1, &out), MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(mlproto_hlc_now(&s, MLPROTO_HLC_MAX_MS, &out), MLPROTO_OK);
  assert_int_equal(MLPROTO_HLC_MS(out), MLPROTO_HLC_MAX_MS);
}

static void test_hlc_drift_refused(void **state) {
  (void)state;
  mlproto_hlc_state s;
  assert_int_equal(mlproto_hlc_init(&s, MLPROTO_HLC_MAKE(T0, 5), 60000), MLPROTO_OK);
  mlproto_hlc out = 99;
  /* Exactly at the limit is accepted; one ms beyond is refused. */
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0 + 60002, 0), T0 + 1, &out),
                   MLPROTO_ERR_CLOCK_DRIFT);
  assert_int_equal(out, 99);
  assert_int_equal(s.last, MLPROTO_HLC_MAKE(T0, 5)); /* not poisoned */
  assert_int_equal(mlproto_hlc_update(&s, UINT64_MAX, T0 + 1, &out), MLPROTO_ERR_CLOCK_DRIFT);
  assert_int_equal(s.last, MLPROTO_HLC_MAKE(T0, 5));
  assert_int_equal(mlproto_hlc_update(&s, MLPROTO_HLC_MAKE(T0 + 60001, 0), T0 + 1, &out),
                   MLPROTO_OK);
  assert_int_equal(out, MLPROTO_HLC_MAKE(T0 + 60001, 1));
  assert_int_equal(mlproto_hlc_init(&s, 0, -1), MLPROTO_ERR_INVALID_ARGUMENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hlc_monotonic),
      cmocka_unit_test(test_hlc_update_merges),
      cmocka_unit_test(test_hlc_counter_overflow),
      cmocka_unit_test(test_hlc_drift_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
