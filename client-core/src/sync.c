/* The sans-I/O sync engine (mentorlog/sync.h): a state machine that turns
 * the profile's state into the next request and each answer into checks
 * and one transaction. Phases, in order:
 *
 *   ENROLL -> ENROLL_CP -> done                         (enrolment job)
 *   CHALLENGE -> SESSION -> PUSH* -> PULL -> [CP -> [CONS]] -> INCL* -> apply
 *     -> PULL again while more -> RECEIPTS* -> grants -> PUSH if any -> done
 *
 * A 401 on any authenticated request goes back to CHALLENGE and then to
 * the phase it interrupted. 429, 503 and "no answer" (status 0) are waited
 * for (Retry-After, else exponential backoff with full jitter) and the
 * same request is sent again under a new id, at most max_attempts times.
 * Any other status ends the run with the server's error code. */
#include "sync_engine.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const phase_names[] = {"enroll", "enroll", "session", "session", "push", "pull",
                                          "pull", "pull", "pull", "receipts", "done", "failed"};

/* ------------------------------------------------------------ helpers */

int se_fail(mentorlog_sync *s, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
  va_end(ap);
  s->error = code;
  s->phase = PH_FAIL;
  s->pending = 0;
  return code;
}

/* The handle's error (h->errmsg) as the run's failure. */
int se_fail_h(mentorlog_sync *s, int code) {
  return se_fail(s, code, "%s", s->h->errmsg[0] ? s->h->errmsg : mlproto_strerror(code));
}

void se_page_free(mentorlog_sync *s) {
  for (size_t i = 0; i < s->n_items; i++)
    mlproto_record_free(s->items[i].r);
  mlproto_free(s->items);
  s->items = NULL;
  s->n_items = 0;
  mlproto_msg_free(s->page);
  s->page = NULL;
}

static void body_free(mentorlog_sync *s) {
  if (s->body) {
    sodium_memzero(s->body, s->body_len);
    mlproto_free(s->body);
  }
  s->body = NULL;
  s->body_len = 0;
}

/* Make the next request: method, path (printf), body (taken over). */
void se_request(mentorlog_sync *s, const char *method, uint8_t *body, size_t len, int auth,
                    const char *fmt, ...) {
  body_free(s);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->path, sizeof s->path, fmt, ap);
  va_end(ap);
  snprintf(s->method, sizeof s->method, "%s", method);
  s->body = body;
  s->body_len = len;
  s->nhdr = 0;
  if (body)
    s->hdr[s->nhdr++] = (mentorlog_sync_header){"Content-Type", CT_PROTO};
  s->hdr[s->nhdr++] = (mentorlog_sync_header){"Accept", CT_PROTO ", text/plain"};
  if (auth) {
    snprintf(s->auth, sizeof s->auth, "Bearer %s", s->token);
    s->hdr[s->nhdr++] = (mentorlog_sync_header){"Authorization", s->auth};
  }
  s->pending = 1;
  s->waiting = 0;
  s->req_id++;
}

static int pack(mentorlog_sync *s, const ProtobufCMessage *m, uint8_t **out, size_t *len) {
  int err = mlproto_msg_pack(out, len, m);
  return err ? se_fail(s, err, "encode request: %s", mlproto_strerror(err)) : 0;
}

int se_commit_state(mentorlog_sync *s, const struct ml_sync_state *st) {
  mentorlog *h = s->h;
  int err = ml__begin(h);
  if (!err && (err = ml__sync_store(h, st)))
    ml__rollback(h);
  else if (!err)
    err = ml__commit(h);
  return err ? se_fail_h(s, err) : 0;
}

static int count_outbox(mentorlog_sync *s, uint64_t *n) {
  sqlite3_stmt *st;
  int err = ml__prepare(s->h, &st, "SELECT count(*) FROM outbox");
  if (err)
    return se_fail_h(s, err);
  int rc = sqlite3_step(st);
  *n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : se_fail_h(s, ml__sqlite_err(s->h, rc, "outbox"));
}

/* ------------------------------------------------------------ requests */

