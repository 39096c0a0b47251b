/* store_pg_buf.c — the write buffer of a PostgreSQL write transaction
 * (store_pg.c says why): log rows, tile hashes, case claims and case
 * jobcentres kept in memory, checked as they come, and written in one
 * statement per table, by pg_flush() or with the COMMIT. */
#include "store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>

/* Envelope bytes a transaction buffers before it writes them out: bounds
 * the memory of a large admin transaction (a push batch is ~4 MiB). */
#define ROW_BYTES_MAX (16u * 1024u * 1024u)

static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return MLPROTO_OK;
  size_t c = *cap ? *cap * 2 : 16;
  void *q = realloc(*p, c * size);
  if (!q) return MLPROTO_ERR_OUT_OF_MEMORY;
  *p = q;
  *cap = c;
  return MLPROTO_OK;
}
#define GROW(tx, arr, n, cap) grow((void **)&(tx)->arr, &(tx)->cap, (tx)->n, sizeof *(tx)->arr)

static void rows_clear(pg_txn *tx) {
  for (size_t i = 0; i < tx->n_rows; i++) free(tx->rows[i].env);
  tx->n_rows = 0;
  tx->row_bytes = 0;
}

static void tiles_clear(pg_txn *tx) {
  for (size_t i = 0; i < tx->n_tw; i++) free(tx->tw[i]);
  tx->n_tw = 0;
}

void pg_buf_free(pg_txn *tx) {
  rows_clear(tx);
  free(tx->rows);
  tiles_clear(tx);
  free(tx->tw);
  free(tx->tk);
  free(tx->ck);
  free(tx->authors);
  free(tx->claims);
  free(tx->absent);
  free(tx->jcs);
}

/* ------------------------------------------------------------------ cases --- */

pg_casek *pg_buf_case(const pg_txn *tx, const uint8_t case_id[16]) {
  for (size_t i = 0; i < tx->n_ck; i++)
    if (memcmp(tx->ck[i].case_id, case_id, 16) == 0) return &tx->ck[i];
  return NULL;
}

int pg_buf_case_add(pg_txn *tx, const uint8_t case_id[16], uint64_t erased_ms) {
  pg_casek *k = pg_buf_case(tx, case_id);
  if (!k) {
    if (GROW(tx, ck, n_ck, cap_ck)) return MLPROTO_ERR_OUT_OF_MEMORY;
    k = &tx->ck[tx->n_ck++];
    memcpy(k->case_id, case_id, 16);
  }
  k->erased_ms = erased_ms;
  return MLPROTO_OK;
}

/* ---------------------------------------------------------------- authors --- */

pg_author *pg_buf_author(pg_txn *tx, const uint8_t author[32]) {
  for (size_t i = 0; i < tx->n_authors; i++)
    if (memcmp(tx->authors[i].author, author, 32) == 0) return &tx->authors[i];
  if (GROW(tx, authors, n_authors, cap_authors)) return NULL;
  pg_author *a = &tx->authors[tx->n_authors++];
  memset(a, 0, sizeof *a);
  memcpy(a->author, author, 32);
  return a;
}

int pg_buf_author_set(pg_author *a, const PGresult *r) {
  int rc = MLPROTO_OK;
  if (a->db_known) return rc;
  if (PQntuples(r) == 1) {
    a->db_seq = pg_r_u64(r, 0, 0);
    rc = pg_r_fixed(r, 0, 1, a->db_hash, 32);
  } else {
    a->db_seq = 0;
    memset(a->db_hash, 0, 32);
  }
  if (!rc) a->db_known = 1;
  return rc;
}

int pg_buf_author_db(pg_txn *tx, pg_author *a) {
  if (a->db_known) return MLPROTO_OK;
  pg_par p = {0};
  pg_p_bytes(&p, a->author, 32);
  PGresult *r;
  int rc = pg_exec(tx, P_AUTHOR_HEAD, &p, &r);
  if (rc) return rc;
  rc = pg_buf_author_set(a, r);
  PQclear(r);
  return rc;
}

const pg_row *pg_buf_row_at(const pg_txn *tx, const uint8_t author[32], uint64_t seq) {
  for (size_t i = tx->n_rows; i-- > 0;) {
    const mls_log_entry *e = &tx->rows[i].e;
    if (e->seq == seq && memcmp(e->author, author, 32) == 0) return &tx->rows[i];
  }
  return NULL;
}

/* ------------------------------------------------------------------ rows --- */

