/* test_net_transport.c — the CLI's retry policy (tools/netclient/transport.h)
 * against the REAL mentorlog-server over TLS on loopback, with the real
 * clock, sleep and random source: a 429 with Retry-After is waited out
 * (at least what the header said) and then answered; a 503 UNAVAILABLE is
 * retried on a fresh connection each time until the attempts run out; a
 * server killed and restarted between requests, or down when the request
 * starts and back during the backoff, is reconnected to; 400/401/404 and a
 * pin mismatch come back at once, after one attempt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mlproto/errors.h"
#include "netclient.h"
#include "transport.h"

static ml_netclient *client(ih_server *s, const char *pin) {
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = s->host;
  o.port = (uint16_t)s->port;
  o.tls_hostname = "mentorlog-server";
  o.pin_sha256 = pin ? pin : s->fingerprint;
  o.timeout_ms = 5000;
  ml_netclient *c = NULL;
  assert_int_equal(ml_netclient_open(&c, &o), MLPROTO_OK);
  return c;
}

#define MAX_RETRIES 32

typedef struct recorder {
  ml_transport_retry r[MAX_RETRIES];
  unsigned n;
  ih_server *restart; /* restart this server (same port) at the first retry */
} recorder;

static void on_retry(void *ctx, const ml_transport_retry *r) {
  recorder *rec = ctx;
  assert_true(rec->n < MAX_RETRIES);
  rec->r[rec->n++] = *r;
  if (rec->restart) {
    assert_int_equal(ih_server_start(rec->restart), 0);
    rec->restart = NULL;
  }
}

static ml_transport_options real_options(recorder *rec) {
  ml_transport_options o = ML_TRANSPORT_OPTIONS_INIT;
  o.on_retry = on_retry; /* clock, sleep and rng: the real ones */
  o.ctx = rec;
  return o;
}

static void test_429_waits_retry_after(void **state) {
  (void)state;
  static const char *const extra[] = {"--unauth-rate", "1", NULL};
  ih_server srv;
  ih_start(&srv, extra);
  ml_netclient *c = client(&srv, NULL);
  ml_netclient_response r;
  /* rate 1/s, burst 2: a few quick requests exhaust the bucket */
  int limited = 0;
  long ra_header = -1;
  for (int i = 0; i < 20 && !limited; i++) {
    assert_int_equal(ml_netclient_request(c, "GET", "/healthz", NULL, 0, NULL, 0, &r), MLPROTO_OK);
    if (r.status == 429) {
      limited = 1;
      assert_non_null(r.retry_after);
      ra_header = atol(r.retry_after);
    } else {
      assert_int_equal(r.status, 200);
    }
    ml_netclient_response_free(&r);
  }
  assert_true(limited);
  assert_true(ra_header >= 1);

  recorder rec = {0};
  ml_transport_options o = real_options(&rec);
  ml_transport_report rep;
  uint64_t t0 = ih_now_ms();
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_OK);
  uint64_t elapsed = ih_now_ms() - t0;
  assert_int_equal(r.status, 200);
  ml_netclient_response_free(&r);
  /* the bucket was still empty: at least one 429, each waited out */
  assert_true(rep.attempts >= 2);
  assert_int_equal(rec.n, rep.attempts - 1);
  int64_t sum = 0;
  for (unsigned i = 0; i < rec.n; i++) {
    assert_int_equal(rec.r[i].status, 429);
    assert_int_equal(rec.r[i].error, 0);
    assert_true(rec.r[i].retry_after_ms >= 1000);
    assert_true(rec.r[i].wait_ms >= rec.r[i].retry_after_ms);
    assert_true(rec.r[i].wait_ms < rec.r[i].retry_after_ms + ML_TRANSPORT_DEFAULT_BASE_MS);
    sum += rec.r[i].wait_ms;
  }
  /* the bucket refills meanwhile: never more than the hammer's 429 said */
  assert_true(rec.r[0].retry_after_ms <= ra_header * 1000);
  assert_int_equal(rep.waited_ms, sum);
  assert_true(elapsed >= (uint64_t)sum); /* it really slept */
  assert_int_equal(rep.last_error, 0);
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 1); /* the 429s kept the connection alive */

  /* A Retry-After longer than we are willing to wait: the 429 comes back. */
  for (int i = 0; i < 5; i++) { /* empty the bucket again */
    assert_int_equal(ml_netclient_request(c, "GET", "/healthz", NULL, 0, NULL, 0, &r), MLPROTO_OK);
    ml_netclient_response_free(&r);
  }
  memset(&rec, 0, sizeof rec);
  o.max_retry_after_ms = 500;
  t0 = ih_now_ms();
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 429);
  assert_int_equal(rep.attempts, 1);
  assert_int_equal(rep.waited_ms, 0);
  assert_int_equal(rec.n, 0);
  assert_true(ih_now_ms() - t0 < 1000);
  ml_netclient_response_free(&r);
  ml_netclient_close(c);
  ih_stop(&srv);
}

