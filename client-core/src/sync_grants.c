/* Key grants and device approval (DESIGN §4).
 *
 * Who may receive case keys (ml__sync_dev_approved): the mentor's first
 * device; a device approved here after comparing its fingerprint; a device
 * named in a KEY_GRANT written by a device approved at that point of the
 * log. A revoked device never.
 *
 * Which grant this device accepts: one sealed to its own box key, for a
 * case it holds no key of, written by an approved device or by the author
 * of the case's CASE_OPEN (a device's own cases are its to share). Grants
 * are accepted after a pull has stored the records they depend on.
 *
 * What it owes: every case key it holds, to every approved, non-revoked
 * device of the mentor (and to the escrow key, when the organisation set
 * one) that no KEY_GRANT in the log names yet for that case. The grants
 * table (case_id, recipient box key) remembers what the log names. */
#include "sync_int.h"

#include <sodium.h>
#include <string.h>

#define GRANT_MAX_KEYS 32 /* recipients per KEY_GRANT (wire limit) */

static int grant_row(mentorlog *h, const uint8_t case_id[16], const uint8_t recipient[32]) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "INSERT OR IGNORE INTO grants(case_id, recipient) VALUES (?,?)");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, recipient, 32, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "store grant");
  sqlite3_finalize(st);
  return err;
}

int ml__grant_seen(mentorlog *h, struct ml_sync_state *s, const mlproto_record *r) {
  if (r->kind != MLPROTO_KIND_KEY_GRANT || !r->disclosed || !r->disclosed->key_grant)
    return 0;
  const Mentorlog__V1__KeyGrantDisclosed *kg = r->disclosed->key_grant;
  struct ml_sync_device *author = ml__sync_device(s, r->author);
  int approver = author && ml__sync_dev_approved(author);
  int err = 0;
  for (size_t i = 0; !err && i < kg->n_keys; i++) {
    const Mentorlog__V1__SealedKey *k = kg->keys[i];
    if (k->recipient.len != 32)
      continue;
    err = grant_row(h, r->case_id, k->recipient.data);
    struct ml_sync_device *d = ml__sync_device_box(s, k->recipient.data);
    if (!err && approver && d && d != author)
      d->flags |= ML_DEV_GRANTED;
  }
  return err;
}

static int case_opener(mentorlog *h, const uint8_t case_id[16], uint8_t author[32], int *found) {
  *found = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT author FROM records WHERE case_id = ? AND kind = 1 ORDER BY rid LIMIT 1");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
    memcpy(author, sqlite3_column_blob(st, 0), 32);
    *found = 1;
  } else if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    err = ml__sqlite_err(h, rc, "find case");
  }
  sqlite3_finalize(st);
  return err;
}

/* Take the key of grant r when it is addressed to this device and trusted. */
static int grant_take(mentorlog *h, struct ml_sync_state *s, const mlproto_record *r, int *taken) {
  *taken = 0;
  if (!r->disclosed || !r->disclosed->key_grant)
    return 0;
  struct ml_sync_device *author = ml__sync_device(s, r->author);
  if (!author || (author->flags & ML_DEV_SELF))
    return 0;
  if (!ml__sync_dev_approved(author)) {
    uint8_t opener[32];
    int found;
    int err = case_opener(h, r->case_id, opener, &found);
    if (err)
      return err;
    if (!found || memcmp(opener, r->author, 32) != 0)
      return 0;
  }
  const Mentorlog__V1__KeyGrantDisclosed *kg = r->disclosed->key_grant;
  for (size_t i = 0; i < kg->n_keys; i++) {
    const Mentorlog__V1__SealedKey *k = kg->keys[i];
    if (k->recipient.len != 32 || memcmp(k->recipient.data, h->box_pk, 32) != 0 ||
        k->sealed_key.len != MLPROTO_CASE_KEY_SEALEDBYTES)
      continue;
    mlproto_key *ck = NULL;
    int err = mlproto_case_key_open(&ck, k->sealed_key.data, h->box);
    if (err == MLPROTO_ERR_OUT_OF_MEMORY)
      return ml__fail(h, err, "out of memory");
    if (err)
      continue; /* not sealed to this key after all: a bad grant opens nothing */
    err = ml__casekey_store(h, r->case_id, ck);
    mlproto_key_free(ck);
    if (err)
      return err;
    *taken = 1;
    return 0;
  }
  return 0;
}

int ml__grants_accept(mentorlog *h, struct ml_sync_state *s, uint32_t *accepted) {
  *accepted = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st,
                        "SELECT record_id, envelope, hash FROM records r WHERE kind = 8 AND NOT EXISTS"
                        " (SELECT 1 FROM case_keys k WHERE k.case_id = r.case_id) AND NOT EXISTS"
                        " (SELECT 1 FROM erased_cases e WHERE e.case_id = r.case_id) ORDER BY rid");
  if (err)
    return err;
  int rc;
  /* A key stored while the statement runs does not stop it: the later
   * grants of that case are skipped below (the key is there). */
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    mlproto_record *r = NULL;
    if ((err = ml__row_record(h, st, 0, 1, 2, &r)))
      break;
    const mlproto_key *have = NULL;
    int k = ml__casekey(h, r->case_id, &have);
    int taken = 0;
    if (k == MLPROTO_ERR_NO_CASE_KEY && !(err = grant_take(h, s, r, &taken)) && taken)
      (*accepted)++;
    else if (k && k != MLPROTO_ERR_NO_CASE_KEY && k != MLPROTO_ERR_CASE_ERASED)
      err = k;
    mlproto_record_free(r);
  }
  if (!err && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read grants");
  sqlite3_finalize(st);
  return err;
}

