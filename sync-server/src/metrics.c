/* metrics.c — see metrics.h. A mutex rather than atomics: every update is a
 * handful of instructions, contention is negligible next to a TLS record, and
 * rendering needs a consistent snapshot anyway. */
#include "metrics.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <string.h>

static const double push_bounds_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define N_PUSH_BOUNDS (sizeof push_bounds_ms / sizeof push_bounds_ms[0])

struct series2 {
  char a[MLS_METRICS_LABEL_MAX];
  char b[MLS_METRICS_LABEL_MAX];
  uint64_t count;
};

static struct {
  pthread_mutex_t mu;
  int64_t conn_open;
  uint64_t conn_total, conn_refused;
  uint64_t tls_full, tls_resumed, tls_failed;
  uint64_t linger[MLS_LINGER_END_COUNT], linger_bytes;
  struct series2 req[MLS_METRICS_MAX_SERIES];
  size_t n_req;
  struct series2 rec[MLS_METRICS_MAX_SERIES];
  size_t n_rec;
  uint64_t push_bucket[N_PUSH_BOUNDS];
  uint64_t push_count;
  double push_sum;
  /* mls_metrics_observe_push_times: batches and nanoseconds (a u64 of
   * nanoseconds lasts 584 years of pushing) */
  uint64_t push_ns, push_store_ns, push_lock_ns; /* batches: push_count */
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void label_copy(char *dst, const char *src) {
  size_t i = 0;
  if (src) {
    for (; src[i] && i + 1 < MLS_METRICS_LABEL_MAX; i++) {
      char c = src[i];
      int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      dst[i] = ok ? c : '_';
    }
  }
  if (i == 0) dst[i++] = '_';
  dst[i] = '\0';
}

/* Caller holds the mutex. Returns the series for (a, b), creating it, or the
 * shared "other" series once the table is full. */
static struct series2 *series_get(struct series2 *tab, size_t *n, const char *a, const char *b) {
  char la[MLS_METRICS_LABEL_MAX], lb[MLS_METRICS_LABEL_MAX];
  label_copy(la, a);
  label_copy(lb, b);
  for (size_t i = 0; i < *n; i++)
    if (strcmp(tab[i].a, la) == 0 && strcmp(tab[i].b, lb) == 0) return &tab[i];
  if (*n + 1 < MLS_METRICS_MAX_SERIES) {
    struct series2 *s = &tab[(*n)++];
    memcpy(s->a, la, sizeof la);
    memcpy(s->b, lb, sizeof lb);
    s->count = 0;
    return s;
  }
  /* The last slot is reserved for the overflow series. */
  struct series2 *s = &tab[MLS_METRICS_MAX_SERIES - 1];
  if (*n < MLS_METRICS_MAX_SERIES) {
    *n = MLS_METRICS_MAX_SERIES;
    strcpy(s->a, "other");
    strcpy(s->b, "other");
    s->count = 0;
  }
  return s;
}

void mls_metrics_conn_opened(void) {
  pthread_mutex_lock(&reg.mu);
  reg.conn_open++;
  reg.conn_total++;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_conn_closed(void) {
  pthread_mutex_lock(&reg.mu);
  if (reg.conn_open > 0) reg.conn_open--;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_conn_refused(void) {
  pthread_mutex_lock(&reg.mu);
  reg.conn_refused++;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_tls_handshake(int resumed) {
  pthread_mutex_lock(&reg.mu);
  if (resumed) reg.tls_resumed++;
  else reg.tls_full++;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_tls_failed(void) {
  pthread_mutex_lock(&reg.mu);
  reg.tls_failed++;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_linger(mls_linger_end end, uint64_t discarded) {
  if ((unsigned)end >= MLS_LINGER_END_COUNT) end = MLS_LINGER_ERROR;
  pthread_mutex_lock(&reg.mu);
  reg.linger[end]++;
  reg.linger_bytes += discarded;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_inc_request(const char *route, int status) {
  char st[16];
  int s = (status >= 100 && status <= 999) ? status : 0;
  st[0] = (char)('0' + s / 100);
  st[1] = (char)('0' + s / 10 % 10);
  st[2] = (char)('0' + s % 10);
  st[3] = '\0';
  pthread_mutex_lock(&reg.mu);
  series_get(reg.req, &reg.n_req, route ? route : "unknown", st)->count++;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_add_records(int accepted, const char *reason, uint64_t n) {
  const char *why = accepted ? "ok" : (reason && reason[0] ? reason : "unknown");
  pthread_mutex_lock(&reg.mu);
  series_get(reg.rec, &reg.n_rec, accepted ? "accepted" : "rejected", why)->count += n;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_inc_records(int accepted, const char *reason) {
  mls_metrics_add_records(accepted, reason, 1);
}

void mls_metrics_observe_push_ms(double ms) {
  if (!(ms >= 0)) ms = 0; /* also catches NaN */
  pthread_mutex_lock(&reg.mu);
  for (size_t i = 0; i < N_PUSH_BOUNDS; i++)
    if (ms <= push_bounds_ms[i]) reg.push_bucket[i]++;
  reg.push_count++;
  reg.push_sum += ms;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_observe_push_times(const mls_push_times *t) {
  pthread_mutex_lock(&reg.mu);
  reg.push_ns += t->total_ns;
  reg.push_store_ns += t->store_ns;
  reg.push_lock_ns += t->lock_wait_ns;
  pthread_mutex_unlock(&reg.mu);
}

void mls_metrics_reset(void) {
  pthread_mutex_lock(&reg.mu);
  reg.conn_open = 0;
  reg.conn_total = reg.conn_refused = 0;
  reg.tls_full = reg.tls_resumed = reg.tls_failed = 0;
  memset(reg.linger, 0, sizeof reg.linger);
  reg.linger_bytes = 0;
  reg.n_req = reg.n_rec = 0;
  memset(reg.push_bucket, 0, sizeof reg.push_bucket);
  reg.push_count = 0;
  reg.push_sum = 0;
  reg.push_ns = reg.push_store_ns = reg.push_lock_ns = 0;
  pthread_mutex_unlock(&reg.mu);
}

#define P(...)                                  \
  do {                                          \
    rc = mlproto_buf_printf(out, __VA_ARGS__);  \
    if (rc) goto fail;                          \
  } while (0)

/* Nanoseconds as exact decimal seconds ("%llu.%09llu"). */
#define SECONDS(ns) (unsigned long long)((ns) / 1000000000u), (unsigned long long)((ns) % 1000000000u)

int mls_metrics_render(mlproto_buf *out, const mls_metrics_app *now) {
  size_t start = out->len;
  int rc = MLPROTO_OK;
  pthread_mutex_lock(&reg.mu);
  P("# HELP mentorlog_connections_open Client connections currently open.\n"
    "# TYPE mentorlog_connections_open gauge\nmentorlog_connections_open %lld\n",
    (long long)reg.conn_open);
  P("# HELP mentorlog_connections_total Client connections accepted since start.\n"
    "# TYPE mentorlog_connections_total counter\nmentorlog_connections_total %llu\n",
    (unsigned long long)reg.conn_total);
  P("# HELP mentorlog_connections_refused_total Connections closed at once because the connection cap was reached.\n"
    "# TYPE mentorlog_connections_refused_total counter\nmentorlog_connections_refused_total %llu\n",
    (unsigned long long)reg.conn_refused);
  P("# HELP mentorlog_tls_handshakes_total TLS handshakes by type.\n"
    "# TYPE mentorlog_tls_handshakes_total counter\n"
    "mentorlog_tls_handshakes_total{type=\"full\"} %llu\n"
    "mentorlog_tls_handshakes_total{type=\"resumed\"} %llu\n"
    "mentorlog_tls_handshakes_total{type=\"failed\"} %llu\n",
    (unsigned long long)reg.tls_full, (unsigned long long)reg.tls_resumed,
    (unsigned long long)reg.tls_failed);
  P("# HELP mentorlog_lingering_closes_total Connections closed after an early refusal, by how the lingering close ended.\n"
    "# TYPE mentorlog_lingering_closes_total counter\n"
    "mentorlog_lingering_closes_total{end=\"eof\"} %llu\n"
    "mentorlog_lingering_closes_total{end=\"timeout\"} %llu\n"
    "mentorlog_lingering_closes_total{end=\"bytes\"} %llu\n"
    "mentorlog_lingering_closes_total{end=\"error\"} %llu\n",
    (unsigned long long)reg.linger[MLS_LINGER_EOF], (unsigned long long)reg.linger[MLS_LINGER_TIMEOUT],
    (unsigned long long)reg.linger[MLS_LINGER_BYTES], (unsigned long long)reg.linger[MLS_LINGER_ERROR]);
  P("# HELP mentorlog_lingering_discarded_bytes_total Bytes read and discarded during lingering closes.\n"
    "# TYPE mentorlog_lingering_discarded_bytes_total counter\nmentorlog_lingering_discarded_bytes_total %llu\n",
    (unsigned long long)reg.linger_bytes);
  P("# HELP mentorlog_requests_total HTTP requests answered, by route and status.\n"
    "# TYPE mentorlog_requests_total counter\n");
  for (size_t i = 0; i < reg.n_req; i++)
    P("mentorlog_requests_total{route=\"%s\",status=\"%s\"} %llu\n", reg.req[i].a, reg.req[i].b,
      (unsigned long long)reg.req[i].count);
  P("# HELP mentorlog_records_total Pushed records by result and reason.\n"
    "# TYPE mentorlog_records_total counter\n");
  for (size_t i = 0; i < reg.n_rec; i++)
    P("mentorlog_records_total{result=\"%s\",reason=\"%s\"} %llu\n", reg.rec[i].a, reg.rec[i].b,
      (unsigned long long)reg.rec[i].count);
  P("# HELP mentorlog_push_batch_ms Latency of an accepted push batch, verification to commit, in milliseconds (refused batches are counted in mentorlog_records_total).\n"
    "# TYPE mentorlog_push_batch_ms histogram\n");
  for (size_t i = 0; i < N_PUSH_BOUNDS; i++)
    P("mentorlog_push_batch_ms_bucket{le=\"%g\"} %llu\n", push_bounds_ms[i],
      (unsigned long long)reg.push_bucket[i]);
  P("mentorlog_push_batch_ms_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)reg.push_count);
  P("mentorlog_push_batch_ms_sum %.3f\nmentorlog_push_batch_ms_count %llu\n", reg.push_sum,
    (unsigned long long)reg.push_count);
  P("# HELP mentorlog_pushes_total Push batches accepted.\n"
    "# TYPE mentorlog_pushes_total counter\nmentorlog_pushes_total %llu\n",
    (unsigned long long)reg.push_count); /* the histogram's count: the same batches */
  P("# HELP mentorlog_push_seconds_total Wall time of the accepted push batches, from the request handed to the application to its answer.\n"
    "# TYPE mentorlog_push_seconds_total counter\nmentorlog_push_seconds_total %llu.%09llu\n",
    SECONDS(reg.push_ns));
  P("# HELP mentorlog_push_store_seconds_total The part of mentorlog_push_seconds_total inside the append transaction, from its begin to its commit.\n"
    "# TYPE mentorlog_push_store_seconds_total counter\nmentorlog_push_store_seconds_total %llu.%09llu\n",
    SECONDS(reg.push_store_ns));
  P("# HELP mentorlog_push_lock_wait_seconds_total The part of mentorlog_push_store_seconds_total acquiring the log's serialisation point (PostgreSQL: the log_head row lock; SQLite: the writer lock).\n"
    "# TYPE mentorlog_push_lock_wait_seconds_total counter\nmentorlog_push_lock_wait_seconds_total %llu.%09llu\n",
    SECONDS(reg.push_lock_ns));
  P("# HELP mentorlog_log_size Leaves in the transparency log.\n"
    "# TYPE mentorlog_log_size gauge\nmentorlog_log_size %llu\n",
    (unsigned long long)now->log_size);
  P("# HELP mentorlog_pushes_in_flight Pushes between authentication and answer.\n"
    "# TYPE mentorlog_pushes_in_flight gauge\nmentorlog_pushes_in_flight %u\n",
    now->pushes_in_flight);
  P("# HELP mentorlog_push_order_waits_total Pushes that found a gap and waited for an earlier push of their device.\n"
    "# TYPE mentorlog_push_order_waits_total counter\nmentorlog_push_order_waits_total %llu\n",
    (unsigned long long)now->push_waits);
  P("# HELP mentorlog_report_cache_lookups_total Cases the jobcentre reports looked up in their cache.\n"
    "# TYPE mentorlog_report_cache_lookups_total counter\n"
    "mentorlog_report_cache_lookups_total{result=\"hit\"} %llu\n"
    "mentorlog_report_cache_lookups_total{result=\"miss\"} %llu\n",
    (unsigned long long)now->report_cache_hits, (unsigned long long)now->report_cache_misses);
  P("# HELP mentorlog_report_cache_evictions_total Report cache entries dropped at its memory cap.\n"
    "# TYPE mentorlog_report_cache_evictions_total counter\n"
    "mentorlog_report_cache_evictions_total %llu\n",
    (unsigned long long)now->report_cache_evictions);
  P("# HELP mentorlog_report_cache_bytes Bytes the report cache holds.\n"
    "# TYPE mentorlog_report_cache_bytes gauge\nmentorlog_report_cache_bytes %llu\n",
    (unsigned long long)now->report_cache_bytes);
  pthread_mutex_unlock(&reg.mu);
  return MLPROTO_OK;
fail:
  pthread_mutex_unlock(&reg.mu);
  out->len = start;
  return rc;
}
