/* app_session.c — enrolment (POST /v1/enroll), challenges and sessions
 * (GET /v1/session/challenge, POST /v1/session), per-address throttling of
 * failures, and the bearer-token check every authenticated route uses. */
#include "app_int.h"

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
size_t app_peer_key(const ctx *c, uint8_t key[MLS_LIMIT_KEY_MAX]) {
  return mls_addr_key(key, c->req->peer);
}

int app_addr_throttled(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = app_peer_key(c, k);
  if (mls_backoff_check(c->app->addr_fail, k, kl, c->now, &retry))
    return app_rate_limited(c, retry, "too many failed attempts from this address");
  return MLPROTO_OK;
}

void app_addr_failed(ctx *c) {
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = app_peer_key(c, k);
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
  app_sth_to_pb(&pb, sth);
  r.device_id.data = d->id;
  r.device_id.len = 16;
  r.mentor_id.data = d->mentor_id;
  r.mentor_id.len = 16;
  r.server_pub.data = c->app->pk;
  r.server_pub.len = 32;
  r.sth = &pb;
  return app_reply(c, &r.base);
}

int app_h_enroll(ctx *c) {
  int rc = app_addr_throttled(c);
  if (rc) return rc;
  if ((rc = app_need_proto_body(c))) return rc;
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_REQUEST, c->req->body, c->req->body_len);
  if (rc) return app_fail(c, rc, "EnrollRequest");
  Mentorlog__V1__EnrollRequest *er = (Mentorlog__V1__EnrollRequest *)m;
  rc = mlproto_enroll_request_verify(er);
  if (rc) {
    app_addr_failed(c);
    mlproto_msg_free(m);
    return app_fail(c, rc, "enrolment signature");
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
  if (rc) { app_addr_failed(c); return app_fail(c, rc, NULL); }

  mls_txn *tx;
  mlproto_sth sth;
  if ((rc = mls_log_begin(c->app->log, &tx))) return app_fail(c, rc, NULL);
  rc = MLS_TX(tx, code_consume, h, c->now, d.pub, d.mentor_id);
  if (rc == MLPROTO_ERR_ENROLL_CODE_INVALID) {
    mls_device first;
    if (enroll_repeat(tx, h, &d, &first) == MLPROTO_OK) {
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      mls_log_abort(c->app->log, tx);
      if (rc) return app_fail(c, rc, NULL);
      d = first;
      char dev[33];
      app_hex16(dev, d.id);
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
    if (rc == MLPROTO_ERR_ENROLL_CODE_INVALID) app_addr_failed(c);
    return app_fail(c, rc, rc == MLPROTO_ERR_ALREADY_EXISTS ? "device already enrolled" : NULL);
  }
  if ((rc = mls_log_commit(c->app->log, tx, c->now, &sth))) return app_fail(c, rc, NULL);
  char dev[33], men[33];
  app_hex16(dev, d.id);
  app_hex16(men, d.mentor_id);
  app_log("info", "device_enrolled", "conn=%" PRIu64 " device=%s mentor=%s", c->req->conn_id, dev, men);
  return enroll_reply(c, &d, &sth);
}

/* ------------------------------------------------------------- sessions --- */

/* Stateless (challenge.h): no store, no lock, nothing written; any
 * instance sharing the store accepts the answer. Issuance is bounded per
 * address by the budget of every route without credentials (unauth_rate,
 * mls_app_handle) and by this route's own (addr_rate). */
int app_h_challenge(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = app_peer_key(c, k);
  if (mls_bucket_take(c->app->addr_rate, k, kl, c->now, &retry))
    return app_rate_limited(c, retry, "challenges");
  uint8_t nonce[MLS_CHALLENGE_NONCE_LEN], ch[MLS_CHALLENGE_LEN];
  randombytes_buf(nonce, sizeof nonce);
  uint64_t expires = c->now + CHALLENGE_TTL_MS;
  mls_challenge_make(ch, c->app->challenge_key, nonce, expires);
  Mentorlog__V1__ChallengeResponse r = MENTORLOG__V1__CHALLENGE_RESPONSE__INIT;
  r.challenge.data = ch;
  r.challenge.len = sizeof ch;
  r.expires_ms = expires;
  return app_reply(c, &r.base);
}

static void token_hash(uint8_t out[32], const char *token, size_t len) {
  crypto_hash_sha256(out, (const uint8_t *)token, len);
}

/* The claimed device, read without the writer lock: MLPROTO_OK, NOT_FOUND,
 * or a store error. */
static int session_device(ctx *c, const uint8_t pub[32], mls_device *d) {
  mls_txn *tx;
  int rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  rc = MLS_TX(tx, device_get, pub, d);
  mls_store_rollback(tx);
  return rc;
}

/* The session, in one write transaction: the device once more (revoked
 * since it was read?), a few expired sessions purged (store.h
 * session_purge), the new one added under its challenge, which no other
 * session may have (opened at any instance sharing the store). */
static int session_store(ctx *c, const uint8_t th[32], const uint8_t pub[32],
                         const uint8_t ch[MLS_CHALLENGE_LEN], mls_device *d) {
  mls_txn *tx;
  int rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx);
  if (rc) return rc;
  rc = MLS_TX(tx, device_get, pub, d);
  if (rc == MLPROTO_ERR_NOT_FOUND || (!rc && d->revoked_ms)) rc = MLPROTO_ERR_UNAUTHENTICATED;
  if (!rc) rc = MLS_TX(tx, session_purge, c->now, SESSION_PURGE_BATCH, NULL);
  if (!rc) {
    rc = MLS_TX(tx, session_add, th, pub, c->now + SESSION_TTL_MS, ch);
    if (rc == MLPROTO_ERR_ALREADY_EXISTS) rc = MLPROTO_ERR_CHALLENGE_INVALID; /* spent elsewhere */
  }
  if (rc) {
    mls_store_rollback(tx);
    return rc;
  }
  return mls_store_commit(tx);
}

