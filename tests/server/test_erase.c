/*
 * test_erase.c — erasure and retention on the server (crypto-shredding),
 * with real devices synced against the application half in the same
 * process (app_sync.c).
 *
 * A device erases a case (CASE_ERASE) and syncs: the server's rows of that
 * case then hold no disclosed or sealed byte (re-parsed envelopes carry the
 * erased flags; neither the database nor its WAL holds the grant's
 * reference or any run of a sealed part), while every inclusion proof and
 * the checkpoint still verify, byte for byte the same; the jobcentre's
 * report shows the grant as ERASED; a record of the case that an offline
 * device wrote before it learnt of the erasure is appended and erased too,
 * and that device then shows the case as erased; a device enrolled and
 * approved afterwards syncs and shows it erased.
 * `admin retention purge --before DATE`: the cases whose grants all ended
 * before DATE are erased and logged as RETENTION_PURGE events; others
 * (a grant still running, a case without a grant) untouched; --dry-run
 * changes nothing; a second run purges nothing. Fork evidence of an erased
 * case is erased too.
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "admin_run.h"
#include "app.h"
#include "app_sync.h"
#include "test_store.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/checkpoint.h"
#include "mlproto/civiltime.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL
#define MAX_ROWS 256

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  mentorlog_date today;
  char mentor[40], tok_kbh[64];
  mentorlog *a1, *a2;
  /* case 1: erased by a device; 2: grant ended long ago; 3: grant running;
   * 4: grant closed early, long ago; 5: no grant */
  uint8_t c[6][16];
  uint8_t g[6][16];
} fx;

typedef sa_resp resp;

static resp get(fx *f, const char *path, const char *query, const char *token) {
  return sa_get(f->app, (uint64_t)f->now, path, query, token, NULL);
}

static int sync_dev(fx *f, mentorlog *h) { return sa_sync_dev(f->app, h, &f->now); }

static void hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

static const char *const REFS[6] = {NULL, "KBH-ERASE-0001", "KBH-OLD-0002", "KBH-NOW-0003",
                                    "KBH-CLOSED-0004", NULL};

static void grant(mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *ref,
                  mentorlog_date start, mentorlog_date end) {
  sa_grant(h, c, out, "kbh", ref, start, end);
}

static void contact(mentorlog *h, const uint8_t c[16], int64_t start_ms) {
  sa_contact(h, c, start_ms, 60, MENTORLOG_CHANNEL_HOME_VISIT, MENTORLOG_OUTCOME_HELD, 0,
             "NOTE-SECRET the citizen talked about debts");
}

static int64_t noon(mentorlog_date d) { return sa_noon(d); }

/* by approves dev (both synced after). */
static void approve(fx *f, mentorlog *by, mentorlog *dev) {
  assert_int_equal(sync_dev(f, by), 0);
  mentorlog_device *dv;
  size_t nd;
  char fpr[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(dev, fpr), 0);
  assert_int_equal(mentorlog_devices(by, &dv, &nd), 0);
  int done = 0;
  for (size_t i = 0; i < nd; i++)
    if (strcmp(dv[i].fingerprint, fpr) == 0 && !dv[i].approved) {
      assert_int_equal(mentorlog_device_approve(by, dv[i].id, fpr), 0);
      done = 1;
    }
  mentorlog_devices_free(dv, nd);
  assert_true(done);
  assert_int_equal(sync_dev(f, by), 0);
  assert_int_equal(sync_dev(f, dev), 0);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-erase-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  f->today = (mentorlog_date)(f->now / DAY_MS);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  const char *ma[] = {"mentor", "add", "Anna", NULL};
  assert_int_equal(sa_admin(f->dir, f->mentor, sizeof f->mentor, ma), 0);
  const char *kbh[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_kbh, sizeof f->tok_kbh, kbh), 0);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->mentor, &f->now, NULL);
  mentorlog_date t = f->today;
  struct { mentorlog_date s, e; } span[6] = {
      {0, 0}, {t - 56, t + 60}, {t - 400, t - 300}, {t - 20, t + 40}, {t - 200, t - 20}, {0, 0}};
  for (int k = 1; k <= 5; k++) {
    char name[32];
    snprintf(name, sizeof name, "NAME-SECRET %d", k);
    assert_int_equal(mentorlog_case_open(f->a1, f->c[k], name, "+4512345678"), 0);
    if (!REFS[k]) continue;
    grant(f->a1, f->c[k], f->g[k], REFS[k], span[k].s, span[k].e);
    contact(f->a1, f->c[k], noon(span[k].s + 1));
    contact(f->a1, f->c[k], noon(span[k].s + 8));
  }
  uint8_t closed[16];
  assert_int_equal(mentorlog_grant_close(f->a1, closed, f->g[4], t - 150, "moved away"), 0);
  contact(f->a1, f->c[5], noon(t - 3)); /* a case without a grant may hold contacts */
  assert_int_equal(sync_dev(f, f->a1), 0);
  /* a second device of the mentor, approved: it holds every case key */
  snprintf(dir, sizeof dir, "%s/a2", f->dir);
  f->a2 = sa_device(f->app, f->dir, dir, "a2", f->mentor, &f->now, NULL);
  approve(f, f->a1, f->a2);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mentorlog_close(f->a1);
  mentorlog_close(f->a2);
  mls_app_close(f->app);
  sa_rmrf(f->dir);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

