/*
 * log.h — the transparency log (DESIGN §3) on top of the store.
 *
 * Every accepted record and every server event is one leaf:
 *   entry = u8 type || u64be received_at_ms || record hash   (mlproto/merkle.h)
 * Appends happen inside a write transaction obtained from mls_log_begin();
 * the leaf, the perfect-subtree hashes it completes, the record row and the
 * new signed tree head are committed together by mls_log_commit(), so a
 * crash leaves either all of them or none. Appends are serialised: one
 * appender at a time per mls_log (a mutex held from begin to commit/abort)
 * and one writer per database (the store's write transaction), so the
 * admin command may append from another process while the server runs.
 *
 * The compact range (right edge of the tree) is cached in memory and checked
 * against the stored log size at every mls_log_begin(): if another process
 * appended, it is reloaded from the stored nodes (popcount(n) reads).
 *
 * Reads (tree heads, proofs) run in read transactions and cost O(log n)
 * node reads. Thread-safe: any number of threads may call any function; a
 * thread holding an append transaction must not begin another transaction.
 */
#ifndef MLS_LOG_H
#define MLS_LOG_H

#include "mlproto/checkpoint.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "store.h"

typedef struct mls_log mls_log;

/* The log's name (the checkpoint origin and key name, mlproto/checkpoint.h)
 * lives in DIR/log.name: the name and one '\n', written once (temporary
 * file, fsync, rename) and never changed, since witnesses and devices pin
 * it. MLS_LOG_NAME_DEFAULT_PREFIX + 16 hex digits of the log public key is
 * the name when none was ever given. */
#define MLS_LOG_NAME_FILE "log.name"
#define MLS_LOG_NAME_DEFAULT_PREFIX "mentorlog.localhost/"

/* Reads DIR/log.name into out (NUL-terminated). When the file is absent it
 * is created with `want`, or with the default name of pk when want is NULL.
 * MLPROTO_ERR_INVALID_ARGUMENT when want (or the file's content) is not a
 * valid name (1..255 bytes of UTF-8, no white space, no '+');
 * MLPROTO_ERR_ALREADY_EXISTS when want differs from the stored name (out
 * then holds the stored name); MLPROTO_ERR_IO on a file error. */
int mls_log_name_load(const char *dir, const char *want, const uint8_t pk[32],
                      char out[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1]);

/* Opens the log over st with the server key: sk is the 64-byte libsodium
 * secret key (borrowed; must outlive the log), pk its public half, origin
 * the log's name (copied; mls_log_name_load). *out NULL on failure
 * (MLPROTO_ERR_INVALID_ARGUMENT for an invalid origin). */
int mls_log_open(mls_log **out, mls_store *st, const uint8_t *sk, const uint8_t pk[32],
                 const char *origin);
void mls_log_close(mls_log *log); /* NULL: no-op */

const uint8_t *mls_log_server_pub(const mls_log *log);

/* Begins an append transaction (waits for other appenders). */
int mls_log_begin(mls_log *log, mls_txn **tx);
/* The same without waiting for another appender of this process: *tx NULL
 * and MLPROTO_OK when one holds the log. The store's own begin may still
 * wait (its busy timeout) for a writer in another process (admin). */
int mls_log_try_begin(mls_log *log, mls_txn **tx);
/* mls_log_begin and mls_log_try_begin that also report, in *wait_ns (may be
 * NULL), how long acquiring the log's serialisation point took, in
 * nanoseconds of CLOCK_MONOTONIC: this process's append lock, then the
 * store's write begin, which takes the writer lock of every process —
 * SQLite: the store's in-process writer mutex and BEGIN IMMEDIATE (waited
 * for up to the busy timeout); PostgreSQL: BEGIN and SELECT ... FROM
 * log_head FOR UPDATE in one round trip, so never less than that round trip
 * even when no one else holds the row. Reading the log size and reloading
 * the compact range afterwards are not in it. Set on failure too (the time
 * until it failed), and 0 when mls_log_try_begin_timed found the log held
 * (*tx NULL, MLPROTO_OK). For mentorlog_push_lock_wait_seconds_total. */
int mls_log_begin_timed(mls_log *log, mls_txn **tx, uint64_t *wait_ns);
int mls_log_try_begin_timed(mls_log *log, mls_txn **tx, uint64_t *wait_ns);
/* Appends e (index, leaf hash set here; every other field by the caller).
 * e->received_ms is raised to the last entry's receipt time when it is
 * earlier (receipt times never decrease along the log); read it back. */
int mls_log_append(mls_log *log, mls_txn *tx, mls_log_entry *e);
/* Builds, signs and appends a server event: author = the server key, its
 * own seq/prev chain, case_id zero, hlc = now_ms << 16. mentor_id (may be
 * NULL) is the mentor the event concerns (who may pull it). On success
 * *index_out (may be NULL) gets its log index. */
int mls_log_append_event(mls_log *log, mls_txn *tx, const mlproto_disclosed *d,
                         const uint8_t *mentor_id, uint64_t now_ms, uint64_t *index_out);
/* Number of leaves the open append transaction has reached. */
uint64_t mls_log_pending_size(const mls_log *log);
/* Signs a tree head for the new size at now_ms, stores it, commits (when
 * nothing was appended since mls_log_begin: commits and gives the stored
 * head, signing no second head for one size). On
 * failure everything is rolled back. The transaction is gone either way. */
int mls_log_commit(mls_log *log, mls_txn *tx, uint64_t now_ms, mlproto_sth *sth);
/* Rolls back and releases the append lock; NULL tx is a no-op. */
void mls_log_abort(mls_log *log, mls_txn *tx);

/* The latest signed tree head within tx (any transaction). An empty log
 * gets a head of size 0 signed at now_ms (not stored). */
int mls_log_sth(mls_log *log, mls_txn *tx, uint64_t now_ms, mlproto_sth *sth);
/* Proofs within tx against the stored nodes; size must not exceed the log
 * size (MLPROTO_ERR_TREE_RANGE). proof needs MLPROTO_MERKLE_MAX_PROOF slots. */
int mls_log_inclusion(mls_txn *tx, uint64_t index, uint64_t size, uint8_t (*proof)[32],
                      size_t *len);
int mls_log_consistency(mls_txn *tx, uint64_t first, uint64_t second, uint8_t (*proof)[32],
                        size_t *len);
/* The checkpoint note (mlproto/checkpoint.h) of the tree of `size` leaves
 * within tx, or of the whole log when latest is set (size is then ignored):
 * root from the stored nodes (popcount(size) reads), signed now. The same
 * (size) always gives the same bytes. out needs MLPROTO_CHECKPOINT_SIGNED_MAX
 * bytes; *len its length, *size_out (may be NULL) the size it is of.
 * MLPROTO_ERR_TREE_RANGE when size exceeds the log size. */
int mls_log_checkpoint(mls_log *log, mls_txn *tx, int latest, uint64_t size, char *out,
                       size_t cap, size_t *len, uint64_t *size_out);
/* The log's name and its verifier key ("name+keyid+base64", into
 * MLPROTO_NOTE_VKEY_MAX bytes). */
const char *mls_log_origin(const mls_log *log);
int mls_log_vkey(const mls_log *log, char *out, size_t cap);
/* Leaf size as last seen by this process (no storage read; for /metrics). */
uint64_t mls_log_cached_size(const mls_log *log);

#endif