int app_h_session(ctx *c) {
  int rc = app_addr_throttled(c);
  if (rc) return rc;
  if ((rc = app_need_proto_body(c))) return rc;
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, c->req->body, c->req->body_len);
  if (rc) return app_fail(c, rc, "SessionRequest");
  Mentorlog__V1__SessionRequest *sr = (Mentorlog__V1__SessionRequest *)m;
  uint8_t pub[32], ch[MLS_CHALLENGE_LEN];
  memcpy(pub, sr->device_pub.data, 32);
  memcpy(ch, sr->challenge.data, MLS_CHALLENGE_LEN);
  uint64_t retry;
  if (mls_backoff_check(c->app->dev_fail, pub, 32, c->now, &retry)) {
    mlproto_msg_free(m);
    return app_rate_limited(c, retry, "too many failed attempts for this device");
  }
  /* Verified before any lookup, so an unknown and a revoked device cost the same. */
  int sig_rc = mlproto_session_request_verify(sr);
  mlproto_msg_free(m);

  /* The challenge: made under this store's key, unexpired, and spent now
   * at this instance whatever the outcome (a second answer with it is
   * refused here; at another instance, the store refuses a second session
   * from it). */
  uint64_t expires = 0;
  int auth_rc = mls_challenge_check(ch, c->app->challenge_key, c->now, CHALLENGE_LIFE_MAX_MS,
                                    &expires);
  if (auth_rc == MLPROTO_OK) {
    auth_rc = mls_spent_add(c->app->spent, ch, expires, c->now, &retry);
    if (auth_rc == MLPROTO_ERR_UNAVAILABLE) {
      /* Full of unexpired challenges: refuse rather than forget one. Not
       * the caller's failure: no counter moves. */
      app_log("info", "session_refused", "conn=%" PRIu64 " reason=%s", c->req->conn_id,
              mlproto_errname(auth_rc));
      return app_retry_later(c, MLPROTO_ERR_UNAVAILABLE, retry,
                             "too many session challenges answered at this server just now");
    }
  }
  /* Only a valid signature can open a session: only then is the device read. */
  mls_device d;
  memset(&d, 0, sizeof d);
  int known = 0; /* the claimed device exists */
  if (sig_rc == MLPROTO_OK) {
    int dr = session_device(c, pub, &d);
    if (dr == MLPROTO_OK) known = 1;
    else if (dr != MLPROTO_ERR_NOT_FOUND) return app_fail(c, dr, NULL);
  }
  if (auth_rc == MLPROTO_OK && (sig_rc != MLPROTO_OK || !known || d.revoked_ms != 0))
    auth_rc = MLPROTO_ERR_UNAUTHENTICATED;

  char token[48];
  token[0] = 0;
  if (auth_rc == MLPROTO_OK) {
    uint8_t raw[32], th[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, sizeof token, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    token_hash(th, token, strlen(token));
    auth_rc = session_store(c, th, pub, ch, &d);
  }
  if (auth_rc == MLPROTO_ERR_UNAUTHENTICATED || auth_rc == MLPROTO_ERR_CHALLENGE_INVALID) {
    app_addr_failed(c);
    /* Only the device's own key can make a valid signature: anything else
     * says nothing about the claimed device (app_limits.h). */
    if (sig_rc == MLPROTO_OK && known) mls_backoff_fail(c->app->dev_fail, pub, 32, c->now);
    sodium_memzero(token, sizeof token);
    app_log("info", "session_refused", "conn=%" PRIu64 " reason=%s", c->req->conn_id,
            mlproto_errname(auth_rc));
    return app_fail(c, auth_rc, NULL);
  }
  if (auth_rc) {
    sodium_memzero(token, sizeof token);
    return app_fail(c, auth_rc, NULL);
  }
  mls_backoff_reset(c->app->dev_fail, pub, 32);
  char dev[33];
  app_hex16(dev, d.id);
  app_log("info", "session_opened", "conn=%" PRIu64 " device=%s", c->req->conn_id, dev);
  Mentorlog__V1__SessionResponse r = MENTORLOG__V1__SESSION_RESPONSE__INIT;
  r.token = token;
  r.expires_ms = c->now + SESSION_TTL_MS;
  rc = app_reply(c, &r.base);
  sodium_memzero(token, sizeof token);
  return rc;
}

