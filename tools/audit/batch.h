/*
 * batch.h — envelopes verified on every core (tools/audit, internal).
 *
 * Verifying signatures is what an audit costs (one Ed25519 verification per
 * entry, DESIGN §8: ~23,000 per second and core): the verifier hands a
 * batch of envelopes to batch_verify, which runs mlproto_record_verify on
 * each, spread over `threads` threads (the calling one among them), and
 * returns when all are done. Everything else of the audit stays in file
 * order on the calling thread (verify.c).
 */
#ifndef ML_AUDIT_BATCH_H
#define ML_AUDIT_BATCH_H

#include "mlproto/record.h"

#include <stddef.h>

typedef struct batch_job {
  const uint8_t *env; /* in */
  size_t len;
  mlproto_record *rec; /* out: the verified record (free with mlproto_record_free), or NULL */
  int rc;              /* out: mlproto_record_verify's code */
} batch_job;

/* The number of threads worth using here: the online cores, at most 8. */
unsigned batch_threads(void);

/* Verifies jobs[0..n) with up to `threads` threads (0 or 1: on the calling
 * thread alone; when a thread cannot be started, the others do its share). */
void batch_verify(batch_job *jobs, size_t n, unsigned threads);

/* Runs fn(ud, i) for every i in [0, n) on up to `threads` threads (the
 * calling one among them; 0 or 1: the calling thread alone), each taking
 * the next i when it is done with one (items of uneven cost: one case of a
 * report each); returns when all are done. fn must be safe to run
 * concurrently for different i. */
void batch_for(size_t n, unsigned threads, void (*fn)(void *ud, size_t i), void *ud);

#endif
