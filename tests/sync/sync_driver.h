/*
 * sync_driver.h — the sync engine of libmentorlog (mentorlog/sync.h) driven
 * in one process against the server's application half (sync-server's
 * mls_app_handle, app.h): real profiles, a real server store and log, real
 * records, no network and no threads.
 *
 * One test clock (sd_clock, Unix ms) is shared by the server and every
 * profile (mentorlog_open_options.clock_ms): a request advances it by one
 * millisecond of "latency", a WAIT of the engine moves it to until_ms. So a
 * run is the same whatever the machine's speed, and no test reads the wall
 * clock (except the server's admin command, which dates enrolment codes:
 * codes are made with --ttl 30d and the clock starts at the wall time).
 *
 * The engine loop of one device (sd_sync_step):
 *
 *   mentorlog_sync_step(now)
 *     SEND  -> the request is carried by the hook (NULL: sd_exchange, the
 *              honest carrier: path split at '?', headers copied, body;
 *              mls_app_handle at the test clock), and the answer (status,
 *              every header of extra_headers, e.g. Retry-After, and the
 *              body) is handed back with mentorlog_sync_deliver;
 *     WAIT  -> the clock jumps to until_ms;
 *     DONE / FAIL -> the run is over (d->result: 0 or the MENTORLOG_ERR_*,
 *              d->errmsg the engine's detail).
 *
 * A hook sits between the engine and the server: the fault layer of the
 * convergence test (drops, duplicates, delays, truncations, 503s) and the
 * lying server of test_sync_lying.c (rewrites real answers). It calls
 * sd_exchange as often as it likes (0: a request that never arrived, 2: a
 * duplicate) and fills the answer the engine will see.
 *
 * Every function fails the running cmocka test on an unexpected error.
 */
#ifndef ML_SYNC_DRIVER_H
#define ML_SYNC_DRIVER_H

#include "testutil.h"

#include "app.h"
#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"
#include "sync_state.h"
#include "test_store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sd_clock {
  int64_t now_ms;
} sd_clock;

/* ----------------------------------------------------------- server --- */
typedef struct sd_server {
  char dir[512];       /* the data directory (owned: removed by sd_server_close) */
  char store[TEST_STORE_URI_CAP]; /* its store (test_store.h; dropped by sd_server_close) */
  mls_app *app;
  sd_clock *clock;
  uint64_t requests;   /* mls_app_handle calls */
} sd_server;

/* The directory temporary files go under: $ML_SYNC_TMP, else /dev/shm when
 * it is a writable directory (fsync is free there: the engine and the
 * server commit with synchronous=FULL), else $TMPDIR, else /tmp. */
const char *sd_tmp_base(void);
/* A new temporary directory "<base>/<prefix>-XXXXXX" into out. */
void sd_mkdtemp(char *out, size_t cap, const char *prefix);
/* rm -rf dir. */
void sd_rmtree(const char *dir);

/* Opens (creating) a server on dir (NULL: a new temporary directory).
 * key_from: NULL, or another data directory whose server.key and log.name
 * are copied first (a second server under the same log key and name, with
 * its own history: test_sync_lying.c). */
void sd_server_open(sd_server *s, sd_clock *c, const char *dir, const char *key_from);
void sd_server_close(sd_server *s); /* closes the app and removes its directory */

/* `mentorlog-server admin --data DIR [--store URI] args...` (NULL-terminated), in this
 * process (mls_admin_main); stdout into out (trailing newline removed),
 * stderr captured too (printed only when the command fails). Returns its
 * exit status. */
int sd_admin(sd_server *s, char *out, size_t cap, ...);
/* admin mentor add NAME -> 32 hex digits into id[33]. */
void sd_mentor_add(sd_server *s, const char *name, char id[33]);
/* admin enroll-code MENTOR --ttl 30d -> the code into code[64]. */
void sd_enroll_code(sd_server *s, const char *mentor, char code[64]);
/* admin device revoke HEX(id). */
void sd_device_revoke(sd_server *s, const uint8_t device_id[MENTORLOG_ID_BYTES]);

/* The server logs a line per request to stderr. sd_log_quiet() sends
 * stderr to a file under the temporary base instead (a long trace would
 * print hundreds of thousands of lines), sd_log_tail() prints its last
 * lines to stdout (when a schedule fails), sd_log_restore() puts stderr
 * back and removes the file. ML_SYNC_VERBOSE=1 keeps stderr as it is. */
void sd_log_quiet(void);
void sd_log_tail(unsigned lines);
void sd_log_restore(void);

/* The server's log is read through the store contract: t_log_each(s->store,
 * ...) and the other t_* functions of test_store.h. */

/* ---------------------------------------------------------- exchange --- */
#define SD_MAX_HEADERS 8
typedef struct sd_answer {
  int status;                     /* 0: no complete answer */
  uint8_t *body;                  /* malloc'd (may be NULL when len is 0) */
  size_t len;
  char content_type[96];
  char hdr_store[256];            /* names and values of headers[] */
  mentorlog_sync_header headers[SD_MAX_HEADERS]; /* Content-Type, extra_headers */
  size_t n_headers;
  char error[64];                 /* the Error body's code when status != 200 */
} sd_answer;

