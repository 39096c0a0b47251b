/*
 * store_pg_int.h — what the files of the PostgreSQL backend share: the
 * connection pool, the prepared statements, binary parameters and results,
 * the write buffer of a write transaction, and the operations each file
 * implements for PG_OPS (store_pg.c):
 *   store_pg.c          schema, migrations, connections, transactions,
 *                       statements, scrub, the operations table
 *   store_pg_buf.c      the write buffer: what a write transaction appended
 *                       (log rows, tile hashes, case claims, case
 *                       jobcentres, the tree head), answered from memory
 *                       and written in one statement per table
 *   store_pg_people.c   mentors, enrolment codes, devices, sessions, API
 *                       tokens, cases and their jobcentres, meta
 *   store_pg_log.c      records, the log, tiles, tree heads, forks, ranges
 *   store_pg_witness.c  the log's witnesses and their cosignatures
 *
 * Values are sent and read in PostgreSQL's binary formats: bigint as 8
 * bytes big-endian (a uint64_t travels as its two's-complement bit
 * pattern, as SQLite keeps it), smallint 2, bytea and text as their bytes.
 */
#ifndef MLS_STORE_PG_INT_H
#define MLS_STORE_PG_INT_H

#include "store.h"
#include "log_fmt.h"

#include "mlproto/errors.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Statements prepared once per connection (SQL text in store_pg.c); the
 * name is what the logs show (stmt=LOCK_HEAD). */
#define PG_STMTS(X)                                                                          \
  X(BEGIN_READ) X(BEGIN_WRITE) X(LOCK_HEAD) X(TOP_CHECKPOINT) X(COMMIT) X(ROLLBACK)          \
  X(MENTOR_ADD) X(MENTOR_GET) X(MENTOR_LIST)                                                 \
  X(CODE_ADD) X(CODE_CONSUME) X(CODE_USED_BY) X(CODE_LIST) X(CODE_GET_ID) X(CODE_REVOKE)     \
  X(DEVICE_ADD) X(DEVICE_GET) X(DEVICE_GET_ID) X(DEVICE_LIST) X(DEVICE_REVOKE)               \
  X(SESS_ADD) X(SESS_GET) X(SESS_PURGE) X(TOKEN_ADD) X(TOKEN_GET)                                          \
  X(CASE_GET) X(CASE_PUT) X(CASE_ERASED_GET) X(CASE_ERASED_SET) X(CASE_LIST)                 \
  X(CASE_VERSION) X(JC_CASES) X(META_GET) X(META_PUT)                                        \
  X(AUTHOR_HEAD) X(RECORD_AT) X(ENVELOPE_AT) X(ENVELOPE_PUT)                                 \
  X(LOG_SIZE) X(LOG_LIST_ALL) X(LOG_LIST_MENTOR) X(CASE_ENTRIES) X(LEAF_FIND)                \
  X(LEAF_ENTRY_RANGE) X(NODE_GET) X(NODE_RANGE) X(TILE_EDGES) X(TILE_LEN) X(STH_GET)         \
  X(FORK_ADD) X(FORK_COUNT) X(FORK_LIST) X(FORK_PUT)                                         \
  X(WITNESS_ADD) X(WITNESS_GET) X(WITNESS_LIST) X(COSIG_PUT) X(COSIG_LIST)                   \
  X(WEB_ADD) X(WEB_GET) X(WEB_TOUCH) X(WEB_DELETE) X(WEB_PURGE)                              \
  /* the write buffer's statements (store_pg_buf.c) */                                       \
  X(FLUSH_LOG) X(FLUSH_TILES) X(FLUSH_CASES) X(FLUSH_JC) X(STH_PUT) X(HEAD_PUT)

enum pg_stmt {
#define PG_STMT_ENUM(n) P_##n,
  PG_STMTS(PG_STMT_ENUM)
#undef PG_STMT_ENUM
  P__COUNT
};

typedef struct pg_conn {
  PGconn *db;
  int broken;            /* the connection failed: closed when released */
  struct pg_conn *next;
} pg_conn;

