/*
 * mentorlog/mentorlog.h — libmentorlog, the mentor's encrypted offline log.
 *
 * A *profile* is a directory holding one SQLite database (mentorlog.db, WAL
 * mode). It contains the device's keys, wrapped under a key derived from a
 * passphrase (Argon2id) or handed in by a platform keystore, and every signed
 * record (DESIGN §3) the device wrote or received. Every change is a new
 * record: the record, its link in the device's hash chain and its outbox
 * entry (for the later sync) are written in ONE transaction with
 * synchronous=FULL, so a function that returned MENTORLOG_OK has made its
 * record durable, and a crash at any instant leaves either all of it or none.
 *
 * Sealed fields (citizen name and phone, note text, grant purpose, reasons)
 * are encrypted under the case key before they reach SQLite; plaintext is
 * held only in memory and wiped after use. Erasing a case destroys its key
 * and every ciphertext of the case (secure_delete=ON, WAL truncated) while the
 * signed headers stay, so the hash chain still verifies.
 *
 * Errors. Every function that can fail returns an int: MENTORLOG_OK (0) or a
 * negative MENTORLOG_ERR_<NAME> (mentorlog/mentorlog_errors.h, generated at
 * build time from protocol/include/mlproto/errors.def: each value equals
 * MLPROTO_ERR_<NAME> and never changes; docs/errors.md lists them). Each
 * function below names the codes it can return, without the prefix
 * (WRONG_PASSPHRASE is MENTORLOG_ERR_WRONG_PASSPHRASE). mentorlog_errname()
 * gives the stable machine name, mentorlog_strerror() static English text,
 * mentorlog_errmsg() the detail of the last failure on a handle. Out of
 * memory is MENTORLOG_ERR_OUT_OF_MEMORY; the library never aborts on a
 * runtime failure.
 *
 * Ownership. Outputs come first. Whatever the library allocates for the
 * caller has its own *_free function. Strings passed in are copied.
 * On failure, outputs are left zero/NULL and nothing leaks.
 *
 * Threads. A handle must be used by one thread at a time (distinct handles
 * on distinct profiles may be used in parallel). mentorlog_set_allocator()
 * is process-wide and must be called before any other function.
 *
 * Times. Civil dates are days since 1970-01-01 (mentorlog_date), instants
 * are Unix milliseconds (UTC). Copenhagen wall-time parsing is the caller's
 * job (mentorlog_parse_local_time() wraps the protocol's parser for it).
 */
#ifndef MENTORLOG_MENTORLOG_H
#define MENTORLOG_MENTORLOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MENTORLOG_EXTERN __attribute__((visibility("default")))
#define MENTORLOG_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MENTORLOG_EXTERN
#define MENTORLOG_WARN_UNUSED
#endif

#define MENTORLOG_OK 0
#include "mentorlog/mentorlog_errors.h" /* MENTORLOG_ERR_* (generated) */

/* ----------------------------------------------------------- sizes --- */
#define MENTORLOG_ID_BYTES 16      /* record, case, grant ids */
#define MENTORLOG_ID_HEX (2 * MENTORLOG_ID_BYTES)
#define MENTORLOG_KEY_BYTES 32     /* a platform keystore key */
/* A new passphrase is MENTORLOG_PASSPHRASE_MIN..MENTORLOG_PASSPHRASE_MAX
 * bytes (else INVALID_ARGUMENT for mentorlog_create/mentorlog_rekey); at
 * mentorlog_open one of 0 or more than MAX bytes is WRONG_PASSPHRASE. */
#define MENTORLOG_PASSPHRASE_MAX 1024
/* Bytes a new passphrase needs at least (mentorlog_create, mentorlog_rekey;
 * an existing profile opens whatever its passphrase). The library checks the
 * length only; an application adds a strength check (the mentorlog CLI:
 * >= 12 characters or >= 4 words, and no common password). */
#define MENTORLOG_PASSPHRASE_MIN 10
/* Caps of the text fields, in bytes (UTF-8, without the terminating NUL):
 * the record format's own caps (protocol/proto/mentorlog.proto), so that
 * whatever the library accepts, every verifier accepts too. A writer given
 * a longer text fails with TOO_LARGE and writes nothing; exactly the cap is
 * accepted (tests/client/test_client.c checks both for each). */
