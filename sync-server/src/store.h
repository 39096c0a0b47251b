/*
 * store.h — the server's storage interface (DESIGN §6).
 *
 * Everything the application half keeps goes through this interface: mentors,
 * enrolment codes, devices, session tokens, API tokens, web sessions, case
 * ownership, the log (records, their leaves, the persisted perfect-subtree
 * hashes, the latest signed tree head), fork evidence, and the log's
 * witnesses with the cosignatures they sent. A backend is a
 * versioned table of functions (mls_store_ops), opened by URI with
 * mls_store_open(): "sqlite:FILE" (store_sqlite*.c, the embedded default) or
 * "postgresql://..." / "postgresql:KEY=VALUE ..." (store_pg*.c). Nothing
 * outside a backend's files knows which database it is; one conformance
 * suite (tests/server/test_store.c) runs every operation below against
 * every backend.
 *
 * PostgreSQL (store_pg.c says how): several server instances on several
 * machines share one database (MLS_STORE_CAP_SHARED). A write transaction
 * first locks the one row of log_head (SELECT ... FOR UPDATE, READ
 * COMMITTED): every writer of every instance and of `admin` queues there,
 * so the "one writer at a time per database" below holds across machines,
 * and a writer that waited past the busy timeout gets BUSY. A read
 * transaction is REPEATABLE READ, READ ONLY: one snapshot. Commits are
 * durable when they return (synchronous_commit on; with a synchronous
 * standby, on both). The schema lives in the connection's search_path
 * (unqualified names), tree nodes are kept as C2SP tiles, tree heads in an
 * append-only table. A write transaction may keep what it writes in memory
 * until its commit (one round trip per push batch); its reads still see
 * it, and the errors below are still reported by the call that causes
 * them. The conninfo never carries a password (PGPASSFILE).
 *
 * Policy is not the store's: expiry of sessions, purges and rate limits are
 * decided by the application, which passes the times in; the store keeps
 * primitive operations (a conditional update such as code_consume is one
 * operation because it must be atomic).
 *
 * Transactions. Every operation runs inside a transaction obtained from
 * mls_store_begin(): MLS_TXN_READ gives a consistent snapshot, MLS_TXN_WRITE
 * an exclusive writer (one at a time per database, across processes: the
 * admin command writes while the server runs; a waiting writer retries for
 * up to the busy timeout, then gets MLPROTO_ERR_BUSY). mls_store_commit()
 * returns only when the transaction is durable (SQLite: WAL with
 * synchronous=FULL); it frees the transaction whether it succeeds or not.
 * mls_store_rollback() undoes and frees; NULL is a no-op. Writes need a
 * WRITE transaction (PostgreSQL refuses them in a READ one:
 * INVALID_ARGUMENT). After a failure other than an operation's documented
 * outcomes (NOT_FOUND, ALREADY_EXISTS, TOO_LARGE, ... — those leave the
 * transaction usable), e.g. BUSY, STORAGE or a lost connection, a backend
 * may have aborted the transaction: it then returns that error until it is
 * rolled back (PostgreSQL does).
 *
 * Threads. One mls_store may be used by any number of threads at once; one
 * mls_txn belongs to the thread that began it. A thread must not begin a
 * second transaction while it holds one.
 *
 * What is not here: session challenges, which are stateless (challenge.h),
 * and the abuse limits (app_limits.h), which are per process.
 *
 * Errors. Every function returns MLPROTO_OK or a negative MLPROTO_ERR_*:
 * NOT_FOUND for a missing row where stated, ALREADY_EXISTS for a duplicate
 * key, NOT_FOUND also for a row that refers to one that does not exist (a
 * device of an unknown mentor; the transaction must then be rolled back,
 * as PostgreSQL aborts it), BUSY when the writer lock could not be obtained in time, DISK_FULL,
 * and STORAGE for any other backend failure (details go to the log as a
 * backend error code, never with row contents).
 *
 * Schema versions. A store records its layout version; opening one written
 * by a newer server fails with MLPROTO_ERR_STORE_TOO_NEW (nothing touched),
 * an older one is migrated forward in the opening transaction.
 *
 * Sizes. Ids are fixed-size binary: mentor ids and case ids 16 bytes, device
 * ids and authors (Ed25519 public keys), hashes 32 bytes. Strings are capped
 * by the caller (MLS_NAME_MAX, MLS_LABEL_MAX) and the backend enforces the
 * caps again.
 */
