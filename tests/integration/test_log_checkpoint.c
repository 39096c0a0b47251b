/*
 * test_log_checkpoint.c — the log's C2SP checkpoints from the real server
 * over real TLS: GET /v1/log/checkpoint (content type, strict parse and
 * signature under the key `admin log-key` prints), checkpoints by size
 * (byte-identical when fetched again, consistent with each other through
 * the consistency proofs, the same root as the push answer's tree head),
 * refusals of bad sizes, and the log name fixed at first start.
 *
 * And the log as C2SP tlog-tiles (GET /v1/log/tile/...): tiles and entry
 * bundles with their headers, leaves and root against the checkpoint.
 *
 * With ML_NOTE_GO set to the note_go tool (tests/integration/note_go/,
 * built by tests/integration/checkpoint_go.sh, the ctest test
 * test_checkpoint_go), every checkpoint fetched is also opened by Go's
 * golang.org/x/mod/sumdb/note, an independent implementation, and Go's
 * sumdb/tlog reads and proves the log from its tiles; without it those
 * steps are skipped (test_checkpoint_go runs them).
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_NAME "mentorlog.test/log"

typedef struct note {
  char text[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len;
} note;

/* GET /v1/log/checkpoint[?size=N] (size < 0: latest); asserts 200, the
 * content type, and returns the body. */
static note get_checkpoint(sc *c, long long size) {
  char target[64];
  if (size < 0) snprintf(target, sizeof target, "/v1/log/checkpoint");
  else snprintf(target, sizeof target, "/v1/log/checkpoint?size=%lld", size);
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "GET", target, NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  assert_non_null(strstr((char *)c->buf, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
  note n;
  assert_true(rl < sizeof n.text);
  memcpy(n.text, rb, rl);
  n.text[rl] = 0;
  n.len = rl;
  free(rb);
  return n;
}

static void bad_size(sc *c, const char *query, int want_status, const char *want_code) {
  char target[96];
  snprintf(target, sizeof target, "/v1/log/checkpoint?%s", query);
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "GET", target, NULL, NULL, 0, &st, &rb, &rl), 0);
  char name[64];
  sim_error_code(rb, rl, name);
  free(rb);
  assert_int_equal(st, want_status);
  assert_string_equal(name, want_code);
}

/* Go's note.Open on n with vkey, when ML_NOTE_GO names the tool. */
static int go_checked;
static void go_verify(ih_server *s, const note *n, const char *vkey, int want_ok) {
  const char *tool = getenv("ML_NOTE_GO");
  if (!tool || !*tool) return;
  char path[400];
  snprintf(path, sizeof path, "%s/note.txt", s->root);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(n->text, 1, n->len, f), n->len);
  assert_int_equal(fclose(f), 0);
  char out[1024];
  const char *argv[] = {tool, "verify", vkey, path, NULL};
  int rc = ih_run(out, sizeof out, 30000, argv);
  if (want_ok) {
    assert_int_equal(rc, 0);
    /* Go's text is the checkpoint body: the note up to its blank line. */
    const char *blank = strstr(n->text, "\n\n");
    assert_non_null(blank);
    assert_int_equal(strlen(out), (size_t)(blank - n->text) + 1);
    assert_memory_equal(out, n->text, strlen(out));
  } else {
    assert_int_equal(rc, 1);
  }
  go_checked++;
}

/* The other direction: Go's note.Sign signs the body of cp under a key of
 * its own (and a witness key); this library opens the result. */
static void go_signs(ih_server *s, const mlproto_checkpoint *head) {
  const char *tool = getenv("ML_NOTE_GO");
  if (!tool || !*tool) return;
  mlproto_checkpoint cp = *head;
  snprintf(cp.origin, sizeof cp.origin, "go.example/log");
  char body[MLPROTO_CHECKPOINT_SIGNED_MAX], path[400];
  size_t bl;
  assert_int_equal(mlproto_checkpoint_body(body, sizeof body, &bl, &cp), MLPROTO_OK);
  snprintf(path, sizeof path, "%s/body.txt", s->root);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(body, 1, bl, f), bl);
  assert_int_equal(fclose(f), 0);
  uint8_t seed[32], pk[32], sk[64];
  randombytes_buf(seed, sizeof seed);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
  sodium_memzero(sk, sizeof sk);
  char seed_hex[65];
  mlproto_hex_encode(seed_hex, seed, 32);
  const char *wseed = "0808080808080808080808080808080808080808080808080808080808080808";
  char out[2048];
  const char *argv[] = {tool, "sign", cp.origin, seed_hex, path, "witness.example/w1", wseed, NULL};
  assert_int_equal(ih_run(out, sizeof out, 30000, argv), 0);
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_verifier_init(&v, cp.origin, pk), MLPROTO_OK);
  mlproto_checkpoint got;
  assert_int_equal(mlproto_checkpoint_open(&got, (const uint8_t *)out, strlen(out), &v), MLPROTO_OK);
  assert_string_equal(got.origin, cp.origin);
  assert_int_equal(got.size, cp.size);
  assert_memory_equal(got.root, cp.root, 32);
  assert_non_null(strstr(out, "\xe2\x80\x94 witness.example/w1 "));
  go_checked++;
}

