/* admin_migrate_verify.c — `admin migrate`'s read-back before COMMIT
 * (step 5 at the top of admin_migrate.c): row counts, every row's content,
 * the checkpoint, and the whole tree recomputed. */
#include "admin_migrate_int.h"

/* The stored tiles, one per level at a time, to compare computed nodes. */
typedef struct tile_cache {
  int valid;
  uint64_t idx;
  size_t n;
  uint8_t h[256 * 32];
} tile_cache;

typedef struct walk {
  mig *m;
  tile_cache *tc; /* [64] */
  uint64_t nodes; /* computed nodes compared */
} walk;

static int node_check(walk *w, const mlproto_merkle_node *nd) {
  mig *m = w->m;
  tile_cache *c = &w->tc[nd->level];
  uint64_t tidx = nd->index >> 8;
  if (!c->valid || c->idx != tidx) {
    uint8_t lv[2], ix[8];
    be_put(lv, nd->level, 2);
    be_put(ix, tidx, 8);
    const char *vals[2] = {(const char *)lv, (const char *)ix};
    int lens[2] = {2, 8}, fmts[2] = {1, 1};
    PGresult *r = PQexecParams(m->pg,
                               "SELECT hashes FROM tiles WHERE level = $1::smallint AND idx = $2::bigint",
                               2, NULL, vals, lens, fmts, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      int rc = mig_pg_failed(m, r, "read tiles");
      PQclear(r);
      return rc;
    }
    int len = PQntuples(r) == 1 ? PQgetlength(r, 0, 0) : -1;
    if (len < 32 || len > (int)sizeof c->h || len % 32) {
      PQclear(r);
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "PostgreSQL: tile (%u, %" PRIu64 ") is missing or malformed", nd->level, tidx);
    }
    memcpy(c->h, PQgetvalue(r, 0, 0), (size_t)len);
    c->n = (size_t)len / 32;
    c->idx = tidx;
    c->valid = 1;
    PQclear(r);
  }
  size_t off = (size_t)(nd->index & 255);
  if (off >= c->n || memcmp(c->h + off * 32, nd->hash, 32) != 0)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL: the tree node (%u, %" PRIu64 ") differs from the one its leaves make",
                nd->level, nd->index);
  w->nodes++;
  return MLPROTO_OK;
}

/* Every leaf of the copied log, in order: its hash from its entry, the
 * tree nodes it completes against the tiles, the root at the checkpoint's
 * size against the checkpoint. */
static int verify_tree(mig *m, uint64_t *tiles_checked) {
  walk w = {.m = m, .tc = calloc(64, sizeof(tile_cache))};
  if (!w.tc) return MLPROTO_ERR_OUT_OF_MEMORY;
  mlproto_merkle_compact cr;
  mlproto_merkle_compact_init(&cr);
  uint8_t root[32];
  int have_root = 0;
  if (m->sth_len && m->head.size == 0) {
    mlproto_merkle_empty_root(root);
    have_root = 1;
  }
  int rc = mig_pg_run(m,
                  "DECLARE migrate_leaves NO SCROLL CURSOR FOR SELECT idx, type, received_ms,"
                  " record_hash, leaf_hash FROM log ORDER BY idx",
                  PGRES_COMMAND_OK, "read the log", NULL);
  mlproto_merkle_node *nodes = malloc(MLPROTO_MERKLE_MAX_NEW_NODES * sizeof *nodes);
  if (!nodes) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (int done = 0; !rc && !done;) {
    PGresult *r;
    if ((rc = mig_pg_run(m, "FETCH FORWARD " FETCH_ROWS " FROM migrate_leaves", PGRES_TUPLES_OK,
                     "read the log", &r)))
      break;
    int n = PQntuples(r);
    done = n == 0;
    for (int i = 0; i < n && !rc; i++) {
      uint64_t idx = mig_r_u64(r, i, 0);
      mlproto_log_entry e = {.type = (mlproto_log_entry_type)mig_r_u64(r, i, 1),
                             .received_at_ms = mig_r_u64(r, i, 2)};
      uint8_t leaf[32];
      size_t nn = 0;
      if (idx != cr.size || PQgetlength(r, i, 3) != 32 || PQgetlength(r, i, 4) != 32) {
        rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "PostgreSQL: log entry %" PRIu64 " is missing or malformed", cr.size);
        break;
      }
      memcpy(e.record_hash, PQgetvalue(r, i, 3), 32);
      if (mlproto_log_entry_leaf_hash(leaf, &e) != MLPROTO_OK ||
          memcmp(leaf, PQgetvalue(r, i, 4), 32) != 0) {
        rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "log entry %" PRIu64 ": its leaf hash is not the hash of its entry", idx);
        break;
      }
      if ((rc = mlproto_merkle_compact_append(&cr, leaf, nodes, &nn))) break;
      for (size_t k = 0; k < nn && !rc; k++) rc = node_check(&w, &nodes[k]);
      if (!rc && m->sth_len && cr.size == m->head.size) {
        mlproto_merkle_compact_root(&cr, root);
        have_root = 1;
      }
    }
    PQclear(r);
  }
  free(nodes);
  free(w.tc);
  if (rc) return rc;
  if ((rc = mig_pg_run(m, "CLOSE migrate_leaves", PGRES_COMMAND_OK, "read the log", NULL))) return rc;
  if (cr.size != m->log_size)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL holds %" PRIu64 " log entries, server.db %" PRIu64, cr.size,
                m->log_size);
  if (m->sth_len && (!have_root || memcmp(root, m->head.root, 32) != 0))
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the root of the copied log at size %" PRIu64 " is not the checkpoint's",
                m->head.size);
  /* every stored hash was compared; and no stored hash is left over */
  uint64_t stored;
  if ((rc = mig_pg_u64(m, "SELECT (coalesce(sum(length(hashes)), 0) / 32)::bigint FROM tiles",
                   "count tree nodes", &stored)))
    return rc;
  if (stored != w.nodes || stored != m->nodes)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "tree nodes: server.db %" PRIu64 ", PostgreSQL %" PRIu64 ", made from the "
                "leaves %" PRIu64, m->nodes, stored, w.nodes);
  *tiles_checked = w.nodes;
  return MLPROTO_OK;
}

