/* The state a profile keeps for sync, and what the caller can ask of it
 * without a server: status, the mentor's devices, approval, fingerprints.
 *
 * At rest (schema v5): the state is one row of table sync, sealed with
 * mlproto_wrap_bound under the record key (purpose "sync-state"); receipts
 * are rows (record_id, sealed index and receipt time, verified flag). What
 * stays readable is documented in client-core/DESIGN.md ("At rest"). */
#include "sync_int.h"

#include "mlproto/crypto.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define PURPOSE_STATE "sync-state"
#define PURPOSE_RECEIPT "receipt"
#define STATE_BIND "mentorlog/sync-state/v1"
#define STATE_FORMAT 2 /* 2: escrow_sign after escrow_pub; 1 is still read */

/* ------------------------------------------------------------ encoding */

struct wbuf {
  uint8_t *p;
  size_t len, cap;
  int err;
};

static void w_bytes(struct wbuf *b, const void *p, size_t n) {
  if (b->err)
    return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *np = mlproto_malloc(cap);
    if (!np) {
      b->err = 1;
      return;
    }
    if (b->p) {
      memcpy(np, b->p, b->len);
      sodium_memzero(b->p, b->cap);
      mlproto_free(b->p);
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void w_u64(struct wbuf *b, uint64_t v) {
  uint8_t x[8];
  mlproto_put_u64be(x, v);
  w_bytes(b, x, 8);
}

static void w_str(struct wbuf *b, const char *s) {
  size_t n = strlen(s);
  w_u64(b, n);
  w_bytes(b, s, n);
}

struct rbuf {
  const uint8_t *p;
  size_t len, off;
  int err;
};

static void r_bytes(struct rbuf *b, void *out, size_t n) {
  if (b->err || b->len - b->off < n) {
    b->err = 1;
    memset(out, 0, n);
    return;
  }
  memcpy(out, b->p + b->off, n);
  b->off += n;
}

static uint64_t r_u64(struct rbuf *b) {
  uint8_t x[8];
  r_bytes(b, x, 8);
  return b->err ? 0 : mlproto_get_u64be(x);
}

static void r_str(struct rbuf *b, char *out, size_t cap) {
  uint64_t n = r_u64(b);
  if (b->err || n >= cap) {
    b->err = 1;
    out[0] = 0;
    return;
  }
  r_bytes(b, out, (size_t)n);
  out[b->err ? 0 : n] = 0;
}

static void encode(struct wbuf *b, const struct ml_sync_state *s) {
  w_u64(b, STATE_FORMAT);
  w_u64(b, (uint64_t)s->enrolled);
  w_bytes(b, s->device_id, 16);
  w_bytes(b, s->mentor_id, 16);
  w_bytes(b, s->server_pub, 32);
  w_u64(b, (uint64_t)s->has_escrow);
  w_bytes(b, s->escrow_pub, 32);
  w_bytes(b, s->escrow_sign, 32);
  w_str(b, s->origin);
  w_str(b, s->url);
  w_str(b, s->pin);
  w_str(b, s->label);
  w_u64(b, s->cursor);
  w_u64(b, (uint64_t)s->last_sync_ms);
  w_str(b, s->note);
  w_u64(b, s->cp.size);
  w_bytes(b, s->cp.root, 32);
  w_str(b, s->evidence);
  w_u64(b, s->n_devices);
  for (size_t i = 0; i < s->n_devices; i++) {
    const struct ml_sync_device *d = &s->devices[i];
    w_bytes(b, d->sign_pub, 32);
    w_bytes(b, d->box_pub, 32);
    w_str(b, d->label);
    w_u64(b, d->log_index);
    w_u64(b, (uint64_t)d->received_ms);
    w_u64(b, d->revoked_index);
    w_u64(b, d->flags);
  }
  w_str(b, s->token);
}

static int decode(struct ml_sync_state *s, const uint8_t *p, size_t len) {
  struct rbuf b = {p, len, 0, 0};
  memset(s, 0, sizeof *s);
  uint64_t format = r_u64(&b);
  if (format != 1 && format != STATE_FORMAT)
    return -1;
  s->enrolled = (int)r_u64(&b);
  r_bytes(&b, s->device_id, 16);
  r_bytes(&b, s->mentor_id, 16);
  r_bytes(&b, s->server_pub, 32);
  s->has_escrow = (int)r_u64(&b);
  r_bytes(&b, s->escrow_pub, 32);
  if (format >= 2)
    r_bytes(&b, s->escrow_sign, 32);
  else
    s->has_escrow = 0; /* format 1 only ever had one from an enrolment answer (always empty) */
  r_str(&b, s->origin, sizeof s->origin);
  r_str(&b, s->url, sizeof s->url);
  r_str(&b, s->pin, sizeof s->pin);
  r_str(&b, s->label, sizeof s->label);
  s->cursor = r_u64(&b);
  s->last_sync_ms = (int64_t)r_u64(&b);
  r_str(&b, s->note, sizeof s->note);
  s->note_len = strlen(s->note);
  s->cp.size = r_u64(&b);
  r_bytes(&b, s->cp.root, 32);
  snprintf(s->cp.origin, sizeof s->cp.origin, "%s", s->origin);
  r_str(&b, s->evidence, sizeof s->evidence);
  uint64_t n = r_u64(&b);
  if (n > ML_SYNC_MAX_DEVICES)
    return -1;
  s->n_devices = (size_t)n;
  for (size_t i = 0; i < s->n_devices && !b.err; i++) {
    struct ml_sync_device *d = &s->devices[i];
    r_bytes(&b, d->sign_pub, 32);
    r_bytes(&b, d->box_pub, 32);
    r_str(&b, d->label, sizeof d->label);
    d->log_index = r_u64(&b);
    d->received_ms = (int64_t)r_u64(&b);
    d->revoked_index = r_u64(&b);
    d->flags = (unsigned)r_u64(&b);
  }
  r_str(&b, s->token, sizeof s->token);
  return b.err || b.off != b.len ? -1 : 0;
}

/* ------------------------------------------------------------ the row */

int ml__sync_load(mentorlog *h, struct ml_sync_state *s) {
  memset(s, 0, sizeof *s);
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT state FROM sync WHERE id = 1");
  if (err)
    return err;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_finalize(st);
    return 0;
  }
  if (rc != SQLITE_ROW) {
    err = ml__sqlite_err(h, rc, "read sync state");
    sqlite3_finalize(st);
    return err;
  }
  const uint8_t *blob = sqlite3_column_blob(st, 0);
  size_t blen = (size_t)sqlite3_column_bytes(st, 0);
  if (!blob || blen < MLPROTO_WRAP_OVERHEAD) {
    sqlite3_finalize(st);
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the sync state is damaged");
  }
  uint8_t *plain = mlproto_malloc(blen);
  size_t plen = 0;
  if (!plain) {
    sqlite3_finalize(st);
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  }
  err = mlproto_unwrap_bound(plain, blen, &plen, h->rowkey, PURPOSE_STATE, (const uint8_t *)STATE_BIND,
                             sizeof STATE_BIND - 1, blob, blen);
  sqlite3_finalize(st);
  if (err)
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the sync state does not open (%s)", mlproto_errname(err));
  else if (decode(s, plain, plen) != 0)
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the sync state is damaged");
  sodium_memzero(plain, blen);
  mlproto_free(plain);
  if (err)
    memset(s, 0, sizeof *s);
  return err;
}

int ml__sync_store(mentorlog *h, const struct ml_sync_state *s) {
  struct wbuf b = {0};
  encode(&b, s);
  uint8_t *blob = b.err ? NULL : mlproto_malloc(b.len + MLPROTO_WRAP_OVERHEAD);
  int err = 0;
  size_t blen = 0;
  if (!blob)
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  else if ((err = mlproto_wrap_bound(blob, b.len + MLPROTO_WRAP_OVERHEAD, &blen, h->rowkey, PURPOSE_STATE,
                                     (const uint8_t *)STATE_BIND, sizeof STATE_BIND - 1, b.p, b.len)))
    err = ml__fail(h, err, "seal the sync state");
  if (b.p) {
    sodium_memzero(b.p, b.cap);
    mlproto_free(b.p);
  }
  sqlite3_stmt *st = NULL;
  if (!err && !(err = ml__prepare(h, &st, "INSERT OR REPLACE INTO sync(id, state) VALUES (1, ?)"))) {
    sqlite3_bind_blob(st, 1, blob, (int)blen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
      err = ml__sqlite_err(h, rc, "store sync state");
    sqlite3_finalize(st);
  }
  mlproto_free(blob);
  return err;
}

/* ------------------------------------------------------------ receipts */

int ml__receipt_put(mentorlog *h, const uint8_t record_id[16], uint64_t index, int64_t received_ms,
                    int verified) {
  uint8_t plain[16], blob[16 + MLPROTO_WRAP_OVERHEAD];
  size_t blen = 0;
  mlproto_put_u64be(plain, index);
  mlproto_put_u64be(plain + 8, (uint64_t)received_ms);
  int err = mlproto_wrap_bound(blob, sizeof blob, &blen, h->rowkey, PURPOSE_RECEIPT, record_id, 16, plain,
                               sizeof plain);
  sodium_memzero(plain, sizeof plain);
  if (err)
    return ml__fail(h, err, "seal a receipt");
  sqlite3_stmt *st;
  if ((err = ml__stmt_get(h, ML_SQL_RECEIPT_PUT, &st)))
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, blob, (int)blen, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, verified);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "store receipt");
  ml__stmt_put(st);
  return err;
}

