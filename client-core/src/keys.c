/* Device keys: creation, wrapping under the passphrase/keystore key, rekey;
 * case keys wrapped under the storage key. All crypto is protocol's suite
 * (mlproto/crypto.h): Argon2id, mlproto_wrap, typed keys. */
#include "internal.h"

#include <sodium.h>
#include <string.h>

#define KDF_RAW 255 /* the key came from a platform keystore: no KDF */
#define PURPOSE_DEVICE "device-keys"
#define PURPOSE_CASE "case-key"
#define SECRETS_BYTES (3 * MLPROTO_KEY_SECRETBYTES) /* sign seed, box sk, storage */
#define WRAPPED_BYTES (SECRETS_BYTES + MLPROTO_WRAP_OVERHEAD)

/* MENTORLOG_KDF=fast (tests only): libsodium's minimum opslimit, 8 MiB.
 * Compiled in only with the CMake option ML_INSECURE_FAST_KDF=ON, which
 * defines MENTORLOG_INSECURE_FAST_KDF: a release build cannot write a
 * profile that is cheap to brute-force. (Opening one still works: the
 * stored parameters are used, and mentorlog_profile_info_get reports them
 * as weak.) */
#define FAST_OPS 1u
#define FAST_MEM (8u << 20)
#ifdef MENTORLOG_INSECURE_FAST_KDF
#define FAST_KDF_BUILT_IN 1
#else
#define FAST_KDF_BUILT_IN 0
#endif

int mentorlog_kdf_available(int kdf) {
  switch (kdf) {
  case MENTORLOG_KDF_INTERACTIVE:
  case MENTORLOG_KDF_MODERATE:
    return 1;
  case MENTORLOG_KDF_FAST_INSECURE:
    return FAST_KDF_BUILT_IN;
  default:
    return 0;
  }
}

struct kdf {
  int kind; /* mentorlog_kdf or KDF_RAW */
  mlproto_kdf_params p;
};

static int kdf_choose(mentorlog *h, const mentorlog_open_options *o, struct kdf *k) {
  if (!o || o->version < 1 || o->version > MENTORLOG_OPEN_OPTIONS_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "open options: wrong version");
  if ((o->passphrase == NULL) == (o->key == NULL))
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "give either a passphrase or a key");
  mlproto_kdf_params_interactive(&k->p); /* also draws a fresh salt */
  if (o->key) {
    k->kind = KDF_RAW;
    k->p.opslimit = k->p.memlimit = 0;
    return 0;
  }
  if (o->passphrase_len < MENTORLOG_PASSPHRASE_MIN || o->passphrase_len > MENTORLOG_PASSPHRASE_MAX)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "a new passphrase must be %d..%d bytes",
                    MENTORLOG_PASSPHRASE_MIN, MENTORLOG_PASSPHRASE_MAX);
  k->kind = o->kdf;
  switch (o->kdf) {
  case MENTORLOG_KDF_INTERACTIVE:
    break;
  case MENTORLOG_KDF_MODERATE: {
    uint8_t salt[MLPROTO_KDF_SALTBYTES];
    memcpy(salt, k->p.salt, sizeof salt);
    mlproto_kdf_params_moderate(&k->p);
    memcpy(k->p.salt, salt, sizeof salt);
    break;
  }
  case MENTORLOG_KDF_FAST_INSECURE:
    if (!FAST_KDF_BUILT_IN)
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT,
                      "the fast test KDF (MENTORLOG_KDF=fast) is not available in this build "
                      "(only test builds with ML_INSECURE_FAST_KDF=ON have it); use the default");
    k->p.opslimit = FAST_OPS;
    k->p.memlimit = FAST_MEM;
    break;
  default:
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "unknown KDF setting");
  }
  return 0;
}

int ml__keyring_check(mentorlog *h, const mentorlog_open_options *o) {
  struct kdf k;
  int err = kdf_choose(h, o, &k);
  sodium_memzero(&k, sizeof k);
  return err;
}

