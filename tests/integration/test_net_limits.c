/* test_net_limits.c — limits of the real server: idle and request timeouts
 * (slowloris), header/body caps, the connection cap, and SIGTERM draining
 * a request in flight. Timeouts are set small through the options; the
 * tests check what happens, never how long it took. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include "harness.h"

static uint8_t buf[1 << 20];
#define HEALTH "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

/* The headers of every refusal the network half decides (net_conn.c). */
static void assert_refusal_headers(const char *resp) {
  const char *end = strstr(resp, "\r\n\r\n");
  assert_non_null(end);
  static const char *const want[] = {
      "\r\nContent-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n",
      "\r\nX-Content-Type-Options: nosniff\r\n", "\r\nReferrer-Policy: no-referrer\r\n",
      "\r\nCache-Control: no-store\r\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const char *at = strstr(resp, want[i]);
    if (!at || at > end) fail_msg("refusal lacks %s", want[i] + 2);
  }
}

/* Sends req on a new connection: its answer has `status` and the headers. */
static void refused_headers(ih_server *s, const char *req, size_t len, int status) {
  ih_raw r = {0};
  static uint8_t rbuf[16384];
  size_t got = 0, used;
  int st = 0;
  char code[64];
  assert_int_equal(ih_raw_connect(s, &r, 0, 10000), 0);
  assert_int_equal(ih_raw_send(&r, req, len, 10000), 0);
  assert_true(ih_raw_recv(&r, rbuf, sizeof rbuf - 1, &got, 1, 10000) >= 0);
  rbuf[got] = 0;
  assert_int_equal(ih_parse_response(rbuf, got, &st, code, &used), 0);
  assert_int_equal(st, status);
  assert_refusal_headers((const char *)rbuf);
  ih_raw_free(&r);
}

static void test_timeouts(void **state) {
  ih_server s;
  const char *opts[] = {"--idle-timeout", "300ms", "--request-timeout", "700ms", NULL};
  ih_start(&s, opts);

  /* Idle keep-alive connection: closed by the server. */
  ih_raw r = {0};
  size_t got;
  assert_int_equal(ih_raw_connect(&s, &r, 0, 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 0, 15000), 0);
  assert_int_equal(got, 0);
  ih_raw_close(&r);

  /* A TCP connection that never starts its handshake: closed. */
  int fd = ih_tcp_connect(&s, 5000);
  assert_true(fd >= 0);
  assert_int_equal(ih_tcp_closed_by_peer(fd, 15000), 1);
  close(fd);

  /* Slowloris: headers dribbled one line at a time, each within the idle
   * timeout, never finishing: 408 REQUEST_TIMEOUT, then closed. */
  assert_int_equal(ih_raw_connect(&s, &r, 0, 10000), 0);
  const char *start_line = "GET /healthz HTTP/1.1\r\n";
  assert_int_equal(ih_raw_send(&r, start_line, strlen(start_line), 5000), 0);
  int answered = 0;
  for (int i = 0; i < 200 && !answered; i++) {
    ih_sleep_ms(50);
    if (ih_raw_send(&r, "X-Slow: 1\r\n", 11, 5000) != 0) break; /* cut off */
    struct pollfd p = {r.fd, POLLIN, 0};
    answered = poll(&p, 1, 0) > 0;
  }
  assert_true(answered);
  int rc = ih_raw_recv(&r, buf, sizeof buf, &got, 0, 10000);
  assert_int_equal(rc, 0); /* closed after the answer */
  int status;
  char code[64];
  size_t used;
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 408);
  assert_string_equal(code, "REQUEST_TIMEOUT");
  buf[got < sizeof buf ? got : sizeof buf - 1] = 0;
  assert_refusal_headers((const char *)buf);
  ih_raw_free(&r);

  /* Still serving. */
  assert_int_equal(ih_request_once(&s, HEALTH, strlen(HEALTH), 0, &status, code, 10000), 0);
  assert_int_equal(status, 200);
  ih_stop(&s);
}