static void checkpoints_over_tls(void **state) {
  (void)state;
  ih_server s;
  const char *extra[] = {"--log-name", LOG_NAME, NULL};
  ih_start(&s, extra);
  sc c;
  sc_init(&c, &s);

  char vkey[MLPROTO_NOTE_VKEY_MAX + 8];
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&s, vkey, sizeof vkey, lk), 0);
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_vkey_parse(&v, vkey, strlen(vkey)), MLPROTO_OK);
  assert_string_equal(v.name, LOG_NAME);

  /* The empty log. */
  note n0 = get_checkpoint(&c, -1);
  mlproto_checkpoint cp0;
  assert_int_equal(mlproto_checkpoint_open(&cp0, (const uint8_t *)n0.text, n0.len, &v), MLPROTO_OK);
  assert_string_equal(cp0.origin, LOG_NAME);
  assert_int_equal(cp0.size, 0);
  go_verify(&s, &n0, vkey, 1);

  /* Grow the log: enrolments (server events) and pushes. */
  char mentor[40];
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sim_dev d;
  sim_dev_init(&d);
  assert_int_equal(sc_device_up(&c, &d, mentor), 0);
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  mlproto_checkpoint heads[8];
  note notes[8];
  int nh = 0;
  for (int round = 0; round < 7; round++) {
    uint8_t *e[3];
    size_t l[3], len;
    int k = round == 0 ? 1 : 3;
    for (int i = 0; i < k; i++)
      e[i] = sim_record(&d, round == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE, case_id, &l[i]);
    uint8_t *body = sim_push_body(e, l, (size_t)k, &len);
    for (int i = 0; i < k; i++) free(e[i]);
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&c, "POST", "/v1/push", d.token, body, len, &st, &rb, &rl), 0);
    free(body);
    assert_int_equal(st, 200);
    mlproto_sth sth;
    assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, &sth), 0);
    free(rb);
    /* The push answer names its tree by size: fetch that checkpoint. */
    notes[nh] = get_checkpoint(&c, (long long)sth.size);
    assert_int_equal(mlproto_checkpoint_open(&heads[nh], (const uint8_t *)notes[nh].text,
                                             notes[nh].len, &v), MLPROTO_OK);
    assert_int_equal(heads[nh].size, sth.size);
    assert_memory_equal(heads[nh].root, sth.root, 32); /* one tree, two signed forms */
    /* The latest is that one too (nobody else writes), byte for byte. */
    note latest = get_checkpoint(&c, -1);
    assert_int_equal(latest.len, notes[nh].len);
    assert_memory_equal(latest.text, notes[nh].text, latest.len);
    go_verify(&s, &notes[nh], vkey, 1);
    nh++;
  }
  assert_true(heads[nh - 1].size >= 20);

  /* Past sizes: the same bytes again, and every pair consistent. */
  for (int a = 0; a < nh; a++) {
    note again = get_checkpoint(&c, (long long)heads[a].size);
    assert_int_equal(again.len, notes[a].len);
    assert_memory_equal(again.text, notes[a].text, again.len);
    for (int b = a + 1; b < nh; b++) {
      char target[96];
      snprintf(target, sizeof target, "/v1/log/proof/consistency?first=%llu&second=%llu",
               (unsigned long long)heads[a].size, (unsigned long long)heads[b].size);
      int st;
      uint8_t *rb;
      size_t rl;
      assert_int_equal(sc_call(&c, "GET", target, NULL, NULL, 0, &st, &rb, &rl), 0);
      assert_int_equal(st, 200);
      ProtobufCMessage *m = NULL;
      assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, rb, rl), MLPROTO_OK);
      free(rb);
      Mentorlog__V1__ConsistencyProof *p = (Mentorlog__V1__ConsistencyProof *)m;
      uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
      assert_true(p->n_hashes <= MLPROTO_MERKLE_MAX_PROOF);
      for (size_t i = 0; i < p->n_hashes; i++) {
        assert_int_equal(p->hashes[i].len, 32);
        memcpy(proof[i], p->hashes[i].data, 32);
      }
      assert_int_equal(mlproto_checkpoint_check_consistency(&heads[a], &heads[b],
                                                            (const uint8_t(*)[32])proof,
                                                            p->n_hashes), MLPROTO_OK);
      /* A forged newer root is caught by the same proof. */
      mlproto_checkpoint forged = heads[b];
      forged.root[31] ^= 0x80;
      assert_int_equal(mlproto_checkpoint_check_consistency(&heads[a], &forged,
                                                            (const uint8_t(*)[32])proof,
                                                            p->n_hashes), MLPROTO_ERR_PROOF_INVALID);
      mlproto_msg_free(m);
    }
  }
  /* Every size in between is served and opens. */
  for (uint64_t size = 1; size <= heads[nh - 1].size; size++) {
    note n = get_checkpoint(&c, (long long)size);
    mlproto_checkpoint cp;
    assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)n.text, n.len, &v), MLPROTO_OK);
    assert_int_equal(cp.size, size);
  }

  /* A changed byte: refused here and by Go. */
  note bad = notes[nh - 1];
  bad.text[strlen(LOG_NAME) + 1] ^= 1; /* the first digit of the size */
  mlproto_checkpoint cp;
  int rc = mlproto_checkpoint_open(&cp, (const uint8_t *)bad.text, bad.len, &v);
  assert_true(rc == MLPROTO_ERR_STH_INVALID || rc == MLPROTO_ERR_CHECKPOINT_MALFORMED);
  go_verify(&s, &bad, vkey, 0);

  go_signs(&s, &heads[nh - 1]);

  char q[64];
  snprintf(q, sizeof q, "size=%llu", (unsigned long long)heads[nh - 1].size + 1);
  bad_size(&c, q, 400, "TREE_RANGE");
  bad_size(&c, "size=abc", 400, "BAD_QUERY");
  bad_size(&c, "size=-1", 400, "BAD_QUERY");
  bad_size(&c, "size=99999999999999999999", 400, "BAD_QUERY");
  bad_size(&c, "index=1", 400, "BAD_QUERY");

  sc_free(&c);
  sim_dev_free(&d);
  assert_int_equal(ih_server_stop(&s), 0);

  /* The name is fixed: a restart with another one is refused, with none
   * or the same it starts and keeps it. */
  char out[2048];
  const char *argv[] = {ih_server_binary(), "serve", "--data", s.data, "--listen", "127.0.0.1:0",
                        "--log-name", "other.example/log", NULL, NULL, NULL};
  if (test_store_cli(s.store)) {
    argv[8] = "--store";
    argv[9] = s.store;
  }
  assert_int_equal(ih_run(out, sizeof out, 30000, argv), 1);
  char name_file[400];
  snprintf(name_file, sizeof name_file, "%s/log.name", s.data);
  size_t fl;
  char *stored = tu_read_file(name_file, &fl);
  assert_non_null(stored);
  assert_string_equal(stored, LOG_NAME "\n");
  free(stored);
  assert_int_equal(ih_server_start(&s), 0);
  sc_init(&c, &s);
  note after = get_checkpoint(&c, -1);
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)after.text, after.len, &v), MLPROTO_OK);
  assert_int_equal(cp.size, heads[nh - 1].size);
  sc_free(&c);
  ih_stop(&s);
  ih_server_cleanup(&s);
  if (getenv("ML_NOTE_GO") && *getenv("ML_NOTE_GO")) {
    assert_int_equal(go_checked, 1 + 7 + 1 + 1); /* empty, 7 pushes, forged, Go-signed */
    printf("Go's sumdb/note opened %d notes as expected\n", go_checked);
  } else
    printf("Go interop step skipped here (ML_NOTE_GO unset): ctest test_checkpoint_go runs it\n");
}

