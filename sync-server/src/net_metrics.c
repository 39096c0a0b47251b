/* net_metrics.c — GET /metrics on a listener of its own (--metrics-listen).
 *
 * Why apart: /metrics needs no token, and on the devices' port it had to be
 * exempt from their limits (it is read by a scraper, not by a device); an
 * endpoint anyone on the network may call without credentials and without
 * limits is a lever. Here it is served on a loopback address only (the
 * scraper, or a forwarder, runs on the host), in plain HTTP/1.1: TLS would
 * protect nothing on loopback that the host's own users could not read
 * anyway. net_serve.c refuses a non-loopback --metrics-listen.
 *
 * One request per connection (answered with Connection: close), GET or HEAD
 * of /metrics only, no body; its own small limits instead of the devices'
 * (net.h MLS_NET_METRICS_*), so that a local process cannot make it hold
 * much either. The text is rendered on a worker (mls_app_metrics reads the
 * log size from the store). Life of a connection:
 *   accept -> reading the request (timer: MLS_NET_METRICS_TIMEOUT_MS)
 *     -> rendering on a worker -> writing the answer -> close
 *   -> freed when both handles are closed and no work is in flight.
 */
#include "net.h"

#include "metrics.h"
#include "mlproto/alloc.h"
#include "mlproto/http.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ANSWER_HEAD_CAP 1024u

struct mls_mconn {
  mls_server *srv;
  struct mls_mconn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_work_t work;
  uv_write_t wr;
  mlproto_http_parser *http;
  mls_response resp;
  mlproto_buf out;  /* the serialized answer, alive until its write completes */
  int refs;         /* open handles + work in flight */
  unsigned closing : 1;
  unsigned busy : 1;      /* a worker renders, or the answer is being written */
  unsigned head_only : 1; /* HEAD /metrics */
};

/* Loop thread only: each alloc_cb buffer is consumed by the read_cb after it. */
static char read_buf[4096];

static void mconn_maybe_free(struct mls_mconn *m) {
  if (m->refs > 0) return;
  mls_server *s = m->srv;
  if (m->prev) m->prev->next = m->next;
  else s->mconns = m->next;
  if (m->next) m->next->prev = m->prev;
  s->n_mconns--;
  mlproto_http_parser_free(m->http);
  mlproto_buf_free(&m->resp.body);
  mlproto_buf_free(&m->out);
  mlproto_free(m);
  mls__server_conn_gone(s);
}

static void on_mhandle_closed(uv_handle_t *h) {
  struct mls_mconn *m = h->data;
  m->refs--;
  mconn_maybe_free(m);
}

static void mconn_close(struct mls_mconn *m) {
  if (m->closing) return;
  m->closing = 1;
  uv_close((uv_handle_t *)&m->tcp, on_mhandle_closed);
  uv_close((uv_handle_t *)&m->timer, on_mhandle_closed);
}

static void on_answer_written(uv_write_t *req, int status) {
  (void)status;
  struct mls_mconn *m = req->data;
  m->busy = 0;
  mconn_close(m); /* one request per connection */
}

/* Serializes m->resp (Connection: close) and writes it; closes after. */
static void mconn_answer(struct mls_mconn *m) {
  mls_response *r = &m->resp;
  mls_metrics_inc_request("metrics", r->status);
  if (r->status >= 400)
    mls__net_log("info", "metrics_refused", "status=%d code=%s", r->status,
                 mlproto_errname(r->error_code));
  char date[MLPROTO_HTTP_DATE_LEN];
  if (mlproto_http_date(date, (int64_t)time(NULL)) != MLPROTO_OK) date[0] = '\0';
  mlproto_http_response_head head = {
      .status = r->status,
      .content_type = r->content_type,
      .date = date[0] ? date : NULL,
      .extra_headers = r->extra_headers[0] ? r->extra_headers : NULL,
      .keep_alive = 0,
      .head_only = m->head_only,
  };
  mlproto_buf_init(&m->out, r->body.len + ANSWER_HEAD_CAP + sizeof r->extra_headers);
  int rc = mlproto_http_response_write(&m->out, &head, r->body.data, r->body.len);
  mlproto_buf_free(&r->body);
  if (rc != MLPROTO_OK) {
    mconn_close(m);
    return;
  }
  uv_buf_t b = uv_buf_init((char *)m->out.data, (unsigned)m->out.len);
  m->wr.data = m;
  m->busy = 1;
  if (uv_write(&m->wr, (uv_stream_t *)&m->tcp, &b, 1, on_answer_written) < 0) {
    m->busy = 0;
    mconn_close(m);
  }
}

