/*
 * test_witness.c — witnesses of the log (issue 11), with the real server
 * and the real mentorlog-audit over TLS on loopback:
 *
 *   - a witness key made by `mentorlog-audit witness-keygen`, added with
 *     `admin witness add`; `witness list` shows it;
 *   - `mentorlog-audit witness` run twice as the log grows (records pushed
 *     between the runs): both cosign and send; the latest checkpoint the
 *     server serves then carries the cosignature line, which verifies with
 *     protocol's code (and with Go's sumdb/note and a cosignature/v1
 *     Verifier of its own when ML_NOTE_GO is set: ctest test_witness_go);
 *     the state directory holds the log key and the last cosigned note;
 *   - POST /v1/log/cosignature refusals with their stable codes: no token,
 *     a device-less bearer, wrong content type, an unknown witness name,
 *     the wrong key, the wrong checkpoint, a time in the future; a newer
 *     cosignature replaces an older one, an older one changes nothing;
 *     a jobcentre token is accepted as an auditor's is;
 *   - a split view: a second server with the same log key (its server.key
 *     and log.name copied) and other records. At the size the witness last
 *     cosigned it has another root: the witness refuses (exit 1) and keeps
 *     both notes as evidence; grown past it, its checkpoint is inconsistent
 *     with the cosigned one: refused again, evidence again, nothing
 *     overwritten; the witness's state still holds the first log's note;
 *   - the witness refuses a different --log-key than the stored one.
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "it_netclient.h"

#include "mlproto/checkpoint.h"
#include "mlproto/cosignature.h"
#include "mlproto/errors.h"

#include <dirent.h>
#include <sodium.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_NAME "mentorlog.test/log"
#define W1 "witness.test/w1"
#define W2 "witness.test/w2"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = malloc(65536);
  size_t n = fread(b, 1, 65535, f);
  fclose(f);
  b[n] = 0;
  if (len) *len = n;
  return b;
}

static void spit(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to) {
  size_t n;
  char *b = slurp(from, &n);
  assert_non_null(b);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(to, 0600), 0);
  free(b);
}



/* POST /v1/log/cosignature[?size=N] with body; the status, the error code
 * ("" for none) and the body's first line. */
static int post_cosig(ih_server *s, const char *query, const char *token, const char *ctype,
                      const char *body, char code[64], char text[64]) {
  ml_netclient *c = it_client(s);
  char target[96], auth[128];
  snprintf(target, sizeof target, "/v1/log/cosignature%s", query);
  snprintf(auth, sizeof auth, "Bearer %s", token ? token : "");
  mlproto_http_header hs[2] = {{"Content-Type", ctype}, {"Authorization", auth}};
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "POST", target, hs, token ? 2 : 1, body, strlen(body), &r),
                   0);
  int st = r.status;
  code[0] = 0;
  if (st != 200) sim_error_code(r.body, r.body_len, code);
  snprintf(text, 64, "%.*s", (int)(r.body_len < 63 ? r.body_len : 63), (const char *)r.body);
  ml_netclient_response_free(&r);
  ml_netclient_close(c);
  return st;
}

/* Push n NOTE records of d (the first a CASE_OPEN when *opened is 0). */
static uint64_t push(sc *c, sim_dev *d, const uint8_t case_id[16], int n, int *opened) {
  uint64_t size = 0;
  for (int i = 0; i < n; i++) {
    size_t l, len;
    uint8_t *e = sim_record(d, *opened ? MLPROTO_KIND_NOTE : MLPROTO_KIND_CASE_OPEN, case_id, &l);
    *opened = 1;
    uint8_t *body = sim_push_body(&e, &l, 1, &len);
    free(e);
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl), 0);
    free(body);
    assert_int_equal(st, 200);
    mlproto_sth sth;
    memset(&sth, 0, sizeof sth);
    assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, &sth), 0);
    free(rb);
    size = sth.size;
  }
  return size;
}

typedef struct wctx {
  char dir[300], key[400], state[400], token_file[400];
  char vkey[MLPROTO_NOTE_VKEY_MAX + 8], log_vkey[MLPROTO_NOTE_VKEY_MAX + 8];
} wctx;