/* Reads table t back from PostgreSQL with a binary COPY of the columns it
 * was copied into, and compares the digest of its rows (each tuple's bytes,
 * field count to last field, as the server sends them: the same binary
 * forms migrate sent) with the digest of what was sent: every value of
 * every row, not only how many there are. */
static int content_check(mig *m, const table *t, const char *where) {
  char sql[700];
  snprintf(sql, sizeof sql, "COPY (SELECT %s FROM %s%s%s) TO STDOUT (FORMAT binary)",
           t->copy_cols ? t->copy_cols : t->columns, t->pg, where ? " WHERE " : "",
           where ? where : "");
  PGresult *r = PQexec(m->pg, sql);
  if (PQresultStatus(r) != PGRES_COPY_OUT) {
    int rc = mig_pg_failed(m, r, "read back");
    PQclear(r);
    return rc;
  }
  PQclear(r);
  uint8_t sum[32] = {0};
  size_t cap = 1 << 16, have = 0, pos = 0;
  uint8_t *buf = malloc(cap);
  int rc = buf ? MLPROTO_OK : MLPROTO_ERR_OUT_OF_MEMORY;
  int header = 0, trailer = 0, end = 0;
  while (!rc && !end) {
    char *data = NULL;
    int n = PQgetCopyData(m->pg, &data, 0);
    if (n == -1) {
      end = 1;
    } else if (n < 0) {
      rc = mig_pg_failed(m, NULL, "read back");
    } else {
      if (pos) { /* what was parsed goes; a partial item stays */
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        pos = 0;
      }
      if (have + (size_t)n > cap) {
        size_t want = cap;
        while (have + (size_t)n > want) want *= 2;
        /* not realloc: the old block (meta's secrets) is wiped, not left behind */
        uint8_t *nb = malloc(want);
        if (!nb) {
          rc = MLPROTO_ERR_OUT_OF_MEMORY;
        } else {
          memcpy(nb, buf, have);
          sodium_memzero(buf, cap);
          free(buf);
          buf = nb;
          cap = want;
        }
      }
      if (!rc) {
        memcpy(buf + have, data, (size_t)n);
        have += (size_t)n;
      }
    }
    if (data) sodium_memzero(data, (size_t)(n > 0 ? n : 0));
    PQfreemem(data);
    /* whole items only: the header, then tuples, then the trailer */
    while (!rc && !trailer) {
      if (!header) {
        if (have - pos < 19) break;
        uint64_t ext = be_get(buf + pos + 15, 4);
        if (memcmp(buf + pos, "PGCOPY\n\377\r\n", 11) != 0 || ext > 1 << 20) {
          rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "table %s: the read-back is not a binary COPY",
                    t->name);
          break;
        }
        if (have - pos < 19 + ext) break;
        pos += 19 + (size_t)ext;
        header = 1;
        continue;
      }
      if (have - pos < 2) break;
      unsigned fields = (unsigned)be_get(buf + pos, 2);
      if (fields == 0xffff) {
        trailer = 1;
        pos += 2;
        break;
      }
      size_t at = pos + 2;
      int whole = 1;
      for (unsigned f = 0; f < fields; f++) {
        if (have - at < 4) { whole = 0; break; }
        uint64_t len = be_get(buf + at, 4);
        at += 4;
        if (len == 0xffffffffu) continue; /* NULL */
        if (have - at < len) { whole = 0; break; }
        at += (size_t)len;
      }
      if (!whole) break;
      uint8_t h[32];
      crypto_generichash(h, sizeof h, buf + pos, at - pos, NULL, 0);
      digest_add(sum, h);
      pos = at;
    }
  }
  if (buf) sodium_memzero(buf, cap); /* meta's rows are secrets */
  free(buf);
  if (!rc) {
    r = PQgetResult(m->pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = mig_pg_failed(m, r, "read back");
    PQclear(r);
    while ((r = PQgetResult(m->pg))) PQclear(r);
  }
  if (rc) return rc;
  if (!header || !trailer || sodium_memcmp(sum, m->digest[t - TABLES], 32) != 0)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "table %s: the rows in PostgreSQL are not the rows of server.db (their content "
                "differs)", t->name);
  return MLPROTO_OK;
}

