/* app_web.c — the jobcentre caseworker's web pages (docs/web.md):
 *   GET  /jobcentre/              the overview, or the sign-in form
 *   GET  /jobcentre/grants/REF    one grant (REF: its id, or its reference)
 *   GET  /jobcentre/timesheet     a month's timesheet (?month=YYYY-MM)
 *   GET  /jobcentre/style.css     the stylesheet (embedded; ETag, 304)
 *   GET  /jobcentre/icon.svg      the icon (the same)
 *   POST /jobcentre/signin        token=... : a session cookie
 *   POST /jobcentre/signout       ends the session
 * and ?format=csv on each page for the API's CSV of the same report.
 *
 * The pages are HTML without script, rendered by protocol/'s report code
 * (mlproto/html.h) over the grants app_jobcentre.c gathers for the API,
 * at the same checkpoint and `now`: a page and its CSV cannot disagree.
 *
 * Sessions: the cookie holds 32 random bytes (libsodium), base64url; the
 * store keeps SHA-256 of a tag and that value (never the value) and the
 * hash of the jobcentre token it was opened with (never the token), so
 * every instance sharing the store knows the session and every request
 * checks the token again. Idle sessions end after WEB_IDLE_MS, every
 * session after WEB_LIFETIME_MS. A POST must come from this server's own
 * page (origin_ok: 403 otherwise): with SameSite=Strict, the guard against
 * cross-site requests. Failed sign-ins count against the address as every
 * failed token does (app_api_token_given). */
#include "app_int.h"
#include "web_assets.h"

#include <ctype.h>

#include "mlproto/civiltime.h"
#include "mlproto/html.h"
#include "mlproto/json.h"

#define WEB_IDLE_MS (30u * 60u * 1000u)
#define WEB_LIFETIME_MS (8u * 3600u * 1000u)
/* A session's expiry is written again at most this often (a request
 * within it of the last renewal only reads). */
#define WEB_TOUCH_MS (60u * 1000u)
#define WEB_PURGE_BATCH 64u
#define WEB_COOKIE "mlsession"
#define WEB_PAGE_CAP (32u << 20)
#define WEB_CSV_CAP (64u << 20)
#define CT_HTML "text/html; charset=utf-8"

/* On every answer below /jobcentre/ (docs/web.md). */
#define WEB_HEADERS                                                                           \
  "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; "          \
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\n"                           \
  "X-Content-Type-Options: nosniff\r\n"                                                      \
  "Referrer-Policy: no-referrer\r\n"

typedef struct web {
  ctx *c;
  mlproto_html_options o;
  char jc[MLS_JOBCENTRE_MAX + 1]; /* the session's jobcentre */
  uint8_t sid[32];                /* the session's id hash */
  int has_session;
  const char *cache;    /* the Cache-Control value */
  char lang_q[16];      /* "lang=xx" when the query chose it, else "" */
} web;

/* ---------------------------------------------------------- answers --- */

static void add_header(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_header(ctx *c, const char *fmt, ...) {
  size_t used = strlen(c->resp->extra_headers);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->resp->extra_headers + used, sizeof c->resp->extra_headers - used, fmt, ap);
  va_end(ap);
}

/* The headers of every answer first, then those of the handler worth
 * keeping (an API helper's WWW-Authenticate: Bearer is not: a page signs
 * in with a form). */
void app_web_guard(ctx *c) {
  if (strstr(c->resp->extra_headers, "Content-Security-Policy:")) return; /* the page's own */
  size_t n = strlen(c->resp->extra_headers);
  int k = snprintf(c->resp->extra_headers + n, sizeof c->resp->extra_headers - n,
                   WEB_HEADERS "Cache-Control: no-store\r\n");
  if (k < 0 || (size_t)k >= sizeof c->resp->extra_headers - n) c->resp->extra_headers[n] = 0;
}

static void web_headers(web *w) {
  mls_response *r = w->c->resp;
  char kept[sizeof r->extra_headers];
  size_t k = 0;
  for (const char *p = r->extra_headers; *p;) {
    const char *e = strstr(p, "\r\n");
    size_t len = e ? (size_t)(e - p) + 2 : strlen(p);
    if (strncasecmp(p, "WWW-Authenticate:", 17) != 0 && k + len < sizeof kept) {
      memcpy(kept + k, p, len);
      k += len;
    }
    p += len;
  }
  char head[512];
  int hn = snprintf(head, sizeof head, WEB_HEADERS "Cache-Control: %s\r\n",
                    w->cache ? w->cache : "no-store");
  if (hn < 0 || (size_t)hn >= sizeof head) hn = 0; /* never: the values are ours */
  if ((size_t)hn + k >= sizeof r->extra_headers) k = 0; /* never: ~600 bytes at most */
  memcpy(r->extra_headers, head, (size_t)hn);
  memcpy(r->extra_headers + hn, kept, k);
  r->extra_headers[(size_t)hn + k] = 0;
}

