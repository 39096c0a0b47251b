/* net_conn.c — one TLS + HTTP/1.1 connection on the loop thread
 * (STYLE "The server's loop"). Life of a connection:
 *
 *   accept -> handshake (request timeout) -> idle (idle timeout)
 *     -> receiving a request (request timeout from its first byte)
 *        [its head, then, when it announces a body: head_decide]
 *     -> with a worker (reading stopped) -> response queued -> idle ...
 *   -> finish: close_notify, flush, uv_close of both handles
 *   -> freed when both close callbacks ran and no work is in flight.
 *
 * The body gate (head_decide, gate_*): the parser holds every body
 * (mlproto_http_parser_hold_body) and stops after the head. A route that
 * needs credentials (mls_app_body_rule: push, cosignature, ...) has them
 * checked first, on a worker (mls_app_authorize), with reading stopped: the
 * client's further bytes wait in the kernel, unread. Only when they hold is
 * the body read (and 100 Continue sent, if asked for); else the refusal
 * (401, 403, 429) is answered with a lingering close that drops the body as
 * ciphertext. Any other request may carry at most MLS_APP_OPEN_BODY_MAX
 * (64 KiB) of body: without credentials nobody gets to make the server
 * buffer a large one. Once the body is read its rate is watched
 * (--min-upload-rate, net_budget.c) and its bytes count against the pool
 * and the address's share (--max-inflight-bytes[-per-address]).
 *
 * Lingering close (conn_linger): an answer to a request the server did not
 * read to its end (a refusal of the network half: 431, 413, 408, 400, 429,
 * 503, and the gate's 401, 403, 429)
 * ends instead with
 *   close_notify, flush -> uv_shutdown (FIN, after the queued writes)
 *     -> read and discard until EOF, --linger-time or --linger-bytes -> close
 * and the discarding starts at once, while the answer is still queued: a
 * client blocked in write() because the server stopped reading could not
 * read the answer either. Without it, closing with the rest of the request
 * unread in the kernel's receive buffer (or arriving after the close) sends
 * a TCP RST, and a client that gets the RST before it read the answer loses
 * it (curl printed 000 instead of 431 for a 200,000-byte header in about
 * half the tries). The discarded bytes are TLS records of the client's
 * unfinished request: they are dropped as ciphertext, never decrypted (the
 * server answers nothing more, and its close_notify is already sent), so the
 * TLS session, the HTTP parser and the request's bytes (--max-inflight-bytes)
 * are freed when the lingering starts; the connection keeps only this struct
 * and its two handles, and still counts against --max-connections and
 * --max-conns-per-address until it is closed.
 */
#include "net_conn_int.h"

/* The loop thread is the only reader of these: alloc_cb's buffer is consumed
 * by the read_cb that immediately follows it. */
uint8_t mls__conn_read_buf[READ_CHUNK];
static uint8_t plain_buf[PLAIN_CHUNK];

void mls__conn_pump(struct mls_conn *c);
void mls__conn_close(struct mls_conn *c);
void mls__conn_read_start(struct mls_conn *c);
static void conn_respond(struct mls_conn *c, mls_response *resp, int keep_alive, const char *method);
void mls__conn_linger(struct mls_conn *c);
static void conn_refuse(struct mls_conn *c, int code, const char *detail);
static void refusal_init(mls_response *resp, int code, const char *detail, int want_json);
void mls__conn_linger_end(struct mls_conn *c, mls_linger_end end);

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void mls__conn_timer_arm(struct mls_conn *c, uint64_t ms);

/* The parser no longer holds the request's bytes against the budgets. */
void mls__conn_release_request(struct mls_conn *c) {
  mls__budget_release(c->srv, c->addr, c->req_bytes);
  c->req_bytes = 0;
  c->body_started = 0;
}

/* A worker holds the connection's request (its answer, or its head's check). */
static int conn_busy(const struct mls_conn *c) { return c->job != NULL || c->gating; }

