/* Applying a pull page: every check that needs the store, and the page's
 * records, events, acknowledgements, cursor and checkpoint in ONE
 * transaction. A failed check rolls all of it back (SERVER_LIED, errmsg
 * naming the entry and the check). The checks that need no store (order and
 * range of indices, each envelope's verification, entry types, the
 * checkpoint and its proofs) are the engine's, before this (sync.c). */
#include "sync_int.h"

#include "mlproto/chain.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LIE(...) ml__fail(h, MLPROTO_ERR_SERVER_LIED, __VA_ARGS__)

static int event_apply(mentorlog *h, struct ml_sync_state *s, const struct ml_page_item *it) {
  const mlproto_record *r = it->r;
  const mlproto_disclosed *d = r->disclosed;
  if (!d)
    return LIE("log entry %" PRIu64 ": a server event without its disclosed part", it->index);
  switch (r->kind) {
  case MLPROTO_KIND_DEVICE_ENROLLED: {
    const Mentorlog__V1__DeviceEnrolled *e = d->device_enrolled;
    if (!e || e->mentor_id.len != 16 || memcmp(e->mentor_id.data, s->mentor_id, 16) != 0)
      return LIE("log entry %" PRIu64 ": a device enrolment of another mentor was served", it->index);
    if (e->device_pub.len != 32 || e->box_pub.len != 32)
      return LIE("log entry %" PRIu64 ": a device enrolment with malformed keys", it->index);
    if (ml__sync_device(s, e->device_pub.data) || ml__sync_device_box(s, e->box_pub.data))
      return LIE("log entry %" PRIu64 ": a device enrolled twice", it->index);
    int self = memcmp(e->device_pub.data, h->sign_pk, 32) == 0;
    if (self != (memcmp(e->box_pub.data, h->box_pk, 32) == 0))
      return LIE("log entry %" PRIu64 ": this device's enrolment names another key", it->index);
    if (s->n_devices == ML_SYNC_MAX_DEVICES)
      return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "the mentor has more than %d devices", ML_SYNC_MAX_DEVICES);
    struct ml_sync_device *dev = &s->devices[s->n_devices];
    memset(dev, 0, sizeof *dev);
    memcpy(dev->sign_pub, e->device_pub.data, 32);
    memcpy(dev->box_pub, e->box_pub.data, 32);
    snprintf(dev->label, sizeof dev->label, "%s", e->label ? e->label : "");
    dev->log_index = it->index;
    dev->received_ms = it->received_ms;
    dev->flags = (s->n_devices == 0 ? ML_DEV_FIRST : 0) | (self ? ML_DEV_SELF : 0);
    s->n_devices++;
    return 0;
  }
  case MLPROTO_KIND_DEVICE_REVOKED: {
    const Mentorlog__V1__DeviceRevoked *e = d->device_revoked;
    struct ml_sync_device *dev = e && e->device_pub.len == 32 ? ml__sync_device(s, e->device_pub.data) : NULL;
    if (!dev)
      return LIE("log entry %" PRIu64 ": a revocation of a device not enrolled before it", it->index);
    if (!(dev->flags & ML_DEV_REVOKED)) {
      dev->flags |= ML_DEV_REVOKED;
      dev->revoked_index = it->index;
    }
    return 0;
  }
  case MLPROTO_KIND_ESCROW_KEY:
    if (!d->escrow_key || d->escrow_key->box_pub.len != 32 || d->escrow_key->sign_pub.len != 32)
      return LIE("log entry %" PRIu64 ": an escrow key event without its keys", it->index);
    s->has_escrow = 1;
    memcpy(s->escrow_pub, d->escrow_key->box_pub.data, 32);
    memcpy(s->escrow_sign, d->escrow_key->sign_pub.data, 32);
    return 0;
  case MLPROTO_KIND_RETENTION_PURGE: {
    /* The server erased a case of this mentor (retention): so does this
     * device, when it holds the case and has not erased it yet. */
    const Mentorlog__V1__RetentionPurge *e = d->retention_purge;
    if (!e || e->case_id.len != 16)
      return LIE("log entry %" PRIu64 ": a retention purge without its case", it->index);
    int err = ml__case_check(h, e->case_id.data);
    if (err == MLPROTO_ERR_NOT_FOUND || err == MLPROTO_ERR_CASE_ERASED)
      return 0;
    if (!err)
      err = ml__case_erase_local(h, e->case_id.data, NULL);
    if (!err)
      ml__casekey_flush(h, e->case_id.data);
    return err;
  }
  default:
    /* later kinds: verified and counted, nothing to apply on a device in
     * this version. */
    return 0;
  }
}

