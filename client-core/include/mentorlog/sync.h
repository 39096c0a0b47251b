/*
 * mentorlog/sync.h — the sans-I/O sync engine of libmentorlog (DESIGN §5,
 * docs/wire-protocol.md).
 *
 * The engine speaks the sync protocol as requests and answers, never as
 * bytes on a socket: it links no TLS and opens no connection. The caller (a
 * mobile app over its platform's HTTPS stack, the CLI over tools/netclient)
 * carries each request to the server and hands the answer back:
 *
 *     mentorlog_sync *s;
 *     mentorlog_sync_new(h, &opts, &s);
 *     for (;;) {
 *       mentorlog_sync_action a;
 *       mentorlog_sync_step(s, now_ms(), &a);
 *       if (a.kind == MENTORLOG_SYNC_SEND) {
 *         ... send a.method a.path with a.headers and a.body over HTTPS ...
 *         mentorlog_sync_deliver(s, a.request_id, status, hdrs, nh, body, len, now_ms());
 *       } else if (a.kind == MENTORLOG_SYNC_WAIT) {
 *         sleep until a.until_ms (or until the network comes back)
 *       } else break; // DONE or FAIL (a.error, mentorlog_sync_errmsg)
 *     }
 *     mentorlog_sync_free(s);
 *
 * Status 0 in deliver means "no complete answer" (connection refused, reset
 * or closed in the middle, timeout, truncated body): the engine waits with
 * backoff and asks again. The engine never reads a clock: every time is
 * passed in (Unix ms).
 *
 * What a sync does, in order (each step repeated when its answer is lost):
 *  1. first run (options.enroll_code): POST /v1/enroll, then the checkpoint
 *     of the answer's tree size, kept as the first trusted checkpoint (the
 *     log's origin and key are learnt here: trust on first use, over the
 *     pinned TLS connection), committed at once; then a whole sync (2-6),
 *     whose pull tells whether this device is the mentor's first;
 *  2. a session (challenge, signed answer; again after any 401);
 *  3. push the outbox, oldest first, in batches; each acknowledged record
 *     becomes a receipt (log index, receipt time) in the same transaction
 *     that removes it from the outbox;
 *  4. pull from the cursor, page by page. Each page is checked in full
 *     before anything of it is applied: every envelope's signature, hashes
 *     and chain, its author (a device of this mentor or the log's key),
 *     order and range of log indices, the page's checkpoint (signature by
 *     the log key, consistency with the last one kept, no second root for a
 *     size), a spot inclusion proof of one entry per page, and the receipts
 *     of own records against their leaves. Then the records, the cursor and
 *     the new checkpoint are stored in ONE transaction;
 *  5. key grants: every case key this device holds is granted (KEY_GRANT)
 *     to every approved, non-revoked device of the mentor lacking it; the
 *     new records go to the outbox, and the engine pushes again;
 *  6. DONE when the outbox is empty and the last page said no more.
 * A failed check is FAIL with MENTORLOG_ERR_SERVER_LIED, _SPLIT_VIEW or
 * _PROOF_INVALID and a message naming the check; nothing of that answer is
 * stored, and the checkpoint notes of a split view are kept as evidence.
 *
 * State. Everything the engine knows between runs (device and mentor ids,
 * the server's key and log origin, url and pin, cursor, last checkpoint
 * note, known devices, receipts) is in the profile, sealed at rest like
 * the records, and changes in the same transaction as the records it
 * describes. An engine may be dropped at any instant (SIGKILL included):
 * the next one resumes from what was committed, and since every request of
 * the protocol is idempotent, nothing is lost or stored twice.
 *
 * Errors as in mentorlog.h (MENTORLOG_ERR_*; docs/errors.md).
 */
#ifndef MENTORLOG_SYNC_H
#define MENTORLOG_SYNC_H