static int web_error(web *w, int code, const char *detail);

/* An empty body of at most cap bytes for the answer. */
static void body_begin(ctx *c, size_t cap) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, cap);
}

/* A page a renderer of mlproto/html.h wrote into the body (rc: its
 * answer): sent with status, or an error page when it failed. */
static int page_done(web *w, int rc, int status) {
  ctx *c = w->c;
  if (rc) {
    app_log("error", "web_render", "conn=%" PRIu64 " code=%s", c->req->conn_id,
            mlproto_errname(rc));
    return web_error(w, rc, NULL);
  }
  c->resp->status = status;
  c->resp->content_type = CT_HTML;
  c->resp->error_code = status >= 400 ? c->resp->error_code : MLPROTO_OK;
  return MLPROTO_OK;
}

/* The error page of code (with its HTTP status); detail may be NULL. */
static int web_error(web *w, int code, const char *detail) {
  ctx *c = w->c;
  if (code == MLPROTO_OK) code = MLPROTO_ERR_INTERNAL;
  body_begin(c, 1u << 16);
  int status = mlproto_http_status(code);
  int rc = mlproto_html_error(&c->resp->body, &w->o, status, code, detail);
  if (rc) mlproto_buf_reset(&c->resp->body); /* a detail too long: the status alone */
  c->resp->status = status;
  c->resp->content_type = CT_HTML;
  c->resp->error_code = code;
  return code;
}

/* A helper of the API (app_fail) answered an error: the same error as a
 * page, its Retry-After kept. */
static int web_refused(web *w, int code) {
  char retry[64] = "";
  const char *ra = strstr(w->c->resp->extra_headers, "Retry-After:");
  if (ra) {
    const char *e = strstr(ra, "\r\n");
    size_t n = e ? (size_t)(e - ra) + 2 : strlen(ra);
    if (n < sizeof retry) memcpy(retry, ra, n), retry[n] = 0;
  }
  w->c->resp->extra_headers[0] = 0;
  if (retry[0]) add_header(w->c, "%s", retry);
  return web_error(w, code, NULL);
}

static int redirect(web *w, int status, const char *to) {
  ctx *c = w->c;
  body_begin(c, 64);
  c->resp->status = status;
  c->resp->content_type = NULL;
  c->resp->error_code = MLPROTO_OK;
  char l[24] = "";
  if (w->lang_q[0]) snprintf(l, sizeof l, "%s%s", strchr(to, '?') ? "&" : "?", w->lang_q);
  add_header(c, "Location: %s%s\r\n", to, l);
  return MLPROTO_OK;
}

/* ---------------------------------------------------------- request --- */