void mls__conn_maybe_free(struct mls_conn *c) {
  if (c->refs > 0) return;
  mls_server *s = c->srv;
  mls__conn_release_request(c);
  if (c->addr) mls__addr_leave(s, c->addr);
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->n_conns--;
  if (c->counted) mls_metrics_conn_closed();
  mlproto_tls_free(c->tls);
  mlproto_http_parser_free(c->http);
  mlproto_free(c->pend);
  mlproto_free(c->proxy_buf);
  mlproto_free(c);
  mls__server_conn_gone(s);
}

static void on_handle_closed(uv_handle_t *h) {
  struct mls_conn *c = h->data;
  c->refs--;
  mls__conn_maybe_free(c);
}

/* Hard close: pending writes are cancelled, their callbacks still run. */
void mls__conn_close(struct mls_conn *c) {
  if (c->closing) return;
  c->closing = 1;
  c->reading = 0;
  uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

void mls__conn_read_stop(struct mls_conn *c) {
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct mls_conn *c = w->conn;
  c->write_queued -= w->len;
  mlproto_tls_output_free(w->data);
  mlproto_free(w);
  if (c->closing) return;
  if (status < 0) {
    if (c->lingering) mls__conn_linger_end(c, MLS_LINGER_ERROR);
    else mls__conn_close(c);
    return;
  }
  if (c->finishing && c->write_queued == 0) {
    if (!c->lingering) mls__conn_close(c); /* lingering: the shutdown callback goes on */
    return;
  }
  /* Backpressure released: read again, and pump what is already buffered. */
  if (!c->reading && !conn_busy(c) && !c->finishing && c->write_queued < WRITE_HIGH_WATER / 2) {
    mls__conn_pump(c);
  }
}

static int conn_flush(struct mls_conn *c) {
  uint8_t *data;
  size_t len;
  if (c->closing) return -1;
  mlproto_tls_take_output(c->tls, &data, &len);
  if (!data) return 0;
  struct wreq *w = mlproto_malloc(sizeof *w);
  if (!w) {
    mlproto_tls_output_free(data);
    mls__conn_close(c);
    return -1;
  }
  w->conn = c;
  w->data = data;
  w->len = len;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (rc < 0) {
    /* An error return means the callback never fires: free here. */
    mlproto_tls_output_free(data);
    mlproto_free(w);
    mls__conn_close(c);
    return -1;
  }
  c->write_queued += len;
  return 0;
}

/* Graceful end: close_notify, flush, then close when the writes completed
 * (or when the guard timer fires: a peer that reads nothing cannot hold us). */
static void conn_finish(struct mls_conn *c) {
  if (c->closing || c->finishing) return;
  c->finishing = 1;
  mls__conn_read_stop(c);
  if (c->handshake_done && !mlproto_tls_is_closed(c->tls)) (void)mlproto_tls_close_notify(c->tls);
  if (conn_flush(c) != 0) return;
  if (c->linger && c->handshake_done && !c->peer_eof && c->srv->opt.linger_time_ms > 0) {
    mls__conn_linger(c);
    return;
  }
  if (c->write_queued == 0) {
    mls__conn_close(c);
    return;
  }
  mls__conn_timer_arm(c, c->srv->opt.request_timeout_ms);
}

/* Encrypts and queues plaintext. A blocked write is resumed with the rest. */
static int conn_send(struct mls_conn *c, const uint8_t *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    size_t n = 0;
    int rc = mlproto_tls_write(c->tls, data + off, len - off, &n);
    off += n;
    size_t before = mlproto_tls_output_pending(c->tls);
    if (conn_flush(c) != 0) return -1;
    if (rc == MLPROTO_OK) break;
    if (rc < 0 || (n == 0 && before == 0)) {
      mls__conn_close(c);
      return -1;
    }
  }
  if (c->write_queued >= WRITE_HIGH_WATER) mls__conn_read_stop(c);
  return 0;
}

