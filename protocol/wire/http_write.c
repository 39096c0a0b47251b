/*
 * http_write.c — HTTP/1.1 serializers, Date formatting and query helpers.
 */
#include "mlproto/http.h"

#include "wire_int.h"

#include <stdio.h>
#include <string.h>

const char *mlproto_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 426: return "Upgrade Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 507: return "Insufficient Storage";
  default: return "Unknown";
  }
}

int mlproto_http_date(char out[MLPROTO_HTTP_DATE_LEN], int64_t t) {
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (t < 0 || t > 253402300799) /* 9999-12-31T23:59:59Z */
    return MLPROTO_ERR_OUT_OF_RANGE;
  mlproto__utc u;
  mlproto__utc_from_unix(&u, t);
  snprintf(out, MLPROTO_HTTP_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[u.wday], u.day,
           months[u.month - 1], (int)u.year, u.hour, u.min, u.sec);
  return MLPROTO_OK;
}

int mlproto__http_tchar(unsigned char c) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && memchr(extra, c, sizeof extra - 1));
}

static int token_ok(const char *s) {
  if (!s || !*s)
    return 0;
  for (; *s; s++)
    if (!mlproto__http_tchar((unsigned char)*s))
      return 0;
  return 1;
}

/* Field values and targets: visible ASCII, blanks (not for targets) and
 * obs-text; never CR, LF or NUL, which would split the message. */
static int text_ok(const char *s, int allow_blank) {
  if (!s)
    return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == 0x7f || (c < 0x20 && !(allow_blank && c == '\t')) || (c == ' ' && !allow_blank))
      return 0;
  }
  return 1;
}

/* extra_headers: zero or more "Name: value\r\n" lines. */
static int lines_ok(const char *s) {
  while (*s) {
    const char *colon = s;
    while (mlproto__http_tchar((unsigned char)*colon))
      colon++;
    if (colon == s || *colon != ':')
      return 0;
    const char *p = colon + 1;
    for (; *p && *p != '\r'; p++) {
      unsigned char c = (unsigned char)*p;
      if (c == 0x7f || (c < 0x20 && c != '\t'))
        return 0;
    }
    if (p[0] != '\r' || p[1] != '\n')
      return 0;
    s = p + 2;
  }
  return 1;
}

static int no_body_status(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

int mlproto_http_response_write(mlproto_buf *out, const mlproto_http_response_head *h,
                                const void *body, size_t body_len) {
  if (!out || !h || h->status < 100 || h->status > 599 || (body_len && !body))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (no_body_status(h->status) && body_len)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if ((h->content_type && !text_ok(h->content_type, 1)) || (h->date && !text_ok(h->date, 1)) ||
      (h->extra_headers && !lines_ok(h->extra_headers)))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t mark = out->len;
  int rc = mlproto_buf_printf(out, "HTTP/1.1 %d %s\r\n", h->status, mlproto_http_reason(h->status));
  if (!rc && h->date)
    rc = mlproto_buf_printf(out, "Date: %s\r\n", h->date);
  if (!rc && h->content_type)
    rc = mlproto_buf_printf(out, "Content-Type: %s\r\n", h->content_type);
  if (!rc && !no_body_status(h->status))
    rc = mlproto_buf_printf(out, "Content-Length: %zu\r\n", body_len);
  if (!rc && h->status >= 200)
    rc = mlproto_buf_printf(out, "Connection: %s\r\n", h->keep_alive ? "keep-alive" : "close");
  if (!rc && h->extra_headers)
    rc = mlproto_buf_append(out, h->extra_headers, strlen(h->extra_headers));
  if (!rc)
    rc = mlproto_buf_append(out, "\r\n", 2);
  if (!rc && !h->head_only)
    rc = mlproto_buf_append(out, body, body_len);
  if (rc)
    out->len = mark;
  return rc;
}

int mlproto_http_request_write(mlproto_buf *out, const char *method, const char *target,
                               const char *host, const mlproto_http_header *headers,
                               size_t n_headers, const void *body, size_t body_len) {
  if (!out || !token_ok(method) || !target || target[0] != '/' || !text_ok(target, 0) ||
      !host || !*host || !text_ok(host, 0) || (body_len && !body) || (n_headers && !headers))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n_headers; i++) {
    if (!token_ok(headers[i].name) || !text_ok(headers[i].value, 1))
      return MLPROTO_ERR_INVALID_ARGUMENT;
    /* both are ours to write */
    if (mlproto_http_header_get(&headers[i], 1, "host") ||
        mlproto_http_header_get(&headers[i], 1, "content-length"))
      return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  size_t mark = out->len;
  int rc = mlproto_buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host);
  int wants_length = body_len || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
                     !strcmp(method, "PATCH");
  if (!rc && wants_length)
    rc = mlproto_buf_printf(out, "Content-Length: %zu\r\n", body_len);
  for (size_t i = 0; !rc && i < n_headers; i++)
    rc = mlproto_buf_printf(out, "%s: %s\r\n", headers[i].name, headers[i].value);
  if (!rc)
    rc = mlproto_buf_append(out, "\r\n", 2);
  if (!rc)
    rc = mlproto_buf_append(out, body, body_len);
  if (rc)
    out->len = mark;
  return rc;
}

/* ---------------------------------------------------------------- query -- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (cap bytes incl. the NUL). Returns the
 * decoded length, or -1 when malformed, NUL-bearing or too long. */
static long decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= n)
        return -1;
      int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      c = hi << 4 | lo;
      if (c == 0)
        return -1;
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return (long)o;
}

int mlproto_http_query_get(const char *query, const char *name, char *out, size_t out_cap,
                           size_t *out_len) {
  if (!query || !name || !*name || !out || out_cap == 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t qlen = strnlen(query, MLPROTO_HTTP_MAX_QUERY + 1);
  if (qlen > MLPROTO_HTTP_MAX_QUERY)
    return MLPROTO_ERR_BAD_QUERY;
  char key[MLPROTO_HTTP_MAX_QUERY + 1];
  int found = 0;
  const char *p = query, *end = query + qlen;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    if (pe > p) {
      const char *eq = memchr(p, '=', (size_t)(pe - p));
      const char *ke = eq ? eq : pe;
      if (decode(p, (size_t)(ke - p), key, sizeof key) < 0)
        return MLPROTO_ERR_BAD_QUERY;
      if (strcmp(key, name) == 0) {
        if (found)
          return MLPROTO_ERR_BAD_QUERY; /* ambiguous: which one did the caller mean? */
        found = 1;
        const char *v = eq ? eq + 1 : pe;
        long n = decode(v, (size_t)(pe - v), out, out_cap);
        if (n < 0)
          return MLPROTO_ERR_BAD_QUERY;
        if (out_len)
          *out_len = (size_t)n;
      }
    }
    p = amp ? amp + 1 : end;
  }
  return found ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

int mlproto_http_query_u64(const char *query, const char *name, uint64_t min, uint64_t max,
                           uint64_t *out) {
  char v[32];
  size_t n;
  int rc = mlproto_http_query_get(query, name, v, sizeof v, &n);
  if (rc)
    return rc;
  if (n == 0 || (n > 1 && v[0] == '0'))
    return MLPROTO_ERR_BAD_QUERY;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return MLPROTO_ERR_BAD_QUERY;
    unsigned d = (unsigned)(v[i] - '0');
    if (x > (UINT64_MAX - d) / 10)
      return MLPROTO_ERR_BAD_QUERY;
    x = x * 10 + d;
  }
  if (x < min || x > max)
    return MLPROTO_ERR_BAD_QUERY;
  *out = x;
  return MLPROTO_OK;
}