/* The value of query parameter name (first occurrence), or NULL; *len. */
static const char *query_value(const char *q, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *p = q; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t seg = amp ? (size_t)(amp - p) : strlen(p);
    if (seg > nl && p[nl] == '=' && memcmp(p, name, nl) == 0) {
      *len = seg - nl - 1;
      return p + nl + 1;
    }
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* ?lang=da|en decides (and is kept in the page's links), else Accept-Language. */
static void web_lang(web *w) {
  size_t n = 0;
  const char *v = query_value(w->c->req->query, "lang", &n);
  if (v && n == 2 && (memcmp(v, "en", 2) == 0 || memcmp(v, "da", 2) == 0)) {
    w->o.lang = v[0] == 'e' ? MLPROTO_LANG_EN : MLPROTO_LANG_DA;
    w->o.lang_in_links = 1;
    snprintf(w->lang_q, sizeof w->lang_q, "lang=%.2s", v);
    return;
  }
  w->o.lang = mlproto_lang_from_accept(app_header(w->c->req, "Accept-Language"));
}

/* The query, strictly (app_parse_query's rules) over names and lang. */
static int web_query(web *w, qparam *ps, size_t n) {
  qparam all[8];
  if (n + 1 > sizeof all / sizeof all[0]) return web_error(w, MLPROTO_ERR_INTERNAL, NULL);
  memcpy(all, ps, n * sizeof *ps);
  all[n] = (qparam){.name = "lang"};
  int rc = app_parse_query(w->c, all, n + 1);
  if (rc) return web_refused(w, rc);
  if (all[n].seen && !(all[n].len == 2 && (memcmp(all[n].val, "en", 2) == 0 ||
                                           memcmp(all[n].val, "da", 2) == 0)))
    return web_error(w, MLPROTO_ERR_BAD_QUERY, "lang: da or en");
  memcpy(ps, all, n * sizeof *ps);
  return MLPROTO_OK;
}

static int is_csv(web *w, const qparam *p, int *csv) {
  *csv = 0;
  if (!p->seen) return MLPROTO_OK;
  if (p->len == 3 && memcmp(p->val, "csv", 3) == 0) {
    *csv = 1;
    return MLPROTO_OK;
  }
  if (p->len == 4 && memcmp(p->val, "html", 4) == 0) return MLPROTO_OK;
  return web_error(w, MLPROTO_ERR_BAD_QUERY, "format: html or csv");
}

/* A POST comes from a page of this server: Origin is https://<Host>. Or
 * Origin is "null" and Fetch Metadata says same-origin: under the pages'
 * own Referrer-Policy: no-referrer a browser sends "null" for the origin
 * of its form posts (Fetch, "append a request Origin header"), and
 * Sec-Fetch-Site, which no page can set, tells its own forms from another
 * site's. Anything else (no Origin, another origin, "null" without
 * same-origin) is refused. */
static int origin_ok(const ctx *c) {
  const char *origin = app_header(c->req, "Origin");
  const char *host = app_header(c->req, "Host");
  if (!origin || !host || !*host) return 0;
  static const char scheme[] = "https://";
  size_t sl = sizeof scheme - 1;
  if (strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0) return 1;
  const char *site = app_header(c->req, "Sec-Fetch-Site");
  return strcmp(origin, "null") == 0 && site && strcmp(site, "same-origin") == 0;
}

/* ---------------------------------------------------------- sessions --- */

static void session_hash(uint8_t out[32], const char *value, size_t len) {
  static const char tag[] = "mentorlog/web-session/v1";
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof tag);
  crypto_hash_sha256_update(&st, (const uint8_t *)value, len);
  crypto_hash_sha256_final(&st, out);
}

/* The k-th (0-based) value of the session cookie in the Cookie header, or
 * NULL when there are not that many; *len. */
static const char *cookie_nth(const ctx *c, size_t k, size_t *len) {
  const char *h = app_header(c->req, "Cookie");
  static const char name[] = WEB_COOKIE "=";
  for (const char *p = h; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == ';') p++;
    const char *end = strchr(p, ';');
    size_t seg = end ? (size_t)(end - p) : strlen(p);
    if (seg >= sizeof name - 1 && strncmp(p, name, sizeof name - 1) == 0 && k-- == 0) {
      const char *v = p + sizeof name - 1;
      size_t n = seg - (sizeof name - 1);
      while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
      *len = n;
      return v;
    }
    p = end;
  }
  return NULL;
}

/* The session cookie's value in the Cookie header, or NULL. Two cookies
 * of that name give NULL (signed out): the cookie is ours only with
 * Path=/jobcentre, and a page of a sibling domain can set another of the
 * same name (Domain=parent, a longer Path, sent first) to slip its own
 * session in; with two, neither is taken. */
static const char *cookie_value(const ctx *c, size_t *len) {
  size_t n2;
  const char *v = cookie_nth(c, 0, len);
  return v && !cookie_nth(c, 1, &n2) ? v : NULL;
}

/* The request's session, if any: its jobcentre (the token looked up
 * again), its idle time renewed; with spend, the request takes one of the
 * token's request budget (signing out takes none: it must always work). A cookie that names no live session is
 * no failure: the caseworker is simply signed out (the value is 256
 * random bits: nothing to guess). */
static int session_load(web *w, int spend) {
  ctx *c = w->c;
  size_t len = 0;
  const char *v = cookie_value(c, &len);
  if (!v || len != 43) return MLPROTO_OK;
  session_hash(w->sid, v, len);
  mls_txn *tx;
  int rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  uint8_t th[32];
  uint64_t created = 0, expires = 0;
  char role[MLS_ROLE_MAX + 1] = "";
  rc = MLS_TX(tx, web_session_get, w->sid, c->now, th, &created, &expires);
  if (!rc) rc = MLS_TX(tx, api_token_get, th, role, w->jc);
  mls_store_rollback(tx);
  /* the token's request budget, as for the API (a page gathers as much) */
  uint64_t retry = 0;
  int limited = spend && !rc && strcmp(role, "jobcentre") == 0 &&
                mls_bucket_take(c->app->dev_rate, th, 32, c->now, &retry);
  sodium_memzero(th, sizeof th);
  if (rc == MLPROTO_ERR_UNAUTHENTICATED || rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_OK;
  if (rc) return rc;
  if (strcmp(role, "jobcentre") != 0) return MLPROTO_OK;
  if (limited) return app_rate_limited(c, retry, NULL);
  uint64_t end = created + WEB_LIFETIME_MS, want = c->now + WEB_IDLE_MS;
  if (want > end) want = end;
  if (want > expires + WEB_TOUCH_MS) {
    if ((rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx))) return rc;
    rc = MLS_TX(tx, web_session_touch, w->sid, want);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
    if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_OK; /* signed out meanwhile */
    if (rc) return rc;
  }
  w->has_session = 1;
  w->o.signed_in = 1;
  return MLPROTO_OK;
}