/* The default name when none was given: derived from the log key. */
static void default_log_name(void **state) {
  (void)state;
  ih_server s;
  ih_start(&s, NULL);
  char vkey[MLPROTO_NOTE_VKEY_MAX + 8];
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&s, vkey, sizeof vkey, lk), 0);
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_vkey_parse(&v, vkey, strlen(vkey)), MLPROTO_OK);
  char want[64];
  char hex[17];
  mlproto_hex_encode(hex, v.pk, 8);
  snprintf(want, sizeof want, "mentorlog.localhost/%s", hex);
  assert_string_equal(v.name, want);
  sc c;
  sc_init(&c, &s);
  note n = get_checkpoint(&c, -1);
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)n.text, n.len, &v), MLPROTO_OK);
  go_verify(&s, &n, vkey, 1);
  sc_free(&c);
  ih_stop(&s);
  ih_server_cleanup(&s);
}

/* ------------------------------------------------------------ tiles --- */

/* n records of d in one push (a CASE_OPEN first when open); the tree size after it. */
static uint64_t push_n(sc *c, sim_dev *d, const uint8_t case_id[16], size_t n, int open) {
  uint8_t **e = calloc(n, sizeof *e);
  size_t *l = calloc(n, sizeof *l), len;
  assert_non_null(e);
  assert_non_null(l);
  for (size_t i = 0; i < n; i++)
    e[i] = sim_record(d, open && i == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE, case_id, &l[i]);
  uint8_t *body = sim_push_body(e, l, n, &len);
  for (size_t i = 0; i < n; i++) mlproto_free(e[i]);
  free(e);
  free(l);
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl), 0);
  free(body);
  assert_int_equal(st, 200);
  mlproto_sth sth;
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, &sth), 0);
  free(rb);
  return sth.size;
}