/* The last record of author stored here: its seq and hash (seq 0 when none). */
static int author_tip(mentorlog *h, sqlite3_stmt *st, const uint8_t author[32], mlproto_chain_tip *tip) {
  mlproto_chain_tip_init(tip, author);
  sqlite3_reset(st);
  sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
    tip->seq = (uint64_t)sqlite3_column_int64(st, 0);
    memcpy(tip->hash, sqlite3_column_blob(st, 1), 32);
  } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return ml__sqlite_err(h, rc, "read chain");
  }
  sqlite3_reset(st);
  return 0;
}

static int held_hash(mentorlog *h, const uint8_t author[32], uint64_t seq, uint8_t out[32], int *found) {
  *found = 0;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_HELD_HASH, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
    memcpy(out, sqlite3_column_blob(st, 0), 32);
    *found = 1;
  } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    err = ml__sqlite_err(h, rc, "read record");
  }
  ml__stmt_put(st);
  return err;
}

/* An own record came back: it must be the one stored here; the first time
 * it is its acknowledgement (outbox -> receipt), later its receipt must not
 * have changed. */
static int own_apply(mentorlog *h, const struct ml_page_item *it) {
  const mlproto_record *r = it->r;
  uint8_t held[32];
  int found;
  int err = held_hash(h, r->author, r->seq, held, &found);
  if (err)
    return err;
  if (!found)
    return ml__fail(h, MLPROTO_ERR_FORK,
                    "log entry %" PRIu64 ": the log holds record %" PRIu64 " of this device, which this "
                    "profile never wrote (a copy of the profile was used elsewhere, or it was restored "
                    "from an old backup)", it->index, r->seq);
  if (memcmp(held, r->hash, 32) != 0)
    return LIE("log entry %" PRIu64 ": the log holds a different record at seq %" PRIu64 " of this device",
               it->index, r->seq);
  uint64_t idx;
  int64_t ms;
  int have;
  if ((err = ml__receipt_get(h, r->record_id, &have, &idx, &ms, NULL)))
    return err;
  if (have) {
    if (idx != it->index || ms != it->received_ms)
      return LIE("log entry %" PRIu64 ": an own record's log index or receipt time differs from its "
                 "acknowledgement (index %" PRIu64 ")", it->index, idx);
    return 0;
  }
  if ((err = ml__receipt_put(h, r->record_id, it->index, it->received_ms, 0)))
    return err;
  sqlite3_stmt *st;
  if ((err = ml__stmt_get(h, ML_SQL_OUTBOX_DELETE, &st)))
    return err;
  sqlite3_bind_blob(st, 1, r->record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "acknowledge");
  ml__stmt_put(st);
  return err;
}

static int record_apply(mentorlog *h, struct ml_sync_state *s, sqlite3_stmt *tip_st,
                        const struct ml_page_item *it, uint64_t *applied) {
  const mlproto_record *r = it->r;
  if (memcmp(r->author, h->sign_pk, 32) == 0)
    return own_apply(h, it);
  struct ml_sync_device *d = ml__sync_device(s, r->author);
  int escrow = !d && ml__sync_is_escrow(s, r->author);
  if (!d && !escrow)
    return LIE("log entry %" PRIu64 ": a record whose author is not a device of this mentor", it->index);
  if (escrow && r->kind != MLPROTO_KIND_KEY_GRANT)
    return LIE("log entry %" PRIu64 ": a %s signed by the escrow key, which signs only KEY_GRANTs",
               it->index, mlproto_kind_name(r->kind));
  if (d && (d->flags & ML_DEV_REVOKED) && it->index > d->revoked_index)
    return LIE("log entry %" PRIu64 ": a record of a revoked device, logged after its revocation", it->index);
  mlproto_chain_tip tip;
  int err = author_tip(h, tip_st, r->author, &tip);
  if (err)
    return err;
  uint8_t held[32];
  int found = 0;
  mlproto_chain_verdict v = mlproto_chain_check(&tip, NULL, r);
  if (v == MLPROTO_CHAIN_NEED_HELD) {
    if ((err = held_hash(h, r->author, r->seq, held, &found)))
      return err;
    v = found ? mlproto_chain_check(&tip, held, r) : MLPROTO_CHAIN_GAP;
  }
  switch (v) {
  case MLPROTO_CHAIN_ACCEPT:
    break;
  case MLPROTO_CHAIN_DUPLICATE:
    return 0; /* stored already (served again): nothing to do */
  case MLPROTO_CHAIN_GAP:
    return LIE("log entry %" PRIu64 ": record %" PRIu64 " of a device arrived while its record %" PRIu64
               " was never served (a record was left out)", it->index, r->seq, tip.seq + 1);
  case MLPROTO_CHAIN_BAD_PREV:
    return LIE("log entry %" PRIu64 ": a record does not link to its author's previous record", it->index);
  case MLPROTO_CHAIN_FORK:
    return LIE("log entry %" PRIu64 ": two different records at one seq of a device", it->index);
  default:
    return ml__fail(h, MLPROTO_ERR_INTERNAL, "chain check: %s", mlproto_chain_verdict_name(v));
  }
  err = ml__record_ingest_verified(h, r, it->env, it->env_len);
  if (err == MLPROTO_ERR_NOT_FOUND)
    return LIE("log entry %" PRIu64 ": a record supersedes a record the log never served", it->index);
  if (err == MLPROTO_ERR_INVALID_ARGUMENT)
    return LIE("log entry %" PRIu64 ": %s", it->index, h->errmsg);
  if (err)
    return err;
  (*applied)++;
  return r->kind == MLPROTO_KIND_KEY_GRANT ? ml__grant_seen(h, s, r, NULL) : 0;
}

