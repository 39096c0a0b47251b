/* Handle life cycle, errors, allocator hook, enum names, time helpers. */
#include "internal.h"

#include "mlproto/civiltime.h"
#include "mlproto/compliance.h"

#include <sodium.h>
#include <string.h>

size_t mentorlog_id_bytes(void) { return MENTORLOG_ID_BYTES; }
size_t mentorlog_key_bytes(void) { return MENTORLOG_KEY_BYTES; }
size_t mentorlog_passphrase_max(void) { return MENTORLOG_PASSPHRASE_MAX; }
size_t mentorlog_text_max(void) { return MENTORLOG_TEXT_MAX; }
size_t mentorlog_name_max(void) { return MENTORLOG_NAME_MAX; }
const char *mentorlog_version(void) { return MENTORLOG_VERSION_STRING; }

void mentorlog_open_options_init(mentorlog_open_options *o) {
  *o = (mentorlog_open_options)MENTORLOG_OPEN_OPTIONS_INIT;
}
void mentorlog_grant_params_init(mentorlog_grant_params *p) {
  *p = (mentorlog_grant_params)MENTORLOG_GRANT_PARAMS_INIT;
  mentorlog_rule_default(&p->rule);
}
void mentorlog_contact_params_init(mentorlog_contact_params *p) {
  *p = (mentorlog_contact_params)MENTORLOG_CONTACT_PARAMS_INIT;
}
void mentorlog_absence_params_init(mentorlog_absence_params *p) {
  *p = (mentorlog_absence_params)MENTORLOG_ABSENCE_PARAMS_INIT;
}

const char *mentorlog_errname(int code) { return mlproto_errname(code); }
const char *mentorlog_strerror(int code) { return mlproto_strerror(code); }
const char *mentorlog_errmsg(const mentorlog *h) { return h ? h->errmsg : ""; }

char *ml__strdup(const char *s) { return s ? mlproto_strdup(s) : NULL; }

/* ------------------------------------------------------------ allocator */

static mentorlog_allocator user_alloc;
static int user_alloc_set;

/* SQLite needs xSize: keep the size in a 16-byte prefix (keeps alignment). */
#define SQ_HDR 16
static void *sq_malloc(int n) {
  if (n <= 0)
    return NULL;
  uint8_t *p = user_alloc.malloc_fn((size_t)n + SQ_HDR, user_alloc.ud);
  if (!p)
    return NULL;
  memcpy(p, &(size_t){(size_t)n}, sizeof(size_t));
  return p + SQ_HDR;
}
static void sq_free(void *p) {
  if (p)
    user_alloc.free_fn((uint8_t *)p - SQ_HDR, user_alloc.ud);
}
static int sq_size(void *p) {
  if (!p)
    return 0;
  size_t n;
  memcpy(&n, (uint8_t *)p - SQ_HDR, sizeof n);
  return (int)n;
}
static void *sq_realloc(void *p, int n) {
  if (!p)
    return sq_malloc(n);
  if (n <= 0)
    return NULL;
  uint8_t *q = user_alloc.realloc_fn((uint8_t *)p - SQ_HDR, (size_t)n + SQ_HDR, user_alloc.ud);
  if (!q)
    return NULL;
  memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
  return q + SQ_HDR;
}
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *ud) { (void)ud; return SQLITE_OK; }
static void sq_shutdown(void *ud) { (void)ud; }

int mentorlog_set_allocator(const mentorlog_allocator *a) {
  /* SQLite takes SQLITE_CONFIG_MALLOC only while shut down; shutting it down
   * is harmless when no connection is open (the documented precondition). */
  if (sqlite3_shutdown() != SQLITE_OK)
    return MLPROTO_ERR_BUSY;
  /* Remember SQLite's own allocator once, to restore it for NULL. */
  static sqlite3_mem_methods sqlite_default;
  static int have_default;
  if (!have_default) {
    sqlite3_initialize(); /* fills in the default methods */
    sqlite3_shutdown();
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_default) != SQLITE_OK)
      return MLPROTO_ERR_BUSY;
    have_default = 1;
  }
  if (a == NULL) {
    user_alloc_set = 0;
    mlproto_set_allocator(NULL);
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &sqlite_default) == SQLITE_OK ? 0 : MLPROTO_ERR_BUSY;
  }
  if (!a->malloc_fn || !a->realloc_fn || !a->free_fn)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  user_alloc = *a;
  user_alloc_set = 1;
  static const sqlite3_mem_methods mm = {sq_malloc, sq_free, sq_realloc, sq_size,
                                         sq_roundup, sq_init, sq_shutdown, NULL};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mm) != SQLITE_OK)
    return MLPROTO_ERR_BUSY;
  /* No lookaside: every allocation of SQLite passes the hook. */
  sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
  mlproto_set_allocator(&(mlproto_allocator){a->malloc_fn, a->realloc_fn, a->free_fn, a->ud});
  return 0;
}

