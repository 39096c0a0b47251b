/* store_sqlite_log.c — the SQLite backend: records by author and seq, the
 * log entries, tree nodes and the leaf index, tree heads, fork evidence,
 * and the ranges of nodes and entries that tlog tiles are made of. */
#include "store_sqlite_int.h"

#include "mlproto/merkle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* --- records and the log --- */

int sq_author_head(mls_txn *tx, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]) {
  PREP(s, tx, S_AUTHOR_HEAD);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    *seq = 0;
    memset(hash, 0, 32);
    return MLPROTO_OK;
  }
  if (rc) return rc;
  *seq = (uint64_t)sqlite3_column_int64(s, 0);
  rc = sq_blob_eq(s, 1, hash, 32);
  sqlite3_reset(s);
  return rc;
}

int sq_record_at(mls_txn *tx, const uint8_t author[32], uint64_t seq, mls_record_ref *out) {
  PREP(s, tx, S_RECORD_AT);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
  int rc = sq_step_row(s);
  if (rc) return rc;
  out->index = (uint64_t)sqlite3_column_int64(s, 0);
  out->received_ms = (uint64_t)sqlite3_column_int64(s, 2);
  rc = sq_blob_eq(s, 1, out->record_hash, 32);
  sqlite3_reset(s);
  return rc;
}

int sq_envelope_at(mls_txn *tx, uint64_t index, uint8_t *buf, size_t cap, size_t *len) {
  PREP(s, tx, S_ENVELOPE_AT);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)index);
  int rc = sq_step_row(s);
  if (rc) return rc;
  size_t n = (size_t)sqlite3_column_bytes(s, 0);
  if (n > cap) rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
  else {
    if (n) memcpy(buf, sqlite3_column_blob(s, 0), n);
    *len = n;
  }
  sqlite3_reset(s);
  return rc;
}

int sq_envelope_replace(mls_txn *tx, uint64_t index, const uint8_t *env, size_t len) {
  if (len > MLS_ENVELOPE_MAX || index > (uint64_t)INT64_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_ENVELOPE_PUT);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)index);
  sqlite3_bind_blob(s, 2, env, (int)len, SQLITE_STATIC);
  int rc = sq_step_done(s);
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  return rc;
}

int sq_log_append(mls_txn *tx, const mls_log_entry *e) {
  if (e->envelope_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  /* at the log's end: an index before it is taken, one past it a gap */
  uint64_t size;
  int rc = sq_log_size(tx, &size);
  if (rc) return rc;
  if (e->index < size) return MLPROTO_ERR_ALREADY_EXISTS;
  if (e->index > size) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_LOG_ADD);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)e->index);
  sqlite3_bind_int(s, 2, e->type);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)e->received_ms);
  sqlite3_bind_blob(s, 4, e->record_hash, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, e->author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)e->seq);
  sqlite3_bind_blob(s, 7, e->record_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(s, 8, e->case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 9, e->kind);
  if (e->has_mentor) sqlite3_bind_blob(s, 10, e->mentor_id, 16, SQLITE_STATIC);
  else sqlite3_bind_null(s, 10);
  sqlite3_bind_blob(s, 11, e->envelope, (int)e->envelope_len, SQLITE_STATIC);
  return sq_step_done(s);
}

