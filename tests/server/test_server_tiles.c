/*
 * test_server_tiles.c — the log as C2SP tlog-tiles (app_tiles.c), driven
 * through mls_app_handle() on a temporary data directory: every tile and
 * entry bundle of a tree is fetched, each leaf hash recomputed from its
 * bundle, every upper-level hash recomputed from the tile below, and the
 * tree's root rebuilt from the tiles with protocol/'s Merkle functions and
 * compared with the root of the signed checkpoint. Also: the tiles that must
 * not exist (404), the exact tile counts of the spec's own example (a tree
 * of 70,000), partial tiles of older sizes, the caching headers, the path
 * parser (good and bad forms), and the two store range operations.
 *
 * Nothing of the server's own tile code is used to check its answers: the
 * test builds its paths with its own encoder (tile_path) and checks bytes
 * only against mlproto/merkle.h and mlproto/checkpoint.h.
 */
#include "testutil.h"

#include "admin_run.h"
#include "app_int.h"
#include "devsim.h"
#include "store_tamper.h"
#include "test_store.h"

#include "mlproto/checkpoint.h"
#include "mlproto/merkle.h"

#include <unistd.h>

#define CT "application/vnd.mentorlog.v1+protobuf"
#define CACHE_FULL "Cache-Control: public, max-age=31536000, immutable\r\n"
#define CACHE_PARTIAL "Cache-Control: public, max-age=60\r\n"

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  uint64_t now;
} fx;

typedef struct resp {
  int status;
  char name[64];   /* error code name of an error body */
  uint8_t *body;
  size_t len;
  const char *ct;  /* static */
  const char *route;
  char extra[1024];
} resp;

static void resp_free(resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

static resp call(fx *f, const char *method, const char *path, const char *query,
                 const uint8_t *body, size_t len, const char *token) {
  mls_header hs[2];
  size_t nh = 0;
  char auth[200];
  if (body) hs[nh++] = (mls_header){"Content-Type", CT};
  if (token) {
    snprintf(auth, sizeof auth, "Bearer %s", token);
    hs[nh++] = (mls_header){"Authorization", auth};
  }
  mls_request rq = {.method = method, .path = path, .query = query ? query : "",
                    .headers = hs, .n_headers = nh, .body = body, .body_len = len,
                    .peer = "10.0.0.1", .conn_id = 1};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(f->app, &rq, &rs, f->now);
  f->now += 20; /* 50 requests a second: under the per-address rate of anonymous requests */
  resp r;
  memset(&r, 0, sizeof r);
  r.status = rs.status;
  r.len = rs.body.len;
  r.body = malloc(r.len ? r.len : 1);
  if (r.len) memcpy(r.body, rs.body.data, r.len);
  r.ct = rs.content_type;
  r.route = rs.route;
  snprintf(r.extra, sizeof r.extra, "%s", rs.extra_headers);
  if (rs.error_code) sim_error_code(r.body, r.len, r.name);
  mlproto_buf_free(&rs.body);
  return r;
}

static resp get(fx *f, const char *path) { return call(f, "GET", path, NULL, NULL, 0, NULL); }

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-tiles-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (uint64_t)time(NULL) * 1000;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), MLPROTO_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mls_app_close(f->app);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

/* --------------------------------------------------- growing the log --- */

/* A real device enrolled and logged in (one server event in the log). */
static void device_up(fx *f, sim_dev *d) {
  char mentor[40], code[64];
  const char *ma[] = {"mentor", "add", "Anna", NULL};
  assert_int_equal(sa_admin(f->dir, mentor, sizeof mentor, ma), 0);
  const char *ec[] = {"enroll-code", mentor, NULL};
  assert_int_equal(sa_admin(f->dir, code, sizeof code, ec), 0);
  sim_dev_init(d);
  size_t len;
  uint8_t *b = sim_enroll_body(d, code, &len);
  resp r = call(f, "POST", "/v1/enroll", NULL, b, len, NULL);
  free(b);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = get(f, "/v1/session/challenge");
  assert_int_equal(r.status, 200);
  b = sim_session_body(d, r.body, r.len, &len);
  resp_free(&r);
  r = call(f, "POST", "/v1/session", NULL, b, len, NULL);
  free(b);
  assert_int_equal(r.status, 200);
  assert_int_equal(sim_take_token(d, r.body, r.len), 0);
  resp_free(&r);
}

/* n real records of d pushed in batches of up to 256 (the first one opens
 * the case). */
static void push_records(fx *f, sim_dev *d, const uint8_t case_id[16], size_t n, int open) {
  for (size_t done = 0; done < n;) {
    uint8_t *envs[256];
    size_t lens[256], k = 0;
    for (; k < 256 && done + k < n; k++)
      envs[k] = sim_record(d, open && done + k == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE,
                           case_id, &lens[k]);
    size_t len;
    uint8_t *b = sim_push_body(envs, lens, k, &len);
    for (size_t i = 0; i < k; i++) mlproto_free(envs[i]);
    resp r = call(f, "POST", "/v1/push", NULL, b, len, d->token);
    free(b);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    done += k;
    f->now += 1000; /* under the per-device request rate */
  }
}

