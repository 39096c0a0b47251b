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
#include "sync_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CT_PROTO "application/vnd.mentorlog.v1+protobuf"
#define PULL_LIMIT_MAX 1024u
#define PUSH_RECORDS_MAX 1024u
#define PUSH_BYTES_DEFAULT (4u * 1024 * 1024 - 64 * 1024)
#define ATTEMPTS_DEFAULT 6u
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 60000
#define RECEIPTS_MAX 8192u     /* unverified receipts looked at per run */
#define RUNS_PER_SYNC 32u      /* runs of consecutive receipts proven per run (2 proofs each) */
#define SAMPLES_PER_PAGE 4u    /* inclusion proofs per pull page (all when fewer items) */
#define ROUNDS_MAX 4u          /* push -> pull -> grants rounds in one run */
#define VERIFY_THREADS_MAX 8u  /* threads verifying a pull page */
#define VERIFY_THREAD_MIN 128u /* entries per thread below which one thread does it all */

enum phase {
  PH_ENROLL, PH_ENROLL_CP, PH_CHALLENGE, PH_SESSION, PH_PUSH, PH_PULL, PH_CP, PH_CONS, PH_INCL,
  PH_RECEIPTS, PH_DONE, PH_FAIL
};
static const char *const phase_names[] = {"enroll", "enroll", "session", "session", "push", "pull",
                                          "pull", "pull", "pull", "receipts", "done", "failed"};

struct receipt_check {
  uint8_t id[16];
  uint64_t index;
  int64_t ms;
  uint8_t hash[32];
};

struct pushed {
  uint64_t index;
};

struct mentorlog_sync {
  mentorlog *h;
  struct ml_sync_state st; /* as committed */
  struct ml_sync_state tmp; /* a page's changes before its commit */
  int enroll;
  char code[65], label[MENTORLOG_LABEL_MAX + 1], url[MENTORLOG_URL_MAX + 1], pin[MENTORLOG_PIN_MAX + 1];
  uint32_t pull_limit, push_records, push_bytes, max_attempts, verify_threads;
  enum phase phase, resume; /* resume: the phase a new session returns to */
  char token[130];
  int have_token;
  unsigned session_tries;
  unsigned rounds;
  /* the request in flight */
  int pending, waiting;
  uint64_t req_id;
  int64_t wait_until;
  unsigned attempts;
  char method[8], path[512], auth[160];
  mentorlog_sync_header hdr[3];
  size_t nhdr;
  uint8_t *body;
  size_t body_len;
  /* push batch */
  size_t batch_n;
  uint8_t (*batch_ids)[16];
  uint64_t batch_last_seq; /* seq of the batch's last record */
  uint64_t pushed_seq;     /* outbox rows up to this seq are acknowledged (in acks) */
  struct ml_ack *acks;     /* acknowledgements not written yet */
  size_t n_acks, cap_acks;
  /* pull page */
  ProtobufCMessage *page;
  struct ml_page_item *items;
  size_t n_items;
  uint64_t next_since;
  int more;
  uint64_t sth_size;
  uint8_t sth_root[32];
  mlproto_checkpoint new_cp;
  char new_note[MLPROTO_CHECKPOINT_SIGNED_MAX + 1];
  size_t new_note_len;
  int have_new;
  size_t samples[SAMPLES_PER_PAGE * 2];
  size_t n_samples, sample_next;
  /* receipts acknowledged in this run (to find them in pulls) */
  uint64_t *acked;
  size_t n_acked, cap_acked;
  /* receipts to prove */
  /* receipts being proven: sorted by index, cut into runs of consecutive
   * indices (a push batch is one), each proven by two inclusion proofs */
  struct receipt_check *rq;
  size_t n_rq;
  size_t run_lo, run_hi;  /* the run being proven: rq[run_lo .. run_hi) */
  size_t runs_done;
  int run_step;           /* 0: proof of its first leaf asked, 1: of its last */
  uint8_t proof_a[64][32];
  size_t len_a;
  /* receipts proven, marked verified in the run's last transaction */
  uint8_t (*proven)[16];
  size_t n_proven, cap_proven;
  /* enrolment answer, kept until its checkpoint is verified */
  uint8_t e_device[16], e_mentor[16], e_server[32], e_escrow[32];
  int e_has_escrow;
  int64_t now; /* of the current step or deliver */
  int error;
  char errmsg[512];
  mentorlog_sync_progress prog;
};

/* ------------------------------------------------------------ helpers */