/* The key-encryption key for the secret in o under k. */
static int kek_derive(mentorlog *h, const mentorlog_open_options *o, const struct kdf *k,
                      mlproto_key **kek) {
  int err;
  if (k->kind == KDF_RAW) {
    if (!o->key)
      return ml__fail(h, MLPROTO_ERR_WRONG_PASSPHRASE, "this profile is unlocked by a keystore key, not a passphrase");
    err = mlproto_key_import(kek, MLPROTO_KEY_WRAP, o->key, MENTORLOG_KEY_BYTES);
  } else {
    if (!o->passphrase)
      return ml__fail(h, MLPROTO_ERR_WRONG_PASSPHRASE, "this profile is unlocked by a passphrase, not a key");
    err = mlproto_kdf_argon2id(kek, o->passphrase, o->passphrase_len, &k->p);
    if (err == MLPROTO_ERR_FIELD_RANGE)
      return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "stored key derivation parameters out of range");
  }
  return err ? ml__fail(h, err, "key derivation: %s", mlproto_strerror(err)) : 0;
}

/* Wrap the device's secrets under the secret in o; INSERT OR REPLACE. */
static int keyring_store(mentorlog *h, const mentorlog_open_options *o) {
  struct kdf k;
  mlproto_key *kek = NULL;
  int err = kdf_choose(h, o, &k);
  if (err || (err = kek_derive(h, o, &k, &kek)))
    return err;
  uint8_t secrets[SECRETS_BYTES], wrapped[WRAPPED_BYTES];
  size_t wlen;
  mlproto_key_export(secrets, h->sign);
  mlproto_key_export(secrets + 32, h->box);
  mlproto_key_export(secrets + 64, h->storage);
  err = mlproto_wrap(wrapped, sizeof wrapped, &wlen, kek, PURPOSE_DEVICE, secrets, sizeof secrets);
  sodium_memzero(secrets, sizeof secrets);
  mlproto_key_free(kek);
  if (err)
    return ml__fail(h, err, "wrap device keys");
  sqlite3_stmt *st;
  if ((err = ml__prepare(h, &st, "INSERT OR REPLACE INTO keyring VALUES (1,?,?,?,?,?,?,?)")))
    return err;
  sqlite3_bind_int(st, 1, k.kind);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)k.p.opslimit);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)k.p.memlimit);
  sqlite3_bind_blob(st, 4, k.p.salt, sizeof k.p.salt, SQLITE_STATIC);
  sqlite3_bind_blob(st, 5, wrapped, (int)wlen, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, h->sign_pk, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 7, h->box_pk, 32, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "store keys");
  sqlite3_finalize(st);
  return err;
}

static int publics(mentorlog *h) {
  if (mlproto_key_public(h->sign_pk, h->sign) || mlproto_key_public(h->box_pk, h->box))
    return ml__fail(h, MLPROTO_ERR_INTERNAL, "device keys");
  return 0;
}

int ml__keyring_create(mentorlog *h, const mentorlog_open_options *o) {
  int err;
  if ((err = mlproto_key_generate(&h->sign, MLPROTO_KEY_SIGN)) ||
      (err = mlproto_key_generate(&h->box, MLPROTO_KEY_BOX)) ||
      (err = mlproto_key_generate(&h->storage, MLPROTO_KEY_WRAP)))
    return ml__fail(h, err, "generate device keys");
  if ((err = publics(h)))
    return err;
  return keyring_store(h, o);
}

int ml__keyring_rewrap(mentorlog *h, const mentorlog_open_options *o) { return keyring_store(h, o); }

static int blob_copy(sqlite3_stmt *st, int col, uint8_t *dst, size_t len) {
  if ((size_t)sqlite3_column_bytes(st, col) != len)
    return -1;
  const void *b = sqlite3_column_blob(st, col);
  if (!b)
    return -1;
  memcpy(dst, b, len);
  return 0;
}