/* ------------------------------------------------------ the server db --- */

/* One log row of a case, re-parsed. */
typedef struct row {
  uint64_t index, received_ms;
  int type;
  uint32_t kind;
  unsigned flags;
  uint8_t record_hash[32];
  uint8_t sealed_head[16]; /* the first bytes of the sealed part (when present) */
  int has_sealed;
} row;

/* The log rows of case c (every row when c is NULL), read through the store
 * contract and verified against the record hash the log holds. */
typedef struct rows_ud {
  const uint8_t *c;
  row *out;
  size_t n, cap;
} rows_ud;

static int rows_fn(void *ud, const mls_log_entry *e) {
  rows_ud *u = ud;
  if (u->c && memcmp(e->case_id, u->c, 16) != 0) return 0;
  assert_true(u->n < u->cap);
  row *r = &u->out[u->n++];
  memset(r, 0, sizeof *r);
  r->index = e->index;
  r->type = e->type;
  r->received_ms = e->received_ms;
  r->kind = e->kind;
  memcpy(r->record_hash, e->record_hash, 32);
  mlproto_record *rec = NULL;
  assert_int_equal(mlproto_record_verify(&rec, e->envelope, e->envelope_len), 0);
  assert_memory_equal(rec->hash, r->record_hash, 32);
  r->flags = rec->flags;
  if (rec->sealed && rec->sealed_len >= 16) {
    memcpy(r->sealed_head, rec->sealed, 16);
    r->has_sealed = 1;
  }
  mlproto_record_free(rec);
  return 0;
}

static size_t rows_of(fx *f, const uint8_t *c, row *out, size_t cap) {
  rows_ud u = {.c = c, .out = out, .cap = cap};
  t_log_each(f->store, rows_fn, &u);
  return u.n;
}

/* When the store says c was erased (case_erased_get; 0: not erased). */
static int64_t case_erased_ms(fx *f, const uint8_t c[16]) {
  mls_store *st = t_store_open(f->store);
  mls_txn *tx = NULL;
  uint64_t v = 0;
  assert_int_equal(mls_store_begin(st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_get, c, &v), MLPROTO_OK);
  mls_store_rollback(tx);
  mls_store_close(st);
  return (int64_t)v;
}

/* Whether the bytes occur in any envelope the store gives back: the log's
 * and the fork evidence's (the contract's view; on_disk adds the files). */
typedef struct find_ud {
  const void *needle;
  size_t len;
  int found;
} find_ud;

static int find_entry_fn(void *ud, const mls_log_entry *e) {
  find_ud *u = ud;
  if (memmem(e->envelope, e->envelope_len, u->needle, u->len)) u->found = 1;
  return 0;
}

static int find_fork_fn(void *ud, uint64_t id, const uint8_t *logged, size_t logged_len,
                        const uint8_t *pushed, size_t pushed_len) {
  (void)id;
  find_ud *u = ud;
  if (memmem(logged, logged_len, u->needle, u->len) || memmem(pushed, pushed_len, u->needle, u->len))
    u->found = 1;
  return 0;
}

static int in_store(fx *f, const void *needle, size_t len) {
  find_ud u = {.needle = needle, .len = len};
  t_log_each(f->store, find_entry_fn, &u);
  mls_store *st = t_store_open(f->store);
  mls_txn *tx = NULL;
  assert_int_equal(mls_store_begin(st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_list, find_fork_fn, &u), MLPROTO_OK);
  mls_store_rollback(tx);
  mls_store_close(st);
  return u.found;
}