int mig_verify(mig *m) {
  int rc;
  /* row counts: what server.db held, what PostgreSQL holds now */
  for (size_t i = 0; i < N_TABLES; i++) {
    const table *t = &TABLES[i];
    if (!t->pg || t->copy) continue; /* tiles and meta below */
    uint64_t src, dst;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t->pg);
    if ((rc = mig_sq_count(m, t->name, &src)) || (rc = mig_pg_u64(m, sql, "count rows", &dst))) return rc;
    if (src != dst)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "table %s: %" PRIu64 " rows in server.db, %" PRIu64 " in PostgreSQL", t->name, src,
                  dst);
    if ((rc = content_check(m, t, NULL))) return rc;
  }
  uint64_t src, dst, tiles, checkpoints, head;
  if ((rc = mig_sq_count(m, "meta", &src)) ||
      (rc = mig_pg_u64(m, "SELECT count(*) FROM meta WHERE key <> 'schema_version'", "count rows", &dst)))
    return rc;
  if (src != dst + (m->sth_len ? 1 : 0))
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "table meta: %" PRIu64 " rows in server.db, %" PRIu64 " in PostgreSQL (and %d "
                "checkpoint)", src, dst, m->sth_len ? 1 : 0);
  /* and their values (the challenge key, the ticket secret, the indexes) */
  for (size_t i = 0; i < N_TABLES; i++)
    if (strcmp(TABLES[i].name, "meta") == 0 &&
        (rc = content_check(m, &TABLES[i], "key <> 'schema_version'")))
      return rc;
  if ((rc = mig_pg_u64(m, "SELECT count(*) FROM tiles", "count rows", &tiles)) ||
      (rc = mig_pg_u64(m, "SELECT count(*) FROM checkpoints", "count rows", &checkpoints)) ||
      (rc = mig_pg_u64(m, "SELECT size FROM log_head", "log size", &head)))
    return rc;
  if (tiles != m->tiles || checkpoints != (m->sth_len ? 1u : 0u) || head != m->log_size)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL holds %" PRIu64 " tiles (%" PRIu64 " made), %" PRIu64
                " checkpoints, log size %" PRIu64 " (server.db: %" PRIu64 ")", tiles, m->tiles,
                checkpoints, head, m->log_size);
  /* the latest checkpoint: the same bytes, signed by this log's key */
  if (m->sth_len) {
    PGresult *r;
    if ((rc = mig_pg_run(m, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1", PGRES_TUPLES_OK,
                     "read the checkpoint", &r)))
      return rc;
    int same = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == (int)m->sth_len &&
               memcmp(PQgetvalue(r, 0, 0), m->sth, m->sth_len) == 0;
    PQclear(r);
    if (!same)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "the latest checkpoint in PostgreSQL is not server.db's");
    if (mlproto_sth_verify(&m->head, m->pk) != MLPROTO_OK)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "server.db's tree head is not signed by DIR/server.key");
    if (m->head.size > m->log_size)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "the checkpoint's size %" PRIu64 " is beyond the log's %" PRIu64, m->head.size,
                  m->log_size);
  }
  uint64_t nodes = 0;
  double t = mig_now_s();
  if ((rc = verify_tree(m, &nodes))) return rc;
  mig_progress("verified: row counts of %zu tables, log size %" PRIu64 ", checkpoint of size %" PRIu64
           ", %" PRIu64 " leaf and tree hashes recomputed (%.1f s)",
           N_PG_TABLES, m->log_size, m->sth_len ? m->head.size : 0, nodes, mig_now_s() - t);
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- the steps --- */
