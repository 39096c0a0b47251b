/* store_pg_param.c — the PostgreSQL backend's binary parameters (scalars
 * and arrays for unnest), its result readers and its error mapping
 * (store_pg_int.h); the connections, transactions and the operations table
 * are store_pg.c's. */
#include "store_pg_int.h"

#include "mlproto/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ parameters --- */

static void put_be(char *out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    out[i] = (char)(v & 0xff);
    v >>= 8;
  }
}

void pg_p_i64(pg_par *p, uint64_t v) {
  put_be(p->num[p->n], v, 8);
  p->val[p->n] = p->num[p->n];
  p->len[p->n] = 8;
  p->fmt[p->n++] = 1;
}

void pg_p_i16(pg_par *p, unsigned v) {
  put_be(p->num[p->n], v, 2);
  p->val[p->n] = p->num[p->n];
  p->len[p->n] = 2;
  p->fmt[p->n++] = 1;
}

void pg_p_bytes(pg_par *p, const void *b, size_t n) {
  p->val[p->n] = n ? (const char *)b : ""; /* NULL would be SQL NULL */
  p->len[p->n] = (int)n;
  p->fmt[p->n++] = 1;
}

void pg_p_text(pg_par *p, const char *s) { pg_p_bytes(p, s, strlen(s)); }

void pg_p_null(pg_par *p) {
  p->val[p->n] = NULL;
  p->len[p->n] = 0;
  p->fmt[p->n++] = 1;
}

/* Array: int32 ndim, int32 has_null, oid elem, int32 dim, int32 lbound,
 * then per element int32 length (-1: NULL) and the bytes. */
#define ARR_HEADER 20u

void pg_arr_init(pg_arr *a, uint32_t oid) {
  memset(a, 0, sizeof *a);
  a->oid = oid;
  a->len = ARR_HEADER;
}

static uint8_t *arr_room(pg_arr *a, size_t n) {
  if (a->oom) return NULL;
  if (a->len + n > a->cap) {
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + n) cap *= 2;
    uint8_t *b = realloc(a->buf, cap);
    if (!b) {
      a->oom = 1;
      return NULL;
    }
    a->buf = b;
    a->cap = cap;
  }
  uint8_t *p = a->buf + a->len;
  a->len += n;
  return p;
}

static void arr_elem(pg_arr *a, const void *b, size_t n, int null) {
  uint8_t *p = arr_room(a, 4 + (null ? 0 : n));
  if (!p) return;
  put_be((char *)p, null ? UINT32_MAX : (uint32_t)n, 4);
  if (!null && n) memcpy(p + 4, b, n);
  a->n++;
  a->has_null |= null;
}

void pg_arr_i64(pg_arr *a, uint64_t v) {
  char b[8];
  put_be(b, v, 8);
  arr_elem(a, b, 8, 0);
}

void pg_arr_i16(pg_arr *a, unsigned v) {
  char b[2];
  put_be(b, v, 2);
  arr_elem(a, b, 2, 0);
}

void pg_arr_bytes(pg_arr *a, const void *b, size_t n) { arr_elem(a, b, n, 0); }
void pg_arr_null(pg_arr *a) { arr_elem(a, NULL, 0, 1); }

int pg_arr_done(pg_arr *a) {
  if (!arr_room(a, 0)) return MLPROTO_ERR_OUT_OF_MEMORY; /* also the header of an empty one */
  char *h = (char *)a->buf;
  put_be(h, 1, 4);
  put_be(h + 4, (uint64_t)a->has_null, 4);
  put_be(h + 8, a->oid, 4);
  put_be(h + 12, a->n, 4);
  put_be(h + 16, 1, 4);
  return MLPROTO_OK;
}

void pg_p_array(pg_par *p, const pg_arr *a) { pg_p_bytes(p, a->buf, a->len); }

void pg_arr_free(pg_arr *a) {
  free(a->buf);
  memset(a, 0, sizeof *a);
}

/* --------------------------------------------------------------- results --- */

static uint64_t get_be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

uint64_t pg_r_u64(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return 0;
  const uint8_t *p = (const uint8_t *)PQgetvalue(r, row, col);
  switch (PQgetlength(r, row, col)) {
  case 8: return get_be(p, 8);
  case 4: return (uint64_t)(int64_t)(int32_t)(uint32_t)get_be(p, 4);
  case 2: return (uint64_t)(int64_t)(int16_t)(uint16_t)get_be(p, 2);
  default: return 0;
  }
}

int pg_r_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col); }

int pg_r_fixed(const PGresult *r, int row, int col, uint8_t *out, size_t n) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != (int)n) return MLPROTO_ERR_STORAGE;
  memcpy(out, PQgetvalue(r, row, col), n);
  return MLPROTO_OK;
}

void pg_r_text(const PGresult *r, int row, int col, char *out, size_t cap) {
  size_t n = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
  if (n >= cap) n = cap - 1;
  if (n) memcpy(out, PQgetvalue(r, row, col), n);
  out[n] = 0;
}

uint64_t pg_r_changed(const PGresult *r) { return strtoull(PQcmdTuples((PGresult *)r), NULL, 10); }

/* ---------------------------------------------------------------- errors --- */

static int sqlstate_is(const char *s, const char *want) { return s && strcmp(s, want) == 0; }

int pg_sqlstate_rc(const char *state) {
  if (sqlstate_is(state, "23505")) return MLPROTO_ERR_ALREADY_EXISTS;
  if (sqlstate_is(state, "23503")) return MLPROTO_ERR_NOT_FOUND;
  if (sqlstate_is(state, "55P03") || sqlstate_is(state, "40001") || sqlstate_is(state, "40P01"))
    return MLPROTO_ERR_BUSY;
  if (sqlstate_is(state, "53100")) return MLPROTO_ERR_DISK_FULL;
  if (sqlstate_is(state, "53200")) return MLPROTO_ERR_OUT_OF_MEMORY;
  if (state && (strncmp(state, "22", 2) == 0 || strcmp(state, "25006") == 0))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  return MLPROTO_ERR_STORAGE;
}

int pg_fail(pg_conn *c, const PGresult *res, const char *what) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (PQstatus(c->db) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
      strncmp(state, "57P", 3) == 0)
    c->broken = 1;
  int rc = pg_sqlstate_rc(state);
  mls_logf(rc == MLPROTO_ERR_BUSY ? "warn" : "error", "pg_statement_failed",
           "stmt=%s sqlstate=%s connection=%s", what, state ? state : "none",
           c->broken ? "lost" : "ok");
  return rc;
}
