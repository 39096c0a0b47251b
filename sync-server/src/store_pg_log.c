/* store_pg_log.c — the PostgreSQL backend: records by author and seq, the
 * log entries, the tree's tiles, tree heads (checkpoints), fork evidence,
 * and the ranges of nodes and entries that tlog tiles are made of. In a
 * write transaction, what it appended is answered from its buffer
 * (store_pg_buf.c). */
#include "store_pg_int.h"

#include "mlproto/merkle.h"

#include <inttypes.h>
#include <stdlib.h>

/* Rows a listing reads per statement: a PGresult holds its rows whole, so
 * a listing of thousands of envelopes is read in pieces. */
#define LIST_CHUNK 256u
#define FORK_CHUNK 32u

static uint64_t clamp63(uint64_t v) { return v > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : v; }

/* ---------------------------------------------------- records and the log --- */

int pg_author_head(mls_txn *base, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]) {
  pg_txn *tx = PTX(base);
  if (tx->write) {
    pg_author *a = pg_buf_author(tx, author);
    if (!a) return MLPROTO_ERR_OUT_OF_MEMORY;
    int rc = pg_buf_author_db(tx, a);
    if (rc) return rc;
    int buf = a->buf_seq > a->db_seq;
    *seq = buf ? a->buf_seq : a->db_seq;
    memcpy(hash, buf ? a->buf_hash : a->db_hash, 32);
    return MLPROTO_OK;
  }
  pg_par p = {0};
  pg_p_bytes(&p, author, 32);
  PGresult *r;
  int rc = pg_exec(tx, P_AUTHOR_HEAD, &p, &r);
  if (rc) return rc;
  if (PQntuples(r) == 0) {
    *seq = 0;
    memset(hash, 0, 32);
  } else {
    *seq = pg_r_u64(r, 0, 0);
    rc = pg_r_fixed(r, 0, 1, hash, 32);
  }
  PQclear(r);
  return rc;
}

int pg_record_at(mls_txn *base, const uint8_t author[32], uint64_t seq, mls_record_ref *out) {
  pg_txn *tx = PTX(base);
  const pg_row *row = tx->write ? pg_buf_row_at(tx, author, seq) : NULL;
  if (row) {
    out->index = row->e.index;
    out->received_ms = row->e.received_ms;
    memcpy(out->record_hash, row->e.record_hash, 32);
    return MLPROTO_OK;
  }
  pg_par p = {0};
  pg_p_bytes(&p, author, 32);
  pg_p_i64(&p, seq);
  PGresult *r;
  int rc = pg_exec(tx, P_RECORD_AT, &p, &r);
  if (rc) return rc;
  if (PQntuples(r) == 0) {
    rc = MLPROTO_ERR_NOT_FOUND;
  } else {
    out->index = pg_r_u64(r, 0, 0);
    out->received_ms = pg_r_u64(r, 0, 2);
    rc = pg_r_fixed(r, 0, 1, out->record_hash, 32);
  }
  PQclear(r);
  return rc;
}

static pg_row *buffered_row(pg_txn *tx, uint64_t index) {
  if (!tx->write || index < tx->db_size || index - tx->db_size >= tx->n_rows) return NULL;
  return &tx->rows[index - tx->db_size];
}

int pg_envelope_at(mls_txn *base, uint64_t index, uint8_t *buf, size_t cap, size_t *len) {
  pg_txn *tx = PTX(base);
  const pg_row *row = buffered_row(tx, index);
  if (row) {
    if (row->e.envelope_len > cap) return MLPROTO_ERR_BUFFER_TOO_SMALL;
    if (row->e.envelope_len) memcpy(buf, row->e.envelope, row->e.envelope_len);
    *len = row->e.envelope_len;
    return MLPROTO_OK;
  }
  if (index > (uint64_t)INT64_MAX) return MLPROTO_ERR_NOT_FOUND;
  pg_par p = {0};
  pg_p_i64(&p, index);
  PGresult *r;
  int rc = pg_exec(tx, P_ENVELOPE_AT, &p, &r);
  if (rc) return rc;
  if (PQntuples(r) == 0) {
    rc = MLPROTO_ERR_NOT_FOUND;
  } else {
    size_t n = (size_t)PQgetlength(r, 0, 0);
    if (n > cap) {
      rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
    } else {
      if (n) memcpy(buf, PQgetvalue(r, 0, 0), n);
      *len = n;
    }
  }
  PQclear(r);
  return rc;
}

