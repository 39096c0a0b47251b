/* Key grants, approval and rotation (DESIGN §4).
 *
 * Who may receive case keys (ml__sync_dev_approved): the mentor's first
 * device; a device approved here after comparing its fingerprint; a device
 * named in a KEY_GRANT written by a device that was approved at that point
 * of the log. A revoked device never.
 *
 * Which grant this device takes: one sealed to its own box key, carrying a
 * key it does not hold yet, written by an approved device, by the author
 * of the case's CASE_OPEN (a device's own cases are its to share) or by the
 * escrow key the log announced (a re-grant to a mentor who lost every
 * device, docs/escrow.md; its recipients count as approved, as a grant by
 * an approved device makes them). Grants
 * are taken in log order as pages are applied, so the CASE_OPEN (written
 * before its first KEY_GRANT) is stored when its grant is judged.
 *
 * What it owes: every generation of every case key it holds, to every
 * approved, non-revoked device of the mentor (and to the escrow key, when
 * the organisation set one) that the log does not name for that key. The
 * grants table (case, recipient, key tag) remembers what the log names;
 * a grant this device is not a recipient of names its recipients with an
 * unknown tag (zeros), which counts for approval but not as a key given.
 * A KEY_GRANT it writes names every approved device and itself, so that
 * all of them learn who holds which key.
 *
 * Rotation: when the log says a device was revoked, every held case key
 * gets a new generation, granted to the remaining devices only; records
 * written from then on are sealed under it (records.c seals with the
 * newest), so the revoked device cannot read them. Several devices may
 * rotate for one revocation: each key they make is granted to all. */
#include "sync_int.h"

#include <sodium.h>
#include <string.h>

#define GRANT_MAX_KEYS 32 /* recipients per KEY_GRANT (wire limit) */
#define GENS_MAX 16       /* generations of one case key considered */

static const uint8_t unknown_tag[16];

static int grant_row(mentorlog *h, const uint8_t case_id[16], const uint8_t recipient[32], const uint8_t tag[16]) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_GRANT_ROW, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, recipient, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, tag, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "store grant");
  ml__stmt_put(st);
  return err;
}

static int case_opener(mentorlog *h, const uint8_t case_id[16], const uint8_t author[32], int *is) {
  *is = 0;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_CASE_OPENER, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32)
    *is = memcmp(sqlite3_column_blob(st, 0), author, 32) == 0;
  else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "find case");
  ml__stmt_put(st);
  return err;
}

static struct ml_sync_device *self_of(struct ml_sync_state *s) {
  for (size_t i = 0; i < s->n_devices; i++)
    if (s->devices[i].flags & ML_DEV_SELF)
      return &s->devices[i];
  return NULL;
}

static int case_erased(mentorlog *h, const uint8_t case_id[16], int *erased) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT 1 FROM erased_cases WHERE case_id = ?");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  *erased = rc == SQLITE_ROW;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "find case");
  sqlite3_finalize(st);
  return err;
}

int ml__grant_seen(mentorlog *h, struct ml_sync_state *s, const mlproto_record *r, uint32_t *taken) {
  if (r->kind != MLPROTO_KIND_KEY_GRANT || !r->disclosed || !r->disclosed->key_grant)
    return 0;
  const Mentorlog__V1__KeyGrantDisclosed *kg = r->disclosed->key_grant;
  int own = memcmp(r->author, h->sign_pk, 32) == 0;
  struct ml_sync_device *author = ml__sync_device(s, r->author);
  int approver = (author && ml__sync_dev_approved(author)) || (!author && ml__sync_is_escrow(s, r->author));
  /* The key, when sealed to this device: its tag names it for every
   * recipient (one KEY_GRANT carries one key). */
  uint8_t tag[16];
  memcpy(tag, unknown_tag, 16);
  mlproto_key *key = NULL;
  int err = 0;
  for (size_t i = 0; i < kg->n_keys && !key; i++) {
    const Mentorlog__V1__SealedKey *k = kg->keys[i];
    if (k->recipient.len != 32 || memcmp(k->recipient.data, h->box_pk, 32) != 0 ||
        k->sealed_key.len != MLPROTO_CASE_KEY_SEALEDBYTES)
      continue;
    err = mlproto_case_key_open(&key, k->sealed_key.data, h->box);
    if (err == MLPROTO_ERR_OUT_OF_MEMORY)
      return ml__fail(h, err, "out of memory");
    err = 0; /* a slot that does not open is a bad grant: it gives nothing */
  }
  if (key) {
    ml__casekey_tag(tag, key);
    int has = 0, trusted = own || approver, erased = 0;
    if (!trusted)
      err = case_opener(h, r->case_id, r->author, &trusted);
    if (!err)
      err = case_erased(h, r->case_id, &erased);
    if (!err && trusted && !erased && !own)
      err = ml__casekey_has_tag(h, r->case_id, tag, &has);
    if (!err && trusted && !erased && !own && !has) {
      err = ml__casekey_store(h, r->case_id, key, NULL);
      if (!err && taken)
        (*taken)++;
    }
    mlproto_key_free(key);
  }
  for (size_t i = 0; !err && i < kg->n_keys; i++) {
    const Mentorlog__V1__SealedKey *k = kg->keys[i];
    if (k->recipient.len != 32)
      continue;
    err = grant_row(h, r->case_id, k->recipient.data, tag);
    struct ml_sync_device *d = ml__sync_device_box(s, k->recipient.data);
    if (!err && approver && d && d != author)
      d->flags |= ML_DEV_GRANTED;
  }
  return err;
}