/* mentorlog-audit witness against s; its exit status; stdout in out. */
static int run_witness(wctx *w, ih_server *s, const char *log_key, char *out, size_t cap) {
  char url[128];
  snprintf(url, sizeof url, "https://127.0.0.1:%d", s->port);
  const char *argv[16] = {ML_AUDIT_BIN, "witness", url, "--key", w->key, "--state", w->state,
                          "--pin", s->fingerprint, "--token-file", w->token_file};
  int n = 11;
  if (log_key) {
    argv[n++] = "--log-key";
    argv[n++] = log_key;
  }
  argv[n] = NULL;
  return ih_run(out, cap, 60000, argv);
}

static int count_evidence(const char *state, const char *prefix) {
  char ev[500];
  snprintf(ev, sizeof ev, "%s/evidence", state);
  DIR *d = opendir(ev);
  if (!d) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
  closedir(d);
  return n;
}

/* Go's note.Open with the log key and a cosignature/v1 verifier. */
static int go_checked;
static void go_cosigned(const char *root, const char *note, const char *log_vkey,
                        const char *vkey, uint64_t want_ts) {
  const char *tool = getenv("ML_NOTE_GO");
  if (!tool || !*tool) return;
  char path[500];
  snprintf(path, sizeof path, "%s/cosigned.note", root);
  spit(path, note);
  char out[128];
  const char *argv[] = {tool, "cosigned", log_vkey, vkey, path, NULL};
  assert_int_equal(ih_run(out, sizeof out, 30000, argv), 0);
  assert_int_equal(strtoull(out, NULL, 10), want_ts);
  go_checked++;
}

/* The served note: opens under the log key, carries W1's cosignature
 * (verified); returns its timestamp. */
static uint64_t check_served(ih_server *s, const wctx *w, uint64_t want_size, const char *line) {
  size_t nl;
  char *note = it_get_checkpoint(s, &nl);
  mlproto_note_verifier lv, wv;
  assert_int_equal(mlproto_note_vkey_parse(&lv, w->log_vkey, strlen(w->log_vkey)), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_vkey_parse(&wv, w->vkey, strlen(w->vkey)), MLPROTO_OK);
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)note, nl, &lv), MLPROTO_OK);
  assert_int_equal(cp.size, want_size);
  mlproto_cosig cs;
  assert_int_equal(mlproto_cosig_find(&cs, (const uint8_t *)note, nl, &wv), MLPROTO_OK);
  assert_non_null(strstr(note, line)); /* the very line the witness printed */
  go_cosigned(s->root, note, w->log_vkey, w->vkey, cs.timestamp);
  free(note);
  return cs.timestamp;
}

