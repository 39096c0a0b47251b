/* test_net_abuse.c — issue 12, "Holding under abuse": the real server on
 * loopback over real TLS, each test one attack that worked against the
 * server before:
 *   - one address holding stalled bodies takes the --max-inflight-bytes pool
 *     (others got 503): it now gets its share only (ADDRESS_INFLIGHT);
 *   - bodies dribbled, or sent in a burst and then stalled, are cut by
 *     --min-upload-rate (UPLOAD_TOO_SLOW) and their bytes given back;
 *   - a large body with a bad token was read whole before the 401: it is
 *     now refused at its head, the body unread (and no 100 Continue);
 *   - bad bearer tokens were never throttled (--auth-fail-limit);
 *   - /metrics, open and unlimited, on the devices' port: now on its own
 *     loopback listener (--metrics-listen);
 *   - deleted rows linger in server.db-wal (--wal-truncate).
 * Other client addresses are 127.0.0.2, 127.0.0.3 (the whole 127.0.0.0/8
 * is the loopback). Timings are generous bounds only where the behaviour is
 * a time (a cut well before the request timeout). */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "test_sync_util.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static uint8_t buf[1 << 20];
static char req[(4 << 20) + 4096];

/* Reads one answer (want_one) into buf, NUL-terminated: its status and code,
 * or status 0 when none came within timeout_ms. */
static int answer(ih_raw *r, int timeout_ms, char code[64]) {
  size_t got = 0, used;
  code[0] = '\0';
  (void)ih_raw_recv(r, buf, sizeof buf - 1, &got, 1, timeout_ms);
  buf[got] = '\0';
  int status = 0;
  if (ih_parse_response(buf, got, &status, code, &used) != 0) status = 0;
  return status;
}

/* Connects from src (NULL: 127.0.0.1) and sends len bytes of raw. */
static void open_send(ih_server *s, ih_raw *r, const char *src, const void *raw, size_t len) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  assert_int_equal(ih_raw_connect_from(s, r, src, 0, 10000), 0);
  assert_int_equal(ih_raw_send(r, raw, len, 10000), 0);
}

/* One request on a fresh connection from src: its status (0: none). */
static int once_from(ih_server *s, const char *src, const char *raw, char code[64]) {
  ih_raw r;
  open_send(s, &r, src, raw, strlen(raw));
  int st = answer(&r, 10000, code);
  ih_raw_free(&r);
  return st;
}

static void admin_token(ih_server *s, const char *role, char tok[64]) {
  const char *a[] = {"token", "add", "--role", role, role[0] == 'j' ? "--jobcentre" : NULL, "kbh",
                     NULL};
  assert_int_equal(ih_admin(s, tok, 64, a), 0);
  assert_int_equal(strlen(tok), 43);
}

/* A cosignature post announcing `declared` bytes of body, its head and
 * `send` of them in req; returns the length. */
