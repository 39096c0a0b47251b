/*
 * app.c — the application half of mentorlog-server: open/close, errors,
 * request helpers, the ops endpoints and routing (see app.h for the
 * contract). The handlers of each feature have their own file (app_int.h:
 * app_session.c, app_push.c, app_log.c, app_tiles.c, app_witness.c,
 * app_jobcentre.c, app_audit.c).
 *
 * Wire conventions decided here (documented for clients):
 *  - Request and response bodies: application/vnd.mentorlog.v1+protobuf.
 *    Error bodies: protobuf Error{code,message}, or JSON
 *    {"code":"NAME","message":"..."} when the request's Accept header
 *    names application/json.
 *  - Authentication: "Authorization: Bearer <token>" with the token of
 *    POST /v1/session (43 characters of unpadded base64url over 32 random
 *    bytes; the server keeps only SHA-256(token)). A token of a revoked
 *    device, an expired one and an unknown one get the same answer.
 *  - Pull cursor: /v1/pull?since=N returns entries with log index >= N that
 *    this mentor may see; next_since is where to continue (one past the last
 *    entry scanned), so resuming never skips or repeats an entry.
 *  - A record of a kind other than CASE_OPEN for a case the server does not
 *    know is refused with NOT_YOUR_CASE: the server cannot tell that case
 *    belongs to this mentor, and a device always pushes its CASE_OPEN (or
 *    pulls a sibling's) before it writes into a case.
 */
#include "app_int.h"
#include "witnessed.h"

#include "mlproto/json.h"
#include "mlproto/tls.h"

/* ------------------------------------------------------------ logging --- */

void app_log(const char *level, const char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mls_vlogf(level, msg, fmt, ap);
  va_end(ap);
}

void app_hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

/* ----------------------------------------------------------- open/close --- */

static int limiter(mls_limiter **out, size_t slots, double rate, double burst, unsigned free_f,
                   uint64_t base, uint64_t max, uint64_t forget) {
  mls_limiter_config c = {.slots = slots, .rate_per_s = rate, .burst = burst,
                          .free_failures = free_f, .base_ms = base, .max_ms = max,
                          .forget_ms = forget};
  return mls_limiter_new(out, &c);
}

static int app_store_open(mls_app *app, const mls_app_config *cfg) {
  char uri[MLS_STORE_URI_MAX + 16];
  const char *u = cfg->store_uri;
  if (!u) {
    snprintf(uri, sizeof uri, "sqlite:%s", app->dd.db);
    u = uri;
  }
  mls_store_options o = {.version = MLS_STORE_OPTIONS_VERSION, .create = cfg->create,
                         .busy_timeout_ms = BUSY_TIMEOUT_MS};
  return mls_store_open(&app->st, u, &o);
}