/* --------------------------------------------------------- life cycle */

static int global_init(void) {
  if (mlproto_crypto_init() != 0)
    return MLPROTO_ERR_INTERNAL;
  int rc = sqlite3_initialize();
  if (rc == SQLITE_NOMEM)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  return rc == SQLITE_OK ? 0 : MLPROTO_ERR_INTERNAL;
}

static mentorlog *handle_new(int *err) {
  *err = global_init();
  if (*err)
    return NULL;
  mentorlog *h = mlproto_calloc(1, sizeof *h);
  if (!h) {
    *err = MLPROTO_ERR_OUT_OF_MEMORY;
    return NULL;
  }
  return h;
}

void mentorlog_close(mentorlog *h) {
  if (!h)
    return;
  if (h->db) {
    ml__stmt_close_all(h);
    if (h->batch && !sqlite3_get_autocommit(h->db))
      sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(h->db);
  }
  ml__casekey_flush(h, NULL);
  ml__recstore_close(h);
  mlproto_key_free(h->sign); /* each wipes before unmapping */
  mlproto_key_free(h->box);
  mlproto_key_free(h->storage);
  sodium_memzero(h, sizeof *h);
  mlproto_free(h);
}

/* Open or create; on failure returns the code and leaves *out NULL. */
static int open_common(mentorlog **out, const char *dir, const mentorlog_open_options *o,
                       bool create, char *errbuf, size_t errcap) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!dir || !*dir || !o)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int err;
  mentorlog *h = handle_new(&err);
  if (!h)
    return err;
  if (o->version >= 2) {
    h->clock_ms = o->clock_ms;
    h->clock_ctx = o->clock_ctx;
  }
  if ((err = ml__tx_register(h, &ml__chain_txpart)) || (err = ml__tx_register(h, &ml__casekey_txpart)))
    goto fail;
  /* Refuse bad options before the database file exists: a failed create
   * must leave no half-made profile behind. */
  if (create && (err = ml__keyring_check(h, o)))
    goto fail;
  if ((err = ml__db_open(h, dir, create)))
    goto fail;
  if (create) {
    if ((err = ml__exec(h, "BEGIN IMMEDIATE")))
      goto fail;
    if ((err = ml__db_migrate(h, false)) || (err = ml__keyring_create(h, o)) ||
        (err = ml__recstore_init(h)) || (err = ml__chain_load(h))) {
      sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
    int rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
      err = ml__sqlite_err(h, rc, "create profile");
      sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
      goto fail;
    }
  } else {
    /* Unlock first: a wrong passphrase must change nothing, not even run a
     * migration. Reading the keyring works on every schema version. */
    if ((err = ml__keyring_unlock(h, o)) || (err = ml__recstore_init(h)) ||
        (err = ml__db_migrate(h, true)) || (err = ml__chain_load(h)))
      goto fail;
    ml__db_maintain(h);
  }
  *out = h;
  return 0;
fail:
  if (errbuf && errcap)
    snprintf(errbuf, errcap, "%s", h->errmsg);
  mentorlog_close(h);
  return err;
}

/* Detail of the last failed open/create in this thread (no handle exists). */
static _Thread_local char open_errmsg[256];
const char *mentorlog_open_errmsg(void) { return open_errmsg; }

int mentorlog_create(mentorlog **out, const char *dir, const mentorlog_open_options *opts) {
  open_errmsg[0] = 0;
  return open_common(out, dir, opts, true, open_errmsg, sizeof open_errmsg);
}

int mentorlog_open(mentorlog **out, const char *dir, const mentorlog_open_options *opts) {
  open_errmsg[0] = 0;
  return open_common(out, dir, opts, false, open_errmsg, sizeof open_errmsg);
}

int mentorlog_rekey(mentorlog *h, const mentorlog_open_options *o) {
  if (!h || !o)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (h->batch)
    return ml__fail(h, MLPROTO_ERR_BUSY, "rekey inside a batch");
  int err = ml__begin(h);
  if (err)
    return err;
  if ((err = ml__keyring_rewrap(h, o))) {
    ml__rollback(h);
    return err;
  }
  if ((err = ml__commit(h)))
    return err;
  /* The keyring page wrapped under the old secret sits in the WAL until a
   * checkpoint: copy it into the database and truncate the WAL now. A
   * failure here leaves the rekey done (the next checkpoint does it). */
  sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
  return 0;
}

void mentorlog_device_id(const mentorlog *h, uint8_t out[32]) { memcpy(out, h->sign_pk, 32); }