static void timer_cb(uv_timer_t *t) {
  struct mls_conn *c = t->data;
  if (c->closing) return;
  if (c->lingering) {
    /* Before the FIN: the peer reads nothing (request timeout); after it:
     * the linger time is over. Either way the client had its chance. */
    mls__conn_linger_end(c, MLS_LINGER_TIMEOUT);
    return;
  }
  if (c->finishing || !c->handshake_done) {
    if (c->proxy_wait)
      mls__net_log("warn", "proxy_header_invalid", "conn=%llu peer=%s reason=timeout bytes=%zu",
                   (unsigned long long)c->id, c->peer, c->proxy_have);
    else if (!c->handshake_done)
      mls__net_log("info", "handshake_timeout", "conn=%llu", (unsigned long long)c->id);
    mls__conn_close(c);
    return;
  }
  if (conn_busy(c)) return; /* the worker's answer re-arms the timer */
  int in_request = mlproto_http_parser_in_request(c->http);
  uint64_t now = uv_now(c->srv->loop);
  uint64_t deadline = c->req_start_ms + c->srv->opt.request_timeout_ms;
  if (c->write_queued && !(in_request && now < deadline)) {
    mls__conn_close(c); /* the peer stopped reading its answer */
    return;
  }
  if (in_request) {
    if (now < deadline) { /* not the request's end: a window of its body's */
      uint64_t end = c->body_started ? mls__upload_window_end(c->srv, c->win_start_ms) : UINT64_MAX;
      if (now >= end) {
        size_t body = c->req_bytes - c->head_bytes;
        if (mls__upload_too_slow(c->srv, body - c->win_bytes)) {
          mls__net_log("info", "upload_too_slow", "conn=%llu body_bytes=%zu window_bytes=%zu ms=%llu",
                       (unsigned long long)c->id, body, body - c->win_bytes,
                       (unsigned long long)(now - c->body_start_ms));
          conn_refuse(c, MLPROTO_ERR_UPLOAD_TOO_SLOW, "the body arrives too slowly");
          return;
        }
        c->win_start_ms = now;
        c->win_bytes = body;
        end = mls__upload_window_end(c->srv, now);
      }
      mls__conn_timer_arm(c, (end < deadline ? end : deadline) - now);
      return;
    }
    mls_response resp;
    refusal_init(&resp, MLPROTO_ERR_REQUEST_TIMEOUT, "request not completed in time", c->want_json);
    mls__net_log("info", "request_timeout", "conn=%llu", (unsigned long long)c->id);
    c->linger = 1; /* a slow client may still be sending: let it read the 408 */
    conn_respond(c, &resp, 0, NULL);
    return;
  }
  conn_finish(c); /* idle */
}

void mls__conn_timer_arm(struct mls_conn *c, uint64_t ms) {
  if (c->closing) return;
  uv_timer_start(&c->timer, timer_cb, ms ? ms : 1, 0);
}

/* Queues the response and releases resp's body. keep_alive 0: close after. */
static void conn_respond(struct mls_conn *c, mls_response *resp, int keep_alive, const char *method) {
  mls_server *s = c->srv;
  if (s->draining || c->peer_eof) keep_alive = 0;
  mls_metrics_inc_request(resp->route ? resp->route : "none", resp->status);
  if (resp->status >= 400 || !resp->route)
    mls__net_log("info", "refused", "conn=%llu status=%d code=%s route=%s", (unsigned long long)c->id,
                 resp->status, mlproto_errname(resp->error_code), resp->route ? resp->route : "none");
  if (c->closing || mlproto_tls_is_closed(c->tls)) {
    mlproto_buf_free(&resp->body);
    mls__conn_close(c);
    return;
  }
  char date[MLPROTO_HTTP_DATE_LEN];
  if (mlproto_http_date(date, (int64_t)time(NULL)) != MLPROTO_OK) date[0] = '\0';
  mlproto_http_response_head head = {
      .status = resp->status,
      .content_type = resp->content_type,
      .date = date[0] ? date : NULL,
      .extra_headers = resp->extra_headers[0] ? resp->extra_headers : NULL,
      .keep_alive = keep_alive,
      .head_only = method && strcmp(method, "HEAD") == 0,
  };
  mlproto_buf out;
  mlproto_buf_init(&out, resp->body.len + RESPONSE_HEAD_CAP + sizeof resp->extra_headers);
  int rc = mlproto_http_response_write(&out, &head, resp->body.data, resp->body.len);
  mlproto_buf_free(&resp->body);
  if (rc != MLPROTO_OK) {
    mls__net_log("error", "response_serialize", "conn=%llu code=%s", (unsigned long long)c->id,
                 mlproto_errname(rc));
    mlproto_buf_free(&out);
    mls__conn_close(c);
    return;
  }
  rc = conn_send(c, out.data, out.len);
  mlproto_buf_free(&out);
  if (rc != 0) return;
  if (!keep_alive) {
    if (c->pend_len) c->linger = 1; /* pipelined requests left unanswered */
    conn_finish(c);
    return;
  }
  c->linger = 0; /* the connection goes on: the next request decides */
  mls__conn_release_request(c);
  mlproto_http_parser_next(c->http);
  mls__conn_timer_arm(c, s->opt.idle_timeout_ms);
}

