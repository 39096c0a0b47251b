/* store_pg_people.c — the PostgreSQL backend: mentors, enrolment codes,
 * devices, sessions, API tokens, case owners and their jobcentres, meta.
 * A duplicate is an INSERT that changed no row (ON CONFLICT DO NOTHING),
 * not a database error: the transaction stays usable, as in SQLite. */
#include "store_pg_int.h"

#include <stdlib.h>

/* An INSERT ... ON CONFLICT DO NOTHING: ALREADY_EXISTS when it added no row. */
static int insert_new(pg_txn *tx, enum pg_stmt id, const pg_par *p) {
  PGresult *r;
  int rc = pg_exec(tx, id, p, &r);
  if (rc) return rc;
  rc = pg_r_changed(r) == 1 ? MLPROTO_OK : MLPROTO_ERR_ALREADY_EXISTS;
  PQclear(r);
  return rc;
}

/* An UPDATE of one row: NOT_FOUND when it changed none. */
static int update_one(pg_txn *tx, enum pg_stmt id, const pg_par *p) {
  PGresult *r;
  int rc = pg_exec(tx, id, p, &r);
  if (rc) return rc;
  rc = pg_r_changed(r) >= 1 ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
  PQclear(r);
  return rc;
}

/* A query by key: OK with one row in *r, NOT_FOUND (r cleared) without. */
static int get_one(pg_txn *tx, enum pg_stmt id, const pg_par *p, PGresult **r) {
  int rc = pg_exec(tx, id, p, r);
  if (rc) return rc;
  if (PQntuples(*r) == 0) {
    PQclear(*r);
    *r = NULL;
    return MLPROTO_ERR_NOT_FOUND;
  }
  return MLPROTO_OK;
}

/* --- mentors --- */

int pg_mentor_add(mls_txn *tx, const mls_mentor *m) {
  if (strlen(m->name) > MLS_NAME_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_bytes(&p, m->id, 16);
  pg_p_text(&p, m->name);
  pg_p_i64(&p, m->created_ms);
  return insert_new(PTX(tx), P_MENTOR_ADD, &p);
}

static int read_mentor(const PGresult *r, int i, mls_mentor *m) {
  memset(m, 0, sizeof *m);
  int rc = pg_r_fixed(r, i, 0, m->id, 16);
  pg_r_text(r, i, 1, m->name, sizeof m->name);
  m->created_ms = pg_r_u64(r, i, 2);
  return rc;
}

int pg_mentor_get(mls_txn *tx, const uint8_t id[16], mls_mentor *out) {
  pg_par p = {0};
  pg_p_bytes(&p, id, 16);
  PGresult *r;
  int rc = get_one(PTX(tx), P_MENTOR_GET, &p, &r);
  if (rc) return rc;
  rc = read_mentor(r, 0, out);
  PQclear(r);
  return rc;
}

int pg_mentor_list(mls_txn *tx, mls_mentor_fn fn, void *ud) {
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_MENTOR_LIST, NULL, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    mls_mentor m;
    if (!(rc = read_mentor(r, i, &m))) rc = fn(ud, &m);
  }
  PQclear(r);
  return rc;
}

/* --- enrolment codes --- */

int pg_code_add(mls_txn *tx, const uint8_t h[32], const uint8_t id[MLS_CODE_ID_LEN],
                const uint8_t mentor[16], uint64_t created, uint64_t expires) {
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  pg_p_bytes(&p, mentor, 16);
  pg_p_i64(&p, created);
  pg_p_i64(&p, expires);
  pg_p_bytes(&p, id, MLS_CODE_ID_LEN);
  return insert_new(PTX(tx), P_CODE_ADD, &p);
}

static int read_code(const PGresult *r, int i, mls_enroll_code *c) {
  memset(c, 0, sizeof *c);
  int rc = pg_r_fixed(r, i, 0, c->id, MLS_CODE_ID_LEN);
  if (!rc) rc = pg_r_fixed(r, i, 1, c->mentor_id, 16);
  c->created_ms = pg_r_u64(r, i, 2);
  c->expires_ms = pg_r_u64(r, i, 3);
  if (!pg_r_null(r, i, 4)) {
    c->used_ms = pg_r_u64(r, i, 4);
    if (!c->used_ms) c->used_ms = 1;
    if (!rc && !pg_r_null(r, i, 5)) rc = pg_r_fixed(r, i, 5, c->used_by, 32);
  }
  if (!pg_r_null(r, i, 6)) {
    c->revoked_ms = pg_r_u64(r, i, 6);
    if (!c->revoked_ms) c->revoked_ms = 1;
  }
  return rc;
}