/* Recipients owed a key of case_id: approved devices and the escrow key
 * without a grants row. */
static int owed(mentorlog *h, struct ml_sync_state *s, const uint8_t case_id[16], uint8_t (*out)[32],
                size_t *n) {
  *n = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT 1 FROM grants WHERE case_id = ? AND recipient = ?");
  if (err)
    return err;
  for (size_t i = 0; !err && i <= s->n_devices; i++) {
    const uint8_t *box;
    if (i < s->n_devices) {
      const struct ml_sync_device *d = &s->devices[i];
      if ((d->flags & ML_DEV_SELF) || !ml__sync_dev_approved(d))
        continue;
      box = d->box_pub;
    } else if (s->has_escrow) {
      box = s->escrow_pub;
    } else {
      break;
    }
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, box, 32, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      memcpy(out[(*n)++], box, 32);
    else if (rc != SQLITE_ROW)
      err = ml__sqlite_err(h, rc, "read grants");
  }
  sqlite3_finalize(st);
  return err;
}

/* The case ids whose key this device holds (not erased), in a new array. */
static int held_cases(mentorlog *h, uint8_t (**out)[16], size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT case_id FROM case_keys k WHERE NOT EXISTS"
                                " (SELECT 1 FROM erased_cases e WHERE e.case_id = k.case_id) ORDER BY case_id");
  if (err)
    return err;
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 0) != 16)
      continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 64;
      uint8_t(*nv)[16] = mlproto_realloc(*out, cap * 16);
      if (!nv) {
        err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
        break;
      }
      *out = nv;
    }
    memcpy((*out)[(*n)++], sqlite3_column_blob(st, 0), 16);
  }
  if (!err && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read case keys");
  sqlite3_finalize(st);
  if (err) {
    mlproto_free(*out);
    *out = NULL;
    *n = 0;
  }
  return err;
}

int ml__grants_pending(mentorlog *h, struct ml_sync_state *s, uint32_t *total) {
  *total = 0;
  uint8_t(*cases)[16] = NULL;
  size_t nc = 0;
  int err = held_cases(h, &cases, &nc);
  uint8_t rcpt[ML_SYNC_MAX_DEVICES + 1][32];
  for (size_t c = 0; !err && c < nc; c++) {
    size_t n;
    if (!(err = owed(h, s, cases[c], rcpt, &n)))
      *total += (uint32_t)n;
  }
  mlproto_free(cases);
  return err;
}

static int grant_write(mentorlog *h, struct ml_sync_state *s, const uint8_t case_id[16],
                       uint8_t (*rcpt)[32], size_t n) {
  const mlproto_key *ck = NULL;
  int err = ml__casekey(h, case_id, &ck);
  if (err)
    return err;
  Mentorlog__V1__SealedKey sk[GRANT_MAX_KEYS], *skp[GRANT_MAX_KEYS];
  uint8_t sealed[GRANT_MAX_KEYS][MLPROTO_CASE_KEY_SEALEDBYTES];
  for (size_t i = 0; !err && i < n; i++) {
    sk[i] = (Mentorlog__V1__SealedKey)MENTORLOG__V1__SEALED_KEY__INIT;
    if ((err = mlproto_case_key_seal(sealed[i], ck, rcpt[i])))
      err = ml__fail(h, err, "seal case key");
    sk[i].recipient = (ProtobufCBinaryData){32, rcpt[i]};
    sk[i].sealed_key = (ProtobufCBinaryData){MLPROTO_CASE_KEY_SEALEDBYTES, sealed[i]};
    skp[i] = &sk[i];
  }
  if (!err) {
    Mentorlog__V1__KeyGrantDisclosed kg = MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
    kg.n_keys = n;
    kg.keys = skp;
    mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
    d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT;
    d.key_grant = &kg;
    struct ml_write w = {.kind = MLPROTO_KIND_KEY_GRANT, .case_id = case_id, .disclosed = &d};
    err = ml__append(h, &w, NULL);
  }
  for (size_t i = 0; !err && i < n; i++) {
    if (!(err = grant_row(h, case_id, rcpt[i]))) {
      struct ml_sync_device *dev = ml__sync_device_box(s, rcpt[i]);
      struct ml_sync_device *self = NULL;
      for (size_t j = 0; j < s->n_devices; j++)
        if (s->devices[j].flags & ML_DEV_SELF)
          self = &s->devices[j];
      if (dev && self && ml__sync_dev_approved(self))
        dev->flags |= ML_DEV_GRANTED;
    }
  }
  sodium_memzero(sealed, sizeof sealed);
  return err;
}

int ml__grants_write(mentorlog *h, struct ml_sync_state *s, uint32_t *written) {
  *written = 0;
  uint8_t(*cases)[16] = NULL;
  size_t nc = 0;
  int err = held_cases(h, &cases, &nc);
  uint8_t rcpt[ML_SYNC_MAX_DEVICES + 1][32];
  for (size_t c = 0; !err && c < nc; c++) {
    size_t n;
    if ((err = owed(h, s, cases[c], rcpt, &n)))
      break;
    for (size_t off = 0; !err && off < n; off += GRANT_MAX_KEYS) {
      size_t k = n - off < GRANT_MAX_KEYS ? n - off : GRANT_MAX_KEYS;
      if (!(err = grant_write(h, s, cases[c], rcpt + off, k)))
        (*written)++;
    }
  }
  mlproto_free(cases);
  return err;
}