static int req_enroll(mentorlog_sync *s) {
  mentorlog *h = s->h;
  Mentorlog__V1__EnrollRequest rq = MENTORLOG__V1__ENROLL_REQUEST__INIT;
  uint8_t sig[MLPROTO_SIGN_BYTES];
  rq.code = s->code;
  rq.device_pub = (ProtobufCBinaryData){32, h->sign_pk};
  rq.box_pub = (ProtobufCBinaryData){32, h->box_pk};
  rq.label = s->label;
  int err = mlproto_enroll_request_sign(sig, &rq, h->sign);
  if (err)
    return se_fail(s, err, "sign the enrolment: %s", mlproto_strerror(err));
  rq.signature = (ProtobufCBinaryData){sizeof sig, sig};
  uint8_t *b;
  size_t n;
  if ((err = pack(s, &rq.base, &b, &n)))
    return err;
  se_request(s, "POST", b, n, 0, "/v1/enroll");
  return 0;
}

static int req_session(mentorlog_sync *s, const uint8_t challenge[32]) {
  mentorlog *h = s->h;
  Mentorlog__V1__SessionRequest rq = MENTORLOG__V1__SESSION_REQUEST__INIT;
  uint8_t sig[MLPROTO_SIGN_BYTES];
  int err = mlproto_session_sign(sig, challenge, h->sign);
  if (err)
    return se_fail(s, err, "sign the session: %s", mlproto_strerror(err));
  rq.device_pub = (ProtobufCBinaryData){32, h->sign_pk};
  rq.challenge = (ProtobufCBinaryData){32, (uint8_t *)challenge};
  rq.signature = (ProtobufCBinaryData){sizeof sig, sig};
  uint8_t *b;
  size_t n;
  if ((err = pack(s, &rq.base, &b, &n)))
    return err;
  se_request(s, "POST", b, n, 0, "/v1/session");
  return 0;
}

/* The next push batch from the outbox, oldest first; 0 and no request when
 * the outbox is empty. */
static int req_push(mentorlog_sync *s, int *none) {
  mentorlog *h = s->h;
  *none = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT o.record_id, r.envelope, o.seq FROM outbox o JOIN records r"
                                " ON r.record_id = o.record_id WHERE o.seq > ?1 ORDER BY o.seq LIMIT ?2");
  if (err)
    return se_fail_h(s, err);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)s->pushed_seq);
  sqlite3_bind_int(st, 2, (int)s->push_records);
  uint64_t last_seq = 0;
  ProtobufCBinaryData *recs = mlproto_calloc(s->push_records, sizeof *recs);
  uint8_t(*ids)[16] = mlproto_calloc(s->push_records, 16);
  size_t n = 0, bytes = 16;
  int rc = SQLITE_DONE;
  if (!recs || !ids)
    err = se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const uint8_t *env;
    size_t len;
    if ((err = ml__env_open(h, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
                            sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), &env, &len))) {
      se_fail_h(s, err);
      break;
    }
    if (n > 0 && bytes + len + 8 > s->push_bytes) {
      sodium_memzero(h->envbuf, len);
      break;
    }
    uint8_t *copy = mlproto_malloc(len ? len : 1);
    if (!copy) {
      sodium_memzero(h->envbuf, len);
      err = se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
      break;
    }
    memcpy(copy, env, len);
    sodium_memzero(h->envbuf, len);
    memcpy(ids[n], sqlite3_column_blob(st, 0), 16);
    last_seq = (uint64_t)sqlite3_column_int64(st, 2);
    recs[n++] = (ProtobufCBinaryData){len, copy};
    bytes += len + 8;
  }
  if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
    err = se_fail_h(s, ml__sqlite_err(h, rc, "read outbox"));
  sqlite3_finalize(st);
  if (!err && n == 0)
    *none = 1;
  if (!err && n > 0) {
    Mentorlog__V1__PushRequest rq = MENTORLOG__V1__PUSH_REQUEST__INIT;
    rq.n_records = n;
    rq.records = recs;
    uint8_t *b;
    size_t blen;
    if (!(err = pack(s, &rq.base, &b, &blen))) {
      se_request(s, "POST", b, blen, 1, "/v1/push");
      mlproto_free(s->batch_ids);
      s->batch_ids = ids;
      s->batch_n = n;
      s->batch_last_seq = last_seq;
      ids = NULL;
    }
  }
  for (size_t i = 0; recs && i < n; i++) {
    sodium_memzero(recs[i].data, recs[i].len);
    mlproto_free(recs[i].data);
  }
  mlproto_free(recs);
  mlproto_free(ids);
  return err;
}