int sq_log_size(mls_txn *tx, uint64_t *size) {
  PREP(s, tx, S_LOG_SIZE);
  int rc = sq_step_row(s);
  if (rc) return rc;
  *size = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

/* One row of the log's entry queries (S_LOG_LIST_*, S_CASE_ENTRIES). */
static int row_entry(sqlite3_stmt *s, mls_log_entry *e) {
  memset(e, 0, sizeof *e);
  e->index = (uint64_t)sqlite3_column_int64(s, 0);
  e->type = (uint8_t)sqlite3_column_int(s, 1);
  e->received_ms = (uint64_t)sqlite3_column_int64(s, 2);
  int r = sq_blob_eq(s, 3, e->record_hash, 32);
  if (!r) r = sq_blob_eq(s, 4, e->author, 32);
  e->seq = (uint64_t)sqlite3_column_int64(s, 5);
  if (!r) r = sq_blob_eq(s, 6, e->record_id, 16);
  if (!r) r = sq_blob_eq(s, 7, e->case_id, 16);
  e->kind = (uint32_t)sqlite3_column_int64(s, 8);
  if (!r && sqlite3_column_type(s, 9) != SQLITE_NULL) {
    e->has_mentor = 1;
    r = sq_blob_eq(s, 9, e->mentor_id, 16);
  }
  e->envelope = sqlite3_column_blob(s, 10);
  e->envelope_len = (size_t)sqlite3_column_bytes(s, 10);
  if (!r && sqlite3_column_type(s, 11) != SQLITE_NULL) r = sq_blob_eq(s, 11, e->leaf_hash, 32);
  return r;
}

static int each_entry(sqlite3_stmt *s, mls_entry_fn fn, void *ud) {
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_log_entry e;
    int r = row_entry(s, &e);
    if (!r) r = fn(ud, &e);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

int sq_log_list(mls_txn *tx, const uint8_t *mentor, uint64_t since, uint32_t limit,
                       mls_entry_fn fn, void *ud) {
  if (since > (uint64_t)INT64_MAX) return MLPROTO_OK; /* no index is that large */
  PREP(s, tx, mentor ? S_LOG_LIST_MENTOR : S_LOG_LIST_ALL);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
  sqlite3_bind_int64(s, 2, limit);
  if (mentor) sqlite3_bind_blob(s, 3, mentor, 16, SQLITE_STATIC);
  return each_entry(s, fn, ud);
}

int sq_case_entries(mls_txn *tx, const uint8_t case_id[16], uint64_t below, mls_entry_fn fn,
                    void *ud) {
  PREP(s, tx, S_CASE_ENTRIES);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, below > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)below);
  return each_entry(s, fn, ud);
}

int sq_leaf_find(mls_txn *tx, const uint8_t leaf[32], uint64_t *index) {
  PREP(s, tx, S_LEAF_FIND);
  sqlite3_bind_blob(s, 1, leaf, 32, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  if (sqlite3_column_type(s, 0) == SQLITE_NULL) rc = MLPROTO_ERR_NOT_FOUND;
  else *index = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return rc;
}

int sq_node_put(mls_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]) {
  if (level > 63 || index > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_NODE_PUT);
  sqlite3_bind_int(s, 1, (int)level);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)index);
  sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
  int rc = sq_step_done(s);
  /* inserted only after its predecessor (store.h: in index order) */
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_INVALID_ARGUMENT;
  if (rc || level != 0) return rc;
  PREP(l, tx, S_LEAF_INDEX_PUT);
  sqlite3_bind_int64(l, 1, (sqlite3_int64)index);
  sqlite3_bind_blob(l, 2, h, 32, SQLITE_STATIC);
  return sq_step_done(l);
}

int sq_node_get(mls_txn *tx, unsigned level, uint64_t index, uint8_t h[32]) {
  PREP(s, tx, S_NODE_GET);
  sqlite3_bind_int(s, 1, (int)level);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)index);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, h, 32);
  sqlite3_reset(s);
  return rc;
}

/* Heads only grow (store.h): the same head again is a no-op, another head
 * of the latest's size or an older one is refused, loudly. */
int sq_sth_put(mls_txn *tx, const uint8_t *blob, size_t len) {
  if (len > 256) return MLPROTO_ERR_TOO_LARGE;
  mlproto_sth h, cur;
  if (mlproto_sth_decode(&h, blob, len) != MLPROTO_OK) return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t old[256];
  size_t old_len = 0;
  int rc = sq_sth_get(tx, old, sizeof old, &old_len);
  if (rc == MLPROTO_OK) {
    if (mlproto_sth_decode(&cur, old, old_len) != MLPROTO_OK) return MLPROTO_ERR_STORAGE;
    if (h.size == cur.size) {
      if (len == old_len && memcmp(blob, old, len) == 0) return MLPROTO_OK;
      mls_logf("error", "sth_conflict", "size=%" PRIu64 " hint=a_second_different_head_for_one_size",
               h.size);
      return MLPROTO_ERR_STORAGE;
    }
    if (h.size < cur.size) {
      mls_logf("error", "sth_older", "size=%" PRIu64 " latest=%" PRIu64, h.size, cur.size);
      return MLPROTO_ERR_STORAGE;
    }
  } else if (rc != MLPROTO_ERR_NOT_FOUND) {
    return rc;
  }
  PREP(s, tx, S_STH_PUT);
  sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_STATIC);
  return sq_step_done(s);
}