int ml__keyring_unlock(mentorlog *h, const mentorlog_open_options *o) {
  if (!o || o->version < 1 || o->version > MENTORLOG_OPEN_OPTIONS_VERSION ||
      (o->passphrase == NULL) == (o->key == NULL))
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "give either a passphrase or a key");
  if (o->passphrase && (o->passphrase_len == 0 || o->passphrase_len > MENTORLOG_PASSPHRASE_MAX))
    return ml__fail(h, MLPROTO_ERR_WRONG_PASSPHRASE, "wrong passphrase");
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT kdf, opslimit, memlimit, salt, wrapped, sign_pk, box_pk FROM keyring WHERE id = 1");
  if (err)
    return err == MLPROTO_ERR_INTERNAL ? ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the profile has no key table") : err;
  struct kdf k;
  uint8_t wrapped[WRAPPED_BYTES], pk[2][32];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    k.kind = sqlite3_column_int(st, 0);
    k.p.opslimit = (uint64_t)sqlite3_column_int64(st, 1);
    k.p.memlimit = (uint64_t)sqlite3_column_int64(st, 2);
    if (blob_copy(st, 3, k.p.salt, sizeof k.p.salt) || blob_copy(st, 4, wrapped, sizeof wrapped) ||
        blob_copy(st, 5, pk[0], 32) || blob_copy(st, 6, pk[1], 32))
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the key record of the profile is damaged");
  } else if (rc == SQLITE_DONE) {
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the profile has no keys (interrupted init?)");
  } else {
    err = ml__sqlite_err(h, rc, "read keys");
  }
  sqlite3_finalize(st);
  if (err)
    return err;
  mlproto_key *kek = NULL;
  if ((err = kek_derive(h, o, &k, &kek)))
    return err;
  uint8_t secrets[SECRETS_BYTES];
  size_t slen = 0;
  err = mlproto_unwrap(secrets, sizeof secrets, &slen, kek, PURPOSE_DEVICE, wrapped, sizeof wrapped);
  mlproto_key_free(kek);
  if (err == MLPROTO_ERR_WRONG_PASSPHRASE)
    return ml__fail(h, err, "wrong passphrase");
  if (err || slen != sizeof secrets) {
    sodium_memzero(secrets, sizeof secrets);
    return ml__fail(h, err ? err : MLPROTO_ERR_PROFILE_CORRUPT, "unwrap device keys");
  }
  if ((err = mlproto_key_import(&h->sign, MLPROTO_KEY_SIGN, secrets, 32)) ||
      (err = mlproto_key_import(&h->box, MLPROTO_KEY_BOX, secrets + 32, 32)) ||
      (err = mlproto_key_import(&h->storage, MLPROTO_KEY_WRAP, secrets + 64, 32)))
    err = ml__fail(h, err, "import device keys");
  sodium_memzero(secrets, sizeof secrets);
  if (err || (err = publics(h)))
    return err;
  /* The public halves stored beside must belong to the secret ones. */
  if (memcmp(pk[0], h->sign_pk, 32) != 0 || memcmp(pk[1], h->box_pk, 32) != 0)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "device keys do not match their public halves");
  return 0;
}

/* The case-key cache as a transaction participant: keys read inside a
 * transaction that rolls back may be undone (a case opened, then undone). */
static void casekey_tx_rollback(mentorlog *h, bool batch) {
  (void)batch;
  ml__casekey_flush(h, NULL);
}

const struct ml_txpart ml__casekey_txpart = {"case keys", NULL, NULL, casekey_tx_rollback};

int ml__casekey_store(mentorlog *h, const uint8_t case_id[16], const mlproto_key *key, int64_t *gen_out) {
  uint8_t wrapped[MLPROTO_WRAPPED_KEY_BYTES];
  int err = mlproto_key_wrap(wrapped, h->storage, PURPOSE_CASE, key);
  if (err)
    return ml__fail(h, err, "wrap case key");
  sqlite3_stmt *st;
  uint8_t tag[16];
  ml__casekey_tag(tag, key);
  if ((err = ml__prepare(h, &st, "INSERT INTO case_keys(case_id, gen, tag, wrapped) VALUES (?1,"
                                 " (SELECT coalesce(max(gen) + 1, 0) FROM case_keys WHERE case_id = ?1), ?3, ?2)"
                                 " RETURNING gen")))
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, wrapped, sizeof wrapped, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, tag, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && gen_out)
    *gen_out = sqlite3_column_int64(st, 0);
  if (rc == SQLITE_ROW)
    rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "store case key");
  sqlite3_finalize(st);
  sodium_memzero(wrapped, sizeof wrapped);
  ml__casekey_flush(h, case_id); /* the newest generation changed */
  return err;
}

