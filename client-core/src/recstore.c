/* The record store: how a verified record becomes rows (the envelope sealed
 * at rest, its supersede edges, the indexed ids) and how rows become
 * records again. Building and signing the device's own records is
 * records.c's; records of other authors (the mentor's other devices, pulled
 * by sync) enter through ml__record_ingest, and both end in
 * ml__record_store. Only the device's own records enter the outbox.
 *
 * At rest every envelope is sealed with mlproto_wrap_bound under the
 * profile's record key (a subkey of the storage key, context "envelope"),
 * AAD bound to the row's record id: nothing of a record but its random ids,
 * its kind, its author's public key and its seq is readable without the
 * passphrase (DESIGN.md, "At rest"). */
#include "records_int.h"

#include <sodium.h>
#include <string.h>

#define RECORD_KEY_CONTEXT "envelope" /* exactly 8 bytes (crypto_kdf) */
#define PURPOSE_RECORD "record-at-rest"
#define ROW_PAD_BLOCK 128 /* a sealed row's plaintext is a multiple of this */

int ml__recstore_init(mentorlog *h) {
  mlproto_key_free(h->rowkey);
  h->rowkey = NULL;
  int err = mlproto_key_derive(&h->rowkey, h->storage, RECORD_KEY_CONTEXT);
  return err ? ml__fail(h, err, "derive the record key") : 0;
}

void ml__recstore_close(mentorlog *h) {
  if (h->envbuf) {
    sodium_memzero(h->envbuf, h->envcap);
    mlproto_free(h->envbuf);
  }
  h->envbuf = NULL;
  h->envcap = 0;
  mlproto_key_free(h->rowkey);
  h->rowkey = NULL;
}

/* The handle's buffer, grown to at least n bytes. */
static int envbuf_reserve(mentorlog *h, size_t n) {
  if (h->envcap >= n)
    return 0;
  size_t cap = h->envcap ? h->envcap : 1024;
  while (cap < n)
    cap *= 2;
  uint8_t *nb = mlproto_malloc(cap);
  if (!nb)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  if (h->envbuf) {
    sodium_memzero(h->envbuf, h->envcap);
    mlproto_free(h->envbuf);
  }
  h->envbuf = nb;
  h->envcap = cap;
  return 0;
}

/* ISO/IEC 7816-4 padding (0x80, then zeros) to a multiple of
 * ROW_PAD_BLOCK, as sodium_pad lays it out. Not libsodium's constant-time
 * loops: a row's length is visible on disk anyway, and their byte-by-byte
 * walk over the block cost 4 % of bulk writing. buf has room for
 * len + ROW_PAD_BLOCK bytes; returns the padded length. */
static size_t row_pad(uint8_t *buf, size_t len) {
  size_t padded = (len / ROW_PAD_BLOCK + 1) * ROW_PAD_BLOCK;
  buf[len] = 0x80;
  memset(buf + len + 1, 0, padded - len - 1);
  return padded;
}

/* Inverse of row_pad: -1 unless buf ends in 0x80 and fewer than
 * ROW_PAD_BLOCK zeros with len a multiple of the block. */
static int row_unpad(size_t *out, const uint8_t *buf, size_t len) {
  if (len == 0 || len % ROW_PAD_BLOCK)
    return -1;
  size_t i = len;
  while (i > 0 && len - i < ROW_PAD_BLOCK && buf[i - 1] == 0)
    i--;
  if (i == 0 || buf[i - 1] != 0x80 || len - i >= ROW_PAD_BLOCK)
    return -1;
  *out = i - 1;
  return 0;
}

int ml__env_seal(mentorlog *h, const uint8_t record_id[16], const uint8_t *env, size_t len,
                 uint8_t **out, size_t *out_len) {
  *out = NULL;
  /* Padded first (ISO/IEC 7816-4, ROW_PAD_BLOCK), so that a row's length
   * does not tell the length of the references inside it. */
  size_t padded_cap = len + ROW_PAD_BLOCK, padded_len;
  uint8_t *padded = mlproto_malloc(padded_cap);
  uint8_t *b = mlproto_malloc(padded_cap + MLPROTO_WRAP_OVERHEAD);
  if (!padded || !b) {
    mlproto_free(padded);
    mlproto_free(b);
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  }
  memcpy(padded, env, len);
  padded_len = row_pad(padded, len);
  int err = 0;
  if (!err)
    err = mlproto_wrap_bound(b, padded_cap + MLPROTO_WRAP_OVERHEAD, out_len, h->rowkey, PURPOSE_RECORD,
                             record_id, 16, padded, padded_len);
  sodium_memzero(padded, padded_cap);
  mlproto_free(padded);
  if (err) {
    mlproto_free(b);
    return ml__fail(h, err, "seal record at rest: %s", mlproto_strerror(err));
  }
  *out = b;
  return 0;
}

