/*
 * http.c — HTTP/1.1 request and response parsing over llhttp, with caps.
 *
 * llhttp hands over spans; we copy what a request keeps (method, target,
 * header names and values, body) into buffers capped at creation, and pause
 * llhttp at the end of every message so that pipelined requests are served
 * one at a time. The head (request line + headers) is measured in raw bytes
 * by position, so the cap is exact, not an estimate from the spans.
 */
#include "mlproto/http.h"

#include "mlproto/alloc.h"

#include "wire_int.h"

#include <llhttp.h>
#include <string.h>

/* One engine serves both directions. */
struct hp {
  llhttp_t ll;
  mlproto_http_limits lim;
  int is_response;
  int err;            /* sticky error */
  int cb_err;         /* code of the callback that refused */
  int complete;       /* a message is complete; llhttp is past it */
  int head_done;      /* headers of the current message parsed */
  int paused_head;    /* execute() stopped right after the head */
  int interim;        /* response: a 1xx message just ended */
  int in_message;     /* bytes of the current message consumed */
  int head_request;   /* response to HEAD */
  int continue_pending;
  int over;           /* request without keep-alive was delivered */
  int hold_body;      /* requests: stop after the head of one with a body */
  int64_t declared;   /* request: Content-Length, -1 chunked, 0 none */
  size_t body_cap;    /* body cap of the current message (<= lim.max_body) */
  size_t path_off, query_off; /* request: path and query copies in text */
  size_t head_bytes;  /* raw head bytes of the current message so far */
  size_t chunk_base;  /* head_bytes before the current execute() */
  const char *chunk;  /* data of the current execute() */
  size_t trailer_bytes;
  mlproto_buf text;   /* NUL-terminated items: target, names, values */
  size_t url_len;
  size_t n_headers;
  size_t *offs;       /* per header: name offset, value offset */
  int in_value;       /* last span was a header value */
  mlproto_buf body;
  mlproto_http_header *hdrs;
  mlproto_http_request req;
  mlproto_http_response resp;
};

struct mlproto_http_parser {
  struct hp h;
};
struct mlproto_http_response_parser {
  struct hp h;
};

static const uint8_t empty_body[1];

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
      return 0;
  return *a == *b;
}

const char *mlproto_http_header_get(const mlproto_http_header *headers, size_t n,
                                    const char *name) {
  for (size_t i = 0; i < n; i++)
    if (ieq(headers[i].name, name))
      return headers[i].value;
  return NULL;
}

/* ----------------------------------------------------- llhttp callbacks -- */

static int refuse(struct hp *h, int code) {
  if (!h->cb_err)
    h->cb_err = code;
  return HPE_USER;
}

/* Raw head bytes up to the end of this span: the cap holds while the head
 * is still streaming in, before anything past it is buffered. */
static int head_overflow(const struct hp *h, const char *at, size_t len) {
  size_t pos = h->chunk_base + (size_t)(at - h->chunk) + len;
  return pos > h->lim.max_header_bytes;
}

static int text_append(struct hp *h, const char *at, size_t len) {
  int rc = mlproto_buf_append(&h->text, at, len);
  if (rc == MLPROTO_ERR_TOO_LARGE)
    return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
  return rc ? refuse(h, rc) : 0;
}

static int on_message_begin(llhttp_t *ll) {
  struct hp *h = ll->data;
  h->in_message = 1;
  return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len) {
  struct hp *h = ll->data;
  if (head_overflow(h, at, len))
    return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
  h->url_len += len;
  if (h->url_len > h->lim.max_url)
    return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
  return text_append(h, at, len);
}

static int on_url_complete(llhttp_t *ll) { return text_append(ll->data, "", 1); }

static int on_status(llhttp_t *ll, const char *at, size_t len) {
  struct hp *h = ll->data;
  return head_overflow(h, at, len) ? refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE) : 0;
}

/* Trailer fields of a chunked body are counted against the head cap and
 * dropped: merging them into the headers would let them override checked
 * fields (RFC 9110 §6.5.1). */
static int trailer(struct hp *h, size_t len) {
  h->trailer_bytes += len;
  return h->trailer_bytes > h->lim.max_header_bytes
             ? refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE)
             : 0;
}

/* Field names are RFC 9110 tokens: llhttp's default (non-strict) build lets
 * a space into a field name, which proxies may read differently. */

