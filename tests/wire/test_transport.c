/*
 * test_transport.c — the retry policy of tools/netclient/transport.h with an
 * injected clock, sleep and random source: the backoff ceilings and their
 * cap, the jitter range, Retry-After parsing (delta-seconds and IMF-fixdate,
 * cross-checked against mlproto_http_date), and the exact schedule of
 * ml_transport_request against a real loopback port that refuses
 * connections (attempt cap, overall deadline) and against a scripted TLS
 * server thread on loopback (429/503 with delta-seconds and HTTP-date
 * Retry-After, a response cut short, a 400 that is final). The same policy
 * against the real server is tests/integration/test_net_transport.c.
 */
#include "mlproto/errors.h"
#include "mlproto/http.h"
#include "netclient.h"
#include "transport.h"
#include "testutil.h"
#include "tls_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* ------------------------------- the loop, against a scripted TLS server -- */

/* One answer per request, in order across connections; close: end the
 * connection after sending it (0 keep, 1 close). Past the script: 200. */
typedef struct step {
  const char *raw;
  int close;
} step;

typedef struct scripted {
  int lfd;
  uint16_t port;
  mlproto_tls_config *cfg;
  pthread_t thread;
  atomic_int stop;
  atomic_int accepted;
  atomic_int served;
  const step *script;
  int n_script;
} scripted;

static int flush_tls(int fd, mlproto_tls *t) {
  uint8_t *d;
  size_t n, off = 0;
  mlproto_tls_take_output(t, &d, &n);
  while (off < n) {
    ssize_t k = send(fd, d + off, n - off, MSG_NOSIGNAL);
    if (k <= 0)
      break;
    off += (size_t)k;
  }
  mlproto_tls_output_free(d);
  return off == n ? 0 : -1;
}

static const char ok_200[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n";

/* Serves one connection; returns when the script says close or the peer
 * goes away. No cmocka asserts here: this is not the test's thread. */
static void scripted_conn(scripted *s, int fd) {
  mlproto_tls *t = NULL;
  mlproto_http_parser *p = NULL;
  if (mlproto_tls_new(&t, s->cfg) != MLPROTO_OK || mlproto_http_parser_new(&p, NULL) != MLPROTO_OK)
    goto out;
  uint8_t net[16384], plain[16384];
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 5000) <= 0)
      goto out;
    size_t room = mlproto_tls_inbound_space(t);
    ssize_t k = recv(fd, net, room < sizeof net ? room : sizeof net, 0);
    if (k <= 0 || mlproto_tls_feed(t, net, (size_t)k) != MLPROTO_OK)
      goto out;
    int hs = mlproto_tls_handshake(t);
    if (flush_tls(fd, t) != 0 || hs < 0)
      goto out;
    if (hs != MLPROTO_OK)
      continue;
    for (;;) {
      size_t n, used;
      int rc = mlproto_tls_read(t, plain, sizeof plain, &n);
      flush_tls(fd, t);
      if (rc == MLPROTO_TLS_AGAIN)
        break;
      if (rc != MLPROTO_OK)
        goto out;
      const mlproto_http_request *r = NULL;
      /* requests here are small: one read holds a whole one */
      if (mlproto_http_parser_feed(p, plain, n, &used, &r) != MLPROTO_OK || !r)
        goto out;
      int i = atomic_fetch_add(&s->served, 1);
      const step st = i < s->n_script ? s->script[i] : (step){ok_200, 0};
      size_t w;
      if (mlproto_tls_write(t, st.raw, strlen(st.raw), &w) < 0 || flush_tls(fd, t) != 0 ||
          st.close)
        goto out; /* a close without close_notify: the connection just ends */
      mlproto_http_parser_next(p);
    }
  }
out:
  mlproto_http_parser_free(p);
  mlproto_tls_free(t);
}

static void *scripted_main(void *arg) {
  scripted *s = arg;
  while (!s->stop) {
    struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
    if (poll(&pf, 1, 20) <= 0)
      continue;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    s->accepted++;
    scripted_conn(s, fd);
    close(fd);
  }
  return NULL;
}

static void scripted_start(scripted *s, const step *script, int n) {
  memset(s, 0, sizeof *s);
  s->script = script;
  s->n_script = n;
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s->lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->lfd, 16), 0);
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
  s->port = ntohs(a.sin_port);
  s->cfg = tl_server_config(0, 1);
  assert_non_null(s->cfg);
  assert_int_equal(pthread_create(&s->thread, NULL, scripted_main, s), 0);
}

static void scripted_stop(scripted *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->lfd);
  mlproto_tls_config_free(s->cfg);
}

