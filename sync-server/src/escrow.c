/* escrow.c — the escrow key on the server: configured, announced, and its
 * re-grants imported (escrow.h). */
#include "escrow.h"

#include "mlproto/chain.h"
#include "mlproto/errors.h"
#include "mlproto/escrow.h"
#include "mlproto/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mls_escrow_get(mls_txn *tx, uint8_t box_pub[32], uint8_t sign_pub[32]) {
  uint8_t v[64];
  size_t len = 0;
  int rc = MLS_TX(tx, meta_get, MLS_ESCROW_META, v, sizeof v, &len);
  if (rc) return rc;
  if (len != 64) return MLPROTO_ERR_STORAGE;
  memcpy(box_pub, v, 32);
  memcpy(sign_pub, v + 32, 32);
  return MLPROTO_OK;
}

static int announce(mls_log *log, mls_txn *tx, const uint8_t mentor_id[16], uint64_t now_ms,
                    const uint8_t box_pub[32], const uint8_t sign_pub[32]) {
  Mentorlog__V1__EscrowKey ek = MENTORLOG__V1__ESCROW_KEY__INIT;
  ek.box_pub = (ProtobufCBinaryData){32, (uint8_t *)box_pub};
  ek.sign_pub = (ProtobufCBinaryData){32, (uint8_t *)sign_pub};
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_ESCROW_KEY;
  d.escrow_key = &ek;
  return mls_log_append_event(log, tx, &d, mentor_id, now_ms, NULL);
}

int mls_escrow_announce(mls_log *log, mls_txn *tx, const uint8_t mentor_id[16], uint64_t now_ms,
                        int *appended) {
  if (appended) *appended = 0;
  uint8_t box[32], sign[32];
  int rc = mls_escrow_get(tx, box, sign);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_OK;
  if (!rc) rc = announce(log, tx, mentor_id, now_ms, box, sign);
  if (!rc && appended) *appended = 1;
  return rc;
}

typedef struct ids {
  uint8_t (*id)[16];
  size_t n, cap;
} ids;

static int collect_mentor(void *ud, const mls_mentor *m) {
  ids *v = ud;
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    uint8_t(*n)[16] = realloc(v->id, cap * 16);
    if (!n) return MLPROTO_ERR_OUT_OF_MEMORY;
    v->id = n;
    v->cap = cap;
  }
  memcpy(v->id[v->n++], m->id, 16);
  return 0;
}

int mls_escrow_set(mls_log *log, mls_txn *tx, const uint8_t box_pub[32], const uint8_t sign_pub[32],
                   uint64_t now_ms, uint64_t *mentors) {
  *mentors = 0;
  uint8_t box[32], sign[32];
  int rc = mls_escrow_get(tx, box, sign);
  if (!rc && memcmp(box, box_pub, 32) == 0 && memcmp(sign, sign_pub, 32) == 0)
    return MLPROTO_ERR_ALREADY_EXISTS;
  if (rc && rc != MLPROTO_ERR_NOT_FOUND) return rc;
  uint8_t v[64];
  memcpy(v, box_pub, 32);
  memcpy(v + 32, sign_pub, 32);
  if ((rc = MLS_TX(tx, meta_put, MLS_ESCROW_META, v, sizeof v))) return rc;
  /* collected first: appending inside the listing's callback would write
   * while the store reads */
  ids m = {0};
  rc = MLS_TX(tx, mentor_list, collect_mentor, &m);
  for (size_t i = 0; !rc && i < m.n; i++)
    if (!(rc = announce(log, tx, m.id[i], now_ms, box_pub, sign_pub))) (*mentors)++;
  free(m.id);
  return rc;
}

/* ------------------------------------------------------------ import --- */

typedef struct devices {
  mls_device *d;
  size_t n, cap;
} devices;

static int collect_device(void *ud, const mls_device *d) {
  devices *v = ud;
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    mls_device *n = realloc(v->d, cap * sizeof *n);
    if (!n) return MLPROTO_ERR_OUT_OF_MEMORY;
    v->d = n;
    v->cap = cap;
  }
  v->d[v->n++] = *d;
  return 0;
}

static const mls_device *device_by_box(const devices *v, const uint8_t box[32]) {
  for (size_t i = 0; i < v->n; i++)
    if (memcmp(v->d[i].box_pub, box, 32) == 0) return &v->d[i];
  return NULL;
}