static int on_header_field(llhttp_t *ll, const char *at, size_t len) {
  struct hp *h = ll->data;
  if (h->head_done)
    return trailer(h, len);
  if (head_overflow(h, at, len))
    return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
  for (size_t i = 0; i < len; i++)
    if (!mlproto__http_tchar((unsigned char)at[i]))
      return refuse(h, MLPROTO_ERR_BAD_HTTP);
  if (h->offs[2 * h->n_headers] == SIZE_MAX) {
    if (h->n_headers == h->lim.max_headers)
      return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
    h->offs[2 * h->n_headers] = h->text.len;
  }
  return text_append(h, at, len);
}

static int on_header_field_complete(llhttp_t *ll) {
  struct hp *h = ll->data;
  if (h->head_done)
    return 0;
  if (h->offs[2 * h->n_headers] == SIZE_MAX)
    return refuse(h, MLPROTO_ERR_BAD_HTTP); /* empty name */
  int r = text_append(h, "", 1);
  h->offs[2 * h->n_headers + 1] = h->text.len;
  return r;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len) {
  struct hp *h = ll->data;
  if (h->head_done)
    return trailer(h, len);
  if (head_overflow(h, at, len))
    return refuse(h, MLPROTO_ERR_HEADERS_TOO_LARGE);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)at[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return refuse(h, MLPROTO_ERR_BAD_HTTP);
  }
  return text_append(h, at, len);
}

static int on_header_value_complete(llhttp_t *ll) {
  struct hp *h = ll->data;
  if (h->head_done)
    return 0;
  size_t start = h->offs[2 * h->n_headers + 1];
  /* llhttp drops leading blanks; trailing ones are ours to drop */
  while (h->text.len > start &&
         (h->text.data[h->text.len - 1] == ' ' || h->text.data[h->text.len - 1] == '\t'))
    h->text.len--;
  int r = text_append(h, "", 1);
  h->n_headers++;
  h->offs[2 * h->n_headers] = SIZE_MAX;
  return r;
}

static void build_headers(struct hp *h) {
  for (size_t i = 0; i < h->n_headers; i++) {
    h->hdrs[i].name = (const char *)h->text.data + h->offs[2 * i];
    h->hdrs[i].value = (const char *)h->text.data + h->offs[2 * i + 1];
  }
}

static size_t count_header(const struct hp *h, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < h->n_headers; i++)
    n += (size_t)ieq(h->hdrs[i].name, name);
  return n;
}

static int request_head_ok(struct hp *h) {
  llhttp_t *ll = &h->ll;
  if (ll->method == HTTP_CONNECT || ll->http_major != 1)
    return refuse(h, MLPROTO_ERR_BAD_HTTP);
  if (h->text.len == 0 || h->text.data[0] != '/')
    return refuse(h, MLPROTO_ERR_BAD_HTTP); /* origin-form only */
  if (ll->http_minor == 0 && (ll->flags & (F_CHUNKED | F_TRANSFER_ENCODING)))
    return refuse(h, MLPROTO_ERR_BAD_HTTP);
  size_t hosts = count_header(h, "host");
  if (hosts > 1 || (ll->http_minor == 1 && hosts == 0))
    return refuse(h, MLPROTO_ERR_BAD_HTTP);
  if (count_header(h, "content-type") > 1)
    return refuse(h, MLPROTO_ERR_BAD_HTTP);
  size_t expects = count_header(h, "expect");
  if (expects) {
    const char *e = mlproto_http_header_get(h->hdrs, h->n_headers, "expect");
    if (expects > 1 || !ieq(e, "100-continue"))
      return refuse(h, MLPROTO_ERR_EXPECTATION_FAILED);
    /* HTTP/1.0 clients do not wait for it (RFC 9110 §10.1.1) */
    if (ll->http_minor == 1 &&
        ((ll->flags & F_CHUNKED) || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0)))
      h->continue_pending = 1;
  }
  return 0;
}

/* Path and query as separate strings after the head's items, so that the
 * head can be shown before the body (mlproto_http_parser_head); appending
 * may move text, so split a copy of the target. */
static int split_target(struct hp *h) {
  size_t tlen = strlen((const char *)h->text.data);
  char *target = mlproto_memdup(h->text.data, tlen + 1);
  if (!target)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  const char *q = memchr(target, '?', tlen);
  size_t plen = q ? (size_t)(q - target) : tlen;
  h->path_off = h->text.len;
  int rc = mlproto_buf_append(&h->text, target, plen);
  if (!rc)
    rc = mlproto_buf_append(&h->text, "", 1);
  h->query_off = h->text.len;
  if (!rc)
    rc = mlproto_buf_append(&h->text, q ? q + 1 : "", q ? tlen - plen - 1 : 0);
  if (!rc)
    rc = mlproto_buf_append(&h->text, "", 1);
  mlproto_free(target);
  if (rc)
    return rc == MLPROTO_ERR_TOO_LARGE ? MLPROTO_ERR_HEADERS_TOO_LARGE : rc;
  build_headers(h); /* text may have moved */
  return MLPROTO_OK;
}