int mls_app_open(mls_app **out, const mls_app_config *cfg) {
  *out = NULL;
  if (!cfg || !cfg->data_dir) return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = mlproto_crypto_init();
  if (rc) return rc;
  mls_app *app = calloc(1, sizeof *app);
  if (!app) return MLPROTO_ERR_OUT_OF_MEMORY;
  pthread_mutex_init(&app->witnessed_mu, NULL);
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  app->verify_first = cfg->verify_first;
  double auth_fail = cfg->auth_fail_limit ? cfg->auth_fail_limit : AUTH_FAIL_LIMIT_DEFAULT;
  app->slice_grants = cfg->report_slice_grants ? cfg->report_slice_grants : 64;
  if ((rc = mls_datadir_init(&app->dd, cfg->data_dir)) ||
      (rc = mls_datadir_prepare(&app->dd, cfg->create)) ||
      (rc = mls_datadir_key_load(&app->dd, cfg->create, &app->sk, app->pk)) ||
      (rc = app_store_open(app, cfg)) ||
      (rc = mls_log_name_load(app->dd.root, cfg->log_name, app->pk, origin)) ||
      (rc = mls_log_open(&app->log, app->st, app->sk, app->pk, origin)) ||
      (rc = mls_witnessed_check(app->log, app->st, app->dd.root, &app->witnessed_size)) ||
      (rc = limiter(&app->dev_rate, 4096, 50.0, 100.0, 0, 0, 0, 0)) ||
      (rc = limiter(&app->addr_rate, 4096, 20.0, 40.0, 0, 0, 0, 0)) ||
      (rc = limiter(&app->addr_fail, 4096, 0, 0, 10, 1000, 15u * 60u * 1000u,
                    15u * 60u * 1000u)) ||
      (rc = limiter(&app->dev_fail, 4096, 0, 0, 5, 1000, 30u * 1000u, 15u * 60u * 1000u)) ||
      (rc = limiter(&app->unauth_rate, 8192,
                    cfg->unauth_rate > 0 ? cfg->unauth_rate : UNAUTH_RATE_DEFAULT,
                    cfg->unauth_rate > 0 ? 2 * cfg->unauth_rate : UNAUTH_BURST_DEFAULT, 0, 0, 0,
                    0)) ||
      (rc = limiter(&app->auth_fail, 4096, auth_fail / 60.0, auth_fail, 0, 0, 0, 0))) {
    mls_app_close(app);
    return rc;
  }
  if ((rc = app_index_backfill(app))) {
    mls_app_close(app);
    return rc;
  }
  /* The key every instance sharing the store makes and checks session
   * challenges with (challenge.h), and this instance's spent ones. */
  int key_created = 0;
  if ((rc = mls_challenge_key_load(app->st, &app->challenge_key, &key_created)) ||
      (rc = mls_spent_new(&app->spent, cfg->challenge_spent_max ? cfg->challenge_spent_max
                                                                : MLS_SPENT_DEFAULT))) {
    mls_app_close(app);
    return rc;
  }
  if (key_created) app_log("info", "challenge_key_created", "meta=%s", MLS_CHALLENGE_META);
  if ((rc = mls_store_secret_load(app->st, MLS_TLS_TICKET_META, MLPROTO_TLS_TICKET_SECRET_LEN,
                                  &app->tls_ticket_secret, &key_created))) {
    mls_app_close(app);
    return rc;
  }
  if (key_created) app_log("info", "tls_ticket_key_created", "meta=%s", MLS_TLS_TICKET_META);
  /* One push batch verifies on every core (DESIGN §8: verification bounds push). */
  if ((rc = mls_fanout_new(&app->verify, mls_fanout_default_helpers())) ||
      (rc = mls_push_order_new(&app->order)) ||
      (!cfg->no_report_cache &&
       (rc = mls_rcache_new(&app->rcache, cfg->report_cache_bytes ? cfg->report_cache_bytes
                                                                  : MLS_RCACHE_DEFAULT_BYTES)))) {
    mls_app_close(app);
    return rc;
  }
  *out = app;
  return MLPROTO_OK;
}

const uint8_t *mls_app_tls_ticket_secret(const mls_app *app) { return app->tls_ticket_secret; }

void mls_app_close(mls_app *app) {
  if (!app) return;
  mls_fanout_free(app->verify);
  mls_push_order_free(app->order);
  mls_rcache_free(app->rcache);
  mls_log_close(app->log);
  mls_store_close(app->st);
  mls_datadir_key_free(app->sk);
  mls_challenge_key_free(app->challenge_key);
  if (app->tls_ticket_secret) sodium_free(app->tls_ticket_secret); /* wipes */
  mls_spent_free(app->spent);
  mls_limiter_free(app->dev_rate);
  mls_limiter_free(app->addr_rate);
  mls_limiter_free(app->addr_fail);
  mls_limiter_free(app->dev_fail);
  mls_limiter_free(app->unauth_rate);
  pthread_mutex_destroy(&app->witnessed_mu);
  mls_limiter_free(app->auth_fail);
  free(app);
}

void mls_app_report_cache_stats(mls_app *app, mls_app_cache_stats *out) {
  mls_rcache_stats s;
  mls_rcache_stats_get(app->rcache, &s);
  *out = (mls_app_cache_stats){.hits = s.hits, .misses = s.misses, .evictions = s.evictions,
                               .entries = s.entries, .bytes = s.bytes, .cap = s.cap};
}

void mls_app_push_stats(mls_app *app, unsigned *in_flight, uint64_t *waited) {
  *in_flight = mls_push_order_count(app->order);
  *waited = atomic_load(&app->push_waits);
}

/* Read from the store, not from this process's cache: the admin command
 * appends too (a revocation is a log entry). One indexed max() query. */