typedef struct pg_store {
  mls_store base;
  char *conninfo;        /* never logged */
  unsigned busy_ms;
  pthread_mutex_t lock;  /* guards the pool */
  pthread_cond_t freed;
  pg_conn *free_list;
  int n_conns;
  int max_conns;         /* mls_store_options.connections */
  int warned_sync;       /* synchronous_commit was raised (logged once) */
  int warned_fsync;      /* the server runs with fsync off (logged once) */
} pg_store;

/* ------------------------------------------------------ the write buffer --- */

#define PG_TILE_WIDTH 256u
#define PG_TILE_BYTES (PG_TILE_WIDTH * 32u)
#define PG_LEVELS 64

/* A log row appended by the transaction and not yet written. */
typedef struct pg_row {
  mls_log_entry e;       /* e.envelope points at env */
  uint8_t *env;
} pg_row;

/* Hashes appended to tile (level, idx) by the transaction: db_len bytes are
 * in the database (0: no row yet), n more here. */
typedef struct pg_tilew {
  unsigned level;
  uint64_t idx;
  uint32_t db_len, n;
  uint8_t buf[PG_TILE_BYTES];
} pg_tilew;

/* What the transaction knows of a tile in the database: its length (0: no
 * row). Read under the log-head lock, so exact until the commit. */
typedef struct pg_tilek {
  unsigned level;
  uint64_t idx;
  uint32_t len;
} pg_tilek;

/* An author's head: in the database (db_*, when db_known) and among the
 * buffered rows (buf_seq 0: none). */
typedef struct pg_author {
  uint8_t author[32];
  int db_known;
  uint64_t db_seq, buf_seq;
  uint8_t db_hash[32], buf_hash[32];
} pg_author;

/* A case row read by a write transaction: its erasure time (0: none),
 * exact until the commit (every writer holds the log-head lock). */
typedef struct pg_casek {
  uint8_t case_id[16];
  uint64_t erased_ms;
} pg_casek;

typedef struct pg_claim {
  uint8_t case_id[16], mentor[16];
} pg_claim;

typedef struct pg_jc {
  uint8_t case_id[16];
  char jobcentre[MLS_JOBCENTRE_MAX + 1];
} pg_jc;

typedef struct pg_txn {
  mls_txn base;
  pg_store *st;
  pg_conn *c;
  int write;
  int failed;            /* the backend aborted the transaction: this error */
  /* --- write transactions only --- */
  uint64_t head_size;    /* log_head.size at begin */
  uint64_t head_last_ms; /* log_head.last_received_ms at begin */
  uint64_t db_size;      /* log rows in the database (head_size + flushed) */
  uint64_t last_ms;      /* receipt time of the last row appended */
  int have_top;          /* the largest stored checkpoint (read at begin) */
  uint64_t top_size;
  size_t top_len;
  uint8_t top_note[256];
  int sth_pending;       /* sth_put's head, written at commit */
  uint64_t sth_size;
  size_t sth_len;
  uint8_t sth[256];
  pg_row *rows;
  size_t n_rows, cap_rows;
  size_t row_bytes;      /* envelope bytes buffered: flushed past a cap */
  pg_tilew **tw;
  size_t n_tw, cap_tw;
  int edges_known;       /* edge[] read (P_TILE_EDGES) */
  struct { int any; uint64_t idx; uint32_t len; } edge[PG_LEVELS]; /* last tile per level */
  pg_tilek *tk;          /* other tiles looked up */
  size_t n_tk, cap_tk;
  pg_author *authors;
  size_t n_authors, cap_authors;
  pg_casek *ck;          /* cases case_owner read from the database */
  size_t n_ck, cap_ck;
  pg_claim *claims;
  size_t n_claims, cap_claims;
  uint8_t (*absent)[16]; /* cases case_owner found unclaimed in the database */
  size_t n_absent, cap_absent;
  pg_jc *jcs;
  size_t n_jcs, cap_jcs;
} pg_txn;

/* ------------------------------------------------------------ parameters --- */

#define PG_MAXP 12