static int refuse(mls_escrow_import_info *info, size_t item, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(mls_escrow_import_info *info, size_t item, int rc, const char *fmt, ...) {
  info->failed_item = item;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(info->why, sizeof info->why, fmt, ap);
  va_end(ap);
  return rc;
}

/* The checks of one re-grant against the store and the escrow's tip. */
static int grant_check(mls_txn *tx, const devices *devs, const mlproto_record *r, size_t item,
                       const uint8_t sign_pub[32], mlproto_chain_tip *tip, uint8_t owner[16],
                       mls_escrow_import_info *info) {
  if (r->kind != MLPROTO_KIND_KEY_GRANT)
    return refuse(info, item, MLPROTO_ERR_KIND_NOT_ALLOWED, "a %s, not a KEY_GRANT",
                  mlproto_kind_name(r->kind));
  if (memcmp(r->author, sign_pub, 32) != 0)
    return refuse(info, item, MLPROTO_ERR_AUTHOR_MISMATCH,
                  "not signed by the configured escrow key (made with another escrow secret, "
                  "or before the escrow key was changed)");
  mlproto_chain_verdict v = mlproto_chain_check(tip, NULL, r);
  if (v == MLPROTO_CHAIN_NEED_HELD || v == MLPROTO_CHAIN_DUPLICATE || v == MLPROTO_CHAIN_FORK)
    return refuse(info, item, MLPROTO_ERR_ALREADY_EXISTS,
                  "seq %llu of the escrow is in the log already (imported before, or the file "
                  "was made from an older copy of the log: fetch it again and re-run regrant)",
                  (unsigned long long)r->seq);
  if (v == MLPROTO_CHAIN_GAP)
    return refuse(info, item, MLPROTO_ERR_SEQ_GAP, "seq %llu of the escrow follows seq %llu",
                  (unsigned long long)r->seq, (unsigned long long)tip->seq);
  if (v != MLPROTO_CHAIN_ACCEPT)
    return refuse(info, item, MLPROTO_ERR_PREV_MISMATCH,
                  "does not link to the escrow's previous record (the file was made from "
                  "another copy of the log)");
  int rc = MLS_TX(tx, case_owner, r->case_id, owner);
  if (rc == MLPROTO_ERR_NOT_FOUND) return refuse(info, item, rc, "no such case on this server");
  if (rc) return rc;
  uint64_t erased = 0;
  if ((rc = MLS_TX(tx, case_erased_get, r->case_id, &erased))) return rc;
  if (erased)
    return refuse(info, item, MLPROTO_ERR_CASE_ERASED, "the case was erased: its keys are gone");
  const Mentorlog__V1__KeyGrantDisclosed *kg = r->disclosed ? r->disclosed->key_grant : NULL;
  if (!kg) return refuse(info, item, MLPROTO_ERR_FIELD_MISSING, "a KEY_GRANT without its keys");
  for (size_t k = 0; k < kg->n_keys; k++) {
    const mls_device *d = device_by_box(devs, kg->keys[k]->recipient.data);
    if (!d || d->revoked_ms || memcmp(d->mentor_id, owner, 16) != 0)
      return refuse(info, item, MLPROTO_ERR_FORBIDDEN,
                    "recipient %zu is not an active device of the case's mentor", k + 1);
  }
  return MLPROTO_OK;
}

int mls_escrow_import(mls_log *log, mls_txn *tx, const uint8_t *file, size_t len, uint64_t now_ms,
                      mls_escrow_import_info *info) {
  memset(info, 0, sizeof *info);
  uint8_t box[32], sign[32];
  int rc = mls_escrow_get(tx, box, sign);
  if (rc == MLPROTO_ERR_NOT_FOUND)
    return refuse(info, 0, MLPROTO_ERR_NO_ESCROW_KEY, "no escrow key is configured (escrow-key set)");
  if (rc) return rc;
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, sign);
  if ((rc = MLS_TX(tx, author_head, sign, &tip.seq, tip.hash)) == MLPROTO_ERR_NOT_FOUND) {
    tip.seq = 0;
    memset(tip.hash, 0, 32);
    rc = MLPROTO_OK;
  }
  if (rc) return rc;
  devices devs = {0};
  if ((rc = MLS_TX(tx, device_list, collect_device, &devs))) {
    free(devs.d);
    return rc;
  }
  size_t off = 0, count = 0;
  const uint8_t *env;
  size_t env_len;
  while (!rc) {
    int more = mlproto_escrow_grants_next(file, len, &off, &count, &env, &env_len);
    if (more < 0) {
      rc = refuse(info, count + 1, more, "the re-grant file is %s at byte %zu",
                  more == MLPROTO_ERR_AUDIT_FILE_TRUNCATED ? "cut short" : "malformed", off);
      break;
    }
    if (!more) break;
    mlproto_record *r = NULL;
    if ((rc = mlproto_record_verify(&r, env, env_len))) {
      rc = refuse(info, count, rc, "the envelope does not verify: %s", mlproto_strerror(rc));
      break;
    }
    uint8_t owner[16];
    rc = grant_check(tx, &devs, r, count, sign, &tip, owner, info);
    if (!rc) {
      mls_log_entry e;
      memset(&e, 0, sizeof e);
      e.type = MLPROTO_LOG_DEVICE_RECORD;
      e.received_ms = now_ms;
      memcpy(e.record_hash, r->hash, 32);
      memcpy(e.author, r->author, 32);
      e.seq = r->seq;
      memcpy(e.record_id, r->record_id, 16);
      memcpy(e.case_id, r->case_id, 16);
      e.kind = (uint32_t)r->kind;
      e.has_mentor = 1;
      memcpy(e.mentor_id, owner, 16);
      e.envelope = env;
      e.envelope_len = env_len;
      rc = mls_log_append(log, tx, &e);
      if (rc == MLPROTO_ERR_ALREADY_EXISTS)
        rc = refuse(info, count, rc, "a record with this record id is in the log already");
    }
    if (!rc) {
      mlproto_chain_advance(&tip, r);
      info->grants++;
    }
    mlproto_record_free(r);
  }
  free(devs.d);
  return rc;
}
