/* test_net_linger.c — the lingering close of the real server (net_conn.c
 * conn_linger): a request refused before it was read to its end (a
 * 200,000-byte header -> 431, a body over --max-body -> 413) is answered,
 * and the client reads that answer every time instead of a connection reset,
 * both as a naive client that writes its whole request before reading and as
 * curl. A client that keeps trickling bytes after the answer is closed at
 * --linger-time, one that floods at --linger-bytes; a lingering connection
 * counts against --max-conns-per-address and holds none of
 * --max-inflight-bytes; SIGTERM still ends the server cleanly while one
 * lingers.
 *
 * Without the lingering close (`--linger-time 0`, or the code before it) the
 * server closes with the rest of the request unread, the kernel sends an RST,
 * and the repeated tries below lose the answer (typically 5..25 of 50). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TRIES 50
#define BIG_HEADER 200000
#define BIG_BODY 600000 /* over --max-body 64K, under the default --linger-bytes */

static uint8_t buf[1 << 20];
static char req[BIG_BODY + 4096];

/* "GET /healthz" with one X-Big header of BIG_HEADER bytes of value. */
static size_t big_header_request(void) {
  int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(req + n, 'a', BIG_HEADER);
  n += BIG_HEADER;
  n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
  return (size_t)n;
}

/* A push whose declared and sent body is BIG_BODY bytes. */
static size_t big_body_request(void) {
  int n = snprintf(req, sizeof req,
                   "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                   "Content-Length: %d\r\n\r\n",
                   BIG_BODY);
  memset(req + n, 0, BIG_BODY);
  return (size_t)n + BIG_BODY;
}

/* 1 when what follows on fd (within 2 s) is a reset rather than EOF. */
static int tcp_end_is_reset(int fd) {
  uint64_t deadline = ih_now_ms() + 2000;
  while (ih_now_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    uint8_t tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == ECONNRESET;
    if (n == 0) {
      /* EOF; a reset right behind the FIN (a close with unread data)
       * shows on the next read. */
      ih_sleep_ms(20);
      n = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
      return n < 0 && errno == ECONNRESET;
    }
  }
  return 0;
}

/* The naive client: writes the whole request without reading (the way a
 * blocking client does), then reads. Returns the status read (0: none, the
 * answer was lost); *send_failed says whether a write failed (a reset). */
static int naive_try(ih_server *s, size_t len, char code[64], int *send_failed) {
  ih_raw r = {0};
  r.fd = -1;
  code[0] = '\0';
  if (ih_raw_connect(s, &r, 0, 10000) != 0) {
    ih_raw_free(&r);
    return -1;
  }
  *send_failed = ih_raw_send(&r, req, len, 10000) != 0;
  size_t got = 0, used;
  (void)ih_raw_recv(&r, buf, sizeof buf, &got, 0, 10000);
  /* After the answer and close_notify, the TCP stream must end in a FIN
   * (the server waits for our close), not in a reset. */
  if (!*send_failed) *send_failed = tcp_end_is_reset(r.fd);
  ih_raw_free(&r);
  int status = 0;
  if (ih_parse_response(buf, got, &status, code, &used) != 0) status = 0;
  return status;
}

static void run_naive(ih_server *s, size_t len, int want_status, const char *want_code) {
  int lost = 0, resets = 0;
  for (int i = 0; i < TRIES; i++) {
    char code[64];
    int send_failed = 0;
    int status = naive_try(s, len, code, &send_failed);
    assert_int_not_equal(status, -1); /* the connection itself must work */
    resets += send_failed;
    if (status != want_status || strcmp(code, want_code) != 0) lost++;
  }
  if (lost || resets)
    fprintf(stderr, "naive client: %d of %d answers lost, %d connections reset\n", lost, TRIES, resets);
  assert_int_equal(lost, 0);
  assert_int_equal(resets, 0);
}

static void test_big_header_431_naive(void **state) {
  (void)state;
  ih_server s;
  ih_start(&s, NULL); /* default --max-header-bytes 16K */
  run_naive(&s, big_header_request(), 431, "HEADERS_TOO_LARGE");
  assert_true(ih_server_alive(&s));
  ih_stop(&s);
}

static void test_big_body_413_naive(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--max-body", "64K", NULL};
  ih_start(&s, opts);
  run_naive(&s, big_body_request(), 413, "BODY_TOO_LARGE");
  assert_true(ih_server_alive(&s));
  ih_stop(&s);
}

/* --- curl, pinned to the server's certificate by CA file --- */