static void cookie_clear(ctx *c) {
  add_header(c, "Set-Cookie: " WEB_COOKIE "=; Max-Age=0; Path=/jobcentre; HttpOnly; Secure; "
                "SameSite=Strict\r\n");
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* What a paste adds around a token. */
static int paste_space(char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; }

/* Percent-decodes s[0..n) ('+' is a space) into out (NUL-terminated):
 * OK, BAD_QUERY for a bad escape or a NUL, TOO_LARGE past cap. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap, size_t *len) {
  *len = 0;
  for (size_t k = 0; k < n; k++) {
    int ch = (unsigned char)s[k];
    if (ch == '+') {
      ch = ' ';
    } else if (ch == '%') {
      if (k + 2 >= n) return MLPROTO_ERR_BAD_QUERY; /* "%" or "%4" at the end */
      int hi = hexval(s[k + 1]), lo = hexval(s[k + 2]);
      if (hi < 0 || lo < 0) return MLPROTO_ERR_BAD_QUERY;
      ch = hi * 16 + lo;
      k += 2;
      if (ch == 0) return MLPROTO_ERR_BAD_QUERY;
    }
    if (*len + 1 >= cap) return MLPROTO_ERR_TOO_LARGE;
    out[(*len)++] = (char)ch;
  }
  out[*len] = 0;
  return MLPROTO_OK;
}

/* A page to return to after signing in: a path below /jobcentre/ with an
 * optional query, of plain URL characters, no "//", no dot segment, not
 * the sign-in or sign-out itself, at most 200 bytes (its escaped form,
 * 600 at most, must fit a Location beside the pages' headers). Anything else (an
 * absolute URL, another path of the server, a header injection) is not
 * followed: sign-in then goes to the overview. */
static int next_ok(const char *s, size_t n) {
  static const char pre[] = "/jobcentre/";
  if (n < sizeof pre - 1 || n > 200 || strncmp(s, pre, sizeof pre - 1) != 0) return 0;
  if (!strncmp(s, "/jobcentre/signin", 17) || !strncmp(s, "/jobcentre/signout", 18)) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!(isalnum(ch) || strchr("-._~/?&=%+", ch))) return 0;
    if (ch == '/' && i + 1 < n && (s[i + 1] == '/' || s[i + 1] == '.')) return 0;
  }
  return 1;
}

/* s[0..n) with every byte but [A-Za-z0-9-._~/] as %XX, into out (cap > 3n). */
static void pct_encode(const char *s, size_t n, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < n && o + 4 < cap; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (isalnum(ch) || strchr("-._~/", ch)) {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = 0;
}

/* key=... of an application/x-www-form-urlencoded body, decoded into out
 * (key with its '=': "token="). */
static int form_field(const ctx *c, const char *key, char *out, size_t cap, size_t *len) {
  *len = 0;
  const uint8_t *b = c->req->body;
  size_t n = c->req->body_len, kl = strlen(key);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && b[j] != '&') j++;
    if (j - i >= kl && memcmp(b + i, key, kl) == 0)
      return pct_decode((const char *)b + i + kl, j - i - kl, out, cap, len);
    i = j + 1;
  }
  return MLPROTO_ERR_NOT_FOUND;
}

/* token=... of the sign-in form, decoded into out, without what a paste
 * adds around it. */
static int form_token(const ctx *c, char *out, size_t cap, size_t *len) {
  int rc = form_field(c, "token=", out, cap, len);
  if (rc) return rc;
  while (*len && paste_space(out[*len - 1])) out[--(*len)] = 0;
  size_t lead = 0;
  while (lead < *len && paste_space(out[lead])) lead++;
  if (lead) {
    memmove(out, out + lead, *len - lead + 1);
    *len -= lead;
  }
  return MLPROTO_OK;
}

static int signin_page(web *w, int failed, int status) {
  body_begin(w->c, 1u << 16);
  w->o.signed_in = 0;
  return page_done(w, mlproto_html_signin(&w->c->resp->body, &w->o, failed), status);
}

