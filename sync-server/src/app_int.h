/*
 * app_int.h — what the parts of the application half share: the app
 * object, the request context, and the helpers every handler uses. The
 * handlers live one feature to a file, like the handler files of h2o's lib/handler:
 *   app.c          open/close, errors, request helpers, ops, routes
 *   app_session.c  enrolment, challenges, sessions, authentication
 *   app_push.c     POST /v1/push
 *   app_log.c      pull, tree heads, checkpoints, proofs
 *   app_jobcentre.c  the jobcentre's reports (compliance, contacts, timesheet)
 *   app_web.c      the jobcentre caseworker's web pages (/jobcentre/)
 *   app_tiles.c    the log as C2SP tlog-tiles (hash tiles, entry bundles)
 *   app_witness.c  witnesses' cosignatures (C2SP tlog-cosignature)
 *   app_audit.c    GET /v1/audit/log, the whole log for auditors
 * The wire conventions are app.c's opening comment.
 */
#ifndef MLS_APP_INT_H
#define MLS_APP_INT_H

#include "app.h"
#include "admin.h"
#include "app_limits.h"
#include "challenge.h"
#include "datadir.h"
#include "fanout.h"
#include "log.h"
#include "log_fmt.h"
#include "metrics.h"
#include "push_order.h"
#include "report_cache.h"
#include "store.h"

#include "mlproto/alloc.h"

#include <pthread.h>
#include "mlproto/chain.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "mlproto/report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sodium.h>

#define CT_PROTO "application/vnd.mentorlog.v1+protobuf"
#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

#define CHALLENGE_TTL_MS (60u * 1000u)
/* How much later than now + CHALLENGE_TTL_MS a challenge may expire and
 * still be accepted: another instance's clock may run ahead of this one's
 * by up to this much. A challenge thus lives at most CHALLENGE_LIFE_MAX_MS
 * at any instance, and so does an entry of the spent set (challenge.h). */
#define CHALLENGE_SKEW_MS (30u * 1000u)
#define CHALLENGE_LIFE_MAX_MS (CHALLENGE_TTL_MS + CHALLENGE_SKEW_MS)
#define SESSION_TTL_MS (60u * 60u * 1000u)
/* Expired sessions deleted (store.h session_purge) in the transaction of
 * each session opened. */
#define SESSION_PURGE_BATCH 64u
#define PULL_DEFAULT_LIMIT 256u
#define PULL_BYTES_SOFT_CAP (8u << 20)   /* stop adding items past this */
#define RESPONSE_CAP (MLPROTO_PULL_MAX_BYTES + 65536u)
#define ERROR_MESSAGE_MAX 512
/* How long caches may keep GET /v1/log/checkpoint (the latest), seconds. */
#define CHECKPOINT_MAX_AGE_S 5u
#define BUSY_TIMEOUT_MS 5000u
/* How long a push that would be SEQ_GAP waits for an earlier push of the same
 * device still in flight (push_order.h). */
#define PUSH_ORDER_WAIT_MS 10000u
/* Unauthenticated requests per address (IPv6: per /64): generous, a brake
 * on floods, not on a NATed office. */
#define UNAUTH_RATE_DEFAULT 100.0
#define UNAUTH_BURST_DEFAULT 200.0
/* Failed bearer tokens per address: a bucket of this many, refilled at as
 * many per minute (mls_app_config.auth_fail_limit, --auth-fail-limit). */
#define AUTH_FAIL_LIMIT_DEFAULT 20u

