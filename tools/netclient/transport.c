/*
 * transport.c — retries with capped exponential backoff and full jitter, and
 * Retry-After, over ml_netclient (policy: transport.h).
 */
#include "transport.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RETRY_AFTER_MAX_S INT64_C(1000000000)

/* ------------------------------------------------------------ defaults -- */

static int64_t real_clock_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void real_sleep_ms(void *ctx, int64_t ms) {
  (void)ctx;
  if (ms <= 0)
    return;
  struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t real_random64(void *ctx) {
  (void)ctx;
  uint64_t v;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
    return v;
  /* jitter needs spread, not secrecy: the clock will do if the pool won't */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t s = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
  return splitmix64(&s);
}

static int64_t real_unix_time(void *ctx) {
  (void)ctx;
  return (int64_t)time(NULL);
}

typedef struct policy {
  unsigned max_attempts;
  int64_t base, max_backoff, max_retry_after, deadline;
} policy;

static int get_policy(const ml_transport_options *o, policy *p) {
  static const ml_transport_options defaults = ML_TRANSPORT_OPTIONS_INIT;
  if (!o)
    o = &defaults;
  if (o->version != ML_TRANSPORT_OPTIONS_VERSION || o->base_ms < 0 || o->max_backoff_ms < 0 ||
      o->max_retry_after_ms < 0 || o->deadline_ms < 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  p->max_attempts = o->max_attempts ? o->max_attempts : ML_TRANSPORT_DEFAULT_MAX_ATTEMPTS;
  p->base = o->base_ms ? o->base_ms : ML_TRANSPORT_DEFAULT_BASE_MS;
  p->max_backoff = o->max_backoff_ms ? o->max_backoff_ms : ML_TRANSPORT_DEFAULT_MAX_BACKOFF_MS;
  p->max_retry_after =
      o->max_retry_after_ms ? o->max_retry_after_ms : ML_TRANSPORT_DEFAULT_MAX_RETRY_AFTER_MS;
  p->deadline = o->deadline_ms ? o->deadline_ms : ML_TRANSPORT_DEFAULT_DEADLINE_MS;
  return MLPROTO_OK;
}

/* -------------------------------------------------------------- policy -- */

int ml_transport_status_retryable(int status) { return status == 429 || status == 503; }

int ml_transport_error_retryable(int err) {
  return err == MLPROTO_ERR_IO || err == MLPROTO_ERR_TLS_CLOSED ||
         err == MLPROTO_ERR_REQUEST_TIMEOUT;
}

int64_t ml_transport_backoff_ms(const ml_transport_options *o, unsigned n, int64_t retry_after_ms,
                                uint64_t rnd) {
  policy p;
  if (get_policy(o, &p) != MLPROTO_OK)
    return -1;
  if (retry_after_ms >= 0)
    return retry_after_ms + (int64_t)(rnd % (uint64_t)p.base);
  int64_t ceiling = p.base;
  for (unsigned i = 1; i < n && ceiling < p.max_backoff; i++)
    ceiling *= 2; /* stops at the first doubling past the cap: no overflow */
  if (ceiling > p.max_backoff)
    ceiling = p.max_backoff;
  return (int64_t)(rnd % ((uint64_t)ceiling + 1));
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7 IMF-fixdate) → unix s. */
static int parse_imf_fixdate(const char *s, size_t len, int64_t *out) {
  static const char wkdays[] = "MonTueWedThuFriSatSun";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
    return -1;
  int wd = -1, mon = -1;
  for (int i = 0; i < 7; i++)
    if (memcmp(s, wkdays + 3 * i, 3) == 0)
      wd = i;
  for (int i = 0; i < 12; i++)
    if (memcmp(s + 8, months + 3 * i, 3) == 0)
      mon = i + 1;
  int day, year, hh, mm, ss;
  if (wd < 0 || mon < 0 || digits(s + 5, 2, &day) || digits(s + 12, 4, &year) ||
      digits(s + 17, 2, &hh) || digits(s + 20, 2, &mm) || digits(s + 23, 2, &ss))
    return -1;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day < 1 || day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap) || hh > 23 ||
      mm > 59 || ss > 60 /* a leap second, read as :59 + 1 */)
    return -1;
  int64_t days = days_from_civil(year, mon, day);
  /* 1970-01-01 was a Thursday (index 3 from Monday) */
  if ((((days + 3) % 7) + 7) % 7 != wd)
    return -1;
  *out = days * 86400 + hh * 3600 + mm * 60 + ss;
  return 0;
}

