/*
 * test_transport.c — the retry policy of tools/netclient/transport.h with an
 * injected clock, sleep and random source: the backoff ceilings and their
 * cap, the jitter range, Retry-After parsing (delta-seconds and IMF-fixdate,
 * cross-checked against mlproto_http_date), and the exact schedule of
 * ml_transport_request against a real loopback port that refuses
 * connections (attempt cap, overall deadline). The same policy against the
 * real server is tests/integration/test_net_transport.c.
 */
#include "mlproto/errors.h"
#include "mlproto/http.h"
#include "netclient.h"
#include "transport.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------ fake clock etc. -- */

#define MAX_EVENTS 64

typedef struct fake {
  int64_t now;                /* ms; advanced only by sleep */
  int64_t slept[MAX_EVENTS];  /* every sleep, in order */
  unsigned n_slept;
  const uint64_t *rng;        /* values returned by random64, cycled */
  unsigned n_rng, rng_at;
  ml_transport_retry retries[MAX_EVENTS];
  unsigned n_retries;
  int64_t unix_now;
} fake;

static int64_t fake_clock(void *ctx) { return ((fake *)ctx)->now; }

static void fake_sleep(void *ctx, int64_t ms) {
  fake *f = ctx;
  assert_true(f->n_slept < MAX_EVENTS);
  assert_true(ms >= 0);
  f->slept[f->n_slept++] = ms;
  f->now += ms;
}

static uint64_t fake_random(void *ctx) {
  fake *f = ctx;
  assert_true(f->n_rng > 0);
  return f->rng[f->rng_at++ % f->n_rng];
}

static int64_t fake_unix(void *ctx) { return ((fake *)ctx)->unix_now; }

static void fake_on_retry(void *ctx, const ml_transport_retry *r) {
  fake *f = ctx;
  assert_true(f->n_retries < MAX_EVENTS);
  f->retries[f->n_retries++] = *r;
}