/* Headers of every refusal decided by the network half. It answers before
 * any route is known (a 431 for /jobcentre/ as for /v1/push), so it takes
 * the strictest set: what the web pages send (docs/web.md) minus what only
 * a page needs, and harmless to an API client. */
#define REFUSAL_HEADERS                                                                     \
  "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"                  \
  "X-Content-Type-Options: nosniff\r\n"                                                     \
  "Referrer-Policy: no-referrer\r\n"                                                        \
  "Cache-Control: no-store\r\n"

static void refusal_init(mls_response *resp, int code, const char *detail, int want_json) {
  memset(resp, 0, sizeof *resp);
  mls_app_error(resp, code, detail, want_json);
  size_t n = strlen(resp->extra_headers);
  snprintf(resp->extra_headers + n, sizeof resp->extra_headers - n, REFUSAL_HEADERS);
}

/* Refusal decided by the network half (bad HTTP, caps, timeouts). */
static void conn_refuse(struct mls_conn *c, int code, const char *detail) {
  mls_response resp;
  refusal_init(&resp, code, detail, c->want_json);
  /* Every refusal here may leave the client sending the rest of its request. */
  c->linger = 1;
  if (resp.status == 503 || resp.status == 429) {
    size_t used = strlen(resp.extra_headers);
    snprintf(resp.extra_headers + used, sizeof resp.extra_headers - used, "Retry-After: 1\r\n");
  }
  if (!resp.route) resp.route = "http";
  conn_respond(c, &resp, 0, NULL);
}

static int wants_json(const mlproto_http_request *r) {
  const char *acc = mlproto_http_header_get(r->headers, r->n_headers, "Accept");
  return acc && strstr(acc, "application/json") != NULL;
}

static void job_free(struct job *j) {
  if (!j) return;
  mlproto_buf_free(&j->resp.body);
  mlproto_free(j->headers);
  mlproto_free(j);
}

static void work_cb(uv_work_t *w) {
  struct job *j = (struct job *)w;
  mls_app_handle(j->app, &j->req, &j->resp, wall_ms());
}

static void after_work_cb(uv_work_t *w, int status) {
  struct job *j = (struct job *)w;
  struct mls_conn *c = j->conn;
  c->job = NULL;
  c->refs--;
  if (c->closing) {
    job_free(j);
    mls__conn_maybe_free(c);
    return;
  }
  if (status < 0) {
    refusal_init(&j->resp, MLPROTO_ERR_INTERNAL, "request cancelled", j->want_json);
  }
  conn_respond(c, &j->resp, j->keep_alive, j->req.method);
  job_free(j);
  if (!c->closing && !c->finishing) mls__conn_pump(c);
}

