/* test_push_order.c — the order of concurrent pushes of one device
 * (sync-server/src/push_order.h): registration limits, a push with nothing
 * to wait for returns at once, a waiting push wakes when its predecessor
 * leaves, two waiting pushes do not wait for each other, and a wait ends at
 * its timeout. */
#include "testutil.h"

#include "push_order.h"
#include "mlproto/errors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const uint8_t A[32] = {1}, B[32] = {2};

static void limits(void **state) {
  (void)state;
  mls_push_order *o;
  assert_int_equal(mls_push_order_new(&o), MLPROTO_OK);
  int a1 = mls_push_order_enter(o, A), a2 = mls_push_order_enter(o, A);
  assert_true(a1 >= 0 && a2 >= 0 && a1 != a2);
  assert_int_equal(mls_push_order_enter(o, A), -1); /* MLS_PUSH_INFLIGHT_MAX per author */
  int b1 = mls_push_order_enter(o, B);
  assert_true(b1 >= 0);
  assert_int_equal(mls_push_order_count(o), 3);
  mls_push_order_leave(o, a1);
  int a3 = mls_push_order_enter(o, A);
  assert_true(a3 >= 0);
  mls_push_order_leave(o, a2);
  mls_push_order_leave(o, a3);
  mls_push_order_leave(o, b1);
  mls_push_order_leave(o, -1); /* no-op */
  assert_int_equal(mls_push_order_count(o), 0);
  /* the table: MLS_PUSH_ORDER_SLOTS in all */
  int slots[MLS_PUSH_ORDER_SLOTS];
  for (int i = 0; i < MLS_PUSH_ORDER_SLOTS; i++) {
    uint8_t k[32] = {0};
    memcpy(k, &i, sizeof i);
    k[31] = 9;
    slots[i] = mls_push_order_enter(o, k);
    assert_true(slots[i] >= 0);
  }
  assert_int_equal(mls_push_order_enter(o, A), -1);
  for (int i = 0; i < MLS_PUSH_ORDER_SLOTS; i++) mls_push_order_leave(o, slots[i]);
  assert_int_equal(mls_push_order_count(o), 0);
  mls_push_order_free(o);
}

static void nothing_to_wait_for(void **state) {
  (void)state;
  mls_push_order *o;
  assert_int_equal(mls_push_order_new(&o), MLPROTO_OK);
  int a = mls_push_order_enter(o, A), b = mls_push_order_enter(o, B);
  double t0 = now_s();
  assert_int_equal(mls_push_order_wait(o, a, 5000), 0); /* B is another author */
  assert_int_equal(mls_push_order_wait(o, -1, 5000), 0);
  assert_true(now_s() - t0 < 1.0);
  mls_push_order_leave(o, a);
  mls_push_order_leave(o, b);
  mls_push_order_free(o);
}

typedef struct waiter {
  mls_push_order *o;
  int slot;
  int leave_after; /* as the app does: a push leaves once it is done */
  unsigned timeout_ms;
  int result;
  double seconds;
  _Atomic int done;
} waiter;

static void *wait_thread(void *arg) {
  waiter *w = arg;
  double t0 = now_s();
  w->result = mls_push_order_wait(w->o, w->slot, w->timeout_ms);
  w->seconds = now_s() - t0;
  if (w->leave_after) mls_push_order_leave(w->o, w->slot);
  atomic_store(&w->done, 1);
  return NULL;
}

/* The second push of A waits until the first leaves, not longer. */
static void waits_for_predecessor(void **state) {
  (void)state;
  mls_push_order *o;
  assert_int_equal(mls_push_order_new(&o), MLPROTO_OK);
  int first = mls_push_order_enter(o, A), second = mls_push_order_enter(o, A);
  waiter w = {.o = o, .slot = second, .timeout_ms = 20000};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
  usleep(200 * 1000);
  assert_int_equal(atomic_load(&w.done), 0); /* still waiting */
  mls_push_order_leave(o, first);
  pthread_join(t, NULL);
  assert_int_equal(w.result, 1);
  assert_true(w.seconds >= 0.15 && w.seconds < 10.0);
  mls_push_order_leave(o, second);
  mls_push_order_free(o);
}

/* Two pushes of A that both wait (neither is the predecessor): the one that
 * finds the other already waiting does not wait and leaves (its push fails
 * with SEQ_GAP), which releases the other. Nothing waits for the timeout. */
static void two_waiters_do_not_deadlock(void **state) {
  (void)state;
  mls_push_order *o;
  assert_int_equal(mls_push_order_new(&o), MLPROTO_OK);
  for (int round = 0; round < 20; round++) {
    int x = mls_push_order_enter(o, A), y = mls_push_order_enter(o, A);
    waiter wx = {.o = o, .slot = x, .leave_after = 1, .timeout_ms = 20000};
    waiter wy = {.o = o, .slot = y, .leave_after = 1, .timeout_ms = 20000};
    pthread_t tx, ty;
    assert_int_equal(pthread_create(&tx, NULL, wait_thread, &wx), 0);
    assert_int_equal(pthread_create(&ty, NULL, wait_thread, &wy), 0);
    pthread_join(tx, NULL);
    pthread_join(ty, NULL);
    assert_true(wx.seconds < 10.0 && wy.seconds < 10.0); /* not the 20 s timeout */
    assert_int_equal(wx.result + wy.result, 1);           /* one waited, one did not */
    assert_int_equal(mls_push_order_count(o), 0);
  }
  mls_push_order_free(o);
}

/* A predecessor that never leaves: the wait ends at its timeout. */
static void wait_times_out(void **state) {
  (void)state;
  mls_push_order *o;
  assert_int_equal(mls_push_order_new(&o), MLPROTO_OK);
  int first = mls_push_order_enter(o, A), second = mls_push_order_enter(o, A);
  double t0 = now_s();
  assert_int_equal(mls_push_order_wait(o, second, 300), 1);
  double took = now_s() - t0;
  assert_true(took >= 0.25 && took < 10.0);
  mls_push_order_leave(o, first);
  mls_push_order_leave(o, second);
  mls_push_order_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(limits),
      cmocka_unit_test(nothing_to_wait_for),
      cmocka_unit_test(waits_for_predecessor),
      cmocka_unit_test(two_waiters_do_not_deadlock),
      cmocka_unit_test(wait_times_out),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