static const char *curl_path(void) {
  static const char *const paths[] = {"/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    if (access(paths[i], X_OK) == 0) return paths[i];
  return NULL;
}

static void write_file(const char *path, const void *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
}

static void test_curl(void **state) {
  (void)state;
  const char *curl = curl_path();
  if (!curl) skip();
  ih_server s;
  const char *opts[] = {"--max-body", "64K", NULL};
  ih_start(&s, opts);
  char cafile[400], hdrfile[400], bodyfile[400], resolve[128], url_h[128], url_b[128];
  snprintf(cafile, sizeof cafile, "%s/tls/cert.pem", s.data);
  snprintf(hdrfile, sizeof hdrfile, "%s/big-header.txt", s.root);
  snprintf(bodyfile, sizeof bodyfile, "%s/big-body.bin", s.root);
  snprintf(resolve, sizeof resolve, "mentorlog-server:%d:127.0.0.1", s.port);
  snprintf(url_h, sizeof url_h, "https://mentorlog-server:%d/healthz", s.port);
  snprintf(url_b, sizeof url_b, "https://mentorlog-server:%d/v1/push", s.port);
  static char line[BIG_HEADER + 16];
  int n = snprintf(line, sizeof line, "X-Big: ");
  memset(line + n, 'a', BIG_HEADER);
  line[n + BIG_HEADER] = '\n';
  write_file(hdrfile, line, (size_t)n + BIG_HEADER + 1);
  memset(req, 0, BIG_BODY);
  write_file(bodyfile, req, BIG_BODY);
  char hdr_arg[410], body_arg[410];
  snprintf(hdr_arg, sizeof hdr_arg, "@%s", hdrfile);
  snprintf(body_arg, sizeof body_arg, "@%s", bodyfile);

  const char *argv_h[] = {curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cafile,
                          "--resolve", resolve, "-H", hdr_arg, url_h, NULL};
  /* "Expect:" off: curl would otherwise wait for 100 Continue, and the
   * server refuses at the head, before any body byte is sent. */
  const char *argv_b[] = {curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cafile,
                          "--resolve", resolve, "-H", "Expect:", "-H",
                          "Content-Type: application/x-protobuf", "--data-binary", body_arg, url_b,
                          NULL};
  int lost_h = 0, lost_b = 0;
  for (int i = 0; i < TRIES; i++) {
    char out[64];
    int rc = ih_run(out, sizeof out, 20000, argv_h);
    if (rc != 0 || strcmp(out, "431") != 0) lost_h++;
    rc = ih_run(out, sizeof out, 20000, argv_b);
    if (rc != 0 || strcmp(out, "413") != 0) lost_b++;
  }
  if (lost_h || lost_b)
    fprintf(stderr, "curl: %d of %d 431 lost, %d of %d 413 lost\n", lost_h, TRIES, lost_b, TRIES);
  assert_int_equal(lost_h, 0);
  assert_int_equal(lost_b, 0);
  ih_stop(&s);
}

/* --- limits of the lingering itself --- */

/* The value of an unlabelled or fully labelled sample in a /metrics text,
 * e.g. "mentorlog_lingering_closes_total{end=\"timeout\"}"; -1 if absent. */
static long long metric(ih_server *s, const char *sample) { return ih_metric(s, sample); }

/* Sends an oversized header, then trickles `X` bytes; returns the ms from
 * the answer (a 431, which must arrive) to the moment a write fails because
 * the server closed, or -1 if it never does within max_ms. */
static long long trickle_after_error(ih_server *s, size_t chunk, unsigned every_ms, unsigned max_ms) {
  ih_raw r = {0};
  r.fd = -1;
  assert_int_equal(ih_raw_connect(s, &r, 0, 10000), 0);
  int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(req + n, 'a', 20000); /* over 16K: refused */
  assert_int_equal(ih_raw_send(&r, req, (size_t)n + 20000, 10000), 0);
  size_t got = 0, used;
  /* The answer, close_notify and FIN arrive at once: read to the close. */
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 0, 10000), 0);
  int status;
  char code[64];
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 431);
  uint64_t t0 = ih_now_ms();
  static uint8_t junk[256 * 1024];
  memset(junk, 'X', sizeof junk);
  if (chunk > sizeof junk) chunk = sizeof junk;
  long long closed_after = -1;
  while (ih_now_ms() - t0 < max_ms) {
    /* Raw bytes on the socket (the TLS session is closed for writing by
     * the server's close_notify; the server drops whatever arrives). */
    ssize_t w = send(r.fd, junk, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      closed_after = (long long)(ih_now_ms() - t0);
      break;
    }
    ih_sleep_ms(every_ms);
  }
  ih_raw_free(&r);
  return closed_after;
}

static void test_trickle_closed_at_linger_time(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--linger-time", "600ms", NULL};
  ih_start(&s, opts);
  /* 100 bytes every 20 ms: never the byte limit, never a pause long enough
   * for any per-read timeout; only the total time ends it. */
  long long ms = trickle_after_error(&s, 100, 20, 15000);
  fprintf(stderr, "trickling client closed %lld ms after the answer (--linger-time 600ms)\n", ms);
  assert_true(ms >= 0);      /* it was closed */
  assert_true(ms >= 400);    /* and not before the linger time (minus scheduling slack) */
  assert_true(ms <= 10000);  /* nor long after it */
  assert_true(metric(&s, "mentorlog_lingering_closes_total{end=\"timeout\"}") >= 1);
  char *log = ih_server_log(&s);
  assert_non_null(log);
  assert_non_null(strstr(log, "msg=linger_end"));
  assert_non_null(strstr(log, "end=timeout"));
  free(log);
  ih_stop(&s);
}