static void dispatch(struct mls_conn *c, const mlproto_http_request *hr) {
  mls_server *s = c->srv;
  uv_timer_stop(&c->timer);
  int keep_alive = hr->keep_alive && !s->draining;

  struct job *j = mlproto_calloc(1, sizeof *j);
  mls_header *hdrs = hr->n_headers ? mlproto_calloc(hr->n_headers, sizeof *hdrs) : NULL;
  if (!j || (hr->n_headers && !hdrs)) {
    mlproto_free(j);
    mlproto_free(hdrs);
    conn_refuse(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
    return;
  }
  for (size_t i = 0; i < hr->n_headers; i++) {
    hdrs[i].name = hr->headers[i].name;
    hdrs[i].value = hr->headers[i].value;
  }
  /* Every pointer stays valid: the parser keeps the request until next(). */
  j->conn = c;
  j->app = s->app;
  j->headers = hdrs;
  j->keep_alive = keep_alive;
  j->want_json = wants_json(hr);
  j->req = (mls_request){.method = hr->method, .path = hr->path, .query = hr->query,
                         .headers = hdrs, .n_headers = hr->n_headers, .body = hr->body,
                         .body_len = hr->body_len, .peer = c->peer, .conn_id = c->id};

  if (mls_app_route_is_fast(hr->method, hr->path)) {
    mls_app_handle(s->app, &j->req, &j->resp, wall_ms());
    conn_respond(c, &j->resp, keep_alive, hr->method);
    job_free(j);
    return;
  }
  mls__conn_read_stop(c);
  c->job = j;
  c->refs++;
  int rc = uv_queue_work(s->loop, &j->work, work_cb, after_work_cb);
  if (rc < 0) {
    c->job = NULL;
    c->refs--;
    job_free(j);
    conn_refuse(c, MLPROTO_ERR_INTERNAL, "cannot queue work");
  }
}

/* Looks for "Accept: ...application/json" in the request head as it
 * arrives, so that refusals decided before the request is complete (413,
 * 408, 400 in the body, 503) can answer in JSON too. Lines are kept cut to
 * sizeof line: an Accept value that names JSON past that is not seen. */
static void scan_head(struct mls_conn *c, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && !c->head_done; i++) {
    if (p[i] != '\n') {
      if (c->line_len < sizeof c->line - 1) c->line[c->line_len++] = (char)p[i];
      continue;
    }
    size_t len = c->line_len;
    if (len && c->line[len - 1] == '\r') len--;
    c->line[len] = '\0';
    c->line_len = 0;
    if (len == 0) {
      c->head_done = 1;
    } else if (strncasecmp(c->line, "accept:", 7) == 0 && strstr(c->line + 7, "application/json")) {
      c->want_json = 1;
    }
  }
}

static void gate_start(struct mls_conn *c, const mlproto_http_request *head);

/* The body of the current request is read from now on: its rate is
 * measured from here (--min-upload-rate), the timer runs to the earlier of
 * the request's end and the end of its first rate window. */
static void body_begin(struct mls_conn *c) {
  mls_server *s = c->srv;
  uint64_t now = uv_now(s->loop);
  c->body_started = 1;
  c->body_start_ms = c->win_start_ms = now;
  c->win_bytes = 0;
  uint64_t deadline = c->req_start_ms + s->opt.request_timeout_ms;
  uint64_t end = mls__upload_window_end(s, now);
  if (end < deadline) deadline = end;
  mls__conn_timer_arm(c, deadline > now ? deadline - now : 1);
}

/* The parser stopped after the head of a request with a body (it holds
 * bodies, mlproto_http_parser_hold_body): read it at once, check its
 * credentials first, or refuse it. 0: go on feeding; -1: stop (the gate
 * runs, or the request was refused). */
static int head_decide(struct mls_conn *c, const mlproto_http_request *head) {
  c->head_bytes = c->req_bytes;
  if (mls_app_body_rule(head->method, head->path) == MLS_BODY_AFTER_AUTH) {
    gate_start(c, head);
    return -1;
  }
  if (mlproto_http_parser_limit_body(c->http, MLS_APP_OPEN_BODY_MAX) != MLPROTO_OK) {
    conn_refuse(c, MLPROTO_ERR_BODY_TOO_LARGE, "a body over 64 KiB needs credentials (a route that takes them)");
    return -1;
  }
  body_begin(c);
  return 0;
}