/* Whether the bytes occur in what the store gives back (in_store) or, for
 * SQLite, in DIR/server.db or DIR/server.db-wal: the bytes that erasure must
 * shred (secure_delete, the WAL checkpointed by scrub). A PostgreSQL store's
 * files are the database server's, out of the test's reach (its old row
 * versions go at VACUUM, store.h MLS_STORE_CAP_SCRUB_FILES): there only
 * in_store is checked, and the test says so once. */
static int on_disk(fx *f, const void *needle, size_t len) {
  int found = in_store(f, needle, len);
  if (test_store_is_pg()) {
    static int said;
    if (!said++) print_message("PostgreSQL: erased bytes are looked for in the store's rows, not its files\n");
    return found;
  }
  static const char *const sfx[] = {"", "-wal"};
  for (size_t i = 0; i < 2; i++) {
    char path[128];
    snprintf(path, sizeof path, "%s/server.db%s", f->dir, sfx[i]);
    size_t n = 0;
    char *s = tu_read_file(path, &n);
    if (i == 0) assert_non_null(s); /* the database itself is always there */
    if (s && memmem(s, n, needle, len)) found = 1;
    free(s);
  }
  return found;
}

static void assert_erased_rows(const row *rows, size_t n) {
  assert_true(n > 0); /* a case with no row would pass anything */
  for (size_t i = 0; i < n; i++) {
    assert_false(rows[i].flags & (MLPROTO_RECORD_DISCLOSED | MLPROTO_RECORD_SEALED));
    if (rows[i].kind != MLPROTO_KIND_CASE_OPEN && rows[i].kind != MLPROTO_KIND_CASE_ERASE)
      assert_true(rows[i].flags & MLPROTO_RECORD_DISCLOSED_ERASED);
  }
}

static void assert_intact_rows(const row *rows, size_t n) {
  int sealed = 0;
  for (size_t i = 0; i < n; i++) {
    assert_false(rows[i].flags & (MLPROTO_RECORD_DISCLOSED_ERASED | MLPROTO_RECORD_SEALED_ERASED));
    sealed += rows[i].has_sealed;
  }
  assert_true(sealed > 0);
}

/* ------------------------------------------------------------ the log --- */

static void note_verifier(fx *f, mlproto_note_verifier *v) {
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  const char *args[] = {"log-key", NULL};
  assert_int_equal(sa_admin(f->dir, vkey, sizeof vkey, args), 0);
  assert_int_equal(mlproto_note_vkey_parse(v, vkey, strlen(vkey)), 0);
}

/* The checkpoint of the first size leaves (0: the latest), opened. */
static resp checkpoint(fx *f, uint64_t size, const mlproto_note_verifier *v, mlproto_checkpoint *cp) {
  char q[40] = "";
  if (size) snprintf(q, sizeof q, "size=%llu", (unsigned long long)size);
  resp r = get(f, "/v1/log/checkpoint", q, NULL);
  assert_int_equal(r.status, 200);
  assert_int_equal(mlproto_checkpoint_open(cp, r.body, r.len, v), 0);
  return r;
}

/* Leaf r.index of the tree cp names is the entry (type, receipt, hash). */
static void assert_included(fx *f, const row *r, const mlproto_checkpoint *cp) {
  mlproto_log_entry e = {.type = (mlproto_log_entry_type)r->type, .received_at_ms = r->received_ms};
  memcpy(e.record_hash, r->record_hash, 32);
  uint8_t leaf[32];
  assert_int_equal(mlproto_log_entry_leaf_hash(leaf, &e), 0);
  char q[80];
  snprintf(q, sizeof q, "index=%llu&size=%llu", (unsigned long long)r->index,
           (unsigned long long)cp->size);
  resp ir = get(f, "/v1/log/proof/inclusion", q, NULL);
  assert_int_equal(ir.status, 200);
  ProtobufCMessage *pm = NULL;
  assert_int_equal(mlproto_msg_unpack(&pm, MLPROTO_MSG_INCLUSION_PROOF, ir.body, ir.len), 0);
  Mentorlog__V1__InclusionProof *ip = (Mentorlog__V1__InclusionProof *)pm;
  uint8_t proof[64][32];
  assert_true(ip->n_hashes <= 64);
  for (size_t k = 0; k < ip->n_hashes; k++) memcpy(proof[k], ip->hashes[k].data, 32);
  assert_int_equal(mlproto_merkle_verify_inclusion(leaf, r->index, cp->size,
                                                   (const uint8_t(*)[32])proof, ip->n_hashes,
                                                   cp->root),
                   MLPROTO_OK);
  mlproto_msg_free(pm);
  free(ir.body);
}

