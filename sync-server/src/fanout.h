/*
 * fanout.h — a small fixed pool of helper threads that share CPU-bound
 * loops (signature checks of a push batch) with the thread that asks.
 *
 * Why not uv_queue_work: the request already runs on a libuv worker; what
 * it needs is for the *other* cores to join one loop, and to take each
 * result as soon as it is ready. The owner of a loop (a "job") always takes
 * part while it waits, so a job completes even when every helper is busy
 * with another owner's job (no deadlock, no dependence on helper progress),
 * and a pool of 0 helpers is simply a serial loop.
 *
 * Iterations are handed out one at a time, in increasing i, from an atomic
 * counter: items of very different cost (a 64-byte and a 1 MiB envelope)
 * balance without tuning. Iterations must be independent; fn(ud, i) is
 * called at most once for every i in [0, n), on the owner's thread or on a
 * helper. What fn(ud, i) writes is visible to the owner once
 * mls_fanout_await(j, i) or mls_fanout_finish(j) returned.
 *
 * Thread-safety: any number of threads may own jobs at once; a job is used
 * by its owner only; mls_fanout_new/free from one thread, with no job open.
 */
#ifndef MLS_FANOUT_H
#define MLS_FANOUT_H

#include <stddef.h>

typedef struct mls_fanout mls_fanout;

typedef void (*mls_fanout_fn)(void *ud, size_t i);

/* Helpers to use on this machine: online CPUs - 1, at least 0, at most 15. */
unsigned mls_fanout_default_helpers(void);

/* Starts `helpers` threads (0..64). MLPROTO_OK, INVALID_ARGUMENT,
 * OUT_OF_MEMORY or INTERNAL (thread creation failed; nothing leaks). */
int mls_fanout_new(mls_fanout **out, unsigned helpers);

/* The pool's helper threads; 0 for NULL. */
unsigned mls_fanout_helpers(const mls_fanout *f);

/* Stops and joins the helpers. NULL is a no-op. */
void mls_fanout_free(mls_fanout *f);

/* A job: the owner consumes the iterations' results in order while later
 * ones are still being computed (a push writes record i while the helpers
 * verify i + 1, ...). mls_fanout_start() queues the loop for the helpers
 * and returns at once;
 * MLPROTO_OK, OUT_OF_MEMORY or TOO_LARGE (*out NULL). f may be NULL. */
typedef struct mls_fanout_job mls_fanout_job;
int mls_fanout_start(mls_fanout *f, size_t n, mls_fanout_fn fn, void *ud, mls_fanout_job **out);

/* Returns once fn(ud, i) has returned, with what it wrote visible. While
 * it waits the caller runs free iterations itself, so a job completes even
 * if no helper ever picks it up. i >= n returns at once. Owner only. */
void mls_fanout_await(mls_fanout_job *j, size_t i);

/* Ends the job and frees it: with skip_rest 0 every iteration runs (the
 * caller helps); with skip_rest 1 iterations not yet handed out are never
 * run: fn has then been called for some prefix [0, m) of the iterations
 * (they are handed out in order), m unknown to the caller. Returns when
 * no helper is inside any more. NULL is a no-op. Owner only. */
void mls_fanout_finish(mls_fanout_job *j, int skip_rest);

#endif