static void mconn_refuse(struct mls_mconn *m, int code, const char *detail) {
  memset(&m->resp, 0, sizeof m->resp);
  mls_app_error(&m->resp, code, detail, 0);
  mconn_answer(m);
}

static void render_work_cb(uv_work_t *w) {
  struct mls_mconn *m = w->data;
  mls_app_metrics(m->srv->app, &m->resp);
}

static void render_after_cb(uv_work_t *w, int status) {
  struct mls_mconn *m = w->data;
  m->refs--;
  m->busy = 0;
  if (m->closing) {
    mconn_maybe_free(m);
    return;
  }
  if (status < 0) {
    mconn_refuse(m, MLPROTO_ERR_INTERNAL, "request cancelled");
    return;
  }
  mconn_answer(m);
}

static void mconn_request(struct mls_mconn *m, const mlproto_http_request *req) {
  uv_read_stop((uv_stream_t *)&m->tcp);
  if (strcmp(req->path, "/metrics") != 0) {
    mconn_refuse(m, MLPROTO_ERR_NOT_FOUND, "this listener serves /metrics only");
    return;
  }
  int head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) {
    memset(&m->resp, 0, sizeof m->resp);
    mls_app_error(&m->resp, MLPROTO_ERR_METHOD_NOT_ALLOWED, NULL, 0);
    snprintf(m->resp.extra_headers, sizeof m->resp.extra_headers, "Allow: GET, HEAD\r\n");
    mconn_answer(m);
    return;
  }
  m->head_only = head;
  memset(&m->resp, 0, sizeof m->resp);
  m->work.data = m;
  m->busy = 1;
  m->refs++;
  if (uv_queue_work(m->srv->loop, &m->work, render_work_cb, render_after_cb) < 0) {
    m->refs--;
    m->busy = 0;
    mconn_refuse(m, MLPROTO_ERR_INTERNAL, "cannot queue work");
  }
}

static void malloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(read_buf, (unsigned)sizeof read_buf);
}

static void mread_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct mls_mconn *m = st->data;
  if (m->closing || m->busy || nread == 0) return;
  if (nread < 0) {
    mconn_close(m);
    return;
  }
  size_t used = 0;
  const mlproto_http_request *req = NULL;
  int rc = mlproto_http_parser_feed(m->http, buf->base, (size_t)nread, &used, &req);
  if (rc < 0) {
    uv_read_stop(st);
    mconn_refuse(m, rc, NULL);
    return;
  }
  if (req) mconn_request(m, req);
}

static void mtimer_cb(uv_timer_t *t) {
  struct mls_mconn *m = t->data;
  mconn_close(m); /* a local client that does not finish its request */
}

void mls__metrics_on_connection(uv_stream_t *listener, int status) {
  mls_server *s = listener->data;
  if (status < 0) {
    mls__net_log("warn", "accept_failed", "listener=metrics err=%s", uv_err_name(status));
    return;
  }
  struct mls_mconn *m = mlproto_calloc(1, sizeof *m);
  if (!m) return; /* stays queued; retried on the next event */
  m->srv = s;
  m->tcp.data = m;
  m->timer.data = m;
  uv_tcp_init(s->loop, &m->tcp);
  uv_timer_init(s->loop, &m->timer);
  m->refs = 2;
  m->next = s->mconns;
  if (s->mconns) s->mconns->prev = m;
  s->mconns = m;
  s->n_mconns++;
  if (uv_accept(listener, (uv_stream_t *)&m->tcp) != 0 || s->draining ||
      s->n_mconns > MLS_NET_METRICS_MAX_CONNS) {
    mconn_close(m);
    return;
  }
  mlproto_http_limits lim = MLPROTO_HTTP_LIMITS_DEFAULT;
  lim.max_header_bytes = MLS_NET_METRICS_MAX_HEADER_BYTES;
  lim.max_headers = 32;
  lim.max_url = 1024;
  lim.max_body = 1; /* GET: none */
  if (mlproto_http_parser_new(&m->http, &lim) != MLPROTO_OK ||
      uv_read_start((uv_stream_t *)&m->tcp, malloc_cb, mread_cb) != 0) {
    mconn_close(m);
    return;
  }
  uv_timer_start(&m->timer, mtimer_cb, MLS_NET_METRICS_TIMEOUT_MS, 0);
}

void mls__metrics_drain_all(mls_server *s, int force) {
  struct mls_mconn *m = s->mconns;
  while (m) {
    struct mls_mconn *next = m->next; /* freed in a close callback, never here */
    if (force || !m->busy) mconn_close(m);
    m = next;
  }
}