void se_req_pull(mentorlog_sync *s) {
  se_request(s, "GET", NULL, 0, 1, "/v1/pull?since=%" PRIu64 "&limit=%u", s->st.cursor, s->pull_limit);
}

/* ------------------------------------------------------------ answers */

int se_unpack(mentorlog_sync *s, ProtobufCMessage **m, mlproto_msg_type t, const uint8_t *b, size_t n,
                  const char *what) {
  int err = mlproto_msg_unpack(m, t, b, n);
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return se_fail(s, err, "out of memory");
  return err ? se_fail(s, MLPROTO_ERR_SERVER_LIED, "the %s answer does not decode: %s (%s)", what, mlproto_errname(err),
                    mlproto_strerror(err))
             : 0;
}

int se_sth_of(mentorlog_sync *s, const Mentorlog__V1__SignedTreeHead *sth, const char *what) {
  if (!sth || sth->root.len != 32)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "the %s answer carries no tree head", what);
  s->sth_size = sth->size;
  memcpy(s->sth_root, sth->root.data, 32);
  return 0;
}

static int on_enroll(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_ENROLL_RESPONSE, b, n, "enrolment");
  if (err)
    return err;
  const Mentorlog__V1__EnrollResponse *r = (const void *)m;
  if (r->device_id.len != 16 || r->mentor_id.len != 16 || r->server_pub.len != 32)
    err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "the enrolment answer has malformed ids or keys");
  else if (!(err = se_sth_of(s, r->sth, "enrolment"))) {
    memcpy(s->e_device, r->device_id.data, 16);
    memcpy(s->e_mentor, r->mentor_id.data, 16);
    memcpy(s->e_server, r->server_pub.data, 32);
    /* r->escrow_pub is not taken: the escrow key counts only as the log
     * shows it (an ESCROW_KEY event in the pulls), never as an unlogged
     * answer says (docs/escrow.md) */
    s->phase = PH_ENROLL_CP;
    se_request(s, "GET", NULL, 0, 0, "/v1/log/checkpoint?size=%" PRIu64, s->sth_size);
  }
  mlproto_msg_free(m);
  return err;
}

/* Open a checkpoint note with the log's verifier (origin, server key). */
int se_note_open(mentorlog_sync *s, const char *origin, const uint8_t server_pub[32], const uint8_t *b,
                     size_t n, mlproto_checkpoint *cp) {
  mlproto_note_verifier v;
  int err = mlproto_note_verifier_init(&v, origin, server_pub);
  if (!err)
    err = mlproto_checkpoint_open(cp, b, n, &v);
  if (err)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "the checkpoint of size %" PRIu64 " does not verify with the log's key: %s",
                s->sth_size, mlproto_errname(err));
  if (cp->size != s->sth_size || memcmp(cp->root, s->sth_root, 32) != 0)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                "the signed checkpoint (size %" PRIu64 ") differs from the tree head of the answer (size %" PRIu64 ")",
                cp->size, s->sth_size);
  if (n >= sizeof s->new_note)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "the checkpoint note is too long");
  memcpy(s->new_note, b, n);
  s->new_note[n] = 0;
  s->new_note_len = n;
  s->new_cp = *cp;
  s->have_new = 1;
  return 0;
}

