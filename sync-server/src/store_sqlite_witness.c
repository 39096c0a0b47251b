/* store_sqlite_witness.c — the log's witnesses and the cosignatures they
 * sent (store.h, "witnesses"): tables witnesses and cosignatures. */
#include "store_sqlite_int.h"

static int read_witness(sqlite3_stmt *s, mls_witness *w) {
  memset(w, 0, sizeof *w);
  if (sqlite3_column_bytes(s, 0) > MLS_WITNESS_NAME_MAX || sqlite3_column_bytes(s, 1) > MLS_VKEY_MAX)
    return MLPROTO_ERR_STORAGE;
  sq_text_copy(s, 0, w->name, sizeof w->name);
  sq_text_copy(s, 1, w->vkey, sizeof w->vkey);
  w->added_ms = (uint64_t)sqlite3_column_int64(s, 2);
  return MLPROTO_OK;
}

int sq_witness_add(mls_txn *tx, const mls_witness *w) {
  size_t nl = strnlen(w->name, sizeof w->name), vl = strnlen(w->vkey, sizeof w->vkey);
  if (nl == 0 || nl > MLS_WITNESS_NAME_MAX || vl == 0 || vl > MLS_VKEY_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_WITNESS_ADD);
  sqlite3_bind_text(s, 1, w->name, (int)nl, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, w->vkey, (int)vl, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)w->added_ms);
  return sq_step_done(s);
}

int sq_witness_get(mls_txn *tx, const char *name, mls_witness *out) {
  memset(out, 0, sizeof *out);
  PREP(s, tx, S_WITNESS_GET);
  sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = read_witness(s, out);
  sqlite3_reset(s);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int sq_witness_list(mls_txn *tx, mls_witness_fn fn, void *ud) {
  PREP(s, tx, S_WITNESS_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_witness w;
    int r = read_witness(s, &w);
    if (!r) r = fn(ud, &w);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

int sq_cosig_put(mls_txn *tx, const mls_cosignature *c, int *stored) {
  *stored = 0;
  if (c->size > INT64_MAX || c->timestamp > INT64_MAX) return MLPROTO_ERR_OUT_OF_RANGE;
  PREP(s, tx, S_COSIG_PUT);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)c->size);
  sqlite3_bind_text(s, 2, c->witness, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)c->timestamp);
  sqlite3_bind_blob(s, 4, c->sig, 64, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, (sqlite3_int64)c->received_ms);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  /* the foreign key: no such witness */
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return MLPROTO_ERR_NOT_FOUND;
  if (rc != SQLITE_DONE) return sq_map_rc(rc);
  *stored = sqlite3_changes(CONN(tx)->db) > 0;
  return MLPROTO_OK;
}

int sq_cosig_list(mls_txn *tx, uint64_t size, uint32_t limit, mls_cosig_fn fn, void *ud) {
  if (size > INT64_MAX) return MLPROTO_ERR_OUT_OF_RANGE;
  PREP(s, tx, S_COSIG_LIST);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)size);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_cosignature c;
    memset(&c, 0, sizeof c);
    int r = sqlite3_column_bytes(s, 0) > MLS_WITNESS_NAME_MAX ? MLPROTO_ERR_STORAGE : MLPROTO_OK;
    if (!r) {
      sq_text_copy(s, 0, c.witness, sizeof c.witness);
      c.size = (uint64_t)sqlite3_column_int64(s, 1);
      c.timestamp = (uint64_t)sqlite3_column_int64(s, 2);
      r = sq_blob_eq(s, 3, c.sig, 64);
      c.received_ms = (uint64_t)sqlite3_column_int64(s, 4);
    }
    if (!r) r = fn(ud, &c);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}