static int on_headers_complete(llhttp_t *ll) {
  struct hp *h = ll->data;
  h->head_done = 1;
  build_headers(h);
  if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > h->lim.max_body)
    return refuse(h, MLPROTO_ERR_BODY_TOO_LARGE);
  if (h->is_response) {
    int st = ll->status_code;
    if (h->head_request && st >= 200)
      return 1; /* no body, whatever the headers say; ends at once */
  } else {
    if (request_head_ok(h))
      return HPE_USER;
    int rc = split_target(h);
    if (rc)
      return refuse(h, rc);
    if (ll->flags & F_CHUNKED)
      h->declared = -1;
    else if (ll->flags & F_CONTENT_LENGTH)
      h->declared = (int64_t)ll->content_length;
    else
      h->declared = 0;
  }
  /* stop right after the head so that execute()'s caller learns its exact
   * length */
  h->paused_head = 1;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t len) {
  struct hp *h = ll->data;
  if (len > h->body_cap - h->body.len)
    return refuse(h, MLPROTO_ERR_BODY_TOO_LARGE);
  int rc = mlproto_buf_append(&h->body, at, len);
  if (rc == MLPROTO_ERR_TOO_LARGE)
    return refuse(h, MLPROTO_ERR_BODY_TOO_LARGE);
  return rc ? refuse(h, rc) : 0;
}

static int on_chunk_header(llhttp_t *ll) {
  struct hp *h = ll->data;
  /* refuse a chunk that cannot fit before buffering any of it */
  if (ll->content_length > h->body_cap - h->body.len)
    return refuse(h, MLPROTO_ERR_BODY_TOO_LARGE);
  return 0;
}

static int on_message_complete(llhttp_t *ll) {
  struct hp *h = ll->data;
  if (h->is_response && ll->status_code >= 100 && ll->status_code < 200)
    h->interim = 1;
  else
    h->complete = 1;
  return HPE_PAUSED;
}

/* One table for both directions: llhttp calls the url callbacks only while
 * it parses a request line and on_status only for a status line. */
static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

/* ---------------------------------------------------------------- engine -- */

static void hp_reset_message(struct hp *h) {
  /* freed, not kept: an idle keep-alive connection holds no buffers */
  mlproto_buf_free(&h->text);
  mlproto_buf_free(&h->body);
  h->n_headers = 0;
  h->offs[0] = SIZE_MAX;
  h->url_len = 0;
  h->complete = h->head_done = h->in_message = h->paused_head = h->interim = 0;
  h->continue_pending = 0;
  h->head_bytes = h->trailer_bytes = 0;
  h->declared = 0;
  h->body_cap = h->lim.max_body;
  h->path_off = h->query_off = 0;
}