static size_t cosig_partial(const char *token, size_t declared, size_t send) {
  int n = snprintf(req, sizeof req,
                   "POST /v1/log/cosignature HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   token, declared);
  memset(req + n, 'x', send);
  return (size_t)n + send;
}

/* 1. The pool and the share of one address. Before: twelve stalled 100 KiB
 * bodies of one address filled the 1 MiB pool and a client elsewhere got
 * 503. Now the attacker holds its share (1/8 of the pool by default) and
 * its other connections are refused 429 ADDRESS_INFLIGHT; others are
 * served. The attacker has a valid token: without one its bodies would not
 * even be read (test 3). */
static void test_address_share(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--max-inflight-bytes", "1M", "--max-body", "4M", "--min-upload-rate", "0",
                        "--request-timeout", "60s", NULL};
  ih_start(&s, opts);
  char tok[64];
  admin_token(&s, "witness", tok);
  enum { ATTACKERS = 12 };
  ih_raw a[ATTACKERS];
  size_t len = cosig_partial(tok, 4u << 20, 100 * 1024);
  for (int i = 0; i < ATTACKERS; i++) open_send(&s, &a[i], NULL, req, len);
  int refused = 0, held = 0;
  for (int i = 0; i < ATTACKERS; i++) {
    char code[64];
    int st = answer(&a[i], 3000, code);
    if (st == 0) {
      held++;
      continue;
    }
    assert_int_equal(st, 429);
    assert_string_equal(code, "ADDRESS_INFLIGHT");
    assert_non_null(strstr((char *)buf, "\r\nRetry-After: "));
    refused++;
  }
  /* 128 KiB of share: one 100 KiB body fits, a second never does */
  assert_int_equal(held, 1);
  assert_int_equal(refused, ATTACKERS - 1);
  /* another address sends the same stalled body: it is kept, unanswered */
  ih_raw v;
  open_send(&s, &v, "127.0.0.2", req, len);
  char code[64];
  assert_int_equal(answer(&v, 1500, code), 0);
  /* and a third is served, not 503 */
  size_t n = cosig_partial(tok, 3, 3);
  req[n] = '\0';
  assert_int_equal(once_from(&s, "127.0.0.3", req, code), 400);
  char *log = ih_server_log(&s);
  assert_non_null(strstr(log, "msg=address_inflight_exceeded"));
  assert_null(strstr(log, "msg=inflight_budget_exceeded"));
  free(log);
  for (int i = 0; i < ATTACKERS; i++) ih_raw_free(&a[i]);
  ih_raw_free(&v);
  ih_stop(&s);
}

/* An enrolment (no token needed: read at once) announcing 60,000 bytes. */
static size_t enroll_head(void) {
  return (size_t)snprintf(req, sizeof req,
                          "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                          "Content-Type: application/vnd.mentorlog.v1+protobuf\r\n"
                          "Content-Length: 60000\r\n\r\n");
}

/* 2. The minimum upload rate (1 KiB/s per 1 s window here): a dribbled body
 * and a burst followed by a stall are both cut with 408 UPLOAD_TOO_SLOW long
 * before the 60 s request timeout, the stalled bytes are given back, and a
 * body at a good pace is read to its end. */
static void test_slow_bodies_cut(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--min-upload-rate", "1K", "--min-upload-window", "1s",
                        "--request-timeout", "60s", "--max-inflight-bytes", "64K",
                        "--max-inflight-bytes-per-address", "64K", NULL};
  ih_start(&s, opts);
  char code[64];
  /* dribbled: 10 bytes every 100 ms (100 B/s) */
  size_t hl = enroll_head();
  memset(req + hl, 'x', 100);
  ih_raw r;
  open_send(&s, &r, NULL, req, hl + 100);
  uint64_t t0 = ih_now_ms();
  int readable = 0;
  while (!readable && ih_now_ms() - t0 < 30000) {
    ih_sleep_ms(100);
    if (ih_raw_send(&r, "xxxxxxxxxx", 10, 5000) != 0) break;
    struct pollfd p = {r.fd, POLLIN, 0};
    readable = poll(&p, 1, 0) > 0;
  }
  assert_int_equal(answer(&r, 10000, code), 408);
  assert_string_equal(code, "UPLOAD_TOO_SLOW");
  assert_true(ih_now_ms() - t0 < 30000); /* the request timeout is 60 s */
  ih_raw_free(&r);

  /* burst, then stall: 50 KiB at once, then nothing */
  hl = enroll_head();
  memset(req + hl, 'x', 50 * 1024);
  ih_raw stall, b;
  open_send(&s, &stall, NULL, req, hl + 50 * 1024);
  ih_sleep_ms(200); /* ordering only: the server has read the burst */
  /* meanwhile the pool (64K) has no room for another 30 KiB */
  open_send(&s, &b, NULL, req, hl + 30 * 1024);
  assert_int_equal(answer(&b, 10000, code), 503);
  ih_raw_free(&b);
  t0 = ih_now_ms();
  assert_int_equal(answer(&stall, 20000, code), 408);
  assert_string_equal(code, "UPLOAD_TOO_SLOW");
  assert_true(ih_now_ms() - t0 < 20000);
  /* its bytes were released: the same 30 KiB is now kept (no answer) */
  int kept = 0;
  for (int i = 0; i < 20 && !kept; i++) {
    ih_raw c;
    open_send(&s, &c, NULL, req, hl + 30 * 1024);
    kept = answer(&c, 500, code) == 0;
    ih_raw_free(&c);
    if (!kept) ih_sleep_ms(100);
  }
  assert_true(kept);
  ih_raw_free(&stall);

  /* a good pace (6,000 bytes every 200 ms) is read to its end and answered
   * by the application (TOO_LARGE, not the network's BODY_TOO_LARGE) */
  hl = enroll_head();
  ih_raw g;
  open_send(&s, &g, NULL, req, hl);
  memset(req, 'x', 6000);
  for (int i = 0; i < 10; i++) {
    ih_sleep_ms(200);
    assert_int_equal(ih_raw_send(&g, req, 6000, 5000), 0);
  }
  assert_int_equal(answer(&g, 10000, code), 413);
  assert_string_equal(code, "TOO_LARGE"); /* the application's: no EnrollRequest is that big */
  ih_raw_free(&g);
  char *log = ih_server_log(&s);
  assert_non_null(strstr(log, "msg=upload_too_slow"));
  free(log);
  ih_stop(&s);
}

