/* store_sqlite_people.c — the SQLite backend: mentors, enrolment codes,
 * devices, sessions, API tokens and case owners. */
#include "store_sqlite_int.h"

#include <stdio.h>
#include <stdlib.h>

/* --- mentors --- */

int sq_mentor_add(mls_txn *tx, const mls_mentor *m) {
  if (strlen(m->name) > MLS_NAME_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_MENTOR_ADD);
  sqlite3_bind_blob(s, 1, m->id, 16, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)m->created_ms);
  return sq_step_done(s);
}

static int read_mentor(sqlite3_stmt *s, mls_mentor *m) {
  memset(m, 0, sizeof *m);
  int rc = sq_blob_eq(s, 0, m->id, 16);
  sq_text_copy(s, 1, m->name, sizeof m->name);
  m->created_ms = (uint64_t)sqlite3_column_int64(s, 2);
  return rc;
}

int sq_mentor_get(mls_txn *tx, const uint8_t id[16], mls_mentor *out) {
  PREP(s, tx, S_MENTOR_GET);
  sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = read_mentor(s, out);
  sqlite3_reset(s);
  return rc;
}

int sq_mentor_list(mls_txn *tx, mls_mentor_fn fn, void *ud) {
  PREP(s, tx, S_MENTOR_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_mentor m;
    int r = read_mentor(s, &m);
    if (!r) r = fn(ud, &m);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

/* --- enrolment codes --- */

int sq_code_add(mls_txn *tx, const uint8_t h[32], const uint8_t id[MLS_CODE_ID_LEN],
                       const uint8_t mentor[16], uint64_t created, uint64_t expires) {
  PREP(s, tx, S_CODE_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, mentor, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)created);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)expires);
  sqlite3_bind_blob(s, 5, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  return sq_step_done(s);
}

static int read_code(sqlite3_stmt *s, mls_enroll_code *c) {
  memset(c, 0, sizeof *c);
  int rc = sq_blob_eq(s, 0, c->id, MLS_CODE_ID_LEN);
  if (!rc) rc = sq_blob_eq(s, 1, c->mentor_id, 16);
  c->created_ms = (uint64_t)sqlite3_column_int64(s, 2);
  c->expires_ms = (uint64_t)sqlite3_column_int64(s, 3);
  if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
    c->used_ms = (uint64_t)sqlite3_column_int64(s, 4);
    if (!c->used_ms) c->used_ms = 1;
    /* used_by is NULL for codes used before version 2 */
    if (!rc && sqlite3_column_type(s, 5) != SQLITE_NULL) rc = sq_blob_eq(s, 5, c->used_by, 32);
  }
  if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
    c->revoked_ms = (uint64_t)sqlite3_column_int64(s, 6);
    if (!c->revoked_ms) c->revoked_ms = 1;
  }
  return rc;
}