int ml__acks_apply(mentorlog *h, const struct ml_ack *acks, size_t n) {
  int err = 0;
  for (size_t i = 0; !err && i < n; i++) {
    if ((err = ml__receipt_put(h, acks[i].record_id, acks[i].index, acks[i].received_ms, 0)))
      break;
    sqlite3_stmt *st;
    if ((err = ml__stmt_get(h, ML_SQL_OUTBOX_DELETE, &st)))
      break;
    sqlite3_bind_blob(st, 1, acks[i].record_id, 16, SQLITE_STATIC);
    err = ml__stmt_run(h, st, "acknowledge");
  }
  return err;
}

int ml__page_apply(mentorlog *h, struct ml_sync_state *s, const struct ml_ack *acks, size_t n_acks,
                   const struct ml_page_item *items, size_t n, uint64_t next_since, const char *note,
                   size_t note_len, const mlproto_checkpoint *cp, uint64_t *applied) {
  if (note_len >= sizeof s->note)
    return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "checkpoint note too long");
  int err = ml__tx_begin_outer(h);
  if (err)
    return err;
  h->batch = 1; /* ml__record_ingest_verified joins this transaction */
  sqlite3_stmt *tip_st = NULL;
  uint64_t got = 0;
  err = ml__acks_apply(h, acks, n_acks);
  if (!err)
    err = ml__prepare(h, &tip_st, "SELECT seq, hash FROM records WHERE author = ? ORDER BY seq DESC LIMIT 1");
  for (size_t i = 0; !err && i < n; i++) {
    const struct ml_page_item *it = &items[i];
    if (it->entry_type == 2)
      err = event_apply(h, s, it);
    else
      err = record_apply(h, s, tip_st, it, &got);
    if (!err && it->entry_type != 2 && memcmp(it->r->author, h->sign_pk, 32) == 0)
      err = ml__grant_seen(h, s, it->r, NULL);
  }
  sqlite3_finalize(tip_st);
  if (!err) {
    s->cursor = next_since;
    if (note) {
      memcpy(s->note, note, note_len);
      s->note[note_len] = 0;
      s->note_len = note_len;
      s->cp = *cp;
    }
    err = ml__sync_store(h, s);
  }
  h->batch = 0;
  h->batch_failed = 0;
  if (err) {
    h->erased_pending = 0;
    ml__tx_rollback_outer(h, true);
    return err;
  }
  /* Not waiting for the disk: a page holds no record of this device (its
   * own records were durable when written), so a power cut can lose only
   * whole pages, cursor included (WAL: atomic), which the next sync pulls
   * again, and acknowledgements, which a resend gets again. The next
   * commit with synchronous=FULL makes it durable. */
  (void)ml__exec(h, "PRAGMA synchronous=NORMAL");
  err = ml__tx_commit_outer(h);
  (void)ml__exec(h, "PRAGMA synchronous=FULL");
  if (err)
    return err;
  ml__erased_scrub(h); /* a CASE_ERASE or RETENTION_PURGE of this page */
  *applied += got;
  return 0;
}