int pg_code_list(mls_txn *tx, mls_code_fn fn, void *ud) {
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_CODE_LIST, NULL, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    mls_enroll_code c;
    if (!(rc = read_code(r, i, &c))) rc = fn(ud, &c);
  }
  PQclear(r);
  return rc;
}

int pg_code_get(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out) {
  pg_par p = {0};
  pg_p_bytes(&p, id, MLS_CODE_ID_LEN);
  PGresult *r;
  int rc = get_one(PTX(tx), P_CODE_GET_ID, &p, &r);
  if (rc) return rc;
  rc = read_code(r, 0, out);
  PQclear(r);
  return rc;
}

int pg_code_revoke(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now) {
  pg_par p = {0};
  pg_p_bytes(&p, id, MLS_CODE_ID_LEN);
  pg_p_i64(&p, now ? now : 1);
  return update_one(PTX(tx), P_CODE_REVOKE, &p);
}

int pg_code_consume(mls_txn *tx, const uint8_t h[32], uint64_t now, const uint8_t device[32],
                    uint8_t mentor[16]) {
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  pg_p_i64(&p, now);
  pg_p_bytes(&p, device, 32);
  PGresult *r;
  int rc = get_one(PTX(tx), P_CODE_CONSUME, &p, &r);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_ENROLL_CODE_INVALID;
  if (rc) return rc;
  rc = pg_r_fixed(r, 0, 0, mentor, 16);
  PQclear(r);
  return rc;
}

int pg_code_used_by(mls_txn *tx, const uint8_t h[32], uint8_t device[32], uint8_t mentor[16]) {
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  PGresult *r;
  int rc = get_one(PTX(tx), P_CODE_USED_BY, &p, &r);
  if (rc) return rc;
  rc = pg_r_fixed(r, 0, 0, device, 32);
  if (!rc) rc = pg_r_fixed(r, 0, 1, mentor, 16);
  PQclear(r);
  return rc;
}

/* --- devices --- */

int pg_device_add(mls_txn *tx, const mls_device *d) {
  if (strlen(d->label) > MLS_LABEL_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_bytes(&p, d->pub, 32);
  pg_p_bytes(&p, d->box_pub, 32);
  pg_p_bytes(&p, d->mentor_id, 16);
  pg_p_text(&p, d->label);
  pg_p_i64(&p, d->enrolled_ms);
  pg_p_i64(&p, d->revoked_ms);
  pg_p_bytes(&p, d->id, 16);
  return insert_new(PTX(tx), P_DEVICE_ADD, &p);
}

static int read_device(const PGresult *r, int i, mls_device *d) {
  memset(d, 0, sizeof *d);
  int rc = pg_r_fixed(r, i, 0, d->pub, 32);
  if (!rc) rc = pg_r_fixed(r, i, 1, d->box_pub, 32);
  if (!rc) rc = pg_r_fixed(r, i, 2, d->mentor_id, 16);
  pg_r_text(r, i, 3, d->label, sizeof d->label);
  d->enrolled_ms = pg_r_u64(r, i, 4);
  d->revoked_ms = pg_r_u64(r, i, 5);
  if (!rc) rc = pg_r_fixed(r, i, 6, d->id, 16);
  return rc;
}

static int device_by(mls_txn *tx, enum pg_stmt id, const uint8_t *key, size_t n, mls_device *out) {
  pg_par p = {0};
  pg_p_bytes(&p, key, n);
  PGresult *r;
  int rc = get_one(PTX(tx), id, &p, &r);
  if (rc) return rc;
  rc = read_device(r, 0, out);
  PQclear(r);
  return rc;
}

/* In a write transaction the device's author head and the tiles' edge come
 * in the same round trip: a push reads the device under the lock, then its
 * head, then appends to the tree. */
int pg_device_get(mls_txn *base, const uint8_t pub[32], mls_device *out) {
  pg_txn *tx = PTX(base);
  pg_author *a = tx->write && !tx->failed ? pg_buf_author(tx, pub) : NULL;
  if (!a || a->db_known) return device_by(base, P_DEVICE_GET, pub, 32, out);
  pg_par p = {0};
  pg_p_bytes(&p, pub, 32);
  pg_cmd cmds[3] = {{.id = P_DEVICE_GET, .p = &p}, {.id = P_AUTHOR_HEAD, .p = &p},
                    {.id = P_TILE_EDGES}};
  size_t n = tx->edges_known ? 2 : 3;
  int rc = pg_pipeline(tx->st, tx->c, cmds, n);
  if (rc) {
    tx->failed = rc;
  } else {
    if (n == 3) pg_buf_edges_set(tx, cmds[2].res);
    if (PQntuples(cmds[0].res) == 0) {
      rc = MLPROTO_ERR_NOT_FOUND;
    } else {
      rc = read_device(cmds[0].res, 0, out);
      if (!rc && (rc = pg_buf_author_set(a, cmds[1].res))) tx->failed = rc;
    }
  }
  for (size_t i = 0; i < n; i++) PQclear(cmds[i].res);
  return rc;
}

int pg_device_get_by_id(mls_txn *tx, const uint8_t id[16], mls_device *out) {
  return device_by(tx, P_DEVICE_GET_ID, id, 16, out);
}

int pg_device_list(mls_txn *tx, mls_device_fn fn, void *ud) {
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_DEVICE_LIST, NULL, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    mls_device d;
    if (!(rc = read_device(r, i, &d))) rc = fn(ud, &d);
  }
  PQclear(r);
  return rc;
}

