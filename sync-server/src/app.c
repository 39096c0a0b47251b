/*
 * app.c — the application half of mentorlog-server: routing, enrolment,
 * sessions, push, pull and the log endpoints (see app.h for the contract).
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
#include "app.h"
#include "admin.h"
#include "app_limits.h"
#include "datadir.h"
#include "fanout.h"
#include "log.h"
#include "log_fmt.h"
#include "metrics.h"
#include "push_order.h"
#include "store.h"

#include "mlproto/alloc.h"
#include "mlproto/chain.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sodium.h>

#define CT_PROTO "application/vnd.mentorlog.v1+protobuf"
#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

#define CHALLENGE_TTL_MS (60u * 1000u)
#define SESSION_TTL_MS (60u * 60u * 1000u)
#define PULL_DEFAULT_LIMIT 256u
#define PULL_BYTES_SOFT_CAP (8u << 20)   /* stop adding items past this */
#define RESPONSE_CAP (MLPROTO_PULL_MAX_BYTES + 65536u)
#define ERROR_MESSAGE_MAX 512
#define BUSY_TIMEOUT_MS 5000u
/* How long a push that would be SEQ_GAP waits for an earlier push of the same
 * device still in flight (push_order.h). */
#define PUSH_ORDER_WAIT_MS 10000u
/* Unexpired challenges one address (IPv6: one /64) may hold at once. */
#define CHALLENGES_PER_ADDRESS 64u
/* Unauthenticated requests per address (IPv6: per /64): generous, a brake
 * on floods, not on a NATed office. */
#define UNAUTH_RATE_DEFAULT 100.0
#define UNAUTH_BURST_DEFAULT 200.0

struct mls_app {
  mls_datadir dd;
  mls_store *st;
  mls_log *log;
  mls_fanout *verify;        /* helper threads for a push batch's signatures */
  mls_push_order *order;     /* concurrent pushes of one device, in seq order */
  _Atomic uint64_t push_waits; /* pushes that waited for an earlier one */
  int verify_first;          /* mls_app_config.verify_first */
  uint8_t *sk;
  uint8_t pk[32];
  mls_limiter *dev_rate;     /* requests per device */
  mls_limiter *addr_rate;    /* unauthenticated writes per address */
  mls_limiter *addr_fail;    /* failed auth/enrol per address */
  mls_limiter *dev_fail;     /* failed session attempts per device key */
  mls_limiter *unauth_rate;  /* unauthenticated requests per address */
};

/* ------------------------------------------------------------ logging --- */