int ml__env_open(mentorlog *h, const void *record_id, int id_len, const void *blob, int blob_len,
                 const uint8_t **env, size_t *env_len) {
  *env = NULL;
  if (id_len != 16 || !record_id || blob_len < MLPROTO_WRAP_OVERHEAD || !blob)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a stored record is damaged");
  int err = envbuf_reserve(h, (size_t)blob_len - MLPROTO_WRAP_OVERHEAD);
  if (err)
    return err;
  size_t plen = 0;
  err = mlproto_unwrap_bound(h->envbuf, h->envcap, &plen, h->rowkey, PURPOSE_RECORD, record_id, 16, blob,
                             (size_t)blob_len);
  if (err)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT,
                    "a stored record does not open under this profile's key (%s)", mlproto_errname(err));
  if (row_unpad(env_len, h->envbuf, plen) != 0) {
    sodium_memzero(h->envbuf, plen);
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a stored record's padding is damaged");
  }
  *env = h->envbuf;
  return 0;
}

int ml__row_record(mentorlog *h, sqlite3_stmt *st, int col_id, int col_env, int col_hash,
                   mlproto_record **out) {
  *out = NULL;
  if (sqlite3_column_bytes(st, col_hash) != 32)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a stored record hash is damaged");
  const uint8_t *env;
  size_t len;
  int err = ml__env_open(h, sqlite3_column_blob(st, col_id), sqlite3_column_bytes(st, col_id),
                         sqlite3_column_blob(st, col_env), sqlite3_column_bytes(st, col_env), &env, &len);
  if (err)
    return err;
  err = mlproto_record_verify_stored(out, env, len, sqlite3_column_blob(st, col_hash));
  sodium_memzero(h->envbuf, len);
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return ml__fail(h, err, "out of memory");
  if (err)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a stored record does not verify: %s",
                    mlproto_errname(err));
  return 0;
}

int ml__record_store(mentorlog *h, const struct ml_stored *m, const uint8_t *env, size_t len) {
  uint8_t *blob = NULL;
  size_t blob_len = 0;
  int err = ml__env_seal(h, m->record_id, env, len, &blob, &blob_len);
  if (err)
    return err;
  sqlite3_stmt *st;
  if ((err = ml__stmt_get(h, ML_SQL_RECORD_INSERT, &st)))
    goto out;
  sqlite3_bind_blob(st, 1, m->record_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, m->case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, m->item_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, m->author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, (sqlite3_int64)m->seq);
  sqlite3_bind_int(st, 6, (int)m->kind);
  sqlite3_bind_blob(st, 7, m->hash, 32, SQLITE_STATIC);
  sqlite3_bind_blob(st, 8, blob, (int)blob_len, SQLITE_STATIC);
  if ((err = ml__stmt_run(h, st, "store record")))
    goto out;
  for (size_t i = 0; i < m->n_supersedes; i++) {
    if ((err = ml__stmt_get(h, ML_SQL_SUPERSEDE_INSERT, &st)))
      goto out;
    sqlite3_bind_blob(st, 1, m->record_id, 16, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, m->supersedes[i], 16, SQLITE_STATIC);
    if ((err = ml__stmt_run(h, st, "store supersedes")))
      goto out;
  }
out:
  mlproto_free(blob);
  return err;
}

/* The item a version belongs to: a first version starts its own item; a
 * later one belongs to the item of what it supersedes (which must be stored
 * already, in the same case, and all superseded records in one item). */
static int derive_item(mentorlog *h, const mlproto_record *r, uint8_t item[16]) {
  if (r->n_supersedes == 0) {
    memcpy(item, r->record_id, 16);
    return 0;
  }
  sqlite3_stmt *st;
  int err = 0;
  for (size_t i = 0; !err && i < r->n_supersedes; i++) {
    if ((err = ml__stmt_get(h, ML_SQL_RECORD_META, &st)))
      return err;
    sqlite3_bind_blob(st, 1, r->supersedes[i], 16, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16 && sqlite3_column_bytes(st, 1) == 16) {
      if (memcmp(sqlite3_column_blob(st, 1), r->case_id, 16) != 0)
        err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "a record supersedes a record of another case");
      else if (i == 0)
        memcpy(item, sqlite3_column_blob(st, 0), 16);
      else if (memcmp(item, sqlite3_column_blob(st, 0), 16) != 0)
        err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "a record supersedes versions of two items");
    } else if (rc == SQLITE_ROW) {
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a record's ids are damaged");
    } else {
      err = rc == SQLITE_DONE ? ml__fail(h, MLPROTO_ERR_NOT_FOUND, "a superseded record is not stored yet")
                              : ml__sqlite_err(h, rc, "find superseded record");
    }
    ml__stmt_put(st);
  }
  return err;
}

/* Whether the case was erased here, and whether the record (by id, or its
 * author's seq) is stored already. */