int pg_device_revoke(mls_txn *tx, const uint8_t pub[32], uint64_t now) {
  pg_par p = {0};
  pg_p_bytes(&p, pub, 32);
  pg_p_i64(&p, now ? now : 1);
  return update_one(PTX(tx), P_DEVICE_REVOKE, &p);
}

/* --- sessions and API tokens --- */

int pg_session_add(mls_txn *tx, const uint8_t h[32], const uint8_t dev[32], uint64_t exp,
                   const uint8_t challenge[32]) {
  if (!challenge) return MLPROTO_ERR_INVALID_ARGUMENT;
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  pg_p_bytes(&p, dev, 32);
  pg_p_i64(&p, exp);
  pg_p_bytes(&p, challenge, 32);
  return insert_new(PTX(tx), P_SESS_ADD, &p);
}

int pg_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged) {
  if (purged) *purged = 0;
  if (max_rows == 0) return MLPROTO_OK;
  pg_par p = {0};
  pg_p_i64(&p, now);
  pg_p_i64(&p, max_rows);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_SESS_PURGE, &p, &r);
  if (rc) return rc;
  if (purged) *purged = (uint32_t)pg_r_changed(r);
  PQclear(r);
  return MLPROTO_OK;
}

int pg_session_get(mls_txn *tx, const uint8_t h[32], uint64_t now, uint8_t dev[32]) {
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  pg_p_i64(&p, now);
  PGresult *r;
  int rc = get_one(PTX(tx), P_SESS_GET, &p, &r);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNAUTHENTICATED;
  if (rc) return rc;
  rc = pg_r_fixed(r, 0, 0, dev, 32);
  PQclear(r);
  return rc;
}

/* --- the caseworker's web sessions --- */