#include "mentorlog/mentorlog.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MENTORLOG_URL_MAX 255         /* server URL kept for the caller */
#define MENTORLOG_PIN_MAX 255         /* server pin kept for the caller */
#define MENTORLOG_LABEL_MAX 64        /* device label (wire limit) */
#define MENTORLOG_ORIGIN_MAX 255      /* the log's name (checkpoint origin) */
/* "ABCD-EFGH-JKMN-PQRS": 80 bits of SHA-256 over a device's keys in
 * Crockford base32, four groups of four (mlproto_device_fingerprint). */
#define MENTORLOG_FINGERPRINT_LEN 19

typedef struct mentorlog_sync mentorlog_sync;

#define MENTORLOG_SYNC_OPTIONS_VERSION 1
typedef struct mentorlog_sync_options {
  int version;              /* MENTORLOG_SYNC_OPTIONS_VERSION */
  /* Enrolment (first run only; all NULL for a sync). enroll_code set: the
   * engine enrols this device, then syncs; ALREADY_EXISTS from
   * mentorlog_sync_new if the profile is enrolled already. server_url and
   * server_pin are not used by the engine: they are kept (sealed) for the
   * caller, who reads them back with mentorlog_sync_status to connect. */
  const char *enroll_code;  /* 1..64 of [A-Za-z0-9._-] (spaces stripped by the caller) */
  const char *label;        /* 0..MENTORLOG_LABEL_MAX bytes of UTF-8, may be NULL */
  const char *server_url;   /* 1..MENTORLOG_URL_MAX bytes */
  const char *server_pin;   /* 0..MENTORLOG_PIN_MAX bytes, e.g. "sha256:HEX" or "ca:PATH" */
  /* Tuning; 0 takes the default. */
  uint32_t pull_limit;      /* items per pull page; default and maximum 1024 */
  uint32_t push_records;    /* records per push batch; default and maximum 1024 */
  uint32_t push_bytes;      /* encoded PushRequest cap; default 4 MiB - 64 KiB */
  uint32_t max_attempts;    /* answers in a row that are 429/503/none before
                               FAIL UNREACHABLE; default 6 */
  uint32_t verify_threads;  /* threads verifying the signatures of a pull page
                               (inside deliver, joined before it returns; only
                               for pages of >= 256 entries); 0: the online CPUs,
                               at most 4; 1: none. The allocator
                               (mentorlog_set_allocator) must then be thread-safe */
} mentorlog_sync_options;
#define MENTORLOG_SYNC_OPTIONS_INIT {MENTORLOG_SYNC_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0}

typedef enum mentorlog_sync_kind {
  MENTORLOG_SYNC_SEND = 1, /* carry the request, then mentorlog_sync_deliver */
  MENTORLOG_SYNC_WAIT,     /* nothing to send before until_ms */
  MENTORLOG_SYNC_DONE,     /* up to date: outbox empty, nothing more to pull */
  MENTORLOG_SYNC_FAIL      /* stopped: error, mentorlog_sync_errmsg */
} mentorlog_sync_kind;

typedef struct mentorlog_sync_header {
  const char *name, *value;
} mentorlog_sync_header;

/* What the caller does next. Every pointer is the engine's, valid until
 * the next call on the engine. */
typedef struct mentorlog_sync_action {
  int kind;                     /* mentorlog_sync_kind */
  /* SEND */
  uint64_t request_id;          /* name it in deliver */
  const char *method;           /* "GET" or "POST" */
  const char *path;             /* with query, e.g. "/v1/pull?since=3&limit=1024" */
  const mentorlog_sync_header *headers; /* Content-Type, Authorization, Accept */
  size_t n_headers;
  const uint8_t *body;          /* NULL for a GET */
  size_t body_len;
  /* WAIT */
  int64_t until_ms;
  /* FAIL */
  int error;                    /* MENTORLOG_ERR_* */
} mentorlog_sync_action;