static int fail(mentorlog_sync *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(mentorlog_sync *s, int code, const char *fmt, ...) {
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
static int fail_h(mentorlog_sync *s, int code) {
  return fail(s, code, "%s", s->h->errmsg[0] ? s->h->errmsg : mlproto_strerror(code));
}

static void page_free(mentorlog_sync *s) {
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
static void request(mentorlog_sync *s, const char *method, uint8_t *body, size_t len, int auth,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void request(mentorlog_sync *s, const char *method, uint8_t *body, size_t len, int auth,
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
  return err ? fail(s, err, "encode request: %s", mlproto_strerror(err)) : 0;
}

static int commit_state(mentorlog_sync *s, const struct ml_sync_state *st) {
  mentorlog *h = s->h;
  int err = ml__begin(h);
  if (!err && (err = ml__sync_store(h, st)))
    ml__rollback(h);
  else if (!err)
    err = ml__commit(h);
  return err ? fail_h(s, err) : 0;
}

static int count_outbox(mentorlog_sync *s, uint64_t *n) {
  sqlite3_stmt *st;
  int err = ml__prepare(s->h, &st, "SELECT count(*) FROM outbox");
  if (err)
    return fail_h(s, err);
  int rc = sqlite3_step(st);
  *n = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? 0 : fail_h(s, ml__sqlite_err(s->h, rc, "outbox"));
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
    return fail(s, err, "sign the enrolment: %s", mlproto_strerror(err));
  rq.signature = (ProtobufCBinaryData){sizeof sig, sig};
  uint8_t *b;
  size_t n;
  if ((err = pack(s, &rq.base, &b, &n)))
    return err;
  request(s, "POST", b, n, 0, "/v1/enroll");
  return 0;
}

static int req_session(mentorlog_sync *s, const uint8_t challenge[32]) {
  mentorlog *h = s->h;
  Mentorlog__V1__SessionRequest rq = MENTORLOG__V1__SESSION_REQUEST__INIT;
  uint8_t sig[MLPROTO_SIGN_BYTES];
  int err = mlproto_session_sign(sig, challenge, h->sign);
  if (err)
    return fail(s, err, "sign the session: %s", mlproto_strerror(err));
  rq.device_pub = (ProtobufCBinaryData){32, h->sign_pk};
  rq.challenge = (ProtobufCBinaryData){32, (uint8_t *)challenge};
  rq.signature = (ProtobufCBinaryData){sizeof sig, sig};
  uint8_t *b;
  size_t n;
  if ((err = pack(s, &rq.base, &b, &n)))
    return err;
  request(s, "POST", b, n, 0, "/v1/session");
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
    return fail_h(s, err);
  sqlite3_bind_int64(st, 1, (sqlite3_int64)s->pushed_seq);
  sqlite3_bind_int(st, 2, (int)s->push_records);
  uint64_t last_seq = 0;
  ProtobufCBinaryData *recs = mlproto_calloc(s->push_records, sizeof *recs);
  uint8_t(*ids)[16] = mlproto_calloc(s->push_records, 16);
  size_t n = 0, bytes = 16;
  int rc = SQLITE_DONE;
  if (!recs || !ids)
    err = fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    const uint8_t *env;
    size_t len;
    if ((err = ml__env_open(h, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
                            sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), &env, &len))) {
      fail_h(s, err);
      break;
    }
    if (n > 0 && bytes + len + 8 > s->push_bytes) {
      sodium_memzero(h->envbuf, len);
      break;
    }
    uint8_t *copy = mlproto_malloc(len ? len : 1);
    if (!copy) {
      sodium_memzero(h->envbuf, len);
      err = fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
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
    err = fail_h(s, ml__sqlite_err(h, rc, "read outbox"));
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
      request(s, "POST", b, blen, 1, "/v1/push");
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

static void req_pull(mentorlog_sync *s) {
  request(s, "GET", NULL, 0, 1, "/v1/pull?since=%" PRIu64 "&limit=%u", s->st.cursor, s->pull_limit);
}

/* ------------------------------------------------------------ answers */

static int unpack(mentorlog_sync *s, ProtobufCMessage **m, mlproto_msg_type t, const uint8_t *b, size_t n,
                  const char *what) {
  int err = mlproto_msg_unpack(m, t, b, n);
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return fail(s, err, "out of memory");
  return err ? fail(s, MLPROTO_ERR_SERVER_LIED, "the %s answer does not decode: %s (%s)", what, mlproto_errname(err),
                    mlproto_strerror(err))
             : 0;
}

static int sth_of(mentorlog_sync *s, const Mentorlog__V1__SignedTreeHead *sth, const char *what) {
  if (!sth || sth->root.len != 32)
    return fail(s, MLPROTO_ERR_SERVER_LIED, "the %s answer carries no tree head", what);
  s->sth_size = sth->size;
  memcpy(s->sth_root, sth->root.data, 32);
  return 0;
}

static int on_enroll(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_ENROLL_RESPONSE, b, n, "enrolment");
  if (err)
    return err;
  const Mentorlog__V1__EnrollResponse *r = (const void *)m;
  if (r->device_id.len != 16 || r->mentor_id.len != 16 || r->server_pub.len != 32)
    err = fail(s, MLPROTO_ERR_SERVER_LIED, "the enrolment answer has malformed ids or keys");
  else if (!(err = sth_of(s, r->sth, "enrolment"))) {
    memcpy(s->e_device, r->device_id.data, 16);
    memcpy(s->e_mentor, r->mentor_id.data, 16);
    memcpy(s->e_server, r->server_pub.data, 32);
    s->e_has_escrow = r->escrow_pub.len == 32;
    if (s->e_has_escrow)
      memcpy(s->e_escrow, r->escrow_pub.data, 32);
    s->phase = PH_ENROLL_CP;
    request(s, "GET", NULL, 0, 0, "/v1/log/checkpoint?size=%" PRIu64, s->sth_size);
  }
  mlproto_msg_free(m);
  return err;
}

/* Open a checkpoint note with the log's verifier (origin, server key). */
static int note_open(mentorlog_sync *s, const char *origin, const uint8_t server_pub[32], const uint8_t *b,
                     size_t n, mlproto_checkpoint *cp) {
  mlproto_note_verifier v;
  int err = mlproto_note_verifier_init(&v, origin, server_pub);
  if (!err)
    err = mlproto_checkpoint_open(cp, b, n, &v);
  if (err)
    return fail(s, MLPROTO_ERR_SERVER_LIED, "the checkpoint of size %" PRIu64 " does not verify with the log's key: %s",
                s->sth_size, mlproto_errname(err));
  if (cp->size != s->sth_size || memcmp(cp->root, s->sth_root, 32) != 0)
    return fail(s, MLPROTO_ERR_SERVER_LIED,
                "the signed checkpoint (size %" PRIu64 ") differs from the tree head of the answer (size %" PRIu64 ")",
                cp->size, s->sth_size);
  if (n >= sizeof s->new_note)
    return fail(s, MLPROTO_ERR_SERVER_LIED, "the checkpoint note is too long");
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
    return fail(s, MLPROTO_ERR_SERVER_LIED, "the first checkpoint has no origin line");
  memcpy(origin, b, (size_t)(nl - b));
  origin[nl - b] = 0;
  mlproto_checkpoint cp;
  int err = note_open(s, origin, s->e_server, b, n, &cp);
  if (err)
    return err;
  struct ml_sync_state *st = &s->tmp;
  memset(st, 0, sizeof *st);
  st->enrolled = 1;
  memcpy(st->device_id, s->e_device, 16);
  memcpy(st->mentor_id, s->e_mentor, 16);
  memcpy(st->server_pub, s->e_server, 32);
  st->has_escrow = s->e_has_escrow;
  memcpy(st->escrow_pub, s->e_escrow, 32);
  snprintf(st->origin, sizeof st->origin, "%s", origin);
  snprintf(st->url, sizeof st->url, "%s", s->url);
  snprintf(st->pin, sizeof st->pin, "%s", s->pin);
  snprintf(st->label, sizeof st->label, "%s", s->label);
  memcpy(st->note, s->new_note, s->new_note_len + 1);
  st->note_len = s->new_note_len;
  st->cp = cp;
  if ((err = commit_state(s, st)))
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
  int err = unpack(s, &m, MLPROTO_MSG_CHALLENGE_RESPONSE, b, n, "challenge");
  if (err)
    return err;
  const Mentorlog__V1__ChallengeResponse *r = (const void *)m;
  if (r->challenge.len != 32)
    err = fail(s, MLPROTO_ERR_SERVER_LIED, "the challenge is not 32 bytes");
  else if (!(err = req_session(s, r->challenge.data)))
    s->phase = PH_SESSION;
  mlproto_msg_free(m);
  return err;
}

static int on_session(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_SESSION_RESPONSE, b, n, "session");
  if (err)
    return err;
  const Mentorlog__V1__SessionResponse *r = (const void *)m;
  size_t tl = r->token ? strlen(r->token) : 0;
  if (tl < 16 || tl >= sizeof s->token)
    err = fail(s, MLPROTO_ERR_SERVER_LIED, "the session token is malformed");
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
      return fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    s->acked = nv;
    s->cap_acked = cap;
  }
  s->acked[s->n_acked++] = index;
  return 0;
}

static int on_push(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_PUSH_RESPONSE, b, n, "push");
  if (err)
    return err;
  const Mentorlog__V1__PushResponse *r = (const void *)m;
  if (r->n_results != s->batch_n)
    err = fail(s, MLPROTO_ERR_SERVER_LIED, "the push answer acknowledges %zu records of %zu", r->n_results,
               s->batch_n);
  for (size_t i = 0; !err && i < r->n_results; i++)
    if (r->results[i]->record_id.len != 16 || memcmp(r->results[i]->record_id.data, s->batch_ids[i], 16) != 0 ||
        !r->results[i]->status || strcmp(r->results[i]->status, "OK") != 0)
      err = fail(s, MLPROTO_ERR_SERVER_LIED, "the push answer names another record at position %zu", i + 1);
  /* kept in memory, written with the next commit (the pull page's) */
  if (!err && s->n_acks + r->n_results > s->cap_acks) {
    size_t nc = s->cap_acks ? s->cap_acks : 1024;
    while (nc < s->n_acks + r->n_results)
      nc *= 2;
    struct ml_ack *nv = mlproto_realloc(s->acks, nc * sizeof *nv);
    if (!nv)
      err = fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
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

/* An own record that comes back (every pushed record does, in the next
 * pull) is the one this device built and signed, if its record hash is the
 * one stored at its seq: then every check but the signature is enough
 * (mlproto_record_verify_stored, against that hash). Returns 1 when the
 * entry is not such a record (verify it in full), else 0 or an error. */
static int own_verify(mentorlog_sync *s, struct ml_page_item *x) {
  mentorlog *h = s->h;
  mlproto_record_peek pk;
  uint8_t hash[32], held[32];
  if (mlproto_record_peek_fields(&pk, x->env, x->env_len) != 0 || memcmp(pk.author, h->sign_pk, 32) != 0 ||
      mlproto_record_hash(hash, x->env, x->env_len) != 0)
    return 1;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_HELD_HASH, &st);
  if (err)
    return fail_h(s, err);
  sqlite3_bind_blob(st, 1, h->sign_pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)pk.seq);
  int rc = sqlite3_step(st), found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32;
  if (found)
    memcpy(held, sqlite3_column_blob(st, 0), 32);
  ml__stmt_put(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return fail_h(s, ml__sqlite_err(h, rc, "read record"));
  if (!found || memcmp(held, hash, 32) != 0)
    return 1;
  return mlproto_record_verify_stored(&x->r, x->env, x->env_len, held);
}

/* Full verification of one entry (signature included), in a thread. */
struct verify_job {
  struct ml_page_item *items;
  const size_t *todo;
  size_t n;
  int *errs;
};

static void *verify_run(void *arg) {
  struct verify_job *j = arg;
  for (size_t k = 0; k < j->n; k++) {
    struct ml_page_item *x = &j->items[j->todo[k]];
    j->errs[j->todo[k]] = mlproto_record_verify(&x->r, x->env, x->env_len);
  }
  return NULL;
}

/* Verify every entry of the page: own records against their stored hash
 * (own_verify), the others in full, on up to verify_threads threads when
 * the page is large enough to pay for them (Ed25519 verification is most
 * of a pull's work). */
static int verify_items(mentorlog_sync *s) {
  size_t n = s->n_items, nt = 0;
  int *errs = mlproto_calloc(n ? n : 1, sizeof *errs);
  size_t *todo = mlproto_calloc(n ? n : 1, sizeof *todo);
  int err = 0;
  if (!errs || !todo)
    err = fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; !err && i < n; i++) {
    int e = own_verify(s, &s->items[i]);
    if (e == 1)
      todo[nt++] = i;
    else if (e && s->phase == PH_FAIL)
      err = e;
    else
      errs[i] = e;
  }
  unsigned threads = s->verify_threads;
  if (!err && nt >= VERIFY_THREAD_MIN * 2 && threads > 1) {
    if (threads > VERIFY_THREADS_MAX)
      threads = VERIFY_THREADS_MAX;
    pthread_t tid[VERIFY_THREADS_MAX];
    struct verify_job jobs[VERIFY_THREADS_MAX];
    size_t per = (nt + threads - 1) / threads, started = 0;
    for (unsigned t = 0; t < threads; t++) {
      size_t lo = t * per, hi = lo + per > nt ? nt : lo + per;
      jobs[t] = (struct verify_job){s->items, todo + lo, hi > lo ? hi - lo : 0, errs};
      /* the calling thread takes the first share itself */
      if (t == 0 || pthread_create(&tid[t], NULL, verify_run, &jobs[t]) != 0)
        continue;
      started |= (size_t)1 << t;
    }
    verify_run(&jobs[0]);
    for (unsigned t = 1; t < threads; t++) {
      if (started & ((size_t)1 << t))
        pthread_join(tid[t], NULL);
      else
        verify_run(&jobs[t]); /* no thread: done here */
    }
  } else if (!err) {
    struct verify_job j = {s->items, todo, nt, errs};
    verify_run(&j);
  }
  for (size_t i = 0; !err && i < n; i++) {
    int e = errs[i];
    if (e == MLPROTO_ERR_OUT_OF_MEMORY)
      err = fail(s, e, "out of memory");
    else if (e)
      err = fail(s, MLPROTO_ERR_SERVER_LIED, "log entry %" PRIu64 " does not verify: %s (%s)", s->items[i].index,
                 mlproto_errname(e), mlproto_strerror(e));
  }
  mlproto_free(errs);
  mlproto_free(todo);
  return err;
}

/* Every check of a page that needs no store. */
static int page_check(mentorlog_sync *s) {
  const Mentorlog__V1__PullResponse *p = (const void *)s->page;
  uint64_t since = s->st.cursor, last = 0;
  s->items = p->n_items ? mlproto_calloc(p->n_items, sizeof *s->items) : NULL;
  if (p->n_items && !s->items)
    return fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < p->n_items; i++) {
    const Mentorlog__V1__LogItem *it = p->items[i];
    if (it->log_index < since || (i > 0 && it->log_index <= last))
      return fail(s, MLPROTO_ERR_SERVER_LIED,
                  "the pull answer is out of order: log entry %" PRIu64 " after %" PRIu64 " (cursor %" PRIu64 ")",
                  it->log_index, last, since);
    if (it->log_index >= s->sth_size)
      return fail(s, MLPROTO_ERR_SERVER_LIED, "log entry %" PRIu64 " lies beyond the answer's tree size %" PRIu64,
                  it->log_index, s->sth_size);
    last = it->log_index;
    struct ml_page_item *x = &s->items[s->n_items];
    x->index = it->log_index;
    x->received_ms = (int64_t)it->received_at_ms;
    x->entry_type = it->entry_type;
    x->env = it->envelope.data;
    x->env_len = it->envelope.len;
    s->n_items++;
  }
  int err = verify_items(s);
  if (err)
    return err;
  for (size_t i = 0; i < s->n_items; i++) {
    const Mentorlog__V1__LogItem *it = p->items[i];
    struct ml_page_item *x = &s->items[i];
    int event = mlproto_kind_is_server_event(x->r->kind), by_server = memcmp(x->r->author, s->st.server_pub, 32) == 0;
    if ((it->entry_type != 1 && it->entry_type != 2) || event != (it->entry_type == 2) || event != by_server)
      return fail(s, MLPROTO_ERR_SERVER_LIED,
                  "log entry %" PRIu64 ": entry type %u, kind %s and author do not agree", it->log_index,
                  it->entry_type, mlproto_kind_name(x->r->kind));
  }
  uint64_t end = p->more ? last + 1 : s->sth_size;
  if (p->n_items == 0 && p->more)
    return fail(s, MLPROTO_ERR_SERVER_LIED, "the pull answer is empty but says more");
  if (p->next_since != end || p->next_since < since)
    return fail(s, MLPROTO_ERR_SERVER_LIED,
                "the pull answer's next cursor %" PRIu64 " is not %s %" PRIu64 " (cursor %" PRIu64 ")",
                p->next_since, p->more ? "one past its last entry," : "its tree size,", end, since);
  s->next_since = p->next_since;
  s->more = p->more;
  /* An own record the server acknowledged in this run, inside the range
   * this page covers, must be in it. */
  for (size_t a = 0; a < s->n_acked; a++) {
    uint64_t ix = s->acked[a];
    if (ix < since || ix >= s->next_since)
      continue;
    int seen = 0;
    for (size_t i = 0; i < s->n_items && !seen; i++)
      seen = s->items[i].index == ix;
    if (!seen)
      return fail(s, MLPROTO_ERR_SERVER_LIED,
                  "log entry %" PRIu64 " (an own record the server acknowledged) was left out of the pull", ix);
  }
  return 0;
}