int pg_web_session_add(mls_txn *tx, const uint8_t id[32], const uint8_t th[32], uint64_t created,
                       uint64_t expires) {
  if (created > (uint64_t)INT64_MAX || expires > (uint64_t)INT64_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  pg_par p = {0};
  pg_p_bytes(&p, id, 32);
  pg_p_bytes(&p, th, 32);
  pg_p_i64(&p, created);
  pg_p_i64(&p, expires);
  return insert_new(PTX(tx), P_WEB_ADD, &p);
}

int pg_web_session_get(mls_txn *tx, const uint8_t id[32], uint64_t now, uint8_t th[32],
                       uint64_t *created, uint64_t *expires) {
  pg_par p = {0};
  pg_p_bytes(&p, id, 32);
  pg_p_i64(&p, now > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : now);
  PGresult *r;
  int rc = get_one(PTX(tx), P_WEB_GET, &p, &r);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNAUTHENTICATED;
  if (rc) return rc;
  rc = pg_r_fixed(r, 0, 0, th, 32);
  if (created) *created = pg_r_u64(r, 0, 1);
  if (expires) *expires = pg_r_u64(r, 0, 2);
  PQclear(r);
  return rc;
}

int pg_web_session_touch(mls_txn *tx, const uint8_t id[32], uint64_t expires) {
  if (expires > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  pg_par p = {0};
  pg_p_bytes(&p, id, 32);
  pg_p_i64(&p, expires);
  return update_one(PTX(tx), P_WEB_TOUCH, &p);
}

int pg_web_session_delete(mls_txn *tx, const uint8_t id[32]) {
  pg_par p = {0};
  pg_p_bytes(&p, id, 32);
  return update_one(PTX(tx), P_WEB_DELETE, &p);
}

int pg_web_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged) {
  if (purged) *purged = 0;
  if (max_rows == 0) return MLPROTO_OK;
  pg_par p = {0};
  pg_p_i64(&p, now > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : now);
  pg_p_i64(&p, max_rows);
  PGresult *r;
  int rc = pg_exec(PTX(tx), P_WEB_PURGE, &p, &r);
  if (rc) return rc;
  if (purged) *purged = (uint32_t)pg_r_changed(r);
  PQclear(r);
  return MLPROTO_OK;
}

int pg_api_token_add(mls_txn *tx, const uint8_t h[32], const char *role, const char *jobcentre,
                     uint64_t created) {
  if (jobcentre && strlen(jobcentre) > MLS_JOBCENTRE_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  pg_p_text(&p, role);
  if (jobcentre) pg_p_text(&p, jobcentre);
  else pg_p_null(&p);
  pg_p_i64(&p, created);
  return insert_new(PTX(tx), P_TOKEN_ADD, &p);
}

int pg_api_token_get(mls_txn *tx, const uint8_t h[32], char role[MLS_ROLE_MAX + 1],
                     char jobcentre[MLS_JOBCENTRE_MAX + 1]) {
  pg_par p = {0};
  pg_p_bytes(&p, h, 32);
  PGresult *r;
  int rc = get_one(PTX(tx), P_TOKEN_GET, &p, &r);
  if (rc) return rc;
  pg_r_text(r, 0, 0, role, MLS_ROLE_MAX + 1);
  pg_r_text(r, 0, 1, jobcentre, MLS_JOBCENTRE_MAX + 1);
  PQclear(r);
  return MLPROTO_OK;
}

/* --- cases: a claim of a write transaction is buffered when the database
 * is known not to hold the case (case_owner said so: push asks first) --- */

int pg_case_owner(mls_txn *base, const uint8_t case_id[16], uint8_t mentor[16]) {
  pg_txn *tx = PTX(base);
  const pg_claim *c = tx->write ? pg_buf_claim(tx, case_id) : NULL;
  if (c) {
    memcpy(mentor, c->mentor, 16);
    return tx->failed;
  }
  pg_par p = {0};
  pg_p_bytes(&p, case_id, 16);
  PGresult *r;
  int rc = get_one(tx, P_CASE_GET, &p, &r);
  if (rc == MLPROTO_ERR_NOT_FOUND && tx->write) {
    int x = pg_buf_mark_absent(tx, case_id);
    return x ? x : rc;
  }
  if (rc) return rc;
  rc = pg_r_fixed(r, 0, 0, mentor, 16);
  /* its erasure time too: push asks case_erased_get next */
  if (!rc && tx->write) rc = pg_buf_case_add(tx, case_id, pg_r_u64(r, 0, 1));
  PQclear(r);
  return rc;
}

int pg_case_claim(mls_txn *base, const uint8_t case_id[16], const uint8_t mentor[16]) {
  pg_txn *tx = PTX(base);
  if (tx->failed) return tx->failed;
  if (tx->write && pg_buf_claim(tx, case_id)) return MLPROTO_ERR_ALREADY_EXISTS;
  if (tx->write && pg_buf_is_absent(tx, case_id)) return pg_buf_claim_add(tx, case_id, mentor);
  pg_par p = {0};
  pg_p_bytes(&p, case_id, 16);
  pg_p_bytes(&p, mentor, 16);
  return insert_new(tx, P_CASE_PUT, &p);
}

int pg_case_erased_get(mls_txn *base, const uint8_t case_id[16], uint64_t *erased_ms) {
  pg_txn *tx = PTX(base);
  if (tx->write && pg_buf_claim(tx, case_id)) {
    *erased_ms = 0; /* claimed by this transaction, not erased yet */
    return tx->failed;
  }
  const pg_casek *k = tx->write ? pg_buf_case(tx, case_id) : NULL;
  if (k) {
    *erased_ms = k->erased_ms;
    return tx->failed;
  }
  pg_par p = {0};
  pg_p_bytes(&p, case_id, 16);
  PGresult *r;
  int rc = get_one(tx, P_CASE_ERASED_GET, &p, &r);
  if (rc) return rc;
  *erased_ms = pg_r_u64(r, 0, 0);
  PQclear(r);
  return MLPROTO_OK;
}

int pg_case_erased_set(mls_txn *base, const uint8_t case_id[16], uint64_t now_ms) {
  pg_txn *tx = PTX(base);
  if (now_ms == 0 || now_ms > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc;
  if (tx->write && pg_buf_claim(tx, case_id) && (rc = pg_flush(tx))) return rc;
  pg_par p = {0};
  pg_p_bytes(&p, case_id, 16);
  pg_p_i64(&p, now_ms);
  rc = update_one(tx, P_CASE_ERASED_SET, &p);
  pg_casek *k = tx->write ? pg_buf_case(tx, case_id) : NULL;
  if (!rc && k && k->erased_ms == 0) k->erased_ms = now_ms; /* the earlier time stays */
  return rc;
}

int pg_case_list(mls_txn *base, mls_case_state_fn fn, void *ud) {
  pg_txn *tx = PTX(base);
  int rc;
  if (tx->write && tx->n_claims && (rc = pg_flush(tx))) return rc;
  PGresult *r;
  rc = pg_exec(tx, P_CASE_LIST, NULL, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    uint8_t id[16];
    if (!(rc = pg_r_fixed(r, i, 0, id, 16))) rc = fn(ud, id, pg_r_u64(r, i, 1));
  }
  PQclear(r);
  return rc;
}

int pg_case_version(mls_txn *base, const uint8_t case_id[16], uint64_t below, uint8_t owner[16],
                    uint64_t *erased_ms, uint64_t *last_index) {
  pg_txn *tx = PTX(base);
  int rc;
  if (tx->write && (tx->n_rows || tx->n_claims) && (rc = pg_flush(tx))) return rc;
  pg_par p = {0};
  pg_p_bytes(&p, case_id, 16);
  pg_p_i64(&p, below > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : below);
  PGresult *r;
  if ((rc = get_one(tx, P_CASE_VERSION, &p, &r))) return rc;
  rc = pg_r_fixed(r, 0, 0, owner, 16);
  *erased_ms = pg_r_u64(r, 0, 1);
  *last_index = pg_r_null(r, 0, 2) ? UINT64_MAX : pg_r_u64(r, 0, 2);
  PQclear(r);
  return rc;
}

/* --- the jobcentres of cases --- */

int pg_case_jobcentre_add(mls_txn *base, const uint8_t case_id[16], const char *jobcentre) {
  pg_txn *tx = PTX(base);
  if (!jobcentre || !*jobcentre) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (strlen(jobcentre) > MLS_JOBCENTRE_MAX) return MLPROTO_ERR_TOO_LARGE;
  if (!tx->write) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (tx->failed) return tx->failed;
  return pg_buf_jc_add(tx, case_id, jobcentre);
}

int pg_jobcentre_cases(mls_txn *base, const char *jobcentre, mls_case_fn fn, void *ud) {
  pg_txn *tx = PTX(base);
  int rc;
  if (tx->write && tx->n_jcs && (rc = pg_flush(tx))) return rc;
  pg_par p = {0};
  pg_p_text(&p, jobcentre);
  PGresult *r;
  rc = pg_exec(tx, P_JC_CASES, &p, &r);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    uint8_t id[16];
    if (!(rc = pg_r_fixed(r, i, 0, id, 16))) rc = fn(ud, id);
  }
  PQclear(r);
  return rc;
}

/* --- meta --- */

int pg_meta_get(mls_txn *tx, const char *key, uint8_t *buf, size_t cap, size_t *len) {
  pg_par p = {0};
  pg_p_text(&p, key);
  PGresult *r;
  int rc = get_one(PTX(tx), P_META_GET, &p, &r);
  if (rc) return rc;
  size_t n = (size_t)PQgetlength(r, 0, 0);
  if (n > cap) {
    rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
  } else {
    if (n) memcpy(buf, PQgetvalue(r, 0, 0), n);
    *len = n;
  }
  PQclear(r);
  return rc;
}

int pg_meta_put(mls_txn *tx, const char *key, const uint8_t *val, size_t len) {
  if (!key || strlen(key) > 64 || len > MLS_META_MAX) return MLPROTO_ERR_TOO_LARGE;
  pg_par p = {0};
  pg_p_text(&p, key);
  pg_p_bytes(&p, val, len);
  return pg_exec(PTX(tx), P_META_PUT, &p, NULL);
}
