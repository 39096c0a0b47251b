/* app_jobcentre.c — the jobcentre's reports: GET /v1/jobcentre/compliance,
 * /v1/jobcentre/grants/REF/contacts and /v1/jobcentre/timesheet (docs/reports.md).
 *
 * Every answer is computed in one read transaction over the log up to the
 * latest checkpoint of that snapshot, and names it; the figures come from
 * protocol/'s report code (mlproto/report.h) over the disclosed parts of
 * the grants' cases, exactly as `mentorlog-audit report` recomputes them
 * from an exported log. A jobcentre token sees the grants whose current
 * version names its jobcentre, and no sealed byte: the documents are built
 * from report structures that hold none. */
#include "app_int.h"

#include <ctype.h>

#include "mlproto/json.h"
#include "mlproto/report.h"

/* Bodies of reports: 2,000 grants of half a year are ~15 MB of JSON. */
#define REPORT_CAP (64u << 20)
/* What one report may hold in memory while it computes (a jobcentre's every
 * case is read, whatever the range): the envelopes it copies and the cache
 * entries it uses; past it the answer is TOO_LARGE, not an exhausted server.
 * 2,000 grants of half a year are ~30 MB of envelopes. */
#define REPORT_GATHER_CAP (512u << 20)

/* ------------------------------------------------------- grant index --- */

static const char *grant_jobcentre(const mlproto_record *r) {
  if (!r->disclosed) return NULL; /* erased */
  const Mentorlog__V1__GrantDisclosed *gd =
      r->kind == MLPROTO_KIND_GRANT_OPEN     ? r->disclosed->grant_open
      : r->kind == MLPROTO_KIND_GRANT_UPDATE ? r->disclosed->grant_update
                                             : NULL;
  return gd && gd->jobcentre_id && *gd->jobcentre_id ? gd->jobcentre_id : NULL;
}

int app_index_grant(mls_txn *tx, const mlproto_record *r) {
  const char *jc = grant_jobcentre(r);
  return jc ? MLS_TX(tx, case_jobcentre_add, r->case_id, jc) : MLPROTO_OK;
}

typedef struct backfill {
  mls_txn *tx;
  uint64_t next, indexed;
  size_t seen;
} backfill;

static int backfill_one(void *ud, const mls_log_entry *e) {
  backfill *b = ud;
  b->next = e->index + 1;
  b->seen++;
  if (e->type != MLPROTO_LOG_DEVICE_RECORD ||
      (e->kind != MLPROTO_KIND_GRANT_OPEN && e->kind != MLPROTO_KIND_GRANT_UPDATE))
    return 0;
  mlproto_record *r = NULL;
  int rc = mlproto_record_verify_stored(&r, e->envelope, e->envelope_len, e->record_hash);
  if (rc == MLPROTO_OK) rc = app_index_grant(b->tx, r);
  mlproto_record_free(r);
  b->indexed += rc == MLPROTO_OK;
  return rc;
}

int app_index_backfill(mls_app *app) {
  static const char key[] = "jobcentre_index";
  mls_txn *tx;
  int rc = mls_store_begin(app->st, MLS_TXN_WRITE, &tx);
  if (rc) return rc;
  uint8_t v[16];
  size_t vl = 0;
  rc = MLS_TX(tx, meta_get, key, v, sizeof v, &vl);
  if (rc == MLPROTO_ERR_NOT_FOUND || (!rc && !(vl == 7 && memcmp(v, "pending", 7) == 0))) {
    mls_store_rollback(tx);
    return MLPROTO_OK; /* a new store, or done already */
  }
  backfill b = {.tx = tx};
  while (!rc) {
    b.seen = 0;
    rc = MLS_TX(tx, log_list, NULL, b.next, 4096, backfill_one, &b);
    if (!rc && b.seen == 0) break;
  }
  if (!rc) rc = MLS_TX(tx, meta_put, key, (const uint8_t *)"done", 4);
  if (rc) {
    mls_store_rollback(tx);
    return rc;
  }
  rc = mls_store_commit(tx);
  app_log(rc ? "error" : "info", "jobcentre_index", "grants=%" PRIu64 " entries=%" PRIu64
          " stored=%d", b.indexed, b.next, rc == MLPROTO_OK);
  return rc;
}