/* Load generation gen (< 0: the newest) of a case's key. */
static int casekey_load(mentorlog *h, const uint8_t case_id[16], int64_t gen, mlproto_key **out,
                        int64_t *gen_out) {
  *out = NULL;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_CASEKEY_GET, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, gen);
  uint8_t wrapped[MLPROTO_WRAPPED_KEY_BYTES];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *gen_out = sqlite3_column_int64(st, 1);
    if (blob_copy(st, 0, wrapped, sizeof wrapped))
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a case key is damaged");
  } else if (rc == SQLITE_DONE && gen >= 0) {
    ml__stmt_put(st);
    return ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no such generation of the case key");
  } else if (rc == SQLITE_DONE) {
    /* No key: destroyed by an erasure, or never granted to this device. */
    ml__stmt_put(st);
    sqlite3_stmt *e;
    if ((err = ml__prepare(h, &e, "SELECT 1 FROM erased_cases WHERE case_id = ?")))
      return err;
    sqlite3_bind_blob(e, 1, case_id, 16, SQLITE_STATIC);
    rc = sqlite3_step(e);
    sqlite3_finalize(e);
    if (rc == SQLITE_ROW)
      return ml__fail(h, MLPROTO_ERR_CASE_ERASED, "the case key is gone (case erased)");
    if (rc == SQLITE_DONE)
      return ml__fail(h, MLPROTO_ERR_NO_CASE_KEY,
                      "this device holds no key for the case (another device must approve it)");
    return ml__sqlite_err(h, rc, "read case key");
  } else {
    err = ml__sqlite_err(h, rc, "read case key");
  }
  ml__stmt_put(st);
  if (err)
    return err;
  err = mlproto_key_unwrap(out, MLPROTO_KEY_CASE, h->storage, PURPOSE_CASE, wrapped);
  sodium_memzero(wrapped, sizeof wrapped);
  if (err == MLPROTO_ERR_WRONG_PASSPHRASE)
    err = MLPROTO_ERR_PROFILE_CORRUPT;
  return err ? ml__fail(h, err, "a case key does not open") : 0;
}

/* gen < 0: the newest generation. */
static int casekey_cached(mentorlog *h, const uint8_t case_id[16], int64_t gen, const mlproto_key **out) {
  *out = NULL;
  struct ml_casekey *slot = NULL;
  for (size_t i = 0; i < ML_CASEKEY_CACHE; i++) {
    struct ml_casekey *c = &h->casekeys[i];
    int same = c->key && memcmp(c->case_id, case_id, 16) == 0;
    if (same && (gen < 0 ? c->newest : c->gen == gen)) {
      c->used = ++h->casekey_tick;
      *out = c->key;
      return 0;
    }
    /* never evict the newest key of this case: a caller opening an old
     * record of it holds that one borrowed */
    if (same && c->newest)
      continue;
    /* a free slot, else the least recently used */
    if (!slot || (slot->key && (!c->key || c->used < slot->used)))
      slot = c;
  }
  mlproto_key *k = NULL;
  int64_t got = 0;
  int err = casekey_load(h, case_id, gen, &k, &got);
  if (err)
    return err;
  mlproto_key_free(slot->key); /* wipes */
  memcpy(slot->case_id, case_id, 16);
  slot->key = k;
  slot->gen = got;
  slot->newest = gen < 0;
  slot->used = ++h->casekey_tick;
  *out = k;
  return 0;
}

int ml__casekey(mentorlog *h, const uint8_t case_id[16], const mlproto_key **out) {
  return casekey_cached(h, case_id, -1, out);
}

int ml__casekey_gen(mentorlog *h, const uint8_t case_id[16], int64_t gen, const mlproto_key **out) {
  return casekey_cached(h, case_id, gen < 0 ? 0 : gen, out);
}

