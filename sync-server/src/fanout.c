/* fanout.c — helper threads that join a caller's loop (see fanout.h). */
#include "fanout.h"

#include "mlproto/errors.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HELPERS_MAX 64u

typedef struct mls_fanout_job {
  size_t n;
  _Atomic size_t next;   /* the next iteration to hand out; >= n: none left */
  mls_fanout_fn fn;
  void *ud;
  unsigned active;       /* helpers inside this job; guarded by the pool mutex */
  struct mls_fanout_job *link; /* queue of jobs with iterations left */
  mls_fanout *f;         /* NULL when no helper takes part */
  int queued;
  /* done[i] is set once fn(ud, i) returned; `waiting` is i + 1 while the
   * owner sleeps for i. */
  _Atomic unsigned char *done;
  _Atomic size_t waiting;
} job;

struct mls_fanout {
  pthread_mutex_t mu;
  pthread_cond_t work;   /* a job was queued, or stop */
  pthread_cond_t left;   /* a helper left a job */
  pthread_cond_t ready;  /* an iteration an owner sleeps for has returned */
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

/* Runs iteration i (already claimed) and publishes it.
 * done[i] and `waiting` are sequentially consistent: either this thread sees
 * the owner waiting for i, or the owner sees done[i] before it sleeps. */
static void run_one(job *j, size_t i) {
  j->fn(j->ud, i);
  atomic_store(&j->done[i], 1);
  if (atomic_load(&j->waiting) == i + 1) {
    pthread_mutex_lock(&j->f->mu);
    pthread_cond_broadcast(&j->f->ready);
    pthread_mutex_unlock(&j->f->mu);
  }
}

static void run_iterations(job *j) {
  for (;;) {
    size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (i >= j->n) return;
    run_one(j, i);
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
  if (pthread_cond_init(&f->ready, NULL)) goto free_left;
  for (; f->n_threads < helpers; f->n_threads++)
    if (pthread_create(&f->threads[f->n_threads], NULL, helper_main, f)) {
      mls_fanout_free(f);
      return MLPROTO_ERR_INTERNAL;
    }
  *out = f;
  return MLPROTO_OK;
free_left:
  pthread_cond_destroy(&f->left);
free_work:
  pthread_cond_destroy(&f->work);
free_mu:
  pthread_mutex_destroy(&f->mu);
free_f:
  free(f);
  return MLPROTO_ERR_INTERNAL;
}

unsigned mls_fanout_helpers(const mls_fanout *f) { return f ? f->n_threads : 0; }

void mls_fanout_free(mls_fanout *f) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  f->stop = 1;
  pthread_cond_broadcast(&f->work);
  pthread_mutex_unlock(&f->mu);
  for (unsigned i = 0; i < f->n_threads; i++) pthread_join(f->threads[i], NULL);
  pthread_cond_destroy(&f->ready);
  pthread_cond_destroy(&f->left);
  pthread_cond_destroy(&f->work);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

/* Offers j to the helpers (when there are any and it is worth it). */
static void enqueue(mls_fanout *f, job *j) {
  if (!f || f->n_threads == 0 || j->n < 2) return;
  j->f = f;
  j->queued = 1;
  pthread_mutex_lock(&f->mu);
  job **tail = &f->queue;
  while (*tail) tail = &(*tail)->link;
  *tail = j;
  pthread_cond_broadcast(&f->work);
  pthread_mutex_unlock(&f->mu);
}

/* Returns once no helper is inside j and none can enter it. */
static void withdraw(job *j) {
  if (!j->queued) return;
  mls_fanout *f = j->f;
  pthread_mutex_lock(&f->mu);
  unqueue(f, j);
  while (j->active) pthread_cond_wait(&f->left, &f->mu);
  pthread_mutex_unlock(&f->mu);
  j->queued = 0;
}

int mls_fanout_start(mls_fanout *f, size_t n, mls_fanout_fn fn, void *ud, mls_fanout_job **out) {
  *out = NULL;
  if (n > (SIZE_MAX - sizeof(job)) / sizeof(_Atomic unsigned char)) return MLPROTO_ERR_TOO_LARGE;
  job *j = calloc(1, sizeof *j + n * sizeof *j->done);
  if (!j) return MLPROTO_ERR_OUT_OF_MEMORY;
  j->n = n;
  j->fn = fn;
  j->ud = ud;
  atomic_init(&j->next, 0);
  atomic_init(&j->waiting, 0);
  j->done = (_Atomic unsigned char *)(j + 1);
  for (size_t i = 0; i < n; i++) atomic_init(&j->done[i], 0);
  enqueue(f, j);
  *out = j;
  return MLPROTO_OK;
}

void mls_fanout_await(mls_fanout_job *j, size_t i) {
  if (i >= j->n) return;
  while (!atomic_load(&j->done[i])) {
    /* Help while there is work left: the next free iteration is at most a
     * few past i, so it is needed soon. */
    size_t k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (k < j->n) {
      run_one(j, k);
      continue;
    }
    /* Every iteration is taken and i is on a helper: sleep until it is done
     * (a job without helpers has run i above). */
    mls_fanout *f = j->f;
    assert(f); /* without helpers every iteration was claimed by this thread */
    pthread_mutex_lock(&f->mu);
    atomic_store(&j->waiting, i + 1);
    while (!atomic_load(&j->done[i])) pthread_cond_wait(&f->ready, &f->mu);
    atomic_store(&j->waiting, 0);
    pthread_mutex_unlock(&f->mu);
  }
}

void mls_fanout_finish(mls_fanout_job *j, int skip_rest) {
  if (!j) return;
  if (skip_rest) atomic_store(&j->next, j->n);
  else run_iterations(j);
  withdraw(j);
  free(j);
}
