/*
 * netclient.c — blocking HTTPS client: POSIX sockets + poll around the
 * memory-only TLS and HTTP engines.
 */
#include "netclient.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Request line + our headers; the body comes on top. */
#define REQUEST_HEAD_CAP (64u * 1024u)

struct ml_netclient {
  char *host;
  uint16_t port;
  int timeout_ms;
  size_t max_body;
  mlproto_tls_config *cfg;
  mlproto_http_response_parser *rp;
  int fd;
  mlproto_tls *tls;
  int reused;         /* the current connection already carried a response */
  int broken;         /* the peer sent bytes after a response */
  uint8_t *resume;    /* saved TLS session (a secret) */
  size_t resume_len;
  ml_netclient_stats stats;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dupstr(const char *s) { return s ? mlproto_strdup(s) : NULL; }

int ml_netclient_open(ml_netclient **out, const ml_netclient_options *o) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!o || o->version != ML_NETCLIENT_OPTIONS_VERSION || !o->host || !*o->host ||
      strlen(o->host) > 253 || o->port == 0 || o->timeout_ms < 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  ml_netclient *c = mlproto_calloc(1, sizeof *c);
  if (!c)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  c->fd = -1;
  c->port = o->port;
  c->timeout_ms = o->timeout_ms ? o->timeout_ms : ML_NETCLIENT_DEFAULT_TIMEOUT_MS;
  c->max_body = o->max_response_body ? o->max_response_body : ML_NETCLIENT_DEFAULT_MAX_BODY;
  int rc = MLPROTO_ERR_OUT_OF_MEMORY;
  if (!(c->host = dupstr(o->host)))
    goto fail;
  mlproto_tls_client_options to = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  to.hostname = o->tls_hostname ? o->tls_hostname : o->host;
  to.ca_pem = o->ca_pem;
  to.ca_pem_len = o->ca_pem_len;
  to.pin_sha256 = o->pin_sha256;
  to.max_version = o->tls_max_version;
  if ((rc = mlproto_tls_config_client(&c->cfg, &to)) != 0)
    goto fail;
  mlproto_http_limits lim = MLPROTO_HTTP_LIMITS_DEFAULT;
  lim.max_body = c->max_body;
  if ((rc = mlproto_http_response_parser_new(&c->rp, &lim)) != 0)
    goto fail;
  *out = c;
  return MLPROTO_OK;
fail:
  ml_netclient_close(c);
  return rc;
}

static void drop(ml_netclient *c) {
  mlproto_tls_free(c->tls);
  c->tls = NULL;
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->reused = c->broken = 0;
}

static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - now_ms();
    if (left <= 0)
      return MLPROTO_ERR_REQUEST_TIMEOUT;
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (r > 0)
      return MLPROTO_OK;
    if (r < 0 && errno != EINTR)
      return MLPROTO_ERR_IO;
  }
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *out) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0)
    return MLPROTO_ERR_IO;
  int one = 1;
  /* without it a loopback handshake takes ~90 ms instead of ~5 (DESIGN §8) */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = MLPROTO_OK;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      rc = MLPROTO_ERR_IO;
    } else if ((rc = wait_fd(fd, POLLOUT, deadline)) == MLPROTO_OK) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        rc = MLPROTO_ERR_IO;
    }
  }
  if (rc) {
    close(fd);
    return rc;
  }
  *out = fd;
  return MLPROTO_OK;
}

static int tcp_connect(ml_netclient *c, int64_t deadline) {
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)c->port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  if (getaddrinfo(c->host, port, &hints, &res) != 0 || !res) {
    hints.ai_flags = AI_NUMERICSERV; /* loopback-only hosts have no "configured" address */
    if (getaddrinfo(c->host, port, &hints, &res) != 0 || !res)
      return MLPROTO_ERR_IO;
  }
  int rc = MLPROTO_ERR_IO;
  for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    rc = connect_one(ai, deadline, &c->fd);
    if (rc == MLPROTO_OK || rc == MLPROTO_ERR_REQUEST_TIMEOUT)
      break;
  }
  freeaddrinfo(res);
  if (rc == MLPROTO_OK)
    c->stats.connects++;
  return rc;
}

/* Sends all pending TLS output. */
static int flush(ml_netclient *c, int64_t deadline) {
  uint8_t *data;
  size_t len;
  mlproto_tls_take_output(c->tls, &data, &len);
  size_t off = 0;
  int rc = MLPROTO_OK;
  while (off < len) {
    ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if ((rc = wait_fd(c->fd, POLLOUT, deadline)) != 0)
        break;
    } else {
      rc = MLPROTO_ERR_IO;
      break;
    }
  }
  mlproto_tls_output_free(data);
  return rc;
}