int ml__casekey_gens(mentorlog *h, const uint8_t case_id[16], int64_t *gens, size_t cap, size_t *n) {
  *n = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT gen FROM case_keys WHERE case_id = ? ORDER BY gen DESC");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
    gens[(*n)++] = sqlite3_column_int64(st, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read case keys");
  sqlite3_finalize(st);
  return err;
}

void ml__casekey_tag(uint8_t tag[16], const mlproto_key *k) {
  static const char msg[] = "mentorlog/case-key-tag/v1";
  uint8_t raw[MLPROTO_KEY_SECRETBYTES];
  mlproto_key_export(raw, k);
  crypto_generichash(tag, 16, (const uint8_t *)msg, sizeof msg - 1, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
}

int ml__casekey_has_tag(mentorlog *h, const uint8_t case_id[16], const uint8_t tag[16], int *has) {
  *has = 0;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT 1 FROM case_keys WHERE case_id = ? AND tag = ?");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, tag, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *has = 1;
  else if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read case keys");
  sqlite3_finalize(st);
  return err;
}

int ml__casekey_tag_all(mentorlog *h) {
  sqlite3_stmt *sel = NULL, *up = NULL;
  int err;
  if ((err = ml__prepare(h, &sel, "SELECT case_id, gen, wrapped FROM case_keys")) ||
      (err = ml__prepare(h, &up, "UPDATE case_keys SET tag = ? WHERE case_id = ? AND gen = ?")))
    goto out;
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    uint8_t wrapped[MLPROTO_WRAPPED_KEY_BYTES], tag[16];
    mlproto_key *k = NULL;
    if (blob_copy(sel, 2, wrapped, sizeof wrapped) ||
        mlproto_key_unwrap(&k, MLPROTO_KEY_CASE, h->storage, PURPOSE_CASE, wrapped) != 0) {
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a case key does not open");
      goto out;
    }
    ml__casekey_tag(tag, k);
    mlproto_key_free(k);
    sqlite3_reset(up);
    sqlite3_bind_blob(up, 1, tag, 16, SQLITE_STATIC);
    sqlite3_bind_value(up, 2, sqlite3_column_value(sel, 0));
    sqlite3_bind_value(up, 3, sqlite3_column_value(sel, 1));
    if ((rc = sqlite3_step(up)) != SQLITE_DONE) {
      err = ml__sqlite_err(h, rc, "tag case keys");
      goto out;
    }
  }
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "tag case keys");
out:
  sqlite3_finalize(sel);
  sqlite3_finalize(up);
  return err;
}

void ml__casekey_flush(mentorlog *h, const uint8_t *case_id) {
  for (size_t i = 0; i < ML_CASEKEY_CACHE; i++) {
    struct ml_casekey *c = &h->casekeys[i];
    if (c->key && (!case_id || memcmp(c->case_id, case_id, 16) == 0)) {
      mlproto_key_free(c->key);
      c->key = NULL;
    }
  }
}

/* ------------------------------------------------------- profile info */

void mentorlog_profile_info_init(mentorlog_profile_info *info) {
  *info = (mentorlog_profile_info)MENTORLOG_PROFILE_INFO_INIT;
}

int mentorlog_profile_info_get(mentorlog *h, mentorlog_profile_info *out) {
  if (!h || !out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int version = out->version;
  if (version < 1 || version > MENTORLOG_PROFILE_INFO_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "profile info: unknown version %d", version);
  /* Version 1 is the whole struct; a later version fills only the fields
   * of the version the caller was compiled with. */
  *out = (mentorlog_profile_info){.version = version};
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT kdf, opslimit, memlimit FROM keyring WHERE id = 1");
  if (err)
    return err;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    int kind = sqlite3_column_int(st, 0);
    sqlite3_int64 ops = sqlite3_column_int64(st, 1), mem = sqlite3_column_int64(st, 2);
    if (kind == KDF_RAW) {
      out->keystore = 1;
    } else if (ops <= 0 || mem <= 0) {
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "stored key derivation parameters out of range");
    } else {
      mlproto_kdf_params ref;
      mlproto_kdf_params_interactive(&ref);
      out->kdf_opslimit = (uint64_t)ops;
      out->kdf_memlimit = (uint64_t)mem;
      out->kdf_weak = out->kdf_opslimit < ref.opslimit || out->kdf_memlimit < ref.memlimit;
    }
  } else if (rc == SQLITE_DONE) {
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "the profile has no keys");
  } else {
    err = ml__sqlite_err(h, rc, "read keys");
  }
  sqlite3_finalize(st);
  if (err)
    *out = (mentorlog_profile_info){.version = version};
  return err;
}