/* A new engine on h (the handle must stay open and unused by anyone else
 * until mentorlog_sync_free). *out NULL on failure. INVALID_ARGUMENT (bad
 * options or version), NOT_ENROLLED (no enroll_code and never enrolled),
 * ALREADY_EXISTS (enroll_code on an enrolled profile), SPLIT_VIEW (the
 * server once signed two roots for one size: never synced with again; the
 * evidence is in mentorlog_sync_evidence), TOO_LARGE (a string over its
 * cap), OUT_OF_MEMORY, and the storage errors. */
MENTORLOG_EXTERN int mentorlog_sync_new(mentorlog *h, const mentorlog_sync_options *opts,
                                        mentorlog_sync **out) MENTORLOG_WARN_UNUSED;
/* The next action at now_ms. While a SEND is not delivered, step returns
 * it again (same request_id). Once DONE or FAIL, always that. Returns the
 * same error as a FAIL action, or 0. */
MENTORLOG_EXTERN int mentorlog_sync_step(mentorlog_sync *s, int64_t now_ms, mentorlog_sync_action *a);
/* The answer to request_id: HTTP status (0: no complete answer), the
 * response headers (Retry-After is honoured, bounded to 60 s), the body.
 * Every outcome of the sync is reported by the next step; deliver itself
 * fails only for INVALID_ARGUMENT (no such request outstanding; the answer
 * is ignored) — a late or duplicated answer changes nothing. */
MENTORLOG_EXTERN int mentorlog_sync_deliver(mentorlog_sync *s, uint64_t request_id, int status,
                                            const mentorlog_sync_header *headers, size_t n_headers,
                                            const uint8_t *body, size_t body_len, int64_t now_ms);
/* The detail of a FAIL (static English plus what failed; no names, notes
 * or keys), "" before. Valid until the next call on s. */
MENTORLOG_EXTERN const char *mentorlog_sync_errmsg(const mentorlog_sync *s);

/* Counts so far, for a progress line. */
#define MENTORLOG_SYNC_PROGRESS_VERSION 1
typedef struct mentorlog_sync_progress {
  int version;              /* MENTORLOG_SYNC_PROGRESS_VERSION */
  const char *phase;        /* "enroll", "session", "push", "pull", "receipts", "done", "failed" (static) */
  uint64_t pushed;          /* own records acknowledged in this run */
  uint64_t to_push;         /* own records still in the outbox */
  uint64_t pulled;          /* log entries received in this run (own included) */
  uint64_t applied;         /* records of other devices stored in this run */
  uint64_t log_size;        /* size of the last verified checkpoint */
  uint64_t cursor;          /* pull cursor (log index) */
  uint32_t grants_written;  /* KEY_GRANT records written in this run */
  uint32_t retries;         /* answers that were 429/503/none in this run */
  uint32_t requests;        /* requests delivered in this run */
} mentorlog_sync_progress;
#define MENTORLOG_SYNC_PROGRESS_INIT {MENTORLOG_SYNC_PROGRESS_VERSION, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0}
MENTORLOG_EXTERN void mentorlog_sync_get_progress(const mentorlog_sync *s, mentorlog_sync_progress *p);

/* Frees the engine (NULL: no-op). What was committed stays; a request in
 * flight is simply forgotten (the protocol is idempotent). */
MENTORLOG_EXTERN void mentorlog_sync_free(mentorlog_sync *s);