/* n synthetic leaves appended through the log itself (mls_log_append
 * computes each leaf hash and its nodes as for a real record), one
 * commit: what a large tree needs without signing 70,000 records. */
static void append_synthetic(fx *f, uint64_t n) {
  mls_txn *tx;
  assert_int_equal(mls_log_begin(f->app->log, &tx), MLPROTO_OK);
  uint8_t author[32], env[1] = {0};
  randombytes_buf(author, sizeof author);
  uint64_t base = mls_log_pending_size(f->app->log);
  for (uint64_t i = 0; i < n; i++) {
    mls_log_entry e;
    memset(&e, 0, sizeof e);
    e.type = (i % 7 == 3) ? MLPROTO_LOG_SERVER_EVENT : MLPROTO_LOG_DEVICE_RECORD;
    e.received_ms = f->now + base + i;
    randombytes_buf(e.record_hash, 32);
    memcpy(e.author, author, 32);
    e.seq = i + 1;
    mlproto_random_id(e.record_id);
    e.kind = MLPROTO_KIND_NOTE;
    e.envelope = env;
    e.envelope_len = sizeof env;
    assert_int_equal(mls_log_append(f->app->log, tx, &e), MLPROTO_OK);
  }
  assert_int_equal(mls_log_commit(f->app->log, tx, f->now, NULL), MLPROTO_OK);
}

/* ------------------------------------------------ checkpoints and keys --- */

static void verifier(fx *f, mlproto_note_verifier *v) {
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  assert_int_equal(mls_log_vkey(f->app->log, vkey, sizeof vkey), MLPROTO_OK);
  assert_int_equal(mlproto_note_vkey_parse(v, vkey, strlen(vkey)), MLPROTO_OK);
}

/* The checkpoint (latest when size < 0), opened with the log's key. */
static mlproto_checkpoint checkpoint(fx *f, long long size) {
  char q[48] = "";
  if (size >= 0) snprintf(q, sizeof q, "size=%lld", size);
  resp r = call(f, "GET", "/v1/log/checkpoint", q, NULL, 0, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ct, "text/plain; charset=utf-8");
  /* the latest: a few seconds in caches; one of a size never changes */
  assert_string_equal(r.extra, size < 0 ? "Cache-Control: public, max-age=5\r\n" : CACHE_FULL);
  mlproto_note_verifier v;
  verifier(f, &v);
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, r.body, r.len, &v), MLPROTO_OK);
  resp_free(&r);
  return cp;
}

/* ------------------------------------------------------------ tiles --- */

/* The test's own encoding of a tile path (c2sp.org/tlog-tiles): level L
 * (-1: entries), index N in 3-digit groups, all but the last with "x",
 * ".p/W" for a partial tile. */
static void tile_path(char *out, size_t cap, int level, uint64_t n, unsigned w) {
  char groups[8][5];
  int k = 0;
  do {
    snprintf(groups[k++], sizeof groups[0], "%03u", (unsigned)(n % 1000));
    n /= 1000;
  } while (n);
  size_t used = (size_t)snprintf(out, cap, "/v1/log/tile/");
  if (level < 0) used += (size_t)snprintf(out + used, cap - used, "entries/");
  else used += (size_t)snprintf(out + used, cap - used, "%d/", level);
  for (int i = k - 1; i >= 0; i--)
    used += (size_t)snprintf(out + used, cap - used, "%s%s%s", i ? "x" : "", groups[i], i ? "/" : "");
  if (w < 256) snprintf(out + used, cap - used, ".p/%u", w);
}

/* GET of a tile that must exist: 200, octet-stream, the caching header of
 * its kind, exactly want bytes; returns the body (malloc'ed). */
static uint8_t *get_tile(fx *f, int level, uint64_t n, unsigned w, size_t want) {
  char path[128];
  tile_path(path, sizeof path, level, n, w);
  resp r = get(f, path);
  if (r.status != 200) fail_msg("%s: %d %s", path, r.status, r.name);
  assert_string_equal(r.ct, "application/octet-stream");
  assert_string_equal(r.extra, w == 256 ? CACHE_FULL : CACHE_PARTIAL);
  assert_string_equal(r.route, level < 0 ? "tile_entries" : "tile");
  assert_int_equal(r.len, want);
  uint8_t *b = r.body;
  r.body = NULL;
  resp_free(&r);
  return b;
}

/* A tile that must not exist: 404 NOT_FOUND, not cacheable. */
static void no_tile_path(fx *f, const char *path) {
  resp r = get(f, path);
  if (r.status != 404) fail_msg("%s: %d, want 404", path, r.status);
  assert_string_equal(r.name, "NOT_FOUND");
  assert_non_null(strstr(r.extra, "Cache-Control: no-store\r\n"));
  resp_free(&r);
}

