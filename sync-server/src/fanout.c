/* fanout.c — helper threads that join a caller's loop (see fanout.h). */
#include "fanout.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define HELPERS_MAX 64u

typedef struct job {
  size_t n;
  _Atomic size_t next;
  mls_fanout_fn fn;
  void *ud;
  unsigned active;       /* helpers inside this job; guarded by the pool mutex */
  struct job *link;      /* queue of jobs with iterations left */
} job;

struct mls_fanout {
  pthread_mutex_t mu;
  pthread_cond_t work;   /* a job was queued, or stop */
  pthread_cond_t left;   /* a helper left a job */
  job *queue;
  int stop;
  unsigned n_threads;
  pthread_t threads[];
};

unsigned mls_fanout_default_helpers(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2) return 0;
  return n > 16 ? 15u : (unsigned)(n - 1);
}

static void run_iterations(job *j) {
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (i >= j->n) return;
    j->fn(j->ud, i);
  }
}

/* Caller holds mu. */
static void unqueue(mls_fanout *f, job *j) {
  for (job **p = &f->queue; *p; p = &(*p)->link)
    if (*p == j) {
      *p = j->link;
      return;
    }
}

static void *helper_main(void *arg) {
  mls_fanout *f = arg;
  pthread_mutex_lock(&f->mu);
  for (;;) {
    while (!f->stop && !f->queue) pthread_cond_wait(&f->work, &f->mu);
    if (f->stop) break;
    job *j = f->queue;
    j->active++;
    pthread_mutex_unlock(&f->mu);
    run_iterations(j);
    pthread_mutex_lock(&f->mu);
    /* Exhausted: no one else should pick it up. The owner frees it only
     * once it is out of the queue and no helper is inside. */
    unqueue(f, j);
    if (--j->active == 0) pthread_cond_broadcast(&f->left);
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

int mls_fanout_new(mls_fanout **out, unsigned helpers) {
  *out = NULL;
  if (helpers > HELPERS_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  mls_fanout *f = calloc(1, sizeof *f + helpers * sizeof f->threads[0]);
  if (!f) return MLPROTO_ERR_OUT_OF_MEMORY;
  if (pthread_mutex_init(&f->mu, NULL)) goto free_f;
  if (pthread_cond_init(&f->work, NULL)) goto free_mu;
  if (pthread_cond_init(&f->left, NULL)) goto free_work;
  for (; f->n_threads < helpers; f->n_threads++)
    if (pthread_create(&f->threads[f->n_threads], NULL, helper_main, f)) {
      mls_fanout_free(f);
      return MLPROTO_ERR_INTERNAL;
    }
  *out = f;
  return MLPROTO_OK;
free_work:
  pthread_cond_destroy(&f->work);
free_mu:
  pthread_mutex_destroy(&f->mu);
free_f:
  free(f);
  return MLPROTO_ERR_INTERNAL;
}

void mls_fanout_free(mls_fanout *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->stop = 1;
  pthread_cond_broadcast(&f->work);
  pthread_mutex_unlock(&f->mu);
  for (unsigned i = 0; i < f->n_threads; i++) pthread_join(f->threads[i], NULL);
  pthread_cond_destroy(&f->left);
  pthread_cond_destroy(&f->work);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

void mls_fanout_run(mls_fanout *f, size_t n, mls_fanout_fn fn, void *ud) {
  job j = {.n = n, .fn = fn, .ud = ud};
  atomic_init(&j.next, 0);
  if (!f || f->n_threads == 0 || n < 2) {
    run_iterations(&j);
    return;
  }
  pthread_mutex_lock(&f->mu);
  job **tail = &f->queue;
  while (*tail) tail = &(*tail)->link;
  *tail = &j;
  pthread_cond_broadcast(&f->work);
  pthread_mutex_unlock(&f->mu);

  run_iterations(&j);

  pthread_mutex_lock(&f->mu);
  unqueue(f, &j);
  while (j.active) pthread_cond_wait(&f->left, &f->mu);
  pthread_mutex_unlock(&f->mu);
}
