/*
 * batch.h — envelopes verified on every core (tools/audit, internal).
 *
 * Verifying signatures is what an audit costs (one Ed25519 verification per
 * entry, DESIGN §8: ~23,000 per second and core): the verifier hands a
 * batch of envelopes to a pool of helper threads, which runs
 * mlproto_record_verify on each while the calling thread takes the batch
 * before in file order (verify.c) and then helps; batch_for spreads other
 * independent work (a report's cases) the same way.
 */
#ifndef ML_AUDIT_BATCH_H
#define ML_AUDIT_BATCH_H

#include "mlproto/record.h"

#include <stddef.h>

typedef struct batch_job {
  const uint8_t *env; /* in */
  size_t len;
  /* in: 1 when the record hash of this envelope is vouched for by a root
   * checked later (a kept checkpoint's, verify.h vouch_kept): every check
   * but the signature, mlproto_record_verify_stored with the envelope's own
   * record hash */
  int hash_vouched;
  mlproto_record *rec; /* out: the verified record (free with mlproto_record_free), or NULL */
  int rc;              /* out: mlproto_record_verify's code */
} batch_job;

/* The number of threads worth using here: the online cores, at most 8. */
unsigned batch_threads(void);

/* Verification running beside the caller: a pool of helper threads that
 * verifies one submitted batch while the calling thread does the in-order
 * work of the batch before it (verify.c), so that the serial part of an
 * audit does not leave the other cores idle.
 *   batch_pool_start  `threads` helpers (0: none, everything then runs in
 *                     batch_pool_wait on the caller); NULL on failure
 *   batch_pool_submit hands over jobs[0..n) (at most one batch in flight;
 *                     jobs stay the caller's and must live until the wait)
 *   batch_pool_wait   the caller verifies what no helper took yet, then
 *                     waits until the batch is done
 *   batch_pool_stop   joins the helpers (NULL: no-op); no batch in flight */
typedef struct batch_pool batch_pool;
batch_pool *batch_pool_start(unsigned threads);
void batch_pool_submit(batch_pool *p, batch_job *jobs, size_t n);
void batch_pool_wait(batch_pool *p);
void batch_pool_stop(batch_pool *p);

/* Runs fn(ud, i) for every i in [0, n) on up to `threads` threads (the
 * calling one among them; 0 or 1: the calling thread alone), each taking
 * the next i when it is done with one (items of uneven cost: one case of a
 * report each); returns when all are done. fn must be safe to run
 * concurrently for different i. */
void batch_for(size_t n, unsigned threads, void (*fn)(void *ud, size_t i), void *ud);

#endif