/* Bearer token -> active device, and its request budget. */
/* The request's bearer token, hashed: 0; no "Authorization: Bearer" at all:
 * -1; a token of a length no token has: -2. */
static int bearer_hash(ctx *c, uint8_t th[32]) {
  const char *h = app_header(c->req, "Authorization");
  static const char pre[] = "Bearer ";
  if (!h || strncasecmp(h, pre, sizeof pre - 1) != 0) return -1;
  const char *tok = h + sizeof pre - 1;
  size_t len = strlen(tok);
  if (len < 16 || len > 128) return -2;
  token_hash(th, tok, len);
  return 0;
}

/* Failed bearer tokens per address (--auth-fail-limit): an address whose
 * bucket is empty is answered 429 before its token is even hashed, so a
 * flood of guesses costs no store lookup; each failure takes a token. A
 * request that carries no token at all is no failure. */
static int bearer_blocked(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = app_peer_key(c, k);
  if (mls_bucket_empty(c->app->auth_fail, k, kl, c->now, &retry))
    return app_rate_limited(c, retry, "too many failed authentications from this address");
  return MLPROTO_OK;
}

static void bearer_failed(ctx *c) {
  uint64_t retry;
  uint8_t k[MLS_LIMIT_KEY_MAX];
  size_t kl = app_peer_key(c, k);
  (void)mls_bucket_take(c->app->auth_fail, k, kl, c->now, &retry);
}

int app_device_of_token(ctx *c, mls_device *d) {
  int rc = bearer_blocked(c);
  if (rc) return rc;
  uint8_t th[32];
  int b = bearer_hash(c, th);
  if (b == -1) return app_fail(c, MLPROTO_ERR_UNAUTHENTICATED, "bearer token required");
  if (b) {
    bearer_failed(c);
    return app_fail(c, MLPROTO_ERR_UNAUTHENTICATED, NULL);
  }
  mls_txn *tx;
  rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
  if (rc) return app_fail(c, rc, NULL);
  uint8_t pub[32];
  rc = MLS_TX(tx, session_get, th, c->now, pub);
  if (!rc) {
    rc = MLS_TX(tx, device_get, pub, d);
    /* Revoked: same answer as an unknown token (no oracle). */
    if (rc == MLPROTO_ERR_NOT_FOUND || (!rc && d->revoked_ms)) rc = MLPROTO_ERR_UNAUTHENTICATED;
  }
  mls_store_rollback(tx);
  if (rc == MLPROTO_ERR_UNAUTHENTICATED) bearer_failed(c);
  if (rc) return app_fail(c, rc, NULL);
  return MLPROTO_OK;
}