uint64_t mls_app_log_size(mls_app *app) {
  if (!app) return 0;
  mls_txn *tx;
  uint64_t size = 0;
  if (mls_store_begin(app->st, MLS_TXN_READ, &tx) != MLPROTO_OK) return mls_log_cached_size(app->log);
  if (MLS_TX(tx, log_size, &size) != MLPROTO_OK) size = mls_log_cached_size(app->log);
  mls_store_rollback(tx);
  return size;
}

/* Only /healthz is answered on the loop thread: it touches no storage. */
int mls_app_route_is_fast(const char *method, const char *path) {
  return method && path && strcmp(method, "GET") == 0 && strcmp(path, "/healthz") == 0;
}

int mls_app_scrub(mls_app *app) { return mls_store_scrub(app->st); }

/* ------------------------------------------------------------- errors --- */

/* {"code":..,"message":..} and a newline into the empty b; on failure (a
 * message that is not UTF-8, or too long once escaped) b is empty again. */
static int error_json(mlproto_buf *b, int code, const char *msg) {
  mlproto_json j;
  mlproto_json_init(&j, b);
  mlproto_json_obj(&j);
  mlproto_json_kstr(&j, "code", mlproto_errname(code));
  mlproto_json_kstr(&j, "message", msg);
  mlproto_json_end(&j);
  int rc = mlproto_json_finish(&j);
  if (rc) mlproto_buf_reset(b);
  return rc;
}

void mls_app_error(mls_response *resp, int code, const char *detail, int want_json) {
  if (code == MLPROTO_OK) code = MLPROTO_ERR_INTERNAL;
  mlproto_buf_free(&resp->body);
  mlproto_buf_init(&resp->body, 4096);
  resp->status = mlproto_http_status(code);
  resp->error_code = code;
  if (resp->status == 401) {
    /* RFC 9110 §11.6.1: a 401 names its scheme. */
    size_t used = strlen(resp->extra_headers);
    snprintf(resp->extra_headers + used, sizeof resp->extra_headers - used,
             "WWW-Authenticate: Bearer\r\n");
  }
  char msg[ERROR_MESSAGE_MAX + 1];
  if (detail && *detail)
    snprintf(msg, sizeof msg, "%s: %s", mlproto_strerror(code), detail);
  else
    snprintf(msg, sizeof msg, "%s", mlproto_strerror(code));
  if (want_json) {
    resp->content_type = CT_JSON;
    /* a detail that is not UTF-8 (or was cut inside a sequence): the code's own text */
    if (error_json(&resp->body, code, msg)) (void)error_json(&resp->body, code, mlproto_strerror(code));
    return;
  }
  resp->content_type = CT_PROTO;
  Mentorlog__V1__Error e = MENTORLOG__V1__ERROR__INIT;
  e.code = (char *)mlproto_errname(code);
  e.message = msg;
  uint8_t *out = NULL;
  size_t len = 0;
  if (mlproto_msg_pack(&out, &len, &e.base) == MLPROTO_OK) {
    if (mlproto_buf_append(&resp->body, out, len)) mlproto_buf_reset(&resp->body);
    mlproto_free(out);
  }
}

/* ----------------------------------------------------------- requests --- */


const char *app_header(const mls_request *req, const char *name) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

int app_fail(ctx *c, int code, const char *detail) {
  mls_app_error(c->resp, code, detail, c->want_json);
  return code;
}

int app_retry_later(ctx *c, int code, uint64_t retry_ms, const char *detail) {
  uint64_t s = (retry_ms + 999) / 1000;
  if (s == 0) s = 1;
  snprintf(c->resp->extra_headers, sizeof c->resp->extra_headers, "Retry-After: %" PRIu64 "\r\n", s);
  return app_fail(c, code, detail);
}

int app_rate_limited(ctx *c, uint64_t retry_ms, const char *detail) {
  return app_retry_later(c, MLPROTO_ERR_RATE_LIMITED, retry_ms, detail);
}

/* Answer with a packed protobuf message. */
int app_reply(ctx *c, const ProtobufCMessage *m) {
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = mlproto_msg_pack(&out, &len, m);
  if (rc) return app_fail(c, rc, NULL);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, RESPONSE_CAP);
  rc = mlproto_buf_append(&c->resp->body, out, len);
  mlproto_free(out);
  if (rc) return app_fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_PROTO;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