static void app_log(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void app_log(const char *level, const char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mls_vlogf(level, msg, fmt, ap);
  va_end(ap);
}

static void hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

/* ----------------------------------------------------------- open/close --- */

static int limiter(mls_limiter **out, size_t slots, double rate, double burst, unsigned free_f,
                   uint64_t base, uint64_t max, uint64_t forget) {
  mls_limiter_config c = {.slots = slots, .rate_per_s = rate, .burst = burst,
                          .free_failures = free_f, .base_ms = base, .max_ms = max,
                          .forget_ms = forget};
  return mls_limiter_new(out, &c);
}

int mls_app_open(mls_app **out, const mls_app_config *cfg) {
  *out = NULL;
  if (!cfg || !cfg->data_dir) return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = mlproto_crypto_init();
  if (rc) return rc;
  mls_app *app = calloc(1, sizeof *app);
  if (!app) return MLPROTO_ERR_OUT_OF_MEMORY;
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  app->verify_first = cfg->verify_first;
  if ((rc = mls_datadir_init(&app->dd, cfg->data_dir)) ||
      (rc = mls_datadir_prepare(&app->dd, cfg->create)) ||
      (rc = mls_datadir_key_load(&app->dd, cfg->create, &app->sk, app->pk)) ||
      (rc = mls_store_open_sqlite(&app->st, app->dd.db, cfg->create, BUSY_TIMEOUT_MS)) ||
      (rc = mls_log_name_load(app->dd.root, cfg->log_name, app->pk, origin)) ||
      (rc = mls_log_open(&app->log, app->st, app->sk, app->pk, origin)) ||
      (rc = limiter(&app->dev_rate, 4096, 50.0, 100.0, 0, 0, 0, 0)) ||
      (rc = limiter(&app->addr_rate, 4096, 20.0, 40.0, 0, 0, 0, 0)) ||
      (rc = limiter(&app->addr_fail, 4096, 0, 0, 10, 1000, 15u * 60u * 1000u,
                    15u * 60u * 1000u)) ||
      (rc = limiter(&app->dev_fail, 4096, 0, 0, 5, 1000, 30u * 1000u, 15u * 60u * 1000u)) ||
      (rc = limiter(&app->unauth_rate, 8192,
                    cfg->unauth_rate > 0 ? cfg->unauth_rate : UNAUTH_RATE_DEFAULT,
                    cfg->unauth_rate > 0 ? 2 * cfg->unauth_rate : UNAUTH_BURST_DEFAULT, 0, 0, 0,
                    0))) {
    mls_app_close(app);
    return rc;
  }
  /* One push batch verifies on every core (DESIGN §8: verification bounds push). */
  if ((rc = mls_fanout_new(&app->verify, mls_fanout_default_helpers())) ||
      (rc = mls_push_order_new(&app->order))) {
    mls_app_close(app);
    return rc;
  }
  *out = app;
  return MLPROTO_OK;
}

void mls_app_close(mls_app *app) {
  if (!app) return;
  mls_fanout_free(app->verify);
  mls_push_order_free(app->order);
  mls_log_close(app->log);
  mls_store_close(app->st);
  mls_datadir_key_free(app->sk);
  mls_limiter_free(app->dev_rate);
  mls_limiter_free(app->addr_rate);
  mls_limiter_free(app->addr_fail);
  mls_limiter_free(app->dev_fail);
  mls_limiter_free(app->unauth_rate);
  free(app);
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

/* Only /healthz is answered on the loop thread: it touches no storage. /metrics
 * reads the log size from the store (a read transaction that may wait for a
 * pooled connection), so it runs on a worker like every other route. */
int mls_app_route_is_fast(const char *method, const char *path) {
  return method && path && strcmp(method, "GET") == 0 && strcmp(path, "/healthz") == 0;
}

/* ------------------------------------------------------------- errors --- */

static void json_escape(mlproto_buf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    int r;
    if (c == '"' || c == '\\') r = mlproto_buf_printf(b, "\\%c", c);
    else if (c < 0x20) r = mlproto_buf_printf(b, "\\u%04x", c);
    else r = mlproto_buf_append(b, &c, 1);
    if (r) return;
  }
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
    int r = mlproto_buf_printf(&resp->body, "{\"code\":\"%s\",\"message\":\"", mlproto_errname(code));
    if (!r) json_escape(&resp->body, msg);
    if (!r) r = mlproto_buf_printf(&resp->body, "\"}\n");
    (void)r;
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

typedef struct ctx {
  mls_app *app;
  const mls_request *req;
  mls_response *resp;
  uint64_t now;
  int want_json;
} ctx;

static const char *header(const mls_request *req, const char *name) {
  for (size_t i = 0; i < req->n_headers; i++)
    if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
      return req->headers[i].value;
  return NULL;
}

static int fail(ctx *c, int code, const char *detail) {
  mls_app_error(c->resp, code, detail, c->want_json);
  return code;
}

static int rate_limited(ctx *c, uint64_t retry_ms, const char *detail) {
  uint64_t s = (retry_ms + 999) / 1000;
  if (s == 0) s = 1;
  snprintf(c->resp->extra_headers, sizeof c->resp->extra_headers, "Retry-After: %" PRIu64 "\r\n", s);
  return fail(c, MLPROTO_ERR_RATE_LIMITED, detail);
}

/* Answer with a packed protobuf message. */
static int reply(ctx *c, const ProtobufCMessage *m) {
  uint8_t *out = NULL;
  size_t len = 0;
  int rc = mlproto_msg_pack(&out, &len, m);
  if (rc) return fail(c, rc, NULL);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, RESPONSE_CAP);
  rc = mlproto_buf_append(&c->resp->body, out, len);
  mlproto_free(out);
  if (rc) return fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_PROTO;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

static int need_proto_body(ctx *c) {
  const char *ct = header(c->req, "Content-Type");
  if (!ct) return fail(c, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type " CT_PROTO " required");
  size_t n = strlen(CT_PROTO);
  while (*ct == ' ') ct++;
  if (strncasecmp(ct, CT_PROTO, n) != 0 || (ct[n] && ct[n] != ';' && ct[n] != ' '))
    return fail(c, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type " CT_PROTO " required");
  return MLPROTO_OK;
}

/* Query parameters: strict "k=v&k=v", decimal u64 or hex values. */
typedef struct qparam {
  const char *name;
  const char *val;
  size_t len;
  int seen;
} qparam;

static int parse_query(ctx *c, qparam *ps, size_t n) {
  const char *q = c->req->query ? c->req->query : "";
  if (strlen(q) > 512) return fail(c, MLPROTO_ERR_BAD_QUERY, "query too long");
  while (*q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', len);
    if (!eq) return fail(c, MLPROTO_ERR_BAD_QUERY, "parameter without value");
    size_t klen = (size_t)(eq - q);
    size_t i;
    for (i = 0; i < n; i++)
      if (strlen(ps[i].name) == klen && memcmp(ps[i].name, q, klen) == 0) break;
    if (i == n) return fail(c, MLPROTO_ERR_BAD_QUERY, "unknown parameter");
    if (ps[i].seen) return fail(c, MLPROTO_ERR_BAD_QUERY, "repeated parameter");
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
static int q_u64(ctx *c, const qparam *p, uint64_t *out) {
  /* The same rules as mlproto_http_query_u64() (the wire library, which the
   * application half does not link): "0" or [1-9][0-9]*, at most INT64_MAX. */
  if (p->len == 0 || p->len > 19 || (p->len > 1 && p->val[0] == '0'))
    return fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
  uint64_t v = 0;
  for (size_t i = 0; i < p->len; i++) {
    if (p->val[i] < '0' || p->val[i] > '9') return fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
    v = v * 10 + (uint64_t)(p->val[i] - '0'); /* 19 digits cannot overflow a u64 */
  }
  if (v > (uint64_t)INT64_MAX) return fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
  *out = v;
  return MLPROTO_OK;
}

/* ---------------------------------------------------------------- STH --- */

static void sth_to_pb(Mentorlog__V1__SignedTreeHead *pb, const mlproto_sth *s) {
  mentorlog__v1__signed_tree_head__init(pb);
  pb->size = s->size;
  pb->root.data = (uint8_t *)s->root;
  pb->root.len = 32;
  pb->timestamp_ms = s->timestamp_ms;
  pb->signature.data = (uint8_t *)s->signature;
  pb->signature.len = 64;
}

static int read_sth(mls_app *app, uint64_t now, mlproto_sth *sth) {
  mls_txn *tx;
  int rc = mls_store_begin(app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  rc = mls_log_sth(app->log, tx, now, sth);
  mls_store_rollback(tx);
  return rc;
}

/* ------------------------------------------------------------ enrolment --- */

/* Codes are Crockford base32, typed by people: as Crockford decodes, case,
 * dashes and spaces do not matter and O reads as 0, I and L as 1. Any other
 * symbol cannot be part of a code. */
static int code_hash(uint8_t out[32], const char *code) {
  static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  char norm[65];
  size_t n = 0;
  for (const char *p = code; *p; p++) {
    if (*p == '-' || *p == ' ') continue;
    if (n == 64) {
      sodium_memzero(norm, sizeof norm);
      return MLPROTO_ERR_ENROLL_CODE_INVALID;
    }
    char ch = *p;
    if (ch >= 'a' && ch <= 'z') ch = (char)(ch - 'a' + 'A');
    if (ch == 'O') ch = '0';
    else if (ch == 'I' || ch == 'L') ch = '1';
    if (!strchr(alphabet, ch) || ch == '\0') {
      sodium_memzero(norm, sizeof norm);
      return MLPROTO_ERR_ENROLL_CODE_INVALID;
    }
    norm[n++] = ch;
  }
  static const char tag[] = "mentorlog/enroll-code/v1";
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof tag);
  crypto_hash_sha256_update(&st, (const uint8_t *)norm, n);
  crypto_hash_sha256_final(&st, out);
  sodium_memzero(norm, sizeof norm);
  return MLPROTO_OK;
}

int mls_app_code_hash(uint8_t out[32], const char *code) { return code_hash(out, code); }

/* The limiter key of the request's address (IPv6: its /64). */
static size_t peer_key(const ctx *c, uint8_t key[MLS_LIMIT_KEY_MAX]) {
  return mls_addr_key(key, c->req->peer);
}

static int addr_throttled(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = peer_key(c, k);
  if (mls_backoff_check(c->app->addr_fail, k, kl, c->now, &retry))
    return rate_limited(c, retry, "too many failed attempts from this address");
  return MLPROTO_OK;
}

static void addr_failed(ctx *c) {
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = peer_key(c, k);
  mls_backoff_fail(c->app->addr_fail, k, kl, c->now);
}

/* A retried enrolment: the code was used, by this very device (same signing
 * and box keys, and the request is signed by that key), which is still
 * active. Then the first answer was lost: give it again. */
static int enroll_repeat(mls_txn *tx, const uint8_t h[32], const mls_device *req,
                         mls_device *out) {
  uint8_t used_by[32], mentor[16];
  int rc = MLS_TX(tx, code_used_by, h, used_by, mentor);
  if (rc) return rc == MLPROTO_ERR_NOT_FOUND ? MLPROTO_ERR_ENROLL_CODE_INVALID : rc;
  if (sodium_memcmp(used_by, req->pub, 32) != 0) return MLPROTO_ERR_ENROLL_CODE_INVALID;
  rc = MLS_TX(tx, device_get, req->pub, out);
  if (rc) return rc == MLPROTO_ERR_NOT_FOUND ? MLPROTO_ERR_ENROLL_CODE_INVALID : rc;
  if (out->revoked_ms || memcmp(out->box_pub, req->box_pub, 32) != 0 ||
      memcmp(out->mentor_id, mentor, 16) != 0)
    return MLPROTO_ERR_ENROLL_CODE_INVALID;
  return MLPROTO_OK;
}

static int enroll_reply(ctx *c, mls_device *d, const mlproto_sth *sth) {
  Mentorlog__V1__EnrollResponse r = MENTORLOG__V1__ENROLL_RESPONSE__INIT;
  Mentorlog__V1__SignedTreeHead pb;
  sth_to_pb(&pb, sth);
  r.device_id.data = d->id;
  r.device_id.len = 16;
  r.mentor_id.data = d->mentor_id;
  r.mentor_id.len = 16;
  r.server_pub.data = c->app->pk;
  r.server_pub.len = 32;
  r.sth = &pb;
  return reply(c, &r.base);
}

static int h_enroll(ctx *c) {
  int rc = addr_throttled(c);
  if (rc) return rc;
  if ((rc = need_proto_body(c))) return rc;
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_REQUEST, c->req->body, c->req->body_len);
  if (rc) return fail(c, rc, "EnrollRequest");
  Mentorlog__V1__EnrollRequest *er = (Mentorlog__V1__EnrollRequest *)m;
  rc = mlproto_enroll_request_verify(er);
  if (rc) {
    addr_failed(c);
    mlproto_msg_free(m);
    return fail(c, rc, "enrolment signature");
  }
  uint8_t h[32];
  rc = code_hash(h, er->code);
  mls_device d;
  memset(&d, 0, sizeof d);
  memcpy(d.pub, er->device_pub.data, 32);
  memcpy(d.box_pub, er->box_pub.data, 32);
  mls_device_id(d.id, d.pub);
  snprintf(d.label, sizeof d.label, "%s", er->label ? er->label : "");
  d.enrolled_ms = c->now;
  mlproto_msg_free(m);
  if (rc) { addr_failed(c); return fail(c, rc, NULL); }

  mls_txn *tx;
  mlproto_sth sth;
  if ((rc = mls_log_begin(c->app->log, &tx))) return fail(c, rc, NULL);
  rc = MLS_TX(tx, code_consume, h, c->now, d.pub, d.mentor_id);
  if (rc == MLPROTO_ERR_ENROLL_CODE_INVALID) {
    mls_device first;
    if (enroll_repeat(tx, h, &d, &first) == MLPROTO_OK) {
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      mls_log_abort(c->app->log, tx);
      if (rc) return fail(c, rc, NULL);
      d = first;
      char dev[33];
      hex16(dev, d.id);
      app_log("info", "device_enroll_repeated", "conn=%" PRIu64 " device=%s", c->req->conn_id, dev);
      return enroll_reply(c, &d, &sth);
    }
  }
  if (!rc) rc = MLS_TX(tx, device_add, &d);
  if (!rc) {
    Mentorlog__V1__DeviceEnrolled de = MENTORLOG__V1__DEVICE_ENROLLED__INIT;
    de.device_pub.data = d.pub;
    de.device_pub.len = 32;
    de.box_pub.data = d.box_pub;
    de.box_pub.len = 32;
    de.mentor_id.data = d.mentor_id;
    de.mentor_id.len = 16;
    de.label = d.label;
    mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
    disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_ENROLLED;
    disc.device_enrolled = &de;
    rc = mls_log_append_event(c->app->log, tx, &disc, d.mentor_id, c->now, NULL);
  }
  if (rc) {
    mls_log_abort(c->app->log, tx);
    if (rc == MLPROTO_ERR_ENROLL_CODE_INVALID) addr_failed(c);
    return fail(c, rc, rc == MLPROTO_ERR_ALREADY_EXISTS ? "device already enrolled" : NULL);
  }
  if ((rc = mls_log_commit(c->app->log, tx, c->now, &sth))) return fail(c, rc, NULL);
  char dev[33], men[33];
  hex16(dev, d.id);
  hex16(men, d.mentor_id);
  app_log("info", "device_enrolled", "conn=%" PRIu64 " device=%s mentor=%s", c->req->conn_id, dev, men);
  return enroll_reply(c, &d, &sth);
}

/* ------------------------------------------------------------- sessions --- */

static int h_challenge(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = peer_key(c, k);
  if (mls_bucket_take(c->app->addr_rate, k, kl, c->now, &retry))
    return rate_limited(c, retry, "challenges");
  uint8_t ch[32];
  randombytes_buf(ch, sizeof ch);
  mls_txn *tx;
  int rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    rc = MLS_TX(tx, challenge_add, ch, c->now, c->now + CHALLENGE_TTL_MS, k, kl,
                CHALLENGES_PER_ADDRESS);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  if (rc == MLPROTO_ERR_RATE_LIMITED)
    return rate_limited(c, CHALLENGE_TTL_MS, "too many unused challenges from this address");
  if (rc) return fail(c, rc, NULL);
  Mentorlog__V1__ChallengeResponse r = MENTORLOG__V1__CHALLENGE_RESPONSE__INIT;
  r.challenge.data = ch;
  r.challenge.len = 32;
  r.expires_ms = c->now + CHALLENGE_TTL_MS;
  return reply(c, &r.base);
}

static void token_hash(uint8_t out[32], const char *token, size_t len) {
  crypto_hash_sha256(out, (const uint8_t *)token, len);
}

static int h_session(ctx *c) {
  int rc = addr_throttled(c);
  if (rc) return rc;
  if ((rc = need_proto_body(c))) return rc;
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, c->req->body, c->req->body_len);
  if (rc) return fail(c, rc, "SessionRequest");
  Mentorlog__V1__SessionRequest *sr = (Mentorlog__V1__SessionRequest *)m;
  uint8_t pub[32], ch[32];
  memcpy(pub, sr->device_pub.data, 32);
  memcpy(ch, sr->challenge.data, 32);
  uint64_t retry;
  if (mls_backoff_check(c->app->dev_fail, pub, 32, c->now, &retry)) {
    mlproto_msg_free(m);
    return rate_limited(c, retry, "too many failed attempts for this device");
  }
  /* Verified before any lookup, so an unknown and a revoked device cost the same. */
  int sig_rc = mlproto_session_request_verify(sr);
  mlproto_msg_free(m);

  char token[48];
  uint8_t raw[32], th[32];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(token, sizeof token, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  token_hash(th, token, strlen(token));

  mls_txn *tx;
  rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx);
  if (rc) return fail(c, rc, NULL);
  mls_device d;
  int known = 0; /* the claimed device exists */
  int dr = MLS_TX(tx, device_get, pub, &d);
  if (dr == MLPROTO_OK) known = 1;
  int auth_rc = MLS_TX(tx, challenge_consume, ch, c->now);
  if (auth_rc == MLPROTO_OK) {
    if (dr != MLPROTO_OK && dr != MLPROTO_ERR_NOT_FOUND) auth_rc = dr;
    else if (dr == MLPROTO_ERR_NOT_FOUND || d.revoked_ms != 0 || sig_rc != MLPROTO_OK)
      auth_rc = MLPROTO_ERR_UNAUTHENTICATED;
  }
  if (auth_rc == MLPROTO_OK) auth_rc = MLS_TX(tx, session_add, th, pub, c->now + SESSION_TTL_MS);
  /* The challenge is spent whatever the outcome: commit its deletion. */
  if (auth_rc == MLPROTO_OK || auth_rc == MLPROTO_ERR_UNAUTHENTICATED ||
      auth_rc == MLPROTO_ERR_CHALLENGE_INVALID) {
    rc = mls_store_commit(tx);
    if (rc) auth_rc = rc;
  } else {
    mls_store_rollback(tx);
  }
  if (auth_rc == MLPROTO_ERR_UNAUTHENTICATED || auth_rc == MLPROTO_ERR_CHALLENGE_INVALID) {
    addr_failed(c);
    /* Only the device's own key can make a valid signature: anything else
     * says nothing about the claimed device (app_limits.h). */
    if (sig_rc == MLPROTO_OK && known) mls_backoff_fail(c->app->dev_fail, pub, 32, c->now);
    sodium_memzero(token, sizeof token);
    app_log("info", "session_refused", "conn=%" PRIu64 " reason=%s", c->req->conn_id,
            mlproto_errname(auth_rc));
    return fail(c, auth_rc, NULL);
  }
  if (auth_rc) {
    sodium_memzero(token, sizeof token);
    return fail(c, auth_rc, NULL);
  }
  mls_backoff_reset(c->app->dev_fail, pub, 32);
  char dev[33];
  hex16(dev, d.id);
  app_log("info", "session_opened", "conn=%" PRIu64 " device=%s", c->req->conn_id, dev);
  Mentorlog__V1__SessionResponse r = MENTORLOG__V1__SESSION_RESPONSE__INIT;
  r.token = token;
  r.expires_ms = c->now + SESSION_TTL_MS;
  rc = reply(c, &r.base);
  sodium_memzero(token, sizeof token);
  return rc;
}

/* Bearer token -> active device, and its request budget. */
static int authenticate(ctx *c, mls_device *d) {
  const char *h = header(c->req, "Authorization");
  static const char pre[] = "Bearer ";
  if (!h || strncasecmp(h, pre, sizeof pre - 1) != 0)
    return fail(c, MLPROTO_ERR_UNAUTHENTICATED, "bearer token required");
  const char *tok = h + sizeof pre - 1;
  size_t len = strlen(tok);
  if (len < 16 || len > 128) return fail(c, MLPROTO_ERR_UNAUTHENTICATED, NULL);
  uint8_t th[32];
  token_hash(th, tok, len);
  mls_txn *tx;
  int rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
  if (rc) return fail(c, rc, NULL);
  uint8_t pub[32];
  rc = MLS_TX(tx, session_get, th, c->now, pub);
  if (!rc) {
    rc = MLS_TX(tx, device_get, pub, d);
    /* Revoked: same answer as an unknown token (no oracle). */
    if (rc == MLPROTO_ERR_NOT_FOUND || (!rc && d->revoked_ms)) rc = MLPROTO_ERR_UNAUTHENTICATED;
  }
  mls_store_rollback(tx);
  if (rc) return fail(c, rc, NULL);
  uint64_t retry;
  if (mls_bucket_take(c->app->dev_rate, d->pub, 32, c->now, &retry))
    return rate_limited(c, retry, NULL);
  return MLPROTO_OK;
}

/* ----------------------------------------------------------------- push --- */

/* Number of top-level field-1 entries in a PushRequest, read from the wire
 * before unpacking, so an oversize batch gets BATCH_TOO_LARGE, not a
 * generic decoding error. -1 when the framing is broken. */
static long count_push_records(const uint8_t *p, size_t n) {
  long count = 0;
  size_t i = 0;
  while (i < n) {
    uint64_t key = 0, len = 0;
    int shift = 0;
    do {
      if (i >= n || shift > 63) return -1;
      key |= (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
    } while (p[i++] & 0x80);
    if ((key & 7) != 2) return -1;
    shift = 0;
    do {
      if (i >= n || shift > 63) return -1;
      len |= (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
    } while (p[i++] & 0x80);
    if (len > n - i) return -1;
    i += (size_t)len;
    if ((key >> 3) == 1) count++;
  }
  return count;
}

typedef struct push_item {
  mlproto_record *rec;
  const uint8_t *env;
  size_t env_len;
  uint64_t index;
  uint64_t received_ms;
  int verify_rc;
} push_item;

static void verify_item(void *ud, size_t i) {
  push_item *it = (push_item *)ud + i;
  it->verify_rc = mlproto_record_verify(&it->rec, it->env, it->env_len);
}

static void record_fork(mls_app *app, const push_item *it, const mls_record_ref *ref,
                        const mls_device *d, uint64_t now) {
  uint8_t *logged = malloc(MLS_ENVELOPE_MAX);
  if (!logged) return;
  mls_txn *tx;
  size_t len = 0;
  int rc = mls_store_begin(app->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    rc = MLS_TX(tx, envelope_at, ref->index, logged, MLS_ENVELOPE_MAX, &len);
    if (!rc) rc = MLS_TX(tx, fork_add, it->rec->author, it->rec->seq, logged, len, it->env,
                         it->env_len, d->pub, now);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  free(logged);
  char dev[33];
  hex16(dev, d->id);
  app_log(rc ? "error" : "warn", "fork_evidence", "device=%s seq=%" PRIu64 " index=%" PRIu64
          " stored=%d", dev, it->rec->seq, ref->index, rc == MLPROTO_OK);
}

/* Case owners seen in this batch: a batch usually writes to a few cases,
 * and each would otherwise cost a lookup per record. Valid only inside the
 * batch's transaction (a claim made here is rolled back with it). */
#define CASE_MEMO_SLOTS 8
typedef struct case_memo {
  uint8_t case_id[CASE_MEMO_SLOTS][16];
  uint8_t owner[CASE_MEMO_SLOTS][16];
  size_t n;
} case_memo;

static void memo_put(case_memo *m, const uint8_t case_id[16], const uint8_t owner[16]) {
  size_t slot = m->n++ % CASE_MEMO_SLOTS;
  memcpy(m->case_id[slot], case_id, 16);
  memcpy(m->owner[slot], owner, 16);
}

/* The record may be written by this mentor: its case is theirs, or it opens
 * a case no one has claimed (then the case becomes theirs). */
static int case_check(mls_txn *tx, case_memo *m, const mlproto_record *r,
                      const uint8_t mentor_id[16]) {
  size_t filled = m->n < CASE_MEMO_SLOTS ? m->n : CASE_MEMO_SLOTS;
  for (size_t k = 0; k < filled; k++)
    if (memcmp(m->case_id[k], r->case_id, 16) == 0)
      return memcmp(m->owner[k], mentor_id, 16) == 0 ? MLPROTO_OK : MLPROTO_ERR_NOT_YOUR_CASE;
  uint8_t owner[16];
  int x = MLS_TX(tx, case_owner, r->case_id, owner);
  if (x == MLPROTO_ERR_NOT_FOUND) {
    if (r->kind != MLPROTO_KIND_CASE_OPEN) return MLPROTO_ERR_NOT_YOUR_CASE;
    if ((x = MLS_TX(tx, case_claim, r->case_id, mentor_id))) return x;
    memcpy(owner, mentor_id, 16);
  } else if (x) {
    return x;
  }
  memo_put(m, r->case_id, owner);
  return memcmp(owner, mentor_id, 16) == 0 ? MLPROTO_OK : MLPROTO_ERR_NOT_YOUR_CASE;
}

static int push_ordered(ctx *c, const mls_device *d, int slot);

static int h_push(ctx *c) {
  mls_device d;
  int rc = authenticate(c, &d);
  if (rc) return rc;
  int slot = mls_push_order_enter(c->app->order, d.pub);
  rc = push_ordered(c, &d, slot);
  mls_push_order_leave(c->app->order, slot);
  return rc;
}

#define NO_RECORD SIZE_MAX

/* The checks of record i that need no store: its signature and hash
 * (verified by verify_item), its author, its kind, and that it follows
 * record i - 1 of the batch. */
static int record_precheck(const push_item *items, size_t i, const mls_device *d) {
  const mlproto_record *r = items[i].rec;
  if (items[i].verify_rc) return items[i].verify_rc;
  if (memcmp(r->author, d->pub, 32) != 0) return MLPROTO_ERR_AUTHOR_MISMATCH;
  if (mlproto_kind_is_server_event(r->kind)) return MLPROTO_ERR_KIND_NOT_ALLOWED;
  if (i > 0 && r->seq != items[i - 1].rec->seq + 1) return MLPROTO_ERR_SEQ_GAP;
  return MLPROTO_OK;
}

/* Opens the batch's write transaction. When this is the only push in
 * flight and the log is free: at once, and each record is then written as
 * soon as it is verified while the other cores verify the next ones (a
 * device that waits for each answer gets verifying and writing overlapped;
 * measured +8 % for one device, docs/benchmarks.md). Otherwise the whole
 * batch is verified first, outside the lock, so that its signature checks
 * never hold up the writer while other pushes wait for it. */
static int push_begin(ctx *c, mls_fanout_job *vj, size_t count, mls_txn **tx) {
  /* Without helpers there is nothing to overlap: no point holding the log. */
  if (!c->app->verify_first && mls_fanout_helpers(c->app->verify) > 0 &&
      mls_push_order_count(c->app->order) <= 1) {
    int rc = mls_log_try_begin(c->app->log, tx);
    if (rc || *tx) return rc;
  }
  for (size_t i = 0; i < count; i++) mls_fanout_await(vj, i);
  return mls_log_begin(c->app->log, tx);
}

/* slot: this push's place in app->order (push_order.h), or -1. */
static int push_ordered(ctx *c, const mls_device *d, int slot) {
  int rc;
  if ((rc = need_proto_body(c))) return rc;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long n = count_push_records(c->req->body, c->req->body_len);
  if (n > (long)MLPROTO_PUSH_MAX_RECORDS) {
    mls_metrics_add_records(0, "BATCH_TOO_LARGE", (uint64_t)n);
    char detail[64];
    snprintf(detail, sizeof detail, "at most %u records per batch", MLPROTO_PUSH_MAX_RECORDS);
    return fail(c, MLPROTO_ERR_BATCH_TOO_LARGE, detail);
  }
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_REQUEST, c->req->body, c->req->body_len);
  if (rc) {
    mls_metrics_inc_records(0, mlproto_errname(rc));
    return fail(c, rc, "PushRequest");
  }
  Mentorlog__V1__PushRequest *pr = (Mentorlog__V1__PushRequest *)m;
  size_t count = pr->n_records;
  push_item *items = calloc(count ? count : 1, sizeof *items);
  mls_fanout_job *vj = NULL;
  if (items) {
    for (size_t i = 0; i < count; i++) {
      items[i].env = pr->records[i].data;
      items[i].env_len = pr->records[i].len;
    }
    rc = mls_fanout_start(c->app->verify, count, verify_item, items, &vj);
  } else {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  }
  if (rc) {
    free(items);
    mlproto_msg_free(m);
    mls_metrics_add_records(0, mlproto_errname(rc), count ? count : 1);
    return fail(c, rc, NULL);
  }

  /* Every record is checked in order, so the first bad record is the one
   * named, whether or not the batch was verified before the lock. bad:
   * that record's index, NO_RECORD when the failure is not about one. */
  mls_txn *tx = NULL;
  size_t appended = 0, bad = NO_RECORD;
  mls_record_ref fork_ref;
  memset(&fork_ref, 0, sizeof fork_ref);
  int forked = 0, waited = 0, stateless = 0;
  mlproto_sth sth;
retry:
  bad = NO_RECORD;
  rc = push_begin(c, vj, count, &tx);
  if (!rc) {
    /* authenticate() read the device in an earlier snapshot: a revocation
     * committed since must win, or records could follow DEVICE_REVOKED. */
    mls_device now_d;
    int x = MLS_TX(tx, device_get, d->pub, &now_d);
    if (x == MLPROTO_ERR_NOT_FOUND || (!x && now_d.revoked_ms)) x = MLPROTO_ERR_UNAUTHENTICATED;
    if (x) {
      mls_log_abort(c->app->log, tx);
      mls_metrics_add_records(0, mlproto_errname(x), count ? count : 1);
      rc = fail(c, x, NULL);
      goto out;
    }
  }
  if (!rc) {
    /* All records share one author (checked per record): its tip, read
     * once and moved along the batch, decides each record (mlproto/chain.h).
     * A resend (seq <= tip) is looked up: its original log index is the
     * answer, and a fork's stored envelope is the evidence. */
    mlproto_chain_tip tip;
    mlproto_chain_tip_init(&tip, d->pub);
    if (count) rc = MLS_TX(tx, author_head, d->pub, &tip.seq, tip.hash);
    case_memo memo = {.n = 0};
    for (size_t i = 0; i < count && !rc; i++) {
      mls_fanout_await(vj, i);
      bad = i;
      if ((rc = record_precheck(items, i, d))) {
        stateless = 1;
        break;
      }
      const mlproto_record *r = items[i].rec;
      mlproto_chain_verdict v = mlproto_chain_check(&tip, NULL, r);
      if (v == MLPROTO_CHAIN_DUPLICATE || v == MLPROTO_CHAIN_FORK || v == MLPROTO_CHAIN_NEED_HELD) {
        mls_record_ref ref;
        int x = MLS_TX(tx, record_at, r->author, r->seq, &ref);
        if (x) {
          rc = x == MLPROTO_ERR_NOT_FOUND ? MLPROTO_ERR_SEQ_GAP : x;
          break;
        }
        v = mlproto_chain_check(&tip, ref.record_hash, r);
        if (v == MLPROTO_CHAIN_DUPLICATE) {
          items[i].index = ref.index; /* identical resend: acknowledged again */
          items[i].received_ms = ref.received_ms;
          continue;
        }
        if (v == MLPROTO_CHAIN_FORK) {
          fork_ref = ref;
          forked = 1;
        }
      }
      if (v != MLPROTO_CHAIN_ACCEPT) { rc = mlproto_chain_error(v); break; }
      if ((rc = case_check(tx, &memo, r, d->mentor_id))) break;
      mls_log_entry e;
      memset(&e, 0, sizeof e);
      e.type = MLPROTO_LOG_DEVICE_RECORD;
      e.received_ms = c->now;
      memcpy(e.record_hash, r->hash, 32);
      memcpy(e.author, r->author, 32);
      e.seq = r->seq;
      memcpy(e.record_id, r->record_id, 16);
      memcpy(e.case_id, r->case_id, 16);
      e.kind = (uint32_t)r->kind;
      e.has_mentor = 1;
      memcpy(e.mentor_id, d->mentor_id, 16);
      e.envelope = items[i].env;
      e.envelope_len = items[i].env_len;
      if ((rc = mls_log_append(c->app->log, tx, &e))) break;
      items[i].index = e.index;
      items[i].received_ms = e.received_ms;
      mlproto_chain_advance(&tip, r);
      appended++;
    }
    if (!rc) bad = NO_RECORD;
    if (rc) {
      mls_log_abort(c->app->log, tx);
      /* The first new record does not follow the stored head: an earlier
       * batch of this device may still be on its way (push_order.h). The
       * helpers go on verifying this batch meanwhile. (A gap inside the
       * batch is the batch's own fault: no wait.) */
      if (rc == MLPROTO_ERR_SEQ_GAP && appended == 0 && !forked && !waited && !stateless &&
          mls_push_order_wait(c->app->order, slot, PUSH_ORDER_WAIT_MS)) {
        waited = 1;
        atomic_fetch_add(&c->app->push_waits, 1);
        tx = NULL;
        goto retry;
      }
    } else if (appended) {
      rc = mls_log_commit(c->app->log, tx, c->now, &sth);
    } else {
      /* Nothing new: no new tree head to sign. */
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      mls_log_abort(c->app->log, tx);
    }
  }
  /* The evidence is committed (its own durable transaction) before the
   * answer is built: a client that saw FORK can rely on it being kept. */
  if (forked) record_fork(c->app, &items[bad], &fork_ref, d, c->now);

  char dev[33];
  hex16(dev, d->id);
  if (rc) {
    char detail[96] = "";
    size_t which = bad == NO_RECORD ? 0 : bad + 1;
    if (which) snprintf(detail, sizeof detail, "record %zu of %zu", which, count);
    mls_metrics_add_records(0, mlproto_errname(rc), count ? count : 1);
    app_log("info", "push_refused", "conn=%" PRIu64 " device=%s n=%zu record=%zu reason=%s",
            c->req->conn_id, dev, count, which, mlproto_errname(rc));
    rc = fail(c, rc, detail);
    goto out;
  }
  mls_metrics_add_records(1, "ok", count);

  Mentorlog__V1__PushResponse resp = MENTORLOG__V1__PUSH_RESPONSE__INIT;
  Mentorlog__V1__RecordResult *res = calloc(count ? count : 1, sizeof *res);
  Mentorlog__V1__RecordResult **resp_ptrs = calloc(count ? count : 1, sizeof *resp_ptrs);
  Mentorlog__V1__SignedTreeHead pb;
  sth_to_pb(&pb, &sth);
  if (!res || !resp_ptrs) {
    rc = fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  } else {
    for (size_t i = 0; i < count; i++) {
      mentorlog__v1__record_result__init(&res[i]);
      res[i].record_id.data = items[i].rec->record_id;
      res[i].record_id.len = 16;
      res[i].log_index = items[i].index;
      res[i].received_at_ms = items[i].received_ms;
      res[i].status = (char *)"OK";
      resp_ptrs[i] = &res[i];
    }
    resp.n_results = count;
    resp.results = resp_ptrs;
    resp.sth = &pb;
    rc = reply(c, &resp.base);
  }
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  mls_metrics_observe_push_ms(ms);
  app_log("info", "push", "conn=%" PRIu64 " device=%s n=%zu new=%zu log_size=%" PRIu64,
          c->req->conn_id, dev, count, appended, sth.size);
  free(res);
  free(resp_ptrs);
out:
  /* Records never handed out are not verified (rec NULL): skipped. */
  mls_fanout_finish(vj, 1);
  for (size_t i = 0; i < count; i++) mlproto_record_free(items[i].rec);
  free(items);
  mlproto_msg_free(m);
  return rc;
}

/* ----------------------------------------------------------------- pull --- */

typedef struct pull_acc {
  Mentorlog__V1__LogItem *items;
  Mentorlog__V1__LogItem **ptrs;
  uint8_t **copies;
  size_t n, cap;
  size_t bytes;
  int more;
  uint64_t last;
} pull_acc;

static int pull_cb(void *ud, const mls_log_entry *e) {
  pull_acc *a = ud;
  if (a->n == a->cap || (a->n > 0 && a->bytes + e->envelope_len > PULL_BYTES_SOFT_CAP)) {
    a->more = 1;
    return 1; /* stop */
  }
  uint8_t *copy = mlproto_memdup(e->envelope, e->envelope_len);
  if (!copy) return MLPROTO_ERR_OUT_OF_MEMORY;
  Mentorlog__V1__LogItem *it = &a->items[a->n];
  mentorlog__v1__log_item__init(it);
  it->log_index = e->index;
  it->received_at_ms = e->received_ms;
  it->entry_type = e->type;
  it->envelope.data = copy;
  it->envelope.len = e->envelope_len;
  a->copies[a->n] = copy;
  a->ptrs[a->n] = it;
  a->n++;
  a->bytes += e->envelope_len;
  a->last = e->index;
  return 0;
}

static int h_pull(ctx *c) {
  mls_device d;
  int rc = authenticate(c, &d);
  if (rc) return rc;
  qparam ps[] = {{.name = "since"}, {.name = "limit"}};
  if ((rc = parse_query(c, ps, 2))) return rc;
  uint64_t since = 0, limit = PULL_DEFAULT_LIMIT;
  if (ps[0].seen && (rc = q_u64(c, &ps[0], &since))) return rc;
  if (ps[1].seen && (rc = q_u64(c, &ps[1], &limit))) return rc;
  if (limit == 0) return fail(c, MLPROTO_ERR_BAD_QUERY, "limit must be >= 1");
  if (limit > MLPROTO_PULL_MAX_ITEMS) limit = MLPROTO_PULL_MAX_ITEMS;

  pull_acc a;
  memset(&a, 0, sizeof a);
  a.cap = (size_t)limit;
  a.items = calloc(a.cap, sizeof *a.items);
  a.ptrs = calloc(a.cap, sizeof *a.ptrs);
  a.copies = calloc(a.cap, sizeof *a.copies);
  mlproto_sth sth;
  if (!a.items || !a.ptrs || !a.copies) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  } else {
    mls_txn *tx;
    rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
    if (!rc) {
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      /* limit+1: one more row tells whether more are waiting. */
      if (!rc) rc = MLS_TX(tx, log_list, d.mentor_id, since, (uint32_t)limit + 1, pull_cb, &a);
      if (rc == 1) rc = MLPROTO_OK;
      mls_store_rollback(tx);
    }
  }
  if (!rc) {
    Mentorlog__V1__PullResponse r = MENTORLOG__V1__PULL_RESPONSE__INIT;
    Mentorlog__V1__SignedTreeHead pb;
    sth_to_pb(&pb, &sth);
    r.n_items = a.n;
    r.items = a.ptrs;
    r.more = a.more;
    /* Without more, everything up to the tree head's size was scanned. */
    r.next_since = a.more ? a.last + 1 : (sth.size > since ? sth.size : since);
    r.sth = &pb;
    rc = reply(c, &r.base);
  } else {
    fail(c, rc, NULL);
  }
  for (size_t i = 0; i < a.n; i++) mlproto_free(a.copies[i]);
  free(a.items);
  free(a.ptrs);
  free(a.copies);
  return rc;
}

/* ------------------------------------------------------------------ log --- */

/* The tree head as JSON (Accept: application/json) for witnesses and scripts:
 * {"size":N,"root":"<64 hex>","timestamp_ms":N,"signature":"<128 hex>"}. */
static int reply_sth_json(ctx *c, const mlproto_sth *sth) {
  char root[2 * 32 + 1], sig[2 * 64 + 1];
  mlproto_hex_encode(root, sth->root, sizeof sth->root);
  mlproto_hex_encode(sig, sth->signature, sizeof sth->signature);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 512);
  if (mlproto_buf_printf(&c->resp->body,
                         "{\"size\":%llu,\"root\":\"%s\",\"timestamp_ms\":%llu,\"signature\":\"%s\"}\n",
                         (unsigned long long)sth->size, root,
                         (unsigned long long)sth->timestamp_ms, sig))
    return fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_JSON;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

static int h_sth(ctx *c) {
  mlproto_sth sth;
  int rc = read_sth(c->app, c->now, &sth);
  if (rc) return fail(c, rc, NULL);
  if (c->want_json) return reply_sth_json(c, &sth);
  Mentorlog__V1__SignedTreeHead pb;
  sth_to_pb(&pb, &sth);
  return reply(c, &pb.base);
}

/* GET /v1/log/checkpoint[?size=N]: the C2SP checkpoint note of the whole
 * log, or of its first N leaves (N <= the log size: the same bytes every
 * time, so a device can fetch the checkpoint a push or pull answer named by
 * its size). text/plain; charset=utf-8. */
static int h_checkpoint(ctx *c) {
  qparam ps[] = {{.name = "size"}};
  int rc = parse_query(c, ps, 1);
  if (rc) return rc;
  uint64_t size = 0;
  if (ps[0].seen && (rc = q_u64(c, &ps[0], &size))) return rc;
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len = 0;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return fail(c, rc, NULL);
  rc = mls_log_checkpoint(c->app->log, tx, !ps[0].seen, size, note, sizeof note, &len, NULL);
  mls_store_rollback(tx);
  if (rc) return fail(c, rc, NULL);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, len + 1);
  if (mlproto_buf_append(&c->resp->body, note, len)) return fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_TEXT;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

static int reply_proof(ctx *c, int inclusion, uint64_t a, uint64_t b, uint8_t (*proof)[32],
                       size_t len) {
  ProtobufCBinaryData hs[MLPROTO_MERKLE_MAX_PROOF];
  for (size_t i = 0; i < len; i++) {
    hs[i].data = proof[i];
    hs[i].len = 32;
  }
  if (inclusion) {
    Mentorlog__V1__InclusionProof p = MENTORLOG__V1__INCLUSION_PROOF__INIT;
    p.leaf_index = a;
    p.tree_size = b;
    p.n_hashes = len;
    p.hashes = hs;
    return reply(c, &p.base);
  }
  Mentorlog__V1__ConsistencyProof p = MENTORLOG__V1__CONSISTENCY_PROOF__INIT;
  p.first = a;
  p.second = b;
  p.n_hashes = len;
  p.hashes = hs;
  return reply(c, &p.base);
}

static int h_inclusion(ctx *c) {
  qparam ps[] = {{.name = "index"}, {.name = "size"}, {.name = "hash"}};
  int rc = parse_query(c, ps, 3);
  if (rc) return rc;
  if (ps[0].seen == ps[2].seen) return fail(c, MLPROTO_ERR_BAD_QUERY, "give index or hash");
  uint64_t index = 0, size = 0;
  uint8_t leaf[32];
  if (ps[0].seen && (rc = q_u64(c, &ps[0], &index))) return rc;
  if (ps[1].seen && (rc = q_u64(c, &ps[1], &size))) return rc;
  if (ps[2].seen && mlproto_hex_decode(leaf, 32, ps[2].val, ps[2].len) != MLPROTO_OK)
    return fail(c, MLPROTO_ERR_BAD_QUERY, "hash: 64 hex digits");
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return fail(c, rc, NULL);
  if (!ps[1].seen) {
    mlproto_sth sth;
    rc = mls_log_sth(c->app->log, tx, c->now, &sth);
    size = sth.size;
  }
  if (!rc && ps[2].seen) rc = MLS_TX(tx, leaf_find, leaf, &index);
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len = 0;
  if (!rc) rc = mls_log_inclusion(tx, index, size, proof, &len);
  mls_store_rollback(tx);
  if (rc) return fail(c, rc, NULL);
  return reply_proof(c, 1, index, size, proof, len);
}

static int h_consistency(ctx *c) {
  qparam ps[] = {{.name = "first"}, {.name = "second"}};
  int rc = parse_query(c, ps, 2);
  if (rc) return rc;
  if (!ps[0].seen) return fail(c, MLPROTO_ERR_BAD_QUERY, "first required");
  uint64_t first = 0, second = 0;
  if ((rc = q_u64(c, &ps[0], &first))) return rc;
  if (ps[1].seen && (rc = q_u64(c, &ps[1], &second))) return rc;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return fail(c, rc, NULL);
  if (!ps[1].seen) {
    mlproto_sth sth;
    rc = mls_log_sth(c->app->log, tx, c->now, &sth);
    second = sth.size;
  }
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len = 0;
  if (!rc) rc = mls_log_consistency(tx, first, second, proof, &len);
  mls_store_rollback(tx);
  if (rc) return fail(c, rc, NULL);
  return reply_proof(c, 0, first, second, proof, len);
}

/* ---------------------------------------------------------------- ops --- */

static int h_healthz(ctx *c) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 64);
  if (mlproto_buf_printf(&c->resp->body, "ok\n")) return fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_TEXT;
  return MLPROTO_OK;
}

static int h_metrics(ctx *c) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 1u << 20);
  mls_metrics_app now = {.log_size = mls_app_log_size(c->app)};
  mls_app_push_stats(c->app, &now.pushes_in_flight, &now.push_waits);
  int rc = mls_metrics_render(&c->resp->body, &now);
  if (rc) return fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = MLS_METRICS_CONTENT_TYPE;
  return MLPROTO_OK;
}

/* --------------------------------------------------------------- routes --- */

typedef struct route {
  const char *method;
  const char *path;
  const char *label;
  int (*fn)(ctx *c);
  int anonymous; /* no credentials: metered per address (unauth_rate) */
} route;

/* /metrics runs on a worker like every route but /healthz (it reads the log
 * size from the store) and is not metered here; operators restrict who can
 * reach it (docs/operator.md). */
static const route ROUTES[] = {
  {"POST", "/v1/enroll", "enroll", h_enroll, 1},
  {"GET", "/v1/session/challenge", "challenge", h_challenge, 1},
  {"POST", "/v1/session", "session", h_session, 1},
  {"POST", "/v1/push", "push", h_push, 0},
  {"GET", "/v1/pull", "pull", h_pull, 0},
  {"GET", "/v1/log/sth", "sth", h_sth, 1},
  {"GET", "/v1/log/checkpoint", "checkpoint", h_checkpoint, 1},
  {"GET", "/v1/log/proof/inclusion", "inclusion", h_inclusion, 1},
  {"GET", "/v1/log/proof/consistency", "consistency", h_consistency, 1},
  {"GET", "/healthz", "healthz", h_healthz, 1},
  {"GET", "/metrics", "metrics", h_metrics, 0},
};

/* "Allow: GET, HEAD\r\n" for a 405 on path. */
static void allow_header(mls_response *resp, const char *path) {
  char allow[96] = "";
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
    if (strcmp(ROUTES[i].path, path) != 0) continue;
    size_t n = strlen(allow);
    snprintf(allow + n, sizeof allow - n, "%s%s%s", n ? ", " : "", ROUTES[i].method,
             strcmp(ROUTES[i].method, "GET") == 0 ? ", HEAD" : "");
  }
  size_t used = strlen(resp->extra_headers);
  snprintf(resp->extra_headers + used, sizeof resp->extra_headers - used, "Allow: %s\r\n", allow);
}