typedef struct pg_par {
  int n;
  const char *val[PG_MAXP];
  int len[PG_MAXP];
  int fmt[PG_MAXP];
  char num[PG_MAXP][8];
} pg_par;

void pg_p_i64(pg_par *p, uint64_t v);   /* bigint */
void pg_p_i16(pg_par *p, unsigned v);   /* smallint */
void pg_p_bytes(pg_par *p, const void *b, size_t n); /* bytea (b borrowed) */
void pg_p_text(pg_par *p, const char *s); /* text (borrowed) */
void pg_p_null(pg_par *p);

/* A one-dimensional array in the binary format, for unnest(): built
 * element by element, then passed with pg_p_array (borrowed until the
 * statement ran). */
typedef struct pg_arr {
  uint8_t *buf;
  size_t len, cap;
  uint32_t n, oid;
  int has_null, oom;
} pg_arr;

void pg_arr_init(pg_arr *a, uint32_t elem_oid);
void pg_arr_i64(pg_arr *a, uint64_t v);
void pg_arr_i16(pg_arr *a, unsigned v);
void pg_arr_bytes(pg_arr *a, const void *b, size_t n);
void pg_arr_null(pg_arr *a);
/* Writes the header; MLPROTO_ERR_OUT_OF_MEMORY when an append failed. */
int pg_arr_done(pg_arr *a);
void pg_p_array(pg_par *p, const pg_arr *a);
void pg_arr_free(pg_arr *a);

#define PG_OID_BYTEA 17u
#define PG_OID_INT8 20u
#define PG_OID_INT2 21u
#define PG_OID_TEXT 25u

/* ------------------------------------------------------------ statements --- */

/* Runs prepared statement id in tx (binary results into *res, which the
 * caller PQclear()s; res may be NULL). After a failure the backend's
 * transaction is aborted: tx->failed keeps the error and every later
 * statement returns it. The error is logged by SQLSTATE and statement. */
int pg_exec(pg_txn *tx, enum pg_stmt id, const pg_par *p, PGresult **res);

/* A batch of statements sent at once and answered in one round trip
 * (libpq's pipeline mode). res[i] gets statement i's result (NULL when it
 * was skipped after an earlier failure); the caller PQclear()s them. */
typedef struct pg_cmd {
  enum pg_stmt id;
  const pg_par *p;
  PGresult *res;
} pg_cmd;
int pg_pipeline(pg_store *st, pg_conn *c, pg_cmd *cmds, size_t n);

/* libpq failure -> MLPROTO_ERR_* (SQLSTATE: 23505 ALREADY_EXISTS, 55P03
 * 40001 40P01 BUSY, 53100 DISK_FULL, 53200 OUT_OF_MEMORY, class 22
 * INVALID_ARGUMENT, 23503 NOT_FOUND, else STORAGE); logged by SQLSTATE
 * only, never with the message (it may quote a row). Marks c broken when
 * the connection is gone. */
int pg_fail(pg_conn *c, const PGresult *res, const char *what);
/* The MLPROTO_ERR_* of a SQLSTATE (NULL: none): ALREADY_EXISTS (23505),
 * NOT_FOUND (23503), BUSY (55P03, 40001, 40P01), DISK_FULL (53100),
 * OUT_OF_MEMORY (53200), INVALID_ARGUMENT (22xxx, 25006), else STORAGE.
 * pg_fail's mapping; admin migrate's connection uses it too. */
int pg_sqlstate_rc(const char *state);

/* Result helpers (binary format). */
uint64_t pg_r_u64(const PGresult *r, int row, int col);
int pg_r_null(const PGresult *r, int row, int col);
/* Copies an n-byte bytea column: STORAGE unless it is exactly n bytes. */
int pg_r_fixed(const PGresult *r, int row, int col, uint8_t *out, size_t n);
/* Copies a text column, cut to cap - 1 bytes, NUL-terminated. */
void pg_r_text(const PGresult *r, int row, int col, char *out, size_t cap);
/* Rows changed by an INSERT/UPDATE/DELETE. */
uint64_t pg_r_changed(const PGresult *r);

#define PTX(tx) ((pg_txn *)(tx))