static void witness_cosigns_and_refuses(void **state) {
  (void)state;
  ih_server s;
  const char *extra[] = {"--log-name", LOG_NAME, NULL};
  ih_start(&s, extra);
  wctx w;
  memset(&w, 0, sizeof w);
  snprintf(w.dir, sizeof w.dir, "%s/witness", s.root);
  assert_int_equal(mkdir(w.dir, 0700), 0);
  snprintf(w.key, sizeof w.key, "%s/w1.key", w.dir);
  snprintf(w.state, sizeof w.state, "%s/state", w.dir);
  snprintf(w.token_file, sizeof w.token_file, "%s/token", w.dir);

  /* Keys, token, witness. */
  const char *kg[] = {ML_AUDIT_BIN, "witness-keygen", "--out", w.key, "--name", W1, NULL};
  assert_int_equal(ih_run(w.vkey, sizeof w.vkey, 30000, kg), 0);
  w.vkey[strcspn(w.vkey, "\n")] = 0;
  assert_int_equal(ih_run(NULL, 0, 30000, kg), 1); /* never overwritten */
  struct stat st;
  assert_int_equal(stat(w.key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&s, w.log_vkey, sizeof w.log_vkey, lk), 0);
  char out[4096];
  const char *bad_add[] = {"witness", "add", W1, w.log_vkey, NULL}; /* a log key */
  assert_int_equal(ih_admin(&s, out, sizeof out, bad_add), 2);
  const char *add[] = {"witness", "add", W1, w.vkey, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, add), 0);
  assert_int_equal(ih_admin(&s, out, sizeof out, add), 1); /* ALREADY_EXISTS */
  const char *list[] = {"witness", "list", NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, list), 0);
  assert_non_null(strstr(out, w.vkey));
  char token[128], jc_token[128];
  const char *ta[] = {"token", "add", "--role", "auditor", NULL};
  assert_int_equal(ih_admin(&s, token, sizeof token, ta), 0);
  const char *tj[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "jc-1", NULL};
  assert_int_equal(ih_admin(&s, jc_token, sizeof jc_token, tj), 0);
  char tline[160];
  snprintf(tline, sizeof tline, "%s\n", token);
  spit(w.token_file, tline);
  assert_int_equal(chmod(w.token_file, 0600), 0); /* a secret: refused otherwise */

  /* Records, the first run. */
  sc c;
  sc_init(&c, &s);
  char mentor[40];
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sim_dev d;
  sim_dev_init(&d);
  assert_int_equal(sc_device_up(&c, &d, mentor), 0);
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  int opened = 0;
  uint64_t size1 = push(&c, &d, case_id, 4, &opened);
  char line1[512];
  assert_int_equal(run_witness(&w, &s, NULL, out, sizeof out), 2); /* first run: --log-key */
  /* a first run with a key that does not verify the checkpoint stores nothing */
  char other_vkey[MLPROTO_NOTE_VKEY_MAX];
  uint8_t opk[32], osk[64];
  crypto_sign_keypair(opk, osk);
  assert_int_equal(mlproto_note_vkey_format(other_vkey, sizeof other_vkey, NULL, LOG_NAME, opk),
                   MLPROTO_OK);
  assert_int_equal(run_witness(&w, &s, other_vkey, out, sizeof out), 1);
  char path[600];
  snprintf(path, sizeof path, "%s/log.vkey", w.state);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(run_witness(&w, &s, w.log_vkey, line1, sizeof line1), 0);
  assert_non_null(strstr(line1, "\xe2\x80\x94 " W1 " "));
  uint64_t ts1 = check_served(&s, &w, size1, line1);
  char *stored = slurp(path, NULL);
  assert_non_null(stored);
  assert_int_equal(strncmp(stored, w.log_vkey, strlen(w.log_vkey)), 0);
  free(stored);

  /* The log grows; the second run (log key from the state). While another
   * run holds the state's lock, a run does nothing (exit 1). */
  uint64_t size2 = push(&c, &d, case_id, 5, &opened);
  assert_true(size2 > size1);
  char line2[512];
  {
    snprintf(path, sizeof path, "%s/witness.lock", w.state);
    int lf = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(lf >= 0);
    assert_int_equal(flock(lf, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(run_witness(&w, &s, NULL, line2, sizeof line2), 1);
    close(lf);
  }
  assert_int_equal(run_witness(&w, &s, NULL, line2, sizeof line2), 0);
  uint64_t ts2 = check_served(&s, &w, size2, line2);
  assert_true(ts2 >= ts1);
  size_t sl;
  snprintf(path, sizeof path, "%s/checkpoint", w.state);
  char *cosigned = slurp(path, &sl);
  assert_non_null(cosigned);
  {
    /* the state: the note of size2 the witness cosigned, under the log key */
    mlproto_note_verifier lv0;
    mlproto_checkpoint st2;
    assert_int_equal(mlproto_note_vkey_parse(&lv0, w.log_vkey, strlen(w.log_vkey)), MLPROTO_OK);
    assert_int_equal(mlproto_checkpoint_open(&st2, (const uint8_t *)cosigned, sl, &lv0), MLPROTO_OK);
    assert_int_equal(st2.size, size2);
  }
  assert_int_equal(count_evidence(w.state, "split-view-") + count_evidence(w.state, "inconsistent-"), 0);

  /* A different --log-key is refused. */
  assert_int_equal(run_witness(&w, &s, other_vkey, out, sizeof out), 1);

  /* POST refusals, W2 being a key of this test's own. */
  uint8_t pk2[32], sk2[64];
  crypto_sign_keypair(pk2, sk2);
  char vkey2[MLPROTO_NOTE_VKEY_MAX];
  assert_int_equal(mlproto_cosig_vkey_format(vkey2, sizeof vkey2, NULL, W2, pk2), MLPROTO_OK);
  const char *add2[] = {"witness", "add", W2, vkey2, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, add2), 0);
  char cp_note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  memcpy(cp_note, cosigned, sl);
  cp_note[sl] = 0;
  size_t bl;
  assert_int_equal(mlproto_note_body_len((const uint8_t *)cp_note, sl, &bl), MLPROTO_OK);
  uint64_t now = (uint64_t)time(NULL);
  mlproto_cosig cs;
  char line[MLPROTO_COSIG_LINE_MAX], q[64], code[64], text[64];
  snprintf(q, sizeof q, "?size=%llu", (unsigned long long)size2);
#define SIGN(name, key, body, blen, ts)                                                      \
  do {                                                                                       \
    assert_int_equal(mlproto_cosig_sign(&cs, (const uint8_t *)(body), blen, ts, name, key),  \
                     MLPROTO_OK);                                                            \
    assert_int_equal(mlproto_cosig_line_format(line, sizeof line, NULL, &cs), MLPROTO_OK);   \
  } while (0)
  SIGN(W2, sk2, cp_note, bl, now - 10);
  const char *tp = "text/plain";
  assert_int_equal(post_cosig(&s, q, NULL, tp, line, code, text), 401);
  assert_string_equal(code, "UNAUTHENTICATED");
  assert_int_equal(post_cosig(&s, q, "not-a-token", tp, line, code, text), 401);
  assert_int_equal(post_cosig(&s, q, token, "application/json", line, code, text), 415);
  assert_string_equal(code, "UNSUPPORTED_MEDIA_TYPE");
  assert_int_equal(post_cosig(&s, "", token, tp, line, code, text), 400);
  assert_string_equal(code, "BAD_QUERY");
  assert_int_equal(post_cosig(&s, q, token, tp, "hello\n", code, text), 400);
  assert_string_equal(code, "CHECKPOINT_MALFORMED");
  /* valid, by the jobcentre's token: stored; again: kept */
  assert_int_equal(post_cosig(&s, q, jc_token, tp, line, code, text), 200);
  assert_string_equal(text, "stored\n");
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 200);
  assert_string_equal(text, "kept\n");
  char served_line[MLPROTO_COSIG_LINE_MAX];
  snprintf(served_line, sizeof served_line, "%s", line);
  /* an older one changes nothing; a newer one replaces */
  SIGN(W2, sk2, cp_note, bl, now - 20);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 200);
  assert_string_equal(text, "kept\n");
  size_t nl;
  char *latest = it_get_checkpoint(&s, &nl);
  assert_non_null(strstr(latest, served_line));
  assert_non_null(strstr(latest, line2));
  free(latest);
  SIGN(W2, sk2, cp_note, bl, now - 5);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 200);
  assert_string_equal(text, "stored\n");
  latest = it_get_checkpoint(&s, &nl);
  assert_non_null(strstr(latest, line));
  assert_null(strstr(latest, served_line));
  mlproto_note_verifier v2;
  assert_int_equal(mlproto_cosig_verifier_init(&v2, W2, pk2), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_find(NULL, (const uint8_t *)latest, nl, &v2), MLPROTO_OK);
  free(latest);
  /* the note form: the checkpoint with the cosignature as its last line */
  char note_form[MLPROTO_CHECKPOINT_SIGNED_MAX + MLPROTO_COSIG_LINE_MAX];
  SIGN(W2, sk2, cp_note, bl, now - 4);
  snprintf(note_form, sizeof note_form, "%s%s", cp_note, line);
  assert_int_equal(post_cosig(&s, "", token, tp, note_form, code, text), 200);
  assert_string_equal(text, "stored\n");
  /* a note of the log's name not signed by its key */
  mlproto_checkpoint forged;
  mlproto_note_verifier lv;
  assert_int_equal(mlproto_note_vkey_parse(&lv, w.log_vkey, strlen(w.log_vkey)), MLPROTO_OK);
  assert_int_equal(mlproto_checkpoint_open(&forged, (const uint8_t *)cp_note, sl, &lv), MLPROTO_OK);
  forged.root[0] ^= 1;
  char fnote[MLPROTO_CHECKPOINT_SIGNED_MAX];
  assert_int_equal(mlproto_checkpoint_sign(fnote, sizeof fnote, NULL, &forged, osk), MLPROTO_OK);
  snprintf(note_form, sizeof note_form, "%s%s", fnote, line);
  assert_int_equal(post_cosig(&s, "", token, tp, note_form, code, text), 400);
  assert_string_equal(code, "CHECKPOINT_UNSIGNED");
  /* unknown witness */
  SIGN("witness.test/nobody", sk2, cp_note, bl, now);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 403);
  assert_string_equal(code, "UNKNOWN_WITNESS");
  /* W1's name, W2's key (key ID differs) */
  SIGN(W1, sk2, cp_note, bl, now);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 400);
  assert_string_equal(code, "COSIGNATURE_INVALID");
  /* W2, another checkpoint: the one of size1 sent as size2 */
  char body1[MLPROTO_CHECKPOINT_SIGNED_MAX];
  mlproto_checkpoint cp1 = forged;
  cp1.root[0] ^= 1;
  cp1.size = size1;
  size_t b1l;
  assert_int_equal(mlproto_checkpoint_body(body1, sizeof body1, &b1l, &cp1), MLPROTO_OK);
  SIGN(W2, sk2, body1, b1l, now);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 400);
  assert_string_equal(code, "COSIGNATURE_INVALID");
  /* a flipped signature byte */
  SIGN(W2, sk2, cp_note, bl, now);
  cs.sig[5] ^= 1;
  assert_int_equal(mlproto_cosig_line_format(line, sizeof line, NULL, &cs), MLPROTO_OK);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 400);
  assert_string_equal(code, "COSIGNATURE_INVALID");
  /* a size past the log */
  SIGN(W2, sk2, cp_note, bl, now);
  assert_int_equal(post_cosig(&s, "?size=999999", token, tp, line, code, text), 400);
  assert_string_equal(code, "TREE_RANGE");
  /* the future */
  SIGN(W2, sk2, cp_note, bl, now + 3600);
  assert_int_equal(post_cosig(&s, q, token, tp, line, code, text), 400);
  assert_string_equal(code, "CLOCK_DRIFT");
