/* push_order.c — see push_order.h. */
#include "push_order.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct slot {
  uint8_t author[32];
  int used, waiting;
} slot;

struct mls_push_order {
  pthread_mutex_t mu;
  pthread_cond_t changed; /* a push left, or started to wait */
  slot s[MLS_PUSH_ORDER_SLOTS];
};

int mls_push_order_new(mls_push_order **out) {
  *out = NULL;
  mls_push_order *o = calloc(1, sizeof *o);
  if (!o) return MLPROTO_ERR_OUT_OF_MEMORY;
  pthread_condattr_t ca;
  int ok = pthread_condattr_init(&ca) == 0;
  ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
  ok = ok && pthread_cond_init(&o->changed, &ca) == 0;
  pthread_condattr_destroy(&ca);
  if (!ok || pthread_mutex_init(&o->mu, NULL) != 0) {
    if (ok) pthread_cond_destroy(&o->changed);
    free(o);
    return MLPROTO_ERR_INTERNAL;
  }
  *out = o;
  return MLPROTO_OK;
}

void mls_push_order_free(mls_push_order *o) {
  if (!o) return;
  pthread_cond_destroy(&o->changed);
  pthread_mutex_destroy(&o->mu);
  free(o);
}

int mls_push_order_enter(mls_push_order *o, const uint8_t author[32]) {
  int free_slot = -1, same = 0;
  pthread_mutex_lock(&o->mu);
  for (int i = 0; i < MLS_PUSH_ORDER_SLOTS; i++) {
    if (!o->s[i].used) {
      if (free_slot < 0) free_slot = i;
    } else if (memcmp(o->s[i].author, author, 32) == 0) {
      same++;
    }
  }
  if (same >= MLS_PUSH_INFLIGHT_MAX) free_slot = -1;
  if (free_slot >= 0) {
    memcpy(o->s[free_slot].author, author, 32);
    o->s[free_slot].used = 1;
    o->s[free_slot].waiting = 0;
  }
  pthread_mutex_unlock(&o->mu);
  return free_slot;
}

void mls_push_order_leave(mls_push_order *o, int i) {
  if (i < 0 || i >= MLS_PUSH_ORDER_SLOTS) return;
  pthread_mutex_lock(&o->mu);
  o->s[i].used = 0;
  o->s[i].waiting = 0;
  pthread_cond_broadcast(&o->changed);
  pthread_mutex_unlock(&o->mu);
}

/* Caller holds mu. Another registered, non-waiting push by i's author. */
static int someone_to_wait_for(const mls_push_order *o, int i) {
  for (int j = 0; j < MLS_PUSH_ORDER_SLOTS; j++)
    if (j != i && o->s[j].used && !o->s[j].waiting &&
        memcmp(o->s[j].author, o->s[i].author, 32) == 0)
      return 1;
  return 0;
}

int mls_push_order_wait(mls_push_order *o, int i, unsigned timeout_ms) {
  if (i < 0 || i >= MLS_PUSH_ORDER_SLOTS) return 0;
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&o->mu);
  int waited = someone_to_wait_for(o, i);
  if (waited) {
    o->s[i].waiting = 1;
    pthread_cond_broadcast(&o->changed); /* a push waiting for us stops waiting */
    while (someone_to_wait_for(o, i))
      if (pthread_cond_timedwait(&o->changed, &o->mu, &deadline) == ETIMEDOUT) break;
    o->s[i].waiting = 0;
  }
  pthread_mutex_unlock(&o->mu);
  return waited;
}

unsigned mls_push_order_count(mls_push_order *o) {
  unsigned n = 0;
  pthread_mutex_lock(&o->mu);
  for (int i = 0; i < MLS_PUSH_ORDER_SLOTS; i++) n += o->s[i].used != 0;
  pthread_mutex_unlock(&o->mu);
  return n;
}
