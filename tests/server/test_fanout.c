/* test_fanout.c — the push batch's helper threads (sync-server/src/fanout.h):
 * every iteration runs exactly once, helpers really take part, several
 * callers share one pool, and 0 helpers or a NULL pool is a plain loop. */
#include "testutil.h"

#include "fanout.h"
#include "mlproto/errors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { N = 2000 };

typedef struct loop {
  _Atomic unsigned hits[N];
  _Atomic int other_thread;   /* an iteration ran off the calling thread */
  pthread_t caller;
  _Atomic unsigned spin;      /* work per iteration, so that helpers get a share */
} loop;

static void body(void *ud, size_t i) {
  loop *l = ud;
  atomic_fetch_add(&l->hits[i], 1);
  if (!pthread_equal(pthread_self(), l->caller)) atomic_store(&l->other_thread, 1);
  for (unsigned k = 0; k < atomic_load(&l->spin); k++) atomic_fetch_add(&l->spin, 0);
}

static void run_and_check(mls_fanout *f, size_t n, unsigned spin, int *helped) {
  loop *l = calloc(1, sizeof *l);
  assert_non_null(l);
  l->caller = pthread_self();
  atomic_store(&l->spin, spin);
  mls_fanout_run(f, n, body, l);
  for (size_t i = 0; i < N; i++) assert_int_equal(atomic_load(&l->hits[i]), i < n ? 1 : 0);
  if (helped) *helped = atomic_load(&l->other_thread);
  free(l);
}

static void test_serial(void **state) {
  (void)state;
  int helped = -1;
  run_and_check(NULL, N, 0, &helped);
  assert_int_equal(helped, 0);
  mls_fanout *f = NULL;
  assert_int_equal(mls_fanout_new(&f, 0), MLPROTO_OK);
  run_and_check(f, N, 0, &helped);
  assert_int_equal(helped, 0);
  run_and_check(f, 0, 0, NULL);
  mls_fanout_free(f);
  mls_fanout_free(NULL);
}

static void test_helpers_take_part(void **state) {
  (void)state;
  mls_fanout *f = NULL;
  assert_int_equal(mls_fanout_new(&f, 3), MLPROTO_OK);
  /* With 2000 slow iterations a helper must pick some up: try a few
   * times, a loaded machine may schedule the helpers late. */
  int helped = 0;
  for (int tries = 0; tries < 20 && !helped; tries++) run_and_check(f, N, 2000, &helped);
  assert_int_equal(helped, 1);
  run_and_check(f, 1, 0, NULL);
  run_and_check(f, 2, 0, NULL);
  mls_fanout_free(f);
}

typedef struct caller_arg {
  mls_fanout *f;
  int rounds;
} caller_arg;

static void *caller_main(void *arg) {
  caller_arg *a = arg;
  for (int r = 0; r < a->rounds; r++) run_and_check(a->f, (size_t)(r * 97) % N + 1, 10, NULL);
  return NULL;
}

/* Four callers at once on two helpers: every loop complete, none lost. */
static void test_concurrent_callers(void **state) {
  (void)state;
  mls_fanout *f = NULL;
  assert_int_equal(mls_fanout_new(&f, 2), MLPROTO_OK);
  pthread_t t[4];
  caller_arg a = {f, 40};
  for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, caller_main, &a), 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  mls_fanout_free(f);
}

static void test_limits(void **state) {
  (void)state;
  mls_fanout *f = (mls_fanout *)&f;
  assert_int_equal(mls_fanout_new(&f, 65), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(f);
  assert_true(mls_fanout_default_helpers() <= 15);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serial),
      cmocka_unit_test(test_helpers_take_part),
      cmocka_unit_test(test_concurrent_callers),
      cmocka_unit_test(test_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