#ifndef MLS_STORE_H
#define MLS_STORE_H

#include <stddef.h>
#include <stdint.h>

#define MLS_NAME_MAX 128        /* mentor display name, bytes (UTF-8) */
#define MLS_LABEL_MAX 64        /* device label, bytes */
#define MLS_JOBCENTRE_MAX 64    /* jobcentre id, bytes */
#define MLS_ROLE_MAX 15         /* API token role: "jobcentre", "auditor", "witness" */
#define MLS_META_MAX 256        /* a meta value, bytes */
#define MLS_ENVELOPE_MAX (96 * 1024)
#define MLS_RANGE_MAX 256u      /* most rows node_range / leaf_entry_range give */

typedef struct mls_store mls_store;
typedef struct mls_txn mls_txn;

enum { MLS_TXN_READ = 0, MLS_TXN_WRITE = 1 };

typedef struct mls_device {
  uint8_t id[16];         /* mls_device_id(pub): the short id admins and devices see */
  uint8_t pub[32];        /* Ed25519: the device's identity, author of its records */
  uint8_t box_pub[32];    /* X25519 for case-key grants */
  uint8_t mentor_id[16];
  char label[MLS_LABEL_MAX + 1];
  uint64_t enrolled_ms;
  uint64_t revoked_ms;    /* 0 while active */
} mls_device;

/* An enrolment code as the store keeps it: never the code, nor its hash
 * (the hash is the key the code is looked up by and stays inside the
 * store). id is random, assigned at issue: what the administrator lists
 * and revokes a code by. */
#define MLS_CODE_ID_LEN 8
typedef struct mls_enroll_code {
  uint8_t id[MLS_CODE_ID_LEN];
  uint8_t mentor_id[16];
  uint64_t created_ms;
  uint64_t expires_ms;
  uint64_t used_ms;       /* 0 while unused */
  uint8_t used_by[32];    /* the enrolled device's Ed25519 key; zero while unused */
  uint64_t revoked_ms;    /* 0 unless revoked */
} mls_enroll_code;

typedef struct mls_mentor {
  uint8_t id[16];
  char name[MLS_NAME_MAX + 1];
  uint64_t created_ms;
} mls_mentor;

/* One log entry with its record, as appended and as listed. */
typedef struct mls_log_entry {
  uint64_t index;            /* leaf index, 0-based */
  uint8_t type;              /* MLPROTO log entry type: device record / server event */
  uint64_t received_ms;      /* server receipt time, committed in the leaf */
  uint8_t record_hash[32];
  uint8_t leaf_hash[32];     /* SHA-256(0x00 || entry) */
  uint8_t author[32];
  uint64_t seq;
  uint8_t record_id[16];
  uint8_t case_id[16];
  uint32_t kind;
  int has_mentor;            /* visibility: 0 = concerns no mentor (only auditors see it) */
  uint8_t mentor_id[16];     /* the mentor who may pull it */
  const uint8_t *envelope;   /* serialized Envelope; borrowed */
  size_t envelope_len;
} mls_log_entry;

/* What a leaf commits to: the fields of its log entry (mlproto/merkle.h:
 * entry = u8 type || u64be received_ms || record_hash, leaf hash =
 * SHA-256(0x00 || entry)), without the record itself. */
typedef struct mls_leaf_entry {
  uint8_t type;
  uint64_t received_ms;
  uint8_t record_hash[32];
} mls_leaf_entry;

/* A record already at (author, seq). */
typedef struct mls_record_ref {
  uint64_t index;
  uint64_t received_ms; /* receipt time committed in its log entry */
  uint8_t record_hash[32];
} mls_record_ref;

/* A witness of the log (C2SP tlog-witness): its key name and its verifier
 * key (mlproto/cosignature.h, type 0x04), configured by the operator. */