int pg_envelope_replace(mls_txn *base, uint64_t index, const uint8_t *env, size_t len) {
  pg_txn *tx = PTX(base);
  if (len > MLS_ENVELOPE_MAX || index > (uint64_t)INT64_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_row *row = buffered_row(tx, index);
  if (row) {
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return MLPROTO_ERR_OUT_OF_MEMORY;
    if (len) memcpy(copy, env, len);
    tx->row_bytes = tx->row_bytes - row->e.envelope_len + len;
    free(row->env);
    row->env = copy;
    row->e.envelope = copy;
    row->e.envelope_len = len;
    return MLPROTO_OK;
  }
  pg_par p = {0};
  pg_p_i64(&p, index);
  pg_p_bytes(&p, env, len);
  PGresult *r;
  int rc = pg_exec(tx, P_ENVELOPE_PUT, &p, &r);
  if (rc) return rc;
  if (pg_r_changed(r) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  PQclear(r);
  return rc;
}

int pg_log_append(mls_txn *base, const mls_log_entry *e) {
  pg_txn *tx = PTX(base);
  if (e->envelope_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  if (!tx->write) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (tx->failed) return tx->failed;
  return pg_buf_log_append(tx, e);
}

int pg_log_size(mls_txn *base, uint64_t *size) {
  pg_txn *tx = PTX(base);
  if (tx->write) {
    if (tx->failed) return tx->failed;
    *size = tx->db_size + tx->n_rows;
    return MLPROTO_OK;
  }
  PGresult *r;
  int rc = pg_exec(tx, P_LOG_SIZE, NULL, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1) {
    mls_logf("error", "pg_log_head_missing", "rows=%d", PQntuples(r));
    rc = MLPROTO_ERR_STORAGE;
  } else {
    *size = pg_r_u64(r, 0, 0);
  }
  PQclear(r);
  return rc;
}

/* One row of the log's entry queries (P_LOG_LIST_*, P_CASE_ENTRIES). */
static int row_entry(const PGresult *r, int i, mls_log_entry *e) {
  memset(e, 0, sizeof *e);
  e->index = pg_r_u64(r, i, 0);
  uint64_t type = pg_r_u64(r, i, 1);
  if (type > 255) return MLPROTO_ERR_STORAGE;
  e->type = (uint8_t)type;
  e->received_ms = pg_r_u64(r, i, 2);
  int rc = pg_r_fixed(r, i, 3, e->record_hash, 32);
  if (!rc) rc = pg_r_fixed(r, i, 4, e->author, 32);
  e->seq = pg_r_u64(r, i, 5);
  if (!rc) rc = pg_r_fixed(r, i, 6, e->record_id, 16);
  if (!rc) rc = pg_r_fixed(r, i, 7, e->case_id, 16);
  e->kind = (uint32_t)pg_r_u64(r, i, 8);
  if (!rc && !pg_r_null(r, i, 9)) {
    e->has_mentor = 1;
    rc = pg_r_fixed(r, i, 9, e->mentor_id, 16);
  }
  e->envelope = (const uint8_t *)PQgetvalue(r, i, 10);
  e->envelope_len = (size_t)PQgetlength(r, i, 10);
  if (!rc && !pg_r_null(r, i, 11)) rc = pg_r_fixed(r, i, 11, e->leaf_hash, 32);
  return rc;
}

/* Calls fn for each row of r; *last the last index, *n the rows. */
static int each_entry(const PGresult *r, mls_entry_fn fn, void *ud, uint64_t *last, int *n) {
  *n = PQntuples(r);
  for (int i = 0; i < *n; i++) {
    mls_log_entry e;
    int rc = row_entry(r, i, &e);
    if (!rc) rc = fn(ud, &e);
    if (rc) return rc;
    *last = e.index;
  }
  return MLPROTO_OK;
}

int pg_log_list(mls_txn *base, const uint8_t *mentor, uint64_t since, uint32_t limit,
                mls_entry_fn fn, void *ud) {
  pg_txn *tx = PTX(base);
  int rc;
  if (tx->write && tx->n_rows && (rc = pg_flush(tx))) return rc;
  if (since > (uint64_t)INT64_MAX) return MLPROTO_OK; /* no index is that large */
  while (limit > 0) {
    uint32_t chunk = limit < LIST_CHUNK ? limit : LIST_CHUNK;
    pg_par p = {0};
    pg_p_i64(&p, since);
    pg_p_i64(&p, chunk);
    if (mentor) pg_p_bytes(&p, mentor, 16);
    PGresult *r;
    if ((rc = pg_exec(tx, mentor ? P_LOG_LIST_MENTOR : P_LOG_LIST_ALL, &p, &r))) return rc;
    uint64_t last = 0;
    int n = 0;
    rc = each_entry(r, fn, ud, &last, &n);
    PQclear(r);
    if (rc) return rc;
    if ((uint32_t)n < chunk) break;
    limit -= chunk;
    since = last + 1;
  }
  return MLPROTO_OK;
}

int pg_case_entries(mls_txn *base, const uint8_t case_id[16], uint64_t below, mls_entry_fn fn,
                    void *ud) {
  pg_txn *tx = PTX(base);
  int rc;
  if (tx->write && tx->n_rows && (rc = pg_flush(tx))) return rc;
  uint64_t since = 0;
  for (;;) {
    pg_par p = {0};
    pg_p_bytes(&p, case_id, 16);
    pg_p_i64(&p, since);
    pg_p_i64(&p, clamp63(below));
    pg_p_i64(&p, LIST_CHUNK);
    PGresult *r;
    if ((rc = pg_exec(tx, P_CASE_ENTRIES, &p, &r))) return rc;
    uint64_t last = 0;
    int n = 0;
    rc = each_entry(r, fn, ud, &last, &n);
    PQclear(r);
    if (rc) return rc;
    if ((uint32_t)n < LIST_CHUNK) return MLPROTO_OK;
    since = last + 1;
  }
}

int pg_leaf_find(mls_txn *base, const uint8_t leaf[32], uint64_t *index) {
  pg_txn *tx = PTX(base);
  pg_par p = {0};
  pg_p_bytes(&p, leaf, 32);
  PGresult *r;
  int rc = pg_exec(tx, P_LEAF_FIND, &p, &r);
  if (rc) return rc;
  int found = PQntuples(r) == 1 && !pg_r_null(r, 0, 0);
  if (found) *index = pg_r_u64(r, 0, 0);
  PQclear(r);
  if (found) return MLPROTO_OK;
  /* buffered rows come after every stored one */
  for (size_t i = 0; tx->write && i < tx->n_rows; i++)
    if (memcmp(tx->rows[i].e.leaf_hash, leaf, 32) == 0) {
      *index = tx->rows[i].e.index;
      return MLPROTO_OK;
    }
  return MLPROTO_ERR_NOT_FOUND;
}

/* ----------------------------------------------------------------- tiles --- */

int pg_node_put(mls_txn *base, unsigned level, uint64_t index, const uint8_t h[32]) {
  pg_txn *tx = PTX(base);
  if (level > 63 || index > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (!tx->write) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (tx->failed) return tx->failed;
  return pg_buf_node_put(tx, level, index, h);
}

int pg_node_get(mls_txn *base, unsigned level, uint64_t index, uint8_t h[32]) {
  pg_txn *tx = PTX(base);
  if (level > 63 || index > (uint64_t)INT64_MAX) return MLPROTO_ERR_NOT_FOUND;
  if (tx->write && pg_buf_node_get(tx, level, index, h)) return tx->failed;
  pg_par p = {0};
  pg_p_i16(&p, level);
  pg_p_i64(&p, index);
  PGresult *r;
  int rc = pg_exec(tx, P_NODE_GET, &p, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 32) rc = MLPROTO_ERR_NOT_FOUND;
  else memcpy(h, PQgetvalue(r, 0, 0), 32);
  PQclear(r);
  return rc;
}

static int range_ok(uint64_t first, uint32_t count) {
  return count >= 1 && count <= MLS_RANGE_MAX && first <= (UINT64_C(1) << 63) - count;
}

int pg_node_range(mls_txn *base, unsigned level, uint64_t first, uint32_t count,
                  uint8_t (*out)[32]) {
  pg_txn *tx = PTX(base);
  if (level > 63 || !range_ok(first, count)) return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc;
  if (tx->write && pg_buf_has_tiles(tx) && (rc = pg_flush(tx))) return rc;
  uint64_t t0 = first / PG_TILE_WIDTH, t1 = (first + count - 1) / PG_TILE_WIDTH;
  pg_par p = {0};
  pg_p_i16(&p, level);
  pg_p_i64(&p, t0);
  pg_p_i64(&p, t1);
  PGresult *r;
  if ((rc = pg_exec(tx, P_NODE_RANGE, &p, &r))) {
    memset(out, 0, (size_t)count * 32);
    return rc;
  }
  /* at most two rows (t0, t1): each node from the row of its tile */
  int rows = PQntuples(r);
  for (uint32_t i = 0; i < count && !rc; i++) {
    uint64_t node = first + i, t = node / PG_TILE_WIDTH;
    size_t off = (size_t)(node % PG_TILE_WIDTH) * 32;
    int k = 0;
    while (k < rows && pg_r_u64(r, k, 0) != t) k++;
    if (k == rows || (size_t)PQgetlength(r, k, 1) < off + 32) rc = MLPROTO_ERR_NOT_FOUND;
    else memcpy(out[i], PQgetvalue(r, k, 1) + off, 32);
  }
  PQclear(r);
  if (rc) memset(out, 0, (size_t)count * 32);
  return rc;
}

int pg_leaf_entry_range(mls_txn *base, uint64_t first, uint32_t count, mls_leaf_entry *out) {
  pg_txn *tx = PTX(base);
  if (!range_ok(first, count)) return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc;
  if (tx->write && tx->n_rows && first + count > tx->db_size && (rc = pg_flush(tx))) return rc;
  pg_par p = {0};
  pg_p_i64(&p, first);
  pg_p_i64(&p, first + count - 1);
  PGresult *r;
  if ((rc = pg_exec(tx, P_LEAF_ENTRY_RANGE, &p, &r))) {
    memset(out, 0, (size_t)count * sizeof *out);
    return rc;
  }
  /* every index of the range, once and in order */
  if ((uint32_t)PQntuples(r) != count) rc = MLPROTO_ERR_NOT_FOUND;
  for (uint32_t i = 0; i < count && !rc; i++) {
    uint64_t type = pg_r_u64(r, (int)i, 1);
    if (pg_r_u64(r, (int)i, 0) != first + i) rc = MLPROTO_ERR_NOT_FOUND;
    else if (type > 255) rc = MLPROTO_ERR_STORAGE;
    else {
      out[i].type = (uint8_t)type;
      out[i].received_ms = pg_r_u64(r, (int)i, 2);
      rc = pg_r_fixed(r, (int)i, 3, out[i].record_hash, 32);
    }
  }
  PQclear(r);
  if (rc) memset(out, 0, (size_t)count * sizeof *out);
  return rc;
}

/* ------------------------------------------------------------ tree heads --- */

/* Heads only grow (store.h): the write transaction knows the largest
 * stored one (read with the lock) and the one it put. */
int pg_sth_put(mls_txn *base, const uint8_t *blob, size_t len) {
  pg_txn *tx = PTX(base);
  if (len > 256) return MLPROTO_ERR_TOO_LARGE;
  mlproto_sth h;
  if (mlproto_sth_decode(&h, blob, len) != MLPROTO_OK) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (!tx->write) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (tx->failed) return tx->failed;
  int have = tx->sth_pending || tx->have_top;
  uint64_t size = tx->sth_pending ? tx->sth_size : tx->top_size;
  const uint8_t *latest = tx->sth_pending ? tx->sth : tx->top_note;
  size_t latest_len = tx->sth_pending ? tx->sth_len : tx->top_len;
  if (have && h.size == size) {
    if (len == latest_len && memcmp(blob, latest, len) == 0) return MLPROTO_OK;
    mls_logf("error", "sth_conflict", "size=%" PRIu64 " hint=a_second_different_head_for_one_size",
             h.size);
    return MLPROTO_ERR_STORAGE;
  }
  if (have && h.size < size) {
    mls_logf("error", "sth_older", "size=%" PRIu64 " latest=%" PRIu64, h.size, size);
    return MLPROTO_ERR_STORAGE;
  }
  memcpy(tx->sth, blob, len);
  tx->sth_len = len;
  tx->sth_size = h.size;
  tx->sth_pending = 1;
  return MLPROTO_OK;
}

int pg_sth_get(mls_txn *base, uint8_t *blob, size_t cap, size_t *len) {
  pg_txn *tx = PTX(base);
  if (tx->write) {
    if (tx->failed) return tx->failed;
    if (!tx->sth_pending && !tx->have_top) return MLPROTO_ERR_NOT_FOUND;
    size_t n = tx->sth_pending ? tx->sth_len : tx->top_len;
    if (n > cap) return MLPROTO_ERR_BUFFER_TOO_SMALL;
    memcpy(blob, tx->sth_pending ? tx->sth : tx->top_note, n);
    *len = n;
    return MLPROTO_OK;
  }
  PGresult *r;
  int rc = pg_exec(tx, P_STH_GET, NULL, &r);
  if (rc) return rc;
  if (PQntuples(r) == 0) {
    rc = MLPROTO_ERR_NOT_FOUND;
  } else {
    size_t n = (size_t)PQgetlength(r, 0, 0);
    if (n > cap) {
      rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
    } else {
      memcpy(blob, PQgetvalue(r, 0, 0), n);
      *len = n;
    }
  }
  PQclear(r);
  return rc;
}

/* ----------------------------------------------------------------- forks --- */

int pg_fork_add(mls_txn *base, const uint8_t author[32], uint64_t seq, const uint8_t *logged,
                size_t logged_len, const uint8_t *pushed, size_t pushed_len,
                const uint8_t device[32], uint64_t now) {
  if (logged_len > MLS_ENVELOPE_MAX || pushed_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_bytes(&p, author, 32);
  pg_p_i64(&p, seq);
  pg_p_bytes(&p, logged, logged_len);
  pg_p_bytes(&p, pushed, pushed_len);
  pg_p_bytes(&p, device, 32);
  pg_p_i64(&p, now);
  return pg_exec(PTX(base), P_FORK_ADD, &p, NULL);
}

int pg_fork_count(mls_txn *base, uint64_t *count) {
  PGresult *r;
  int rc = pg_exec(PTX(base), P_FORK_COUNT, NULL, &r);
  if (rc) return rc;
  *count = pg_r_u64(r, 0, 0);
  PQclear(r);
  return MLPROTO_OK;
}

int pg_fork_list(mls_txn *base, mls_fork_fn fn, void *ud) {
  pg_txn *tx = PTX(base);
  uint64_t from = 0;
  for (;;) {
    pg_par p = {0};
    pg_p_i64(&p, from);
    pg_p_i64(&p, FORK_CHUNK);
    PGresult *r;
    int rc = pg_exec(tx, P_FORK_LIST, &p, &r);
    if (rc) return rc;
    int n = PQntuples(r);
    for (int i = 0; i < n && !rc; i++) {
      uint64_t id = pg_r_u64(r, i, 0);
      rc = fn(ud, id, (const uint8_t *)PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1),
              (const uint8_t *)PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
      from = id + 1;
    }
    PQclear(r);
    if (rc || (uint32_t)n < FORK_CHUNK) return rc;
  }
}

int pg_fork_replace(mls_txn *base, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len) {
  if (logged_len > MLS_ENVELOPE_MAX || pushed_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_i64(&p, id);
  pg_p_bytes(&p, logged, logged_len);
  pg_p_bytes(&p, pushed, pushed_len);
  PGresult *r;
  int rc = pg_exec(PTX(base), P_FORK_PUT, &p, &r);
  if (rc) return rc;
  if (pg_r_changed(r) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  PQclear(r);
  return rc;
}