static ml_transport_options fake_options(fake *f) {
  ml_transport_options o = ML_TRANSPORT_OPTIONS_INIT;
  o.clock_ms = fake_clock;
  o.sleep_ms = fake_sleep;
  o.random64 = fake_random;
  o.unix_time = fake_unix;
  o.on_retry = fake_on_retry;
  o.ctx = f;
  return o;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* ------------------------------------------------------------ schedule -- */

static void test_backoff_ceilings_and_cap(void **state) {
  (void)state;
  /* defaults: base 250 ms, cap 8 s; rnd = ceiling picks the top of the range */
  const int64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
  for (unsigned n = 1; n <= 8; n++) {
    int64_t c = want[n - 1];
    assert_int_equal(ml_transport_backoff_ms(NULL, n, -1, (uint64_t)c), c);
    assert_int_equal(ml_transport_backoff_ms(NULL, n, -1, (uint64_t)c + 1), 0); /* wraps */
    assert_int_equal(ml_transport_backoff_ms(NULL, n, -1, 0), 0);
  }
  /* a huge retry number neither overflows nor passes the cap */
  assert_int_equal(ml_transport_backoff_ms(NULL, 4000000000u, -1, 8000), 8000);
  assert_int_equal(ml_transport_backoff_ms(NULL, 64, -1, UINT64_MAX), (int64_t)(UINT64_MAX % 8001));
  /* custom base and cap: a cap that is not a power-of-two multiple of base */
  ml_transport_options o = ML_TRANSPORT_OPTIONS_INIT;
  o.base_ms = 100;
  o.max_backoff_ms = 650;
  assert_int_equal(ml_transport_backoff_ms(&o, 1, -1, 100), 100);
  assert_int_equal(ml_transport_backoff_ms(&o, 3, -1, 400), 400);
  assert_int_equal(ml_transport_backoff_ms(&o, 4, -1, 650), 650);
  assert_int_equal(ml_transport_backoff_ms(&o, 4, -1, 651), 0);
  assert_int_equal(ml_transport_backoff_ms(&o, 30, -1, 650), 650);
  /* Retry-After: at least what the server said, plus less than one base */
  assert_int_equal(ml_transport_backoff_ms(&o, 1, 2000, 0), 2000);
  assert_int_equal(ml_transport_backoff_ms(&o, 5, 2000, 99), 2099);
  assert_int_equal(ml_transport_backoff_ms(&o, 5, 2000, 100), 2000);
  assert_int_equal(ml_transport_backoff_ms(&o, 1, 0, 57), 57);
  /* bad options */
  o.version = 99;
  assert_int_equal(ml_transport_backoff_ms(&o, 1, -1, 0), -1);
}

static void test_jitter_covers_its_range(void **state) {
  (void)state;
  /* full jitter: uniform over [0, ceiling], so over 20,000 draws the
   * extremes are nearly reached and the mean is near ceiling / 2 */
  uint64_t seed = 42;
  for (unsigned n = 1; n <= 7; n++) {
    int64_t ceiling = n >= 6 ? 8000 : 250 << (n - 1);
    int64_t lo = INT64_MAX, hi = -1;
    double sum = 0;
    for (int i = 0; i < 20000; i++) {
      int64_t w = ml_transport_backoff_ms(NULL, n, -1, splitmix(&seed));
      assert_true(w >= 0 && w <= ceiling);
      lo = w < lo ? w : lo;
      hi = w > hi ? w : hi;
      sum += (double)w;
    }
    assert_true(lo <= ceiling / 100);
    assert_true(hi >= ceiling - ceiling / 100);
    double mean = sum / 20000;
    assert_true(mean > 0.47 * (double)ceiling && mean < 0.53 * (double)ceiling);
  }
  for (int i = 0; i < 20000; i++) {
    int64_t w = ml_transport_backoff_ms(NULL, 3, 1000, splitmix(&seed));
    assert_true(w >= 1000 && w < 1250);
  }
}

static void test_retryable_classes(void **state) {
  (void)state;
  assert_true(ml_transport_status_retryable(429));
  assert_true(ml_transport_status_retryable(503));
  const int never[] = {200, 204, 301, 400, 401, 403, 404, 408, 409, 413, 431, 500, 502, 504, 507};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
    assert_false(ml_transport_status_retryable(never[i]));
  assert_true(ml_transport_error_retryable(MLPROTO_ERR_IO));
  assert_true(ml_transport_error_retryable(MLPROTO_ERR_TLS_CLOSED));
  assert_true(ml_transport_error_retryable(MLPROTO_ERR_REQUEST_TIMEOUT));
  const int fatal[] = {MLPROTO_ERR_TLS_PIN, MLPROTO_ERR_TLS_CERT, MLPROTO_ERR_TLS,
                       MLPROTO_ERR_BAD_HTTP, MLPROTO_ERR_BODY_TOO_LARGE,
                       MLPROTO_ERR_HEADERS_TOO_LARGE, MLPROTO_ERR_OUT_OF_MEMORY,
                       MLPROTO_ERR_INVALID_ARGUMENT};
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
    assert_false(ml_transport_error_retryable(fatal[i]));
}

/* --------------------------------------------------------- Retry-After -- */

static void test_retry_after_parse(void **state) {
  (void)state;
  int64_t ms;
  const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
  assert_int_equal(ml_transport_parse_retry_after("1", now, &ms), MLPROTO_OK);
  assert_int_equal(ms, 1000);
  assert_int_equal(ml_transport_parse_retry_after(" 120\t", now, &ms), MLPROTO_OK);
  assert_int_equal(ms, 120000);
  assert_int_equal(ml_transport_parse_retry_after("0", now, &ms), MLPROTO_OK);
  assert_int_equal(ms, 0);
  assert_int_equal(ml_transport_parse_retry_after("99999999999999999999999", now, &ms), MLPROTO_OK);
  assert_int_equal(ms, INT64_C(1000000000) * 1000);
  assert_int_equal(ml_transport_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now, &ms),
                   MLPROTO_OK);
  assert_int_equal(ms, 10000);
  assert_int_equal(ml_transport_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now, &ms),
                   MLPROTO_OK);
  assert_int_equal(ms, 0);
  assert_int_equal(ml_transport_parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now, &ms),
                   MLPROTO_OK);
  assert_int_equal(ms, 0); /* in the past: go now */
  const char *bad[] = {"", "  ", "-1", "+1", "1.5", "1 s", "0x10", "soon",
                       "Mon, 06 Nov 1994 08:49:47 GMT",  /* wrong weekday */
                       "Sun, 06 Nov 1994 08:49:47 UTC",  /* not GMT */
                       "Sun, 6 Nov 1994 08:49:47 GMT",   /* not fixed width */
                       "Sunday, 06-Nov-94 08:49:37 GMT", /* obsolete RFC 850 form */
                       "Sun Nov  6 08:49:37 1994",       /* obsolete asctime form */
                       "Tue, 29 Feb 2022 00:00:00 GMT",  /* not a leap year */
                       "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:47 GMT"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ms = 7;
    assert_int_equal(ml_transport_parse_retry_after(bad[i], now, &ms),
                     MLPROTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(ms, -1);
  }
  assert_int_equal(ml_transport_parse_retry_after(NULL, now, &ms), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(ml_transport_parse_retry_after("1", now, NULL), MLPROTO_ERR_INVALID_ARGUMENT);
  /* round trip against the server's formatter, over 1970..9999 */
  uint64_t seed = 7;
  char date[MLPROTO_HTTP_DATE_LEN];
  for (int i = 0; i < 5000; i++) {
    int64_t t = (int64_t)(splitmix(&seed) % UINT64_C(253402300799));
    assert_int_equal(mlproto_http_date(date, t), MLPROTO_OK);
    assert_int_equal(ml_transport_parse_retry_after(date, t - 42, &ms), MLPROTO_OK);
    assert_int_equal(ms, 42000);
  }
  assert_int_equal(mlproto_http_date(date, 951782400), MLPROTO_OK); /* 2000-02-29 */
  assert_int_equal(ml_transport_parse_retry_after(date, 951782399, &ms), MLPROTO_OK);
  assert_int_equal(ms, 1000);
}

/* ------------------------------------- the loop, against a refusing port -- */

/* A loopback port that refuses connections for as long as *fd is open
 * (bound, never listening). */
static uint16_t refusing_port(int *fd) {
  *fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(*fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
  return ntohs(a.sin_port);
}

static ml_netclient *client_for(uint16_t port) {
  ml_netclient_options no = ML_NETCLIENT_OPTIONS_INIT;
  no.host = "127.0.0.1";
  no.port = port;
  no.pin_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
  no.timeout_ms = 2000;
  ml_netclient *c = NULL;
  assert_int_equal(ml_netclient_open(&c, &no), MLPROTO_OK);
  return c;
}

static void test_schedule_attempt_cap(void **state) {
  (void)state;
  int fd;
  ml_netclient *c = client_for(refusing_port(&fd));
  static const uint64_t rng[] = {37, 1000, UINT64_MAX, 123456789, 5};
  fake f = {.rng = rng, .n_rng = 5};
  ml_transport_options o = fake_options(&f);
  o.max_attempts = 5;
  o.base_ms = 100;
  o.max_backoff_ms = 500;
  ml_netclient_response r;
  ml_transport_report rep;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/healthz", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_IO);
  assert_null(r.body);
  /* ceilings 100, 200, 400, 500 (capped); wait = rnd % (ceiling + 1) */
  const int64_t want[] = {37 % 101, 1000 % 201, (int64_t)(UINT64_MAX % 401), 123456789 % 501};
  assert_int_equal(f.n_slept, 4);
  assert_int_equal(f.n_retries, 4);
  int64_t total = 0;
  for (unsigned i = 0; i < 4; i++) {
    assert_int_equal(f.slept[i], want[i]);
    assert_int_equal(f.retries[i].wait_ms, want[i]);
    assert_int_equal(f.retries[i].attempt, i + 1);
    assert_int_equal(f.retries[i].error, MLPROTO_ERR_IO);
    assert_int_equal(f.retries[i].status, 0);
    assert_int_equal(f.retries[i].retry_after_ms, -1);
    total += want[i];
  }
  assert_int_equal(rep.attempts, 5);
  assert_int_equal(rep.waited_ms, total);
  assert_int_equal(rep.last_error, MLPROTO_ERR_IO);
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 0); /* every one refused */

  /* max_attempts 1: no retry, no sleep */
  memset(&f, 0, sizeof f);
  f.rng = rng;
  f.n_rng = 5;
  o.max_attempts = 1;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_IO);
  assert_int_equal(rep.attempts, 1);
  assert_int_equal(f.n_slept, 0);
  ml_netclient_close(c);
  close(fd);
}