#define MENTORLOG_NAME_MAX 200           /* citizen name (mentorlog_case_open) */
#define MENTORLOG_PHONE_MAX 32           /* citizen phone */
#define MENTORLOG_CODE_MAX 64            /* grant jobcentre and reference, absence approval reference */
#define MENTORLOG_LEGAL_BASIS_MAX 64     /* grant legal basis */
#define MENTORLOG_PURPOSE_MAX 4096       /* grant purpose */
#define MENTORLOG_REASON_MAX 4096        /* grant close reason, absence reason */
#define MENTORLOG_VOID_REASON_MAX 1024   /* reason of mentorlog_contact_void */
#define MENTORLOG_CONTACT_NOTE_MAX 32768 /* note of a contact */
#define MENTORLOG_TEXT_MAX 60000         /* note text (mentorlog_note_add/_revise) */
MENTORLOG_EXTERN size_t mentorlog_id_bytes(void);
MENTORLOG_EXTERN size_t mentorlog_key_bytes(void);
MENTORLOG_EXTERN size_t mentorlog_passphrase_max(void);
MENTORLOG_EXTERN size_t mentorlog_text_max(void); /* MENTORLOG_TEXT_MAX */
MENTORLOG_EXTERN size_t mentorlog_name_max(void); /* MENTORLOG_NAME_MAX */
/* Library version ("0.1.0"); static. */
MENTORLOG_EXTERN const char *mentorlog_version(void);

typedef int32_t mentorlog_date; /* days since 1970-01-01 (civil, Copenhagen) */

typedef struct mentorlog mentorlog;

/* ---------------------------------------------------------- errors --- */
/* Stable name ("WRONG_PASSPHRASE"); "OK" for 0. Static, thread-safe. */
MENTORLOG_EXTERN const char *mentorlog_errname(int code);
/* Human text; never NULL. Static, thread-safe. */
MENTORLOG_EXTERN const char *mentorlog_strerror(int code);
/* Detail of the last failure on h (never contains secrets); valid until the
 * next call on h. "" when none; mentorlog_errmsg(NULL) is "". */
MENTORLOG_EXTERN const char *mentorlog_errmsg(const mentorlog *h);

/* ------------------------------------------------------- allocator --- */
/* Process-wide allocator hook. Routes every heap allocation of libmentorlog,
 * of protocol/ and of SQLite (SQLITE_CONFIG_MALLOC) through these functions,
 * so a test can fail the Nth allocation. Must be called before any other
 * Mentorlog or SQLite use in the process (SQLite accepts its configuration
 * only before sqlite3_initialize): it returns MLPROTO_ERR_BUSY when SQLite
 * was already initialised, and then installs nothing. NULL restores the
 * default (malloc). Not thread-safe. sodium_malloc'd key memory does not pass
 * through the hook (it is guarded pages from libsodium). */
typedef struct mentorlog_allocator {
  void *(*malloc_fn)(size_t size, void *ud);
  void *(*realloc_fn)(void *ptr, size_t size, void *ud);
  void (*free_fn)(void *ptr, void *ud);
  void *ud;
} mentorlog_allocator;
MENTORLOG_EXTERN int mentorlog_set_allocator(const mentorlog_allocator *a);

/* ---------------------------------------------------------- profile --- */
/* The passphrase KDF that mentorlog_create and mentorlog_rekey store in the
 * profile (the kdf field of the options; mentorlog_open uses the stored
 * parameters and ignores the field). */
typedef enum mentorlog_kdf {
  MENTORLOG_KDF_INTERACTIVE = 0, /* default: Argon2id OPSLIMIT/MEMLIMIT_INTERACTIVE */
  MENTORLOG_KDF_MODERATE = 1,    /* Argon2id MODERATE */
  /* Tests only: Argon2id with opslimit 1, 8 MiB. Chosen by the CLI when
   * MENTORLOG_KDF=fast; never for a real profile. Only a library built with
   * the CMake option ML_INSECURE_FAST_KDF=ON (off by default; scripts/test
   * turns it on for its test builds) accepts it: otherwise mentorlog_create
   * and mentorlog_rekey refuse it with INVALID_ARGUMENT (nothing is created
   * or changed). mentorlog_kdf_available() tells which build this is. */
  MENTORLOG_KDF_FAST_INSECURE = 2
} mentorlog_kdf;
/* 1 when this library accepts kdf for mentorlog_create/mentorlog_rekey, 0
 * when not (MENTORLOG_KDF_FAST_INSECURE in a release build, unknown values). */
MENTORLOG_EXTERN int mentorlog_kdf_available(int kdf);

#define MENTORLOG_OPEN_OPTIONS_VERSION 2
/* Exactly one of passphrase or key must be set. Version 1 (without the
 * clock) is still accepted: the fields after kdf are read only when
 * version >= 2. */