int sq_code_list(mls_txn *tx, mls_code_fn fn, void *ud) {
  PREP(s, tx, S_CODE_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_enroll_code c;
    int r = read_code(s, &c);
    if (!r) r = fn(ud, &c);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

int sq_code_get(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out) {
  PREP(s, tx, S_CODE_GET_ID);
  sqlite3_bind_blob(s, 1, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = read_code(s, out);
  sqlite3_reset(s);
  return rc;
}

int sq_code_revoke(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now) {
  PREP(s, tx, S_CODE_REVOKE);
  sqlite3_bind_blob(s, 1, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(now ? now : 1));
  int rc = sq_step_done(s);
  if (rc) return rc;
  return sqlite3_changes(CONN(tx)->db) == 1 ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

int sq_code_consume(mls_txn *tx, const uint8_t h[32], uint64_t now,
                           const uint8_t device[32], uint8_t mentor[16]) {
  PREP(s, tx, S_CODE_GET);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
  int rc = sq_step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_ENROLL_CODE_INVALID;
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, mentor, 16);
  sqlite3_reset(s);
  if (rc) return rc;
  PREP(u, tx, S_CODE_USE);
  sqlite3_bind_blob(u, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(u, 2, (sqlite3_int64)now);
  sqlite3_bind_blob(u, 3, device, 32, SQLITE_STATIC);
  return sq_step_done(u);
}

int sq_code_used_by(mls_txn *tx, const uint8_t h[32], uint8_t device[32],
                           uint8_t mentor[16]) {
  PREP(s, tx, S_CODE_USED_BY);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, device, 32);
  if (!rc) rc = sq_blob_eq(s, 1, mentor, 16);
  sqlite3_reset(s);
  return rc;
}

/* --- devices --- */

int sq_device_add(mls_txn *tx, const mls_device *d) {
  if (strlen(d->label) > MLS_LABEL_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_DEVICE_ADD);
  sqlite3_bind_blob(s, 1, d->pub, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, d->box_pub, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, d->mentor_id, 16, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, d->label, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, (sqlite3_int64)d->enrolled_ms);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)d->revoked_ms);
  sqlite3_bind_blob(s, 7, d->id, 16, SQLITE_STATIC);
  return sq_step_done(s);
}

static int read_device(sqlite3_stmt *s, mls_device *d) {
  memset(d, 0, sizeof *d);
  int rc = sq_blob_eq(s, 0, d->pub, 32);
  if (!rc) rc = sq_blob_eq(s, 1, d->box_pub, 32);
  if (!rc) rc = sq_blob_eq(s, 2, d->mentor_id, 16);
  sq_text_copy(s, 3, d->label, sizeof d->label);
  d->enrolled_ms = (uint64_t)sqlite3_column_int64(s, 4);
  d->revoked_ms = (uint64_t)sqlite3_column_int64(s, 5);
  if (!rc) rc = sq_blob_eq(s, 6, d->id, 16);
  return rc;
}

int sq_device_get(mls_txn *tx, const uint8_t pub[32], mls_device *out) {
  PREP(s, tx, S_DEVICE_GET);
  sqlite3_bind_blob(s, 1, pub, 32, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = read_device(s, out);
  sqlite3_reset(s);
  return rc;
}

int sq_device_get_by_id(mls_txn *tx, const uint8_t id[16], mls_device *out) {
  PREP(s, tx, S_DEVICE_GET_ID);
  sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = read_device(s, out);
  sqlite3_reset(s);
  return rc;
}

int sq_device_list(mls_txn *tx, mls_device_fn fn, void *ud) {
  PREP(s, tx, S_DEVICE_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_device d;
    int r = read_device(s, &d);
    if (!r) r = fn(ud, &d);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

int sq_device_revoke(mls_txn *tx, const uint8_t pub[32], uint64_t now) {
  PREP(s, tx, S_DEVICE_REVOKE);
  sqlite3_bind_blob(s, 1, pub, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(now ? now : 1));
  int rc = sq_step_done(s);
  if (rc) return rc;
  return sqlite3_changes(CONN(tx)->db) == 1 ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

/* --- sessions --- */

int sq_session_add(mls_txn *tx, const uint8_t h[32], const uint8_t dev[32], uint64_t exp,
                   const uint8_t challenge[32]) {
  if (!challenge) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_SESS_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, dev, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)exp);
  sqlite3_bind_blob(s, 4, challenge, 32, SQLITE_STATIC);
  return sq_step_done(s);
}

int sq_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged) {
  if (purged) *purged = 0;
  if (max_rows == 0) return MLPROTO_OK;
  PREP(s, tx, S_SESS_PURGE);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)now);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)max_rows);
  int rc = sq_step_done(s);
  if (!rc && purged) *purged = (uint32_t)sqlite3_changes(CONN(tx)->db);
  return rc;
}

int sq_session_get(mls_txn *tx, const uint8_t h[32], uint64_t now, uint8_t dev[32]) {
  PREP(s, tx, S_SESS_GET);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
  int rc = sq_step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNAUTHENTICATED;
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, dev, 32);
  sqlite3_reset(s);
  return rc;
}

/* --- the caseworker's web sessions --- */

int sq_web_session_add(mls_txn *tx, const uint8_t id[32], const uint8_t th[32], uint64_t created,
                       uint64_t expires) {
  if (created > (uint64_t)INT64_MAX || expires > (uint64_t)INT64_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_WEB_ADD);
  sqlite3_bind_blob(s, 1, id, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, th, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)created);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)expires);
  return sq_step_done(s);
}

int sq_web_session_get(mls_txn *tx, const uint8_t id[32], uint64_t now, uint8_t th[32],
                       uint64_t *created, uint64_t *expires) {
  PREP(s, tx, S_WEB_GET);
  sqlite3_bind_blob(s, 1, id, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(now > (uint64_t)INT64_MAX ? INT64_MAX : now));
  int rc = sq_step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNAUTHENTICATED;
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, th, 32);
  if (created) *created = (uint64_t)sqlite3_column_int64(s, 1);
  if (expires) *expires = (uint64_t)sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  return rc;
}

int sq_web_session_touch(mls_txn *tx, const uint8_t id[32], uint64_t expires) {
  if (expires > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_WEB_TOUCH);
  sqlite3_bind_blob(s, 1, id, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)expires);
  int rc = sq_step_done(s);
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  return rc;
}

int sq_web_session_delete(mls_txn *tx, const uint8_t id[32]) {
  PREP(s, tx, S_WEB_DELETE);
  sqlite3_bind_blob(s, 1, id, 32, SQLITE_STATIC);
  int rc = sq_step_done(s);
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  return rc;
}

