/* batch.c — envelopes verified on every core (batch.h). */
#include "batch.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 8u

unsigned batch_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : n > (long)MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

static void verify_job(batch_job *j) {
  j->rec = NULL;
  if (!j->hash_vouched) {
    j->rc = mlproto_record_verify(&j->rec, j->env, j->len);
    return;
  }
  uint8_t h[MLPROTO_HASH_BYTES];
  j->rc = mlproto_record_hash(h, j->env, j->len);
  if (j->rc == MLPROTO_OK) j->rc = mlproto_record_verify_stored(&j->rec, j->env, j->len, h);
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

struct batch_pool {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  batch_job *jobs;
  size_t n;
  atomic_size_t next;
  size_t left;       /* jobs of the batch not finished yet */
  unsigned gen;      /* batches submitted */
  int stop;
  unsigned threads;
  pthread_t tid[MAX_THREADS];
};

/* Verifies jobs of the current batch until none is left to take; returns
 * how many this thread did. */
static size_t pool_take(batch_pool *p) {
  size_t done = 0;
  for (size_t i; (i = atomic_fetch_add(&p->next, 1)) < p->n; done++) {
    verify_job(&p->jobs[i]);
  }
  return done;
}

static void pool_finished(batch_pool *p, size_t k) {
  if (!k) return;
  pthread_mutex_lock(&p->mu);
  p->left -= k;
  if (p->left == 0) pthread_cond_broadcast(&p->done);
  pthread_mutex_unlock(&p->mu);
}

static void *pool_helper(void *arg) {
  batch_pool *p = arg;
  unsigned seen = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && p->gen == seen) pthread_cond_wait(&p->work, &p->mu);
    if (p->stop) break;
    seen = p->gen;
    pthread_mutex_unlock(&p->mu);
    pool_finished(p, pool_take(p));
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

batch_pool *batch_pool_start(unsigned threads) {
  batch_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (pthread_mutex_init(&p->mu, NULL) || pthread_cond_init(&p->work, NULL) ||
      pthread_cond_init(&p->done, NULL)) {
    free(p);
    return NULL;
  }
  atomic_init(&p->next, 0);
  if (threads > MAX_THREADS) threads = MAX_THREADS;
  for (unsigned t = 0; t < threads; t++) /* one that does not start leaves its share to the caller */
    if (pthread_create(&p->tid[p->threads], NULL, pool_helper, p) == 0) p->threads++;
  return p;
}

void batch_pool_submit(batch_pool *p, batch_job *jobs, size_t n) {
  pthread_mutex_lock(&p->mu);
  p->jobs = jobs;
  p->n = n;
  atomic_store(&p->next, 0);
  p->left = n;
  p->gen++;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
}

void batch_pool_wait(batch_pool *p) {
  pool_finished(p, pool_take(p));
  pthread_mutex_lock(&p->mu);
  while (p->left) pthread_cond_wait(&p->done, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

void batch_pool_stop(batch_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (unsigned t = 0; t < p->threads; t++) pthread_join(p->tid[t], NULL);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