typedef struct mentorlog_open_options {
  int version;               /* MENTORLOG_OPEN_OPTIONS_VERSION */
  const char *passphrase;    /* UTF-8; new: MENTORLOG_PASSPHRASE_MIN..MAX bytes */
  size_t passphrase_len;
  const uint8_t *key;        /* MENTORLOG_KEY_BYTES from a platform keystore */
  mentorlog_kdf kdf;         /* mentorlog_create only */
  /* Version 2. The wall clock, Unix milliseconds, read whenever a record is
   * written (its hybrid logical clock) and for "now" where the library
   * needs one; NULL: the system's CLOCK_REALTIME. Tests and simulations
   * drive time with it. Called on the handle's thread only. */
  int64_t (*clock_ms)(void *ctx);
  void *clock_ctx;
} mentorlog_open_options;
#define MENTORLOG_OPEN_OPTIONS_INIT \
  {MENTORLOG_OPEN_OPTIONS_VERSION, NULL, 0, NULL, MENTORLOG_KDF_INTERACTIVE, NULL, NULL}
/* The same as MENTORLOG_OPEN_OPTIONS_INIT, for bindings that cannot read
 * macros (Swift, Kotlin). Each option/params struct has such a function. */
MENTORLOG_EXTERN void mentorlog_open_options_init(mentorlog_open_options *o);

/* Create a new profile in dir (created with mode 0700 when missing) and
 * open it. Generates the device's Ed25519 and X25519 keys and the storage
 * key and wraps them under opts' passphrase (with opts->kdf) or key.
 * Errors: PROFILE_EXISTS, INVALID_ARGUMENT (out, dir or opts NULL, dir
 * empty, wrong options version, neither or both of passphrase and key, a
 * passphrase of fewer than MENTORLOG_PASSPHRASE_MIN or more than
 * MENTORLOG_PASSPHRASE_MAX bytes, a kdf that
 * mentorlog_kdf_available() refuses), TOO_LARGE (path too long), BUSY, IO,
 * DISK_FULL, OUT_OF_MEMORY, INTERNAL. A create refused for its options
 * (INVALID_ARGUMENT) touches nothing on disk; one that fails while writing
 * (IO, DISK_FULL, ...) may leave an empty mentorlog.db in dir, which then
 * opens as PROFILE_CORRUPT and blocks a new create (PROFILE_EXISTS): remove
 * it before trying again. */
MENTORLOG_EXTERN int mentorlog_create(mentorlog **out, const char *dir,
                                      const mentorlog_open_options *opts) MENTORLOG_WARN_UNUSED;
/* Detail of the last failed mentorlog_create/mentorlog_open in the calling
 * thread (no handle exists to carry it); "" when none. Never contains a
 * secret. Valid until the next create/open in this thread. */
MENTORLOG_EXTERN const char *mentorlog_open_errmsg(void);
/* Open an existing profile. On failure *out is NULL and nothing leaks.
 * Errors: NO_PROFILE, WRONG_PASSPHRASE (also: a key given for a passphrase
 * profile or the reverse, a passphrase over MENTORLOG_PASSPHRASE_MAX;
 * nothing is changed), INVALID_ARGUMENT (out, dir or opts NULL, wrong
 * options version, neither or both of passphrase and key), PROFILE_CORRUPT,
 * PROFILE_TOO_NEW (schema of a newer version), TOO_LARGE (path too long),
 * BUSY, IO, OUT_OF_MEMORY. Runs pending schema migrations (in one
 * transaction). A profile whose stored KDF is weaker than Argon2id
 * INTERACTIVE opens as usual: ask mentorlog_profile_info_get() and offer
 * mentorlog_rekey(). */
MENTORLOG_EXTERN int mentorlog_open(mentorlog **out, const char *dir,
                                    const mentorlog_open_options *opts) MENTORLOG_WARN_UNUSED;
/* Wipe keys and close. close(NULL) does nothing. */
MENTORLOG_EXTERN void mentorlog_close(mentorlog *h);
/* Re-wrap the device keys under a new passphrase or key (records untouched).
 * Atomic: either the old or the new secret opens the profile afterwards.
 * A passphrase is stretched with new_secret->kdf and a fresh salt, so a
 * rekey (with the same passphrase, too) also upgrades a weak profile's
 * parameters. Errors: INVALID_ARGUMENT (h or new_secret NULL, as for
 * mentorlog_create's options), BUSY (inside a batch, or the profile is
 * locked by another connection), DISK_FULL, IO, PROFILE_CORRUPT,
 * OUT_OF_MEMORY, INTERNAL. */
MENTORLOG_EXTERN int mentorlog_rekey(mentorlog *h, const mentorlog_open_options *new_secret);

/* How an open profile is unlocked, so that an application can warn about a
 * weak passphrase KDF (e.g. a profile made by a test build with
 * MENTORLOG_KDF_FAST_INSECURE, or by an older version with lower
 * parameters) and offer mentorlog_rekey(). Versioned like the options: the
 * caller sets version (MENTORLOG_PROFILE_INFO_INIT or
 * mentorlog_profile_info_init); a later version only appends fields, and
 * the library fills the fields of the version the caller asked for. */