static ml_netclient *client_scripted(const scripted *s) {
  ml_netclient_options no = ML_NETCLIENT_OPTIONS_INIT;
  no.host = "127.0.0.1";
  no.port = s->port;
  no.tls_hostname = "localhost";
  no.pin_sha256 = tl_fingerprint();
  no.timeout_ms = 5000;
  ml_netclient *c = NULL;
  assert_int_equal(ml_netclient_open(&c, &no), MLPROTO_OK);
  return c;
}

static void test_schedule_with_server_answers(void **state) {
  (void)state;
  static const step script[] = {
      /* 1: 503 with delta-seconds, connection kept */
      {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n", 0},
      /* 2: 429 with an HTTP-date 7 s after the fake wall clock, closed */
      {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: Tue, 14 Nov 2023 22:13:27 GMT\r\n"
       "Content-Length: 0\r\nConnection: close\r\n\r\n", 1},
      /* 3: cut short: 10 of 100 body bytes, then the connection ends */
      {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", 1},
      /* 4: 429 with an unparsable Retry-After: plain backoff */
      {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n", 0},
      /* 5: the answer */
  };
  scripted srv;
  scripted_start(&srv, script, 4);
  ml_netclient *c = client_scripted(&srv);
  static const uint64_t rng[] = {17, 99, 1000, 333};
  fake f = {.rng = rng, .n_rng = 4, .unix_now = 1700000000}; /* 22:13:20 GMT */
  ml_transport_options o = fake_options(&f);
  o.base_ms = 100;
  ml_netclient_response r;
  ml_transport_report rep;
  assert_int_equal(ml_transport_request(c, &o, "GET", "/v1/pull?since=0", NULL, 0, NULL, 0, &r,
                                        &rep),
                   MLPROTO_OK);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 3);
  assert_memory_equal(r.body, "ok\n", 3);
  ml_netclient_response_free(&r);
  assert_int_equal(rep.attempts, 5);
  assert_int_equal(f.n_retries, 4);
  /* 503: 3 s + 17 % 100 */
  assert_int_equal(f.retries[0].status, 503);
  assert_int_equal(f.retries[0].retry_after_ms, 3000);
  assert_int_equal(f.slept[0], 3017);
  /* 429 + HTTP-date: 7 s + 99 % 100 */
  assert_int_equal(f.retries[1].status, 429);
  assert_int_equal(f.retries[1].retry_after_ms, 7000);
  assert_int_equal(f.slept[1], 7099);
  /* truncated: IO, full jitter, retry 3: ceiling 400 → 1000 % 401 */
  assert_int_equal(f.retries[2].status, 0);
  assert_int_equal(f.retries[2].error, MLPROTO_ERR_IO);
  assert_int_equal(f.slept[2], 1000 % 401);
  /* bad Retry-After ignored: retry 4, ceiling 800 → 333 */
  assert_int_equal(f.retries[3].status, 429);
  assert_int_equal(f.retries[3].retry_after_ms, -1);
  assert_int_equal(f.slept[3], 333);
  assert_int_equal(rep.waited_ms, 3017 + 7099 + 1000 % 401 + 333);
  assert_int_equal(rep.last_error, MLPROTO_ERR_IO);
  /* closed after answers 2 and 3: three connections in all */
  assert_int_equal(srv.accepted, 3);
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 3);
  ml_netclient_close(c);
  scripted_stop(&srv);
}

static void test_final_status_not_retried(void **state) {
  (void)state;
  static const step script[] = {
      {"HTTP/1.1 400 Bad Request\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n", 0},
      {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", 0},
      {"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 61\r\nContent-Length: 0\r\n\r\n", 0},
  };
  scripted srv;
  scripted_start(&srv, script, 3);
  ml_netclient *c = client_scripted(&srv);
  static const uint64_t rng[] = {1};
  fake f = {.rng = rng, .n_rng = 1};
  ml_transport_options o = fake_options(&f);
  ml_netclient_response r;
  ml_transport_report rep;
  const int want[] = {400, 500, 429 /* over max_retry_after_ms (60 s): handed back */};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ml_transport_request(c, &o, "GET", "/", NULL, 0, NULL, 0, &r, &rep),
                     MLPROTO_OK);
    assert_int_equal(r.status, want[i]);
    assert_int_equal(rep.attempts, 1);
    ml_netclient_response_free(&r);
  }
  assert_int_equal(f.n_slept, 0);
  assert_int_equal(srv.served, 3);
  ml_netclient_close(c);
  scripted_stop(&srv);
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
      cmocka_unit_test(test_schedule_with_server_answers),
      cmocka_unit_test(test_final_status_not_retried),
      cmocka_unit_test(test_invalid_arguments),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  tl_free_globals();
  return rc;
}