static void no_tile(fx *f, int level, uint64_t n, unsigned w) {
  char path[128];
  tile_path(path, sizeof path, level, n, w);
  no_tile_path(f, path);
}

/* Everything a client gets from the tiles of a tree of `size` leaves. */
typedef struct tiled {
  uint64_t size;
  unsigned levels;          /* levels with at least one hash */
  uint8_t (*h[8])[32];      /* h[L][i]: the i-th hash at tile level L */
  uint64_t count[8];        /* floor(size / 256^L) */
  unsigned full[8], partial_w[8]; /* full tiles, width of the partial one (0: none) */
  uint8_t (*entries)[MLPROTO_LOG_ENTRY_BYTES]; /* from the bundles */
} tiled;

static void tiled_free(tiled *t) {
  for (int l = 0; l < 8; l++) free(t->h[l]);
  free(t->entries);
  memset(t, 0, sizeof *t);
}

/* Fetches every hash tile and bundle that the tree of `size` has, checks
 * each bundle against its level 0 tile and each upper hash against the
 * full tile below, and that the next tile of each level, the next wider
 * partial and the first tile of the first empty level are 404. */
static void fetch_all(fx *f, uint64_t size, tiled *t) {
  memset(t, 0, sizeof *t);
  t->size = size;
  for (unsigned l = 0; l < 8; l++) {
    uint64_t have = size >> (8 * l);
    t->count[l] = have;
    if (!have) {
      no_tile(f, (int)l, 0, 256);
      no_tile(f, (int)l, 0, 1);
      break;
    }
    t->levels = l + 1;
    t->h[l] = malloc((size_t)have * 32);
    uint64_t tiles = (have + 255) / 256;
    for (uint64_t n = 0; n < tiles; n++) {
      unsigned w = have - n * 256 >= 256 ? 256 : (unsigned)(have - n * 256);
      if (w == 256) t->full[l]++;
      else t->partial_w[l] = w;
      uint8_t *b = get_tile(f, (int)l, n, w, (size_t)w * 32);
      memcpy(t->h[l][n * 256], b, (size_t)w * 32);
      free(b);
    }
    /* past the end: the next tile, the full form of a partial one, a wider partial */
    no_tile(f, (int)l, tiles, 256);
    no_tile(f, (int)l, tiles, 1);
    if (have % 256) {
      no_tile(f, (int)l, have / 256, 256);
      if (have % 256 < 255) no_tile(f, (int)l, have / 256, (unsigned)(have % 256) + 1);
    }
    /* "each hash in a tile is the Merkle Tree Hash of a full tile at the level below" */
    for (uint64_t i = 0; l > 0 && i < have; i++) {
      uint8_t mth[32];
      assert_int_equal(mlproto_merkle_root(mth, (const uint8_t(*)[32])&t->h[l - 1][i * 256], 256),
                       MLPROTO_OK);
      assert_memory_equal(mth, t->h[l][i], 32);
    }
  }
  /* entry bundles: u16be length || entry, as many as level 0 has hashes */
  t->entries = malloc((size_t)(size ? size : 1) * MLPROTO_LOG_ENTRY_BYTES);
  uint64_t bundles = (size + 255) / 256;
  for (uint64_t n = 0; n < bundles; n++) {
    unsigned w = size - n * 256 >= 256 ? 256 : (unsigned)(size - n * 256);
    size_t want = (size_t)w * (2 + MLPROTO_LOG_ENTRY_BYTES);
    uint8_t *b = get_tile(f, -1, n, w, want);
    size_t off = 0;
    for (unsigned i = 0; i < w; i++) {
      size_t elen = (size_t)b[off] << 8 | b[off + 1];
      assert_int_equal(elen, MLPROTO_LOG_ENTRY_BYTES);
      const uint8_t *entry = b + off + 2;
      /* a client recomputes the leaf hash from the bundle alone */
      uint8_t leaf[32];
      mlproto_merkle_leaf_hash(leaf, entry, elen);
      assert_memory_equal(leaf, t->h[0][n * 256 + i], 32);
      mlproto_log_entry e;
      assert_int_equal(mlproto_log_entry_decode(&e, entry, elen), MLPROTO_OK);
      memcpy(t->entries[n * 256 + i], entry, elen);
      off += 2 + elen;
    }
    assert_int_equal(off, want);
    free(b);
  }
  no_tile(f, -1, bundles, 256);
  no_tile(f, -1, bundles, 1);
  if (size % 256) {
    no_tile(f, -1, size / 256, 256);
    if (size % 256 < 255) no_tile(f, -1, size / 256, (unsigned)(size % 256) + 1);
  }
}