static int h_signin(web *w) {
  ctx *c = w->c;
  /* the page to return to, when the form carried a good one */
  char next[304];
  size_t nlen = 0;
  if (form_field(c, "next=", next, sizeof next, &nlen) != MLPROTO_OK || !next_ok(next, nlen))
    next[0] = '\0';
  w->o.signin_next = next[0] ? next : NULL; /* kept in the form after a failure */
  char token[160];
  size_t len = 0;
  int rc = form_token(c, token, sizeof token, &len);
  if (rc == MLPROTO_ERR_NOT_FOUND || rc == MLPROTO_ERR_BAD_QUERY) len = 0; /* a failure below */
  else if (rc) len = sizeof token; /* too long: no token */
  char jc[MLS_JOBCENTRE_MAX + 1];
  uint8_t th[32];
  rc = app_api_token_given(c, len < sizeof token ? token : NULL, len, APP_ROLES_JOBCENTRE, jc,
                           th);
  sodium_memzero(token, sizeof token);
  if (rc == MLPROTO_ERR_UNAUTHENTICATED || rc == MLPROTO_ERR_FORBIDDEN) {
    sodium_memzero(th, sizeof th);
    c->resp->extra_headers[0] = 0;
    app_log("info", "web_signin_refused", "conn=%" PRIu64 " reason=%s", c->req->conn_id,
            mlproto_errname(rc));
    c->resp->error_code = rc;
    return signin_page(w, 1, rc == MLPROTO_ERR_FORBIDDEN ? 403 : 401);
  }
  if (rc) {
    sodium_memzero(th, sizeof th);
    return web_refused(w, rc);
  }
  uint8_t raw[32], sid[32];
  char value[48];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(value, sizeof value, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  session_hash(sid, value, strlen(value));
  /* every session this browser still holds ends with the new one (a copy
   * of its cookie taken earlier does not outlive a fresh sign-in), also
   * when another cookie of the name came with it */
  mls_txn *tx;
  rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    rc = MLS_TX(tx, web_session_purge, c->now, WEB_PURGE_BATCH, NULL);
    size_t olen = 0;
    const char *ov;
    for (size_t k = 0; !rc && k < 8 && (ov = cookie_nth(c, k, &olen)) != NULL; k++) {
      if (olen != 43) continue;
      uint8_t old[32];
      session_hash(old, ov, olen);
      rc = MLS_TX(tx, web_session_delete, old);
      if (rc == MLPROTO_ERR_NOT_FOUND) rc = MLPROTO_OK;
      sodium_memzero(old, sizeof old);
    }
    if (!rc) rc = MLS_TX(tx, web_session_add, sid, th, c->now, c->now + WEB_IDLE_MS);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  sodium_memzero(th, sizeof th);
  if (rc) {
    sodium_memzero(value, sizeof value);
    return web_error(w, rc, NULL);
  }
  app_log("info", "web_signin", "conn=%" PRIu64 " jobcentre=%s", c->req->conn_id, jc);
  if (next[0] && strstr(next, "lang=")) w->lang_q[0] = '\0'; /* it carries its own */
  redirect(w, 303, next[0] ? next : "/jobcentre/");
  add_header(c, "Set-Cookie: " WEB_COOKIE "=%s; Path=/jobcentre; HttpOnly; Secure; "
                "SameSite=Strict\r\n", value);
  sodium_memzero(value, sizeof value);
  return MLPROTO_OK;
}

static int h_signout(web *w) {
  ctx *c = w->c;
  if (w->has_session) {
    mls_txn *tx;
    int rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx);
    if (!rc) {
      rc = MLS_TX(tx, web_session_delete, w->sid);
      if (rc) mls_store_rollback(tx);
      else rc = mls_store_commit(tx);
    }
    if (rc && rc != MLPROTO_ERR_NOT_FOUND) {
      rc = web_error(w, rc, NULL);
      cookie_clear(c);
      return rc;
    }
    app_log("info", "web_signout", "conn=%" PRIu64 " jobcentre=%s", c->req->conn_id, w->jc);
  }
  redirect(w, 303, "/jobcentre/");
  cookie_clear(c);
  return MLPROTO_OK;
}

/* ------------------------------------------------------------ pages --- */

static int gathered(web *w, app_jc_grants *g) {
  int rc = app_jc_gather(w->c->app, w->jc, (int64_t)w->c->now, 1, g);
  if (rc == MLPROTO_ERR_TOO_LARGE)
    return web_error(w, rc, "this jobcentre's records exceed what one report may hold");
  if (rc) return web_error(w, rc, NULL);
  w->o.mentor_name = app_jc_mentor_name;
  w->o.mentor_ud = g;
  return MLPROTO_OK;
}