/* Pick the entries whose inclusion is proven for this page. */
static void page_samples(mentorlog_sync *s) {
  s->n_samples = s->sample_next = 0;
  if (s->n_items <= SAMPLES_PER_PAGE * 2) {
    for (size_t i = 0; i < s->n_items; i++)
      s->samples[s->n_samples++] = i;
    return;
  }
  s->samples[s->n_samples++] = 0;
  s->samples[s->n_samples++] = s->n_items - 1;
  while (s->n_samples < SAMPLES_PER_PAGE)
    s->samples[s->n_samples++] = randombytes_uniform((uint32_t)s->n_items);
}

static int next_after_checkpoint(mentorlog_sync *s);

static int on_pull(mentorlog_sync *s, const uint8_t *b, size_t n) {
  page_free(s);
  int err = mlproto_msg_unpack(&s->page, MLPROTO_MSG_PULL_RESPONSE, b, n);
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return fail(s, err, "out of memory");
  if (err) /* the decoder checks the entries' order and each field's range */
    return fail(s, MLPROTO_ERR_SERVER_LIED,
                "the pull answer does not decode: %s (%s; its entries must be in ascending log order)",
                mlproto_errname(err), mlproto_strerror(err));
  const Mentorlog__V1__PullResponse *p = (const void *)s->page;
  const mlproto_checkpoint *kept = &s->st.cp;
  if ((err = sth_of(s, p->sth, "pull")))
    return err;
  if (s->sth_size < kept->size)
    return fail(s, MLPROTO_ERR_SERVER_LIED,
                "the log shrank: the answer's tree has %" PRIu64 " entries, the checkpoint kept has %" PRIu64
                " (an old checkpoint replayed)", s->sth_size, kept->size);
  if ((err = page_check(s)))
    return err;
  s->prog.pulled += s->n_items;
  s->have_new = 0;
  if (s->sth_size == kept->size && memcmp(s->sth_root, kept->root, 32) == 0)
    return next_after_checkpoint(s);
  s->phase = PH_CP;
  request(s, "GET", NULL, 0, 0, "/v1/log/checkpoint?size=%" PRIu64, s->sth_size);
  return 0;
}