int ml__receipt_get(mentorlog *h, const uint8_t record_id[16], int *found, uint64_t *index,
                    int64_t *received_ms, int *verified) {
  *found = 0;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_RECEIPT_GET, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    uint8_t plain[16 + MLPROTO_WRAP_OVERHEAD];
    size_t plen = 0;
    const void *blob = sqlite3_column_blob(st, 0);
    int blen = sqlite3_column_bytes(st, 0);
    if (!blob || blen < MLPROTO_WRAP_OVERHEAD ||
        mlproto_unwrap_bound(plain, sizeof plain, &plen, h->rowkey, PURPOSE_RECEIPT, record_id, 16, blob,
                             (size_t)blen) != 0 ||
        plen != 16) {
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a receipt is damaged");
    } else {
      *found = 1;
      *index = mlproto_get_u64be(plain);
      *received_ms = (int64_t)mlproto_get_u64be(plain + 8);
      if (verified)
        *verified = sqlite3_column_int(st, 1);
    }
    sodium_memzero(plain, sizeof plain);
  } else if (rc != SQLITE_DONE) {
    err = ml__sqlite_err(h, rc, "read receipt");
  }
  ml__stmt_put(st);
  return err;
}

int ml__receipt_verified(mentorlog *h, const uint8_t record_id[16]) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_RECEIPT_VERIFIED, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "mark receipt");
  ml__stmt_put(st);
  return err;
}

