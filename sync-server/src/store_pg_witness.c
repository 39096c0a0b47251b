/* store_pg_witness.c — the log's witnesses and the cosignatures they sent
 * (store.h, "witnesses"): tables witnesses and cosignatures. */
#include "store_pg_int.h"

static int read_witness(const PGresult *r, int i, mls_witness *w) {
  memset(w, 0, sizeof *w);
  if (PQgetlength(r, i, 0) > MLS_WITNESS_NAME_MAX || PQgetlength(r, i, 1) > MLS_VKEY_MAX)
    return MLPROTO_ERR_STORAGE;
  pg_r_text(r, i, 0, w->name, sizeof w->name);
  pg_r_text(r, i, 1, w->vkey, sizeof w->vkey);
  w->added_ms = pg_r_u64(r, i, 2);
  return MLPROTO_OK;
}

int pg_witness_add(mls_txn *tx, const mls_witness *w) {
  size_t nl = strnlen(w->name, sizeof w->name), vl = strnlen(w->vkey, sizeof w->vkey);
  if (nl == 0 || nl > MLS_WITNESS_NAME_MAX || vl == 0 || vl > MLS_VKEY_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_bytes(&p, w->name, nl);
  pg_p_bytes(&p, w->vkey, vl);
  pg_p_i64(&p, w->added_ms);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_WITNESS_ADD, &p, &r);
  if (rc) return rc;
  rc = pg_r_changed(r) == 1 ? MLPROTO_OK : MLPROTO_ERR_ALREADY_EXISTS;
  PQclear(r);
  return rc;
}

int pg_witness_get(mls_txn *tx, const char *name, mls_witness *out) {
  memset(out, 0, sizeof *out);
  pg_par p = {0};
  pg_p_text(&p, name);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_WITNESS_GET, &p, &r);
  if (rc) return rc;
  rc = PQntuples(r) == 0 ? MLPROTO_ERR_NOT_FOUND : read_witness(r, 0, out);
  PQclear(r);
  if (rc) memset(out, 0, sizeof *out);
  return rc;
}

int pg_witness_list(mls_txn *tx, mls_witness_fn fn, void *ud) {
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_WITNESS_LIST, NULL, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    mls_witness w;
    if (!(rc = read_witness(r, i, &w))) rc = fn(ud, &w);
  }
  PQclear(r);
  return rc;
}

int pg_cosig_put(mls_txn *tx, const mls_cosignature *c, int *stored) {
  *stored = 0;
  if (c->size > INT64_MAX || c->timestamp > INT64_MAX) return MLPROTO_ERR_OUT_OF_RANGE;
  pg_par p = {0};
  pg_p_i64(&p, c->size);
  pg_p_text(&p, c->witness);
  pg_p_i64(&p, c->timestamp);
  pg_p_bytes(&p, c->sig, 64);
  pg_p_i64(&p, c->received_ms);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_COSIG_PUT, &p, &r);
  if (rc) return rc;
  /* (witnesses found, rows inserted or replaced) */
  if (pg_r_u64(r, 0, 0) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  else *stored = pg_r_u64(r, 0, 1) > 0;
  PQclear(r);
  return rc;
}

int pg_cosig_list(mls_txn *tx, uint64_t size, uint32_t limit, mls_cosig_fn fn, void *ud) {
  if (size > INT64_MAX) return MLPROTO_ERR_OUT_OF_RANGE;
  pg_par p = {0};
  pg_p_i64(&p, size);
  pg_p_i64(&p, limit);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_COSIG_LIST, &p, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    mls_cosignature c;
    memset(&c, 0, sizeof c);
    rc = PQgetlength(r, i, 0) > MLS_WITNESS_NAME_MAX ? MLPROTO_ERR_STORAGE : MLPROTO_OK;
    if (!rc) {
      pg_r_text(r, i, 0, c.witness, sizeof c.witness);
      c.size = pg_r_u64(r, i, 1);
      c.timestamp = pg_r_u64(r, i, 2);
      rc = pg_r_fixed(r, i, 3, c.sig, 64);
      c.received_ms = pg_r_u64(r, i, 4);
    }
    if (!rc) rc = fn(ud, &c);
  }
  PQclear(r);
  return rc;
}