#define MLS_WITNESS_NAME_MAX 255 /* MLPROTO_CHECKPOINT_ORIGIN_MAX */
#define MLS_VKEY_MAX 309         /* MLPROTO_NOTE_VKEY_MAX - 1 (without the NUL) */
typedef struct mls_witness {
  char name[MLS_WITNESS_NAME_MAX + 1];
  char vkey[MLS_VKEY_MAX + 1];
  uint64_t added_ms;
} mls_witness;

/* A cosignature/v1 the server verified and keeps: by witness, for the
 * checkpoint of tree size `size` (whose body the server re-creates). */
typedef struct mls_cosignature {
  char witness[MLS_WITNESS_NAME_MAX + 1];
  uint64_t size;
  uint64_t timestamp;   /* the cosignature's, POSIX seconds */
  uint8_t sig[64];      /* Ed25519 over "cosignature/v1\ntime T\n" || body */
  uint64_t received_ms; /* when the server stored it */
} mls_cosignature;

typedef int (*mls_device_fn)(void *ud, const mls_device *d);
typedef int (*mls_mentor_fn)(void *ud, const mls_mentor *m);
typedef int (*mls_code_fn)(void *ud, const mls_enroll_code *c);
/* The entry (and its envelope) are valid only during the call. A non-zero
 * return stops the iteration and is returned by the listing function. */
typedef int (*mls_entry_fn)(void *ud, const mls_log_entry *e);
/* A case id; a non-zero return stops the iteration and is returned. */
typedef int (*mls_case_fn)(void *ud, const uint8_t case_id[16]);
/* A case and when it was erased (0: never); a non-zero return stops the
 * iteration and is returned. */
typedef int (*mls_case_state_fn)(void *ud, const uint8_t case_id[16], uint64_t erased_ms);
/* A fork evidence row (its id, and the two envelopes, valid only during the
 * call); a non-zero return stops the iteration and is returned. */
typedef int (*mls_fork_fn)(void *ud, uint64_t id, const uint8_t *logged, size_t logged_len,
                           const uint8_t *pushed, size_t pushed_len);
/* A witness / a cosignature, valid during the call; non-zero stops. */
typedef int (*mls_witness_fn)(void *ud, const mls_witness *w);
typedef int (*mls_cosig_fn)(void *ud, const mls_cosignature *c);

/* The layout of mls_store_ops below. A backend sets .version to the value
 * it was written for; mls_store_open() refuses a table of another version
 * (MLPROTO_ERR_INTERNAL: a build error, not a user's). */
#define MLS_STORE_OPS_VERSION 1

/* Capabilities (mls_store_ops.caps): what the application may rely on. */
enum {
  /* Several server processes on several machines may serve from the store at
   * once (PostgreSQL). Without it, every server process must run on the
   * machine that holds the store's files (SQLite: several processes of one
   * machine share its lock). */
  MLS_STORE_CAP_SHARED = 1u << 0,
  /* scrub() removes replaced bytes from files the store controls (SQLite:
   * a TRUNCATE checkpoint of the WAL). Without it scrub() is the
   * database's own reclamation, which may leave old row versions until the
   * database's maintenance runs (the operator's guide says which). */
  MLS_STORE_CAP_SCRUB_FILES = 1u << 1,
};