/* Feeds plaintext to the HTTP parser; returns the bytes consumed. */
static size_t feed_plain(struct mls_conn *c, const uint8_t *data, size_t len) {
  mls_server *s = c->srv;
  if (!mlproto_http_parser_in_request(c->http) && len > 0) {
    c->req_start_ms = uv_now(s->loop);
    c->want_json = 0;
    c->head_done = 0;
    c->line_len = 0;
    c->body_started = 0;
    mls__conn_timer_arm(c, s->opt.request_timeout_ms);
  }
  scan_head(c, data, len);
  size_t used = 0;
  const mlproto_http_request *req = NULL;
  int rc = mlproto_http_parser_feed(c->http, data, len, &used, &req);
  if (rc < 0) {
    conn_refuse(c, rc, NULL);
    return len;
  }
  c->req_bytes += used;
  int over = mls__budget_add(s, c->addr, used);
  if (!req && over) {
    /* Memory before the answer is bounded across all connections, and
     * for each address to its share. */
    mls__net_log("warn", over == MLPROTO_ERR_UNAVAILABLE ? "inflight_budget_exceeded"
                                                         : "address_inflight_exceeded",
                 "conn=%llu inflight=%zu address_inflight=%zu", (unsigned long long)c->id,
                 s->inflight_bytes, c->addr ? c->addr->inflight : 0);
    conn_refuse(c, over, over == MLPROTO_ERR_UNAVAILABLE ? "too many request bytes in flight, retry"
                                                         : NULL);
    return len;
  }
  if (!req && !c->body_started) {
    const mlproto_http_request *head = mlproto_http_parser_head(c->http);
    if (head && head_decide(c, head) != 0) return c->closing || c->finishing ? len : used;
  }
  if (mlproto_http_parser_take_continue(c->http)) {
    if (conn_send(c, (const uint8_t *)MLPROTO_HTTP_CONTINUE, strlen(MLPROTO_HTTP_CONTINUE)) != 0) return len;
  }
  /* Bytes after a complete request (pipelining): if its answer closes the
   * connection, the client may be sending still more. */
  if (req && used < len) c->linger = 1;
  if (req) dispatch(c, req);
  return used;
}

static int keep_pending(struct mls_conn *c, const uint8_t *rest, size_t n) {
  uint8_t *p = mlproto_malloc(n);
  if (!p) return -1;
  memcpy(p, rest, n);
  mlproto_free(c->pend);
  c->pend = p;
  c->pend_off = 0;
  c->pend_len = n;
  return 0;
}

void mls__conn_pump(struct mls_conn *c) {
  mls_server *s = c->srv;
  if (c->closing || c->finishing) return;
  if (!c->handshake_done) {
    int rc = mlproto_tls_handshake(c->tls);
    if (rc < 0) {
      mls_metrics_tls_failed();
      mls__net_log("info", "handshake_failed", "conn=%llu code=%s", (unsigned long long)c->id,
                   mlproto_errname(rc));
      (void)conn_flush(c); /* the alert */
      c->finishing = 1;
      mls__conn_read_stop(c);
      if (!c->closing && c->write_queued == 0) mls__conn_close(c);
      else mls__conn_timer_arm(c, s->opt.request_timeout_ms);
      return;
    }
    if (conn_flush(c) != 0 || rc == MLPROTO_TLS_AGAIN) return;
    c->handshake_done = 1;
    mls_metrics_tls_handshake(mlproto_tls_resumed(c->tls));
    mls__conn_timer_arm(c, s->opt.idle_timeout_ms);
  }
  while (!c->closing && !c->finishing && !conn_busy(c)) {
    if (c->pend_len) {
      size_t used = feed_plain(c, c->pend + c->pend_off, c->pend_len);
      if (c->closing || c->lingering) return;
      c->pend_off += used;
      c->pend_len -= used;
      if (c->pend_len == 0) {
        mlproto_free(c->pend);
        c->pend = NULL;
        c->pend_off = 0;
      }
      continue;
    }
    size_t n = 0;
    int rc = mlproto_tls_read(c->tls, plain_buf, sizeof plain_buf, &n);
    if (rc == MLPROTO_TLS_AGAIN) break;
    if (rc < 0) {
      /* Peer's close_notify or a TLS failure: nothing more can be answered. */
      (void)conn_flush(c);
      if (!c->closing) conn_finish(c);
      return;
    }
    size_t used = feed_plain(c, plain_buf, n);
    if (c->closing || c->lingering) return;
    if (used < n && keep_pending(c, plain_buf + used, n - used) != 0) {
      mls__conn_close(c);
      return;
    }
  }
  if (c->closing || c->lingering) return; /* lingering: tls and reads are its own */
  if (conn_flush(c) != 0) return;
  int want = !c->finishing && !conn_busy(c) && !c->peer_eof && c->write_queued < WRITE_HIGH_WATER;
  if (want && !c->reading) {
    mls__conn_read_start(c);
  } else if (!want) {
    mls__conn_read_stop(c);
  }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  struct mls_conn *c = h->data;
  if (c->proxy_wait) {
    /* the header's bytes only land in its own buffer (no byte after it is
     * lost: what follows it in the same read goes to TLS in read_cb) */
    *buf = uv_buf_init((char *)c->proxy_buf + c->proxy_have,
                       (unsigned)(MLPROTO_PROXY_MAX_HEADER - c->proxy_have));
    return;
  }
  size_t space = mlproto_tls_inbound_space(c->tls);
  if (space > sizeof mls__conn_read_buf) space = sizeof mls__conn_read_buf;
  /* At the cap: an empty buffer makes libuv report UV_ENOBUFS (h2o alloc_inbuf). */
  *buf = uv_buf_init((char *)mls__conn_read_buf, (unsigned)space);
}