int app_need_proto_body(ctx *c) {
  const char *ct = app_header(c->req, "Content-Type");
  if (!ct) return app_fail(c, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type " CT_PROTO " required");
  size_t n = strlen(CT_PROTO);
  while (*ct == ' ') ct++;
  if (strncasecmp(ct, CT_PROTO, n) != 0 || (ct[n] && ct[n] != ';' && ct[n] != ' '))
    return app_fail(c, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type " CT_PROTO " required");
  return MLPROTO_OK;
}


int app_parse_query(ctx *c, qparam *ps, size_t n) {
  const char *q = c->req->query ? c->req->query : "";
  if (strlen(q) > 512) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "query too long");
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    if (!eq) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "parameter without value");
    size_t klen = (size_t)(eq - q);
    size_t i;
    for (i = 0; i < n; i++)
      if (strlen(ps[i].name) == klen && memcmp(ps[i].name, q, klen) == 0) break;
    if (i == n) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "unknown parameter");
    if (ps[i].seen) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "repeated parameter");
    ps[i].seen = 1;
    ps[i].val = eq + 1;
    ps[i].len = len - klen - 1;
    q += len;
    if (*q == '&') q++;
  }
  return MLPROTO_OK;
}

/* Strict: decimal, no sign, no leading zero, at most INT64_MAX (every
 * value is bound as a signed 64-bit integer in the store). */
int app_q_u64(ctx *c, const qparam *p, uint64_t *out) {
  /* The same rules as mlproto_http_query_u64() (the wire library, which the
   * application half does not link): "0" or [1-9][0-9]*, at most INT64_MAX. */
  if (p->len == 0 || p->len > 19 || (p->len > 1 && p->val[0] == '0'))
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
  uint64_t v = 0;
  for (size_t i = 0; i < p->len; i++) {
    if (p->val[i] < '0' || p->val[i] > '9') return app_fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
    v = v * 10 + (uint64_t)(p->val[i] - '0'); /* 19 digits cannot overflow a u64 */
  }
  if (v > (uint64_t)INT64_MAX) return app_fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
  *out = v;
  return MLPROTO_OK;
}

int app_q_range(const qparam *from, const qparam *to, int empty_is_none, mlproto_date *f,
                mlproto_date *t, const char **why) {
  const qparam *ps[2] = {from, to};
  mlproto_date *out[2] = {f, t};
  for (int i = 0; i < 2; i++) {
    *out[i] = MLPROTO_DATE_NONE;
    if (!ps[i]->seen || (empty_is_none && ps[i]->len == 0)) continue;
    if (ps[i]->len != 10 || mlproto_date_parse(out[i], ps[i]->val, ps[i]->len) != MLPROTO_OK) {
      *out[i] = MLPROTO_DATE_NONE;
      *why = ps[i]->name;
      return MLPROTO_ERR_BAD_QUERY;
    }
  }
  if (*f != MLPROTO_DATE_NONE && *t != MLPROTO_DATE_NONE && (*t < *f || *t - *f > APP_REPORT_MAX_DAYS)) {
    *why = "from <= to, at most 1100 days apart";
    return MLPROTO_ERR_BAD_QUERY;
  }
  return MLPROTO_OK;
}

int app_q_month(const qparam *p, mlproto_date *first) {
  char day[11];
  if (p->len != 7) return MLPROTO_ERR_BAD_QUERY;
  memcpy(day, p->val, 7);
  memcpy(day + 7, "-01", 4);
  return mlproto_date_parse(first, day, 10) == MLPROTO_OK ? MLPROTO_OK : MLPROTO_ERR_BAD_QUERY;
}

/* ---------------------------------------------------------------- ops --- */

int app_h_healthz(ctx *c) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 64);
  if (mlproto_buf_printf(&c->resp->body, "ok\n")) return app_fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_TEXT;
  return MLPROTO_OK;
}