/* ------------------------------------------------------------ devices */

struct ml_sync_device *ml__sync_device(struct ml_sync_state *s, const uint8_t sign_pub[32]) {
  for (size_t i = 0; i < s->n_devices; i++)
    if (memcmp(s->devices[i].sign_pub, sign_pub, 32) == 0)
      return &s->devices[i];
  return NULL;
}

int ml__sync_is_escrow(const struct ml_sync_state *s, const uint8_t sign_pub[32]) {
  return s->has_escrow && memcmp(s->escrow_sign, sign_pub, 32) == 0;
}

struct ml_sync_device *ml__sync_device_box(struct ml_sync_state *s, const uint8_t box_pub[32]) {
  for (size_t i = 0; i < s->n_devices; i++)
    if (memcmp(s->devices[i].box_pub, box_pub, 32) == 0)
      return &s->devices[i];
  return NULL;
}

int ml__sync_dev_approved(const struct ml_sync_device *d) {
  return !(d->flags & ML_DEV_REVOKED) && (d->flags & (ML_DEV_FIRST | ML_DEV_APPROVED | ML_DEV_GRANTED));
}

/* The server's device id (mlproto_device_id). */
static void device_id(uint8_t out[16], const uint8_t sign_pub[32]) { mlproto_device_id(out, sign_pub); }

static int count_rows(mentorlog *h, const char *sql, uint64_t *n) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, sql);
  if (err)
    return err;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *n = (uint64_t)sqlite3_column_int64(st, 0);
  else
    err = ml__sqlite_err(h, rc, "count");
  sqlite3_finalize(st);
  return err;
}