static void test_flood_closed_at_linger_bytes(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--linger-time", "20s", "--linger-bytes", "256K", NULL};
  ih_start(&s, opts);
  /* 64 KiB every 5 ms: the 256 KiB are read long before the 20 s. */
  long long ms = trickle_after_error(&s, 64 * 1024, 5, 15000);
  assert_true(ms >= 0);
  assert_true(ms < 15000);
  assert_true(metric(&s, "mentorlog_lingering_closes_total{end=\"bytes\"}") >= 1);
  assert_true(metric(&s, "mentorlog_lingering_discarded_bytes_total") >= 256 * 1024);
  ih_stop(&s);
}

/* A lingering connection holds its slot (--max-conns-per-address) but none
 * of the request bytes it was refused for (--max-inflight-bytes). */
static void test_lingering_counts_and_frees(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--linger-time", "3s", "--max-conns-per-address", "2",
                        "--max-header-bytes", "40K", "--max-inflight-bytes", "48K",
                        "--max-inflight-bytes-per-address", "48K", NULL};
  ih_start(&s, opts);
  ih_raw a = {0}, b = {0}, c = {0};
  a.fd = b.fd = c.fd = -1;
  assert_int_equal(ih_raw_connect(&s, &a, 0, 10000), 0);
  size_t len = big_header_request();
  assert_int_equal(ih_raw_send(&a, req, len, 10000), 0);
  size_t got = 0, used;
  assert_int_equal(ih_raw_recv(&a, buf, sizeof buf, &got, 0, 10000), 0);
  int status;
  char code[64];
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 431);
  /* a stays open (no EOF to the server): it lingers for 3 s. Its parser
   * held 32 KiB when it refused the head (two 16 KiB records; the third
   * crossed 40K). A 36 KiB head on b passes the 48K budget only if those
   * were given back (else 503 at b's second record). */
  assert_int_equal(ih_raw_connect(&s, &b, 0, 10000), 0);
  int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ");
  memset(req + n, 'p', 36000);
  n += 36000;
  n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
  assert_int_equal(ih_raw_send(&b, req, (size_t)n, 10000), 0);
  assert_int_equal(ih_raw_recv(&b, buf, sizeof buf, &got, 1, 10000), 1);
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 200);
  /* a and b hold both slots of 127.0.0.1: c is closed before TLS. */
  assert_int_not_equal(ih_raw_connect(&s, &c, 0, 10000), 0);
  /* After the linger time a's slot is free again. */
  ih_sleep_ms(3500);
  int ok = -1;
  for (int tries = 0; tries < 100 && ok != 0; tries++) {
    ok = ih_raw_connect(&s, &c, 0, 5000);
    if (ok != 0) ih_sleep_ms(50);
  }
  assert_int_equal(ok, 0);
  ih_raw_free(&a);
  ih_raw_free(&b);
  ih_raw_free(&c);
  ih_stop(&s);
}

/* SIGTERM while a connection lingers: the drain waits for it (at most
 * --linger-time), then the server exits 0 with every handle closed. */
static void test_sigterm_while_lingering(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--linger-time", "1s", NULL};
  ih_start(&s, opts);
  ih_raw a = {0};
  a.fd = -1;
  assert_int_equal(ih_raw_connect(&s, &a, 0, 10000), 0);
  size_t len = big_header_request();
  assert_int_equal(ih_raw_send(&a, req, len, 10000), 0);
  size_t got = 0;
  assert_int_equal(ih_raw_recv(&a, buf, sizeof buf, &got, 0, 10000), 0);
  int status = 0;
  uint64_t t0 = ih_now_ms();
  assert_int_equal(ih_server_signal_wait(&s, SIGTERM, 10000, &status), 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(ih_now_ms() - t0 < 5000);
  ih_raw_free(&a);
  ih_server_cleanup(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_big_header_431_naive, ih_teardown),
      cmocka_unit_test_teardown(test_big_body_413_naive, ih_teardown),
      cmocka_unit_test_teardown(test_curl, ih_teardown),
      cmocka_unit_test_teardown(test_trickle_closed_at_linger_time, ih_teardown),
      cmocka_unit_test_teardown(test_flood_closed_at_linger_bytes, ih_teardown),
      cmocka_unit_test_teardown(test_lingering_counts_and_frees, ih_teardown),
      cmocka_unit_test_teardown(test_sigterm_while_lingering, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