/* A push head announcing `declared` bytes, with token (NULL: none) and
 * `extra` header lines; into req, returns the length. */
static size_t push_head(const char *token, size_t declared, const char *extra) {
  return (size_t)snprintf(req, sizeof req,
                          "POST /v1/push HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                          "Content-Type: application/vnd.mentorlog.v1+protobuf\r\n"
                          "Content-Length: %zu\r\n%s%s%s%s\r\n",
                          declared, token ? "Authorization: Bearer " : "", token ? token : "",
                          token ? "\r\n" : "", extra);
}

/* 3. Credentials before the body: a 4 MiB push with a bad token (or none)
 * is answered 401 while the client has sent only 16 KiB of it (before, the
 * server waited for the whole body); with Expect: 100-continue a bad token
 * gets its 401 and no 100 Continue, a good one the 100 Continue and then its
 * answer. A body on a route that takes no credentials is at most 64 KiB. */
static void test_body_after_token(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--request-timeout", "60s", NULL};
  ih_start(&s, opts);
  char mentor[64];
  const char *ma[] = {"mentor", "add", "Abuse Test", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sc c;
  sc_init(&c, &s);
  sim_dev d;
  sim_dev_init(&d);
  assert_int_equal(sc_device_up(&c, &d, mentor), 0);
  sc_free(&c);
  char bad[48], code[64];
  memset(bad, 'B', 43);
  bad[43] = '\0';

  const char *tokens[] = {bad, NULL};
  for (int i = 0; i < 2; i++) {
    size_t hl = push_head(tokens[i], 4000000, "");
    memset(req + hl, 0x0a, 16 * 1024);
    ih_raw r;
    open_send(&s, &r, NULL, req, hl + 16 * 1024);
    uint64_t t0 = ih_now_ms();
    assert_int_equal(answer(&r, 10000, code), 401);
    assert_string_equal(code, "UNAUTHENTICATED");
    assert_non_null(strstr((char *)buf, "\r\nWWW-Authenticate: Bearer\r\n"));
    assert_non_null(strstr((char *)buf, "\r\nConnection: close\r\n"));
    assert_true(ih_now_ms() - t0 < 10000);
    ih_raw_free(&r);
  }
  /* Expect: 100-continue with a bad token: 401, never a 100 */
  size_t hl = push_head(bad, 1000, "Expect: 100-continue\r\n");
  ih_raw r;
  open_send(&s, &r, NULL, req, hl);
  size_t got;
  assert_int_equal(ih_raw_recv_until(&r, buf, sizeof buf, &got, "HTTP/1.1 401 ", 10000), 1);
  assert_null(strstr((char *)buf, "100 Continue"));
  ih_raw_free(&r);
  /* ... with the device's token: the 100 first, then the body is read */
  hl = push_head(d.token, 10, "Expect: 100-continue\r\n");
  open_send(&s, &r, NULL, req, hl);
  assert_int_equal(ih_raw_recv_until(&r, buf, sizeof buf, &got, "HTTP/1.1 100 Continue\r\n\r\n", 10000), 1);
  assert_int_equal(ih_raw_send(&r, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10, 5000), 0);
  assert_int_equal(answer(&r, 10000, code), 400); /* no PushRequest: read, and refused */
  assert_string_equal(code, "MALFORMED");
  ih_raw_free(&r);
  /* without Expect, the good token's body is read too, on a kept connection */
  hl = push_head(d.token, 10, "");
  memset(req + hl, 0xff, 10);
  open_send(&s, &r, NULL, req, hl + 10);
  assert_int_equal(answer(&r, 10000, code), 400);
  assert_string_equal(code, "MALFORMED");
  assert_null(strstr((char *)buf, "Connection: close"));
  ih_raw_free(&r);
  /* no credentials to show: 64 KiB at most, refused at the head */
  int n = snprintf(req, sizeof req,
                   "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
                   "Content-Length: 70000\r\n\r\n");
  open_send(&s, &r, NULL, req, (size_t)n);
  assert_int_equal(answer(&r, 10000, code), 413);
  assert_string_equal(code, "BODY_TOO_LARGE");
  ih_raw_free(&r);
  char *log = ih_server_log(&s);
  assert_non_null(strstr(log, "msg=body_not_read"));
  free(log);
  sim_dev_free(&d);
  ih_stop(&s);
}

/* 4. Failed bearer tokens per address (--auth-fail-limit 5): the sixth bad
 * token from 127.0.0.1 is refused 429 before any lookup, and so is then a
 * good token from that address (documented: a shared address shares the
 * budget), and a bad push at its head; 127.0.0.2 is not affected. */
static void test_failed_tokens_throttled(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--auth-fail-limit", "5", NULL};
  ih_start(&s, opts);
  char good[64], bad[48], code[64], raw[512];
  admin_token(&s, "jobcentre", good);
  memset(bad, 'C', 43);
  bad[43] = '\0';
#define COMPLIANCE(tok)                                                                          \
  snprintf(raw, sizeof raw,                                                                        \
           "GET /v1/jobcentre/compliance HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"    \
           "Authorization: Bearer %s\r\n\r\n",                                                     \
           tok)
  COMPLIANCE(bad);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(once_from(&s, NULL, raw, code), 401);
    assert_string_equal(code, "UNAUTHENTICATED");
  }
  assert_int_equal(once_from(&s, NULL, raw, code), 429);
  assert_string_equal(code, "RATE_LIMITED");
  assert_non_null(strstr((char *)buf, "\r\nRetry-After: "));
  assert_non_null(strstr((char *)buf, "failed authentications from this address"));
  size_t hl = push_head(bad, 1u << 20, "");
  ih_raw r;
  open_send(&s, &r, NULL, req, hl);
  assert_int_equal(answer(&r, 10000, code), 429);
  ih_raw_free(&r);
  COMPLIANCE(good);
  assert_int_equal(once_from(&s, NULL, raw, code), 429);
  assert_int_equal(once_from(&s, "127.0.0.2", raw, code), 200);
  COMPLIANCE(bad);
  assert_int_equal(once_from(&s, "127.0.0.2", raw, code), 401);
#undef COMPLIANCE
  ih_stop(&s);
}