/* The "state" of grant g in the kbh compliance report ("" when absent). */
static void grant_state(fx *f, const uint8_t g[16], char out[32]) {
  resp r = get(f, "/v1/jobcentre/compliance", "", f->tok_kbh);
  assert_int_equal(r.status, 200);
  char want[64];
  char hex[33];
  hex16(hex, g);
  snprintf(want, sizeof want, "\"grant_id\":\"%s\"", hex);
  out[0] = 0;
  const char *p = strstr((char *)r.body, want);
  if (p) {
    const char *s = strstr(p, "\"state\":\"");
    assert_non_null(s);
    s += 9;
    size_t n = strcspn(s, "\"");
    assert_true(n < 32);
    memcpy(out, s, n);
    out[n] = 0;
  }
  free(r.body);
}

/* The kbh compliance report of the app (its report cache warm or not) is
 * the one an app without a cache answers, byte for byte, at the same now. */
static void assert_report_uncached(fx *f) {
  mls_app *u = NULL;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .no_report_cache = 1};
  assert_int_equal(mls_app_open(&u, &cfg), 0);
  static const char *const qs[] = {"", "format=csv"};
  for (size_t i = 0; i < 2; i++) {
    resp a = get(f, "/v1/jobcentre/compliance", qs[i], f->tok_kbh);
    resp b = sa_get(u, (uint64_t)f->now, "/v1/jobcentre/compliance", qs[i], f->tok_kbh, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.body, b.body, a.len);
    free(a.body);
    free(b.body);
  }
  mls_app_close(u);
}

static uint64_t cache_misses(fx *f) {
  mls_app_cache_stats s;
  mls_app_report_cache_stats(f->app, &s);
  return s.misses;
}

static int case_is_erased(mentorlog *h, const uint8_t c[16], int *readable) {
  mentorlog_case *cs;
  size_t n;
  assert_int_equal(mentorlog_cases(h, &cs, &n), 0);
  int erased = -1;
  for (size_t i = 0; i < n; i++)
    if (memcmp(cs[i].id, c, 16) == 0) {
      erased = cs[i].erased;
      if (readable) *readable = cs[i].name != NULL;
      if (erased) assert_null(cs[i].name);
    }
  mentorlog_cases_free(cs, n);
  return erased;
}

/* --------------------------------------------------------------- tests --- */