/* ------------------------------------------------------------ gather --- */

/* A report is made in two steps: in one read transaction, each case of the
 * jobcentre is looked up in the report cache (report_cache.h) by what the
 * store says of it, and the log entries of those it does not hold are
 * copied out (with the keys of each case's mentor); then, outside the
 * transaction, those cases are parsed into their grants' bases (and
 * cached), and every grant is computed at `now`, on every core
 * (app->verify's helpers), each case on its own. */

typedef struct case_list {
  uint8_t (*ids)[16];
  size_t n, cap;
} case_list;

static int case_list_add(void *ud, const uint8_t id[16]) {
  case_list *l = ud;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    void *p = realloc(l->ids, cap * sizeof *l->ids);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    l->ids = p;
    l->cap = cap;
  }
  memcpy(l->ids[l->n++], id, 16);
  return 0;
}

void app_jc_grants_free(app_jc_grants *j) {
  for (size_t i = 0; i < j->n; i++) mlproto_grant_report_free(j->g[i]);
  free(j->g);
  free(j->mentors);
  memset(j, 0, sizeof *j);
}

/* The mentors by id, sorted: a case's owner's name by binary search. */
typedef struct all_mentors {
  mls_mentor *m;
  size_t n, cap;
} all_mentors;

static int mentor_add(void *ud, const mls_mentor *m) {
  all_mentors *a = ud;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 16;
    void *p = realloc(a->m, cap * sizeof *a->m);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    a->m = p;
    a->cap = cap;
  }
  a->m[a->n++] = *m;
  return 0;
}

static int mentor_by_id(const void *pa, const void *pb) {
  return memcmp(((const mls_mentor *)pa)->id, ((const mls_mentor *)pb)->id, 16);
}

static int case_mentor_by_case(const void *pa, const void *pb) {
  return memcmp(((const app_case_mentor *)pa)->case_id, ((const app_case_mentor *)pb)->case_id,
                16);
}

const char *app_jc_mentor_name(void *ud, const uint8_t case_id[16]) {
  const app_jc_grants *g = ud;
  app_case_mentor key;
  memcpy(key.case_id, case_id, 16);
  const app_case_mentor *hit =
      g->n_mentors ? bsearch(&key, g->mentors, g->n_mentors, sizeof key, case_mentor_by_case)
                   : NULL;
  return hit && hit->name[0] ? hit->name : NULL;
}

/* The devices of every mentor, sorted by mentor: a case's keys are a range. */
typedef struct all_devices {
  mls_device *d;
  size_t n, cap;
} all_devices;

static int device_add(void *ud, const mls_device *d) {
  all_devices *a = ud;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    void *p = realloc(a->d, cap * sizeof *a->d);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    a->d = p;
    a->cap = cap;
  }
  a->d[a->n++] = *d;
  return 0;
}

static int by_mentor(const void *pa, const void *pb) {
  const mls_device *a = pa, *b = pb;
  int c = memcmp(a->mentor_id, b->mentor_id, 16);
  return c ? c : memcmp(a->pub, b->pub, 32);
}

/* One case: its key, its entries as copied from the store (on a miss of
 * the report cache), then its reports. */
typedef struct case_job {
  uint8_t id[16];
  uint64_t last_index, erased_ms; /* store.h case_version */
  uint8_t (*keys)[32]; /* the case's mentor's device keys */
  size_t n_keys;
  mls_rcase *ent;      /* the bases of its grants: from the cache, or made here */
  uint8_t *env;        /* the envelopes, one after another */
  size_t env_len, env_cap;
  size_t *off, *len;
  uint8_t (*hash)[32]; /* each entry's record hash, from its log leaf */
  mlproto_log_pos *pos;
  size_t n, cap;
  /* results: the grant reports at now that belong to the jobcentre */
  mlproto_grant_report **g;
  size_t ng;
  int rc;
} case_job;