/* The API's CSV of the same report (mlproto/report.h), as a download. */
static int csv_answer(web *w, const char *name, int rc_render) {
  ctx *c = w->c;
  if (rc_render == MLPROTO_ERR_TOO_LARGE)
    return web_error(w, rc_render, "the report exceeds 64 MiB");
  if (rc_render) return web_error(w, rc_render, NULL);
  c->resp->status = 200;
  c->resp->error_code = MLPROTO_OK;
  c->resp->content_type = "text/csv; charset=utf-8";
  add_header(c, "Content-Disposition: attachment; filename=\"%s.csv\"\r\n", name);
  return MLPROTO_OK;
}

static void checkpoint_header(ctx *c, const mlproto_report_meta *m) {
  char root[65];
  mlproto_hex_encode(root, m->checkpoint_root, 32);
  add_header(c, "X-Mentorlog-Checkpoint: %" PRIu64 " %s\r\n", m->checkpoint_size, root);
}

static int parse_page(const qparam *p, size_t *out) {
  *out = 0;
  if (!p->seen) return 0;
  if (p->len == 0 || p->len > 6 || p->val[0] == '0') return -1;
  size_t v = 0;
  for (size_t i = 0; i < p->len; i++) {
    if (p->val[i] < '0' || p->val[i] > '9') return -1;
    v = v * 10 + (size_t)(p->val[i] - '0');
  }
  *out = v - 1;
  return 0;
}

static int h_overview(web *w) {
  ctx *c = w->c;
  qparam ps[] = {{.name = "format"}, {.name = "sort"}, {.name = "status"}, {.name = "page"},
                 {.name = "from"},   {.name = "to"}};
  int rc = web_query(w, ps, 6), csv;
  if (rc || (rc = is_csv(w, &ps[0], &csv))) return rc;
  mlproto_date from, to;
  const char *why = NULL;
  /* the range form's empty fields send from= and to=: no bound */
  if ((rc = app_q_range(&ps[4], &ps[5], 1, &from, &to, &why))) return web_error(w, rc, why);
  mlproto_html_overview_query q = MLPROTO_HTML_OVERVIEW_QUERY_INIT;
  if (ps[1].seen && (q.sort = mlproto_html_sort_parse(ps[1].val, ps[1].len)) < 0)
    return web_error(w, MLPROTO_ERR_BAD_QUERY, "sort: ref, mentor, start or missed");
  if (ps[2].seen) {
    for (int s = 0; s <= 4 && q.status < 0; s++) {
      const char *name = mlproto_period_status_name(s);
      if (name && strlen(name) == ps[2].len && memcmp(name, ps[2].val, ps[2].len) == 0)
        q.status = s;
    }
    if (q.status < 0) return web_error(w, MLPROTO_ERR_BAD_QUERY, "status: a period status");
  }
  if (parse_page(&ps[3], &q.page)) return web_error(w, MLPROTO_ERR_BAD_QUERY, "page: 1, 2, ...");
  if (csv && (ps[1].seen || ps[2].seen || ps[3].seen))
    return web_error(w, MLPROTO_ERR_BAD_QUERY,
                     "format=csv is the compliance document of every grant of the range: no sort, "
                     "status or page");
  app_jc_grants g;
  if ((rc = gathered(w, &g))) return rc;
  /* as GET /v1/jobcentre/compliance?from=&to=: the grants that meet the
   * range, their figures within it */
  g.n = mlproto_grant_reports_keep_range(g.g, g.n, from, to);
  mlproto_report_meta m;
  app_jc_meta(&m, c, &g, w->jc);
  m.from = from;
  m.to = to;
  const mlproto_grant_report *const *gs = (const mlproto_grant_report *const *)g.g;
  if (csv) {
    /* GET /v1/jobcentre/compliance?from=&to=&format=csv */
    body_begin(c, WEB_CSV_CAP);
    rc = csv_answer(w, "compliance",
                    mlproto_report_compliance(&c->resp->body, MLPROTO_REPORT_CSV, &m, gs, g.n));
  } else {
    body_begin(c, WEB_PAGE_CAP);
    rc = page_done(w, mlproto_html_overview(&c->resp->body, &w->o, &m, gs, g.n, &q), 200);
  }
  if (!rc) checkpoint_header(c, &m);
  app_log("info", "web_page", "conn=%" PRIu64 " page=overview jobcentre=%s grants=%zu csv=%d",
          c->req->conn_id, w->jc, g.n, csv);
  app_jc_grants_free(&g);
  return rc;
}