int pg_buf_log_append(pg_txn *tx, const mls_log_entry *e) {
  uint64_t size = tx->db_size + tx->n_rows;
  if (e->index < size) return MLPROTO_ERR_ALREADY_EXISTS;
  if (e->index > size || e->index > (uint64_t)INT64_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  pg_author *a = pg_buf_author(tx, e->author);
  if (!a) return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc = pg_buf_author_db(tx, a);
  if (rc) return rc;
  /* (author, seq) taken: by a buffered row, or a stored one (a seq above
   * the author's stored head cannot be stored) */
  if (a->buf_seq && e->seq <= a->buf_seq && pg_buf_row_at(tx, e->author, e->seq))
    return MLPROTO_ERR_ALREADY_EXISTS;
  if (e->seq <= a->db_seq) {
    pg_par p = {0};
    pg_p_bytes(&p, e->author, 32);
    pg_p_i64(&p, e->seq);
    PGresult *r;
    if ((rc = pg_exec(tx, P_RECORD_AT, &p, &r))) return rc;
    int found = PQntuples(r) > 0;
    PQclear(r);
    if (found) return MLPROTO_ERR_ALREADY_EXISTS;
  }
  if ((rc = GROW(tx, rows, n_rows, cap_rows))) return rc;
  uint8_t *env = malloc(e->envelope_len ? e->envelope_len : 1);
  if (!env) return MLPROTO_ERR_OUT_OF_MEMORY;
  if (e->envelope_len) memcpy(env, e->envelope, e->envelope_len);
  pg_row *row = &tx->rows[tx->n_rows++];
  row->e = *e;
  row->env = env;
  row->e.envelope = env;
  if (e->seq > a->buf_seq) {
    a->buf_seq = e->seq;
    memcpy(a->buf_hash, e->record_hash, 32);
  }
  if (e->received_ms > tx->last_ms) tx->last_ms = e->received_ms;
  tx->row_bytes += e->envelope_len;
  return tx->row_bytes > ROW_BYTES_MAX ? pg_flush(tx) : MLPROTO_OK;
}

/* ----------------------------------------------------------------- tiles --- */

static pg_tilew *tile_w(const pg_txn *tx, unsigned level, uint64_t idx) {
  for (size_t i = tx->n_tw; i-- > 0;)
    if (tx->tw[i]->level == level && tx->tw[i]->idx == idx) return tx->tw[i];
  return NULL;
}

void pg_buf_edges_set(pg_txn *tx, const PGresult *r) {
  for (int i = 0; i < PQntuples(r); i++) {
    uint64_t l = pg_r_u64(r, i, 0);
    if (l >= PG_LEVELS) continue;
    tx->edge[l].any = 1;
    tx->edge[l].idx = pg_r_u64(r, i, 1);
    tx->edge[l].len = (uint32_t)pg_r_u64(r, i, 2);
  }
  tx->edges_known = 1;
}

/* The stored length of tile (level, idx): from the last tile of each level
 * (read once), else looked up. */
static int tile_db_len(pg_txn *tx, unsigned level, uint64_t idx, uint32_t *len) {
  int rc;
  if (!tx->edges_known) {
    PGresult *r;
    if ((rc = pg_exec(tx, P_TILE_EDGES, NULL, &r))) return rc;
    pg_buf_edges_set(tx, r);
    PQclear(r);
  }
  if (!tx->edge[level].any || idx > tx->edge[level].idx) {
    *len = 0;
    return MLPROTO_OK;
  }
  if (idx == tx->edge[level].idx) {
    *len = tx->edge[level].len;
    return MLPROTO_OK;
  }
  for (size_t i = 0; i < tx->n_tk; i++)
    if (tx->tk[i].level == level && tx->tk[i].idx == idx) {
      *len = tx->tk[i].len;
      return MLPROTO_OK;
    }
  pg_par p = {0};
  pg_p_i16(&p, level);
  pg_p_i64(&p, idx);
  PGresult *r;
  if ((rc = pg_exec(tx, P_TILE_LEN, &p, &r))) return rc;
  *len = PQntuples(r) == 1 ? (uint32_t)pg_r_u64(r, 0, 0) : 0;
  PQclear(r);
  if ((rc = GROW(tx, tk, n_tk, cap_tk))) return rc;
  tx->tk[tx->n_tk++] = (pg_tilek){.level = level, .idx = idx, .len = *len};
  return MLPROTO_OK;
}

/* Bytes of tile (level, idx) as the transaction sees it. */
static int tile_len(pg_txn *tx, unsigned level, uint64_t idx, uint32_t *len) {
  const pg_tilew *w = tile_w(tx, level, idx);
  if (w) {
    *len = w->db_len + w->n;
    return MLPROTO_OK;
  }
  return tile_db_len(tx, level, idx, len);
}

/* Nodes of a level are stored in index order (tiles cannot hold a gap):
 * the node must be the next of its tile, and the first of a tile follows
 * a full one. */
int pg_buf_node_put(pg_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]) {
  uint64_t t = index / PG_TILE_WIDTH;
  uint32_t off = (uint32_t)(index % PG_TILE_WIDTH) * 32u, len;
  int rc = tile_len(tx, level, t, &len);
  if (rc) return rc;
  if (off < len) return MLPROTO_ERR_ALREADY_EXISTS;
  if (off > len) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (off == 0 && t > 0) {
    uint32_t prev;
    if ((rc = tile_len(tx, level, t - 1, &prev))) return rc;
    if (prev != PG_TILE_BYTES) return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  pg_tilew *w = tile_w(tx, level, t);
  if (!w) {
    if ((rc = GROW(tx, tw, n_tw, cap_tw))) return rc;
    if (!(w = malloc(sizeof *w))) return MLPROTO_ERR_OUT_OF_MEMORY;
    w->level = level;
    w->idx = t;
    w->db_len = len;
    w->n = 0;
    tx->tw[tx->n_tw++] = w;
  }
  memcpy(w->buf + w->n, h, 32);
  w->n += 32;
  return MLPROTO_OK;
}

int pg_buf_node_get(pg_txn *tx, unsigned level, uint64_t index, uint8_t h[32]) {
  const pg_tilew *w = tile_w(tx, level, index / PG_TILE_WIDTH);
  uint32_t off = (uint32_t)(index % PG_TILE_WIDTH) * 32u;
  if (!w || off < w->db_len || off >= w->db_len + w->n) return 0;
  memcpy(h, w->buf + (off - w->db_len), 32);
  return 1;
}

int pg_buf_has_tiles(const pg_txn *tx) { return tx->n_tw > 0; }

/* ----------------------------------------------------------------- cases --- */

const pg_claim *pg_buf_claim(const pg_txn *tx, const uint8_t case_id[16]) {
  for (size_t i = 0; i < tx->n_claims; i++)
    if (memcmp(tx->claims[i].case_id, case_id, 16) == 0) return &tx->claims[i];
  return NULL;
}

int pg_buf_is_absent(const pg_txn *tx, const uint8_t case_id[16]) {
  for (size_t i = 0; i < tx->n_absent; i++)
    if (memcmp(tx->absent[i], case_id, 16) == 0) return 1;
  return 0;
}

int pg_buf_mark_absent(pg_txn *tx, const uint8_t case_id[16]) {
  if (pg_buf_is_absent(tx, case_id)) return MLPROTO_OK;
  int rc = GROW(tx, absent, n_absent, cap_absent);
  if (!rc) memcpy(tx->absent[tx->n_absent++], case_id, 16);
  return rc;
}

int pg_buf_claim_add(pg_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]) {
  int rc = GROW(tx, claims, n_claims, cap_claims);
  if (rc) return rc;
  pg_claim *c = &tx->claims[tx->n_claims++];
  memcpy(c->case_id, case_id, 16);
  memcpy(c->mentor, mentor, 16);
  /* no longer absent: once written, a second claim must see it */
  for (size_t i = 0; i < tx->n_absent; i++)
    if (memcmp(tx->absent[i], case_id, 16) == 0) {
      memcpy(tx->absent[i], tx->absent[--tx->n_absent], 16);
      break;
    }
  return MLPROTO_OK;
}