static int hp_init(struct hp *h, const mlproto_http_limits *lim, int is_response) {
  mlproto_http_limits d = MLPROTO_HTTP_LIMITS_DEFAULT;
  if (lim) {
    if (lim->max_header_bytes)
      d.max_header_bytes = lim->max_header_bytes;
    if (lim->max_headers)
      d.max_headers = lim->max_headers;
    if (lim->max_url)
      d.max_url = lim->max_url;
    if (lim->max_body)
      d.max_body = lim->max_body;
  }
  if (d.max_headers > 100000 || d.max_header_bytes > (SIZE_MAX >> 4) ||
      d.max_url > (SIZE_MAX >> 4))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  h->lim = d;
  h->is_response = is_response;
  h->offs = mlproto_calloc(2 * d.max_headers + 2, sizeof *h->offs);
  h->hdrs = mlproto_calloc(d.max_headers + 1, sizeof *h->hdrs);
  if (!h->offs || !h->hdrs)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  /* the head's items with one NUL each, then path and query copies */
  mlproto_buf_init(&h->text, d.max_header_bytes + d.max_url + 16);
  mlproto_buf_init(&h->body, d.max_body);
  hp_reset_message(h);
  llhttp_init(&h->ll, is_response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
  h->ll.data = h;
  return MLPROTO_OK;
}

static void hp_free(struct hp *h) {
  mlproto_buf_free(&h->text);
  mlproto_buf_free(&h->body);
  mlproto_free(h->offs);
  mlproto_free(h->hdrs);
}

/* Runs llhttp over data until a message completes, the data ends or an
 * error. OK or a negative code (sticky); *consumed bytes used. */
static int hp_execute(struct hp *h, const char *data, size_t len, size_t *consumed) {
  size_t off = 0;
  int after_head = 0;
  /* After a pause at the head's end one more call, even with no bytes,
   * lets llhttp finish a bodiless message. */
  while (!h->complete && (off < len || after_head)) {
    int head_phase = !h->head_done;
    h->chunk = data + off;
    h->chunk_base = h->head_bytes;
    h->paused_head = 0;
    h->cb_err = 0;
    llhttp_errno_t e = llhttp_execute(&h->ll, data + off, len - off);
    size_t used;
    if (e == HPE_PAUSED) {
      used = (size_t)(llhttp_get_error_pos(&h->ll) - (data + off));
      llhttp_resume(&h->ll);
    } else if (e == HPE_OK) {
      used = len - off;
    } else {
      /* llhttp reports a refusal from on_headers_complete as its own
       * HPE_CB_HEADERS_COMPLETE: our code says why */
      h->err = h->cb_err ? h->cb_err : MLPROTO_ERR_BAD_HTTP;
      return h->err;
    }
    off += used;
    /* Either execute() stopped at the head's end (paused_head), or at the
     * end of a bodiless message right after its head, or the head is still
     * incomplete: in each case all of `used` is head. */
    if (head_phase) {
      h->head_bytes += used;
      if (h->head_bytes > h->lim.max_header_bytes) {
        h->err = MLPROTO_ERR_HEADERS_TOO_LARGE;
        return h->err;
      }
    }
    after_head = h->paused_head;
    /* hold_body: the caller looks at the head before any body byte */
    if (after_head && h->hold_body && !h->is_response && h->declared != 0)
      break;
    if (h->interim) {
      int head_request = h->head_request;
      hp_reset_message(h);
      h->head_request = head_request;
    }
  }
  *consumed = off;
  return MLPROTO_OK;
}

/* The request as far as it is known: the head's items (split_target ran at
 * the head's end) and the body received so far. */
static void fill_request(struct hp *h) {
  mlproto_http_request *r = &h->req;
  r->method = llhttp_method_name((llhttp_method_t)h->ll.method);
  r->target = (const char *)h->text.data;
  r->path = (const char *)h->text.data + h->path_off;
  r->query = (const char *)h->text.data + h->query_off;
  r->headers = h->hdrs;
  r->n_headers = h->n_headers;
  r->content_type = mlproto_http_header_get(h->hdrs, h->n_headers, "content-type");
  r->body = h->body.len ? h->body.data : empty_body;
  r->body_len = h->body.len;
  r->declared_length = h->declared;
  r->http_minor = h->ll.http_minor;
}

static int finish_request(struct hp *h) {
  fill_request(h);
  /* we never switch protocols: an upgrade request ends the connection */
  h->req.keep_alive = llhttp_should_keep_alive(&h->ll) && !h->ll.upgrade;
  h->continue_pending = 0;
  return MLPROTO_OK;
}

static void finish_response(struct hp *h) {
  build_headers(h);
  mlproto_http_response *r = &h->resp;
  r->status = h->ll.status_code;
  r->headers = h->hdrs;
  r->n_headers = h->n_headers;
  r->content_type = mlproto_http_header_get(h->hdrs, h->n_headers, "content-type");
  r->body = h->body.len ? h->body.data : empty_body;
  r->body_len = h->body.len;
  r->keep_alive = llhttp_should_keep_alive(&h->ll);
}

/* Both feeds: OK, with h->complete set once a message is whole and its
 * request or response filled in (also on later calls, consuming nothing),
 * or a negative code. */
static int hp_feed(struct hp *h, const void *data, size_t len, size_t *consumed) {
  *consumed = 0;
  if (h->err)
    return h->err;
  if (h->complete)
    return MLPROTO_OK;
  if (h->over && len) {
    h->err = MLPROTO_ERR_BAD_HTTP; /* bytes after a final request */
    return h->err;
  }
  if (len && !data)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = hp_execute(h, data, len, consumed);
  if (rc || !h->complete)
    return rc;
  if (h->is_response) {
    finish_response(h);
    return MLPROTO_OK;
  }
  if ((rc = finish_request(h)) != 0)
    h->err = rc;
  return rc;
}

/* Each parser type is a struct hp and nothing else, so the engine's
 * address is the parser's (C11 6.7.2.1): both types are made and freed
 * here. */
static void hp_delete(struct hp *h) {
  hp_free(h);
  mlproto_free(h);
}

/* `size` is the parser type's; on failure *out is NULL. */
static int hp_new(void **out, size_t size, const mlproto_http_limits *lim, int is_response) {
  *out = NULL;
  struct hp *h = mlproto_calloc(1, size);
  if (!h)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc = hp_init(h, lim, is_response);
  if (rc) {
    hp_delete(h);
    return rc;
  }
  *out = h;
  return MLPROTO_OK;
}

/* -------------------------------------------------------- request parser -- */

int mlproto_http_parser_new(mlproto_http_parser **out, const mlproto_http_limits *limits) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  void *p;
  int rc = hp_new(&p, sizeof **out, limits, 0);
  *out = p;
  return rc;
}