/* --------------------------------------------------------- status --- */
#define MENTORLOG_SYNC_INFO_VERSION 1
typedef struct mentorlog_sync_info {
  int version;                       /* MENTORLOG_SYNC_INFO_VERSION */
  int enrolled;                      /* 0: nothing below but unsent and fingerprint is set */
  uint8_t device_id[MENTORLOG_ID_BYTES];
  uint8_t mentor_id[MENTORLOG_ID_BYTES];
  char server_url[MENTORLOG_URL_MAX + 1];
  char server_pin[MENTORLOG_PIN_MAX + 1];
  char label[MENTORLOG_LABEL_MAX + 1];
  char origin[MENTORLOG_ORIGIN_MAX + 1]; /* the log's name */
  char fingerprint[MENTORLOG_FINGERPRINT_LEN + 1]; /* this device's */
  int approved;                      /* 1: this device may receive case keys (first
                                        device, approved, or holds a granted key) */
  int revoked;                       /* 1: the log served this device's revocation (a revoked
                                        device is refused a session, so it learns of its own
                                        revocation only if a pull served it before; a sync then
                                        fails UNAUTHENTICATED) */
  int64_t last_sync_ms;              /* end of the last DONE sync; 0: never */
  uint64_t unsent;                   /* records in the outbox */
  uint64_t cursor;                   /* pull cursor */
  uint64_t checkpoint_size;          /* last verified checkpoint */
  uint8_t checkpoint_root[32];
  uint32_t devices;                  /* devices of the mentor known from the log */
  uint32_t pending_approvals;        /* of them: enrolled, not revoked, not approved */
  uint32_t pending_grants;           /* case keys to grant at the next sync */
  uint64_t receipts;                 /* own records acknowledged by the server */
  uint64_t receipts_unverified;      /* of them: inclusion not yet proven */
  uint32_t cases_locked;             /* cases whose key this device does not hold */
} mentorlog_sync_info;
MENTORLOG_EXTERN int mentorlog_sync_status(mentorlog *h, mentorlog_sync_info *out);
/* The last verified checkpoint note (the evidence), NUL-terminated, in
 * buf of cap bytes; *len without the NUL. NOT_FOUND before enrolment,
 * TOO_LARGE when cap is short (1024 always suffices). */
MENTORLOG_EXTERN int mentorlog_sync_checkpoint(mentorlog *h, char *buf, size_t cap, size_t *len);

/* The two checkpoint notes of a split view (the kept one, a newline, the
 * conflicting one), NUL-terminated, in buf of cap bytes; *len without the
 * NUL. NOT_FOUND when there is none, TOO_LARGE when cap is short (2048
 * always suffices). */
MENTORLOG_EXTERN int mentorlog_sync_evidence(mentorlog *h, char *buf, size_t cap, size_t *len);

/* -------------------------------------------------------- devices --- */
typedef struct mentorlog_device {
  uint8_t id[MENTORLOG_ID_BYTES];    /* the server's device id (32 hex digits in admin) */
  uint8_t sign_pub[32], box_pub[32];
  char label[MENTORLOG_LABEL_MAX + 1];
  char fingerprint[MENTORLOG_FINGERPRINT_LEN + 1];
  int self;                          /* this device */
  int first;                         /* the mentor's first device: approved by enrolment */
  int approved;                      /* receives case keys */
  int revoked;
  uint64_t log_index;                /* of its DEVICE_ENROLLED event */
  int64_t enrolled_ms;               /* receipt time of that event */
} mentorlog_device;
/* The mentor's devices known from the log, in enrolment order.
 * NOT_ENROLLED, OUT_OF_MEMORY, storage errors. */
MENTORLOG_EXTERN int mentorlog_devices(mentorlog *h, mentorlog_device **out, size_t *n);
MENTORLOG_EXTERN void mentorlog_devices_free(mentorlog_device *v, size_t n);
/* Approve a device of the mentor after comparing its fingerprint by eye
 * (the other device shows it in `status`): fingerprint must equal the
 * device's (case, spaces and dashes ignored) or FINGERPRINT_MISMATCH.
 * Writes the KEY_GRANTs of every case key held at once (sent at the next
 * sync) and remembers the approval. NOT_FOUND (no such device),
 * DEVICE_REVOKED, INVALID_ARGUMENT (this device itself), NO_CASE_KEY
 * (this device is not approved itself), NOT_ENROLLED. */
MENTORLOG_EXTERN int mentorlog_device_approve(mentorlog *h, const uint8_t device_id[MENTORLOG_ID_BYTES],
                                              const char *fingerprint);
/* This device's fingerprint, also before enrolment. */
MENTORLOG_EXTERN int mentorlog_fingerprint(mentorlog *h, char out[MENTORLOG_FINGERPRINT_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
