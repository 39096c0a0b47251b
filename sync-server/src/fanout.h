/*
 * fanout.h — a small fixed pool of helper threads that share CPU-bound
 * loops (signature checks of a push batch) with the thread that asks.
 *
 * Why not uv_queue_work: the request already runs on a libuv worker; what
 * it needs is for the *other* cores to join one loop and for the call to
 * return when every iteration is done. The caller always takes part, so a
 * loop completes even when every helper is busy with another caller's loop
 * (no deadlock, no dependence on helper progress), and a pool of 0 helpers
 * is simply a serial loop.
 *
 * Iterations are handed out one at a time from an atomic counter: items
 * of very different cost (a 64-byte and a 1 MiB envelope) balance without
 * tuning. Iterations must be independent; fn(ud, i) is called exactly once
 * for every i in [0, n), on the calling thread or on a helper, in no
 * particular order. Anything fn writes is visible to the caller when
 * mls_fanout_run() returns (the pool's mutex orders it).
 *
 * Thread-safety: mls_fanout_run() may be called from any number of threads
 * at once; mls_fanout_new/free from one thread, with no run in progress.
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

/* Calls fn(ud, i) for every i < n and returns when all calls returned.
 * f may be NULL: then the loop runs on the calling thread. */
void mls_fanout_run(mls_fanout *f, size_t n, mls_fanout_fn fn, void *ud);

/* An ordered job: the owner consumes the iterations' results in order while
 * later ones are still being computed (a push writes record i while the
 * helpers verify i + 1, ...). Iterations are handed out in increasing i.
 * mls_fanout_start() queues the loop for the helpers and returns at once;
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