typedef struct mls_store_ops {
  unsigned version;       /* MLS_STORE_OPS_VERSION */
  unsigned caps;          /* MLS_STORE_CAP_* */
  const char *name;       /* "sqlite", "postgresql": for logs and /metrics */
  void (*close)(mls_store *st);
  int (*begin)(mls_store *st, int mode, mls_txn **out);
  int (*commit)(mls_txn *tx);
  void (*rollback)(mls_txn *tx);

  int (*mentor_add)(mls_txn *tx, const mls_mentor *m);
  int (*mentor_get)(mls_txn *tx, const uint8_t id[16], mls_mentor *out);  /* NOT_FOUND */
  int (*mentor_list)(mls_txn *tx, mls_mentor_fn fn, void *ud);

  /* A new unused code under its hash and its id (random, MLS_CODE_ID_LEN
   * bytes); ALREADY_EXISTS when either is taken. */
  int (*code_add)(mls_txn *tx, const uint8_t code_hash[32], const uint8_t id[MLS_CODE_ID_LEN],
                  const uint8_t mentor_id[16], uint64_t created_ms, uint64_t expires_ms);
  /* Marks the code used by device (its Ed25519 public key) and gives its
   * mentor; ENROLL_CODE_INVALID when the code is unknown, already used,
   * revoked or expired at now_ms (one answer for all). */
  int (*code_consume)(mls_txn *tx, const uint8_t code_hash[32], uint64_t now_ms,
                      const uint8_t device[32], uint8_t mentor_id[16]);
  /* The device that used the code, and the code's mentor; NOT_FOUND when the
   * code is unknown or unused. Lets a retried enrolment (same code, same
   * keys) get its first answer again. */
  int (*code_used_by)(mls_txn *tx, const uint8_t code_hash[32], uint8_t device[32],
                      uint8_t mentor_id[16]);
  /* Every code ever issued (used, expired and revoked ones too), oldest
   * first (created_ms, then id); the iteration stops at fn's first non-zero
   * return, which is returned. */
  int (*code_list)(mls_txn *tx, mls_code_fn fn, void *ud);
  /* The code with this id; NOT_FOUND. */
  int (*code_get)(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out);
  /* Revokes an unused, not yet revoked code (expired or not) at now_ms:
   * from then on code_consume refuses it. NOT_FOUND when no such code is
   * unused and unrevoked (the caller tells which with code_get). */
  int (*code_revoke)(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now_ms);

  int (*device_add)(mls_txn *tx, const mls_device *d);           /* ALREADY_EXISTS */
  int (*device_get)(mls_txn *tx, const uint8_t pub[32], mls_device *out); /* NOT_FOUND */
  int (*device_get_by_id)(mls_txn *tx, const uint8_t id[16], mls_device *out); /* NOT_FOUND */
  int (*device_list)(mls_txn *tx, mls_device_fn fn, void *ud);
  int (*device_revoke)(mls_txn *tx, const uint8_t pub[32], uint64_t now_ms); /* NOT_FOUND */

  /* Session challenges are not kept here: they are stateless (challenge.h).
   * A session remembers the challenge it was opened with (32 bytes), and no
   * two sessions have the same: ALREADY_EXISTS when a session was opened
   * with this challenge already (at any instance sharing the store; or,
   * never in practice, when the token hash is taken). That makes a
   * challenge that opened a session single-use across instances, as long
   * as a session outlives a challenge (an hour against 90 s at most,
   * app_int.h), which session_purge keeps true: it takes expired ones only. */
  int (*session_add)(mls_txn *tx, const uint8_t token_hash[32], const uint8_t device[32],
                     uint64_t expires_ms, const uint8_t challenge[32]);
  /* Deletes at most max_rows sessions expired at now_ms (expires_ms <=
   * now_ms), the earliest first, and says how many in *purged (may be
   * NULL). Bounded work for the caller to spend where it already writes;
   * the policy (when, how many) is the application's: app_session.c
   * purges up to SESSION_PURGE_BATCH in the transaction of each session
   * it opens, which adds one row: expired rows cannot pile up while
   * sessions are opened, and nothing is written for them otherwise. */
  int (*session_purge)(mls_txn *tx, uint64_t now_ms, uint32_t max_rows, uint32_t *purged);
  /* UNAUTHENTICATED when unknown or expired. */
  int (*session_get)(mls_txn *tx, const uint8_t token_hash[32], uint64_t now_ms,
                     uint8_t device[32]);

  int (*api_token_add)(mls_txn *tx, const uint8_t token_hash[32], const char *role,
                       const char *jobcentre, uint64_t created_ms);

  int (*case_owner)(mls_txn *tx, const uint8_t case_id[16], uint8_t mentor_id[16]); /* NOT_FOUND */
  int (*case_claim)(mls_txn *tx, const uint8_t case_id[16], const uint8_t mentor_id[16]);

  /* Highest seq of author and its record hash; seq 0 and zero hash when none. */
  int (*author_head)(mls_txn *tx, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]);
  int (*record_at)(mls_txn *tx, const uint8_t author[32], uint64_t seq,
                   mls_record_ref *out);                          /* NOT_FOUND */
  /* Copies the envelope at log index into buf (cap bytes); NOT_FOUND. */
  int (*envelope_at)(mls_txn *tx, uint64_t index, uint8_t *buf, size_t cap, size_t *len);

  /* Appends the entry at e->index, which must equal the current log size:
   * ALREADY_EXISTS for an index below it or an (author, seq) already in
   * the log, INVALID_ARGUMENT past it (no gap), TOO_LARGE past
   * MLS_ENVELOPE_MAX. e->leaf_hash is the leaf's hash (log.c computes it):
   * what leaf_find looks up (SQLite reads it from the level-0 node,
   * PostgreSQL keeps it with the row). */
  int (*log_append)(mls_txn *tx, const mls_log_entry *e);
  int (*log_size)(mls_txn *tx, uint64_t *size);
  /* Entries with index >= since, ascending, at most limit; only those whose
   * mentor is *mentor_id when mentor_id is not NULL. None for a since past
   * 2^63 - 1. */
  int (*log_list)(mls_txn *tx, const uint8_t *mentor_id, uint64_t since, uint32_t limit,
                  mls_entry_fn fn, void *ud);
  /* Index of the leaf with this leaf hash (the lowest, should two be equal). */
  int (*leaf_find)(mls_txn *tx, const uint8_t leaf_hash[32], uint64_t *index); /* NOT_FOUND */

  /* Perfect-subtree hashes: level 0 = leaf hashes, (level, index) covers
   * leaves [index << level, (index + 1) << level). The nodes of a level are
   * put in index order, as the log completes them (PostgreSQL keeps them
   * in tiles of 256, which hold no gap): ALREADY_EXISTS for a stored node,
   * INVALID_ARGUMENT for one whose predecessor (level, index - 1) is not
   * stored, a level past 63 or an index past 2^63 - 1. */
  int (*node_put)(mls_txn *tx, unsigned level, uint64_t index, const uint8_t hash[32]);
  int (*node_get)(mls_txn *tx, unsigned level, uint64_t index, uint8_t hash[32]); /* NOT_FOUND */

  /* The latest signed tree head: blob is mlproto_sth_encode()'s form
   * (INVALID_ARGUMENT otherwise; TOO_LARGE past 256 bytes), keyed by its
   * size. Heads only grow: the same bytes as the latest again are a no-op;
   * another head of the latest's size (two heads for one size: a split
   * view in the making) or of a smaller size is refused with STORAGE and
   * logged (sth_conflict, sth_older). PostgreSQL keeps every head
   * (append-only), SQLite the latest; sth_get gives the largest. */
  int (*sth_put)(mls_txn *tx, const uint8_t *blob, size_t len);
  int (*sth_get)(mls_txn *tx, uint8_t *blob, size_t cap, size_t *len);  /* NOT_FOUND */

  /* Fork evidence: the envelope already logged at (author, seq) and the
   * different one that was pushed, by which device, when. */
  int (*fork_add)(mls_txn *tx, const uint8_t author[32], uint64_t seq,
                  const uint8_t *logged, size_t logged_len,
                  const uint8_t *pushed, size_t pushed_len,
                  const uint8_t device[32], uint64_t now_ms);
  int (*fork_count)(mls_txn *tx, uint64_t *count);

  /* --- Ranges for the C2SP tlog-tiles endpoints (app_tiles.c): one tile
   * or entry bundle is one query, not 256. count is 1..MLS_RANGE_MAX (the
   * width of a tile), level at most 63, and first + count must not pass
   * 2^63: INVALID_ARGUMENT otherwise.
   * NOT_FOUND when any one of the range is missing. On failure out holds
   * zeros. --- */
  /* The perfect-subtree hashes (level, first) .. (level, first + count - 1)
   * (node_get's numbering), in index order, into out[0..count). */
  int (*node_range)(mls_txn *tx, unsigned level, uint64_t first, uint32_t count,
                    uint8_t (*out)[32]);
  /* The entries of leaves first .. first + count - 1, in index order, into
   * out[0..count); envelopes are not read. */
  int (*leaf_entry_range)(mls_txn *tx, uint64_t first, uint32_t count, mls_leaf_entry *out);

  /* --- reports (schema v5) --- */
  /* The role and jobcentre ("" for none) of an API token by its hash. */
  int (*api_token_get)(mls_txn *tx, const uint8_t token_hash[32], char role[MLS_ROLE_MAX + 1],
                       char jobcentre[MLS_JOBCENTRE_MAX + 1]);            /* NOT_FOUND */
  /* The jobcentres a case's grants name: a GRANT_OPEN/UPDATE record naming
   * jobcentre adds the pair (idempotent). A report lists the cases of its
   * jobcentre and then keeps the grants whose current version names it. */
  int (*case_jobcentre_add)(mls_txn *tx, const uint8_t case_id[16], const char *jobcentre);
  int (*jobcentre_cases)(mls_txn *tx, const char *jobcentre, mls_case_fn fn, void *ud);
  /* The log entries of one case with index < below, ascending; their
   * leaf_hash is not read (zero). */
  int (*case_entries)(mls_txn *tx, const uint8_t case_id[16], uint64_t below, mls_entry_fn fn,
                      void *ud);
  /* What the report cache (report_cache.h) keys a case on, read in the
   * snapshot of tx: its owner, its erasure time (0: not erased) and the
   * index of its newest log entry with index < below (*last_index
   * UINT64_MAX when it has none). The log only grows and a case's entries
   * change in place only when it is erased (erase.h: then erased_ms goes
   * from 0 to the time), so two snapshots that read the same three see
   * the same entries below `below`. NOT_FOUND when no one claimed the case. */
  int (*case_version)(mls_txn *tx, const uint8_t case_id[16], uint64_t below,
                      uint8_t owner[16], uint64_t *erased_ms, uint64_t *last_index);
  /* Small named values of the store's own (key <= 64 bytes, value <=
   * MLS_META_MAX): what a migration leaves for the application to finish. */
  int (*meta_get)(mls_txn *tx, const char *key, uint8_t *buf, size_t cap,
                  size_t *len);                                            /* NOT_FOUND */
  int (*meta_put)(mls_txn *tx, const char *key, const uint8_t *val, size_t len);

  /* --- erasure and retention (schema v6; erase.h) --- */
  /* Replaces the envelope at log index by env (<= MLS_ENVELOPE_MAX bytes);
   * NOT_FOUND when there is no such entry. The store does not parse it: the
   * caller (erase.h) writes only an erased form of the same record, whose
   * header and signature, hence record hash, leaf and every proof, are
   * byte-identical (it checks mlproto_record_hash equality first). */
  int (*envelope_replace)(mls_txn *tx, uint64_t index, const uint8_t *env, size_t len);
  /* When the case was erased (*erased_ms, 0 when it was not); NOT_FOUND
   * when no one claimed the case. */
  int (*case_erased_get)(mls_txn *tx, const uint8_t case_id[16], uint64_t *erased_ms);
  /* Marks the case erased at now_ms (> 0); a case erased already keeps its
   * first time. NOT_FOUND when no one claimed the case. */
  int (*case_erased_set)(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms);
  /* Every claimed case, by case id, with its erasure time (0: not erased). */
  int (*case_list)(mls_txn *tx, mls_case_state_fn fn, void *ud);
  /* Every fork evidence row (fork_add), oldest first. */
  int (*fork_list)(mls_txn *tx, mls_fork_fn fn, void *ud);
  /* Replaces the two envelopes of fork evidence row id (each <=
   * MLS_ENVELOPE_MAX); NOT_FOUND. As envelope_replace, the caller writes
   * only erased forms of the same records. */
  int (*fork_replace)(mls_txn *tx, uint64_t id, const uint8_t *logged, size_t logged_len,
                      const uint8_t *pushed, size_t pushed_len);
  /* Outside any transaction: removes from the store's files the bytes that
   * committed transactions replaced (SQLite: a TRUNCATE checkpoint, so the
   * WAL no longer holds old page images; deleted cells are zeroed as they
   * are freed, secure_delete). BUSY when readers kept it from finishing
   * within the busy timeout: the old images are then overwritten later,
   * call it again. PostgreSQL (no MLS_STORE_CAP_SCRUB_FILES): VACUUM of
   * log and forks; the replaced row versions become unreachable and their
   * space reusable, but their bytes stay in the files until reused, in WAL
   * not yet recycled, archives and backups; one that an open snapshot can
   * still see stays until a later VACUUM (docs/operator.md §16.1). */
  int (*scrub)(mls_store *st);
  /* --- witnesses (issue 11). Two tables the schema creates with IF NOT
   * EXISTS, no schema version of their own (store_sqlite.c says why). --- */
  /* A new witness; ALREADY_EXISTS when the name is taken (a witness's key
   * never changes: its cosignatures stay valid). The caller checks the
   * name and vkey (mlproto_cosig_vkey_parse); the backend the lengths
   * (TOO_LARGE). */
  int (*witness_add)(mls_txn *tx, const mls_witness *w);
  int (*witness_get)(mls_txn *tx, const char *name, mls_witness *out);   /* NOT_FOUND */
  /* Every witness, by name. */
  int (*witness_list)(mls_txn *tx, mls_witness_fn fn, void *ud);
  /* Keeps c (verified by the caller) as its witness's cosignature of
   * c->size: one per (witness, size). *stored = 1 when c was inserted or
   * replaced an older one (a smaller timestamp: the same root, attested
   * later), 0 when the one kept is as new or newer (nothing changed).
   * NOT_FOUND for an unknown witness. */
  int (*cosig_put)(mls_txn *tx, const mls_cosignature *c, int *stored);
  /* The cosignatures kept for size, by witness name; at most limit. */
  int (*cosig_list)(mls_txn *tx, uint64_t size, uint32_t limit, mls_cosig_fn fn, void *ud);
  /* --- the jobcentre caseworker's web sessions (issue 13, app_web.c). One
   * table the schema creates with IF NOT EXISTS, no schema version of its
   * own (as the witnesses' tables). A session is keyed by the hash of its
   * cookie's value, never the value, and holds the hash of the API token
   * it was opened with, never the token: every request looks that token
   * up again, so a token that is gone ends its sessions. The policy
   * (idle and absolute lifetimes) is the application's: it passes the
   * times in. --- */
  /* A new session; ALREADY_EXISTS when id_hash is taken. */
  int (*web_session_add)(mls_txn *tx, const uint8_t id_hash[32], const uint8_t token_hash[32],
                         uint64_t created_ms, uint64_t expires_ms);
  /* The session's token hash, creation and expiry times, unless it expired
   * at now_ms (expires_ms <= now_ms): UNAUTHENTICATED then, and when
   * unknown. */
  int (*web_session_get)(mls_txn *tx, const uint8_t id_hash[32], uint64_t now_ms,
                         uint8_t token_hash[32], uint64_t *created_ms, uint64_t *expires_ms);
  /* Sets the session's expiry (an active session's idle time renewed);
   * NOT_FOUND when there is no such session. */
  int (*web_session_touch)(mls_txn *tx, const uint8_t id_hash[32], uint64_t expires_ms);
  /* Deletes the session (sign-out); NOT_FOUND when there is none. */
  int (*web_session_delete)(mls_txn *tx, const uint8_t id_hash[32]);
  /* As session_purge, for the web sessions: at most max_rows expired at
   * now_ms, the earliest first; *purged (may be NULL) says how many. */
  int (*web_session_purge)(mls_txn *tx, uint64_t now_ms, uint32_t max_rows, uint32_t *purged);
} mls_store_ops;

