/*
 * app_tiles.c — the log as C2SP tlog-tiles (https://c2sp.org/tlog-tiles),
 * under the prefix /v1/log (its checkpoint is app_log.c's
 * /v1/log/checkpoint):
 *
 *   GET /v1/log/tile/<L>/<N>[.p/<W>]      hash tiles
 *   GET /v1/log/tile/entries/<N>[.p/<W>]  entry bundles
 *
 * Tile height 8: a full tile is 256 hashes (8,192 bytes); the hashes of a
 * level L tile are the tree's perfect subtrees of height 8*L, the store's
 * nodes (8*L, N*256 + i) (store.h node_range). An entry bundle holds the
 * entries of leaves N*256 .. N*256 + W - 1, each a big-endian uint16 length
 * and the 41 entry bytes whose leaf hash is SHA-256(0x00 || entry)
 * (mlproto_log_entry_encode), so the bundle hashes to level 0 tile N.
 *
 * Which tiles exist is decided by the size of the latest signed tree head,
 * read in the same read transaction as the tile: with w(L) = floor(size /
 * 256^L) hashes at level L, tile N of width W (256 = full) exists when
 * N*256 + W <= w(L). That is the full tiles, the partial tile of the
 * current size (width w(L) mod 256), and every partial tile of a smaller
 * size: the server signs the checkpoint of every size on request
 * (/v1/log/checkpoint?size=N), and "logs MUST serve partial tiles
 * corresponding to tree sizes for which a checkpoint was produced". The
 * bytes of a partial tile are the first W hashes of the full one, so they
 * never change either; a partial tile of a tile now full is still served,
 * never the full one in its place. Anything else, and every malformed path,
 * is 404 NOT_FOUND (a path no static file server would have).
 *
 * Caching (docs/wire-protocol.md §8.4): full tiles and bundles are
 * immutable (`public, max-age=31536000, immutable`); partial ones get
 * `public, max-age=60`; refusals `no-store` (a tile beyond the tree may
 * exist a moment later).
 */
#include "app_int.h"

#define TILE_WIDTH 256u
#define CT_OCTETS "application/octet-stream"
#define CACHE_FULL "Cache-Control: public, max-age=31536000, immutable\r\n"
#define CACHE_PARTIAL "Cache-Control: public, max-age=60\r\n"
#define CACHE_NONE "Cache-Control: no-store\r\n"

/* ------------------------------------------------------------- paths --- */

/* A decimal of 1..3 digits without a leading zero ("0" itself is one),
 * at most max; advances *p past it. */
static int small_dec(const char **p, unsigned max, unsigned *out) {
  const char *s = *p;
  unsigned v = 0;
  size_t n = 0;
  while (s[n] >= '0' && s[n] <= '9') {
    if (n == 3) return -1;
    v = v * 10 + (unsigned)(s[n] - '0');
    n++;
  }
  if (n == 0 || (n > 1 && s[0] == '0') || v > max) return -1;
  *p = s + n;
  *out = v;
  return 0;
}

static int digit(char ch) { return ch >= '0' && ch <= '9'; }