static void case_job_envelopes_free(case_job *c) {
  free(c->env);
  free(c->off);
  free(c->len);
  free(c->hash);
  free(c->pos);
  c->env = NULL;
  c->off = c->len = NULL;
  c->hash = NULL;
  c->pos = NULL;
  c->n = c->cap = c->env_len = c->env_cap = 0;
}

static void case_job_clear(mls_rcache *rc, case_job *c) {
  free(c->keys);
  case_job_envelopes_free(c);
  mls_rcache_release(rc, c->ent);
  for (size_t i = 0; i < c->ng; i++) mlproto_grant_report_free(c->g[i]);
  free(c->g);
  memset(c, 0, sizeof *c);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return MLPROTO_OK;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (!q) return MLPROTO_ERR_OUT_OF_MEMORY;
  *p = q;
  *cap = n;
  return MLPROTO_OK;
}

/* The entries a report reads (mlproto_report_kind_used: no note, no key
 * grant is copied or parsed). */
static int case_copy(void *ud, const mls_log_entry *e) {
  case_job *c = ud;
  if (e->type != MLPROTO_LOG_DEVICE_RECORD || !mlproto_report_kind_used(e->kind)) return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 32;
    size_t *off = realloc(c->off, cap * sizeof *off);
    if (off) c->off = off;
    size_t *len = realloc(c->len, cap * sizeof *len);
    if (len) c->len = len;
    uint8_t(*hash)[32] = realloc(c->hash, cap * sizeof *hash);
    if (hash) c->hash = hash;
    mlproto_log_pos *pos = realloc(c->pos, cap * sizeof *pos);
    if (pos) c->pos = pos;
    if (!off || !len || !hash || !pos) return MLPROTO_ERR_OUT_OF_MEMORY;
    c->cap = cap;
  }
  if (grow((void **)&c->env, &c->env_cap, c->env_len + e->envelope_len, 1))
    return MLPROTO_ERR_OUT_OF_MEMORY;
  memcpy(c->env + c->env_len, e->envelope, e->envelope_len);
  c->off[c->n] = c->env_len;
  c->len[c->n] = e->envelope_len;
  memcpy(c->hash[c->n], e->record_hash, 32);
  c->pos[c->n] = (mlproto_log_pos){e->index, e->received_ms};
  c->env_len += e->envelope_len;
  c->n++;
  return 0;
}

typedef struct gather_job {
  case_job *cases;
  mls_rcache *cache;
  const char *jc;
  int64_t now;
} gather_job;

/* A case the cache did not hold: its records parsed from the copied
 * envelopes, the basis of each of its grants (mlproto/report.h) made into
 * an entry, and the entry put into the cache. */
static int case_parse(gather_job *gj, case_job *c) {
  mlproto_record **recs = calloc(c->n ? c->n : 1, sizeof *recs);
  if (!recs) return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc = MLPROTO_OK;
  size_t grants = 0;
  for (size_t k = 0; k < c->n && !rc; k++) {
    rc = mlproto_record_verify_stored(&recs[k], c->env + c->off[k], c->len[k], c->hash[k]);
    if (rc) {
      /* The push verified it: a stored envelope that no longer matches its
       * log entry is damage, reported, never skipped. */
      app_log("error", "report_record", "index=%" PRIu64 " reason=%s", c->pos[k].index,
              mlproto_errname(rc));
      rc = MLPROTO_ERR_STORAGE;
    } else {
      grants += recs[k]->kind == MLPROTO_KIND_GRANT_OPEN;
    }
  }
  mls_rcase *e = NULL;
  if (!rc)
    rc = mls_rcase_new(&e, c->id, c->last_index, c->erased_ms, (const uint8_t(*)[32])c->keys,
                       c->n_keys, grants);
  for (size_t k = 0; k < c->n && !rc; k++) {
    if (recs[k]->kind != MLPROTO_KIND_GRANT_OPEN) continue;
    mlproto_grant_basis *b = NULL;
    rc = mlproto_grant_basis_build(&b, (const mlproto_record *const *)recs, c->pos, c->n,
                                   recs[k]->record_id, (const uint8_t(*)[32])c->keys, c->n_keys);
    if (!rc) mls_rcase_add(e, b);
  }
  for (size_t k = 0; k < c->n; k++) mlproto_record_free(recs[k]);
  free(recs);
  case_job_envelopes_free(c); /* no longer needed */
  if (rc) {
    mls_rcache_release(NULL, e); /* never put: the request's alone */
    return rc;
  }
  mls_rcache_put(gj->cache, e);
  c->ent = e;
  return MLPROTO_OK;
}