/* store_pg_buf.c */
/* Writes what is buffered (one statement per table, in one round trip).
 * Reads that the buffer cannot answer call it first. */
int pg_flush(pg_txn *tx);
/* The commit's batch: the buffer, the tree head, the log head, COMMIT. */
int pg_commit_batch(pg_txn *tx);
void pg_buf_free(pg_txn *tx);
int pg_buf_log_append(pg_txn *tx, const mls_log_entry *e);
int pg_buf_node_put(pg_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]);
/* The buffered node, if any: 1 and *h, or 0. */
int pg_buf_node_get(pg_txn *tx, unsigned level, uint64_t index, uint8_t h[32]);
int pg_buf_has_tiles(const pg_txn *tx);
pg_author *pg_buf_author(pg_txn *tx, const uint8_t author[32]);
/* The author's head in the database, looked up once per transaction
 * (device_get of a write transaction reads it in the same round trip,
 * pg_buf_author_set: a push asks for both). */
int pg_buf_author_db(pg_txn *tx, pg_author *a);
/* Takes a P_AUTHOR_HEAD result for a, unless a's head is known already. */
int pg_buf_author_set(pg_author *a, const PGresult *r);
/* Takes a P_TILE_EDGES result (read with the log-head lock at begin). */
void pg_buf_edges_set(pg_txn *tx, const PGresult *r);
pg_casek *pg_buf_case(const pg_txn *tx, const uint8_t case_id[16]);
int pg_buf_case_add(pg_txn *tx, const uint8_t case_id[16], uint64_t erased_ms);
const pg_row *pg_buf_row_at(const pg_txn *tx, const uint8_t author[32], uint64_t seq);
const pg_claim *pg_buf_claim(const pg_txn *tx, const uint8_t case_id[16]);
int pg_buf_is_absent(const pg_txn *tx, const uint8_t case_id[16]);
int pg_buf_mark_absent(pg_txn *tx, const uint8_t case_id[16]);
int pg_buf_claim_add(pg_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]);
int pg_buf_jc_add(pg_txn *tx, const uint8_t case_id[16], const char *jobcentre);

/* store_pg_people.c */
int pg_mentor_add(mls_txn *tx, const mls_mentor *m);
int pg_mentor_get(mls_txn *tx, const uint8_t id[16], mls_mentor *out);
int pg_mentor_list(mls_txn *tx, mls_mentor_fn fn, void *ud);
int pg_code_add(mls_txn *tx, const uint8_t h[32], const uint8_t id[MLS_CODE_ID_LEN],
                const uint8_t mentor[16], uint64_t created, uint64_t expires);
int pg_code_consume(mls_txn *tx, const uint8_t h[32], uint64_t now, const uint8_t device[32],
                    uint8_t mentor[16]);
int pg_code_used_by(mls_txn *tx, const uint8_t h[32], uint8_t device[32], uint8_t mentor[16]);
int pg_code_list(mls_txn *tx, mls_code_fn fn, void *ud);
int pg_code_get(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out);
int pg_code_revoke(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now);
int pg_device_add(mls_txn *tx, const mls_device *d);
int pg_device_get(mls_txn *tx, const uint8_t pub[32], mls_device *out);
int pg_device_get_by_id(mls_txn *tx, const uint8_t id[16], mls_device *out);
int pg_device_list(mls_txn *tx, mls_device_fn fn, void *ud);
int pg_device_revoke(mls_txn *tx, const uint8_t pub[32], uint64_t now);
int pg_session_add(mls_txn *tx, const uint8_t h[32], const uint8_t dev[32], uint64_t exp,
                   const uint8_t challenge[32]);
int pg_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged);
int pg_session_get(mls_txn *tx, const uint8_t h[32], uint64_t now, uint8_t dev[32]);
int pg_web_session_add(mls_txn *tx, const uint8_t id[32], const uint8_t th[32], uint64_t created,
                       uint64_t expires);
int pg_web_session_get(mls_txn *tx, const uint8_t id[32], uint64_t now, uint8_t th[32],
                       uint64_t *created, uint64_t *expires);