static int h_grant(web *w, const char *ref, size_t rlen) {
  ctx *c = w->c;
  qparam ps[] = {{.name = "format"}};
  int rc = web_query(w, ps, 1), csv;
  if (rc || (rc = is_csv(w, &ps[0], &csv))) return rc;
  for (size_t i = 0; i < rlen; i++) {
    unsigned char ch = (unsigned char)ref[i];
    if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-') || rlen > MLPROTO_REPORT_CODE_MAX)
      return web_error(w, MLPROTO_ERR_NOT_FOUND, "no such grant");
  }
  app_jc_grants g;
  if ((rc = gathered(w, &g))) return rc;
  size_t hits = 0;
  const mlproto_grant_report *hit = app_jc_find_grant(&g, ref, rlen, &hits);
  if (hits != 1) {
    rc = web_error(w, hits ? MLPROTO_ERR_AMBIGUOUS_PREFIX : MLPROTO_ERR_NOT_FOUND,
                   hits ? "the reference names several grants: follow a link of the overview"
                        : "no such grant of this jobcentre");
    app_jc_grants_free(&g);
    return rc;
  }
  mlproto_report_meta m;
  app_jc_meta(&m, c, &g, w->jc);
  if (csv) {
    /* GET /v1/jobcentre/grants/REF/contacts?format=csv, without a range */
    body_begin(c, WEB_CSV_CAP);
    rc = csv_answer(w, "contacts",
                    mlproto_report_contacts(&c->resp->body, MLPROTO_REPORT_CSV, &m, hit));
  } else {
    body_begin(c, WEB_PAGE_CAP);
    rc = page_done(w, mlproto_html_grant(&c->resp->body, &w->o, &m, hit), 200);
  }
  if (!rc) checkpoint_header(c, &m);
  app_log("info", "web_page", "conn=%" PRIu64 " page=grant jobcentre=%s csv=%d",
          c->req->conn_id, w->jc, csv);
  app_jc_grants_free(&g);
  return rc;
}

static int h_timesheet(web *w) {
  ctx *c = w->c;
  qparam ps[] = {{.name = "format"}, {.name = "month"}};
  int rc = web_query(w, ps, 2), csv;
  if (rc || (rc = is_csv(w, &ps[0], &csv))) return rc;
  mlproto_date month = MLPROTO_DATE_NONE;
  if (ps[1].seen) {
    if (app_q_month(&ps[1], &month)) return web_error(w, MLPROTO_ERR_BAD_QUERY, "month: YYYY-MM");
  } else {
    /* this month, in Copenhagen */
    mlproto_date today;
    int y, mo, d;
    if (mlproto_cph_date(&today, (int64_t)c->now) != MLPROTO_OK ||
        mlproto_date_to_ymd(today, &y, &mo, &d) != MLPROTO_OK)
      return web_error(w, MLPROTO_ERR_INTERNAL, NULL);
    month = today - d + 1;
  }
  app_jc_grants g;
  if ((rc = gathered(w, &g))) return rc;
  mlproto_report_meta m;
  app_jc_meta(&m, c, &g, w->jc);
  m.month = month;
  app_jc_keep_month(&g, month);
  const mlproto_grant_report *const *gs = (const mlproto_grant_report *const *)g.g;
  if (csv) {
    /* GET /v1/jobcentre/timesheet?month=...&format=csv */
    body_begin(c, WEB_CSV_CAP);
    rc = csv_answer(w, "timesheet",
                    mlproto_report_timesheet(&c->resp->body, MLPROTO_REPORT_CSV, &m, gs, g.n));
  } else {
    body_begin(c, WEB_PAGE_CAP);
    rc = page_done(w, mlproto_html_timesheet(&c->resp->body, &w->o, &m, gs, g.n), 200);
  }
  if (!rc) checkpoint_header(c, &m);
  app_log("info", "web_page", "conn=%" PRIu64 " page=timesheet jobcentre=%s grants=%zu csv=%d",
          c->req->conn_id, w->jc, g.n, csv);
  app_jc_grants_free(&g);
  return rc;
}

/* An embedded file (web_assets.h): revalidated by its ETag, 304 while it
 * is the same. */