struct mls_store {
  const mls_store_ops *ops;
};

/* A transaction remembers its store's table. Backends embed this first. */
struct mls_txn {
  const mls_store_ops *ops;
};

/* The 16-byte device id: SHA-256("mentorlog/device-id/v1\0" || pub)[0..16). */
void mls_device_id(uint8_t id[16], const uint8_t pub[32]);

/* How to open a store. Versioned: set .version = MLS_STORE_OPTIONS_VERSION;
 * fields added later are zero for an older caller. */
#define MLS_STORE_OPTIONS_VERSION 1
typedef struct mls_store_options {
  unsigned version;
  int create;               /* create the schema when the store is empty */
  unsigned busy_timeout_ms; /* how long a writer waits for another writer
                               before MLPROTO_ERR_BUSY; 0: 5000 */
  unsigned connections;     /* most connections kept open (one per thread
                               that uses the store at once); 0: 16 */
} mls_store_options;

#define MLS_STORE_URI_MAX 1024

/* The meta key admin migrate writes into the source store when the copy has
 * committed (value: a line of text, "migrated at <ms> to <backend>, log
 * size <n>"); mls_store_open() refuses a store that has it. */
#define MLS_META_MIGRATED "migrated_to"

/* Opens the store named by uri:
 *   sqlite:FILE                    the SQLite database file FILE (created,
 *                                  mode 0600, when create is set);
 *   postgresql://... postgres://...  a libpq connection URI, or
 *   postgresql:KEY=VALUE ...       a libpq key/value connection string.
 * A schema older than this server's is migrated forward in the opening
 * transaction; a newer one is refused (STORE_TOO_NEW, nothing touched).
 * MLPROTO_ERR_INVALID_ARGUMENT for an unknown scheme or an empty target,
 * TOO_LARGE past MLS_STORE_URI_MAX, NOT_FOUND when create is 0 and the store
 * has no schema, STORAGE / BUSY when the database cannot be reached or
 * locked. The uri is never logged (it may name a host and a user; a
 * password in it is refused by mls_store_uri_check()). STORE_MIGRATED when
 * the store carries the marker admin migrate leaves in a store it copied
 * (meta MLS_META_MIGRATED; read in the opening transaction before any
 * migration runs, so nothing of the file is changed): its log now
 * continues in the other store, and serving this one would sign a second
 * history. *out is NULL on failure. */
