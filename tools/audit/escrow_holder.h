/*
 * escrow_holder.h — the escrow holder's side of mentorlog-audit (tools/audit,
 * internal; docs/escrow.md): the escrow key file, the case keys the log
 * grants to it, the sealed parts they open, and re-grants to a new device.
 *
 * Secret key file (`escrow-keygen --out FILE`, mode 0600, never replaced):
 *
 *   "mentorlog-escrow-secret-v1:" || base64(box_secret || sign_seed) "\n"
 *
 * the X25519 secret scalar that opens every KEY_GRANT sealed to the escrow,
 * and the Ed25519 seed that signs its re-grants (standard base64, padded).
 * A file readable or writable by group or others is refused (FORBIDDEN).
 *
 * Every function reads an audit log file the caller has verified with
 * audit_verify (verify.h) and found clean: it parses the records of one
 * case again (mlproto_record_verify) and trusts the rest of the file's
 * structure. Keys live in sodium_malloc memory (mlproto_key) and are wiped
 * when freed; no secret is written anywhere but the key file.
 */
#ifndef ML_AUDIT_ESCROW_HOLDER_H
#define ML_AUDIT_ESCROW_HOLDER_H

#include "mlproto/crypto.h"
#include "mlproto/escrow.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <stddef.h>
#include <stdint.h>

#define AE_SECRET_PREFIX "mentorlog-escrow-secret-v1:"

typedef struct ae_key {
  mlproto_key *box;   /* X25519: opens the grants to the escrow */
  mlproto_key *sign;  /* Ed25519: signs the re-grants */
  uint8_t box_pub[32], sign_pub[32];
} ae_key;

/* A new escrow key in the new file path (ALREADY_EXISTS when it exists; IO);
 * its public key string into pub. */
int ae_key_create(const char *path, char pub[MLPROTO_ESCROW_PUB_LEN + 1]);
/* Loads the key file. NOT_FOUND, IO, FORBIDDEN (permissions), BAD_KEY (not
 * a key file), OUT_OF_MEMORY. k is zeroed on failure. */
int ae_key_load(const char *path, ae_key *k);
void ae_key_free(ae_key *k); /* zeroed: no-op */

/* The distinct case keys of case_id sealed to the escrow, in log order. */
typedef struct ae_case_keys {
  mlproto_key **k;
  size_t n;
  uint64_t grants;        /* KEY_GRANTs of the case in the file */
  uint64_t grants_erased; /* of them, erased (their keys are gone) */
  uint64_t records;       /* records of the case in the file */
} ae_case_keys;
int ae_case_keys_get(const uint8_t *file, size_t len, const ae_key *k, const uint8_t case_id[16],
                     ae_case_keys *out);
void ae_case_keys_free(ae_case_keys *c);

/* One record of the case, as decrypt shows it: sealed is its opened sealed
 * part (state AE_OPENED) or NULL. */
enum { AE_OPENED = 0, AE_NO_SEALED = 1, AE_ERASED = 2, AE_NO_KEY = 3 };
typedef struct ae_opened {
  uint64_t index, received_ms;
  const mlproto_record *r;
  const mlproto_sealed *sealed;
  int state;
} ae_opened;
typedef int (*ae_opened_fn)(void *ud, const ae_opened *o);

/* Calls fn for every record of the case, in log order. NOT_FOUND (no record
 * of the case), NO_CASE_KEY (no key of the case is sealed to this escrow
 * key: keys->... say whether grants were erased). keys (may be NULL) gets
 * what was found. */
int ae_decrypt(const uint8_t *file, size_t len, const ae_key *k, const uint8_t case_id[16],
               ae_opened_fn fn, void *ud, ae_case_keys *keys);

/* What regrant did. */
typedef struct ae_regrant_info {
  uint8_t mentor_id[16];    /* the device's mentor */
  size_t cases;             /* cases re-granted */
  size_t grants;            /* KEY_GRANTs written (one per distinct key) */
  size_t cases_without_key; /* cases of the mentor with no key sealed to the escrow */
  size_t cases_erased;      /* cases skipped as erased */
  uint64_t first_seq;       /* the escrow's seq of the first grant */
} ae_regrant_info;

/* KEY_GRANTs of every key of the cases (cases[0..n_cases), or every case of
 * the device's mentor when n_cases is 0) to the device device_id, signed by
 * the escrow and chained after the escrow's last record in the file, at
 * hlc now_ms << 16, into out as a re-grant file (mlproto/escrow.h).
 * NOT_FOUND (no such device in the file), DEVICE_REVOKED, FORBIDDEN (a case
 * of another mentor), CASE_ERASED (a named case was erased), NO_CASE_KEY
 * (nothing to grant), NO_ESCROW_KEY (the file's latest ESCROW_KEY is not
 * this key: the server would refuse the grants). */
int ae_regrant(const uint8_t *file, size_t len, const ae_key *k, const uint8_t device_id[16],
               const uint8_t (*cases)[16], size_t n_cases, uint64_t now_ms, mlproto_buf *out,
               ae_regrant_info *info);

#endif