static int on_cp(mentorlog_sync *s, const uint8_t *b, size_t n) {
  mlproto_checkpoint cp;
  int err = note_open(s, s->st.origin, s->st.server_pub, b, n, &cp);
  if (err)
    return err;
  const mlproto_checkpoint *kept = &s->st.cp;
  if (cp.size == kept->size) {
    if (mlproto_checkpoint_check_split_view(kept, &cp) != 0) {
      /* Two signed roots for one size: keep both notes as evidence. */
      struct ml_sync_state *t = &s->tmp;
      *t = s->st;
      snprintf(t->evidence, sizeof t->evidence, "%s\n%s", s->st.note, s->new_note);
      (void)commit_state(s, t);
      return fail(s, MLPROTO_ERR_SPLIT_VIEW,
                  "the log signed two different roots for size %" PRIu64 " (both checkpoints kept as evidence)",
                  cp.size);
    }
    return next_after_checkpoint(s);
  }
  if (kept->size == 0)
    return next_after_checkpoint(s);
  s->phase = PH_CONS;
  request(s, "GET", NULL, 0, 0, "/v1/log/proof/consistency?first=%" PRIu64 "&second=%" PRIu64, kept->size,
          cp.size);
  return 0;
}

/* Proof hashes of a message into a flat array. */
static int proof_hashes(mentorlog_sync *s, ProtobufCBinaryData *hs, size_t n, uint8_t (*out)[32]) {
  if (n > 64)
    return fail(s, MLPROTO_ERR_SERVER_LIED, "a proof has more than 64 hashes");
  for (size_t i = 0; i < n; i++) {
    if (hs[i].len != 32)
      return fail(s, MLPROTO_ERR_SERVER_LIED, "a proof hash is not 32 bytes");
    memcpy(out[i], hs[i].data, 32);
  }
  return 0;
}