int mls_store_open(mls_store **out, const char *uri, const mls_store_options *opt);

/* A secret every instance sharing the store uses (the session challenges'
 * MAC key, challenge.h; the TLS ticket secret, net_serve.c), kept under the
 * meta key meta: read, or (when the store has none yet) drawn at random and
 * written, in one write transaction; a second instance starting at the same
 * time waits for the writer lock and then reads the one the first wrote.
 * *secret: len bytes (1..64) from sodium_malloc, read-only, never logged;
 * free with sodium_free (it wipes). *created (when not NULL): 1 when this
 * call wrote it. BAD_KEY when the stored value is not len bytes; the
 * store's errors otherwise. *secret is NULL on failure. */
int mls_store_secret_load(mls_store *st, const char *meta, size_t len, uint8_t **secret,
                          int *created);

/* Checks a store URI given on a command line or in a file: the scheme is
 * known and no password is in it (libpq takes passwords from PGPASSFILE /
 * ~/.pgpass, never from argv, where every user of the machine can read it).
 * MLPROTO_OK, INVALID_ARGUMENT (unknown scheme, empty target, a password),
 * TOO_LARGE. *why gets a static human message on failure. */
int mls_store_uri_check(const char *uri, const char **why);

/* The backend the uri names: "sqlite", "postgresql", NULL when unknown. */
const char *mls_store_uri_backend(const char *uri);

/* The libpq connection string of a postgresql URI: the URI itself for the
 * postgresql:// and postgres:// forms, what follows "postgresql:" for the
 * key/value form (borrowed from uri). NULL for any other URI. Check the URI
 * with mls_store_uri_check() first: this does not look for a password. */
const char *mls_store_uri_conninfo(const char *uri);

static inline void mls_store_close(mls_store *st) { if (st) st->ops->close(st); }
static inline int mls_store_begin(mls_store *st, int mode, mls_txn **out) {
  return st->ops->begin(st, mode, out);
}
static inline int mls_store_commit(mls_txn *tx) { return tx->ops->commit(tx); }
static inline void mls_store_rollback(mls_txn *tx) { if (tx) tx->ops->rollback(tx); }
static inline int mls_store_scrub(mls_store *st) { return st->ops->scrub(st); }

/* Call the operation `op` of the transaction's backend: MLS_TX(tx, device_get, pub, &d). */
#define MLS_TX(tx, op, ...) ((tx)->ops->op((tx), __VA_ARGS__))

#endif