void sd_answer_free(sd_answer *a);
/* Sets a's headers: Content-Type (when ct is not NULL) and each
 * "Name: value\r\n" line of extra. */
void sd_answer_set_headers(sd_answer *a, const char *ct, const char *extra);
/* Replace the body with a copy of len bytes of b. */
void sd_answer_set_body(sd_answer *a, const uint8_t *b, size_t len);
/* Value of header name in a, or NULL. */
const char *sd_answer_header(const sd_answer *a, const char *name);

/* Carries the SEND action act to s for the client at address peer, at the
 * test clock (then advanced by 1 ms), and fills out (zeroed first). */
void sd_exchange(sd_server *s, const char *peer, const mentorlog_sync_action *act,
                 sd_answer *out);
/* A request of the test's own (no credentials): method, target (path
 * with query), body (NULL for a GET). */
void sd_call(sd_server *s, const char *peer, const char *method, const char *target,
             const uint8_t *body, size_t len, sd_answer *out);
/* The same with an Authorization header (e.g. "Bearer TOKEN"): a jobcentre's
 * or an auditor's request. */
void sd_call_auth(sd_server *s, const char *peer, const char *method, const char *target,
                  const char *authorization, sd_answer *out);
/* An answer made by a fault layer: status with an Error body of code (a
 * MENTORLOG_ERR_*), and extra headers (e.g. "Retry-After: 2\r\n"). */
void sd_error_answer(sd_answer *out, int code, const char *detail, const char *extra);

/* ----------------------------------------------------------- devices --- */
struct sd_dev;
/* The carrier of one SEND: fill out (sd_answer zeroed by the caller). */
typedef void (*sd_hook)(void *ctx, struct sd_dev *d, const mentorlog_sync_action *act,
                        sd_answer *out);

typedef struct sd_dev {
  char name[16];       /* "A1", for messages */
  char root[512];      /* temporary directory (removed by sd_dev_close) */
  char dir[560];       /* the profile: root/p */
  char peer[48];       /* client address seen by the server */
  mentorlog *h;
  sd_server *srv;      /* where the honest carrier goes */
  sd_clock *clock;
  /* engine run */
  mentorlog_sync *s;
  int running;
  int result;          /* 0: DONE; a MENTORLOG_ERR_* after FAIL */
  char errmsg[512];
  mentorlog_sync_progress progress; /* at the end of the last run */
  unsigned steps;      /* steps of the current/last run */
  unsigned sends, waits;
  int64_t max_wait_ms; /* longest WAIT of the last run */
  char last_path[128]; /* of the last SEND (messages) */
  sd_hook hook;
  void *hook_ctx;
  uint8_t key[MENTORLOG_KEY_BYTES]; /* the keystore key (sd_keystore_profiles) */
} sd_dev;

/* A new profile (the test clock) in a new temporary directory; peer: the
 * address its requests come from. The profile is unlocked by a passphrase
 * with the fast test KDF (MENTORLOG_KDF_FAST_INSECURE), or, when
 * sd_keystore_profiles is set, by a random platform-keystore key (no KDF:
 * Argon2id's 8 MiB per profile dominate a schedule of the trace test). */
extern int sd_keystore_profiles;
void sd_dev_create(sd_dev *d, sd_server *srv, sd_clock *c, const char *name, const char *peer);
void sd_dev_close(sd_dev *d); /* frees an engine, closes the profile, removes it */

/* Starts an engine (opts NULL: a sync with default tuning). */
void sd_sync_begin(sd_dev *d, const mentorlog_sync_options *opts);
/* One step of the running engine (SEND carried, WAIT slept); returns 1
 * while it runs, 0 once DONE or FAIL (d->result, d->errmsg). */
int sd_sync_step(sd_dev *d);
void sd_sync_end(sd_dev *d); /* frees the engine (also mid-run) */
/* A whole run through hook (NULL: honest), at most max_steps steps (0:
 * 20,000); returns d->result; SD_STUCK when the bound was hit. */
#define SD_STUCK 1
int sd_sync(sd_dev *d, sd_hook hook, void *ctx, unsigned max_steps);
int sd_sync_opts(sd_dev *d, const mentorlog_sync_options *opts, sd_hook hook, void *ctx,
                 unsigned max_steps);
/* Enrols d with a fresh code of mentor (run to DONE, honest); fails the
 * test otherwise. */
void sd_enroll(sd_dev *d, const char *mentor, const char *label);
/* The whole honest sync must end DONE. */
void sd_sync_ok(sd_dev *d);
/* approver approves d after comparing fingerprints: d's own
 * (mentorlog_fingerprint) must be what approver lists for it. approver
 * must know d (a sync after d's enrolment). */
void sd_approve(sd_dev *approver, sd_dev *d);

/* sd_state_hash_of(d->h, d->name, ...) */
void sd_state_hash(sd_dev *d, uint8_t out[32], unsigned *conflicts, unsigned *locked);

/* mentorlog_sync_status of d (fails the test on error). */
mentorlog_sync_info sd_status(sd_dev *d);
/* "A1: FAIL SERVER_LIED: <errmsg> (after N steps, last request ...)" */
const char *sd_describe(const sd_dev *d);

#endif