/* GET of a tile path; asserts the status, and for a 200 the content type,
 * the caching header of a full (immutable) or partial tile, and the length;
 * returns the body (malloc'ed). */
static uint8_t *get_tile(sc *c, const char *path, int want_status, int full, size_t want_len) {
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "GET", path, NULL, NULL, 0, &st, &rb, &rl), 0);
  if (st != want_status) fail_msg("%s: %d, want %d", path, st, want_status);
  const char *head = (const char *)c->buf;
  if (st == 200) {
    assert_non_null(strstr(head, "\r\nContent-Type: application/octet-stream\r\n"));
    assert_non_null(strstr(head, full ? "\r\nCache-Control: public, max-age=31536000, immutable\r\n"
                                      : "\r\nCache-Control: public, max-age=60\r\n"));
    assert_int_equal(rl, want_len);
  } else {
    assert_non_null(strstr(head, "\r\nCache-Control: no-store\r\n"));
  }
  return rb;
}

/* `note_go tiles`: Go's sumdb/tlog reads and proves the log from its tiles. */
static int go_tiles_checked;
static void go_tiles(ih_server *s, const char *vkey, uint64_t old_size) {
  const char *tool = getenv("ML_NOTE_GO");
  if (!tool || !*tool) return;
  char url[128], old[24], out[2048];
  snprintf(url, sizeof url, "https://%s:%d/v1/log", s->host, s->port);
  snprintf(old, sizeof old, "%llu", (unsigned long long)old_size);
  const char *argv[] = {tool, "tiles", url, vkey, s->fingerprint, old_size ? old : NULL, NULL};
  assert_int_equal(ih_run(out, sizeof out, 120000, argv), 0);
  printf("%s", out);
  assert_non_null(strstr(out, "tlog: size "));
  go_tiles_checked++;
}

/* The log as C2SP tlog-tiles over real TLS: every level 0 tile and entry
 * bundle of a tree of about 700 records, their headers, the leaves
 * recomputed from the bundles, the root against the signed checkpoint, the
 * level 1 tile; with ML_NOTE_GO, Go's sumdb/tlog checks it all again
 * (TileHashReader, TreeHash, ProveRecord/CheckRecord, ProveTree/CheckTree)
 * at two sizes. */