/* The reports at `now` of every grant of one case that belong to the
 * jobcentre (helper thread or owner). */
static void case_compute(void *ud, size_t i) {
  gather_job *gj = ud;
  case_job *c = &gj->cases[i];
  int rc = c->ent ? MLPROTO_OK : case_parse(gj, c);
  const mls_rcase *e = c->ent;
  if (!rc && e->n && !(c->g = calloc(e->n, sizeof *c->g))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t k = 0; !rc && k < e->n; k++) {
    mlproto_grant_report *g = NULL;
    if ((rc = mlproto_grant_report_compute(&g, e->g[k], gj->now))) break;
    /* The grant's current version decides (mlproto_grant_report_for); an
     * erased grant whose codes are gone stays with the jobcentre its case
     * was indexed under (the case is one of jc's). */
    if (mlproto_grant_report_for(g, gj->jc))
      c->g[c->ng++] = g;
    else
      mlproto_grant_report_free(g);
  }
  c->rc = rc;
}

/* Copies out, in one read snapshot, the checkpoint and every case of jc:
 * for each case its key (store.h case_version) and, unless the report
 * cache holds the case at that key, its log entries below the checkpoint. */
static int gather_read(mls_app *app, const char *jc, int64_t now, mlproto_sth *sth,
                       case_job **out, size_t *n_out, app_case_mentor **mentors_out) {
  *out = NULL;
  *n_out = 0;
  mls_txn *tx;
  int rc = mls_store_begin(app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  case_list cases = {0};
  all_devices devs = {0};
  all_mentors ms = {0};
  app_case_mentor *cm = NULL;
  case_job *cj = NULL;
  rc = mls_log_sth(app->log, tx, (uint64_t)now, sth);
  if (!rc) rc = MLS_TX(tx, jobcentre_cases, jc, case_list_add, &cases);
  if (!rc && cases.n) rc = MLS_TX(tx, device_list, device_add, &devs);
  if (!rc && devs.n > 1) qsort(devs.d, devs.n, sizeof *devs.d, by_mentor);
  if (!rc && cases.n && !(cj = calloc(cases.n, sizeof *cj))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  if (!rc && cases.n && mentors_out) {
    /* the names of the cases' mentors (the web page shows them) */
    rc = MLS_TX(tx, mentor_list, mentor_add, &ms);
    if (!rc && ms.n > 1) qsort(ms.m, ms.n, sizeof *ms.m, mentor_by_id);
    if (!rc && !(cm = calloc(cases.n, sizeof *cm))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  }
  size_t held = 0;
  for (size_t i = 0; !rc && i < cases.n; i++) {
    case_job *c = &cj[i];
    memcpy(c->id, cases.ids[i], 16);
    uint8_t owner[16];
    rc = MLS_TX(tx, case_version, c->id, sth->size, owner, &c->erased_ms, &c->last_index);
    if (!rc && cm) {
      mls_mentor key;
      memcpy(key.id, owner, 16);
      const mls_mentor *who = ms.n ? bsearch(&key, ms.m, ms.n, sizeof key, mentor_by_id) : NULL;
      memcpy(cm[i].case_id, c->id, 16);
      snprintf(cm[i].name, sizeof cm[i].name, "%s", who ? who->name : "");
    }
    size_t lo = 0, hi = devs.n;
    while (!rc && lo < hi) { /* the first device of owner */
      size_t mid = lo + (hi - lo) / 2;
      if (memcmp(devs.d[mid].mentor_id, owner, 16) < 0) lo = mid + 1;
      else hi = mid;
    }
    for (hi = lo; hi < devs.n && memcmp(devs.d[hi].mentor_id, owner, 16) == 0; hi++) {}
    if (!rc && hi > lo) {
      if (!(c->keys = malloc((hi - lo) * sizeof *c->keys))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
      for (size_t k = lo; !rc && k < hi; k++) memcpy(c->keys[c->n_keys++], devs.d[k].pub, 32);
    }
    if (!rc)
      c->ent = mls_rcache_get(app->rcache, c->id, c->last_index, c->erased_ms,
                              (const uint8_t(*)[32])c->keys, c->n_keys);
    if (!rc && !c->ent) rc = MLS_TX(tx, case_entries, c->id, sth->size, case_copy, c);
    held += c->ent ? c->ent->bytes : c->env_len;
    if (!rc && held > REPORT_GATHER_CAP) rc = MLPROTO_ERR_TOO_LARGE;
  }
  mls_store_rollback(tx);
  free(cases.ids);
  free(devs.d);
  free(ms.m);
  if (rc) {
    for (size_t i = 0; cj && i < cases.n; i++) case_job_clear(app->rcache, &cj[i]);
    free(cj);
    free(cm);
    return rc;
  }
  *out = cj;
  *n_out = cases.n;
  if (mentors_out) *mentors_out = cm; /* sorted by case id, as jobcentre_cases lists them */
  return MLPROTO_OK;
}

int app_jc_gather(mls_app *app, const char *jc, int64_t now, int with_mentors, app_jc_grants *out) {
  memset(out, 0, sizeof *out);
  case_job *cj = NULL;
  size_t n = 0;
  int rc = gather_read(app, jc, now, &out->sth, &cj, &n, with_mentors ? &out->mentors : NULL);
  if (rc) return rc;
  if (out->mentors) {
    out->n_mentors = n;
    qsort(out->mentors, n, sizeof *out->mentors, case_mentor_by_case);
  }
  gather_job gj = {.cases = cj, .cache = app->rcache, .jc = jc, .now = now};
  mls_fanout_job *job = NULL;
  if (n && (rc = mls_fanout_start(app->verify, n, case_compute, &gj, &job)) == MLPROTO_OK)
    mls_fanout_finish(job, 0);
  size_t total = 0;
  for (size_t i = 0; !rc && i < n; i++) {
    if (cj[i].rc) rc = cj[i].rc;
    total += cj[i].ng;
  }
  if (!rc && total && !(out->g = malloc(total * sizeof *out->g))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; !rc && i < n; i++) {
    for (size_t k = 0; k < cj[i].ng; k++) out->g[out->n++] = cj[i].g[k];
    cj[i].ng = 0; /* moved (case_job_clear frees the empty array) */
  }
  out->cap = out->n;
  for (size_t i = 0; i < n; i++) case_job_clear(app->rcache, &cj[i]);
  free(cj);
  if (rc) {
    app_jc_grants_free(out);
    return rc;
  }
  mlproto_grant_reports_sort(out->g, out->n);
  return MLPROTO_OK;
}

/* ----------------------------------------------------------- answers --- */

static int q_format(ctx *c, const qparam *p, int *out) {
  *out = MLPROTO_REPORT_JSON;
  if (!p->seen || (p->len == 4 && memcmp(p->val, "json", 4) == 0)) return MLPROTO_OK;
  if (p->len == 3 && memcmp(p->val, "csv", 3) == 0) {
    *out = MLPROTO_REPORT_CSV;
    return MLPROTO_OK;
  }
  return app_fail(c, MLPROTO_ERR_BAD_QUERY, "format: json or csv");
}

static int q_range(ctx *c, const qparam *from, const qparam *to, mlproto_date *f,
                   mlproto_date *t) {
  const char *why = NULL;
  int rc = app_q_range(from, to, 0, f, t, &why);
  return rc ? app_fail(c, rc, why) : MLPROTO_OK;
}

static void add_header(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_header(ctx *c, const char *fmt, ...) {
  size_t used = strlen(c->resp->extra_headers);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->resp->extra_headers + used, sizeof c->resp->extra_headers - used, fmt, ap);
  va_end(ap);
}

/* Render into the response: fn writes the document into the body. */
typedef int (*render_fn)(mlproto_buf *out, int format, const mlproto_report_meta *m,
                         const void *arg);

static int answer(ctx *c, int format, const char *name, const mlproto_report_meta *m,
                  render_fn fn, const void *arg) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, REPORT_CAP);
  int rc = fn(&c->resp->body, format, m, arg);
  if (rc == MLPROTO_ERR_TOO_LARGE)
    return app_fail(c, rc, "the report exceeds 64 MiB: ask for a shorter range");
  if (rc) return app_fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->error_code = MLPROTO_OK;
  c->resp->content_type = format == MLPROTO_REPORT_CSV ? "text/csv; charset=utf-8"
                                                       : "application/json; charset=utf-8";
  char root[65];
  mlproto_hex_encode(root, m->checkpoint_root, 32);
  /* Personal data: never cached by a browser or a proxy. */
  add_header(c, "Cache-Control: no-store\r\nX-Mentorlog-Checkpoint: %" PRIu64 " %s\r\n",
             m->checkpoint_size, root);
  if (format == MLPROTO_REPORT_CSV)
    add_header(c, "Content-Disposition: attachment; filename=\"%s.csv\"\r\n", name);
  return MLPROTO_OK;
}

/* The document names the checkpoint its snapshot read and the server's
 * clock when the request was answered (an auditor recomputes it with
 * `mentorlog-audit report --now` that generated_at). */
void app_jc_meta(mlproto_report_meta *m, const ctx *c, const app_jc_grants *g, const char *jc) {
  mlproto_report_meta_init(m, g->sth.size, g->sth.root, mls_log_origin(c->app->log),
                           (int64_t)c->now, jc);
}

typedef struct grant_set {
  const mlproto_grant_report *const *g;
  size_t n;
  mls_fanout *fan;     /* compliance: the document written on every core, */
  size_t slice_grants; /* in slices of at least this many grants (~6 KB of JSON each) */
} grant_set;

typedef struct slice_job {
  const grant_set *s;
  const mlproto_report_meta *m;
  int format;
  size_t k;
  mlproto_buf *buf; /* buf[0] is the answer's body */
  int *rc;
} slice_job;

static void slice_render(void *ud, size_t i) {
  slice_job *sj = ud;
  size_t n = sj->s->n, lo = n * i / sj->k, hi = n * (i + 1) / sj->k;
  /* on this thread's stack: the slices' buffer headers side by side in
   * buf[] would share a cache line, and every append writes len */
  mlproto_buf b = sj->buf[i];
  sj->rc[i] = mlproto_report_compliance_slice(&b, sj->format, sj->m, sj->s->g, n, lo, hi);
  sj->buf[i] = b;
}

/* The document in k slices of grants on the helpers, appended in order:
 * byte for byte the one writer's (mlproto_report_compliance_slice). */
static int render_compliance(mlproto_buf *out, int f, const mlproto_report_meta *m,
                             const void *arg) {
  const grant_set *s = arg;
  size_t k = 2 * ((size_t)mls_fanout_helpers(s->fan) + 1);
  if (k > s->n / s->slice_grants) k = s->n / s->slice_grants;
  if (k < 2 || out->len) return mlproto_report_compliance(out, f, m, s->g, s->n);
  mlproto_buf *buf = calloc(k, sizeof *buf);
  int *rc = calloc(k, sizeof *rc);
  int r = buf && rc ? MLPROTO_OK : MLPROTO_ERR_OUT_OF_MEMORY;
  slice_job sj = {.s = s, .m = m, .format = f, .k = k, .buf = buf, .rc = rc};
  mls_fanout_job *job = NULL;
  if (!r) {
    buf[0] = *out;
    for (size_t i = 1; i < k; i++) mlproto_buf_init(&buf[i], out->cap);
    if ((r = mls_fanout_start(s->fan, k, slice_render, &sj, &job)) == MLPROTO_OK)
      mls_fanout_finish(job, 0);
    *out = buf[0];
  }
  size_t total = 0;
  for (size_t i = 0; !r && i < k; i++) {
    r = rc[i];
    total += buf[i].len;
  }
  if (!r) r = total > out->cap ? MLPROTO_ERR_TOO_LARGE : mlproto_buf_reserve(out, total - out->len);
  for (size_t i = 1; !r && i < k; i++) r = mlproto_buf_append(out, buf[i].data, buf[i].len);
  for (size_t i = 1; buf && i < k; i++) mlproto_buf_free(&buf[i]);
  free(buf);
  free(rc);
  return r;
}
static int render_timesheet(mlproto_buf *out, int f, const mlproto_report_meta *m,
                            const void *arg) {
  const grant_set *s = arg;
  return mlproto_report_timesheet(out, f, m, s->g, s->n);
}
static int render_contacts(mlproto_buf *out, int f, const mlproto_report_meta *m,
                           const void *arg) {
  return mlproto_report_contacts(out, f, m, arg);
}

static void log_report(ctx *c, const char *what, const char *jc, size_t grants,
                       const app_jc_grants *g) {
  app_log("info", "report", "conn=%" PRIu64 " report=%s jobcentre=%s grants=%zu log_size=%"
          PRIu64, c->req->conn_id, what, jc, grants, g->sth.size);
}

static int gather_failed(ctx *c, int rc) {
  return app_fail(c, rc, rc == MLPROTO_ERR_TOO_LARGE
                             ? "this jobcentre's records exceed what one report may hold (512 MiB)"
                             : NULL);
}

/* The common start of the ranged reports: the jobcentre token, the query
 * (from, to, format), and the grants computed at one checkpoint. */
static int ranged_request(ctx *c, char jc[MLS_JOBCENTRE_MAX + 1], mlproto_date *from,
                          mlproto_date *to, int *format, app_jc_grants *g) {
  int rc = app_authenticate_api_roles(c, APP_ROLES_JOBCENTRE, jc);
  if (rc) return rc;
  qparam ps[] = {{.name = "from"}, {.name = "to"}, {.name = "format"}};
  if ((rc = app_parse_query(c, ps, 3)) || (rc = q_range(c, &ps[0], &ps[1], from, to)) ||
      (rc = q_format(c, &ps[2], format)))
    return rc;
  if ((rc = app_jc_gather(c->app, jc, (int64_t)c->now, 0, g))) return gather_failed(c, rc);
  return MLPROTO_OK;
}

int app_h_compliance(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  mlproto_date from, to;
  int format;
  app_jc_grants g;
  int rc = ranged_request(c, jc, &from, &to, &format, &g);
  if (rc) return rc;
  /* The grants whose support meets the range, in report order. */
  g.n = mlproto_grant_reports_keep_range(g.g, g.n, from, to);
  mlproto_report_meta m;
  app_jc_meta(&m, c, &g, jc);
  m.from = from;
  m.to = to;
  grant_set s = {(const mlproto_grant_report *const *)g.g, g.n, c->app->verify,
                 c->app->slice_grants};
  rc = answer(c, format, "compliance", &m, render_compliance, &s);
  log_report(c, "compliance", jc, g.n, &g);
  app_jc_grants_free(&g);
  return rc;
}

void app_jc_keep_month(app_jc_grants *g, mlproto_date month) {
  /* the grants with a day of support in the month */
  int y, mo, d;
  if (mlproto_date_to_ymd(month, &y, &mo, &d) != MLPROTO_OK) return;
  mlproto_date last = month + mlproto_days_in_month(y, mo) - 1;
  size_t k = 0;
  for (size_t i = 0; i < g->n; i++)
    if (!g->g[i]->erased && !g->g[i]->invalid &&
        mlproto_grant_report_in_range(g->g[i], month, last))
      g->g[k++] = g->g[i];
    else
      mlproto_grant_report_free(g->g[i]);
  g->n = k;
}

int app_h_timesheet(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  int rc = app_authenticate_api_roles(c, APP_ROLES_JOBCENTRE, jc);
  if (rc) return rc;
  qparam ps[] = {{.name = "month"}, {.name = "format"}};
  int format;
  if ((rc = app_parse_query(c, ps, 2)) || (rc = q_format(c, &ps[1], &format))) return rc;
  mlproto_date month = MLPROTO_DATE_NONE;
  if (!ps[0].seen) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "month=YYYY-MM is required");
  if (app_q_month(&ps[0], &month)) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "month: YYYY-MM");
  app_jc_grants g;
  if ((rc = app_jc_gather(c->app, jc, (int64_t)c->now, 0, &g))) return gather_failed(c, rc);
  mlproto_report_meta m;
  app_jc_meta(&m, c, &g, jc);
  m.month = month;
  app_jc_keep_month(&g, month);
  grant_set s = {(const mlproto_grant_report *const *)g.g, g.n, NULL, 0};
  rc = answer(c, format, "timesheet", &m, render_timesheet, &s);
  log_report(c, "timesheet", jc, g.n, &g);
  app_jc_grants_free(&g);
  return rc;
}