void mls_app_metrics(mls_app *app, mls_response *resp) {
  resp->extra_headers[0] = 0;
  resp->route = "metrics";
  mlproto_buf_free(&resp->body);
  mlproto_buf_init(&resp->body, 1u << 20);
  mls_metrics_app now = {.log_size = mls_app_log_size(app)};
  mls_app_push_stats(app, &now.pushes_in_flight, &now.push_waits);
  mls_app_cache_stats cs;
  mls_app_report_cache_stats(app, &cs);
  now.report_cache_hits = cs.hits;
  now.report_cache_misses = cs.misses;
  now.report_cache_evictions = cs.evictions;
  now.report_cache_bytes = cs.bytes;
  int rc = mls_metrics_render(&resp->body, &now);
  if (rc) {
    mls_app_error(resp, rc, NULL, 0);
    return;
  }
  resp->status = 200;
  resp->content_type = MLS_METRICS_CONTENT_TYPE;
  resp->error_code = MLPROTO_OK;
}

/* --------------------------------------------------------------- routes --- */

const char *const APP_ROLES_JOBCENTRE[] = {"jobcentre", NULL};
const char *const APP_ROLES_AUDITOR[] = {"auditor", NULL};
/* a witness cosigns, and so may a jobcentre or the auditor with their token */
const char *const APP_ROLES_COSIGN[] = {"jobcentre", "auditor", "witness", NULL};

typedef struct route {
  const char *method;
  const char *path;
  const char *label;
  int (*fn)(ctx *c);
  int anonymous; /* no credentials: metered per address (unauth_rate) */
  int prefix;    /* ROUTE_PREFIX: every path that starts with `path` */
  /* the credentials the handler demands (mls_app_authorize checks them
   * before a body is read): a device's session token, or an API token of
   * one of these roles; neither: none */
  int device;
  const char *const *roles;
} route;

#define ROUTE_PREFIX 1
#define DEVICE 1

/* /metrics is not here: it is served on its own listener (net_metrics.c,
 * mls_app_metrics), and a 404 on this one. */
static const route ROUTES[] = {
  {"POST", "/v1/enroll", "enroll", app_h_enroll, 1, 0, 0, NULL},
  {"GET", "/v1/session/challenge", "challenge", app_h_challenge, 1, 0, 0, NULL},
  {"POST", "/v1/session", "session", app_h_session, 1, 0, 0, NULL},
  {"POST", "/v1/push", "push", app_h_push, 0, 0, DEVICE, NULL},
  {"GET", "/v1/pull", "pull", app_h_pull, 0, 0, DEVICE, NULL},
  {"GET", "/v1/log/sth", "sth", app_h_sth, 1, 0, 0, NULL},
  {"GET", "/v1/log/checkpoint", "checkpoint", app_h_checkpoint, 1, 0, 0, NULL},
  {"GET", "/v1/log/proof/inclusion", "inclusion", app_h_inclusion, 1, 0, 0, NULL},
  {"GET", "/v1/log/proof/consistency", "consistency", app_h_consistency, 1, 0, 0, NULL},
  {"POST", "/v1/log/cosignature", "cosignature", app_h_cosignature, 0, 0, 0, APP_ROLES_COSIGN},
  /* the handler parses the rest; label "tile_entries" for entry bundles */
  {"GET", APP_TILE_PREFIX, "tile", app_h_tile, 1, ROUTE_PREFIX, 0, NULL},
  {"GET", "/v1/jobcentre/compliance", "jc_compliance", app_h_compliance, 0, 0, 0, APP_ROLES_JOBCENTRE},
  {"GET", "/v1/jobcentre/timesheet", "jc_timesheet", app_h_timesheet, 0, 0, 0, APP_ROLES_JOBCENTRE},
  /* the handler parses REF/contacts */
  {"GET", "/v1/jobcentre/grants/", "jc_contacts", app_h_grant_contacts, 0, ROUTE_PREFIX, 0,
   APP_ROLES_JOBCENTRE},
  {"GET", "/v1/audit/log", "audit_log", app_h_audit_log, 0, 0, 0, APP_ROLES_AUDITOR},
  {"GET", "/healthz", "healthz", app_h_healthz, 1, 0, 0, NULL},
  /* the caseworker's web pages (app_web.c): their own session cookie, no
   * bearer token, so metered per address as every route without one */
  {"GET", "/jobcentre", "web", app_h_web, 1, 0, 0, NULL},
  {"GET", "/jobcentre/", "web", app_h_web, 1, ROUTE_PREFIX, 0, NULL},
  {"POST", "/jobcentre/", "web", app_h_web, 1, ROUTE_PREFIX, 0, NULL},
};