static int on_enroll_cp(mentorlog_sync *s, const uint8_t *b, size_t n) {
  /* The origin is the note's first line: learnt here, over the pinned
   * connection, and fixed from now on (trust on first use). */
  const uint8_t *nl = memchr(b, '\n', n);
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  if (!nl || nl == b || (size_t)(nl - b) > MLPROTO_CHECKPOINT_ORIGIN_MAX)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "the first checkpoint has no origin line");
  memcpy(origin, b, (size_t)(nl - b));
  origin[nl - b] = 0;
  mlproto_checkpoint cp;
  int err = se_note_open(s, origin, s->e_server, b, n, &cp);
  if (err)
    return err;
  struct ml_sync_state *st = &s->tmp;
  memset(st, 0, sizeof *st);
  st->enrolled = 1;
  memcpy(st->device_id, s->e_device, 16);
  memcpy(st->mentor_id, s->e_mentor, 16);
  memcpy(st->server_pub, s->e_server, 32);
  snprintf(st->origin, sizeof st->origin, "%s", origin);
  snprintf(st->url, sizeof st->url, "%s", s->url);
  snprintf(st->pin, sizeof st->pin, "%s", s->pin);
  snprintf(st->label, sizeof st->label, "%s", s->label);
  memcpy(st->note, s->new_note, s->new_note_len + 1);
  st->note_len = s->new_note_len;
  st->cp = cp;
  if ((err = se_commit_state(s, st)))
    return err;
  s->st = *st;
  s->prog.log_size = cp.size;
  /* then a whole sync: the first pull tells whether this device is the
   * mentor's first (approved) and pushes what was written before */
  s->phase = PH_PUSH;
  return 0;
}

static int on_challenge(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_CHALLENGE_RESPONSE, b, n, "challenge");
  if (err)
    return err;
  const Mentorlog__V1__ChallengeResponse *r = (const void *)m;
  if (r->challenge.len != 32)
    err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "the challenge is not 32 bytes");
  else if (!(err = req_session(s, r->challenge.data)))
    s->phase = PH_SESSION;
  mlproto_msg_free(m);
  return err;
}

static int on_session(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_SESSION_RESPONSE, b, n, "session");
  if (err)
    return err;
  const Mentorlog__V1__SessionResponse *r = (const void *)m;
  size_t tl = r->token ? strlen(r->token) : 0;
  if (tl < 16 || tl >= sizeof s->token)
    err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "the session token is malformed");
  else {
    memcpy(s->token, r->token, tl + 1);
    memcpy(s->st.token, r->token, tl + 1); /* kept with the next state written */
    s->have_token = 1;
    s->phase = s->resume;
  }
  mlproto_msg_free(m);
  return err;
}

static int acked_add(mentorlog_sync *s, uint64_t index) {
  if (s->n_acked == s->cap_acked) {
    size_t cap = s->cap_acked ? s->cap_acked * 2 : 256;
    uint64_t *nv = mlproto_realloc(s->acked, cap * sizeof *nv);
    if (!nv)
      return se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    s->acked = nv;
    s->cap_acked = cap;
  }
  s->acked[s->n_acked++] = index;
  return 0;
}

static int on_push(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_PUSH_RESPONSE, b, n, "push");
  if (err)
    return err;
  const Mentorlog__V1__PushResponse *r = (const void *)m;
  if (r->n_results != s->batch_n)
    err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "the push answer acknowledges %zu records of %zu", r->n_results,
               s->batch_n);
  for (size_t i = 0; !err && i < r->n_results; i++)
    if (r->results[i]->record_id.len != 16 || memcmp(r->results[i]->record_id.data, s->batch_ids[i], 16) != 0 ||
        !r->results[i]->status || strcmp(r->results[i]->status, "OK") != 0)
      err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "the push answer names another record at position %zu", i + 1);
  /* kept in memory, written with the next commit (the pull page's) */
  if (!err && s->n_acks + r->n_results > s->cap_acks) {
    size_t nc = s->cap_acks ? s->cap_acks : 1024;
    while (nc < s->n_acks + r->n_results)
      nc *= 2;
    struct ml_ack *nv = mlproto_realloc(s->acks, nc * sizeof *nv);
    if (!nv)
      err = se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    else {
      s->acks = nv;
      s->cap_acks = nc;
    }
  }
  for (size_t i = 0; !err && i < r->n_results; i++) {
    struct ml_ack *a = &s->acks[s->n_acks++];
    memcpy(a->record_id, s->batch_ids[i], 16);
    a->index = r->results[i]->log_index;
    a->received_ms = (int64_t)r->results[i]->received_at_ms;
  }
  if (!err)
    s->pushed_seq = s->batch_last_seq;
  for (size_t i = 0; !err && i < r->n_results; i++)
    err = acked_add(s, r->results[i]->log_index);
  if (!err) {
    s->prog.pushed += r->n_results;
    s->prog.to_push = s->prog.to_push > r->n_results ? s->prog.to_push - r->n_results : 0;
  }
  mlproto_msg_free(m);
  return err;
}