static int ingest_state(mentorlog *h, const mlproto_record *r, bool *erased, bool *stored) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_CASE_CHECK, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, r->case_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *erased = sqlite3_column_int(st, 1) != 0;
  else
    err = ml__sqlite_err(h, rc, "find case");
  ml__stmt_put(st);
  if (err)
    return err;
  if ((err = ml__stmt_get(h, ML_SQL_RECORD_STORED, &st)))
    return err;
  sqlite3_bind_blob(st, 1, r->record_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, r->author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)r->seq);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    *stored = rc == SQLITE_ROW;
  else
    err = ml__sqlite_err(h, rc, "find record");
  ml__stmt_put(st);
  return err;
}

int ml__record_ingest(mentorlog *h, const uint8_t *env, size_t len) {
  mlproto_record *r = NULL;
  int err = mlproto_record_verify(&r, env, len);
  if (err)
    return ml__fail(h, err, "the record does not verify: %s", mlproto_errname(err));
  err = ml__record_ingest_verified(h, r, env, len);
  mlproto_record_free(r);
  return err;
}

int ml__record_ingest_verified(mentorlog *h, const mlproto_record *r, const uint8_t *env, size_t len) {
  uint8_t *erased_env = NULL;
  int err = 0;
  if (mlproto_kind_is_server_event(r->kind)) {
    err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "server events are not case records");
    goto out;
  }
  /* The device's own chain is written by its writers only (ml__append):
   * a copy of its own record coming back is never a second source. */
  if (memcmp(r->author, h->sign_pk, 32) == 0) {
    err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "the record is this device's own");
    goto out;
  }
  /* Everything that can refuse the record is decided before the
   * transaction: inside a batch, a failure after ml__begin rolls the whole
   * batch back (only the environment may fail there). */
  bool erased = false, stored = false;
  uint8_t item[16];
  if ((err = ingest_state(h, r, &erased, &stored)))
    goto out;
  if (stored) {
    err = ml__fail(h, MLPROTO_ERR_ALREADY_EXISTS, "the record (or its author's seq) is stored already");
    goto out;
  }
  if ((err = derive_item(h, r, item)))
    goto out;
  /* A case erased here stays erased: a record of it that arrives later is
   * kept for its header and signature only (its chain still verifies). */
  if (erased) {
    size_t elen;
    if ((err = mlproto_envelope_erase(&erased_env, &elen, env, len, MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED))) {
      err = ml__fail(h, err, "erase record: %s", mlproto_strerror(err));
      goto out;
    }
    env = erased_env;
    len = elen;
  }
  struct ml_stored m = {.record_id = r->record_id, .case_id = r->case_id, .item_id = item,
                        .author = r->author, .seq = r->seq, .kind = r->kind, .hash = r->hash,
                        .supersedes = (const uint8_t(*)[16])r->supersedes,
                        .n_supersedes = r->n_supersedes};
  if ((err = ml__begin(h)))
    goto out;
  /* Another device of the mentor erased the case: so is it here, at once
   * (the records of it stored before, its keys). */
  bool erase = r->kind == MLPROTO_KIND_CASE_ERASE && !erased;
  if ((err = ml__record_store(h, &m, env, len)) ||
      (erase && (err = ml__case_erase_local(h, r->case_id, r->record_id))))
    ml__rollback(h);
  else
    err = ml__commit(h);
  if (!err && erase) {
    ml__casekey_flush(h, r->case_id);
    ml__erased_scrub(h);
  }
out:
  mlproto_free(erased_env);
  return err;
}

/* Schema v4: every envelope stored before it is sealed now, in place. */
int ml__recstore_seal_all(mentorlog *h) {
  sqlite3_stmt *sel = NULL, *up = NULL;
  int err;
  if ((err = ml__prepare(h, &sel, "SELECT rid, record_id, envelope FROM records")) ||
      (err = ml__prepare(h, &up, "UPDATE records SET envelope = ?1 WHERE rid = ?2")))
    goto out;
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(sel, 1) != 16) {
      err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a record's ids are damaged");
      goto out;
    }
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if ((err = ml__env_seal(h, sqlite3_column_blob(sel, 1), sqlite3_column_blob(sel, 2),
                            (size_t)sqlite3_column_bytes(sel, 2), &blob, &blob_len)))
      goto out;
    sqlite3_bind_blob(up, 1, blob, (int)blob_len, SQLITE_STATIC);
    sqlite3_bind_int64(up, 2, sqlite3_column_int64(sel, 0));
    rc = sqlite3_step(up);
    sqlite3_reset(up);
    mlproto_free(blob);
    if (rc != SQLITE_DONE) {
      err = ml__sqlite_err(h, rc, "seal records");
      goto out;
    }
  }
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "seal records");
out:
  sqlite3_finalize(sel);
  sqlite3_finalize(up);
  return err;
}