int mentorlog_fingerprint(mentorlog *h, char out[MENTORLOG_FINGERPRINT_LEN + 1]) {
  if (!h || !out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int err = mlproto_device_fingerprint(out, h->sign_pk, h->box_pk);
  return err ? ml__fail(h, err, "fingerprint") : 0;
}

int mentorlog_sync_status(mentorlog *h, mentorlog_sync_info *out) {
  if (!h || !out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int version = out->version;
  if (version < 1 || version > MENTORLOG_SYNC_INFO_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "sync info: unknown version %d", version);
  memset(out, 0, sizeof *out);
  out->version = version;
  struct ml_sync_state *s = mlproto_malloc(sizeof *s);
  if (!s)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  int err = ml__sync_load(h, s);
  uint64_t n = 0;
  if (!err)
    err = mentorlog_fingerprint(h, out->fingerprint);
  if (!err && !(err = count_rows(h, "SELECT count(*) FROM outbox", &n)))
    out->unsent = n;
  if (!err && s->enrolled) {
    out->enrolled = 1;
    memcpy(out->device_id, s->device_id, 16);
    memcpy(out->mentor_id, s->mentor_id, 16);
    snprintf(out->server_url, sizeof out->server_url, "%s", s->url);
    snprintf(out->server_pin, sizeof out->server_pin, "%s", s->pin);
    snprintf(out->label, sizeof out->label, "%s", s->label);
    snprintf(out->origin, sizeof out->origin, "%s", s->origin);
    out->last_sync_ms = s->last_sync_ms;
    out->cursor = s->cursor;
    out->checkpoint_size = s->cp.size;
    memcpy(out->checkpoint_root, s->cp.root, 32);
    out->devices = (uint32_t)s->n_devices;
    for (size_t i = 0; i < s->n_devices; i++) {
      const struct ml_sync_device *d = &s->devices[i];
      if (d->flags & ML_DEV_SELF) {
        out->approved = ml__sync_dev_approved(d);
        out->revoked = (d->flags & ML_DEV_REVOKED) != 0;
      } else if (!(d->flags & ML_DEV_REVOKED) && !ml__sync_dev_approved(d)) {
        out->pending_approvals++;
      }
    }
    if (!err && !(err = count_rows(h, "SELECT count(*) FROM receipts", &n)))
      out->receipts = n;
    if (!err && !(err = count_rows(h, "SELECT count(*) FROM receipts WHERE verified = 0", &n)))
      out->receipts_unverified = n;
    if (!err)
      err = ml__grants_pending(h, s, &out->pending_grants);
  }
  if (!err && !(err = count_rows(h,
                                  "SELECT count(*) FROM records r WHERE r.kind = 1 AND NOT EXISTS"
                                  " (SELECT 1 FROM case_keys k WHERE k.case_id = r.case_id) AND NOT EXISTS"
                                  " (SELECT 1 FROM erased_cases e WHERE e.case_id = r.case_id)",
                                  &n)))
    out->cases_locked = (uint32_t)n;
  sodium_memzero(s, sizeof *s);
  mlproto_free(s);
  if (err) {
    memset(out, 0, sizeof *out);
    out->version = version;
  }
  return err;
}

/* A text kept in the state (which: 0 the checkpoint note, 1 the split
 * view's evidence) into buf. */
static int state_text(mentorlog *h, int which, char *buf, size_t cap, size_t *len) {
  if (!h || !buf || !cap)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  buf[0] = 0;
  if (len)
    *len = 0;
  struct ml_sync_state *s = mlproto_malloc(sizeof *s);
  if (!s)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  int err = ml__sync_load(h, s);
  const char *t = which ? s->evidence : s->note;
  size_t n = strlen(t);
  if (!err && (!n || !s->enrolled))
    err = ml__fail(h, MLPROTO_ERR_NOT_FOUND, which ? "no split view was seen"
                                                   : "no checkpoint: the device is not enrolled");
  else if (!err && n + 1 > cap)
    err = ml__fail(h, MLPROTO_ERR_TOO_LARGE, "%s needs %zu bytes", which ? "the evidence" : "the checkpoint", n + 1);
  else if (!err) {
    memcpy(buf, t, n + 1);
    if (len)
      *len = n;
  }
  mlproto_free(s);
  return err;
}

int mentorlog_sync_checkpoint(mentorlog *h, char *buf, size_t cap, size_t *len) {
  return state_text(h, 0, buf, cap, len);
}

int mentorlog_sync_evidence(mentorlog *h, char *buf, size_t cap, size_t *len) {
  return state_text(h, 1, buf, cap, len);
}

int mentorlog_devices(mentorlog *h, mentorlog_device **out, size_t *n) {
  if (!h || !out || !n)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  *n = 0;
  struct ml_sync_state *s = mlproto_malloc(sizeof *s);
  if (!s)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  int err = ml__sync_load(h, s);
  if (!err && !s->enrolled)
    err = ml__fail(h, MLPROTO_ERR_NOT_ENROLLED, "this device is not enrolled (run enroll first)");
  mentorlog_device *v = NULL;
  if (!err && s->n_devices && !(v = mlproto_calloc(s->n_devices, sizeof *v)))
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; !err && i < s->n_devices; i++) {
    const struct ml_sync_device *d = &s->devices[i];
    device_id(v[i].id, d->sign_pub);
    memcpy(v[i].sign_pub, d->sign_pub, 32);
    memcpy(v[i].box_pub, d->box_pub, 32);
    snprintf(v[i].label, sizeof v[i].label, "%s", d->label);
    if ((err = mlproto_device_fingerprint(v[i].fingerprint, d->sign_pub, d->box_pub)))
      err = ml__fail(h, err, "fingerprint");
    v[i].self = (d->flags & ML_DEV_SELF) != 0;
    v[i].first = (d->flags & ML_DEV_FIRST) != 0;
    v[i].approved = ml__sync_dev_approved(d);
    v[i].revoked = (d->flags & ML_DEV_REVOKED) != 0;
    v[i].log_index = d->log_index;
    v[i].enrolled_ms = d->received_ms;
  }
  if (!err) {
    *out = v;
    *n = s->n_devices;
  } else {
    mlproto_free(v);
  }
  mlproto_free(s);
  return err;
}

void mentorlog_devices_free(mentorlog_device *v, size_t n) {
  (void)n;
  mlproto_free(v);
}

int mentorlog_device_approve(mentorlog *h, const uint8_t id[MENTORLOG_ID_BYTES], const char *fingerprint) {
  if (!h || !id || !fingerprint)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  struct ml_sync_state *s = mlproto_malloc(sizeof *s);
  if (!s)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  int err = ml__sync_load(h, s);
  struct ml_sync_device *d = NULL, *self = NULL;
  for (size_t i = 0; !err && i < s->n_devices; i++) {
    uint8_t did[16];
    device_id(did, s->devices[i].sign_pub);
    if (memcmp(did, id, 16) == 0)
      d = &s->devices[i];
    if (s->devices[i].flags & ML_DEV_SELF)
      self = &s->devices[i];
  }
  char want[MLPROTO_FINGERPRINT_LEN + 1];
  uint32_t written = 0;
  if (err)
    ;
  else if (!s->enrolled)
    err = ml__fail(h, MLPROTO_ERR_NOT_ENROLLED, "this device is not enrolled (run enroll first)");
  else if (!d)
    err = ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no such device of this mentor (sync first to learn new devices)");
  else if (d->flags & ML_DEV_SELF)
    err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "a device cannot approve itself");
  else if (d->flags & ML_DEV_REVOKED)
    err = ml__fail(h, MLPROTO_ERR_DEVICE_REVOKED, "the device was revoked");
  else if (!self || !ml__sync_dev_approved(self))
    err = ml__fail(h, MLPROTO_ERR_NO_CASE_KEY,
                   "this device is not approved itself: approve it from an approved device first");
  else if ((err = mlproto_device_fingerprint(want, d->sign_pub, d->box_pub)))
    err = ml__fail(h, err, "fingerprint");
  else if (!mlproto_fingerprint_equal(want, fingerprint))
    err = ml__fail(h, MLPROTO_ERR_FINGERPRINT_MISMATCH,
                   "the fingerprint does not match the device's keys: do not approve it");
  else if (!(err = ml__begin(h))) {
    d->flags |= ML_DEV_APPROVED;
    if ((err = ml__grants_write(h, s, &written)) || (err = ml__sync_store(h, s)))
      ml__rollback(h);
    else
      err = ml__commit(h);
  }
  sodium_memzero(s, sizeof *s);
  mlproto_free(s);
  return err;
}