static void test_schedule_deadline(void **state) {
  (void)state;
  int fd;
  ml_netclient *c = client_for(refusing_port(&fd));
  static const uint64_t rng[] = {100, 200, 400, 800};
  fake f = {.rng = rng, .n_rng = 4, .now = 1000000};
  ml_transport_options o = fake_options(&f);
  o.max_attempts = 50;
  o.base_ms = 100;
  o.max_backoff_ms = 10000;
  o.deadline_ms = 300;
  ml_netclient_response r;
  ml_transport_report rep;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_IO);
  /* waits 100 and 200 end at the deadline exactly; 400 would pass it, so the
   * third failure is returned at once, without sleeping */
  assert_int_equal(f.n_slept, 2);
  assert_int_equal(f.slept[0], 100);
  assert_int_equal(f.slept[1], 200);
  assert_int_equal(rep.attempts, 3);
  assert_int_equal(rep.waited_ms, 300);
  assert_int_equal(f.now, 1000300);
  ml_netclient_close(c);
  close(fd);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  int fd;
  ml_netclient *c = client_for(refusing_port(&fd));
  ml_netclient_response r;
  ml_transport_report rep = {9, 9, 9};
  ml_transport_options o = ML_TRANSPORT_OPTIONS_INIT;
  o.version = 2;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(rep.attempts, 9); /* untouched */
  o.version = ML_TRANSPORT_OPTIONS_VERSION;
  o.deadline_ms = -1;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/", NULL, 0, NULL, 0, &r, NULL),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(ml_transport_request(NULL, NULL, "GET", "/", NULL, 0, NULL, 0, &r, NULL),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(ml_transport_request(c, NULL, "GET", "/", NULL, 0, NULL, 0, NULL, NULL),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  /* a request the client refuses to write is not retried */
  fake f = {0};
  o = fake_options(&f);
  assert_int_equal(ml_transport_request(c, &o, "GET", "no-slash", NULL, 0, NULL, 0, &r, &rep),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(rep.attempts, 1);
  assert_int_equal(f.n_slept, 0);
  ml_netclient_close(c);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backoff_ceilings_and_cap),
      cmocka_unit_test(test_jitter_covers_its_range),
      cmocka_unit_test(test_retryable_classes),
      cmocka_unit_test(test_retry_after_parse),
      cmocka_unit_test(test_schedule_attempt_cap),
      cmocka_unit_test(test_schedule_deadline),
      cmocka_unit_test(test_invalid_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
