/*
 * witnessed.h — the largest checkpoint a witness cosigned, kept OUTSIDE the
 * store, so that a store restored from an old backup (or a failover to a
 * replica that had not received the last commits) cannot serve again.
 *
 * Why: a witness cosigned the checkpoint of size N. If the store then loses
 * entries (an old backup, an asynchronous replica), the server would append
 * new, different entries at the lost indexes and sign a second root for the
 * sizes the witnesses and devices already hold: a split view, which the
 * log's whole design exists to make impossible. The store's own tables go
 * back in time with it, so the guard lives in the data directory:
 *
 *   DIR/witnessed   the signed checkpoint note (mlproto/checkpoint.h) of the
 *                   largest size this data directory saw a witness cosign;
 *                   replaced (temporary file, fsync, rename, directory
 *                   fsync) each time a larger one is cosigned; mode 0644.
 *
 * At start-up (mls_app_open, and every admin command) the log must be at
 * least that large and its checkpoint of that size must be these bytes
 * (checkpoints are deterministic: the same size gives the same note);
 * otherwise MLPROTO_ERR_STORE_ROLLED_BACK and the server does not start.
 * The operator's guide (docs/operator.md §restore) says what to do then: a
 * new log (new origin and key) after any loss of acknowledged entries.
 *
 * With several instances, each instance's directory records what it saw;
 * any one of them refuses a rolled-back store. (The store's own table of
 * cosignatures goes back with the store, so it proves nothing here.)
 * Not thread-safe by itself: the app serialises mls_witnessed_raise.
 */
#ifndef MLS_WITNESSED_H
#define MLS_WITNESSED_H

#include "log.h"

#include <stddef.h>
#include <stdint.h>

#define MLS_WITNESSED_FILE "witnessed"

/* Checks the log of st against DIR/witnessed (absent: nothing to check).
 * *size_out (may be NULL) gets the size recorded there (0 when none).
 * MLPROTO_OK; STORE_ROLLED_BACK (smaller, or another root at that size);
 * CHECKPOINT_MALFORMED / BAD_SIGNATURE for a file that is not a checkpoint
 * of this log (refused too: the operator must look); IO. */
int mls_witnessed_check(mls_log *log, mls_store *st, const char *dir, uint64_t *size_out);

/* Records note (a signed checkpoint of this log of `size`) as the largest
 * cosigned one, when size > *known (then *known = size). IO / DISK_FULL. */
int mls_witnessed_raise(const char *dir, uint64_t *known, uint64_t size, const char *note,
                        size_t len);

#endif