/* The reader of perfect subtrees over fetched tiles: the node of height
 * h = 8L + r at index i is the MTH of the 2^r hashes [i<<r, (i+1)<<r) of
 * tile level L, the highest level that has it. */
static int tiles_node(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  const tiled *t = ud;
  unsigned l = level / 8, r = level % 8;
  if (l >= t->levels) return MLPROTO_ERR_NOT_FOUND;
  uint64_t lo = index << r, n = UINT64_C(1) << r;
  if (lo + n > t->count[l]) return MLPROTO_ERR_NOT_FOUND;
  return mlproto_merkle_root(out, (const uint8_t(*)[32])&t->h[l][lo], n);
}

/* The root of the first `size` leaves from the tiles, two ways: from the
 * level 0 hashes alone, and from the perfect subtrees the tiles of every
 * level give (protocol/'s root_at over tiles_node). Both must agree. */
static void root_from_tiles(const tiled *t, uint64_t size, uint8_t root[32]) {
  assert_true(size <= t->size);
  uint8_t flat[32];
  assert_int_equal(mlproto_merkle_root(flat, (const uint8_t(*)[32])t->h[0], size), MLPROTO_OK);
  assert_int_equal(mlproto_merkle_root_at(root, size, tiles_node, (void *)t), MLPROTO_OK);
  assert_memory_equal(root, flat, 32);
}

/* Inclusion proofs built from the tiles verify the bundles' entries
 * against the checkpoint's root. */
static void proofs_from_tiles(const tiled *t, const mlproto_checkpoint *cp) {
  const uint64_t at[] = {0, 1, 255, 256, 257, t->size / 2, t->size - 2, t->size - 1};
  for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
    uint64_t i = at[k];
    if (i >= t->size) continue;
    uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32], leaf[32];
    size_t len = 0;
    assert_int_equal(mlproto_merkle_inclusion_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF, i, t->size,
                                                    tiles_node, (void *)t), MLPROTO_OK);
    mlproto_merkle_leaf_hash(leaf, t->entries[i], MLPROTO_LOG_ENTRY_BYTES);
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, i, t->size, (const uint8_t(*)[32])proof,
                                                     len, cp->root), MLPROTO_OK);
    leaf[0] ^= 1;
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, i, t->size, (const uint8_t(*)[32])proof,
                                                     len, cp->root), MLPROTO_ERR_PROOF_INVALID);
  }
}

/* ------------------------------------------------------------ tests --- */

/* A log of real records (~700: two full level 0 tiles and a partial one,
 * a partial level 1 tile, nothing at level 2): every tile, every bundle,
 * the root, proofs; the partial tiles of an older checkpoint are still
 * served after the tree grew, and give that checkpoint's root. */
static void test_tiles_real_log(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d);
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  push_records(f, &d, case_id, 100, 1);
  mlproto_checkpoint old = checkpoint(f, -1);
  assert_true(old.size > 100 && old.size < 256);
  tiled t0;
  fetch_all(f, old.size, &t0);
  assert_int_equal(t0.levels, 1);
  assert_int_equal(t0.full[0], 0);
  assert_int_equal(t0.partial_w[0], old.size);
  uint8_t root[32];
  root_from_tiles(&t0, old.size, root);
  assert_memory_equal(root, old.root, 32);

  push_records(f, &d, case_id, 600, 0);
  mlproto_checkpoint cp = checkpoint(f, -1);
  assert_int_equal(cp.size, old.size + 600);
  assert_true(cp.size > 512 && cp.size < 768);
  tiled t;
  fetch_all(f, cp.size, &t);
  assert_int_equal(t.levels, 2);
  assert_int_equal(t.full[0], 2);
  assert_int_equal(t.partial_w[0], cp.size - 512);
  assert_int_equal(t.full[1], 0);
  assert_int_equal(t.partial_w[1], 2);
  root_from_tiles(&t, cp.size, root);
  assert_memory_equal(root, cp.root, 32);
  proofs_from_tiles(&t, &cp);
  /* the entries are the leaves of the pushed records: types and times */
  mlproto_log_entry e;
  assert_int_equal(mlproto_log_entry_decode(&e, t.entries[0], MLPROTO_LOG_ENTRY_BYTES), MLPROTO_OK);
  assert_int_equal(e.type, MLPROTO_LOG_SERVER_EVENT); /* the enrolment */
  assert_int_equal(mlproto_log_entry_decode(&e, t.entries[cp.size - 1], MLPROTO_LOG_ENTRY_BYTES),
                   MLPROTO_OK);
  assert_int_equal(e.type, MLPROTO_LOG_DEVICE_RECORD);

  /* The older checkpoint's partial tile, now inside a full one: still
   * served (a client that verified that checkpoint may ask for it), the
   * same bytes as then, the prefix of the full tile; the same for its
   * bundle. Its root is the old checkpoint's. */
  uint8_t *p = get_tile(f, 0, 0, (unsigned)old.size, old.size * 32);
  assert_memory_equal(p, t0.h[0], old.size * 32);
  assert_memory_equal(p, t.h[0], old.size * 32);
  free(p);
  p = get_tile(f, -1, 0, (unsigned)old.size, old.size * (2 + MLPROTO_LOG_ENTRY_BYTES));
  free(p);
  mlproto_checkpoint again = checkpoint(f, (long long)old.size);
  root_from_tiles(&t, old.size, root);
  assert_memory_equal(root, again.root, 32);
  assert_memory_equal(root, old.root, 32);
  /* a partial of any width within the tree: the checkpoint of that size
   * is served too, so its tiles are */
  p = get_tile(f, 1, 0, 1, 32);
  assert_memory_equal(p, t.h[1][0], 32);
  free(p);
  tiled_free(&t0);
  tiled_free(&t);
  sim_dev_free(&d);
}