int pg_web_session_touch(mls_txn *tx, const uint8_t id[32], uint64_t expires);
int pg_web_session_delete(mls_txn *tx, const uint8_t id[32]);
int pg_web_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged);
int pg_api_token_add(mls_txn *tx, const uint8_t h[32], const char *role, const char *jobcentre,
                     uint64_t created);
int pg_api_token_get(mls_txn *tx, const uint8_t h[32], char role[MLS_ROLE_MAX + 1],
                     char jobcentre[MLS_JOBCENTRE_MAX + 1]);
int pg_case_owner(mls_txn *tx, const uint8_t case_id[16], uint8_t mentor[16]);
int pg_case_claim(mls_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]);
int pg_case_erased_get(mls_txn *tx, const uint8_t case_id[16], uint64_t *erased_ms);
int pg_case_erased_set(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms);
int pg_case_list(mls_txn *tx, mls_case_state_fn fn, void *ud);
int pg_case_version(mls_txn *tx, const uint8_t case_id[16], uint64_t below, uint8_t owner[16],
                    uint64_t *erased_ms, uint64_t *last_index);
int pg_case_jobcentre_add(mls_txn *tx, const uint8_t case_id[16], const char *jobcentre);
int pg_jobcentre_cases(mls_txn *tx, const char *jobcentre, mls_case_fn fn, void *ud);
int pg_meta_get(mls_txn *tx, const char *key, uint8_t *buf, size_t cap, size_t *len);
int pg_meta_put(mls_txn *tx, const char *key, const uint8_t *val, size_t len);

/* store_pg_log.c */
int pg_author_head(mls_txn *tx, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]);
int pg_record_at(mls_txn *tx, const uint8_t author[32], uint64_t seq, mls_record_ref *out);
int pg_envelope_at(mls_txn *tx, uint64_t index, uint8_t *buf, size_t cap, size_t *len);
int pg_envelope_replace(mls_txn *tx, uint64_t index, const uint8_t *env, size_t len);
int pg_log_append(mls_txn *tx, const mls_log_entry *e);
int pg_log_size(mls_txn *tx, uint64_t *size);
int pg_log_list(mls_txn *tx, const uint8_t *mentor, uint64_t since, uint32_t limit,
                mls_entry_fn fn, void *ud);
int pg_case_entries(mls_txn *tx, const uint8_t case_id[16], uint64_t below, mls_entry_fn fn,
                    void *ud);
int pg_leaf_find(mls_txn *tx, const uint8_t leaf[32], uint64_t *index);
int pg_node_put(mls_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]);
int pg_node_get(mls_txn *tx, unsigned level, uint64_t index, uint8_t h[32]);
int pg_node_range(mls_txn *tx, unsigned level, uint64_t first, uint32_t count,
                  uint8_t (*out)[32]);
int pg_leaf_entry_range(mls_txn *tx, uint64_t first, uint32_t count, mls_leaf_entry *out);
int pg_sth_put(mls_txn *tx, const uint8_t *blob, size_t len);
int pg_sth_get(mls_txn *tx, uint8_t *blob, size_t cap, size_t *len);
int pg_fork_add(mls_txn *tx, const uint8_t author[32], uint64_t seq, const uint8_t *logged,
                size_t logged_len, const uint8_t *pushed, size_t pushed_len,
                const uint8_t device[32], uint64_t now);
int pg_fork_count(mls_txn *tx, uint64_t *count);
int pg_fork_list(mls_txn *tx, mls_fork_fn fn, void *ud);
int pg_fork_replace(mls_txn *tx, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len);

/* store_pg_witness.c */
int pg_witness_add(mls_txn *tx, const mls_witness *w);
int pg_witness_get(mls_txn *tx, const char *name, mls_witness *out);
int pg_witness_list(mls_txn *tx, mls_witness_fn fn, void *ud);
int pg_cosig_put(mls_txn *tx, const mls_cosignature *c, int *stored);
int pg_cosig_list(mls_txn *tx, uint64_t size, uint32_t limit, mls_cosig_fn fn, void *ud);

#endif