#define MENTORLOG_PROFILE_INFO_VERSION 1
typedef struct mentorlog_profile_info {
  int version;            /* MENTORLOG_PROFILE_INFO_VERSION */
  int keystore;           /* 1: unlocked by a platform keystore key (no KDF); 0: passphrase */
  uint64_t kdf_opslimit;  /* stored Argon2id passes; 0 for a keystore key */
  uint64_t kdf_memlimit;  /* stored Argon2id memory in bytes; 0 for a keystore key */
  int kdf_weak;           /* 1: a passphrase profile whose opslimit or memlimit is below
                           * Argon2id INTERACTIVE (libsodium's OPSLIMIT_INTERACTIVE 2,
                           * MEMLIMIT_INTERACTIVE 64 MiB); 0 otherwise */
} mentorlog_profile_info;
#define MENTORLOG_PROFILE_INFO_INIT {MENTORLOG_PROFILE_INFO_VERSION, 0, 0, 0, 0}
MENTORLOG_EXTERN void mentorlog_profile_info_init(mentorlog_profile_info *info);
/* Fill *out from the profile's stored key record (reads the database; the
 * values change with mentorlog_rekey). out->version must be 1 ..
 * MENTORLOG_PROFILE_INFO_VERSION. On failure the fields after version are
 * zero. Errors: INVALID_ARGUMENT (h or out NULL, unknown version),
 * PROFILE_CORRUPT (no or damaged key record), BUSY, IO, OUT_OF_MEMORY. */
MENTORLOG_EXTERN int mentorlog_profile_info_get(mentorlog *h, mentorlog_profile_info *out);
/* The device's Ed25519 public key (its author id). */
MENTORLOG_EXTERN void mentorlog_device_id(const mentorlog *h, uint8_t out[32]);

/* ------------------------------------------------------------ enums --- */
typedef enum mentorlog_channel {
  MENTORLOG_CHANNEL_IN_PERSON = 1, MENTORLOG_CHANNEL_HOME_VISIT, MENTORLOG_CHANNEL_ACCOMPANIMENT,
  MENTORLOG_CHANNEL_VIDEO, MENTORLOG_CHANNEL_PHONE, MENTORLOG_CHANNEL_MESSAGE, MENTORLOG_CHANNEL_OTHER
} mentorlog_channel;
typedef enum mentorlog_outcome {
  MENTORLOG_OUTCOME_HELD = 1, MENTORLOG_OUTCOME_ATTEMPT_FAILED, MENTORLOG_OUTCOME_NO_SHOW,
  MENTORLOG_OUTCOME_CANCELLED_BY_CITIZEN, MENTORLOG_OUTCOME_CANCELLED_BY_MENTOR
} mentorlog_outcome;
typedef enum mentorlog_absence_kind {
  MENTORLOG_ABSENCE_CITIZEN_HOLIDAY = 1, MENTORLOG_ABSENCE_CITIZEN_SICK, MENTORLOG_ABSENCE_HOSPITALISED,
  MENTORLOG_ABSENCE_GRANT_PAUSED, MENTORLOG_ABSENCE_MENTOR_UNAVAILABLE, MENTORLOG_ABSENCE_OTHER
} mentorlog_absence_kind;
/* Names as the CLI spells them ("home-visit"); NULL for an unknown value. */
MENTORLOG_EXTERN const char *mentorlog_channel_name(int channel);
MENTORLOG_EXTERN const char *mentorlog_outcome_name(int outcome);
MENTORLOG_EXTERN const char *mentorlog_absence_kind_name(int kind);
/* Parse those names; 0 when unknown. */
MENTORLOG_EXTERN int mentorlog_channel_parse(const char *s);
MENTORLOG_EXTERN int mentorlog_outcome_parse(const char *s);
MENTORLOG_EXTERN int mentorlog_absence_kind_parse(const char *s);

/* --------------------------------------------------------- records --- */
/* All writers produce one signed record and return its record id in
 * out_record (may be NULL). Logical items (case, grant, contact, note) are
 * named by the id of the record that created them.
 *
 * Errors. Each writer lists the codes its arguments can cause. Besides
 * those, every writer can fail while storing ("the write errors"):
 *   BUSY             another connection holds the profile's write lock
 *   DISK_FULL, IO    the database could not be written (nothing is stored)
 *   PROFILE_CORRUPT  the database or the chain tip is damaged
 *   OUT_OF_RANGE     the device clock is outside 2000..2099
 *   OUT_OF_MEMORY, INTERNAL
 * and inside a batch INVALID_ARGUMENT or IO once an earlier failure rolled
 * the batch back (mentorlog_batch_begin). Text fields are UTF-8, else
 * FIELD_RANGE; the legal basis holds no control character either, and a
 * code (jobcentre, reference, approval reference) only [A-Za-z0-9._-]
 * (the two references also '/' and ':'), else FIELD_RANGE. FIELD_RANGE and FIELD_SIZE are found while the record is
 * built: inside a batch they roll the batch back like a write error. */