static void device_erasure_shreds_the_server(void **state) {
  fx *f = *state;
  row before[MAX_ROWS], after[MAX_ROWS], all[MAX_ROWS];
  size_t nb = rows_of(f, f->c[1], before, MAX_ROWS);
  assert_true(nb >= 5); /* CASE_OPEN, KEY_GRANT(s), GRANT_OPEN, 2 contacts */
  assert_intact_rows(before, nb);
  assert_true(on_disk(f, REFS[1], strlen(REFS[1])));
  mlproto_note_verifier v;
  note_verifier(f, &v);
  mlproto_checkpoint cp0;
  resp note0 = checkpoint(f, 0, &v, &cp0);
  char st[32];
  grant_state(f, f->g[1], st);
  assert_string_equal(st, "OPEN");
  assert_report_uncached(f); /* the report cache holds every case now */

  /* a2, offline, writes to case 1 before it learns of the erasure */
  contact(f->a2, f->c[1], noon(f->today - 1));
  assert_int_equal(mentorlog_case_erase(f->a1, f->c[1]), 0);
  mls_app_cache_stats cs0, cs1;
  mls_app_report_cache_stats(f->app, &cs0);
  assert_int_equal(sync_dev(f, f->a1), 0);
  /* the push that erased it also dropped its cached disclosed parts */
  mls_app_report_cache_stats(f->app, &cs1);
  assert_int_equal(cs1.entries, cs0.entries - 1);
  assert_true(cs1.bytes < cs0.bytes);
  assert_true(case_erased_ms(f, f->c[1]) > 0);
  assert_int_equal(case_erased_ms(f, f->c[2]), 0);
  size_t na = rows_of(f, f->c[1], after, MAX_ROWS);
  assert_int_equal(na, nb + 1); /* and the CASE_ERASE */
  assert_erased_rows(after, na);
  for (size_t i = 0; i < nb; i++) {
    assert_int_equal(after[i].index, before[i].index);
    assert_memory_equal(after[i].record_hash, before[i].record_hash, 32);
  }
  /* the late contact: appended as usual, stored erased */
  assert_int_equal(sync_dev(f, f->a2), 0);
  na = rows_of(f, f->c[1], after, MAX_ROWS);
  assert_int_equal(na, nb + 2);
  assert_erased_rows(after, na);
  assert_int_equal(after[na - 1].kind, MLPROTO_KIND_CONTACT);
  /* the device that wrote it now shows the case erased; the others stay */
  int readable = 0;
  assert_int_equal(case_is_erased(f->a2, f->c[1], NULL), 1);
  assert_int_equal(case_is_erased(f->a2, f->c[3], &readable), 0);
  assert_true(readable);
  assert_int_equal(case_is_erased(f->a1, f->c[1], NULL), 1);

  /* no byte of the disclosed codes nor of a sealed part, db or WAL */
  assert_false(on_disk(f, REFS[1], strlen(REFS[1])));
  for (size_t i = 0; i < nb; i++)
    if (before[i].has_sealed) assert_false(on_disk(f, before[i].sealed_head, 16));
  /* the other cases are untouched */
  assert_true(on_disk(f, REFS[3], strlen(REFS[3])));
  row other[MAX_ROWS];
  size_t no = rows_of(f, f->c[3], other, MAX_ROWS);
  assert_intact_rows(other, no);

  /* the log: the old checkpoint is the same note; every entry of the
   * case (erased envelope, same record hash) is in the latest tree */
  mlproto_checkpoint cp_old, cp;
  resp note_old = checkpoint(f, cp0.size, &v, &cp_old);
  assert_int_equal(note_old.len, note0.len);
  assert_memory_equal(note_old.body, note0.body, note0.len);
  resp note = checkpoint(f, 0, &v, &cp);
  assert_true(cp.size > cp0.size);
  size_t n_all = rows_of(f, NULL, all, MAX_ROWS);
  assert_int_equal(n_all, cp.size);
  for (size_t i = 0; i < na; i++) assert_included(f, &after[i], &cp);
  for (size_t i = 0; i < nb; i++) assert_included(f, &before[i], &cp_old);
  free(note0.body);
  free(note_old.body);
  free(note.body);

  /* the jobcentre sees the grant as ERASED, without its reference, and
   * the report (case 1 parsed again, the others from the cache) is the
   * uncached one */
  uint64_t misses = cache_misses(f);
  grant_state(f, f->g[1], st);
  assert_string_equal(st, "ERASED");
  assert_int_equal(cache_misses(f), misses + 1);
  assert_report_uncached(f);
  resp r = get(f, "/v1/jobcentre/compliance", "", f->tok_kbh);
  assert_null(strstr((char *)r.body, REFS[1]));
  assert_non_null(strstr((char *)r.body, REFS[3]));
  free(r.body);

  /* a device enrolled and approved after the erasure */
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a3", f->dir);
  mentorlog *a3 = sa_device(f->app, f->dir, dir, "a3", f->mentor, &f->now, NULL);
  approve(f, f->a1, a3);
  assert_int_equal(sync_dev(f, a3), 0);
  assert_int_equal(case_is_erased(a3, f->c[1], NULL), 1);
  readable = 0;
  assert_int_equal(case_is_erased(a3, f->c[3], &readable), 0);
  assert_true(readable);
  mentorlog_close(a3);
  /* a case erased twice: refused on the device, nothing new on the server */
  assert_int_equal(mentorlog_case_erase(f->a1, f->c[1]), MENTORLOG_ERR_CASE_ERASED);
}

/* How many RETENTION_PURGE events name case c. */
typedef struct purge_ud {
  const uint8_t *c;
  size_t n;
} purge_ud;

static int purge_fn(void *ud, const mls_log_entry *e) {
  purge_ud *u = ud;
  if (e->type != MLPROTO_LOG_SERVER_EVENT || e->kind != MLPROTO_KIND_RETENTION_PURGE) return 0;
  mlproto_record *rec = NULL;
  assert_int_equal(mlproto_record_verify(&rec, e->envelope, e->envelope_len), 0);
  assert_non_null(rec->disclosed);
  assert_non_null(rec->disclosed->retention_purge);
  const ProtobufCBinaryData *id = &rec->disclosed->retention_purge->case_id;
  u->n += id->len == 16 && memcmp(id->data, u->c, 16) == 0;
  mlproto_record_free(rec);
  return 0;
}