/* ------------------------------------------------------------ grants */

/* The run's last transaction (one commit, so one fsync, for all of it):
 * the receipts proven, the key grants owed (and a rotation), and the end
 * of the run (last_sync_ms) when nothing is left to push; nothing is
 * written when nothing changed. */
int se_grants_and_next(mentorlog_sync *s) {
  mentorlog *h = s->h;
  s->tmp = s->st;
  uint32_t written = 0;
  uint64_t unsent = 0;
  int done = 0;
  int err = ml__begin(h);
  if (!err)
    err = ml__acks_apply(h, s->acks, s->n_acks);
  for (size_t i = 0; !err && i < s->n_proven; i++)
    err = ml__receipt_verified(h, s->proven[i]);
  if (!err)
    err = ml__grants_write(h, &s->tmp, &written);
  if (!err) {
    sqlite3_stmt *st;
    if (!(err = ml__prepare(h, &st, "SELECT count(*) FROM outbox"))) {
      int rc = sqlite3_step(st);
      if (rc == SQLITE_ROW)
        unsent = (uint64_t)sqlite3_column_int64(st, 0);
      else
        err = ml__sqlite_err(h, rc, "outbox");
      sqlite3_finalize(st);
    }
  }
  if (!err) {
    done = !(unsent && ++s->rounds < ROUNDS_MAX);
    if (done)
      s->tmp.last_sync_ms = s->now;
    err = ml__sync_store(h, &s->tmp);
  }
  /* Nothing in this commit needs to survive a power cut when no record was
   * written (receipts proven again, the time of the last sync): committed
   * without waiting for the disk (WAL, synchronous=NORMAL: atomic, and
   * made durable by the next full commit). */
  int lazy = !err && written == 0;
  if (lazy)
    (void)ml__exec(h, "PRAGMA synchronous=NORMAL");
  if (err)
    ml__rollback(h);
  else
    err = ml__commit(h);
  if (lazy)
    (void)ml__exec(h, "PRAGMA synchronous=FULL");
  if (err) {
    se_fail_h(s, err);
    (void)ml__sync_load(h, &s->st);
    return err;
  }
  s->n_proven = 0;
  s->n_acks = 0;
  s->pushed_seq = 0; /* the outbox holds only what is left */
  s->st = s->tmp;
  s->prog.grants_written += written;
  s->prog.to_push = unsent;
  s->phase = done ? PH_DONE : PH_PUSH; /* advance builds the batch */
  return 0;
}

/* ------------------------------------------------------------ the machine */

/* Build the next request of the current phase (no request pending). */
static int advance(mentorlog_sync *s) {
  int none;
  switch (s->phase) {
  case PH_ENROLL:
    return req_enroll(s);
  case PH_CHALLENGE:
    se_request(s, "GET", NULL, 0, 0, "/v1/session/challenge");
    return 0;
  case PH_PUSH: {
    if (!s->have_token) {
      s->resume = PH_PUSH;
      s->phase = PH_CHALLENGE;
      return advance(s);
    }
    int err = req_push(s, &none);
    if (err || !none)
      return err;
    s->phase = PH_PULL;
    se_req_pull(s);
    return 0;
  }
  case PH_PULL:
    se_req_pull(s);
    return 0;
  default:
    return se_fail(s, MLPROTO_ERR_INTERNAL, "sync engine: nothing to send in phase %d", (int)s->phase);
  }
}

static const char *header(const mentorlog_sync_header *hs, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (hs[i].name && hs[i].value && strcasecmp(hs[i].name, name) == 0)
      return hs[i].value;
  return NULL;
}