/* Open a case: new case key (wrapped locally, and a KEY_GRANT record sealing
 * it to this device's X25519 key), then CASE_OPEN with name/phone sealed.
 * phone may be NULL. out_case (may be NULL) receives the case id.
 * Errors: INVALID_ARGUMENT (name NULL or empty), TOO_LARGE (name over
 * MENTORLOG_NAME_MAX, phone over MENTORLOG_PHONE_MAX), FIELD_RANGE, and the
 * write errors. */
MENTORLOG_EXTERN int mentorlog_case_open(mentorlog *h, uint8_t out_case[MENTORLOG_ID_BYTES],
                                         const char *name, const char *phone);
/* Crypto-shred a case: writes CASE_ERASE, destroys the case key and every
 * disclosed/sealed byte of the case's records; headers stay.
 * Errors: NOT_FOUND (no such case), CASE_ERASED (already erased), and the
 * write errors. */
MENTORLOG_EXTERN int mentorlog_case_erase(mentorlog *h, const uint8_t case_id[MENTORLOG_ID_BYTES]);

typedef struct mentorlog_rule {
  uint32_t period_weeks;   /* P: 1 or 2 */
  uint32_t contacts;       /* N >= 1 */
  uint32_t channels;       /* Q: bit (1 << channel) per qualifying channel */
  uint32_t min_minutes;    /* M */
  uint32_t partial_days;   /* K */
  uint32_t grace_days;     /* G */
  uint32_t late_days;      /* L */
} mentorlog_rule;
/* The domain defaults: P1 N1 Q{in-person,home-visit,accompaniment,video,phone} M0 K3 G7 L7. */
MENTORLOG_EXTERN void mentorlog_rule_default(mentorlog_rule *r);

#define MENTORLOG_GRANT_VERSION 1
typedef struct mentorlog_grant_params {
  int version;                /* MENTORLOG_GRANT_VERSION */
  const char *jobcentre;      /* municipality id (disclosed) */
  const char *reference;      /* municipality's case reference (disclosed) */
  const char *legal_basis;    /* text, may be NULL (disclosed) */
  const char *purpose;        /* may be NULL (sealed) */
  mentorlog_date start, end;  /* inclusive; end - start < 184 days */
  mentorlog_rule rule;
  uint32_t minutes_per_week;  /* granted hours x 60 */
} mentorlog_grant_params;
/* Version set, strings NULL, dates 0, rule all zero: call
 * mentorlog_rule_default(&p.rule) for the domain defaults. */
#define MENTORLOG_GRANT_PARAMS_INIT {MENTORLOG_GRANT_VERSION, NULL, NULL, NULL, NULL, 0, 0, {0, 0, 0, 0, 0, 0, 0}, 0}
/* Version set and the rule at the domain defaults. */
MENTORLOG_EXTERN void mentorlog_grant_params_init(mentorlog_grant_params *p);

/* Open a grant of case_id. out_grant (may be NULL) receives the grant id.
 * Errors: NOT_FOUND (no such case), CASE_ERASED, INVALID_ARGUMENT (p NULL
 * or of another version, jobcentre or reference NULL or empty), TOO_LARGE
 * (jobcentre or reference over MENTORLOG_CODE_MAX, legal basis over
 * MENTORLOG_LEGAL_BASIS_MAX, purpose over MENTORLOG_PURPOSE_MAX), BAD_DATE,
 * BAD_PERIOD (end before start, longer than 6 months), BAD_RULE,
 * OUT_OF_RANGE (minutes_per_week), FIELD_RANGE (see above; also dates
 * outside 2000..2099), and the write errors. */
MENTORLOG_EXTERN int mentorlog_grant_open(mentorlog *h, uint8_t out_grant[MENTORLOG_ID_BYTES],
                                          const uint8_t case_id[MENTORLOG_ID_BYTES],
                                          const mentorlog_grant_params *p);
/* Supersede the grant's current head(s) with new parameters (all of them:
 * read the current ones with mentorlog_grants() to change a few). The
 * purpose is sealed again when given; NULL drops it. Errors: NOT_FOUND (no
 * such record), INVALID_ARGUMENT (grant_id is a record of another kind, and
 * as for mentorlog_grant_open), CASE_ERASED, GRANT_CLOSED (a closed grant is
 * not reopened: a renewal is a new grant), and the other errors of
 * mentorlog_grant_open. */