/* 5. /metrics: 404 on the devices' port, served in plain HTTP on the
 * loopback listener of metrics.addr, whatever the devices' limits (here one
 * connection per address, one unauthenticated request a second, both used
 * up); `--metrics-listen off` has none; a non-loopback address is refused. */
static void test_metrics_listener(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--max-conns-per-address", "1", "--unauth-rate", "1", NULL};
  ih_start(&s, opts);
  static char text[1 << 20];
  char code[64];
  ih_raw held;
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  open_send(&s, &held, NULL, get, strlen(get));
  assert_int_equal(answer(&held, 10000, code), 404);
  assert_string_equal(code, "NOT_FOUND");
  /* held keeps 127.0.0.1's only connection: a second is closed before TLS */
  ih_raw second = {0};
  second.fd = -1;
  assert_int_not_equal(ih_raw_connect(&s, &second, 0, 5000), 0);
  ih_raw_free(&second);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(ih_metrics_get(&s, "/metrics", text, sizeof text, 10000), 200);
    assert_non_null(strstr(text, "\r\nContent-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(text, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(text, "\nmentorlog_connections_open "));
    assert_non_null(strstr(text, "\nmentorlog_log_size 0\n"));
  }
  assert_int_equal(ih_metrics_get(&s, "/healthz", text, sizeof text, 10000), 404);
  assert_true(ih_metric(&s, "mentorlog_connections_refused_total") >= 1);
  ih_raw_free(&held);
  char maddr[400];
  snprintf(maddr, sizeof maddr, "%s/metrics.addr", s.data);
  struct stat st;
  assert_int_equal(stat(maddr, &st), 0);
  assert_int_equal(ih_server_stop(&s), 0);
  assert_int_not_equal(stat(maddr, &st), 0); /* removed on a clean exit */
  /* a non-loopback address: refused as a usage error, nothing started */
  const char *argv[] = {ih_server_binary(), "serve", "--data", s.data, "--listen", "127.0.0.1:0",
                        "--metrics-listen", "0.0.0.0:0", NULL};
  assert_int_equal(ih_run(NULL, 0, 30000, argv), 2);
  ih_server_cleanup(&s);
  const char *off[] = {"--metrics-listen", "off", NULL};
  ih_start(&s, off);
  snprintf(maddr, sizeof maddr, "%s/metrics.addr", s.data);
  assert_int_not_equal(stat(maddr, &st), 0);
  assert_int_equal(ih_metrics_get(&s, "/metrics", text, sizeof text, 2000), -1);
  ih_stop(&s);
}

/* Whether the file holds the n bytes of needle: 1, 0 (also when it is
 * absent or empty); *size gets its size. */
static int file_holds(const char *path, const uint8_t *needle, size_t n, off_t *size) {
  *size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size == 0) {
    close(fd);
    return 0;
  }
  *size = st.st_size;
  uint8_t *data = malloc((size_t)st.st_size);
  assert_non_null(data);
  ssize_t got = read(fd, data, (size_t)st.st_size);
  close(fd);
  int found = got > 0 && memmem(data, (size_t)got, needle, n) != NULL;
  free(data);
  return found;
}

