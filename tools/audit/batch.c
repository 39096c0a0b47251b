/* batch.c — envelopes verified on every core (batch.h). */
#include "batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_THREADS 8u
/* Below this many envelopes a thread costs more than it saves. */
#define MIN_PER_THREAD 32u

unsigned batch_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : n > (long)MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

typedef struct share {
  batch_job *jobs;
  size_t n, first, step;
} share;

static void *run(void *arg) {
  share *s = arg;
  for (size_t i = s->first; i < s->n; i += s->step) {
    batch_job *j = &s->jobs[i];
    j->rec = NULL;
    j->rc = mlproto_record_verify(&j->rec, j->env, j->len);
  }
  return NULL;
}

void batch_verify(batch_job *jobs, size_t n, unsigned threads) {
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads > 1 && n / threads < MIN_PER_THREAD) threads = (unsigned)(n / MIN_PER_THREAD);
  if (threads < 2) {
    share all = {jobs, n, 0, 1};
    run(&all);
    return;
  }
  pthread_t tid[MAX_THREADS];
  share sh[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (unsigned t = 0; t < threads; t++) sh[t] = (share){jobs, n, t, threads};
  for (unsigned t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, run, &sh[t]) == 0;
  run(&sh[0]);
  for (unsigned t = 1; t < threads; t++) {
    if (started[t]) pthread_join(tid[t], NULL);
    else run(&sh[t]); /* not started: its share on this thread */
  }
}

typedef struct pool {
  atomic_size_t next;
  size_t n;
  void (*fn)(void *ud, size_t i);
  void *ud;
} pool;

static void *pool_run(void *arg) {
  pool *p = arg;
  for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n;) p->fn(p->ud, i);
  return NULL;
}

void batch_for(size_t n, unsigned threads, void (*fn)(void *ud, size_t i), void *ud) {
  pool p = {.n = n, .fn = fn, .ud = ud};
  atomic_init(&p.next, 0);
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  if (threads > n) threads = (unsigned)n;
  pthread_t tid[MAX_THREADS];
  int started[MAX_THREADS] = {0};
  for (unsigned t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, pool_run, &p) == 0;
  pool_run(&p); /* a thread that did not start leaves its share to the others */
  for (unsigned t = 1; t < threads; t++)
    if (started[t]) pthread_join(tid[t], NULL);
}