MENTORLOG_EXTERN int mentorlog_grant_update(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                            const uint8_t grant_id[MENTORLOG_ID_BYTES],
                                            const mentorlog_grant_params *p);
/* Close a grant early on date. reason (may be NULL, <= 4096 bytes) is
 * sealed under the case key (GrantCloseSealed): only this mentor's devices
 * read it; mentorlog_grants() returns it decrypted in close_reason. A grant
 * closed twice (or concurrently) ends on the earliest close date.
 * Errors: NOT_FOUND (no such record), INVALID_ARGUMENT (grant_id is a record
 * of another kind), CASE_ERASED, TOO_LARGE (reason over
 * MENTORLOG_REASON_MAX), BAD_DATE (date outside 2000..2099), FIELD_RANGE,
 * and the write errors. */
MENTORLOG_EXTERN int mentorlog_grant_close(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                           const uint8_t grant_id[MENTORLOG_ID_BYTES],
                                           mentorlog_date date, const char *reason);

#define MENTORLOG_CONTACT_VERSION 1
typedef struct mentorlog_contact_params {
  int version;                /* MENTORLOG_CONTACT_VERSION */
  int64_t start_ms;           /* the claimed start instant */
  uint32_t minutes;           /* 0 < minutes <= 1440 */
  int channel;                /* mentorlog_channel */
  int outcome;                /* mentorlog_outcome */
  uint32_t transport_minutes;
  const char *note;           /* sealed, may be NULL */
} mentorlog_contact_params;
#define MENTORLOG_CONTACT_PARAMS_INIT {MENTORLOG_CONTACT_VERSION, 0, 0, 0, 0, 0, NULL}
MENTORLOG_EXTERN void mentorlog_contact_params_init(mentorlog_contact_params *p);

/* Record a contact of case_id.
 * Errors: NOT_FOUND (no such case), CASE_ERASED, INVALID_ARGUMENT (p NULL or
 * of another version, unknown channel or outcome), BAD_TIME (start_ms
 * outside 2000..2099), OUT_OF_RANGE (minutes not 1..1440, transport_minutes
 * over 1440), TOO_LARGE (note over MENTORLOG_CONTACT_NOTE_MAX), FIELD_RANGE,
 * and the write errors. */
MENTORLOG_EXTERN int mentorlog_contact_add(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                           const uint8_t case_id[MENTORLOG_ID_BYTES],
                                           const mentorlog_contact_params *p);
/* Supersede record (any version of a contact) with corrected values.
 * Errors: NOT_FOUND (no such record), INVALID_ARGUMENT (a record of another
 * kind), and the other errors of mentorlog_contact_add. */
MENTORLOG_EXTERN int mentorlog_contact_correct(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                               const uint8_t record_id[MENTORLOG_ID_BYTES],
                                               const mentorlog_contact_params *p);
/* Void a contact (it stays in history but no longer counts). reason is
 * required and sealed. Errors: NOT_FOUND (no such record), INVALID_ARGUMENT
 * (a record of another kind, reason NULL or empty), CASE_ERASED, TOO_LARGE
 * (reason over MENTORLOG_VOID_REASON_MAX), FIELD_RANGE, and the write
 * errors. */
MENTORLOG_EXTERN int mentorlog_contact_void(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                            const uint8_t record_id[MENTORLOG_ID_BYTES],
                                            const char *reason);

/* Add a note of len bytes (sealed; no NUL inside, need not be terminated).
 * Errors: NOT_FOUND (no such case), CASE_ERASED, INVALID_ARGUMENT (text
 * NULL, len 0, a NUL byte inside), TOO_LARGE (len over MENTORLOG_TEXT_MAX),
 * FIELD_RANGE (not UTF-8), and the write errors. */
MENTORLOG_EXTERN int mentorlog_note_add(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                        const uint8_t case_id[MENTORLOG_ID_BYTES],
                                        const char *text, size_t len);
/* Supersede record (any version of a note) with a new text. Errors:
 * NOT_FOUND (no such record), INVALID_ARGUMENT (a record of another kind),
 * and the other errors of mentorlog_note_add. */
MENTORLOG_EXTERN int mentorlog_note_revise(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                           const uint8_t record_id[MENTORLOG_ID_BYTES],
                                           const char *text, size_t len);