/* Retry-After as delta-seconds only (the form the server sends); an
 * HTTP-date or anything else falls back to backoff. */
static int64_t retry_after_ms(const char *v) {
  if (!v)
    return -1;
  while (*v == ' ' || *v == '\t')
    v++;
  int64_t x = 0;
  int digits = 0;
  for (; *v >= '0' && *v <= '9' && digits < 10; v++, digits++)
    x = x * 10 + (*v - '0');
  while (*v == ' ' || *v == '\t')
    v++;
  return digits && !*v ? x * 1000 : -1;
}

static int error_of(const uint8_t *b, size_t n, char *msg, size_t cap) {
  ProtobufCMessage *m = NULL;
  msg[0] = 0;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_ERROR, b, n) != 0)
    return 0;
  const Mentorlog__V1__Error *e = (const void *)m;
  int code = e->code ? mlproto_errcode(e->code) : 0;
  snprintf(msg, cap, "%s", e->message ? e->message : "");
  /* keep the message printable */
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20)
      *p = ' ';
  mlproto_msg_free(m);
  return code;
}

int mentorlog_sync_deliver(mentorlog_sync *s, uint64_t id, int status, const mentorlog_sync_header *hs,
                           size_t nh, const uint8_t *body, size_t len, int64_t now_ms) {
  if (!s)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (!s->pending || s->waiting || id != s->req_id)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  s->prog.requests++;
  s->now = now_ms;
  if (!body)
    len = 0;
  if (status == 0 || status == 429 || status == 503) {
    s->prog.retries++;
    if (++s->attempts >= s->max_attempts) {
      char msg[256];
      int code = status ? error_of(body, len, msg, sizeof msg) : 0;
      se_fail(s, MLPROTO_ERR_UNREACHABLE, "%s %s: %s after %u attempts", s->method, s->path,
           status == 0 ? "no answer" : code ? mlproto_errname(code) : status == 429 ? "RATE_LIMITED" : "UNAVAILABLE",
           s->attempts);
      return 0;
    }
    int64_t ra = status ? retry_after_ms(header(hs, nh, "Retry-After")) : -1;
    int64_t wait;
    if (ra >= 0 && ra <= RETRY_AFTER_MAX_MS) {
      wait = ra + (int64_t)randombytes_uniform(BACKOFF_BASE_MS);
    } else {
      int64_t ceil = (int64_t)BACKOFF_BASE_MS << (s->attempts - 1 < 6 ? s->attempts - 1 : 6);
      if (ceil > BACKOFF_MAX_MS)
        ceil = BACKOFF_MAX_MS;
      wait = (int64_t)randombytes_uniform((uint32_t)ceil + 1);
    }
    if (s->phase == PH_SESSION) {
      /* a challenge is used once, whatever happened to the answer: a new
       * one, then a new session request */
      s->phase = PH_CHALLENGE;
      se_request(s, "GET", NULL, 0, 0, "/v1/session/challenge");
    } else {
      s->req_id++; /* the same request again, under a new id */
    }
    s->waiting = 1;
    s->wait_until = now_ms + wait;
    return 0;
  }
  enum phase ph = s->phase;
  s->pending = 0;
  if (status == 401 && ph != PH_ENROLL && ph != PH_ENROLL_CP && ph != PH_CHALLENGE) {
    s->have_token = 0;
    s->st.token[0] = 0;
    if (ph == PH_SESSION) {
      char msg[256];
      int code = error_of(body, len, msg, sizeof msg);
      if (code == MLPROTO_ERR_CHALLENGE_INVALID) {
        if (++s->session_tries < 3) {
          s->phase = PH_CHALLENGE;
          return 0;
        }
        se_fail(s, MLPROTO_ERR_CHALLENGE_INVALID,
             "the server refused three fresh session challenges in a row (is the device's or the server's clock far off?)");
        return 0;
      }
      struct ml_sync_device *self = NULL;
      for (size_t i = 0; i < s->st.n_devices; i++)
        if (s->st.devices[i].flags & ML_DEV_SELF)
          self = &s->st.devices[i];
      if (self && (self->flags & ML_DEV_REVOKED))
        se_fail(s, MLPROTO_ERR_DEVICE_REVOKED, "the device was revoked: the server refuses its session");
      else
        se_fail(s, MLPROTO_ERR_UNAUTHENTICATED,
             "the server refuses this device's session (the device was revoked, or this server does not know it)");
      return 0;
    }
    if (++s->session_tries > 3) {
      se_fail(s, MLPROTO_ERR_UNAUTHENTICATED, "the server refuses every new session token");
      return 0;
    }
    if (ph != PH_PUSH && ph != PH_PULL) {
      /* the log's endpoints need no token */
      se_fail(s, MLPROTO_ERR_SERVER_LIED, "%s %s answered 401 although it needs no token", s->method, s->path);
      return 0;
    }
    /* a new session, then the interrupted request again */
    s->resume = ph;
    s->phase = PH_CHALLENGE;
    return 0;
  }
  if (status != 200) {
    char msg[256];
    int code = error_of(body, len, msg, sizeof msg);
    if (!code)
      code = status >= 500 ? MLPROTO_ERR_INTERNAL : MLPROTO_ERR_INVALID_ARGUMENT;
    se_fail(s, code, "%s %s: the server answered %d %s%s%s", s->method, s->path, status, mlproto_errname(code),
         msg[0] ? ": " : "", msg);
    return 0;
  }
  s->attempts = 0;
  switch (ph) {
  case PH_ENROLL:
    (void)on_enroll(s, body, len);
    break;
  case PH_ENROLL_CP:
    (void)on_enroll_cp(s, body, len);
    break;
  case PH_CHALLENGE:
    (void)on_challenge(s, body, len);
    break;
  case PH_SESSION:
    s->session_tries = 0;
    (void)on_session(s, body, len);
    break;
  case PH_PUSH:
    (void)on_push(s, body, len);
    break;
  case PH_PULL:
    (void)se_on_pull(s, body, len);
    break;
  case PH_CP:
    (void)se_on_cp(s, body, len);
    break;
  case PH_CONS:
    (void)se_on_cons(s, body, len);
    break;
  case PH_INCL:
    (void)se_on_incl(s, body, len);
    break;
  case PH_RECEIPTS:
    (void)se_on_receipt(s, body, len);
    break;
  default:
    se_fail(s, MLPROTO_ERR_INTERNAL, "sync engine: an answer in phase %d", (int)ph);
  }
  return 0;
}