static size_t purge_events(fx *f, const uint8_t c[16]) {
  purge_ud u = {.c = c};
  t_log_each(f->store, purge_fn, &u);
  return u.n;
}

static size_t log_size(fx *f) {
  row all[MAX_ROWS];
  return rows_of(f, NULL, all, MAX_ROWS);
}

static void retention_purge(void **state) {
  fx *f = *state;
  char date[11], out[4096];
  mlproto_date_format(date, f->today - 100);
  char h2[33], h3[33], h4[33], h5[33];
  hex16(h2, f->c[2]);
  hex16(h3, f->c[3]);
  hex16(h4, f->c[4]);
  hex16(h5, f->c[5]);
  size_t size0 = log_size(f);
  row rows[MAX_ROWS];

  /* --dry-run: the list, and nothing changed */
  const char *dry[] = {"retention", "purge", "--before", date, "--dry-run", NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, dry), 0);
  assert_non_null(strstr(out, h2));
  assert_non_null(strstr(out, h4));
  assert_null(strstr(out, h3));
  assert_null(strstr(out, h5));
  assert_null(strstr(out, "NAME-SECRET"));
  assert_null(strstr(out, REFS[2]));
  assert_int_equal(log_size(f), size0);
  assert_intact_rows(rows, rows_of(f, f->c[2], rows, MAX_ROWS));
  assert_int_equal(case_erased_ms(f, f->c[2]), 0);
  assert_int_equal(purge_events(f, f->c[2]), 0);

  /* refusals */
  const char *bad[] = {"retention", "purge", "--before", "2026-13-01", NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, bad), 2);
  const char *none[] = {"retention", "purge", NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, none), 2);

  /* before the purge, the report (its cache now warm) shows them */
  char st[32];
  grant_state(f, f->g[2], st);
  assert_string_equal(st, "OPEN"); /* ended long ago, not closed */
  grant_state(f, f->g[4], st);
  assert_string_equal(st, "CLOSED");
  assert_report_uncached(f);
  uint64_t misses = cache_misses(f);

  /* the purge: what it must remove is on disk before */
  assert_true(on_disk(f, REFS[2], strlen(REFS[2])));
  assert_true(on_disk(f, REFS[4], strlen(REFS[4])));
  const char *run[] = {"retention", "purge", "--before", date, NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, run), 0);
  assert_non_null(strstr(out, h2));
  assert_non_null(strstr(out, h4));
  assert_null(strstr(out, h3));
  assert_null(strstr(out, REFS[2]));
  assert_int_equal(log_size(f), size0 + 2);
  for (int k = 2; k <= 4; k += 2) {
    size_t n = rows_of(f, f->c[k], rows, MAX_ROWS);
    assert_erased_rows(rows, n);
    assert_true(case_erased_ms(f, f->c[k]) > 0);
    assert_int_equal(purge_events(f, f->c[k]), 1);
    assert_false(on_disk(f, REFS[k], strlen(REFS[k])));
  }
  assert_intact_rows(rows, rows_of(f, f->c[3], rows, MAX_ROWS));
  assert_intact_rows(rows, rows_of(f, f->c[5], rows, MAX_ROWS));
  assert_int_equal(case_erased_ms(f, f->c[3]), 0);
  assert_int_equal(case_erased_ms(f, f->c[5]), 0);
  assert_int_equal(purge_events(f, f->c[3]), 0);
  /* The purge ran beside the server (the admin command's own store): its
   * RETENTION_PURGE events are no entries of the cases, their erasure time
   * is what tells the server's report cache. The purged cases' grants are
   * ERASED, parsed again (two misses), the others from the cache. */
  grant_state(f, f->g[2], st);
  assert_string_equal(st, "ERASED");
  assert_int_equal(cache_misses(f), misses + 2);
  grant_state(f, f->g[4], st);
  assert_string_equal(st, "ERASED");
  grant_state(f, f->g[3], st);
  assert_string_equal(st, "OPEN");
  assert_int_equal(cache_misses(f), misses + 2);
  assert_report_uncached(f);

  /* a second run: nothing left to purge */
  assert_int_equal(sa_admin(f->dir, out, sizeof out, run), 0);
  assert_null(strstr(out, h2));
  assert_null(strstr(out, h4));
  assert_int_equal(log_size(f), size0 + 2);

  /* the devices take the purge: the cases are erased there too */
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, f->a2), 0);
  int readable = 0;
  assert_int_equal(case_is_erased(f->a1, f->c[2], NULL), 1);
  assert_int_equal(case_is_erased(f->a2, f->c[4], NULL), 1);
  assert_int_equal(case_is_erased(f->a2, f->c[3], &readable), 0);
  assert_true(readable);
  /* and a device enrolled after the purge */
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a4", f->dir);
  mentorlog *a4 = sa_device(f->app, f->dir, dir, "a4", f->mentor, &f->now, NULL);
  approve(f, f->a2, a4);
  assert_int_equal(case_is_erased(a4, f->c[2], NULL), 1);
  assert_int_equal(case_is_erased(a4, f->c[3], &readable), 0);
  mentorlog_close(a4);
}