static int h_asset(web *w, const unsigned char *bytes, size_t len, const char *etag,
                   const char *type) {
  ctx *c = w->c;
  w->cache = "no-cache";
  add_header(c, "ETag: %s\r\n", etag);
  const char *inm = app_header(c->req, "If-None-Match");
  body_begin(c, len + 1);
  c->resp->error_code = MLPROTO_OK;
  if (inm && (strstr(inm, etag) || strcmp(inm, "*") == 0)) {
    c->resp->status = 304;
    c->resp->content_type = NULL;
    return MLPROTO_OK;
  }
  if (mlproto_buf_append(&c->resp->body, bytes, len))
    return web_error(w, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = type;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------ route --- */

static int web_route(web *w) {
  ctx *c = w->c;
  const char *path = c->req->path, *method = c->req->method;
  int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
  int post = strcmp(method, "POST") == 0;
  if (strcmp(path, "/jobcentre") == 0) {
    /* the query goes along (a kept link without its slash) when the target
     * passes the rules of a page to return to (next_ok: it is written into
     * Location) */
    const char *q = c->req->query;
    char to[320];
    int n = snprintf(to, sizeof to, "/jobcentre/?%s", q ? q : "");
    if (q && *q && n > 0 && (size_t)n < sizeof to && next_ok(to, (size_t)n))
      w->lang_q[0] = 0; /* lang= is in the query already */
    else
      snprintf(to, sizeof to, "/jobcentre/");
    return redirect(w, 308, to);
  }
  if (strcmp(path, "/jobcentre/style.css") == 0) {
    if (!get) goto not_allowed;
    return h_asset(w, mls_web_style_css, mls_web_style_css_len, mls_web_style_css_etag,
                   "text/css; charset=utf-8");
  }
  if (strcmp(path, "/jobcentre/icon.svg") == 0) {
    if (!get) goto not_allowed;
    return h_asset(w, mls_web_icon_svg, mls_web_icon_svg_len, mls_web_icon_svg_etag,
                   "image/svg+xml");
  }
  int rc;
  if (post) {
    /* every POST: from a page of this server, never from another site */
    if (!origin_ok(c)) {
      app_log("info", "web_origin_refused", "conn=%" PRIu64, c->req->conn_id);
      return web_error(w, MLPROTO_ERR_WEB_ORIGIN, NULL);
    }
    if (strcmp(path, "/jobcentre/signin") == 0) return h_signin(w);
    if (strcmp(path, "/jobcentre/signout") != 0) goto not_allowed;
    if ((rc = session_load(w, 0))) {
      rc = web_refused(w, rc);
      cookie_clear(c); /* this browser is signed out whatever the store said */
      return rc;
    }
    return h_signout(w);
  }
  if (!get) goto not_allowed;
  if (strcmp(path, "/jobcentre/signin") == 0 || strcmp(path, "/jobcentre/signout") == 0)
    goto not_allowed;
  if ((rc = session_load(w, 1))) return web_refused(w, rc);
  if (strcmp(path, "/jobcentre/") == 0) {
    /* signed out: the form, whatever the query (a kept link of the
     * overview, from=&to=, is no error before sign-in) */
    if (!w->has_session) {
      /* next= (a deep link sent here), else this very overview query */
      char next[304];
      size_t nlen = 0, qn = 0;
      const char *q = c->req->query, *v = query_value(q, "next", &qn);
      if (v) {
        if (pct_decode(v, qn, next, sizeof next, &nlen) != MLPROTO_OK || !next_ok(next, nlen))
          next[0] = '\0';
      } else if (q && *q && strlen(q) < sizeof next - 12) {
        snprintf(next, sizeof next, "/jobcentre/?%s", q);
        if (!next_ok(next, strlen(next))) next[0] = '\0';
      } else {
        next[0] = '\0';
      }
      w->o.signin_next = next[0] ? next : NULL;
      return signin_page(w, 0, 200);
    }
    return h_overview(w);
  }
  static const char gpre[] = "/jobcentre/grants/";
  int is_grant = strncmp(path, gpre, sizeof gpre - 1) == 0 && path[sizeof gpre - 1];
  if (!is_grant && strcmp(path, "/jobcentre/timesheet") != 0)
    return web_error(w, MLPROTO_ERR_NOT_FOUND, "no such page");
  if (!w->has_session) {
    /* to the sign-in, which comes back here */
    char here[304], to[700];
    int hn = snprintf(here, sizeof here, "%s%s%s", path, c->req->query[0] ? "?" : "", c->req->query);
    if (hn > 0 && (size_t)hn < sizeof here && next_ok(here, (size_t)hn)) {
      char enc[640];
      pct_encode(here, (size_t)hn, enc, sizeof enc);
      snprintf(to, sizeof to, "/jobcentre/?next=%s", enc);
      return redirect(w, 303, to);
    }
    return redirect(w, 303, "/jobcentre/");
  }
  if (is_grant) return h_grant(w, path + sizeof gpre - 1, strlen(path + sizeof gpre - 1));
  return h_timesheet(w);
not_allowed:
  rc = web_error(w, MLPROTO_ERR_METHOD_NOT_ALLOWED, NULL);
  add_header(c, "Allow: %s\r\n", strcmp(path, "/jobcentre/signin") == 0 ||
                                         strcmp(path, "/jobcentre/signout") == 0
                                     ? "POST"
                                     : "GET, HEAD");
  return rc;
}

int app_h_web(ctx *c) {
  web w = {.c = c};
  c->resp->extra_headers[0] = 0;
  web_lang(&w);
  int rc = web_route(&w);
  web_headers(&w);
  sodium_memzero(w.sid, sizeof w.sid);
  return rc;
}