#define MENTORLOG_ABSENCE_VERSION 1
typedef struct mentorlog_absence_params {
  int version;                /* MENTORLOG_ABSENCE_VERSION */
  mentorlog_date from, to;    /* inclusive */
  int kind;                   /* mentorlog_absence_kind */
  const char *approved_ref;   /* municipality's approval; NULL = not approved */
  const char *reason;         /* sealed, may be NULL */
} mentorlog_absence_params;
#define MENTORLOG_ABSENCE_PARAMS_INIT {MENTORLOG_ABSENCE_VERSION, 0, 0, 0, NULL, NULL}
MENTORLOG_EXTERN void mentorlog_absence_params_init(mentorlog_absence_params *p);
/* Record an absence of case_id.
 * Errors: NOT_FOUND (no such case), CASE_ERASED, INVALID_ARGUMENT (p NULL or
 * of another version, unknown kind), BAD_DATE (from or to outside
 * 2000..2099), BAD_PERIOD (to before from, longer than 366 days), TOO_LARGE
 * (approved_ref over MENTORLOG_CODE_MAX, reason over MENTORLOG_REASON_MAX),
 * FIELD_RANGE, and the write errors. */
MENTORLOG_EXTERN int mentorlog_absence_add(mentorlog *h, uint8_t out_record[MENTORLOG_ID_BYTES],
                                           const uint8_t case_id[MENTORLOG_ID_BYTES],
                                           const mentorlog_absence_params *p);

/* Resolve a hex id or unique prefix (>= 6 hex digits) of a case
 * (what = 'c'), grant ('g') or record of any kind ('r').
 * NOT_FOUND, AMBIGUOUS_PREFIX, INVALID_ARGUMENT. */
MENTORLOG_EXTERN int mentorlog_resolve(mentorlog *h, uint8_t out[MENTORLOG_ID_BYTES], char what,
                                       const char *hex);

/* ---------------------------------------------------------- queries --- */
/* Lists are arrays the library allocates; free each with its *_free. A
 * "conflict" item has concurrent heads: every head is listed, newest by
 * (hlc, author) first, with conflict = 1 on each. */