static int route_matches(const route *r, const char *path) {
  if (r->prefix) return strncmp(r->path, path, strlen(r->path)) == 0;
  return strcmp(r->path, path) == 0;
}

/* "Allow: GET, HEAD\r\n" for a 405 on path. */
static void allow_header(mls_response *resp, const char *path) {
  char allow[96] = "";
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
    if (!route_matches(&ROUTES[i], path)) continue;
    size_t n = strlen(allow);
    snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", ROUTES[i].method,
             strcmp(ROUTES[i].method, "GET") == 0 ? ", HEAD" : "");
  }
  size_t used = strlen(resp->extra_headers);
  snprintf(resp->extra_headers + used, sizeof resp->extra_headers - used, "Allow: %s\r\n", allow);
}

static int method_matches(const route *r, const char *method) {
  /* HEAD is GET without a body; the network half drops the body. */
  return strcmp(r->method, method) == 0 ||
         (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0);
}

/* The route that serves method and path, or NULL (404 or 405). */
static const route *route_find(const char *method, const char *path) {
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
    if (route_matches(&ROUTES[i], path) && method_matches(&ROUTES[i], method)) return &ROUTES[i];
  return NULL;
}

int mls_app_body_rule(const char *method, const char *path) {
  const route *r = method && path ? route_find(method, path) : NULL;
  return r && (r->device || r->roles) ? MLS_BODY_AFTER_AUTH : MLS_BODY_OPEN;
}

int mls_app_authorize(mls_app *app, const mls_request *req, mls_response *resp, uint64_t now_ms) {
  const char *accept = app_header(req, "Accept");
  ctx c = {.app = app, .req = req, .resp = resp, .now = now_ms,
           .want_json = accept && strstr(accept, CT_JSON) != NULL};
  resp->extra_headers[0] = 0;
  const route *r = route_find(req->method, req->path);
  resp->route = r ? r->label : "other";
  if (r && r->device) {
    mls_device d;
    return app_device_of_token(&c, &d);
  }
  if (r && r->roles) {
    char jc[MLS_JOBCENTRE_MAX + 1];
    uint8_t th[32];
    return app_api_token_of(&c, r->roles, jc, th);
  }
  return MLPROTO_OK;
}

void mls_app_handle(mls_app *app, const mls_request *req, mls_response *resp, uint64_t now_ms) {
  const char *accept = req ? app_header(req, "Accept") : NULL;
  ctx c = {.app = app, .req = req, .resp = resp, .now = now_ms,
           .want_json = accept && strstr(accept, CT_JSON) != NULL};
  resp->extra_headers[0] = 0;
  resp->route = "other";
  if (!app || !req || !req->method || !req->path) {
    app_fail(&c, MLPROTO_ERR_INTERNAL, NULL);
    return;
  }
  int path_known = 0;
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
    if (!route_matches(&ROUTES[i], req->path)) continue;
    path_known = 1;
    resp->route = ROUTES[i].label;
    if (method_matches(&ROUTES[i], req->method)) {
      if (strcmp(ROUTES[i].method, "GET") == 0 && req->body_len) {
        app_fail(&c, MLPROTO_ERR_BAD_HTTP, "GET with a body");
        goto out;
      }
      uint64_t retry;
      uint8_t k[MLS_LIMIT_KEY_MAX];
      size_t kl = app_peer_key(&c, k);
      if (ROUTES[i].anonymous && mls_bucket_take(app->unauth_rate, k, kl, now_ms, &retry)) {
        app_rate_limited(&c, retry, "requests from this address");
        goto out;
      }
      ROUTES[i].fn(&c);
      goto out;
    }
  }
  if (path_known) {
    app_fail(&c, MLPROTO_ERR_METHOD_NOT_ALLOWED, NULL);
    allow_header(resp, req->path);
    goto out;
  }
  app_fail(&c, MLPROTO_ERR_NOT_FOUND, "no such endpoint");
out:
  /* every answer below /jobcentre carries the page's headers, also those
   * refused before the page's own code ran (405, 429, a GET with a body) */
  if (strncmp(req->path, "/jobcentre", 10) == 0 && (req->path[10] == '\0' || req->path[10] == '/'))
    app_web_guard(&c);
}