int mls__conn_admit_address(struct mls_conn *c);
void mls__conn_proxy_read(struct mls_conn *c, ssize_t nread);

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct mls_conn *c = st->data;
  if (c->closing) return;
  if (nread == 0) return;
  if (c->proxy_wait) {
    mls__conn_proxy_read(c, nread);
    return;
  }
  if (nread < 0) {
    mls__conn_read_stop(c);
    if (nread == UV_EOF && c->handshake_done && !c->finishing) {
      c->peer_eof = 1;
      if (conn_busy(c)) return; /* answer what is in flight, then close */
      mls__conn_pump(c); /* a whole request may still be buffered */
      if (c->closing || c->finishing || conn_busy(c)) return;
      if (mlproto_http_parser_in_request(c->http)) conn_refuse(c, MLPROTO_ERR_BAD_HTTP, "request truncated");
      else conn_finish(c);
      return;
    }
    mls__conn_close(c);
    return;
  }
  if (mlproto_tls_feed(c->tls, buf->base, (size_t)nread) != MLPROTO_OK) {
    mls__conn_close(c);
    return;
  }
  mls__conn_pump(c);
}

/* --- the body gate (see the top of this file) --- */

static void gate_free(struct gate *g) {
  mlproto_buf_free(&g->resp.body);
  mlproto_free(g->headers);
  mlproto_free(g);
}

static void gate_work_cb(uv_work_t *w) {
  struct gate *g = (struct gate *)w;
  g->rc = mls_app_authorize(g->app, &g->req, &g->resp, wall_ms());
}

static void gate_after_cb(uv_work_t *w, int status) {
  struct gate *g = (struct gate *)w;
  struct mls_conn *c = g->conn;
  c->gating = 0;
  c->refs--;
  if (c->closing) {
    gate_free(g);
    mls__conn_maybe_free(c);
    return;
  }
  if (status < 0 || g->rc != MLPROTO_OK) {
    if (status < 0) {
      refusal_init(&g->resp, MLPROTO_ERR_INTERNAL, "request cancelled", c->want_json);
    }
    /* Refused without reading the body: the lingering close drops it as
     * ciphertext, and the parser's bytes (the head) go with it. */
    mls__net_log("info", "body_not_read", "conn=%llu code=%s", (unsigned long long)c->id,
                 mlproto_errname(g->resp.error_code));
    c->linger = 1;
    conn_respond(c, &g->resp, 0, NULL);
    gate_free(g);
    return;
  }
  gate_free(g);
  if (c->finishing) return;
  if (mlproto_http_parser_take_continue(c->http) &&
      conn_send(c, (const uint8_t *)MLPROTO_HTTP_CONTINUE, strlen(MLPROTO_HTTP_CONTINUE)) != 0)
    return;
  body_begin(c);
  mls__conn_pump(c);
  if (c->closing || c->finishing || conn_busy(c) || !c->peer_eof) return;
  if (mlproto_http_parser_in_request(c->http)) conn_refuse(c, MLPROTO_ERR_BAD_HTTP, "request truncated");
}

/* Stops reading and has the head's credentials checked on a worker
 * (mls_app_authorize); the body is read only if they hold. */