static void tiles_over_tls(void **state) {
  (void)state;
  ih_server s;
  const char *extra[] = {"--log-name", LOG_NAME, NULL};
  ih_start(&s, extra);
  sc c;
  sc_init(&c, &s);
  char vkey[MLPROTO_NOTE_VKEY_MAX + 8];
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&s, vkey, sizeof vkey, lk), 0);
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_vkey_parse(&v, vkey, strlen(vkey)), MLPROTO_OK);

  char mentor[40];
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sim_dev d;
  sim_dev_init(&d);
  assert_int_equal(sc_device_up(&c, &d, mentor), 0);
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  uint64_t old_size = push_n(&c, &d, case_id, 300, 1);
  go_tiles(&s, vkey, 0);
  push_n(&c, &d, case_id, 200, 0);
  uint64_t size = push_n(&c, &d, case_id, 200, 0);
  assert_true(size > 512 && size < 768);

  note n = get_checkpoint(&c, -1);
  assert_non_null(strstr((char *)c.buf, "\r\nCache-Control: public, max-age=5\r\n"));
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)n.text, n.len, &v), MLPROTO_OK);
  assert_int_equal(cp.size, size);
  get_checkpoint(&c, (long long)old_size);
  assert_non_null(strstr((char *)c.buf, "\r\nCache-Control: public, max-age=31536000, immutable\r\n"));

  uint8_t (*leaves)[32] = calloc(size, 32);
  assert_non_null(leaves);
  char path[96];
  for (uint64_t t = 0; t * 256 < size; t++) {
    unsigned w = size - t * 256 >= 256 ? 256 : (unsigned)(size - t * 256);
    if (w == 256) snprintf(path, sizeof path, "/v1/log/tile/0/%03u", (unsigned)t);
    else snprintf(path, sizeof path, "/v1/log/tile/0/%03u.p/%u", (unsigned)t, w);
    uint8_t *tile = get_tile(&c, path, 200, w == 256, (size_t)w * 32);
    memcpy(leaves[t * 256], tile, (size_t)w * 32);
    free(tile);
    snprintf(path, sizeof path, w == 256 ? "/v1/log/tile/entries/%03u" : "/v1/log/tile/entries/%03u.p/%u",
             (unsigned)t, w);
    uint8_t *b = get_tile(&c, path, 200, w == 256, (size_t)w * (2 + MLPROTO_LOG_ENTRY_BYTES));
    for (unsigned i = 0; i < w; i++) {
      const uint8_t *item = b + (size_t)i * (2 + MLPROTO_LOG_ENTRY_BYTES);
      assert_int_equal(item[0], 0);
      assert_int_equal(item[1], MLPROTO_LOG_ENTRY_BYTES);
      uint8_t leaf[32];
      mlproto_merkle_leaf_hash(leaf, item + 2, MLPROTO_LOG_ENTRY_BYTES);
      assert_memory_equal(leaf, leaves[t * 256 + i], 32);
    }
    free(b);
  }
  uint8_t root[32];
  assert_int_equal(mlproto_merkle_root(root, (const uint8_t(*)[32])leaves, size), MLPROTO_OK);
  assert_memory_equal(root, cp.root, 32);
  /* level 1: the roots of the two full level 0 tiles */
  uint8_t *up = get_tile(&c, "/v1/log/tile/1/000.p/2", 200, 0, 64);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(mlproto_merkle_root(root, (const uint8_t(*)[32])leaves[i * 256], 256), MLPROTO_OK);
    assert_memory_equal(root, up + 32 * i, 32);
  }
  free(up);
  /* the older checkpoint's partial tile is still there */
  snprintf(path, sizeof path, "/v1/log/tile/0/001.p/%u", (unsigned)(old_size - 256));
  uint8_t *p = get_tile(&c, path, 200, 0, (old_size - 256) * 32);
  assert_memory_equal(p, leaves[256], (old_size - 256) * 32);
  free(p);
  free(leaves);
  /* past the tree, and malformed */
  free(get_tile(&c, "/v1/log/tile/0/002", 404, 0, 0));
  free(get_tile(&c, "/v1/log/tile/0/003.p/1", 404, 0, 0));
  free(get_tile(&c, "/v1/log/tile/1/000", 404, 0, 0));
  free(get_tile(&c, "/v1/log/tile/2/000.p/1", 404, 0, 0));
  free(get_tile(&c, "/v1/log/tile/0/000/", 404, 0, 0));
  free(get_tile(&c, "/v1/log/tile/0/x000/000", 404, 0, 0));

  go_tiles(&s, vkey, old_size);
  sc_free(&c);
  sim_dev_free(&d);
  ih_stop(&s);
  ih_server_cleanup(&s);
  if (getenv("ML_NOTE_GO") && *getenv("ML_NOTE_GO")) {
    assert_int_equal(go_tiles_checked, 2);
    printf("Go's sumdb/tlog checked the tiles at sizes %llu and %llu\n",
           (unsigned long long)old_size, (unsigned long long)size);
  } else
    printf("Go tlog step skipped here (ML_NOTE_GO unset): ctest test_checkpoint_go runs it\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(checkpoints_over_tls, ih_teardown),
      cmocka_unit_test_teardown(default_log_name, ih_teardown),
      cmocka_unit_test_teardown(tiles_over_tls, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