static int on_cons(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_CONSISTENCY_PROOF, b, n, "consistency proof");
  if (err)
    return err;
  const Mentorlog__V1__ConsistencyProof *p = (const void *)m;
  uint8_t hs[64][32];
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs))) {
    int v = p->first == s->st.cp.size && p->second == s->new_cp.size
                ? mlproto_checkpoint_check_consistency(&s->st.cp, &s->new_cp, (const uint8_t(*)[32])hs, p->n_hashes)
                : MLPROTO_ERR_PROOF_INVALID;
    if (v)
      err = fail(s, MLPROTO_ERR_PROOF_INVALID,
                 "the checkpoint of size %" PRIu64 " is not an extension of the one kept (size %" PRIu64
                 "): the consistency proof fails (%s)", s->new_cp.size, s->st.cp.size, mlproto_errname(v));
  }
  mlproto_msg_free(m);
  return err ? err : next_after_checkpoint(s);
}

static void req_incl(mentorlog_sync *s, uint64_t index, uint64_t size) {
  request(s, "GET", NULL, 0, 0, "/v1/log/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64, index, size);
}

/* Check an inclusion proof answer for (type, ms, hash) at index against cp. */
static int incl_check(mentorlog_sync *s, const uint8_t *b, size_t n, uint32_t type, int64_t ms,
                      const uint8_t hash[32], uint64_t index, const mlproto_checkpoint *cp, const char *what) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_INCLUSION_PROOF, b, n, "inclusion proof");
  if (err)
    return err;
  const Mentorlog__V1__InclusionProof *p = (const void *)m;
  uint8_t hs[64][32], leaf[32];
  mlproto_log_entry e = {.type = (mlproto_log_entry_type)type, .received_at_ms = (uint64_t)ms};
  memcpy(e.record_hash, hash, 32);
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs))) {
    int v = mlproto_log_entry_leaf_hash(leaf, &e);
    if (!v)
      v = p->leaf_index == index && p->tree_size == cp->size
              ? mlproto_merkle_verify_inclusion(leaf, index, cp->size, (const uint8_t(*)[32])hs, p->n_hashes, cp->root)
              : MLPROTO_ERR_PROOF_INVALID;
    if (v)
      err = fail(s, MLPROTO_ERR_PROOF_INVALID,
                 "%s at log entry %" PRIu64 " is not in the checkpoint of size %" PRIu64
                 " (inclusion proof fails: %s)", what, index, cp->size, mlproto_errname(v));
  }
  mlproto_msg_free(m);
  return err;
}

