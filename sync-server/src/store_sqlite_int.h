/*
 * store_sqlite_int.h — what the files of the SQLite backend share: the
 * connection pool's types, the prepared statements, the row helpers, and
 * the operations each file implements for SQ_OPS (store_sqlite.c):
 *   store_sqlite.c         schema, migrations, connections, checkpoints,
 *                          transactions, the operations table
 *   store_sqlite_people.c  mentors, enrolment codes, devices, sessions,
 *                          API tokens, case owners
 *   store_sqlite_log.c     records, the log, tree nodes, tree heads, forks,
 *                          ranges of nodes and entries (tlog tiles)
 *   store_sqlite_witness.c the log's witnesses and their cosignatures
 */
#ifndef MLS_STORE_SQLITE_INT_H
#define MLS_STORE_SQLITE_INT_H

#include "store.h"
#include "log_fmt.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

/* Statements prepared once per connection (SQL text in store_sqlite.c). */
enum stmt_id {
  S_BEGIN_READ, S_BEGIN_WRITE, S_COMMIT, S_ROLLBACK,
  S_MENTOR_ADD, S_MENTOR_GET, S_MENTOR_LIST,
  S_CODE_ADD, S_CODE_GET, S_CODE_USE,
  S_DEVICE_ADD, S_DEVICE_GET, S_DEVICE_GET_ID, S_DEVICE_LIST, S_DEVICE_REVOKE,
  S_SESS_PURGE,
  S_CODE_USED_BY, S_CODE_LIST, S_CODE_GET_ID, S_CODE_REVOKE,
  S_SESS_ADD, S_SESS_GET,
  S_TOKEN_ADD,
  S_CASE_GET, S_CASE_PUT,
  S_AUTHOR_HEAD, S_RECORD_AT, S_ENVELOPE_AT,
  S_LOG_ADD, S_LOG_SIZE, S_LOG_LIST_ALL, S_LOG_LIST_MENTOR, S_LEAF_FIND, S_LEAF_INDEX_PUT,
  S_NODE_PUT, S_NODE_GET,
  S_STH_PUT, S_STH_GET,
  S_FORK_ADD, S_FORK_COUNT,
  S_NODE_RANGE, S_LEAF_ENTRY_RANGE,
  /* reports (schema v5) */
  S_TOKEN_GET, S_JC_ADD, S_JC_CASES, S_CASE_ENTRIES, S_CASE_VERSION, S_META_GET, S_META_PUT,
  /* erasure and retention (schema v6) */
  S_ENVELOPE_PUT, S_CASE_ERASED_GET, S_CASE_ERASED_SET, S_CASE_LIST, S_FORK_LIST, S_FORK_PUT,
  /* witnesses (no schema version) */
  S_WITNESS_ADD, S_WITNESS_GET, S_WITNESS_LIST, S_COSIG_PUT, S_COSIG_LIST,
  /* web sessions (no schema version) */
  S_WEB_ADD, S_WEB_GET, S_WEB_TOUCH, S_WEB_DELETE, S_WEB_PURGE,
  S__COUNT
};

typedef struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmt[S__COUNT];
  struct conn *next;
} conn;

typedef struct sq_store {
  mls_store base;
  char *path;
  unsigned busy_ms;
  pthread_mutex_t lock;       /* guards the pool */
  pthread_cond_t freed;
  pthread_mutex_t writer;     /* one writer transaction at a time in this process */
  conn *free_list;
  int n_conns;
  int max_conns;              /* mls_store_options.connections */
  /* Checkpoints run on their own thread and connection (PASSIVE: they never
   * block a writer), so no commit pays for copying the WAL into the
   * database and syncing it: with SQLite's automatic checkpoints, one commit
   * in ~15 did that while holding the writer lock (1-2 ms per push batch on
   * average). The WAL hook of every pool connection wakes the thread. */
  pthread_mutex_t ckpt_mu;
  pthread_cond_t ckpt_cv;
  pthread_t ckpt_thread;
  sqlite3 *ckpt_db;
  int ckpt_running, ckpt_pending, ckpt_stop;
} sq_store;

typedef struct sq_txn {
  mls_txn base;
  sq_store *st;
  conn *c;
  int write;
} sq_txn;

/* SQLite result code -> MLPROTO_ERR_*. */
int sq_map_rc(int rc);
/* Connection c's statement id, prepared on first use, reset and unbound;
 * NULL (logged) when it cannot be prepared. */
sqlite3_stmt *sq_stmt(conn *c, enum stmt_id id);
/* Step a statement that returns no row (or whose rows are ignored). */
int sq_step_done(sqlite3_stmt *s);
/* A one-row query: OK with the row to read, NOT_FOUND without one. */
int sq_step_row(sqlite3_stmt *s);
/* Copy an n-byte blob column (STORAGE unless it is exactly n bytes). */
int sq_blob_eq(sqlite3_stmt *s, int col, uint8_t *out, size_t n);
/* Copy a text column, cut to cap - 1 bytes, NUL-terminated. */
void sq_text_copy(sqlite3_stmt *s, int col, char *out, size_t cap);

#define CONN(tx) (((sq_txn *)(tx))->c)
#define PREP(var, tx, id)                         \
  sqlite3_stmt *var = sq_stmt(CONN(tx), id);         \
  if (!var) return MLPROTO_ERR_STORAGE

/* store_sqlite_people.c */
int sq_mentor_add(mls_txn *tx, const mls_mentor *m);
int sq_mentor_get(mls_txn *tx, const uint8_t id[16], mls_mentor *out);
int sq_mentor_list(mls_txn *tx, mls_mentor_fn fn, void *ud);
int sq_code_add(mls_txn *tx, const uint8_t h[32], const uint8_t id[MLS_CODE_ID_LEN],
                       const uint8_t mentor[16], uint64_t created, uint64_t expires);