int mentorlog_batch_begin(mentorlog *h) {
  if (h->batch)
    return ml__fail(h, MLPROTO_ERR_BUSY, "a batch is already open");
  int err = ml__tx_begin_outer(h);
  if (!err)
    h->batch = 1;
  return err;
}

int mentorlog_batch_commit(mentorlog *h) {
  if (!h->batch)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "no batch is open");
  h->batch = 0;
  if (h->batch_failed) {
    h->batch_failed = 0; /* ml__rollback undid it already */
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT,
                    "an operation of this batch failed and the batch was rolled back");
  }
  /* The chain row is written once for the whole batch, inside it; never
   * in autocommit mode, after SQLite dropped the batch on an error. */
  if (sqlite3_get_autocommit(h->db)) {
    int err = ml__fail(h, MLPROTO_ERR_IO, "the batch was rolled back after an earlier error");
    ml__tx_rollback_outer(h, true);
    return err;
  }
  return ml__tx_commit_outer(h); /* rolls back (and restores) on failure */
}

void mentorlog_batch_rollback(mentorlog *h) {
  if (!h || !h->batch)
    return;
  h->batch = 0;
  h->batch_failed = 0;
  ml__tx_rollback_outer(h, true);
}

/* ---------------------------------------------------------- enum names */

static const char *const absence_names[] = {NULL, "citizen-holiday", "citizen-sick", "hospitalised",
                                            "grant-paused", "mentor-unavailable", "other"};
static const char *const status_names[] = {NULL, "MET", "NOT_ASSESSABLE", "PENDING",
                                           "MISSED_WITH_ATTEMPTS", "MISSED"};
#define NAME_OF(tab, v) ((v) > 0 && (size_t)(v) < sizeof tab / sizeof tab[0] ? tab[v] : NULL)

static int parse_name(const char *const *tab, size_t n, const char *s) {
  for (size_t i = 1; s && i < n; i++)
    if (strcmp(tab[i], s) == 0)
      return (int)i;
  return 0;
}

/* Channels and outcomes share their numbering and names with protocol/
 * (compliance.h, the wire enums); one table for both. */
const char *mentorlog_channel_name(int v) { return mlproto_channel_name(v); }
const char *mentorlog_outcome_name(int v) { return mlproto_outcome_name(v); }
const char *mentorlog_absence_kind_name(int v) { return NAME_OF(absence_names, v); }
const char *mentorlog_status_name(int v) { return NAME_OF(status_names, v); }
int mentorlog_channel_parse(const char *s) {
  mlproto_channel c;
  return s && mlproto_channel_from_name(&c, s, strlen(s)) == MLPROTO_OK ? (int)c : 0;
}
int mentorlog_outcome_parse(const char *s) {
  mlproto_outcome o;
  return s && mlproto_outcome_from_name(&o, s, strlen(s)) == MLPROTO_OK ? (int)o : 0;
}
int mentorlog_absence_kind_parse(const char *s) { return parse_name(absence_names, 7, s); }

void mentorlog_rule_default(mentorlog_rule *r) {
  *r = (mentorlog_rule){.period_weeks = 1, .contacts = 1, .min_minutes = 0, .partial_days = 3,
                        .grace_days = 7, .late_days = 7,
                        .channels = 1u << MENTORLOG_CHANNEL_IN_PERSON | 1u << MENTORLOG_CHANNEL_HOME_VISIT |
                                    1u << MENTORLOG_CHANNEL_ACCOMPANIMENT | 1u << MENTORLOG_CHANNEL_VIDEO |
                                    1u << MENTORLOG_CHANNEL_PHONE};
}

/* ---------------------------------------------------------------- time */

int mentorlog_parse_date(mentorlog_date *out, const char *s) {
  if (!s)
    return MLPROTO_ERR_BAD_DATE;
  mlproto_date d;
  int err = mlproto_date_parse(&d, s, strlen(s));
  if (err)
    return err;
  *out = d;
  return 0;
}

void mentorlog_format_date(char buf[11], mentorlog_date d) { (void)mlproto_date_format(buf, d); }

int mentorlog_parse_local_time(int64_t *out_ms, const char *s) {
  if (!s)
    return MLPROTO_ERR_BAD_TIME;
  return mlproto_datetime_parse(out_ms, s, strlen(s));
}

mentorlog_date mentorlog_local_date(int64_t ms) {
  mlproto_date d;
  if (mlproto_cph_date(&d, ms) != 0)
    return MLPROTO_DATE_NONE;
  return d;
}

void mentorlog_iso_week(char buf[9], mentorlog_date d) {
  if (mlproto_isoweek_label(buf, d) != 0)
    buf[0] = 0;
}