int mentorlog_sync_step(mentorlog_sync *s, int64_t now_ms, mentorlog_sync_action *a) {
  if (!s || !a)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(a, 0, sizeof *a);
  s->now = now_ms;
  if (s->phase != PH_FAIL && s->phase != PH_DONE && !s->pending)
    (void)advance(s);
  /* a phase may finish without a request (grants with nothing to push) */
  if (s->phase == PH_FAIL) {
    a->kind = MENTORLOG_SYNC_FAIL;
    a->error = s->error;
    return s->error;
  }
  if (s->phase == PH_DONE) {
    a->kind = MENTORLOG_SYNC_DONE;
    return 0;
  }
  if (s->waiting && now_ms < s->wait_until) {
    a->kind = MENTORLOG_SYNC_WAIT;
    a->until_ms = s->wait_until;
    return 0;
  }
  s->waiting = 0;
  a->kind = MENTORLOG_SYNC_SEND;
  a->request_id = s->req_id;
  a->method = s->method;
  a->path = s->path;
  a->headers = s->hdr;
  a->n_headers = s->nhdr;
  a->body = s->body;
  a->body_len = s->body_len;
  return 0;
}

const char *mentorlog_sync_errmsg(const mentorlog_sync *s) {
  return s ? s->errmsg : "";
}

void mentorlog_sync_get_progress(const mentorlog_sync *s, mentorlog_sync_progress *p) {
  if (!s || !p)
    return;
  int version = p->version;
  *p = s->prog;
  p->version = version;
  p->phase = phase_names[s->phase];
}