struct mls_app {
  mls_datadir dd;
  mls_store *st;
  mls_log *log;
  mls_fanout *verify;        /* helper threads for a push batch's signatures */
  mls_push_order *order;     /* concurrent pushes of one device, in seq order */
  mls_rcache *rcache;        /* the reports' per-case cache; NULL: none */
  size_t slice_grants;       /* mls_app_config.report_slice_grants */
  _Atomic uint64_t push_waits; /* pushes that waited for an earlier one */
  int verify_first;          /* mls_app_config.verify_first */
  uint8_t *sk;
  uint8_t pk[32];
  uint8_t *challenge_key;    /* MLS_CHALLENGE_KEY_LEN, sodium_malloc'd, read-only */
  uint8_t *tls_ticket_secret; /* MLPROTO_TLS_TICKET_SECRET_LEN, likewise (app.h) */
  mls_spent *spent;          /* challenges answered here, until they expire */
  mls_limiter *dev_rate;     /* requests per device */
  mls_limiter *addr_rate;    /* challenges issued per address */
  mls_limiter *addr_fail;    /* failed auth/enrol per address */
  mls_limiter *dev_fail;     /* failed session attempts per device key */
  mls_limiter *unauth_rate;  /* unauthenticated requests per address */
  pthread_mutex_t witnessed_mu; /* guards witnessed_size and DIR/witnessed */
  uint64_t witnessed_size;   /* largest cosigned size recorded (witnessed.h) */
  mls_limiter *auth_fail;    /* failed bearer tokens per address */
};

typedef struct ctx {
  mls_app *app;
  const mls_request *req;
  mls_response *resp;
  uint64_t now;
  int want_json;
} ctx;

/* Query parameters: strict "k=v&k=v", decimal u64 or hex values. */
typedef struct qparam {
  const char *name;
  const char *val;
  size_t len;
  int seen;
} qparam;

/* ------------------------------------------------ shared by app*.c --- */