#undef SIGN

  /* Split view: server B, the same log key and name, other records. */
  ih_server b;
  assert_int_equal(ih_server_init(&b, extra), 0);
  char from[600], to[600];
  snprintf(from, sizeof from, "%s/server.key", s.data);
  snprintf(to, sizeof to, "%s/server.key", b.data);
  copy_file(from, to);
  snprintf(from, sizeof from, "%s/log.name", s.data);
  snprintf(to, sizeof to, "%s/log.name", b.data);
  copy_file(from, to);
  assert_int_equal(ih_server_start(&b), 0);
  char bvkey[MLPROTO_NOTE_VKEY_MAX + 8];
  assert_int_equal(ih_admin(&b, bvkey, sizeof bvkey, lk), 0);
  assert_string_equal(bvkey, w.log_vkey);
  sc cb;
  sc_init(&cb, &b);
  char mentor_b[40];
  assert_int_equal(ih_admin(&b, mentor_b, sizeof mentor_b, ma), 0);
  sim_dev db;
  sim_dev_init(&db);
  assert_int_equal(sc_device_up(&cb, &db, mentor_b), 0);
  uint8_t case_b[16];
  mlproto_random_id(case_b);
  int opened_b = 0;
  uint64_t bsize = 0;
  while (bsize < size2) bsize = push(&cb, &db, case_b, 1, &opened_b);
  assert_int_equal(bsize, size2);
  assert_int_equal(run_witness(&w, &b, NULL, out, sizeof out), 1);
  assert_int_equal(count_evidence(w.state, "split-view-"), 2);
  /* grown past it: inconsistent with the cosigned one */
  push(&cb, &db, case_b, 2, &opened_b);
  assert_int_equal(run_witness(&w, &b, NULL, out, sizeof out), 1);
  assert_int_equal(count_evidence(w.state, "split-view-"), 2);
  assert_int_equal(count_evidence(w.state, "inconsistent-"), 2);
  /* the evidence: the cosigned note and B's, both under the log key */
  char ev[700];
  snprintf(ev, sizeof ev, "%s/evidence/split-view-%llu-%llu-1.cosigned.note", w.state,
           (unsigned long long)size2, (unsigned long long)size2);
  size_t el;
  char *e1 = slurp(ev, &el);
  assert_non_null(e1);
  assert_int_equal(el, sl);
  assert_memory_equal(e1, cosigned, sl);
  snprintf(ev, sizeof ev, "%s/evidence/split-view-%llu-%llu-1.refused.note", w.state,
           (unsigned long long)size2, (unsigned long long)size2);
  char *e2 = slurp(ev, &el);
  assert_non_null(e2);
  mlproto_checkpoint ca, cb2;
  assert_int_equal(mlproto_checkpoint_open(&ca, (const uint8_t *)e1, sl, &lv), MLPROTO_OK);
  assert_int_equal(mlproto_checkpoint_open(&cb2, (const uint8_t *)e2, el, &lv), MLPROTO_OK);
  assert_int_equal(mlproto_checkpoint_check_split_view(&ca, &cb2), MLPROTO_ERR_SPLIT_VIEW);
  free(e1);
  free(e2);
  /* again at the same size: a second pair, the first one untouched */
  assert_int_equal(run_witness(&w, &b, NULL, out, sizeof out), 1);
  assert_int_equal(count_evidence(w.state, "inconsistent-"), 4);
  /* the state is still the first log's note, and A is still cosigned */
  char *now_state = slurp(path, &el);
  assert_int_equal(el, sl);
  assert_memory_equal(now_state, cosigned, sl);
  free(now_state);
  assert_int_equal(run_witness(&w, &s, NULL, line2, sizeof line2), 0);

  free(cosigned);
  sim_dev_free(&db);
  sc_free(&cb);
  ih_stop(&b);
  sim_dev_free(&d);
  sc_free(&c);
  ih_stop(&s);
  if (getenv("ML_NOTE_GO") && *getenv("ML_NOTE_GO")) assert_int_equal(go_checked, 2);
}