int pg_buf_jc_add(pg_txn *tx, const uint8_t case_id[16], const char *jobcentre) {
  for (size_t i = 0; i < tx->n_jcs; i++)
    if (memcmp(tx->jcs[i].case_id, case_id, 16) == 0 && strcmp(tx->jcs[i].jobcentre, jobcentre) == 0)
      return MLPROTO_OK;
  int rc = GROW(tx, jcs, n_jcs, cap_jcs);
  if (rc) return rc;
  pg_jc *j = &tx->jcs[tx->n_jcs++];
  memcpy(j->case_id, case_id, 16);
  snprintf(j->jobcentre, sizeof j->jobcentre, "%s", jobcentre);
  return MLPROTO_OK;
}

/* ----------------------------------------------------------------- flush --- */

/* The statements that write the buffer, with their parameters. */
typedef struct flushset {
  pg_arr log[12], tiles[3], cases[2], jcs[2];
  pg_par p_log, p_tiles, p_cases, p_jcs;
} flushset;

static void fs_free(flushset *fs) {
  for (int i = 0; i < 12; i++) pg_arr_free(&fs->log[i]);
  for (int i = 0; i < 3; i++) pg_arr_free(&fs->tiles[i]);
  for (int i = 0; i < 2; i++) {
    pg_arr_free(&fs->cases[i]);
    pg_arr_free(&fs->jcs[i]);
  }
}