/* The spec's example, counted exactly: "a tree of size 70,000 will be
 * represented by 273 full level 0 tiles, one partial level 0 tile of width
 * 112, one full level 1 tile, one partial level 1 tile of width 17, and
 * one partial level 2 tile of width 1." */
static void test_tiles_spec_example(void **state) {
  fx *f = *state;
  append_synthetic(f, 70000);
  mlproto_checkpoint cp = checkpoint(f, -1);
  assert_int_equal(cp.size, 70000);
  tiled t;
  fetch_all(f, cp.size, &t);
  assert_int_equal(t.levels, 3);
  assert_int_equal(t.full[0], 273);
  assert_int_equal(t.partial_w[0], 112);
  assert_int_equal(t.full[1], 1);
  assert_int_equal(t.partial_w[1], 17);
  assert_int_equal(t.full[2], 0);
  assert_int_equal(t.partial_w[2], 1);
  uint8_t root[32];
  root_from_tiles(&t, cp.size, root);
  assert_memory_equal(root, cp.root, 32);
  proofs_from_tiles(&t, &cp);
  /* the level 2 hash is the root of the first 65,536 leaves */
  mlproto_checkpoint c65536 = checkpoint(f, 65536);
  assert_memory_equal(t.h[2][0], c65536.root, 32);
  /* older sizes from the same tiles */
  const uint64_t sizes[] = {1, 255, 256, 257, 65535, 65537, 69999};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    mlproto_checkpoint c = checkpoint(f, (long long)sizes[i]);
    root_from_tiles(&t, sizes[i], root);
    assert_memory_equal(root, c.root, 32);
  }
  /* "Note that a tree of size 256 will be represented by a full level 0
   * tile and a partial level 1 tile of width 1": its level 1 tile */
  uint8_t *p = get_tile(f, 1, 0, 1, 32);
  mlproto_checkpoint c256 = checkpoint(f, 256);
  assert_memory_equal(p, c256.root, 32);
  free(p);
  no_tile(f, 3, 0, 1);
  no_tile(f, 63, 0, 1);
  tiled_free(&t);
}

/* The empty log has no tile at all ("Empty tiles MUST NOT be served"); a
 * tree of exactly 256 leaves: one full level 0 tile, a partial level 1
 * tile of width 1, no partial level 0 tile. */
static void test_tiles_empty_and_256(void **state) {
  fx *f = *state;
  no_tile(f, 0, 0, 256);
  no_tile(f, 0, 0, 1);
  no_tile(f, -1, 0, 1);
  no_tile(f, 1, 0, 1);
  append_synthetic(f, 256);
  mlproto_checkpoint cp = checkpoint(f, -1);
  assert_int_equal(cp.size, 256);
  tiled t;
  fetch_all(f, cp.size, &t);
  assert_int_equal(t.full[0], 1);
  assert_int_equal(t.partial_w[0], 0);
  assert_int_equal(t.partial_w[1], 1);
  assert_memory_equal(t.h[1][0], cp.root, 32);
  no_tile(f, 0, 1, 1);
  tiled_free(&t);
}

/* Only what a signed tree head covers. Leaves appended but not committed
 * make no tile. And the size that decides is the tree head's, not the
 * number of rows in the log table: with the head of an older size put back
 * (as a store whose rows ran ahead of its head would be), the tiles of the
 * rows beyond it are 404. */