int ml_transport_parse_retry_after(const char *v, int64_t now_unix, int64_t *ms) {
  if (!ms)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *ms = -1;
  if (!v)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  while (is_blank(*v))
    v++;
  size_t len = strlen(v);
  while (len && is_blank(v[len - 1]))
    len--;
  if (len == 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (v[0] >= '0' && v[0] <= '9') {
    int64_t s = 0;
    for (size_t i = 0; i < len; i++) {
      if (v[i] < '0' || v[i] > '9')
        return MLPROTO_ERR_INVALID_ARGUMENT;
      if (s < RETRY_AFTER_MAX_S)
        s = s * 10 + (v[i] - '0');
    }
    *ms = (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000;
    return MLPROTO_OK;
  }
  int64_t when;
  if (parse_imf_fixdate(v, len, &when) != 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int64_t d = when - now_unix;
  if (d > RETRY_AFTER_MAX_S)
    d = RETRY_AFTER_MAX_S;
  *ms = d > 0 ? d * 1000 : 0;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- request -- */

int ml_transport_request(ml_netclient *c, const ml_transport_options *o, const char *method,
                         const char *path, const mlproto_http_header *headers, size_t n_headers,
                         const void *body, size_t body_len, ml_netclient_response *resp,
                         ml_transport_report *report) {
  static const ml_transport_options defaults = ML_TRANSPORT_OPTIONS_INIT;
  if (!resp)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(resp, 0, sizeof *resp);
  policy p;
  if (!c || get_policy(o, &p) != MLPROTO_OK)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (!o)
    o = &defaults;
  int64_t (*clock_ms)(void *) = o->clock_ms ? o->clock_ms : real_clock_ms;
  void (*sleep_ms)(void *, int64_t) = o->sleep_ms ? o->sleep_ms : real_sleep_ms;
  uint64_t (*random64)(void *) = o->random64 ? o->random64 : real_random64;
  int64_t (*unix_time)(void *) = o->unix_time ? o->unix_time : real_unix_time;
  ml_transport_report rep = {0, 0, 0};
  int64_t deadline = clock_ms(o->ctx) + p.deadline;
  int rc;
  for (unsigned attempt = 1;; attempt++) {
    rc = ml_netclient_request(c, method, path, headers, n_headers, body, body_len, resp);
    rep.attempts = attempt;
    ml_transport_retry r = {attempt, 0, 0, -1, 0};
    if (rc == MLPROTO_OK) {
      r.status = resp->status;
      if (!ml_transport_status_retryable(r.status))
        break;
      if (resp->retry_after &&
          ml_transport_parse_retry_after(resp->retry_after, unix_time(o->ctx),
                                         &r.retry_after_ms) == MLPROTO_OK &&
          r.retry_after_ms > p.max_retry_after)
        break; /* the server wants more patience than we have: let the caller see it */
    } else {
      r.error = rep.last_error = rc;
      if (!ml_transport_error_retryable(rc))
        break;
    }
    if (attempt >= p.max_attempts)
      break;
    r.wait_ms = ml_transport_backoff_ms(o, attempt, r.retry_after_ms, random64(o->ctx));
    if (clock_ms(o->ctx) + r.wait_ms > deadline)
      break;
    if (o->on_retry)
      o->on_retry(o->ctx, &r);
    ml_netclient_response_free(resp);
    sleep_ms(o->ctx, r.wait_ms);
    rep.waited_ms += r.wait_ms;
  }
  if (report)
    *report = rep;
  return rc;
}