int sq_sth_get(mls_txn *tx, uint8_t *blob, size_t cap, size_t *len) {
  PREP(s, tx, S_STH_GET);
  int rc = sq_step_row(s);
  if (rc) return rc;
  size_t n = (size_t)sqlite3_column_bytes(s, 0);
  if (n > cap) rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
  else {
    if (n) memcpy(blob, sqlite3_column_blob(s, 0), n);
    *len = n;
  }
  sqlite3_reset(s);
  return rc;
}

int sq_fork_add(mls_txn *tx, const uint8_t author[32], uint64_t seq, const uint8_t *logged,
                       size_t logged_len, const uint8_t *pushed, size_t pushed_len,
                       const uint8_t device[32], uint64_t now) {
  if (logged_len > MLS_ENVELOPE_MAX || pushed_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_FORK_ADD);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
  sqlite3_bind_blob(s, 3, logged, (int)logged_len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 4, pushed, (int)pushed_len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, device, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)now);
  return sq_step_done(s);
}

int sq_fork_count(mls_txn *tx, uint64_t *count) {
  PREP(s, tx, S_FORK_COUNT);
  int rc = sq_step_row(s);
  if (rc) return rc;
  *count = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

/* --- ranges for tlog tiles --- */

static int range_ok(uint64_t first, uint32_t count) {
  return count >= 1 && count <= MLS_RANGE_MAX && first <= (UINT64_C(1) << 63) - count;
}

/* Steps s over the rows of first .. first + count - 1 (column 0 the index),
 * calling row(s, i, out) for the i-th; NOT_FOUND unless every index is
 * there exactly once and in order. */
static int range_rows(sqlite3_stmt *s, uint64_t first, uint32_t count,
                      int (*row)(sqlite3_stmt *s, uint32_t i, void *out), void *out) {
  uint32_t n = 0;
  int rc, r = MLPROTO_OK;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n == count || (uint64_t)sqlite3_column_int64(s, 0) != first + n) {
      r = MLPROTO_ERR_NOT_FOUND;
      break;
    }
    if ((r = row(s, n, out))) break;
    n++;
  }
  sqlite3_reset(s);
  if (r) return r;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sq_map_rc(rc);
  return n == count ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

static int node_row(sqlite3_stmt *s, uint32_t i, void *out) {
  return sq_blob_eq(s, 1, ((uint8_t(*)[32])out)[i], 32);
}

int sq_node_range(mls_txn *tx, unsigned level, uint64_t first, uint32_t count,
                  uint8_t (*out)[32]) {
  if (level > 63 || !range_ok(first, count)) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_NODE_RANGE);
  sqlite3_bind_int(s, 1, (int)level);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)first);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)(first + count - 1)); /* <= 2^63 - 1 */
  int rc = range_rows(s, first, count, node_row, out);
  if (rc) memset(out, 0, (size_t)count * 32);
  return rc;
}

static int leaf_entry_row(sqlite3_stmt *s, uint32_t i, void *out) {
  mls_leaf_entry *e = (mls_leaf_entry *)out + i;
  sqlite3_int64 type = sqlite3_column_int64(s, 1);
  if (type < 0 || type > 255) return MLPROTO_ERR_STORAGE;
  e->type = (uint8_t)type;
  e->received_ms = (uint64_t)sqlite3_column_int64(s, 2);
  return sq_blob_eq(s, 3, e->record_hash, 32);
}

int sq_leaf_entry_range(mls_txn *tx, uint64_t first, uint32_t count, mls_leaf_entry *out) {
  if (!range_ok(first, count)) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_LEAF_ENTRY_RANGE);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)first);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(first + count - 1));
  int rc = range_rows(s, first, count, leaf_entry_row, out);
  if (rc) memset(out, 0, (size_t)count * sizeof *out);
  return rc;
}

int sq_fork_list(mls_txn *tx, mls_fork_fn fn, void *ud) {
  PREP(s, tx, S_FORK_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int r = fn(ud, (uint64_t)sqlite3_column_int64(s, 0), sqlite3_column_blob(s, 1),
               (size_t)sqlite3_column_bytes(s, 1), sqlite3_column_blob(s, 2),
               (size_t)sqlite3_column_bytes(s, 2));
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

int sq_fork_replace(mls_txn *tx, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len) {
  if (logged_len > MLS_ENVELOPE_MAX || pushed_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_FORK_PUT);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
  sqlite3_bind_blob(s, 2, logged, (int)logged_len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, pushed, (int)pushed_len, SQLITE_STATIC);
  int rc = sq_step_done(s);
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  return rc;
}