/* The case ids whose key this device holds (not erased), in a new array. */
static int held_cases(mentorlog *h, uint8_t (**out)[16], size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT DISTINCT case_id FROM case_keys k WHERE NOT EXISTS"
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

/* Every approved, non-revoked other device, then the escrow key: rcpt[],
 * and how many of them the log does not name for the key with this tag. */
static int recipients(mentorlog *h, struct ml_sync_state *s, const uint8_t case_id[16], const uint8_t tag[16],
                      uint8_t (*rcpt)[32], size_t *n, size_t *owed) {
  *n = *owed = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT 1 FROM grants WHERE case_id = ? AND recipient = ? AND tag = ?");
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
    memcpy(rcpt[(*n)++], box, 32);
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, box, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, tag, 16, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
      (*owed)++;
    else if (rc != SQLITE_ROW)
      err = ml__sqlite_err(h, rc, "read grants");
  }
  sqlite3_finalize(st);
  return err;
}

/* One KEY_GRANT of key k (of case_id) to rcpt[0..n) and this device. */
static int grant_write(mentorlog *h, struct ml_sync_state *s, const uint8_t case_id[16], const mlproto_key *k,
                       const uint8_t tag[16], uint8_t (*rcpt)[32], size_t n) {
  Mentorlog__V1__SealedKey sk[GRANT_MAX_KEYS], *skp[GRANT_MAX_KEYS];
  uint8_t sealed[GRANT_MAX_KEYS][MLPROTO_CASE_KEY_SEALEDBYTES];
  int err = 0;
  for (size_t i = 0; !err && i < n; i++) {
    sk[i] = (Mentorlog__V1__SealedKey)MENTORLOG__V1__SEALED_KEY__INIT;
    if ((err = mlproto_case_key_seal(sealed[i], k, rcpt[i])))
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
  struct ml_sync_device *self = self_of(s);
  int approver = self && ml__sync_dev_approved(self);
  for (size_t i = 0; !err && i < n; i++) {
    if (!(err = grant_row(h, case_id, rcpt[i], tag))) {
      struct ml_sync_device *dev = ml__sync_device_box(s, rcpt[i]);
      if (dev && approver && dev != self)
        dev->flags |= ML_DEV_GRANTED;
    }
  }
  sodium_memzero(sealed, sizeof sealed);
  return err;
}

/* For every generation of every held case key: what is owed, written when
 * write is set, counted in *count (grants when writing, recipients else). */
static int owed_walk(mentorlog *h, struct ml_sync_state *s, int write, uint32_t *count) {
  *count = 0;
  uint8_t(*cases)[16] = NULL;
  size_t nc = 0;
  int err = held_cases(h, &cases, &nc);
  uint8_t rcpt[ML_SYNC_MAX_DEVICES + 2][32];
  for (size_t c = 0; !err && c < nc; c++) {
    int64_t gens[GENS_MAX];
    size_t ng = 0;
    if ((err = ml__casekey_gens(h, cases[c], gens, GENS_MAX, &ng)))
      break;
    for (size_t g = 0; !err && g < ng; g++) {
      const mlproto_key *k = NULL;
      if ((err = ml__casekey_gen(h, cases[c], gens[g], &k)))
        break;
      uint8_t tag[16];
      ml__casekey_tag(tag, k);
      size_t n, owed;
      if ((err = recipients(h, s, cases[c], tag, rcpt + 1, &n, &owed)) || !owed)
        continue;
      if (!write) {
        *count += (uint32_t)owed;
        continue;
      }
      /* this device first: the others learn that it holds the key */
      memcpy(rcpt[0], h->box_pk, 32);
      n++;
      for (size_t off = 0; !err && off < n; off += GRANT_MAX_KEYS) {
        size_t m = n - off < GRANT_MAX_KEYS ? n - off : GRANT_MAX_KEYS;
        if (!(err = grant_write(h, s, cases[c], k, tag, rcpt + off, m)))
          (*count)++;
      }
    }
  }
  mlproto_free(cases);
  return err;
}

/* A new generation of every held case key for each revoked device not
 * rotated for yet. */
static int rotate(mentorlog *h, struct ml_sync_state *s) {
  /* only for a device that may have held keys (a device revoked before
   * anyone approved it never had one) */
  int need = 0;
  for (size_t i = 0; i < s->n_devices; i++) {
    unsigned f = s->devices[i].flags;
    if ((f & ML_DEV_REVOKED) && !(f & (ML_DEV_ROTATED | ML_DEV_SELF)) &&
        (f & (ML_DEV_FIRST | ML_DEV_APPROVED | ML_DEV_GRANTED)))
      need = 1;
  }
  if (!need)
    return 0;
  uint8_t(*cases)[16] = NULL;
  size_t nc = 0;
  int err = held_cases(h, &cases, &nc);
  for (size_t c = 0; !err && c < nc; c++) {
    mlproto_key *k = NULL;
    if ((err = mlproto_key_generate(&k, MLPROTO_KEY_CASE))) {
      err = ml__fail(h, err, "case key");
      break;
    }
    err = ml__casekey_store(h, cases[c], k, NULL);
    mlproto_key_free(k);
  }
  mlproto_free(cases);
  for (size_t i = 0; !err && i < s->n_devices; i++)
    if (s->devices[i].flags & ML_DEV_REVOKED)
      s->devices[i].flags |= ML_DEV_ROTATED;
  return err;
}

int ml__grants_write(mentorlog *h, struct ml_sync_state *s, uint32_t *written) {
  *written = 0;
  int err = rotate(h, s);
  return err ? err : owed_walk(h, s, 1, written);
}

int ml__grants_pending(mentorlog *h, struct ml_sync_state *s, uint32_t *n) {
  return owed_walk(h, s, 0, n);
}