static int arrs_done(pg_arr *a, int n, pg_par *p) {
  memset(p, 0, sizeof *p);
  for (int i = 0; i < n; i++) {
    int rc = pg_arr_done(&a[i]);
    if (rc) return rc;
    pg_p_array(p, &a[i]);
  }
  return MLPROTO_OK;
}

static int fs_build(pg_txn *tx, flushset *fs, pg_cmd *cmds, size_t *n) {
  memset(fs, 0, sizeof *fs);
  int rc = MLPROTO_OK;
  if (tx->n_rows) {
    static const uint32_t oids[12] = {PG_OID_INT8,  PG_OID_INT8,  PG_OID_INT8,  PG_OID_BYTEA,
                                      PG_OID_BYTEA, PG_OID_INT8,  PG_OID_BYTEA, PG_OID_BYTEA,
                                      PG_OID_INT8,  PG_OID_BYTEA, PG_OID_BYTEA, PG_OID_BYTEA};
    for (int i = 0; i < 12; i++) pg_arr_init(&fs->log[i], oids[i]);
    for (size_t i = 0; i < tx->n_rows; i++) {
      const mls_log_entry *e = &tx->rows[i].e;
      pg_arr_i64(&fs->log[0], e->index);
      pg_arr_i64(&fs->log[1], e->type);
      pg_arr_i64(&fs->log[2], e->received_ms);
      pg_arr_bytes(&fs->log[3], e->record_hash, 32);
      pg_arr_bytes(&fs->log[4], e->author, 32);
      pg_arr_i64(&fs->log[5], e->seq);
      pg_arr_bytes(&fs->log[6], e->record_id, 16);
      pg_arr_bytes(&fs->log[7], e->case_id, 16);
      pg_arr_i64(&fs->log[8], e->kind);
      if (e->has_mentor) pg_arr_bytes(&fs->log[9], e->mentor_id, 16);
      else pg_arr_null(&fs->log[9]);
      pg_arr_bytes(&fs->log[10], e->envelope, e->envelope_len);
      pg_arr_bytes(&fs->log[11], e->leaf_hash, 32);
    }
    if (!(rc = arrs_done(fs->log, 12, &fs->p_log)))
      cmds[(*n)++] = (pg_cmd){.id = P_FLUSH_LOG, .p = &fs->p_log};
  }
  if (!rc && tx->n_tw) {
    pg_arr_init(&fs->tiles[0], PG_OID_INT2);
    pg_arr_init(&fs->tiles[1], PG_OID_INT8);
    pg_arr_init(&fs->tiles[2], PG_OID_BYTEA);
    for (size_t i = 0; i < tx->n_tw; i++) {
      pg_arr_i16(&fs->tiles[0], tx->tw[i]->level);
      pg_arr_i64(&fs->tiles[1], tx->tw[i]->idx);
      pg_arr_bytes(&fs->tiles[2], tx->tw[i]->buf, tx->tw[i]->n);
    }
    if (!(rc = arrs_done(fs->tiles, 3, &fs->p_tiles)))
      cmds[(*n)++] = (pg_cmd){.id = P_FLUSH_TILES, .p = &fs->p_tiles};
  }
  if (!rc && tx->n_claims) {
    pg_arr_init(&fs->cases[0], PG_OID_BYTEA);
    pg_arr_init(&fs->cases[1], PG_OID_BYTEA);
    for (size_t i = 0; i < tx->n_claims; i++) {
      pg_arr_bytes(&fs->cases[0], tx->claims[i].case_id, 16);
      pg_arr_bytes(&fs->cases[1], tx->claims[i].mentor, 16);
    }
    if (!(rc = arrs_done(fs->cases, 2, &fs->p_cases)))
      cmds[(*n)++] = (pg_cmd){.id = P_FLUSH_CASES, .p = &fs->p_cases};
  }
  if (!rc && tx->n_jcs) {
    pg_arr_init(&fs->jcs[0], PG_OID_TEXT);
    pg_arr_init(&fs->jcs[1], PG_OID_BYTEA);
    for (size_t i = 0; i < tx->n_jcs; i++) {
      pg_arr_bytes(&fs->jcs[0], tx->jcs[i].jobcentre, strlen(tx->jcs[i].jobcentre));
      pg_arr_bytes(&fs->jcs[1], tx->jcs[i].case_id, 16);
    }
    if (!(rc = arrs_done(fs->jcs, 2, &fs->p_jcs)))
      cmds[(*n)++] = (pg_cmd){.id = P_FLUSH_JC, .p = &fs->p_jcs};
  }
  return rc;
}