static int apply_page(mentorlog_sync *s);

/* The checkpoint of the page is settled: prove the samples, then apply. */
static int next_after_checkpoint(mentorlog_sync *s) {
  if (s->sample_next == 0 && s->n_samples == 0)
    page_samples(s);
  if (s->sample_next < s->n_samples) {
    const mlproto_checkpoint *cp = s->have_new ? &s->new_cp : &s->st.cp;
    s->phase = PH_INCL;
    req_incl(s, s->items[s->samples[s->sample_next]].index, cp->size);
    return 0;
  }
  return apply_page(s);
}

static int on_incl(mentorlog_sync *s, const uint8_t *b, size_t n) {
  const struct ml_page_item *it = &s->items[s->samples[s->sample_next]];
  const mlproto_checkpoint *cp = s->have_new ? &s->new_cp : &s->st.cp;
  int err = incl_check(s, b, n, it->entry_type, it->received_ms, it->r->hash, it->index, cp, "the pulled entry");
  if (err)
    return err;
  s->sample_next++;
  return next_after_checkpoint(s);
}

static int receipts_load(mentorlog_sync *s);

static int apply_page(mentorlog_sync *s) {
  mentorlog *h = s->h;
  s->tmp = s->st;
  uint64_t applied = 0;
  int err = ml__page_apply(h, &s->tmp, s->acks, s->n_acks, s->items, s->n_items, s->next_since,
                           s->have_new ? s->new_note : NULL, s->new_note_len, &s->new_cp, &applied);
  if (!err)
    s->n_acks = 0; /* written */
  s->n_samples = s->sample_next = 0;
  if (err) {
    fail_h(s, err);
    (void)ml__sync_load(h, &s->st); /* as committed */
    page_free(s);
    return err;
  }
  s->st = s->tmp;
  s->prog.applied += applied;
  s->prog.cursor = s->st.cursor;
  s->prog.log_size = s->st.cp.size;
  int more = s->more;
  page_free(s);
  if (more) {
    s->phase = PH_PULL;
    req_pull(s);
    return 0;
  }
  return receipts_load(s);
}