static void test_final_answers_not_retried(void **state) {
  (void)state;
  static const char *const extra[] = {"--unauth-rate", "1", NULL};
  ih_server srv;
  ih_start(&srv, extra);
  ml_netclient *c = client(&srv, NULL);
  recorder rec = {0};
  ml_transport_options o = real_options(&rec);
  ml_netclient_response r;
  ml_transport_report rep;
  struct {
    const char *method, *path, *body;
    int status;
  } cases[] = {
      {"GET", "/healthz", "x", 400},     /* GET with a body (before the rate limit) */
      {"GET", "/v1/pull?since=0", NULL, 401}, /* no credentials */
      {"GET", "/no/such/route", NULL, 404},
      {"DELETE", "/healthz", NULL, 405},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t t0 = ih_now_ms();
    const char *b = cases[i].body;
    assert_int_equal(ml_transport_request(c, &o, cases[i].method, cases[i].path, NULL, 0, b,
                                          b ? strlen(b) : 0, &r, &rep),
                     MLPROTO_OK);
    assert_int_equal(r.status, cases[i].status);
    assert_int_equal(rep.attempts, 1);
    assert_int_equal(rep.waited_ms, 0);
    assert_true(ih_now_ms() - t0 < 1000);
    ml_netclient_response_free(&r);
  }
  assert_int_equal(rec.n, 0);
  ml_netclient_close(c);

  /* a server that fails the pin is never asked again */
  c = client(&srv, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_TLS_PIN);
  assert_null(r.body);
  assert_int_equal(rep.attempts, 1);
  assert_int_equal(rep.last_error, MLPROTO_ERR_TLS_PIN);
  assert_int_equal(rec.n, 0);
  ml_netclient_close(c);
  ih_stop(&srv);
}

static void test_503_retried_until_attempts_run_out(void **state) {
  (void)state;
  /* a 64 KiB body (several TLS records; an enrolment: it needs no token, so
   * it is read at once) passes the 1 KiB budget of buffered request bytes
   * before it is complete (the address's share is all of it, at least 1 KiB): 503
   * UNAVAILABLE, Retry-After: 1, connection closed */
  static const char *const extra[] = {"--max-inflight-bytes", "1K", NULL};
  ih_server srv;
  ih_start(&srv, extra);
  ml_netclient *c = client(&srv, NULL);
  recorder rec = {0};
  ml_transport_options o = real_options(&rec);
  o.max_attempts = 3;
  static uint8_t body[64 * 1024];
  ml_netclient_response r;
  ml_transport_report rep;
  uint64_t t0 = ih_now_ms();
  assert_int_equal(ml_transport_request(c, &o, "POST", "/v1/enroll", NULL, 0, body, sizeof body,
                                        &r, &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 503);
  assert_non_null(r.retry_after);
  ml_netclient_response_free(&r);
  assert_int_equal(rep.attempts, 3);
  assert_int_equal(rec.n, 2);
  for (unsigned i = 0; i < 2; i++) {
    assert_int_equal(rec.r[i].status, 503);
    assert_int_equal(rec.r[i].retry_after_ms, 1000);
    assert_true(rec.r[i].wait_ms >= 1000);
  }
  assert_true(ih_now_ms() - t0 >= 2000);
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 3); /* closed after each 503: a fresh one each time */
  ml_netclient_close(c);
  ih_stop(&srv);
}

static void test_reconnect_after_restart(void **state) {
  (void)state;
  ih_server srv;
  ih_start(&srv, NULL);
  /* restarts come back on the same port (the last --listen wins) */
  static char listen[32];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", srv.port);
  srv.extra[0] = "--listen";
  srv.extra[1] = listen;
  srv.extra[2] = NULL;
  ml_netclient *c = client(&srv, NULL);
  recorder rec = {0};
  ml_transport_options o = real_options(&rec);
  ml_netclient_response r;
  ml_transport_report rep;
  ml_netclient_stats st;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 200);
  ml_netclient_response_free(&r);

  /* 1. killed and restarted between two requests: the kept-alive connection
   * is dead; the next request gets through on a new one */
  ih_server_kill(&srv);
  assert_int_equal(ih_server_start(&srv), 0);
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 200);
  ml_netclient_response_free(&r);
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 2);

  /* 2. down when the request starts (connection refused), back during the
   * backoff: retried, reconnected */
  ih_server_kill(&srv);
  memset(&rec, 0, sizeof rec);
  rec.restart = &srv;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 200);
  ml_netclient_response_free(&r);
  assert_int_equal(rep.attempts, 2);
  assert_int_equal(rec.n, 1);
  assert_int_equal(rec.r[0].error, MLPROTO_ERR_IO);
  assert_int_equal(rep.last_error, MLPROTO_ERR_IO);
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 3);
  assert_int_equal(st.requests, 3);

  /* 3. down for good: the deadline ends the retries with the error */
  ih_server_kill(&srv);
  memset(&rec, 0, sizeof rec);
  o.deadline_ms = 1500;
  o.base_ms = 100;
  o.max_attempts = 100;
  uint64_t t0 = ih_now_ms();
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_IO);
  uint64_t elapsed = ih_now_ms() - t0;
  assert_null(r.body);
  assert_true(rep.attempts >= 2);
  assert_int_equal(rec.n, rep.attempts - 1);
  assert_true(rep.waited_ms <= 1500);
  assert_true(elapsed < 3000); /* refused connections fail fast */
  ml_netclient_close(c);
  ih_server_cleanup(&srv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_429_waits_retry_after, ih_teardown),
      cmocka_unit_test_teardown(test_final_answers_not_retried, ih_teardown),
      cmocka_unit_test_teardown(test_503_retried_until_attempts_run_out, ih_teardown),
      cmocka_unit_test_teardown(test_reconnect_after_restart, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