int sq_web_session_purge(mls_txn *tx, uint64_t now, uint32_t max_rows, uint32_t *purged) {
  if (purged) *purged = 0;
  if (max_rows == 0) return MLPROTO_OK;
  PREP(s, tx, S_WEB_PURGE);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)(now > (uint64_t)INT64_MAX ? INT64_MAX : now));
  sqlite3_bind_int64(s, 2, (sqlite3_int64)max_rows);
  int rc = sq_step_done(s);
  if (!rc && purged) *purged = (uint32_t)sqlite3_changes(CONN(tx)->db);
  return rc;
}

int sq_api_token_add(mls_txn *tx, const uint8_t h[32], const char *role,
                            const char *jobcentre, uint64_t created) {
  if (jobcentre && strlen(jobcentre) > MLS_JOBCENTRE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_TOKEN_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
  if (jobcentre) sqlite3_bind_text(s, 3, jobcentre, -1, SQLITE_STATIC);
  else sqlite3_bind_null(s, 3);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)created);
  return sq_step_done(s);
}

int sq_api_token_get(mls_txn *tx, const uint8_t h[32], char role[MLS_ROLE_MAX + 1],
                     char jobcentre[MLS_JOBCENTRE_MAX + 1]) {
  PREP(s, tx, S_TOKEN_GET);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  sq_text_copy(s, 0, role, MLS_ROLE_MAX + 1);
  sq_text_copy(s, 1, jobcentre, MLS_JOBCENTRE_MAX + 1);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

/* --- cases --- */

int sq_case_owner(mls_txn *tx, const uint8_t case_id[16], uint8_t mentor[16]) {
  PREP(s, tx, S_CASE_GET);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, mentor, 16);
  sqlite3_reset(s);
  return rc;
}

int sq_case_claim(mls_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]) {
  PREP(s, tx, S_CASE_PUT);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, mentor, 16, SQLITE_STATIC);
  return sq_step_done(s);
}

int sq_case_erased_get(mls_txn *tx, const uint8_t case_id[16], uint64_t *erased_ms) {
  PREP(s, tx, S_CASE_ERASED_GET);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  int rc = sq_step_row(s);
  if (rc) return rc;
  *erased_ms = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

int sq_case_version(mls_txn *tx, const uint8_t case_id[16], uint64_t below, uint8_t owner[16],
                    uint64_t *erased_ms, uint64_t *last_index) {
  PREP(s, tx, S_CASE_VERSION);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, below > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)below);
  int rc = sq_step_row(s);
  if (rc) return rc;
  rc = sq_blob_eq(s, 0, owner, 16);
  *erased_ms = (uint64_t)sqlite3_column_int64(s, 1);
  *last_index = sqlite3_column_type(s, 2) == SQLITE_NULL ? UINT64_MAX
                                                         : (uint64_t)sqlite3_column_int64(s, 2);
  sqlite3_reset(s);
  return rc;
}

int sq_case_erased_set(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms) {
  if (now_ms == 0 || now_ms > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(s, tx, S_CASE_ERASED_SET);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now_ms);
  int rc = sq_step_done(s);
  if (!rc && sqlite3_changes(CONN(tx)->db) == 0) rc = MLPROTO_ERR_NOT_FOUND;
  return rc;
}

int sq_case_list(mls_txn *tx, mls_case_state_fn fn, void *ud) {
  PREP(s, tx, S_CASE_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    uint8_t id[16];
    int r = sq_blob_eq(s, 0, id, 16);
    if (!r) r = fn(ud, id, (uint64_t)sqlite3_column_int64(s, 1));
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

/* --- the jobcentres of cases --- */

int sq_case_jobcentre_add(mls_txn *tx, const uint8_t case_id[16], const char *jobcentre) {
  if (!jobcentre || !*jobcentre) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (strlen(jobcentre) > MLS_JOBCENTRE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_JC_ADD);
  sqlite3_bind_text(s, 1, jobcentre, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, case_id, 16, SQLITE_STATIC);
  return sq_step_done(s);
}

int sq_jobcentre_cases(mls_txn *tx, const char *jobcentre, mls_case_fn fn, void *ud) {
  PREP(s, tx, S_JC_CASES);
  sqlite3_bind_text(s, 1, jobcentre, -1, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    uint8_t id[16];
    int r = sq_blob_eq(s, 0, id, 16);
    if (!r) r = fn(ud, id);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return sq_map_rc(rc);
}

/* --- meta --- */

int sq_meta_get(mls_txn *tx, const char *key, uint8_t *buf, size_t cap, size_t *len) {
  PREP(s, tx, S_META_GET);
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
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

int sq_meta_put(mls_txn *tx, const char *key, const uint8_t *val, size_t len) {
  if (!key || strlen(key) > 64 || len > MLS_META_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_META_PUT);
  sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, len ? (const void *)val : "", (int)len, SQLITE_STATIC);
  return sq_step_done(s);
}