/* Receives what the socket has (waiting for it) into the TLS engine.
 * *eof set when the peer closed the connection. */
static int fill(ml_netclient *c, int64_t deadline, int *eof) {
  uint8_t buf[16384];
  *eof = 0;
  for (;;) {
    size_t room = mlproto_tls_inbound_space(c->tls);
    if (room == 0)
      return MLPROTO_ERR_TLS; /* the engine should have consumed a record */
    ssize_t n = recv(c->fd, buf, room < sizeof buf ? room : sizeof buf, 0);
    if (n > 0)
      return mlproto_tls_feed(c->tls, buf, (size_t)n);
    if (n == 0) {
      *eof = 1;
      return MLPROTO_OK;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return MLPROTO_ERR_IO;
    int rc = wait_fd(c->fd, POLLIN, deadline);
    if (rc)
      return rc;
  }
}

static int handshake(ml_netclient *c, int64_t deadline) {
  for (;;) {
    int rc = mlproto_tls_handshake(c->tls);
    int frc = flush(c, deadline);
    if (rc == MLPROTO_OK)
      return frc;
    if (rc < 0)
      return rc;
    if (frc)
      return frc;
    if (mlproto_tls_want_read(c->tls)) {
      int eof;
      if ((rc = fill(c, deadline, &eof)) != 0)
        return rc;
      if (eof)
        return MLPROTO_ERR_IO;
    }
  }
}

static int ensure_connected(ml_netclient *c, int64_t deadline) {
  if (c->tls)
    return MLPROTO_OK;
  int rc = tcp_connect(c, deadline);
  if (rc)
    return rc;
  if ((rc = mlproto_tls_new(&c->tls, c->cfg)) != 0) {
    drop(c);
    return rc;
  }
  if (c->resume) {
    /* a session that no longer loads just means a full handshake */
    (void)!mlproto_tls_set_resume(c->tls, c->resume, c->resume_len);
    mlproto_tls_resume_free(c->resume, c->resume_len);
    c->resume = NULL;
    c->resume_len = 0;
  }
  if ((rc = handshake(c, deadline)) != 0) {
    drop(c);
    return rc;
  }
  c->stats.handshakes++;
  c->stats.resumed += (unsigned)mlproto_tls_resumed(c->tls);
  return MLPROTO_OK;
}

static void keep_resume(ml_netclient *c) {
  uint8_t *blob;
  size_t len;
  if (mlproto_tls_get_resume(c->tls, &blob, &len) == MLPROTO_OK) {
    mlproto_tls_resume_free(c->resume, c->resume_len);
    c->resume = blob;
    c->resume_len = len;
  }
}

static int send_all(ml_netclient *c, const uint8_t *p, size_t len, int64_t deadline) {
  size_t off = 0;
  while (off < len) {
    size_t n;
    int rc = mlproto_tls_write(c->tls, p + off, len - off, &n);
    off += n;
    if (rc < 0)
      return rc;
    if ((rc = flush(c, deadline)) != 0)
      return rc;
  }
  return MLPROTO_OK;
}

/* The peer ended the connection: a response running to EOF is complete; one
 * cut short is a lost connection (IO), like one that never began. */
static int at_eof(ml_netclient *c, int got_bytes, const mlproto_http_response **resp) {
  if (!got_bytes)
    return MLPROTO_ERR_IO;
  int rc = mlproto_http_response_parser_eof(c->rp, resp);
  return rc == MLPROTO_ERR_BAD_HTTP ? MLPROTO_ERR_IO : rc;
}

/* *got_bytes: whether any response byte arrived (decides about a retry). */
static int receive(ml_netclient *c, int head, int64_t deadline,
                   const mlproto_http_response **resp, int *got_bytes) {
  uint8_t buf[16384];
  mlproto_http_response_parser_begin(c->rp, head);
  *resp = NULL;
  for (;;) {
    size_t n;
    int rc = mlproto_tls_read(c->tls, buf, sizeof buf, &n);
    if (rc == MLPROTO_OK) {
      *got_bytes = 1;
      size_t used;
      rc = mlproto_http_response_parser_feed(c->rp, buf, n, &used, resp);
      if (rc)
        return rc;
      if (*resp) {
        keep_resume(c);
        /* we never pipeline: bytes after the response are a broken peer */
        if (used != n)
          c->broken = 1;
        return MLPROTO_OK;
      }
      continue;
    }
    keep_resume(c); /* a TLS 1.3 ticket may have come in */
    if (rc == MLPROTO_ERR_TLS_CLOSED)
      return at_eof(c, *got_bytes, resp);
    if (rc < 0)
      return rc;
    if ((rc = flush(c, deadline)) != 0)
      return rc;
    int eof;
    if ((rc = fill(c, deadline, &eof)) != 0)
      return rc;
    if (eof)
      return at_eof(c, *got_bytes, resp);
  }
}

static int copy_response(const mlproto_http_response *r, ml_netclient_response *out) {
  out->status = r->status;
  out->body = mlproto_malloc(r->body_len + 1);
  if (!out->body)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  memcpy(out->body, r->body, r->body_len);
  out->body[r->body_len] = 0;
  out->body_len = r->body_len;
  const char *ra = mlproto_http_header_get(r->headers, r->n_headers, "retry-after");
  const char *sc = mlproto_http_header_get(r->headers, r->n_headers, "set-cookie");
  if ((r->content_type && !(out->content_type = mlproto_strdup(r->content_type))) ||
      (ra && !(out->retry_after = mlproto_strdup(ra))) ||
      (sc && !(out->set_cookie = mlproto_strdup(sc)))) {
    ml_netclient_response_free(out);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  return MLPROTO_OK;
}

int ml_netclient_request(ml_netclient *c, const char *method, const char *path,
                         const mlproto_http_header *headers, size_t n_headers, const void *body,
                         size_t body_len, ml_netclient_response *resp) {
  if (!resp)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(resp, 0, sizeof *resp);
  if (!c || !method || !path || body_len > SIZE_MAX - REQUEST_HEAD_CAP)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_buf req;
  mlproto_buf_init(&req, REQUEST_HEAD_CAP + body_len);
  const char *host = c->host; /* Host carries the name we connect to */
  int rc = mlproto_http_request_write(&req, method, path, host, headers, n_headers, body, body_len);
  if (rc) {
    mlproto_buf_free(&req);
    return rc == MLPROTO_ERR_TOO_LARGE ? MLPROTO_ERR_INVALID_ARGUMENT : rc;
  }
  int64_t deadline = now_ms() + c->timeout_ms;
  int head = strcmp(method, "HEAD") == 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    int was_reused = c->tls != NULL && c->reused;
    if ((rc = ensure_connected(c, deadline)) != 0)
      break;
    int got = 0;
    const mlproto_http_response *r = NULL;
    rc = send_all(c, req.data, req.len, deadline);
    if (rc == MLPROTO_OK)
      rc = receive(c, head, deadline, &r, &got);
    if (rc == MLPROTO_OK) {
      c->stats.requests++;
      rc = copy_response(r, resp);
      if (rc || !r->keep_alive || c->broken)
        ml_netclient_disconnect(c);
      else
        c->reused = 1;
      break;
    }
    drop(c);
    /* the server may close an idle kept-alive connection at any moment */
    if (!(was_reused && !got && rc != MLPROTO_ERR_REQUEST_TIMEOUT))
      break;
  }
  mlproto_buf_free(&req);
  return rc;
}

void ml_netclient_response_free(ml_netclient_response *r) {
  if (!r)
    return;
  mlproto_free(r->body);
  mlproto_free(r->content_type);
  mlproto_free(r->retry_after);
  mlproto_free(r->set_cookie);
  memset(r, 0, sizeof *r);
}

void ml_netclient_disconnect(ml_netclient *c) {
  if (!c || !c->tls)
    return;
  if (mlproto_tls_close_notify(c->tls) == MLPROTO_OK) {
    /* best effort, never wait long for a peer that is going away */
    (void)flush(c, now_ms() + 100);
  }
  drop(c);
}

int ml_netclient_resumed(const ml_netclient *c) {
  return c && c->tls ? mlproto_tls_resumed(c->tls) : 0;
}

void ml_netclient_get_stats(const ml_netclient *c, ml_netclient_stats *out) { *out = c->stats; }

void ml_netclient_close(ml_netclient *c) {
  if (!c)
    return;
  ml_netclient_disconnect(c);
  mlproto_tls_resume_free(c->resume, c->resume_len);
  mlproto_http_response_parser_free(c->rp);
  mlproto_tls_config_free(c->cfg);
  mlproto_free(c->host);
  mlproto_free(c);
}