static void test_tiles_follow_signed_head(void **state) {
  fx *f = *state;
  append_synthetic(f, 300);
  /* the head of size 300, as the store gives it */
  uint8_t saved[256];
  size_t saved_len = 0;
  uint64_t saved_size = mls_app_log_size(f->app);
  assert_int_equal(saved_size, 300);
  mls_txn *tx;
  assert_int_equal(mls_store_begin(f->app->st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, sth_get, saved, sizeof saved, &saved_len), MLPROTO_OK);
  mls_store_rollback(tx);

  assert_int_equal(mls_log_begin(f->app->log, &tx), MLPROTO_OK);
  mls_log_entry e;
  memset(&e, 0, sizeof e);
  uint8_t env[1] = {0};
  e.type = MLPROTO_LOG_DEVICE_RECORD;
  randombytes_buf(e.author, 32);
  e.envelope = env;
  e.envelope_len = 1;
  for (int i = 0; i < 300; i++) {
    e.seq = (uint64_t)i + 1;
    randombytes_buf(e.record_hash, 32);
    assert_int_equal(mls_log_append(f->app->log, tx, &e), MLPROTO_OK);
  }
  /* while a writer holds 300 more, uncommitted */
  no_tile(f, 0, 1, 256);
  no_tile(f, 0, 1, 45);
  free(get_tile(f, 0, 1, 44, 44 * 32));
  assert_int_equal(mls_log_commit(f->app->log, tx, f->now, NULL), MLPROTO_OK);
  free(get_tile(f, 0, 1, 256, 256 * 32));
  free(get_tile(f, 0, 2, 88, 88 * 32));

  store_tamper_sth_rewind(f->store, saved, saved_len, saved_size);
  assert_int_equal(mls_app_log_size(f->app), 600);
  no_tile(f, 0, 1, 256);
  no_tile(f, 0, 1, 45);
  no_tile(f, 0, 2, 1);
  no_tile(f, -1, 1, 45);
  no_tile(f, 1, 0, 2);
  free(get_tile(f, 0, 1, 44, 44 * 32));
  free(get_tile(f, -1, 1, 44, 44 * (2 + MLPROTO_LOG_ENTRY_BYTES)));
  free(get_tile(f, 1, 0, 1, 32));
}

/* A node the signed tree covers but the store lost: 500 STORAGE (damage),
 * never a 404 nor a short tile. */
static void test_tiles_damage(void **state) {
  fx *f = *state;
  append_synthetic(f, 600);
  /* PostgreSQL keeps a tile's hashes in one row: node 300 goes with
   * 301..511 (tile 0/001 stays damaged), node (8, 0) with (8, 1); tile
   * 0/000 below and the entries above do not depend on them */
  store_tamper_node_delete(f->store, 0, 300);
  store_tamper_node_delete(f->store, 8, 0);
  store_tamper_log_delete(f->store, 520);
  const char *bad[] = {"/v1/log/tile/0/001", "/v1/log/tile/1/000.p/1", "/v1/log/tile/entries/002.p/88"};
  for (size_t i = 0; i < 3; i++) {
    resp r = get(f, bad[i]);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.name, "STORAGE");
    assert_non_null(strstr(r.extra, "Cache-Control: no-store\r\n"));
    resp_free(&r);
  }
  /* the rest is untouched */
  uint8_t *p = get_tile(f, 0, 0, 256, 256 * 32);
  free(p);
  p = get_tile(f, -1, 1, 256, 256 * (2 + MLPROTO_LOG_ENTRY_BYTES)); /* from log, not nodes */
  free(p);
}

/* Routing, methods, queries, authorization and the metrics label. */
static void test_tiles_http(void **state) {
  fx *f = *state;
  append_synthetic(f, 10);
  /* public: no token */
  resp r = get(f, "/v1/log/tile/0/000.p/10");
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = call(f, "HEAD", "/v1/log/tile/entries/000.p/10", NULL, NULL, 0, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ct, "application/octet-stream");
  resp_free(&r);
  r = call(f, "POST", "/v1/log/tile/0/000.p/10", NULL, (const uint8_t *)"x", 1, NULL);
  assert_int_equal(r.status, 405);
  assert_non_null(strstr(r.extra, "Allow: GET, HEAD\r\n"));
  resp_free(&r);
  r = call(f, "GET", "/v1/log/tile/0/000.p/10", "v=1", NULL, 0, NULL);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.name, "BAD_QUERY");
  resp_free(&r);
  r = get(f, "/v1/log/tile");
  assert_int_equal(r.status, 404);
  assert_string_equal(r.route, "other"); /* no route: the prefix is "/v1/log/tile/" */
  resp_free(&r);
  r = get(f, "/v1/log/tiles/0/000.p/10");
  assert_int_equal(r.status, 404);
  assert_string_equal(r.route, "other");
  resp_free(&r);
  /* malformed: 404 under the route's label */
  const char *bad[] = {"/v1/log/tile/", "/v1/log/tile/0/000.p/10/", "/v1/log/tile/0/00.p/10",
                       "/v1/log/tile/0/000.p/010", "/v1/log/tile//0/000.p/10",
                       "/v1/log/tile/entries/000.p/0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = get(f, bad[i]);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.name, "NOT_FOUND");
    assert_string_equal(r.route, "tile");
    assert_non_null(strstr(r.extra, "Cache-Control: no-store\r\n"));
    resp_free(&r);
  }
  /* the older routes still match exactly */
  r = get(f, "/v1/log/checkpoint/");
  assert_int_equal(r.status, 404);
  resp_free(&r);
}