static int copy_opt(mentorlog *h, char *dst, size_t cap, const char *src, const char *what) {
  if (!src) {
    dst[0] = 0;
    return 0;
  }
  size_t n = strlen(src);
  if (n >= cap)
    return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "%s is longer than %zu bytes", what, cap - 1);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "%s contains a control character", what);
  memcpy(dst, src, n + 1);
  return 0;
}

int mentorlog_sync_new(mentorlog *h, const mentorlog_sync_options *o, mentorlog_sync **out) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!h || !o || o->version != MENTORLOG_SYNC_OPTIONS_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "sync options: wrong version");
  if (h->batch)
    return ml__fail(h, MLPROTO_ERR_BUSY, "a batch is open on this handle");
  mentorlog_sync *s = mlproto_calloc(1, sizeof *s);
  if (!s)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  s->h = h;
  s->pull_limit = o->pull_limit && o->pull_limit < PULL_LIMIT_MAX ? o->pull_limit : PULL_LIMIT_MAX;
  s->push_records = o->push_records && o->push_records < PUSH_RECORDS_MAX ? o->push_records : PUSH_RECORDS_MAX;
  s->push_bytes = o->push_bytes ? o->push_bytes : PUSH_BYTES_DEFAULT;
  s->max_attempts = o->max_attempts ? o->max_attempts : ATTEMPTS_DEFAULT;
  if (o->verify_threads) {
    s->verify_threads = o->verify_threads;
  } else {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    s->verify_threads = cpus < 1 ? 1 : cpus > 4 ? 4 : (uint32_t)cpus;
  }
  s->prog.version = MENTORLOG_SYNC_PROGRESS_VERSION;
  int err = ml__sync_load(h, &s->st);
  if (!err && o->enroll_code) {
    size_t cl = strlen(o->enroll_code);
    if (s->st.enrolled)
      err = ml__fail(h, MLPROTO_ERR_ALREADY_EXISTS, "this device is enrolled already");
    else if (cl == 0 || cl > 64 || strspn(o->enroll_code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                           "0123456789._-") != cl)
      err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "an enrolment code is 1..64 of A-Z a-z 0-9 . _ -");
    else if (!o->server_url || !*o->server_url)
      err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "the server URL is required for enrolment");
    else if (!(err = copy_opt(h, s->url, sizeof s->url, o->server_url, "the server URL")) &&
             !(err = copy_opt(h, s->pin, sizeof s->pin, o->server_pin, "the server pin")) &&
             !(err = copy_opt(h, s->label, sizeof s->label, o->label, "the label"))) {
      memcpy(s->code, o->enroll_code, cl + 1);
      s->enroll = 1;
      s->phase = PH_ENROLL;
    }
  } else if (!err && !s->st.enrolled) {
    err = ml__fail(h, MLPROTO_ERR_NOT_ENROLLED, "this device is not enrolled with a server (run enroll first)");
  } else if (!err && s->st.evidence[0]) {
    /* A server that signed two histories is not trusted again: the notes
     * are the evidence (mentorlog_sync_checkpoint gives the kept one). */
    err = ml__fail(h, MLPROTO_ERR_SPLIT_VIEW,
                   "this server signed two different roots for one log size; sync is refused from now on "
                   "(both checkpoints are kept as evidence: give them to the auditor)");
  } else if (!err) {
    s->phase = PH_PUSH;
    size_t tl = strlen(s->st.token);
    if (tl >= 16) {
      memcpy(s->token, s->st.token, tl + 1);
      s->have_token = 1;
    }
    uint64_t n = 0;
    if (!count_outbox(s, &n))
      s->prog.to_push = n;
    else
      err = s->error;
    s->prog.cursor = s->st.cursor;
    s->prog.log_size = s->st.cp.size;
  }
  if (err) {
    mentorlog_sync_free(s);
    return err;
  }
  *out = s;
  return 0;
}

void mentorlog_sync_free(mentorlog_sync *s) {
  if (!s)
    return;
  se_page_free(s);
  body_free(s);
  mlproto_free(s->batch_ids);
  mlproto_free(s->acked);
  mlproto_free(s->rq);
  mlproto_free(s->proven);
  mlproto_free(s->acks);
  sodium_memzero(s, sizeof *s);
  mlproto_free(s);
}