int sq_code_list(mls_txn *tx, mls_code_fn fn, void *ud);
int sq_code_get(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out);
int sq_code_revoke(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now);
int sq_code_consume(mls_txn *tx, const uint8_t h[32], uint64_t now,
                           const uint8_t device[32], uint8_t mentor[16]);
int sq_code_used_by(mls_txn *tx, const uint8_t h[32], uint8_t device[32],
                           uint8_t mentor[16]);
int sq_device_add(mls_txn *tx, const mls_device *d);
int sq_device_get(mls_txn *tx, const uint8_t pub[32], mls_device *out);
int sq_device_get_by_id(mls_txn *tx, const uint8_t id[16], mls_device *out);
int sq_device_list(mls_txn *tx, mls_device_fn fn, void *ud);
int sq_device_revoke(mls_txn *tx, const uint8_t pub[32], uint64_t now);
int sq_session_add(mls_txn *tx, const uint8_t h[32], const uint8_t dev[32], uint64_t exp,
                   const uint8_t challenge[32]);
int sq_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged);
int sq_session_get(mls_txn *tx, const uint8_t h[32], uint64_t now, uint8_t dev[32]);
int sq_web_session_add(mls_txn *tx, const uint8_t id[32], const uint8_t th[32], uint64_t created,
                       uint64_t expires);
int sq_web_session_get(mls_txn *tx, const uint8_t id[32], uint64_t now, uint8_t th[32],
                       uint64_t *created, uint64_t *expires);
int sq_web_session_touch(mls_txn *tx, const uint8_t id[32], uint64_t expires);
int sq_web_session_delete(mls_txn *tx, const uint8_t id[32]);
int sq_web_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged);
int sq_api_token_add(mls_txn *tx, const uint8_t h[32], const char *role,
                            const char *jobcentre, uint64_t created);
int sq_api_token_get(mls_txn *tx, const uint8_t h[32], char role[MLS_ROLE_MAX + 1],
                     char jobcentre[MLS_JOBCENTRE_MAX + 1]);
int sq_case_owner(mls_txn *tx, const uint8_t case_id[16], uint8_t mentor[16]);
int sq_case_jobcentre_add(mls_txn *tx, const uint8_t case_id[16], const char *jobcentre);
int sq_jobcentre_cases(mls_txn *tx, const char *jobcentre, mls_case_fn fn, void *ud);
int sq_meta_get(mls_txn *tx, const char *key, uint8_t *buf, size_t cap, size_t *len);
int sq_meta_put(mls_txn *tx, const char *key, const uint8_t *val, size_t len);
int sq_case_claim(mls_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]);
int sq_case_erased_get(mls_txn *tx, const uint8_t case_id[16], uint64_t *erased_ms);
int sq_case_version(mls_txn *tx, const uint8_t case_id[16], uint64_t below, uint8_t owner[16],
                    uint64_t *erased_ms, uint64_t *last_index);
int sq_case_erased_set(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms);
int sq_case_list(mls_txn *tx, mls_case_state_fn fn, void *ud);

/* store_sqlite_log.c */
int sq_author_head(mls_txn *tx, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]);
int sq_record_at(mls_txn *tx, const uint8_t author[32], uint64_t seq, mls_record_ref *out);
int sq_envelope_at(mls_txn *tx, uint64_t index, uint8_t *buf, size_t cap, size_t *len);
int sq_envelope_replace(mls_txn *tx, uint64_t index, const uint8_t *env, size_t len);
int sq_log_append(mls_txn *tx, const mls_log_entry *e);
int sq_log_size(mls_txn *tx, uint64_t *size);
int sq_log_list(mls_txn *tx, const uint8_t *mentor, uint64_t since, uint32_t limit,
                       mls_entry_fn fn, void *ud);
int sq_leaf_find(mls_txn *tx, const uint8_t leaf[32], uint64_t *index);
int sq_node_put(mls_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]);
int sq_node_get(mls_txn *tx, unsigned level, uint64_t index, uint8_t h[32]);
int sq_sth_put(mls_txn *tx, const uint8_t *blob, size_t len);
int sq_sth_get(mls_txn *tx, uint8_t *blob, size_t cap, size_t *len);
int sq_fork_add(mls_txn *tx, const uint8_t author[32], uint64_t seq, const uint8_t *logged,
                       size_t logged_len, const uint8_t *pushed, size_t pushed_len,
                       const uint8_t device[32], uint64_t now);
int sq_fork_count(mls_txn *tx, uint64_t *count);
int sq_node_range(mls_txn *tx, unsigned level, uint64_t first, uint32_t count,
                  uint8_t (*out)[32]);
int sq_leaf_entry_range(mls_txn *tx, uint64_t first, uint32_t count, mls_leaf_entry *out);
int sq_fork_list(mls_txn *tx, mls_fork_fn fn, void *ud);
int sq_fork_replace(mls_txn *tx, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len);
int sq_case_entries(mls_txn *tx, const uint8_t case_id[16], uint64_t below, mls_entry_fn fn,
                    void *ud);

/* store_sqlite_witness.c */
int sq_witness_add(mls_txn *tx, const mls_witness *w);
int sq_witness_get(mls_txn *tx, const char *name, mls_witness *out);
int sq_witness_list(mls_txn *tx, mls_witness_fn fn, void *ud);
int sq_cosig_put(mls_txn *tx, const mls_cosignature *c, int *stored);
int sq_cosig_list(mls_txn *tx, uint64_t size, uint32_t limit, mls_cosig_fn fn, void *ud);

#endif