/* The path parser: the forms of the spec and nothing else. */
static void test_tile_parse(void **state) {
  (void)state;
  static const struct {
    const char *path;
    int entries;
    unsigned level;
    uint64_t index;
    unsigned width;
  } good[] = {
      {"0/000", 0, 0, 0, 256},
      {"0/001", 0, 0, 1, 256},
      {"0/999", 0, 0, 999, 256},
      {"0/x001/000", 0, 0, 1000, 256},
      {"0/x001/x234/067", 0, 0, 1234067, 256}, /* the spec's example */
      {"2/x001/x234/067.p/3", 0, 2, 1234067, 3},
      {"63/000", 0, 63, 0, 256},
      {"10/x999/999", 0, 10, 999999, 256},
      {"0/000.p/1", 0, 0, 0, 1},
      {"0/000.p/255", 0, 0, 0, 255},
      {"entries/000", 1, 0, 0, 256},
      {"entries/x001/x234/067.p/112", 1, 0, 1234067, 112},
      {"0/x018/x446/x744/x073/x709/x551/615", 0, 0, UINT64_MAX, 256},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    app_tile t;
    if (app_tile_parse(good[i].path, &t) != MLPROTO_OK) fail_msg("refused %s", good[i].path);
    assert_int_equal(t.entries, good[i].entries);
    assert_int_equal(t.level, good[i].level);
    assert_true(t.index == good[i].index);
    assert_int_equal(t.width, good[i].width);
  }
  static const char *const bad[] = {
      "", "0", "0/", "/0/000", "0//000", "0/00", "0/0000", "0/1", "0/01", "0/x001", "0/x001/",
      "0/x000/001",            /* not the shortest form */
      "0/x000/x001/000", "0/001/x002", "0/x01/000", "0/X001/000", "0/xx001/000", "0/x0010/000",
      "00/000", "01/000", "064/000", "64/000", "100/000", "-1/000", "+1/000", " 0/000", "0/ 000",
      "0/000/",                /* trailing slash */
      "0/000.p", "0/000.p/", "0/000.p/0", "0/000.p/256", "0/000.p/01", "0/000.p/1/", "0/000.p/1x",
      "0/000.p/1000", "0/000.q/1", "0/000p/1", "0/000.P/1", "0/000.p//1", "0/000.p/1.p/1",
      "0/000.p/-1", "0/000.p/+1", "0/x001.p/1/000",
      "entries", "entries/", "entries/000/", "Entries/000", "data/000", "entries/0/000",
      "entries/x001", "entries/000.p/256",
      "0/x018/x446/x744/x073/x709/x551/616", /* 2^64: overflow */
      "0/x001/x000/x000/x000/x000/x000/x000/000",
      "0/000%2ep/1", "0/000\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    app_tile t;
    memset(&t, 0x55, sizeof t);
    if (app_tile_parse(bad[i], &t) != MLPROTO_ERR_NOT_FOUND) fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(t.width, 0); /* zeroed */
  }
  /* The test's own encoder and the parser agree on every small index. */
  for (uint64_t n = 0; n < 3000; n += 7) {
    char path[128];
    tile_path(path, sizeof path, 5, n * 1009, 256);
    app_tile t;
    assert_int_equal(app_tile_parse(path + strlen(APP_TILE_PREFIX), &t), MLPROTO_OK);
    assert_true(t.index == n * 1009);
    assert_int_equal(t.level, 5);
  }
}