int app_tile_parse(const char *s, app_tile *out) {
  memset(out, 0, sizeof *out);
  app_tile t;
  memset(&t, 0, sizeof t);
  if (!s) return MLPROTO_ERR_NOT_FOUND;
  if (strncmp(s, "entries/", 8) == 0) {
    t.entries = 1;
    s += 8;
  } else {
    unsigned level;
    /* "a decimal ASCII integer between 0 and 63, with no additional leading zeroes" */
    if (small_dec(&s, 63, &level) || *s != '/') return MLPROTO_ERR_NOT_FOUND;
    t.level = level;
    s++;
  }
  /* "zero-padded 3-digit path elements. All but the last path element MUST
   * begin with an x": the shortest such form only (no leading x000), so
   * each tile has one path. */
  uint64_t n = 0;
  for (int first = 1;; first = 0) {
    int x = *s == 'x';
    const char *d = s + x;
    if (!digit(d[0]) || !digit(d[1]) || !digit(d[2])) return MLPROTO_ERR_NOT_FOUND;
    unsigned g = (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 + (unsigned)(d[2] - '0');
    if (first && x && g == 0) return MLPROTO_ERR_NOT_FOUND;
    if (n > (UINT64_MAX - g) / 1000) return MLPROTO_ERR_NOT_FOUND; /* would overflow */
    n = n * 1000 + g;
    s = d + 3;
    if (!x) break;
    if (*s != '/') return MLPROTO_ERR_NOT_FOUND;
    s++;
  }
  t.index = n;
  t.width = TILE_WIDTH;
  if (*s == '.') {
    /* "<W> is the width of the tile, a decimal ASCII integer between 1 and
     * 255, with no additional leading zeroes" */
    unsigned w;
    if (strncmp(s, ".p/", 3) != 0) return MLPROTO_ERR_NOT_FOUND;
    s += 3;
    if (small_dec(&s, TILE_WIDTH - 1, &w) || w == 0) return MLPROTO_ERR_NOT_FOUND;
    t.width = w;
  }
  if (*s) return MLPROTO_ERR_NOT_FOUND; /* a trailing slash or anything else */
  *out = t;
  return MLPROTO_OK;
}

int app_tile_in_tree(const app_tile *t, uint64_t size) {
  unsigned level = t->entries ? 0 : t->level;
  /* Hashes at the tile level: floor(size / 256^L); none from level 8 on
   * (a tree holds at most 2^63 leaves). */
  uint64_t have = level >= 8 ? 0 : size >> (8 * level);
  if (t->index > have / TILE_WIDTH) return 0;
  return t->index * TILE_WIDTH + t->width <= have;
}

/* ----------------------------------------------------------- handler --- */

/* A refusal nobody may cache. */
static int tile_fail(ctx *c, int code, const char *detail) {
  app_fail(c, code, detail);
  size_t used = strlen(c->resp->extra_headers);
  snprintf(c->resp->extra_headers + used, sizeof c->resp->extra_headers - used, CACHE_NONE);
  return code;
}

int app_h_tile(ctx *c) {
  int rc = app_parse_query(c, NULL, 0); /* no parameters */
  if (rc) return rc;
  app_tile t;
  if (app_tile_parse(c->req->path + strlen(APP_TILE_PREFIX), &t))
    return tile_fail(c, MLPROTO_ERR_NOT_FOUND, "not a tile path (c2sp.org/tlog-tiles)");
  if (t.entries) c->resp->route = "tile_entries";

  /* One read transaction: the tree head that says the tile exists and the
   * rows it is made of. */
  union {
    uint8_t hashes[TILE_WIDTH][32];
    mls_leaf_entry entries[TILE_WIDTH];
  } rows;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return tile_fail(c, rc, NULL);
  mlproto_sth sth;
  memset(&sth, 0, sizeof sth);
  rc = mls_log_sth(c->app->log, tx, c->now, &sth);
  if (!rc && !app_tile_in_tree(&t, sth.size)) {
    mls_store_rollback(tx);
    char detail[96];
    snprintf(detail, sizeof detail, "no such tile in the tree of size %" PRIu64, sth.size);
    return tile_fail(c, MLPROTO_ERR_NOT_FOUND, detail);
  }
  uint64_t first = t.index * TILE_WIDTH;
  if (!rc && t.entries) rc = MLS_TX(tx, leaf_entry_range, first, t.width, rows.entries);
  else if (!rc) rc = MLS_TX(tx, node_range, 8 * t.level, first, t.width, rows.hashes);
  mls_store_rollback(tx);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    /* The signed tree covers it, so the store lost rows: damage. */
    app_log("error", "tile_rows_missing", "level=%u index=%" PRIu64 " width=%u entries=%d size=%" PRIu64,
            t.level, t.index, t.width, t.entries, sth.size);
    rc = MLPROTO_ERR_STORAGE;
  }
  if (rc) return tile_fail(c, rc, NULL);

  size_t len = t.entries ? (size_t)t.width * (2 + MLPROTO_LOG_ENTRY_BYTES) : (size_t)t.width * 32;
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, len);
  if (t.entries) {
    for (unsigned i = 0; i < t.width && !rc; i++) {
      const mls_leaf_entry *r = &rows.entries[i];
      mlproto_log_entry e = {.type = (mlproto_log_entry_type)r->type, .received_at_ms = r->received_ms};
      memcpy(e.record_hash, r->record_hash, 32);
      uint8_t item[2 + MLPROTO_LOG_ENTRY_BYTES] = {0, MLPROTO_LOG_ENTRY_BYTES};
      /* the very bytes mls_log_append hashed into the leaf; a type it
       * cannot have written is damage */
      if (mlproto_log_entry_encode(item + 2, &e) != MLPROTO_OK) rc = MLPROTO_ERR_STORAGE;
      else if (mlproto_buf_append(&c->resp->body, item, sizeof item)) rc = MLPROTO_ERR_OUT_OF_MEMORY;
    }
  } else if (mlproto_buf_append(&c->resp->body, rows.hashes, len)) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  }
  if (rc) return tile_fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_OCTETS;
  c->resp->error_code = MLPROTO_OK;
  snprintf(c->resp->extra_headers, sizeof c->resp->extra_headers, "%s",
           t.width == TILE_WIDTH ? CACHE_FULL : CACHE_PARTIAL);
  return MLPROTO_OK;
}