void mls_app_handle(mls_app *app, const mls_request *req, mls_response *resp, uint64_t now_ms) {
  const char *accept = req ? header(req, "Accept") : NULL;
  ctx c = {.app = app, .req = req, .resp = resp, .now = now_ms,
           .want_json = accept && strstr(accept, CT_JSON) != NULL};
  resp->extra_headers[0] = 0;
  resp->route = "other";
  if (!app || !req || !req->method || !req->path) {
    fail(&c, MLPROTO_ERR_INTERNAL, NULL);
    return;
  }
  int path_known = 0;
  for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
    if (strcmp(ROUTES[i].path, req->path) != 0) continue;
    path_known = 1;
    resp->route = ROUTES[i].label;
    /* HEAD is GET without a body; the network half drops the body. */
    if (strcmp(ROUTES[i].method, req->method) == 0 ||
        (strcmp(req->method, "HEAD") == 0 && strcmp(ROUTES[i].method, "GET") == 0)) {
      if (strcmp(ROUTES[i].method, "GET") == 0 && req->body_len) {
        fail(&c, MLPROTO_ERR_BAD_HTTP, "GET with a body");
        return;
      }
      uint64_t retry;
      uint8_t k[MLS_LIMIT_KEY_MAX];
      size_t kl = peer_key(&c, k);
      if (ROUTES[i].anonymous && mls_bucket_take(app->unauth_rate, k, kl, now_ms, &retry)) {
        rate_limited(&c, retry, "requests from this address");
        return;
      }
      ROUTES[i].fn(&c);
      return;
    }
  }
  if (path_known) {
    fail(&c, MLPROTO_ERR_METHOD_NOT_ALLOWED, NULL);
    allow_header(resp, req->path);
    return;
  }
  fail(&c, MLPROTO_ERR_NOT_FOUND, "no such endpoint");
}