void mlproto_http_parser_free(mlproto_http_parser *p) {
  if (p)
    hp_delete(&p->h);
}

int mlproto_http_parser_feed(mlproto_http_parser *p, const void *data, size_t len,
                             size_t *consumed, const mlproto_http_request **req) {
  int rc = hp_feed(&p->h, data, len, consumed);
  *req = rc == MLPROTO_OK && p->h.complete ? &p->h.req : NULL;
  return rc;
}

int mlproto_http_parser_take_continue(mlproto_http_parser *p) {
  if (!p->h.continue_pending || p->h.err || p->h.complete)
    return 0;
  p->h.continue_pending = 0;
  return 1;
}

void mlproto_http_parser_hold_body(mlproto_http_parser *p, int on) { p->h.hold_body = on != 0; }

const mlproto_http_request *mlproto_http_parser_head(mlproto_http_parser *p) {
  struct hp *h = &p->h;
  if (h->err || !h->head_done)
    return NULL;
  if (!h->complete) {
    fill_request(h);
    h->req.keep_alive = 0; /* not known before the end of the message */
  }
  return &h->req;
}

int mlproto_http_parser_limit_body(mlproto_http_parser *p, size_t max) {
  struct hp *h = &p->h;
  if (h->err)
    return h->err;
  if (!h->head_done || h->complete)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (max >= h->body_cap)
    return MLPROTO_OK;
  if ((h->declared > 0 && (uint64_t)h->declared > max) || h->body.len > max) {
    h->err = MLPROTO_ERR_BODY_TOO_LARGE;
    return h->err;
  }
  h->body_cap = max;
  return MLPROTO_OK;
}

int mlproto_http_parser_in_request(const mlproto_http_parser *p) {
  return p->h.in_message && !p->h.complete;
}

void mlproto_http_parser_next(mlproto_http_parser *p) {
  struct hp *h = &p->h;
  if (!h->complete)
    return;
  if (!h->req.keep_alive)
    h->over = 1;
  memset(&h->req, 0, sizeof h->req);
  hp_reset_message(h);
}

/* ------------------------------------------------------- response parser -- */

int mlproto_http_response_parser_new(mlproto_http_response_parser **out,
                                     const mlproto_http_limits *limits) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  void *p;
  int rc = hp_new(&p, sizeof **out, limits, 1);
  *out = p;
  return rc;
}

void mlproto_http_response_parser_free(mlproto_http_response_parser *p) {
  if (p)
    hp_delete(&p->h);
}

void mlproto_http_response_parser_begin(mlproto_http_response_parser *p, int head_request) {
  struct hp *h = &p->h;
  memset(&h->resp, 0, sizeof h->resp);
  hp_reset_message(h);
  h->err = 0;
  h->head_request = head_request;
  /* a fresh llhttp state: the previous response may have ended oddly */
  llhttp_init(&h->ll, HTTP_RESPONSE, &settings);
  h->ll.data = h;
}

int mlproto_http_response_parser_feed(mlproto_http_response_parser *p, const void *data,
                                      size_t len, size_t *consumed,
                                      const mlproto_http_response **resp) {
  int rc = hp_feed(&p->h, data, len, consumed);
  *resp = rc == MLPROTO_OK && p->h.complete ? &p->h.resp : NULL;
  return rc;
}

int mlproto_http_response_parser_eof(mlproto_http_response_parser *p,
                                     const mlproto_http_response **resp) {
  struct hp *h = &p->h;
  *resp = NULL;
  if (h->err)
    return h->err;
  if (!h->complete) {
    if (!h->head_done || !llhttp_message_needs_eof(&h->ll)) {
      h->err = MLPROTO_ERR_BAD_HTTP;
      return h->err;
    }
    llhttp_errno_t e = llhttp_finish(&h->ll);
    if ((e != HPE_OK && e != HPE_PAUSED) || !h->complete) {
      h->err = h->cb_err ? h->cb_err : MLPROTO_ERR_BAD_HTTP;
      return h->err;
    }
    finish_response(h);
    h->resp.keep_alive = 0;
  }
  *resp = &h->resp;
  return MLPROTO_OK;
}