/* app.c: logging, requests, answers. */
void app_log(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void app_hex16(char out[33], const uint8_t id[16]);
/* The request header's value (case-insensitive name), or NULL. */
const char *app_header(const mls_request *req, const char *name);
/* Fill c's response with the error; returns code. */
int app_fail(ctx *c, int code, const char *detail);
/* The error code (429 RATE_LIMITED, 503 UNAVAILABLE) with Retry-After
 * (seconds, rounded up, >= 1); app_rate_limited is it with RATE_LIMITED. */
int app_retry_later(ctx *c, int code, uint64_t retry_ms, const char *detail);
int app_rate_limited(ctx *c, uint64_t retry_ms, const char *detail);
/* 200 with the packed message (RESPONSE_CAP). */
int app_reply(ctx *c, const ProtobufCMessage *m);
/* UNSUPPORTED_MEDIA_TYPE unless the body is CT_PROTO. */
int app_need_proto_body(ctx *c);
/* Strict "k=v&k=v" over the n names of ps; BAD_QUERY otherwise. */
int app_parse_query(ctx *c, qparam *ps, size_t n);
/* A decimal 0..INT64_MAX without sign or leading zero; BAD_QUERY otherwise. */
int app_q_u64(ctx *c, const qparam *p, uint64_t *out);
/* A report's range: from= and to= (YYYY-MM-DD, each optional; with
 * empty_is_none an empty value is no bound, as a page's empty date field
 * sends it), from <= to and at most APP_REPORT_MAX_DAYS apart. OK, or
 * BAD_QUERY with *why the offending name or rule (nothing answered). */
#define APP_REPORT_MAX_DAYS 1100
int app_q_range(const qparam *from, const qparam *to, int empty_is_none, mlproto_date *f,
                mlproto_date *t, const char **why);
/* A month "YYYY-MM": its first day; BAD_QUERY otherwise (nothing answered:
 * the API and the pages word the refusal each their own way). */
int app_q_month(const qparam *p, mlproto_date *first);

/* app_log.c: tree heads. */
void app_sth_to_pb(Mentorlog__V1__SignedTreeHead *pb, const mlproto_sth *s);
int app_read_sth(mls_app *app, uint64_t now, mlproto_sth *sth);

/* app_tiles.c: tile paths (c2sp.org/tlog-tiles), below APP_TILE_PREFIX. */
#define APP_TILE_PREFIX "/v1/log/tile/"
typedef struct app_tile {
  int entries;      /* 1: an entry bundle (tile/entries/...), 0: a hash tile */
  unsigned level;   /* L, 0..63 (0 for an entry bundle) */
  uint64_t index;   /* N */
  unsigned width;   /* W: 1..255 for a partial tile, 256 for a full one */
} app_tile;
/* Parses "<L>/<N>[.p/<W>]" or "entries/<N>[.p/<W>]" (the path after
 * APP_TILE_PREFIX) exactly as the spec writes it: L 0..63 and W 1..255
 * without leading zeros, N in three-digit groups, all but the last with
 * an x, in the shortest form (no leading x000), nothing after. MLPROTO_OK,
 * or MLPROTO_ERR_NOT_FOUND for anything else (out then zeroed). */
int app_tile_parse(const char *rest, app_tile *out);
/* 1 when t exists in the tree of size leaves: N*256 + W <= floor(size /
 * 256^L) (a partial tile of any smaller size too; app_tiles.c), else 0. */
int app_tile_in_tree(const app_tile *t, uint64_t size);
/* app_log.c: one page of LogItems for an answer (pull, audit), filled by
 * log_list through app_page_add: at most cap items and, past the first,
 * about PULL_BYTES_SOFT_CAP bytes of envelopes (then `more`), none at or
 * past bound (the tree size the answer names). The envelopes are copied:
 * the page outlives the transaction. */
typedef struct app_page {
  Mentorlog__V1__LogItem *items;
  Mentorlog__V1__LogItem **ptrs; /* what the answer's repeated field points to */
  uint8_t **copies;
  size_t n, cap;
  size_t bytes;
  int more;       /* stopped at cap or at the byte cap, more wait below bound */
  uint64_t last;  /* index of the last item */
  uint64_t bound;
} app_page;
int app_page_init(app_page *a, size_t cap, uint64_t bound); /* OUT_OF_MEMORY */
/* An mls_entry_fn: returns 1 (stop) at cap, at the byte cap or at bound. */
int app_page_add(void *ud, const mls_log_entry *e);
/* The answer's next_since: one past the last item when more wait, else
 * everything up to the tree size was scanned: max(size, since). */
uint64_t app_page_next(const app_page *a, uint64_t since, uint64_t size);
void app_page_free(app_page *a);

/* app_session.c: per-address throttling and authentication. */
size_t app_peer_key(const ctx *c, uint8_t key[MLS_LIMIT_KEY_MAX]);
int app_addr_throttled(ctx *c);
void app_addr_failed(ctx *c);
/* The device of the request's bearer token (401 UNAUTHENTICATED otherwise),
 * and one token of its request budget (429). */
int app_authenticate(ctx *c, mls_device *d);
/* The same without the request budget: what mls_app_authorize() checks
 * before a body is read (the handler then authenticates again, budget
 * included). Both count a failed token against the address and refuse 429
 * while the address is over --auth-fail-limit, before any lookup. */
int app_device_of_token(ctx *c, mls_device *d);
/* The role ("jobcentre", "auditor", "witness") of the request's API token,
 * and its jobcentre ("" for none), for a route open to any of the roles (a
 * NULL-terminated list of at most 4): 401 UNAUTHENTICATED, 403 FORBIDDEN
 * (another role), 429 (budget). */
int app_authenticate_api_roles(ctx *c, const char *const *roles, char jobcentre[MLS_JOBCENTRE_MAX + 1]);
/* app_authenticate_api_roles without the request budget; th gets the
 * token's hash (the budget's key). */
int app_api_token_of(ctx *c, const char *const *roles, char jobcentre[MLS_JOBCENTRE_MAX + 1],
                     uint8_t th[32]);
/* The same check for a token given as it is (len bytes, e.g. pasted into
 * the web page's sign-in form), not in an Authorization header: refused
 * 429 while the address is over --auth-fail-limit, a failure counted
 * against the address as every failed token is. */
int app_api_token_given(ctx *c, const char *token, size_t len, const char *const *roles,
                        char jobcentre[MLS_JOBCENTRE_MAX + 1], uint8_t th[32]);
/* The roles the API-token routes accept (app.c): one list per route family,
 * used by its handler and by mls_app_authorize(). */
extern const char *const APP_ROLES_JOBCENTRE[];
extern const char *const APP_ROLES_AUDITOR[];
extern const char *const APP_ROLES_COSIGN[];

/* app_witness.c: the cosignature lines kept for `size` (each verified when
 * it was kept), of witnesses still configured, appended to out. */
int app_cosig_append(mls_txn *tx, uint64_t size, mlproto_buf *out);

/* app_jobcentre.c: the grants of one jobcentre, computed at one
 * checkpoint, for the reports (API and web pages). */
typedef struct app_case_mentor {
  uint8_t case_id[16];
  char name[MLS_NAME_MAX + 1]; /* "" when unknown */
} app_case_mentor;
typedef struct app_jc_grants {
  mlproto_sth sth;
  mlproto_grant_report **g; /* report order (mlproto_grant_reports_sort) */
  size_t n, cap;
  app_case_mentor *mentors; /* with_mentors: per case its mentor's name, by case id */
  size_t n_mentors;
} app_jc_grants;
/* Every grant of jobcentre jc at now, in one read snapshot (the report
 * cache's bases, computed on every core); with_mentors: and the names of
 * their cases' mentors. Errors of the store, TOO_LARGE (past what one
 * report may hold), OUT_OF_MEMORY; out is empty then. */
int app_jc_gather(mls_app *app, const char *jc, int64_t now, int with_mentors,
                  app_jc_grants *out);
void app_jc_grants_free(app_jc_grants *g);
/* An mlproto_html_options.mentor_name over ud = an app_jc_grants. */
const char *app_jc_mentor_name(void *ud, const uint8_t case_id[16]);
/* The meta of a document of g for jobcentre jc, at the request's now. */
void app_jc_meta(mlproto_report_meta *m, const ctx *c, const app_jc_grants *g, const char *jc);
/* Keeps the grants with a day of support in the month that starts on
 * month (a timesheet's), freeing the others; erased and invalid ones go. */
void app_jc_keep_month(app_jc_grants *g, mlproto_date month);
/* The grant REF (len bytes) names among g: the one whose grant id it is
 * (32 hex digits; an id wins over a reference that looks like one), else
 * the grants whose municipal case reference it is; *hits: how many (the
 * answer is one of them; 0: NULL). */
const mlproto_grant_report *app_jc_find_grant(const app_jc_grants *g, const char *ref, size_t len,
                                              size_t *hits);

/* app_jobcentre.c: the grant index the reports read. */
/* A GRANT_OPEN/UPDATE record names its jobcentre: index its case under it
 * (in the append's transaction). Other kinds: nothing. */
int app_index_grant(mls_txn *tx, const mlproto_record *r);
/* At open: index the grants a store migrated from v4 already held. */
int app_index_backfill(mls_app *app);

/* The handlers, one per route (app.c's ROUTES). */
int app_h_enroll(ctx *c);      /* app_session.c */
int app_h_challenge(ctx *c);   /* app_session.c */
int app_h_session(ctx *c);     /* app_session.c */
int app_h_push(ctx *c);        /* app_push.c */
int app_h_pull(ctx *c);        /* app_log.c */
int app_h_sth(ctx *c);         /* app_log.c */
int app_h_checkpoint(ctx *c);  /* app_log.c */
int app_h_inclusion(ctx *c);   /* app_log.c */
int app_h_consistency(ctx *c); /* app_log.c */
int app_h_audit_log(ctx *c);   /* app_audit.c */
int app_h_compliance(ctx *c);  /* app_jobcentre.c */
int app_h_timesheet(ctx *c);   /* app_jobcentre.c */
int app_h_grant_contacts(ctx *c); /* app_jobcentre.c: /v1/jobcentre/grants/REF/contacts */
int app_h_tile(ctx *c);        /* app_tiles.c: every path below APP_TILE_PREFIX */
int app_h_cosignature(ctx *c); /* app_witness.c: POST /v1/log/cosignature */
int app_h_healthz(ctx *c);     /* app.c */
int app_h_web(ctx *c);         /* app_web.c: every path below /jobcentre/, and /jobcentre */
/* app_web.c: the pages' headers (CSP, nosniff, no-referrer, no-store) on an
 * answer below /jobcentre that the pages' own code did not make (405, 429,
 * a GET with a body); none added when they are there. */
void app_web_guard(ctx *c);

#endif