typedef struct mentorlog_case {
  uint8_t id[MENTORLOG_ID_BYTES];
  char *name, *phone;         /* decrypted; NULL when erased */
  int erased;
  int conflict;
  int64_t opened_ms;          /* hlc time of CASE_OPEN */
  int locked;                 /* this device holds no key of the case yet (not approved,
                               * mentorlog/sync.h): name and phone are NULL */
} mentorlog_case;
MENTORLOG_EXTERN int mentorlog_cases(mentorlog *h, mentorlog_case **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_cases_free(mentorlog_case *v, size_t n);

typedef struct mentorlog_grant {
  uint8_t id[MENTORLOG_ID_BYTES];
  uint8_t record[MENTORLOG_ID_BYTES]; /* the head record */
  uint8_t case_id[MENTORLOG_ID_BYTES];
  char *jobcentre, *reference, *legal_basis, *purpose;
  mentorlog_date start, end;
  mentorlog_rule rule;
  uint32_t minutes_per_week;
  int closed;                 /* a GRANT_CLOSE head: end is the close date */
  int conflict;
  char *close_reason;         /* decrypted reason of that GRANT_CLOSE; NULL when none */
  int locked;                 /* no key of the case here: purpose and reason are NULL */
} mentorlog_grant;
/* Grants of case (or of every case when case_id is NULL). */
MENTORLOG_EXTERN int mentorlog_grants(mentorlog *h, const uint8_t *case_id, mentorlog_grant **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_grants_free(mentorlog_grant *v, size_t n);

typedef struct mentorlog_contact {
  uint8_t id[MENTORLOG_ID_BYTES];     /* the item (first record) */
  uint8_t record[MENTORLOG_ID_BYTES]; /* current head */
  int64_t start_ms, recorded_ms;
  uint32_t minutes, transport_minutes;
  int channel, outcome;
  char *note;                 /* decrypted, may be NULL */
  int late_entry;             /* recorded more than L days after start, L of the case's grant
                               * whose [start, end] covers the contact's local date (the
                               * latest-starting one if several), else the default 7 */
  int conflict;
  int locked;                 /* a sealed note exists but this device holds no key of the case */
} mentorlog_contact;
MENTORLOG_EXTERN int mentorlog_contacts(mentorlog *h, const uint8_t case_id[MENTORLOG_ID_BYTES],
                                        mentorlog_contact **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_contacts_free(mentorlog_contact *v, size_t n);

typedef struct mentorlog_note {
  uint8_t id[MENTORLOG_ID_BYTES];
  uint8_t record[MENTORLOG_ID_BYTES];
  int64_t recorded_ms;
  char *text;                 /* NULL when locked */
  int conflict;
  int locked;                 /* this device holds no key of the case: text is NULL */
} mentorlog_note;
MENTORLOG_EXTERN int mentorlog_notes(mentorlog *h, const uint8_t case_id[MENTORLOG_ID_BYTES],
                                     mentorlog_note **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_notes_free(mentorlog_note *v, size_t n);

typedef struct mentorlog_absence {
  uint8_t record[MENTORLOG_ID_BYTES];
  mentorlog_date from, to;
  int kind;
  char *approved_ref;         /* NULL when not approved */
} mentorlog_absence;
MENTORLOG_EXTERN int mentorlog_absences(mentorlog *h, const uint8_t case_id[MENTORLOG_ID_BYTES],
                                        mentorlog_absence **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_absences_free(mentorlog_absence *v, size_t n);

/* ------------------------------------------------------- compliance --- */
typedef enum mentorlog_status {
  MENTORLOG_MET = 1, MENTORLOG_NOT_ASSESSABLE, MENTORLOG_PENDING,
  MENTORLOG_MISSED_WITH_ATTEMPTS, MENTORLOG_MISSED
} mentorlog_status;
MENTORLOG_EXTERN const char *mentorlog_status_name(int status); /* "MET" ... */

typedef struct mentorlog_period {
  mentorlog_date start, end;   /* first and last day of the period */
  int status;                  /* mentorlog_status */
  const char *reason;          /* NOT_ASSESSABLE: "partial" or "absence"; else NULL (static) */
  uint32_t qualifying, attempts, minutes_held;
} mentorlog_period;
typedef struct mentorlog_compliance {
  uint8_t grant[MENTORLOG_ID_BYTES];
  mentorlog_rule rule;
  mentorlog_date start, end;
  size_t nperiods;
  mentorlog_period *periods;
  uint32_t met, assessable_final;
  uint64_t minutes_held, minutes_granted;
  /* current contacts of the case recorded more than L days after their
   * start (late entries, domain.md definition 9): the reports' late_entries */
  uint32_t late_entries;
} mentorlog_compliance;
/* Compliance of a grant evaluated at now_ms (the protocol's engine over the
 * current heads of the case's contacts and approved absences). */
MENTORLOG_EXTERN int mentorlog_grant_compliance(mentorlog *h, const uint8_t grant_id[MENTORLOG_ID_BYTES],
                                                int64_t now_ms, mentorlog_compliance **out);
MENTORLOG_EXTERN void mentorlog_compliance_free(mentorlog_compliance *c);

/* ------------------------------------------------------ maintenance --- */
/* PRAGMA integrity_check plus a full verification of this device's hash
 * chain (signatures, seq without gaps, prev links, outbox consistency).
 * CHAIN_BROKEN or PROFILE_CORRUPT with detail in errmsg. */
MENTORLOG_EXTERN int mentorlog_verify(mentorlog *h);
/* Number of records held, and of records waiting in the outbox. */
MENTORLOG_EXTERN int mentorlog_counts(mentorlog *h, uint64_t *records, uint64_t *outbox);
/* Whether record_id is stored (1) or not (0). */
MENTORLOG_EXTERN int mentorlog_has_record(mentorlog *h, const uint8_t record_id[MENTORLOG_ID_BYTES], int *present);

/* Batches: between begin and commit, writers share one transaction (bulk
 * import). Nothing is durable before commit; rollback drops all of it.
 * A writer that fails on its arguments (INVALID_ARGUMENT, NOT_FOUND,
 * TOO_LARGE, ...) leaves the batch as it was. One that fails while storing
 * (DISK_FULL, IO, OUT_OF_MEMORY, ...) rolls the whole batch back at once:
 * later writers and mentorlog_batch_commit then fail (INVALID_ARGUMENT)
 * until mentorlog_batch_rollback, which always ends the batch. */
MENTORLOG_EXTERN int mentorlog_batch_begin(mentorlog *h);
MENTORLOG_EXTERN int mentorlog_batch_commit(mentorlog *h);
MENTORLOG_EXTERN void mentorlog_batch_rollback(mentorlog *h);

/* -------------------------------------------------------------- time --- */
/* "YYYY-MM-DD" -> date. BAD_DATE. */
MENTORLOG_EXTERN int mentorlog_parse_date(mentorlog_date *out, const char *s);
/* "YYYY-MM-DD" of a date into buf (>= 11 bytes). */
MENTORLOG_EXTERN void mentorlog_format_date(char buf[11], mentorlog_date d);
/* Copenhagen wall time "YYYY-MM-DD HH:MM[+HH:MM]" -> Unix ms. Refuses a
 * nonexistent wall time (NONEXISTENT_LOCAL_TIME) and, without offset, an
 * ambiguous one (AMBIGUOUS_LOCAL_TIME). */
MENTORLOG_EXTERN int mentorlog_parse_local_time(int64_t *out_ms, const char *s);
/* Copenhagen civil date of an instant. */
MENTORLOG_EXTERN mentorlog_date mentorlog_local_date(int64_t ms);
/* ISO week label ("2026-W53") of a date into buf (>= 9 bytes). */
MENTORLOG_EXTERN void mentorlog_iso_week(char buf[9], mentorlog_date d);

#ifdef __cplusplus
}
#endif
#endif