/* ------------------------------------------------------------ receipts */

static int grants_and_next(mentorlog_sync *s);

static int cmp_receipt(const void *a, const void *b) {
  uint64_t x = ((const struct receipt_check *)a)->index, y = ((const struct receipt_check *)b)->index;
  return x < y ? -1 : x > y;
}

/* The next run (or the grants when all are proven). */
static int receipt_next(mentorlog_sync *s) {
  s->run_lo = s->run_hi;
  if (s->run_lo < s->n_rq && s->runs_done < RUNS_PER_SYNC) {
    size_t hi = s->run_lo + 1;
    while (hi < s->n_rq && s->rq[hi].index == s->rq[hi - 1].index + 1)
      hi++;
    s->run_hi = hi;
    s->run_step = 0;
    s->phase = PH_RECEIPTS;
    req_incl(s, s->rq[s->run_lo].index, s->st.cp.size);
    return 0;
  }
  mlproto_free(s->rq);
  s->rq = NULL;
  s->n_rq = s->run_lo = s->run_hi = s->runs_done = 0;
  return grants_and_next(s);
}

/* Unverified receipts inside the kept checkpoint, sorted by index. */
static int receipts_load(mentorlog_sync *s) {
  mentorlog *h = s->h;
  mlproto_free(s->rq);
  s->rq = NULL;
  s->n_rq = s->run_lo = s->run_hi = s->runs_done = 0;
  sqlite3_stmt *st;
  /* own records in seq order are in log order: a prefix of consecutive
   * indices, so the runs stay whole */
  int err = ml__prepare(h, &st, "SELECT c.record_id, r.hash FROM receipts c JOIN records r ON r.record_id ="
                                " c.record_id WHERE c.verified = 0 ORDER BY r.seq LIMIT ?");
  if (err)
    return fail_h(s, err);
  sqlite3_bind_int(st, 1, (int)RECEIPTS_MAX);
  size_t cap = 0;
  int rc;
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 32)
      continue;
    if (s->n_rq == cap) {
      size_t nc = cap ? cap * 2 : 64;
      struct receipt_check *nv = mlproto_realloc(s->rq, nc * sizeof *nv);
      if (!nv) {
        err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
        break;
      }
      s->rq = nv;
      cap = nc;
    }
    struct receipt_check *q = &s->rq[s->n_rq];
    memcpy(q->id, sqlite3_column_blob(st, 0), 16);
    memcpy(q->hash, sqlite3_column_blob(st, 1), 32);
    int found = 0;
    if ((err = ml__receipt_get(h, q->id, &found, &q->index, &q->ms, NULL)))
      break;
    if (found && q->index < s->st.cp.size)
      s->n_rq++;
  }
  sqlite3_finalize(st);
  if (err)
    return fail_h(s, err);
  if (s->n_rq > 1)
    qsort(s->rq, s->n_rq, sizeof *s->rq, cmp_receipt);
  return receipt_next(s);
}