static void gate_start(struct mls_conn *c, const mlproto_http_request *head) {
  mls_server *s = c->srv;
  struct gate *g = mlproto_calloc(1, sizeof *g);
  mls_header *hdrs = head->n_headers ? mlproto_calloc(head->n_headers, sizeof *hdrs) : NULL;
  if (!g || (head->n_headers && !hdrs)) {
    mlproto_free(g);
    mlproto_free(hdrs);
    conn_refuse(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
    return;
  }
  for (size_t i = 0; i < head->n_headers; i++) {
    hdrs[i].name = head->headers[i].name;
    hdrs[i].value = head->headers[i].value;
  }
  g->conn = c;
  g->app = s->app;
  g->headers = hdrs;
  g->req = (mls_request){.method = head->method, .path = head->path, .query = head->query,
                         .headers = hdrs, .n_headers = head->n_headers, .body = NULL,
                         .body_len = 0, .peer = c->peer, .conn_id = c->id};
  mls__conn_read_stop(c);
  c->gating = 1;
  c->refs++;
  if (uv_queue_work(s->loop, &g->work, gate_work_cb, gate_after_cb) < 0) {
    c->gating = 0;
    c->refs--;
    gate_free(g);
    conn_refuse(c, MLPROTO_ERR_INTERNAL, "cannot queue work");
  }
}

void mls__conn_read_start(struct mls_conn *c) {
  if (c->closing || c->reading) return;
  if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0) c->reading = 1;
  else mls__conn_close(c);
}

void mls__conn_on_connection(uv_stream_t *listener, int status) {
  mls_server *s = listener->data;
  if (status < 0) {
    mls__net_log("warn", "accept_failed", "err=%s", uv_err_name(status));
    return;
  }
  struct mls_conn *c = mlproto_calloc(1, sizeof *c);
  if (!c) return; /* the pending connection stays queued; retried on the next event */
  c->srv = s;
  c->id = ++s->next_conn_id;
  c->tcp.data = c;
  c->timer.data = c;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->refs = 2;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->n_conns++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    mls__conn_close(c);
    return;
  }
  if (s->draining || s->n_conns > s->opt.max_connections) {
    mls_metrics_conn_refused();
    mls__net_log("warn", "connection_refused", "conn=%llu reason=%s", (unsigned long long)c->id,
                 s->draining ? "draining" : "max_connections");
    mls__conn_close(c);
    return;
  }
  c->counted = 1;
  mls_metrics_conn_opened();
  uv_tcp_nodelay(&c->tcp, 1);
  uint8_t paddr[16];
  int pfam = mls__conn_peer_name(c, paddr);
  if (s->opt.n_proxy_from && pfam && mls__conn_proxy_trusted(s, pfam, paddr)) {
    /* a balancer: the address to count comes with its PROXY header */
    c->proxy_buf = mlproto_malloc(MLPROTO_PROXY_MAX_HEADER);
    if (!c->proxy_buf) {
      mls__conn_close(c);
      return;
    }
    c->proxy_wait = 1;
  } else if (mls__conn_admit_address(c) != 0) {
    return;
  }
  mlproto_http_limits lim = MLPROTO_HTTP_LIMITS_DEFAULT;
  lim.max_header_bytes = s->opt.max_header_bytes;
  lim.max_body = s->opt.max_body;
  if (mlproto_tls_new(&c->tls, s->tls) != MLPROTO_OK ||
      mlproto_http_parser_new(&c->http, &lim) != MLPROTO_OK) {
    mls__net_log("error", "connection_setup_failed", "conn=%llu", (unsigned long long)c->id);
    mls__conn_close(c);
    return;
  }
  mlproto_http_parser_hold_body(c->http, 1); /* head_decide before any body */
  mls__conn_timer_arm(c, s->opt.request_timeout_ms); /* the handshake's deadline */
  mls__conn_read_start(c);
}

void mls__conn_drain_all(mls_server *s, int force) {
  struct mls_conn *c = s->conns;
  while (c) {
    struct mls_conn *next = c->next; /* c is freed in a close callback, never here */
    if (force) mls__conn_close(c);
    else if (c->finishing || c->closing) {
      /* already ending: a lingering close ends within --linger-time */
    } else if (!conn_busy(c) && !(c->handshake_done && mlproto_http_parser_in_request(c->http)))
      conn_finish(c);
    c = next;
  }
}
