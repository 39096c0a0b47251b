/* The device's chain tip: seq, head hash and HLC of its last record, loaded
 * at open, kept in memory while transactions run, written to the chain row
 * once per outermost commit (a transaction participant, store.c). */
#include "internal.h"

#include <string.h>

int ml__chain_load(mentorlog *h) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT seq, head, hlc FROM chain WHERE id = 1");
  if (err) {
    h->chain_stale = 1;
    return err;
  }
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
    h->seq = (uint64_t)sqlite3_column_int64(st, 0);
    memcpy(h->head, sqlite3_column_blob(st, 1), 32);
    err = mlproto_hlc_init(&h->hlc, (uint64_t)sqlite3_column_int64(st, 2),
                           MLPROTO_HLC_DEFAULT_MAX_DRIFT_MS);
  } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the chain tip is missing");
  } else {
    err = ml__sqlite_err(h, rc, "read chain");
  }
  sqlite3_finalize(st);
  h->chain_stale = err != 0;
  return err;
}

int ml__chain_store(mentorlog *h) {
  if (!h->chain_dirty)
    return 0;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_CHAIN_UPDATE, &st);
  if (err)
    return err;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)h->seq);
  sqlite3_bind_blob(st, 2, h->head, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)h->hlc.last);
  if ((err = ml__stmt_run(h, st, "advance chain")))
    return err;
  if (sqlite3_changes(h->db) != 1)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the chain tip is missing");
  h->chain_dirty = 0;
  return 0;
}

/* The chain tip as a transaction participant: snapshot at the start of an
 * outermost transaction (operation or batch), the row written once at its
 * commit, the snapshot back on rollback (the row itself was never written
 * inside the transaction, so it still holds the snapshot's values). */
static void chain_tx_begin(mentorlog *h) {
  h->saved_seq = h->seq;
  memcpy(h->saved_head, h->head, 32);
  h->saved_hlc = h->hlc.last;
}

static void chain_tx_rollback(mentorlog *h, bool batch) {
  (void)batch;
  h->chain_dirty = 0;
  h->seq = h->saved_seq;
  memcpy(h->head, h->saved_head, 32);
  h->hlc.last = h->saved_hlc;
}

const struct ml_txpart ml__chain_txpart = {"chain tip", chain_tx_begin, ml__chain_store,
                                           chain_tx_rollback};
