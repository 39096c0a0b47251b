/*
 * push_order.h — the order of concurrent pushes from one device.
 *
 * A device may send its next batch before the answer to the previous one
 * arrives (on a second connection), so that the server verifies batch k+1
 * while batch k is being written: on a link with any latency, or with a
 * large outbox, that keeps both ends busy. The log still needs batch k first.
 * Every push registers here once it is authenticated; a push whose first new
 * record does not follow the author's stored head (it would be SEQ_GAP)
 * waits while another push by the same author is in flight and not itself
 * waiting, then tries once more. Bounded: at most MLS_PUSH_INFLIGHT_MAX
 * pushes per author are registered (more are not ordered: a gap is SEQ_GAP
 * at once), a wait ends after timeout_ms, and two pushes that both wait do
 * not wait for each other (both fail with SEQ_GAP), so nothing deadlocks.
 * Thread-safe.
 */
#ifndef MLS_PUSH_ORDER_H
#define MLS_PUSH_ORDER_H

#include <stdint.h>

#define MLS_PUSH_INFLIGHT_MAX 2  /* registered pushes per author */
#define MLS_PUSH_ORDER_SLOTS 256 /* registered pushes in all */

typedef struct mls_push_order mls_push_order;

int mls_push_order_new(mls_push_order **out); /* OUT_OF_MEMORY, INTERNAL */
void mls_push_order_free(mls_push_order *o);

/* A slot for a push by author, or -1 (table full, or the author has
 * MLS_PUSH_INFLIGHT_MAX pushes in flight): the push is then not ordered. */
int mls_push_order_enter(mls_push_order *o, const uint8_t author[32]);
/* slot -1 is a no-op. Wakes the pushes that wait for this one. */
void mls_push_order_leave(mls_push_order *o, int slot);

/* For a push whose first new record leaves a gap, outside any transaction:
 * waits while another push by the same author is registered and not
 * waiting, at most timeout_ms. 1: it waited (check again), 0: there was
 * nothing to wait for (slot -1, or no such push). */
int mls_push_order_wait(mls_push_order *o, int slot, unsigned timeout_ms);

/* Pushes registered now (a device's pushes beyond MLS_PUSH_INFLIGHT_MAX
 * are not): the push handler's choice of path, /metrics, tests. */
unsigned mls_push_order_count(mls_push_order *o);

#endif