static mentorlog *reopen(const char *dir) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = "correct horse battery";
  o.passphrase_len = strlen(o.passphrase);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  mentorlog *h = NULL;
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  return h;
}

/* The fork evidence rows (fork_list): both envelopes re-parsed; *erased
 * counts those with no part left, *of_case those of case c. */
typedef struct forks_ud {
  const uint8_t *c;
  size_t n, *of_case, *erased;
} forks_ud;

static int forks_fn(void *ud, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len) {
  (void)id;
  forks_ud *u = ud;
  u->n++;
  const uint8_t *env[2] = {logged, pushed};
  size_t len[2] = {logged_len, pushed_len};
  for (int k = 0; k < 2; k++) {
    mlproto_record *rec = NULL;
    assert_int_equal(mlproto_record_verify(&rec, env[k], len[k]), 0);
    if (memcmp(rec->case_id, u->c, 16) == 0) {
      (*u->of_case)++;
      *u->erased += !(rec->flags & (MLPROTO_RECORD_DISCLOSED | MLPROTO_RECORD_SEALED));
    }
    mlproto_record_free(rec);
  }
  return 0;
}

static size_t forks_of(fx *f, const uint8_t c[16], size_t *of_case, size_t *erased) {
  *of_case = *erased = 0;
  forks_ud u = {.c = c, .of_case = of_case, .erased = erased};
  mls_store *st = t_store_open(f->store);
  mls_txn *tx = NULL;
  assert_int_equal(mls_store_begin(st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_list, forks_fn, &u), MLPROTO_OK);
  mls_store_rollback(tx);
  mls_store_close(st);
  return u.n;
}

/* A copy of a1's profile writes a different record at a seq a1 used: the
 * server keeps both envelopes as fork evidence; erasing their case erases
 * them there too, and the evidence (its record hashes) stays. */
static void fork_evidence_erased(void **state) {
  fx *f = *state;
  char dir[128], copy[128], cmd[300];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  snprintf(copy, sizeof copy, "%s/a1copy", f->dir);
  mentorlog_close(f->a1);
  snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", dir, copy);
  assert_int_equal(system(cmd), 0);
  f->a1 = reopen(dir);
  mentorlog *twin = reopen(copy);
  contact(f->a1, f->c[3], noon(f->today - 2));
  contact(twin, f->c[3], noon(f->today - 4));
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, twin), MENTORLOG_ERR_FORK);
  mentorlog_close(twin);
  size_t of_case = 0, erased = 0;
  assert_int_equal(forks_of(f, f->c[3], &of_case, &erased), 1);
  assert_int_equal(of_case, 2);
  assert_int_equal(erased, 0);
  assert_true(on_disk(f, REFS[3], strlen(REFS[3])));
  assert_int_equal(mentorlog_case_erase(f->a1, f->c[3]), 0);
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(forks_of(f, f->c[3], &of_case, &erased), 1);
  assert_int_equal(of_case, 2);
  assert_int_equal(erased, 2);
  assert_false(on_disk(f, REFS[3], strlen(REFS[3])));
  row rows[MAX_ROWS];
  assert_erased_rows(rows, rows_of(f, f->c[3], rows, MAX_ROWS));
  assert_intact_rows(rows, rows_of(f, f->c[2], rows, MAX_ROWS));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(device_erasure_shreds_the_server, setup, teardown),
      cmocka_unit_test_setup_teardown(retention_purge, setup, teardown),
      cmocka_unit_test_setup_teardown(fork_evidence_erased, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
