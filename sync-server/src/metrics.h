/*
 * metrics.h — the server's metrics registry, rendered as Prometheus text
 * (exposition format 0.0.4) at GET /metrics.
 *
 * One process-wide registry with static storage: nothing to open or close,
 * nothing to allocate, safe to call before or after the loop runs. Every
 * function is thread-safe (the loop thread and any worker may call them at
 * once); counters are updated under one short mutex, never while doing I/O.
 *
 * Labels are copied (at most MLS_METRICS_LABEL_MAX-1 bytes, anything but
 * [A-Za-z0-9_] replaced by '_'), so callers may pass any string, but they
 * should pass static, low-cardinality ones: route names ("push"), error names
 * (mlproto_errname()). The number of distinct label values per family is
 * capped (MLS_METRICS_MAX_SERIES); beyond it samples go to the series
 * labelled "other", so a hostile client can never grow the registry.
 *
 * Families exposed:
 *   mentorlog_connections_open                 gauge
 *   mentorlog_connections_total                counter
 *   mentorlog_connections_refused_total        counter (over --max-connections)
 *   mentorlog_lingering_closes_total{end}      counter (lingering closes after an early
 *                                               refusal, net.h: eof|timeout|bytes|error)
 *   mentorlog_lingering_discarded_bytes_total  counter (bytes read and dropped by them)
 *   mentorlog_requests_total{route,status}     counter
 *   mentorlog_records_total{result,reason}     counter (result accepted|rejected;
 *                                               reason "ok" or an error name)
 *   mentorlog_push_batch_ms                    histogram (ms, ACCEPTED batches only,
 *                                               verification to commit)
 *   mentorlog_pushes_total                     counter (ACCEPTED push batches)
 *   mentorlog_push_seconds_total               counter (their wall time, handed to
 *                                               the application to answer)
 *   mentorlog_push_store_seconds_total         counter (the part inside the append
 *                                               transaction, begin to commit)
 *   mentorlog_push_lock_wait_seconds_total     counter (the part of that acquiring
 *                                               the log's serialisation point)
 *   mentorlog_tls_handshakes_total{type}       counter (full|resumed|failed)
 *   mentorlog_log_size                         gauge (leaves in the transparency log)
 *   mentorlog_pushes_in_flight                 gauge (pushes between authentication
 *                                               and answer, push_order.h)
 *   mentorlog_push_order_waits_total           counter (pushes that waited for an
 *                                               earlier push of their device)
 *   mentorlog_report_cache_lookups_total{result} counter (hit|miss: cases looked up
 *                                               by the jobcentre reports)
 *   mentorlog_report_cache_evictions_total     counter (entries dropped at the cap)
 *   mentorlog_report_cache_bytes               gauge (bytes the report cache holds)
 */
#ifndef MLS_METRICS_H
#define MLS_METRICS_H

#include "mlproto/util.h"

#include <stdint.h>

#define MLS_METRICS_LABEL_MAX 40
#define MLS_METRICS_MAX_SERIES 96

/* --- connections and TLS (the network half calls these) --- */
void mls_metrics_conn_opened(void);
void mls_metrics_conn_closed(void);
void mls_metrics_conn_refused(void);
/* resumed: 1 for an abbreviated (ticket) handshake, 0 for a full one. */
void mls_metrics_tls_handshake(int resumed);
void mls_metrics_tls_failed(void);

/* How a lingering close ended (net_conn.c): the client closed (EOF), the
 * --linger-time ran out, the --linger-bytes were read, or a socket error
 * (a reset from the client, a failed shutdown). */
typedef enum mls_linger_end {
  MLS_LINGER_EOF,
  MLS_LINGER_TIMEOUT,
  MLS_LINGER_BYTES,
  MLS_LINGER_ERROR,
  MLS_LINGER_END_COUNT
} mls_linger_end;
/* One lingering close ended; discarded: the bytes it read and dropped. */
void mls_metrics_linger(mls_linger_end end, uint64_t discarded);

/* --- requests (the network half calls this once per answered request) --- */
void mls_metrics_inc_request(const char *route, int status);

/* --- records (the application half calls these) ---
 * accepted: 1 accepted, 0 rejected; reason: NULL or "ok" when accepted, the
 * error's stable name (mlproto_errname(code)) when rejected. n: how many. */
void mls_metrics_inc_records(int accepted, const char *reason);
void mls_metrics_add_records(int accepted, const char *reason, uint64_t n);
/* Latency of one accepted push batch in milliseconds (verification to
 * commit); refused batches are not observed (see mentorlog_records_total). */
void mls_metrics_observe_push_ms(double ms);

/* Where the time of one ACCEPTED push batch went, in nanoseconds of
 * CLOCK_MONOTONIC (refused batches are not observed, as for the histogram):
 *   total_ns      from the request handed to the application (app_h_push)
 *                 to its answer built;
 *   store_ns      inside the batch's append transaction(s), from the call
 *                 that begins one to its commit or abort (a batch that waited
 *                 for an earlier push of its device, push_order.h, has two);
 *   lock_wait_ns  the part of store_ns spent acquiring the log's
 *                 serialisation point (mls_log_begin_timed, log.h).
 * The three are nested intervals of one clock, so lock_wait_ns <= store_ns
 * <= total_ns; they are added as given (not clamped: tests check that
 * order on the counters). */
typedef struct mls_push_times {
  uint64_t total_ns, store_ns, lock_wait_ns;
} mls_push_times;
void mls_metrics_observe_push_times(const mls_push_times *t);

/* What the application knows at the moment of a scrape. */
typedef struct mls_metrics_app {
  uint64_t log_size;         /* leaves in the log (mls_app_log_size()) */
  unsigned pushes_in_flight; /* registered pushes (mls_app_push_stats()) */
  uint64_t push_waits;       /* pushes that waited for an earlier one */
  /* the jobcentre reports' cache (mls_app_report_cache_stats()) */
  uint64_t report_cache_hits, report_cache_misses, report_cache_evictions;
  uint64_t report_cache_bytes;
} mls_metrics_app;

/* Appends the whole registry and *now as Prometheus text to out.
 * MLPROTO_OK, or MLPROTO_ERR_TOO_LARGE / OUT_OF_MEMORY from the buffer (out
 * keeps what it had before the call in that case). */
int mls_metrics_render(mlproto_buf *out, const mls_metrics_app *now);

/* Content-Type of the rendered text. */
#define MLS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Zeroes every series (tests only; not meant for a running server). */
void mls_metrics_reset(void);

#endif
