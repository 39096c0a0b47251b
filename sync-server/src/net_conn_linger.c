/* net_conn_linger.c — the lingering close of a connection whose request
 * was not read to its end (the top of net_conn.c says why and how). */
#include "net_conn_int.h"

/* --- lingering close (see the top of this file) --- */

void mls__conn_linger_end(struct mls_conn *c, mls_linger_end end) {
  static const char *const names[] = {"eof", "timeout", "bytes", "error"};
  mls_metrics_linger(end, c->linger_read);
  if (end != MLS_LINGER_EOF)
    mls__net_log("info", "linger_end", "conn=%llu end=%s discarded=%zu", (unsigned long long)c->id,
                 names[end], c->linger_read);
  mls__conn_close(c);
}

static void linger_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init((char *)mls__conn_read_buf, (unsigned)sizeof mls__conn_read_buf);
}

static void linger_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  struct mls_conn *c = st->data;
  (void)buf;
  if (c->closing || nread == 0) return;
  if (nread < 0 && nread != UV_EOF) {
    mls__conn_linger_end(c, MLS_LINGER_ERROR);
    return;
  }
  if (nread > 0) c->linger_read += (size_t)nread;
  else c->peer_eof = 1;
  if (nread > 0 && c->linger_read < c->srv->opt.linger_bytes) return;
  if (c->shut_done) {
    mls__conn_linger_end(c, c->peer_eof ? MLS_LINGER_EOF : MLS_LINGER_BYTES);
    return;
  }
  /* The answer is still queued: closing now would cancel it. Stop reading
   * and end in the shutdown callback. */
  c->linger_full = !c->peer_eof;
  mls__conn_read_stop(c);
}

static void on_linger_shutdown(uv_shutdown_t *req, int status) {
  struct mls_conn *c = req->data;
  c->refs--;
  if (c->closing) {
    mls__conn_maybe_free(c); /* UV_ECANCELED: closed while the answer was queued */
    return;
  }
  if (status < 0) {
    mls__conn_linger_end(c, MLS_LINGER_ERROR);
    return;
  }
  if (c->peer_eof || c->linger_full) {
    mls__conn_linger_end(c, c->peer_eof ? MLS_LINGER_EOF : MLS_LINGER_BYTES);
    return;
  }
  /* The answer, the close_notify and the FIN are out: --linger-time from now. */
  c->shut_done = 1;
  mls__conn_timer_arm(c, c->srv->opt.linger_time_ms);
}

/* Called by conn_finish once the answer and close_notify are queued. The
 * close_notify goes before the FIN: uv_shutdown waits for the queued writes.
 * Until the FIN is out the guard is --request-timeout, as for any finishing
 * connection (a peer that does not read its answer). */
void mls__conn_linger(struct mls_conn *c) {
  mls_server *s = c->srv;
  c->lingering = 1;
  c->linger_read = 0;
  /* Nothing of the request is needed any more: give its memory back. */
  mls__conn_release_request(c);
  mlproto_http_parser_free(c->http);
  c->http = NULL;
  mlproto_free(c->pend);
  c->pend = NULL;
  c->pend_off = c->pend_len = 0;
  mlproto_tls_free(c->tls); /* its output (the answer, close_notify) is ours now */
  c->tls = NULL;
  c->shut.data = c;
  if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_linger_shutdown) != 0) {
    mls__conn_linger_end(c, MLS_LINGER_ERROR);
    return;
  }
  c->refs++;
  if (uv_read_start((uv_stream_t *)&c->tcp, linger_alloc_cb, linger_read_cb) != 0) {
    mls__conn_linger_end(c, MLS_LINGER_ERROR);
    return;
  }
  c->reading = 1;
  mls__conn_timer_arm(c, s->opt.request_timeout_ms);
}