int app_authenticate(ctx *c, mls_device *d) {
  int rc = app_device_of_token(c, d);
  if (rc) return rc;
  uint64_t retry;
  if (mls_bucket_take(c->app->dev_rate, d->pub, 32, c->now, &retry))
    return app_rate_limited(c, retry, NULL);
  return MLPROTO_OK;
}

/* Bearer API token (admin token add) -> its role and jobcentre. A device's
 * session token is no API token and an API token no session: each route
 * family looks in its own table. Failures count against the address like
 * every failed authentication, and each token has the device request
 * budget (keyed by its hash). */
/* The lookup of a hashed token (b: bearer_hash's answer) and its
 * outcome, counted. */
static int api_token_check(ctx *c, int b, const char *const *roles,
                           char jobcentre[MLS_JOBCENTRE_MAX + 1], const uint8_t th[32]) {
  char got_role[MLS_ROLE_MAX + 1] = "";
  int rc = MLPROTO_ERR_UNAUTHENTICATED;
  if (b == 0) {
    mls_txn *tx;
    rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
    if (rc) return app_fail(c, rc, NULL);
    rc = MLS_TX(tx, api_token_get, th, got_role, jobcentre);
    mls_store_rollback(tx);
    if (rc == MLPROTO_ERR_NOT_FOUND) rc = MLPROTO_ERR_UNAUTHENTICATED;
    int allowed = 0;
    for (size_t i = 0; !rc && roles[i] && !allowed; i++) allowed = strcmp(got_role, roles[i]) == 0;
    if (!rc && !allowed) rc = MLPROTO_ERR_FORBIDDEN;
  }
  if (rc == MLPROTO_ERR_UNAUTHENTICATED) {
    app_addr_failed(c);
    bearer_failed(c);
  }
  if (rc == MLPROTO_ERR_FORBIDDEN) {
    char detail[96];
    size_t o = (size_t)snprintf(detail, sizeof detail, "this route needs a %s", roles[0]);
    for (size_t i = 1; roles[i] && o < sizeof detail; i++)
      o += (size_t)snprintf(detail + o, sizeof detail - o, "%s%s", roles[i + 1] ? ", " : " or ", roles[i]);
    if (o < sizeof detail) snprintf(detail + o, sizeof detail - o, " token");
    return app_fail(c, rc, detail);
  }
  if (rc) return app_fail(c, rc, NULL);
  return MLPROTO_OK;
}

int app_api_token_of(ctx *c, const char *const *roles, char jobcentre[MLS_JOBCENTRE_MAX + 1],
                     uint8_t th[32]) {
  int rc = bearer_blocked(c);
  if (rc) return rc;
  int b = bearer_hash(c, th);
  if (b == -1) return app_fail(c, MLPROTO_ERR_UNAUTHENTICATED, "bearer token required");
  return api_token_check(c, b, roles, jobcentre, th);
}

int app_api_token_given(ctx *c, const char *token, size_t len, const char *const *roles,
                        char jobcentre[MLS_JOBCENTRE_MAX + 1], uint8_t th[32]) {
  int rc = bearer_blocked(c);
  if (rc) return rc;
  int b = -2; /* a length no token has: a failure, not looked up */
  memset(th, 0, 32);
  if (token && len >= 16 && len <= 128) {
    token_hash(th, token, len);
    b = 0;
  }
  return api_token_check(c, b, roles, jobcentre, th);
}

int app_authenticate_api_roles(ctx *c, const char *const *roles, char jobcentre[MLS_JOBCENTRE_MAX + 1]) {
  uint8_t th[32];
  int rc = app_api_token_of(c, roles, jobcentre, th);
  if (rc) return rc;
  uint64_t retry;
  if (mls_bucket_take(c->app->dev_rate, th, 32, c->now, &retry))
    return app_rate_limited(c, retry, NULL);
  return MLPROTO_OK;
}