static void test_size_caps(void **state) {
  ih_server s;
  const char *opts[] = {"--max-header-bytes", "4K", "--max-body", "64K", NULL};
  ih_start(&s, opts);
  int status;
  char code[64];
  static char req[200000];

  /* Headers: just under the cap passes the framing, over it is 431. */
  int n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %0*d\r\n\r\n", 5000, 0);
  assert_int_equal(ih_request_once(&s, req, (size_t)n, 0, &status, code, 10000), 0);
  assert_int_equal(status, 431);
  assert_string_equal(code, "HEADERS_TOO_LARGE");
  /* decided before any route: a page's answer gets a page's guard too */
  n = snprintf(req, sizeof req, "GET /jobcentre/ HTTP/1.1\r\nHost: x\r\nX-Pad: %0*d\r\n\r\n", 5000, 0);
  refused_headers(&s, req, (size_t)n, 431);
  n = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %0*d\r\n\r\n", 3000, 0);
  assert_int_equal(ih_request_once(&s, req, (size_t)n, 0, &status, code, 10000), 0);
  assert_int_equal(status, 200);

  /* Declared body over the cap: refused before any body byte is read. */
  n = snprintf(req, sizeof req, "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 65 * 1024);
  assert_int_equal(ih_request_once(&s, req, (size_t)n, 0, &status, code, 10000), 0);
  assert_int_equal(status, 413);
  assert_string_equal(code, "BODY_TOO_LARGE");
  n = snprintf(req, sizeof req, "POST /jobcentre/login HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
               65 * 1024);
  refused_headers(&s, req, (size_t)n, 413);

  /* Chunked body that grows over the cap while being sent. */
  n = snprintf(req, sizeof req, "POST /v1/enroll HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 20; i++) {
    n += snprintf(req + n, sizeof req - (size_t)n, "1000\r\n");
    memset(req + n, 'a', 4096);
    n += 4096;
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
  }
  assert_int_equal(ih_request_once(&s, req, (size_t)n, 0, &status, code, 10000), 0);
  assert_int_equal(status, 413);
  assert_string_equal(code, "BODY_TOO_LARGE");
  assert_true(ih_server_alive(&s));
  ih_stop(&s);
}

static void test_connection_cap(void **state) {
  ih_server s;
  const char *opts[] = {"--max-connections", "4", NULL};
  ih_start(&s, opts);
  ih_raw r[5];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 4; i++) assert_int_equal(ih_raw_connect(&s, &r[i], 0, 10000), 0);
  /* The fifth is closed at once: its handshake cannot complete. */
  assert_int_not_equal(ih_raw_connect(&s, &r[4], 0, 10000), 0);
  /* The four are unaffected. */
  size_t got;
  int status;
  char code[64];
  size_t used;
  for (int i = 0; i < 4; i++) {
    assert_int_equal(ih_raw_send(&r[i], HEALTH, strlen(HEALTH), 5000), 0);
    assert_int_equal(ih_raw_recv(&r[i], buf, sizeof buf, &got, 1, 10000), 1);
    assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
    assert_int_equal(status, 200);
  }
  /* Freeing one slot lets a new client in (the server notices the close
   * asynchronously: retry for a while). */
  ih_raw_free(&r[0]);
  int ok = -1;
  for (int tries = 0; tries < 100 && ok != 0; tries++) {
    ok = ih_raw_connect(&s, &r[0], 0, 5000);
    if (ok != 0) ih_sleep_ms(50);
  }
  assert_int_equal(ok, 0);
  assert_int_equal(ih_raw_send(&r[0], HEALTH, strlen(HEALTH), 5000), 0);
  assert_int_equal(ih_raw_recv(&r[0], buf, sizeof buf - 1, &got, 1, 10000), 1);
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 200);
  /* the metrics listener is apart: not one of the four, and it counted */
  assert_true(ih_metric(&s, "mentorlog_connections_refused_total") >= 1);
  for (int i = 0; i < 5; i++) ih_raw_free(&r[i]);
  ih_stop(&s);
}

static void test_sigterm_drains_in_flight(void **state) {
  ih_server s;
  const char *opts[] = {"--drain-timeout", "20s", NULL};
  ih_start(&s, opts);
  ih_raw busy = {0}, idle = {0};
  size_t got, used;
  int status;
  char code[64];
  assert_int_equal(ih_raw_connect(&s, &busy, 0, 10000), 0);
  assert_int_equal(ih_raw_connect(&s, &idle, 0, 10000), 0);
  /* A request half-way through when the signal arrives. */
  const char *part1 = "GET /v1/log/sth HTTP/1.1\r\nHost: x\r\n";
  const char *part2 = "Accept: application/json\r\n\r\n";
  assert_int_equal(ih_raw_send(&busy, part1, strlen(part1), 5000), 0);
  ih_sleep_ms(200); /* let the server read it */
  kill(s.pid, SIGTERM);
  /* The idle connection is closed by the drain. */
  assert_int_equal(ih_raw_recv(&idle, buf, sizeof buf, &got, 0, 15000), 0);
  assert_int_equal(got, 0);
  /* New connections are no longer accepted. */
  ih_raw late = {0};
  assert_int_not_equal(ih_raw_connect(&s, &late, 0, 5000), 0);
  ih_raw_free(&late);
  /* The in-flight request completes, with Connection: close. */
  assert_int_equal(ih_raw_send(&busy, part2, strlen(part2), 5000), 0);
  assert_int_equal(ih_raw_recv(&busy, buf, sizeof buf - 1, &got, 0, 15000), 0);
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 200);
  buf[got] = 0;
  assert_non_null(strstr((char *)buf, "Connection: close"));
  ih_raw_free(&busy);
  ih_raw_free(&idle);
  int st = 0;
  assert_int_equal(ih_server_signal_wait(&s, 0, 30000, &st), 0); /* signal 0: just wait */
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  char *log = ih_server_log(&s);
  assert_non_null(log);
  assert_non_null(strstr(log, "msg=draining"));
  assert_non_null(strstr(log, "msg=stopped"));
  assert_null(strstr(log, "loop_not_closed"));
  free(log);
  ih_server_cleanup(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_timeouts, ih_teardown),
      cmocka_unit_test_teardown(test_size_caps, ih_teardown),
      cmocka_unit_test_teardown(test_connection_cap, ih_teardown),
      cmocka_unit_test_teardown(test_sigterm_drains_in_flight, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