/* REF: the grant's id (32 hex digits) or its municipal case reference. */
const mlproto_grant_report *app_jc_find_grant(const app_jc_grants *g, const char *ref, size_t len,
                                              size_t *hits) {
  /* a grant id names one grant: it wins over a municipal reference that
   * happens to be the same 32 hex digits (a mentor could otherwise make
   * another grant's links ambiguous by choosing its id as a reference) */
  uint8_t id[16];
  if (len == 32 && mlproto_hex_decode(id, 16, ref, len) == MLPROTO_OK)
    for (size_t i = 0; i < g->n; i++)
      if (memcmp(id, g->g[i]->grant_id, 16) == 0) {
        *hits = 1;
        return g->g[i];
      }
  const mlproto_grant_report *hit = NULL;
  *hits = 0;
  for (size_t i = 0; i < g->n; i++)
    if (strlen(g->g[i]->case_ref) == len && memcmp(g->g[i]->case_ref, ref, len) == 0) {
      hit = g->g[i];
      ++*hits;
    }
  return hit;
}

int app_h_grant_contacts(ctx *c) {
  static const char pre[] = "/v1/jobcentre/grants/", post[] = "/contacts";
  const char *p = c->req->path;
  size_t plen = strlen(p);
  if (plen <= sizeof pre - 1 + sizeof post - 1 || strncmp(p, pre, sizeof pre - 1) != 0 ||
      strcmp(p + plen - (sizeof post - 1), post) != 0)
    return app_fail(c, MLPROTO_ERR_NOT_FOUND, "no such endpoint");
  const char *ref = p + sizeof pre - 1;
  size_t rlen = plen - (sizeof pre - 1) - (sizeof post - 1);
  for (size_t i = 0; i < rlen; i++) {
    unsigned char ch = (unsigned char)ref[i];
    if (!(isalnum(ch) || ch == '.' || ch == '_' || ch == '-') || rlen > MLPROTO_REPORT_CODE_MAX)
      return app_fail(c, MLPROTO_ERR_NOT_FOUND, "no such grant");
  }
  char jc[MLS_JOBCENTRE_MAX + 1];
  mlproto_date from, to;
  int format;
  app_jc_grants g;
  int rc = ranged_request(c, jc, &from, &to, &format, &g);
  if (rc) return rc;
  size_t hits = 0;
  const mlproto_grant_report *hit = app_jc_find_grant(&g, ref, rlen, &hits);
  if (hits == 0) {
    rc = app_fail(c, MLPROTO_ERR_NOT_FOUND, "no such grant of this jobcentre");
  } else if (hits > 1) {
    char detail[96];
    snprintf(detail, sizeof detail, "the reference names %zu grants: use a grant_id", hits);
    rc = app_fail(c, MLPROTO_ERR_AMBIGUOUS_PREFIX, detail);
  } else {
    mlproto_report_meta m;
    app_jc_meta(&m, c, &g, jc);
    m.from = from;
    m.to = to;
    rc = answer(c, format, "contacts", &m, render_contacts, hit);
  }
  log_report(c, "contacts", jc, hits, &g);
  app_jc_grants_free(&g);
  return rc;
}