/* The signature of the stored tree head (GET /v1/log/sth). */
static void sth_signature(sc *c, uint8_t sig[64], uint64_t *size) {
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "GET", "/v1/log/sth", NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  mlproto_sth sth;
  memset(&sth, 0, sizeof sth);
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_SIGNED_TREE_HEAD, &sth), 0);
  free(rb);
  memcpy(sig, sth.signature, 64);
  *size = sth.size;
}

/* 6. Deleted rows do not linger in the WAL. The tree head of size 1 is
 * replaced when the second device enrols: its bytes (signature) are then a
 * deleted value, and so is a used session challenge, which holds the
 * address key of whoever asked for it (while challenges are stored). With
 * --wal-truncate 0 the old head is still in server.db-wal; the server is
 * killed (so that no clean close empties the WAL) and started with
 * --wal-truncate 1s: soon neither is in the file, which stays under the
 * journal_size_limit (4 MiB), and the log is intact. */
static void test_wal_truncated(void **state) {
  (void)state;
  if (test_store_is_pg()) {
    /* PostgreSQL's WAL is the database server's (its checkpoints recycle
     * it); the store's scrub there is a VACUUM, tested in test_store */
    print_message("PostgreSQL: server.db-wal is SQLite's; skipped\n");
    skip();
  }
  ih_server s;
  const char *opts[] = {"--wal-truncate", "0", NULL};
  ih_start(&s, opts);
  char mentor[64];
  const char *ma[] = {"mentor", "add", "Wal Test", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  sc c;
  sc_init(&c, &s);
  sim_dev d1, d2;
  sim_dev_init(&d1);
  sim_dev_init(&d2);
  assert_int_equal(sc_device_up(&c, &d1, mentor), 0);
  uint8_t old_sig[64];
  uint64_t size;
  sth_signature(&c, old_sig, &size);
  assert_int_equal(size, 1);
  /* a challenge asked for and used (by a failing login): deleted */
  int st;
  uint8_t *rb;
  size_t rl, bl;
  assert_int_equal(sc_call(&c, "GET", "/v1/session/challenge", NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  uint8_t chal[32] = {0};
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CHALLENGE_RESPONSE, rb, rl), 0);
  Mentorlog__V1__ChallengeResponse *cr = (Mentorlog__V1__ChallengeResponse *)m;
  assert_int_equal(cr->challenge.len, 32);
  memcpy(chal, cr->challenge.data, 32);
  mlproto_msg_free(m);
  uint8_t *b = sim_session_body(&d2, rb, rl, &bl); /* d2 is not enrolled yet: refused */
  free(rb);
  assert_int_equal(sc_call(&c, "POST", "/v1/session", NULL, b, bl, &st, &rb, &rl), 0);
  assert_int_equal(st, 401);
  free(b);
  free(rb);
  assert_int_equal(sc_device_up(&c, &d2, mentor), 0);
  uint8_t new_sig[64];
  sth_signature(&c, new_sig, &size);
  assert_int_equal(size, 2);
  assert_memory_not_equal(old_sig, new_sig, 64);
  sc_free(&c);
  char wal[400];
  snprintf(wal, sizeof wal, "%s/server.db-wal", s.data);
  off_t wal_size;
  /* the test can fail: the replaced head is in the WAL while nothing truncates it */
  assert_int_equal(file_holds(wal, old_sig, 64, &wal_size), 1);
  int chal_was_there = file_holds(wal, chal, 32, &wal_size);
  fprintf(stderr, "WAL before: %lld bytes, used challenge %s\n", (long long)wal_size,
          chal_was_there ? "in it" : "not in it (not stored)");
  ih_server_kill(&s);
  assert_int_equal(file_holds(wal, old_sig, 64, &wal_size), 1); /* nothing cleaned it up */

  s.extra[1] = "1s";
  assert_int_equal(ih_server_start(&s), 0);
  static const uint8_t addr_key[5] = {'4', 127, 0, 0, 1}; /* mls_addr_key("127.0.0.1") */
  int gone = 0;
  for (int i = 0; i < 300 && !gone; i++) {
    gone = !file_holds(wal, old_sig, 64, &wal_size) && !file_holds(wal, chal, 32, &wal_size);
    if (!gone) ih_sleep_ms(100);
  }
  assert_true(gone);
  if (chal_was_there) assert_false(file_holds(wal, addr_key, sizeof addr_key, &wal_size));
  assert_true(wal_size <= 4 * 1024 * 1024);
  char *log = ih_server_log(&s);
  assert_null(strstr(log, "msg=wal_truncate_failed"));
  free(log);
  /* nothing committed was lost by the truncation */
  sc_init(&c, &s);
  sth_signature(&c, old_sig, &size);
  assert_int_equal(size, 2);
  assert_memory_equal(old_sig, new_sig, 64);
  sc_free(&c);
  sim_dev_free(&d1);
  sim_dev_free(&d2);
  ih_stop(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_address_share, ih_teardown),
      cmocka_unit_test_teardown(test_slow_bodies_cut, ih_teardown),
      cmocka_unit_test_teardown(test_body_after_token, ih_teardown),
      cmocka_unit_test_teardown(test_failed_tokens_throttled, ih_teardown),
      cmocka_unit_test_teardown(test_metrics_listener, ih_teardown),
      cmocka_unit_test_teardown(test_wal_truncated, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