/* What was written is now the database's: the knowledge moves along. */
static void fs_written(pg_txn *tx) {
  tx->db_size += tx->n_rows;
  rows_clear(tx);
  for (size_t i = 0; i < tx->n_authors; i++) {
    pg_author *a = &tx->authors[i];
    if (a->buf_seq > a->db_seq) {
      a->db_seq = a->buf_seq;
      memcpy(a->db_hash, a->buf_hash, 32);
    }
    a->buf_seq = 0;
  }
  for (size_t i = 0; i < tx->n_tw; i++) {
    const pg_tilew *w = tx->tw[i];
    uint32_t len = w->db_len + w->n;
    if (!tx->edge[w->level].any || w->idx >= tx->edge[w->level].idx) {
      tx->edge[w->level].any = 1;
      tx->edge[w->level].idx = w->idx;
      tx->edge[w->level].len = len;
    }
    for (size_t k = 0; k < tx->n_tk; k++)
      if (tx->tk[k].level == w->level && tx->tk[k].idx == w->idx) tx->tk[k].len = len;
  }
  tiles_clear(tx);
  tx->n_claims = 0;
  tx->n_jcs = 0;
}

int pg_flush(pg_txn *tx) {
  if (tx->failed) return tx->failed;
  if (!tx->n_rows && !tx->n_tw && !tx->n_claims && !tx->n_jcs) return MLPROTO_OK;
  flushset *fs = malloc(sizeof *fs);
  if (!fs) return tx->failed = MLPROTO_ERR_OUT_OF_MEMORY;
  pg_cmd cmds[4];
  size_t n = 0;
  int rc = fs_build(tx, fs, cmds, &n);
  if (!rc) rc = pg_pipeline(tx->st, tx->c, cmds, n);
  for (size_t i = 0; i < n; i++) PQclear(cmds[i].res);
  fs_free(fs);
  free(fs);
  if (rc) return tx->failed = rc;
  fs_written(tx);
  return MLPROTO_OK;
}

int pg_commit_batch(pg_txn *tx) {
  flushset *fs = malloc(sizeof *fs);
  if (!fs) return MLPROTO_ERR_OUT_OF_MEMORY;
  pg_cmd cmds[7];
  size_t n = 0;
  pg_par p_sth = {0}, p_head = {0};
  int rc = fs_build(tx, fs, cmds, &n);
  if (!rc && tx->sth_pending) {
    pg_p_i64(&p_sth, tx->sth_size);
    pg_p_bytes(&p_sth, tx->sth, tx->sth_len);
    cmds[n++] = (pg_cmd){.id = P_STH_PUT, .p = &p_sth};
  }
  uint64_t size = tx->db_size + tx->n_rows;
  if (!rc && (size != tx->head_size || tx->last_ms != tx->head_last_ms)) {
    pg_p_i64(&p_head, size);
    pg_p_i64(&p_head, tx->last_ms);
    cmds[n++] = (pg_cmd){.id = P_HEAD_PUT, .p = &p_head};
  }
  if (!rc) {
    cmds[n++] = (pg_cmd){.id = P_COMMIT};
    /* the COMMIT's answer comes once it is durable; an error anywhere
     * before it skips the rest, and the transaction is rolled back */
    rc = pg_pipeline(tx->st, tx->c, cmds, n);
    /* a COMMIT of an aborted transaction answers ROLLBACK */
    if (!rc && strcmp(PQcmdStatus(cmds[n - 1].res), "COMMIT") != 0) {
      mls_logf("error", "pg_commit_rolled_back", "status=%s", PQcmdStatus(cmds[n - 1].res));
      rc = MLPROTO_ERR_STORAGE;
    }
  }
  for (size_t i = 0; i < n; i++) PQclear(cmds[i].res);
  fs_free(fs);
  free(fs);
  return rc;
}