static int on_receipt(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = unpack(s, &m, MLPROTO_MSG_INCLUSION_PROOF, b, n, "inclusion proof");
  if (err)
    return err;
  const Mentorlog__V1__InclusionProof *p = (const void *)m;
  size_t lo = s->run_lo, cnt = s->run_hi - s->run_lo;
  uint64_t want = s->run_step == 0 ? s->rq[lo].index : s->rq[s->run_hi - 1].index;
  uint8_t hs[64][32];
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs)) &&
      (p->leaf_index != want || p->tree_size != s->st.cp.size))
    err = fail(s, MLPROTO_ERR_PROOF_INVALID, "the inclusion proof answers for another entry or tree");
  size_t len = p->n_hashes;
  mlproto_msg_free(m);
  if (err)
    return err;
  if (s->run_step == 0 && cnt > 1) {
    memcpy(s->proof_a, hs, len * 32);
    s->len_a = len;
    s->run_step = 1;
    req_incl(s, s->rq[s->run_hi - 1].index, s->st.cp.size);
    return 0;
  }
  if (cnt == 1) {
    memcpy(s->proof_a, hs, len * 32);
    s->len_a = len;
  }
  /* the run's leaves, then both paths against the kept checkpoint */
  uint8_t(*leaves)[32] = mlproto_malloc(cnt * 32);
  if (!leaves)
    return fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < cnt && !err; i++) {
    const struct receipt_check *q = &s->rq[lo + i];
    mlproto_log_entry e = {.type = MLPROTO_LOG_DEVICE_RECORD, .received_at_ms = (uint64_t)q->ms};
    memcpy(e.record_hash, q->hash, 32);
    if (mlproto_log_entry_leaf_hash(leaves[i], &e))
      err = fail(s, MLPROTO_ERR_INTERNAL, "leaf hash");
  }
  int v = err ? 0
              : mlproto_merkle_verify_range((const uint8_t(*)[32])leaves, s->rq[lo].index, cnt, s->st.cp.size,
                                            (const uint8_t(*)[32])s->proof_a, s->len_a,
                                            (const uint8_t(*)[32])hs, len, s->st.cp.root);
  mlproto_free(leaves);
  if (err)
    return err;
  if (v)
    return fail(s, MLPROTO_ERR_PROOF_INVALID,
                "own records the server acknowledged at log entries %" PRIu64 "..%" PRIu64
                " are not in the checkpoint of size %" PRIu64 " (inclusion proof fails: %s)",
                s->rq[lo].index, s->rq[s->run_hi - 1].index, s->st.cp.size, mlproto_errname(v));
  if (s->n_proven + cnt > s->cap_proven) {
    size_t nc = s->cap_proven ? s->cap_proven : 256;
    while (nc < s->n_proven + cnt)
      nc *= 2;
    uint8_t(*nv)[16] = mlproto_realloc(s->proven, nc * 16);
    if (!nv)
      return fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    s->proven = nv;
    s->cap_proven = nc;
  }
  for (size_t i = 0; i < cnt; i++)
    memcpy(s->proven[s->n_proven++], s->rq[lo + i].id, 16);
  s->runs_done++;
  return receipt_next(s);
}

/* ------------------------------------------------------------ grants */

/* The run's last transaction (one commit, so one fsync, for all of it):
 * the receipts proven, the key grants owed (and a rotation), and the end
 * of the run (last_sync_ms) when nothing is left to push; nothing is
 * written when nothing changed. */
static int grants_and_next(mentorlog_sync *s) {
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
    fail_h(s, err);
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
    request(s, "GET", NULL, 0, 0, "/v1/session/challenge");
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
    req_pull(s);
    return 0;
  }
  case PH_PULL:
    req_pull(s);
    return 0;
  default:
    return fail(s, MLPROTO_ERR_INTERNAL, "sync engine: nothing to send in phase %d", (int)s->phase);
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
      fail(s, MLPROTO_ERR_UNREACHABLE, "%s %s: %s after %u attempts", s->method, s->path,
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
      request(s, "GET", NULL, 0, 0, "/v1/session/challenge");
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
        fail(s, MLPROTO_ERR_CHALLENGE_INVALID,
             "the server refused three fresh session challenges in a row (is the device's or the server's clock far off?)");
        return 0;
      }
      struct ml_sync_device *self = NULL;
      for (size_t i = 0; i < s->st.n_devices; i++)
        if (s->st.devices[i].flags & ML_DEV_SELF)
          self = &s->st.devices[i];
      if (self && (self->flags & ML_DEV_REVOKED))
        fail(s, MLPROTO_ERR_DEVICE_REVOKED, "the device was revoked: the server refuses its session");
      else
        fail(s, MLPROTO_ERR_UNAUTHENTICATED,
             "the server refuses this device's session (the device was revoked, or this server does not know it)");
      return 0;
    }
    if (++s->session_tries > 3) {
      fail(s, MLPROTO_ERR_UNAUTHENTICATED, "the server refuses every new session token");
      return 0;
    }
    if (ph != PH_PUSH && ph != PH_PULL) {
      /* the log's endpoints need no token */
      fail(s, MLPROTO_ERR_SERVER_LIED, "%s %s answered 401 although it needs no token", s->method, s->path);
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
    fail(s, code, "%s %s: the server answered %d %s%s%s", s->method, s->path, status, mlproto_errname(code),
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
    (void)on_pull(s, body, len);
    break;
  case PH_CP:
    (void)on_cp(s, body, len);
    break;
  case PH_CONS:
    (void)on_cons(s, body, len);
    break;
  case PH_INCL:
    (void)on_incl(s, body, len);
    break;
  case PH_RECEIPTS:
    (void)on_receipt(s, body, len);
    break;
  default:
    fail(s, MLPROTO_ERR_INTERNAL, "sync engine: an answer in phase %d", (int)ph);
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
  page_free(s);
  body_free(s);
  mlproto_free(s->batch_ids);
  mlproto_free(s->acked);
  mlproto_free(s->rq);
  mlproto_free(s->proven);
  mlproto_free(s->acks);
  sodium_memzero(s, sizeof *s);
  mlproto_free(s);
}