/* Which tiles a tree has: N*256 + W <= floor(size / 256^L). */
static void test_tile_in_tree(void **state) {
  (void)state;
  static const struct {
    const char *path;
    uint64_t size;
    int in;
  } cases[] = {
      {"0/000.p/1", 0, 0}, {"0/000", 0, 0}, {"entries/000.p/1", 0, 0},
      {"0/000.p/1", 1, 1}, {"0/000.p/2", 1, 0}, {"entries/000.p/1", 1, 1}, {"1/000.p/1", 1, 0},
      {"0/000", 255, 0}, {"0/000.p/255", 255, 1}, {"0/000", 256, 1}, {"0/000.p/255", 256, 1},
      {"0/001.p/1", 256, 0}, {"1/000.p/1", 256, 1}, {"1/000.p/2", 256, 0},
      /* the spec's 70,000 */
      {"0/272", 70000, 1}, {"0/273", 70000, 0}, {"0/273.p/112", 70000, 1},
      {"0/273.p/113", 70000, 0}, {"0/274.p/1", 70000, 0}, {"entries/273.p/112", 70000, 1},
      {"entries/273", 70000, 0}, {"1/000", 70000, 1}, {"1/001", 70000, 0},
      {"1/001.p/17", 70000, 1}, {"1/001.p/18", 70000, 0}, {"2/000.p/1", 70000, 1},
      {"2/000", 70000, 0}, {"2/000.p/2", 70000, 0}, {"3/000.p/1", 70000, 0},
      /* the largest tree, 2^63 leaves: level 7 has 128 hashes, level 8 none */
      {"0/x036/x028/x797/x018/x963/968", UINT64_C(1) << 63, 0},  /* tile 2^55 */
      {"0/x036/x028/x797/x018/x963/967", UINT64_C(1) << 63, 1},  /* tile 2^55 - 1 */
      {"7/000", UINT64_C(1) << 63, 0}, {"7/000.p/128", UINT64_C(1) << 63, 1},
      {"7/000.p/129", UINT64_C(1) << 63, 0}, {"8/000.p/1", UINT64_C(1) << 63, 0},
      {"63/000.p/1", UINT64_C(1) << 63, 0}, {"6/127", UINT64_C(1) << 63, 1}, /* 2^15 hashes */
      {"6/128", UINT64_C(1) << 63, 0}, {"6/128.p/1", UINT64_C(1) << 63, 0},
      /* indices near 2^64 must not wrap into the tree */
      {"0/x018/x446/x744/x073/x709/x551/615", UINT64_C(1) << 63, 0},
      {"0/x072/x057/x594/x037/x927/935.p/1", UINT64_C(1) << 63, 0}, /* 2^56 - 1 */
      {"0/x072/x057/x594/x037/x927/936.p/1", UINT64_C(1) << 63, 0}, /* 2^56: *256 wraps to 0 */
      {"entries/x072/x057/x594/x037/x927/936.p/1", 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    app_tile t;
    assert_int_equal(app_tile_parse(cases[i].path, &t), MLPROTO_OK);
    if (app_tile_in_tree(&t, cases[i].size) != cases[i].in)
      fail_msg("%s in a tree of %" PRIu64 ": want %d", cases[i].path, cases[i].size, cases[i].in);
  }
}

/* The store's range operations: bounds, a gap, a missing end. */
static void test_store_ranges(void **state) {
  fx *f = *state;
  append_synthetic(f, 300);
  mls_txn *tx;
  assert_int_equal(mls_store_begin(f->app->st, MLS_TXN_READ, &tx), MLPROTO_OK);
  static uint8_t h[257][32];
  mls_leaf_entry e[257];
  uint8_t one[32];
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 256, h), MLPROTO_OK);
  for (uint64_t i = 0; i < 256; i += 51) {
    assert_int_equal(MLS_TX(tx, node_get, 0, i, one), MLPROTO_OK);
    assert_memory_equal(one, h[i], 32);
  }
  assert_int_equal(MLS_TX(tx, node_range, 8, 0, 1, h), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_get, 8, 0, one), MLPROTO_OK);
  assert_memory_equal(one, h[0], 32);
  assert_int_equal(MLS_TX(tx, node_range, 0, 299, 1, h), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_range, 0, 299, 2, h), MLPROTO_ERR_NOT_FOUND);
  static const uint8_t zero[2][32];
  assert_memory_equal(h, zero, sizeof zero); /* zeroed on failure */
  assert_int_equal(MLS_TX(tx, node_range, 0, 300, 1, h), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 8, 1, 1, h), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 0, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 257, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 64, 0, 1, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, UINT64_C(1) << 63, 1, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, (UINT64_C(1) << 63) - 1, 1, h), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 0, UINT64_MAX - 10, 20, h), MLPROTO_ERR_INVALID_ARGUMENT);

  assert_int_equal(MLS_TX(tx, leaf_entry_range, 44, 256, e), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_range, 0, 44, 256, h), MLPROTO_OK);
  for (int i = 0; i < 256; i++) {
    mlproto_log_entry le = {.type = (mlproto_log_entry_type)e[i].type,
                            .received_at_ms = e[i].received_ms};
    memcpy(le.record_hash, e[i].record_hash, 32);
    uint8_t leaf[32];
    assert_int_equal(mlproto_log_entry_leaf_hash(leaf, &le), MLPROTO_OK);
    assert_memory_equal(leaf, h[i], 32);
  }
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 45, 256, e), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(e[0].type, 0);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 0, e), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 257, e), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, UINT64_MAX, 1, e), MLPROTO_ERR_INVALID_ARGUMENT);
  mls_store_rollback(tx);

  /* a gap inside the range */
  /* (PostgreSQL: nodes 18.. of the tile go too; only 0..16 are asked for) */
  store_tamper_node_delete(f->store, 0, 17);
  store_tamper_log_delete(f->store, 18);
  assert_int_equal(mls_store_begin(f->app->st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 17, h), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 18, h), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 0, 17, 1, h), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 18, e), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 19, e), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 18, 200, e), MLPROTO_ERR_NOT_FOUND);
  mls_store_rollback(tx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tile_parse),
      cmocka_unit_test(test_tile_in_tree),
      cmocka_unit_test_setup_teardown(test_store_ranges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_http, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_empty_and_256, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_follow_signed_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_damage, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_real_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tiles_spec_example, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