/* A database file, whole (copy_file's slurp stops at 64 KiB). */
static void copy_db(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  assert_int_equal(ferror(in), 0);
  fclose(in);
  assert_int_equal(fclose(out), 0);
  assert_int_equal(chmod(to, 0600), 0);
}

/* A restore replaces the database file; SQLite's -wal and -shm of the file
 * it replaced must go with it (they describe the other file). */
static void restored(const char *db) {
  char p[420];
  snprintf(p, sizeof p, "%s-wal", db);
  (void)unlink(p);
  snprintf(p, sizeof p, "%s-shm", db);
  (void)unlink(p);
}

/* A store restored from an old backup (or a failover that lost commits) is
 * older than a checkpoint a witness cosigned: neither serve nor admin's
 * writing commands start on it (witnessed.h); export-log still reads it;
 * the current store serves again. */
static void rolled_back_store_refused(void **state) {
  (void)state;
  ih_server s;
  const char *extra[] = {"--log-name", LOG_NAME, NULL};
  ih_start(&s, extra);
  wctx w;
  memset(&w, 0, sizeof w);
  snprintf(w.dir, sizeof w.dir, "%s/witness", s.root);
  assert_int_equal(mkdir(w.dir, 0700), 0);
  snprintf(w.key, sizeof w.key, "%s/w1.key", w.dir);
  snprintf(w.state, sizeof w.state, "%s/state", w.dir);
  snprintf(w.token_file, sizeof w.token_file, "%s/token", w.dir);
  const char *kg[] = {ML_AUDIT_BIN, "witness-keygen", "--out", w.key, "--name", W1, NULL};
  assert_int_equal(ih_run(w.vkey, sizeof w.vkey, 30000, kg), 0);
  w.vkey[strcspn(w.vkey, "\n")] = 0;
  char out[4096], token[128], tline[160], mentor[40];
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&s, w.log_vkey, sizeof w.log_vkey, lk), 0);
  w.log_vkey[strcspn(w.log_vkey, "\n")] = 0;
  const char *add[] = {"witness", "add", W1, w.vkey, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, add), 0);
  const char *ta[] = {"token", "add", "--role", "witness", NULL};
  assert_int_equal(ih_admin(&s, token, sizeof token, ta), 0);
  snprintf(tline, sizeof tline, "%s\n", token);
  spit(w.token_file, tline);
  assert_int_equal(chmod(w.token_file, 0600), 0);
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sc c;
  sc_init(&c, &s);
  sim_dev d;
  sim_dev_init(&d);
  assert_int_equal(sc_device_up(&c, &d, mentor), 0);
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  int opened = 0;
  push(&c, &d, case_id, 3, &opened);

  /* the backup: the store as it is now (stopped: no WAL left behind) */
  char db[400], bak[400], cur[400], path[400];
  snprintf(db, sizeof db, "%s/server.db", s.data);
  snprintf(bak, sizeof bak, "%s/backup.db", s.root);
  snprintf(cur, sizeof cur, "%s/current.db", s.root);
  sc_free(&c);
  assert_int_equal(ih_server_stop(&s), 0);
  /* SQLite: a copy of the file; PostgreSQL: of the schema's tables
   * (test_store_save), as pg_dump and pg_restore would */
  int pg = test_store_is_pg();
  if (pg) assert_int_equal(test_store_save(s.store), 0);
  else copy_db(db, bak);
  assert_int_equal(ih_server_start(&s), 0);
  sc_init(&c, &s);

  /* the log grows and the witness cosigns it: DIR/witnessed records it */
  uint64_t size = push(&c, &d, case_id, 4, &opened);
  assert_int_equal(run_witness(&w, &s, w.log_vkey, out, sizeof out), 0);
  snprintf(path, sizeof path, "%s/witnessed", s.data);
  size_t wl;
  char *witnessed = slurp(path, &wl);
  assert_non_null(witnessed);
  mlproto_note_verifier lv;
  assert_int_equal(mlproto_note_vkey_parse(&lv, w.log_vkey, strlen(w.log_vkey)), MLPROTO_OK);
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)witnessed, wl, &lv), MLPROTO_OK);
  assert_int_equal(cp.size, size);
  free(witnessed);
  sc_free(&c);
  assert_int_equal(ih_server_stop(&s), 0);

  /* the old backup comes back: refused, with the reason */
  if (pg) {
    assert_int_equal(test_store_restore(s.store), 0);
  } else {
    copy_db(db, cur);
    copy_db(bak, db);
    restored(db);
  }
  assert_int_equal(ih_server_start(&s), -1);
  char *log = ih_server_log(&s);
  assert_non_null(log);
  assert_non_null(strstr(log, "older than a checkpoint a witness cosigned"));
  assert_non_null(strstr(log, "STORE_ROLLED_BACK"));
  free(log);
  char cmd[900];
  /* through the shell for its stderr; the store's URI (quotes and all) in
   * the environment, not in the command's text */
  const char *cli = test_store_cli(s.store);
  if (cli) setenv("ML_T_STORE", cli, 1);
  snprintf(cmd, sizeof cmd, "%s admin --data %s%s mentor add Bo 2>&1", ih_server_binary(), s.data,
           cli ? " --store \"$ML_T_STORE\"" : "");
  const char *mb[] = {"/bin/sh", "-c", cmd, NULL};
  assert_int_not_equal(ih_run(out, sizeof out, 60000, mb), 0);
  assert_non_null(strstr(out, "STORE_ROLLED_BACK"));
  char exp[400];
  snprintf(exp, sizeof exp, "%s/old.mlog", s.root);
  const char *ex[] = {"export-log", "--out", exp, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, ex), 0);
  assert_int_equal(access(exp, F_OK), 0);

  /* the store that was cosigned serves again */
  if (pg) {
    /* the one saved copy is the old one: the current store is gone */
    print_message("PostgreSQL: the current store's return is checked on SQLite only\n");
    sim_dev_free(&d);
    ih_server_cleanup(&s);
    return;
  }
  copy_db(cur, db);
  restored(db);
  assert_int_equal(ih_server_start(&s), 0);
  sim_dev_free(&d);
  ih_stop(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(witness_cosigns_and_refuses, ih_teardown),
      cmocka_unit_test_teardown(rolled_back_store_refused, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
