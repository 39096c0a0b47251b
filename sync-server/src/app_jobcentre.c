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
/* The envelopes one report may hold in memory while it computes (a
 * jobcentre's every case is read, whatever the range): past it the answer is
 * TOO_LARGE, not an exhausted server. 2,000 grants of half a year are ~30 MB. */
#define REPORT_GATHER_CAP (512u << 20)
/* The widest range a compliance or contacts report covers. */
#define REPORT_MAX_DAYS 1100

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

/* A report is made in two steps: in one read transaction, the log entries
 * of every case of the jobcentre are copied out (with the keys of each
 * case's mentor); then, outside the transaction, the cases are parsed and
 * their grants computed on every core (app->verify's helpers), each case on
 * its own. */

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

/* The grants of one jobcentre, computed at one checkpoint. */
typedef struct jc_grants {
  mlproto_sth sth;
  mlproto_grant_report **g;
  size_t n, cap;
} jc_grants;

static void jc_grants_free(jc_grants *j) {
  for (size_t i = 0; i < j->n; i++) mlproto_grant_report_free(j->g[i]);
  free(j->g);
  memset(j, 0, sizeof *j);
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

/* One case: its entries as copied from the store, then its reports. */
typedef struct case_job {
  uint8_t id[16];
  uint8_t (*keys)[32]; /* the case's mentor's device keys */
  size_t n_keys;
  uint8_t *env;        /* the envelopes, one after another */
  size_t env_len, env_cap;
  size_t *off, *len;
  uint8_t (*hash)[32]; /* each entry's record hash, from its log leaf */
  mlproto_log_pos *pos;
  size_t n, cap;
  /* results (mlproto_case_reports) */
  mlproto_grant_report **g;
  size_t ng;
  int rc;
} case_job;

static void case_job_clear(case_job *c) {
  free(c->keys);
  free(c->env);
  free(c->off);
  free(c->len);
  free(c->hash);
  free(c->pos);
  mlproto_grant_reports_free(c->g, c->ng);
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
  const char *jc;
  int64_t now;
} gather_job;

/* The reports of every grant of one case that belong to the jobcentre
 * (helper thread or owner). */
static void case_compute(void *ud, size_t i) {
  gather_job *gj = ud;
  case_job *c = &gj->cases[i];
  mlproto_record **recs = calloc(c->n ? c->n : 1, sizeof *recs);
  if (!recs) {
    c->rc = MLPROTO_ERR_OUT_OF_MEMORY;
    return;
  }
  int rc = MLPROTO_OK;
  for (size_t k = 0; k < c->n && !rc; k++) {
    rc = mlproto_record_verify_stored(&recs[k], c->env + c->off[k], c->len[k], c->hash[k]);
    if (rc) {
      /* The push verified it: a stored envelope that no longer matches its
       * log entry is damage, reported, never skipped. */
      app_log("error", "report_record", "index=%" PRIu64 " reason=%s", c->pos[k].index,
              mlproto_errname(rc));
      rc = MLPROTO_ERR_STORAGE;
    }
  }
  /* The grant's current version decides (mlproto_grant_report_for); an
   * erased grant whose codes are gone stays with the jobcentre its case was
   * indexed under (the case is one of jc's). */
  if (!rc)
    rc = mlproto_case_reports(&c->g, &c->ng, (const mlproto_record *const *)recs, c->pos, c->n,
                              (const uint8_t(*)[32])c->keys, c->n_keys, gj->now, gj->jc);
  for (size_t k = 0; k < c->n; k++) mlproto_record_free(recs[k]);
  free(recs);
  /* the envelopes are no longer needed */
  free(c->env);
  c->env = NULL;
  c->rc = rc;
}

/* Copies out, in one read snapshot, the checkpoint and every case of jc. */
static int gather_read(mls_app *app, const char *jc, int64_t now, mlproto_sth *sth,
                       case_job **out, size_t *n_out) {
  *out = NULL;
  *n_out = 0;
  mls_txn *tx;
  int rc = mls_store_begin(app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  case_list cases = {0};
  all_devices devs = {0};
  case_job *cj = NULL;
  rc = mls_log_sth(app->log, tx, (uint64_t)now, sth);
  if (!rc) rc = MLS_TX(tx, jobcentre_cases, jc, case_list_add, &cases);
  if (!rc && cases.n) rc = MLS_TX(tx, device_list, device_add, &devs);
  if (!rc && devs.n > 1) qsort(devs.d, devs.n, sizeof *devs.d, by_mentor);
  if (!rc && cases.n && !(cj = calloc(cases.n, sizeof *cj))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  size_t held = 0;
  for (size_t i = 0; !rc && i < cases.n; i++) {
    case_job *c = &cj[i];
    memcpy(c->id, cases.ids[i], 16);
    uint8_t owner[16];
    rc = MLS_TX(tx, case_owner, c->id, owner);
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
    if (!rc) rc = MLS_TX(tx, case_entries, c->id, sth->size, case_copy, c);
    held += c->env_len;
    if (!rc && held > REPORT_GATHER_CAP) rc = MLPROTO_ERR_TOO_LARGE;
  }
  mls_store_rollback(tx);
  free(cases.ids);
  free(devs.d);
  if (rc) {
    for (size_t i = 0; cj && i < cases.n; i++) case_job_clear(&cj[i]);
    free(cj);
    return rc;
  }
  *out = cj;
  *n_out = cases.n;
  return MLPROTO_OK;
}

static int gather(mls_app *app, const char *jc, int64_t now, jc_grants *out) {
  memset(out, 0, sizeof *out);
  case_job *cj = NULL;
  size_t n = 0;
  int rc = gather_read(app, jc, now, &out->sth, &cj, &n);
  if (rc) return rc;
  gather_job gj = {.cases = cj, .jc = jc, .now = now};
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
  for (size_t i = 0; i < n; i++) case_job_clear(&cj[i]);
  free(cj);
  if (rc) {
    jc_grants_free(out);
    return rc;
  }
  mlproto_grant_reports_sort(out->g, out->n);
  return MLPROTO_OK;
}

/* ----------------------------------------------------------- answers --- */

static int q_date(ctx *c, const qparam *p, mlproto_date *out) {
  *out = MLPROTO_DATE_NONE;
  if (!p->seen) return MLPROTO_OK;
  if (p->len != 10 || mlproto_date_parse(out, p->val, p->len) != MLPROTO_OK)
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, p->name);
  return MLPROTO_OK;
}

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
  int rc = q_date(c, from, f);
  if (!rc) rc = q_date(c, to, t);
  if (rc) return rc;
  if (*f != MLPROTO_DATE_NONE && *t != MLPROTO_DATE_NONE &&
      (*t < *f || *t - *f > REPORT_MAX_DAYS))
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, "from <= to, at most 1100 days apart");
  return MLPROTO_OK;
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
static void meta_of(mlproto_report_meta *m, const ctx *c, const jc_grants *g, const char *jc) {
  mlproto_report_meta_init(m, g->sth.size, g->sth.root, mls_log_origin(c->app->log),
                           (int64_t)c->now, jc);
}

typedef struct grant_set {
  const mlproto_grant_report *const *g;
  size_t n;
} grant_set;

static int render_compliance(mlproto_buf *out, int f, const mlproto_report_meta *m,
                             const void *arg) {
  const grant_set *s = arg;
  return mlproto_report_compliance(out, f, m, s->g, s->n);
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
                       const jc_grants *g) {
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
                          mlproto_date *to, int *format, jc_grants *g) {
  int rc = app_authenticate_api(c, "jobcentre", jc);
  if (rc) return rc;
  qparam ps[] = {{.name = "from"}, {.name = "to"}, {.name = "format"}};
  if ((rc = app_parse_query(c, ps, 3)) || (rc = q_range(c, &ps[0], &ps[1], from, to)) ||
      (rc = q_format(c, &ps[2], format)))
    return rc;
  if ((rc = gather(c->app, jc, (int64_t)c->now, g))) return gather_failed(c, rc);
  return MLPROTO_OK;
}

int app_h_compliance(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  mlproto_date from, to;
  int format;
  jc_grants g;
  int rc = ranged_request(c, jc, &from, &to, &format, &g);
  if (rc) return rc;
  /* The grants whose support meets the range, in report order. */
  g.n = mlproto_grant_reports_keep_range(g.g, g.n, from, to);
  mlproto_report_meta m;
  meta_of(&m, c, &g, jc);
  m.from = from;
  m.to = to;
  grant_set s = {(const mlproto_grant_report *const *)g.g, g.n};
  rc = answer(c, format, "compliance", &m, render_compliance, &s);
  log_report(c, "compliance", jc, g.n, &g);
  jc_grants_free(&g);
  return rc;
}

int app_h_timesheet(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  int rc = app_authenticate_api(c, "jobcentre", jc);
  if (rc) return rc;
  qparam ps[] = {{.name = "month"}, {.name = "format"}};
  int format;
  if ((rc = app_parse_query(c, ps, 2)) || (rc = q_format(c, &ps[1], &format))) return rc;
  mlproto_date month = MLPROTO_DATE_NONE;
  char day[11];
  if (!ps[0].seen) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "month=YYYY-MM is required");
  if (ps[0].len != 7) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "month: YYYY-MM");
  memcpy(day, ps[0].val, 7);
  memcpy(day + 7, "-01", 4);
  if (mlproto_date_parse(&month, day, 10) != MLPROTO_OK)
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, "month: YYYY-MM");
  jc_grants g;
  if ((rc = gather(c->app, jc, (int64_t)c->now, &g))) return gather_failed(c, rc);
  mlproto_report_meta m;
  meta_of(&m, c, &g, jc);
  m.month = month;
  /* the grants with a day of support in the month */
  int y, mo, d;
  (void)mlproto_date_to_ymd(month, &y, &mo, &d); /* valid: parsed above */
  mlproto_date last = month + mlproto_days_in_month(y, mo) - 1;
  size_t k = 0;
  for (size_t i = 0; i < g.n; i++)
    if (!g.g[i]->erased && !g.g[i]->invalid && mlproto_grant_report_in_range(g.g[i], month, last))
      g.g[k++] = g.g[i];
    else
      mlproto_grant_report_free(g.g[i]);
  g.n = k;
  grant_set s = {(const mlproto_grant_report *const *)g.g, g.n};
  rc = answer(c, format, "timesheet", &m, render_timesheet, &s);
  log_report(c, "timesheet", jc, g.n, &g);
  jc_grants_free(&g);
  return rc;
}

/* REF: the grant's id (32 hex digits) or its municipal case reference. */
static int ref_matches(const mlproto_grant_report *g, const char *ref, size_t len) {
  if (len == 32) {
    uint8_t id[16];
    if (mlproto_hex_decode(id, 16, ref, len) == MLPROTO_OK && memcmp(id, g->grant_id, 16) == 0)
      return 1;
  }
  return strlen(g->case_ref) == len && memcmp(g->case_ref, ref, len) == 0;
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
  jc_grants g;
  int rc = ranged_request(c, jc, &from, &to, &format, &g);
  if (rc) return rc;
  const mlproto_grant_report *hit = NULL;
  size_t hits = 0;
  for (size_t i = 0; i < g.n; i++)
    if (ref_matches(g.g[i], ref, rlen)) {
      hit = g.g[i];
      hits++;
    }
  if (hits == 0) {
    rc = app_fail(c, MLPROTO_ERR_NOT_FOUND, "no such grant of this jobcentre");
  } else if (hits > 1) {
    char detail[96];
    snprintf(detail, sizeof detail, "the reference names %zu grants: use a grant_id", hits);
    rc = app_fail(c, MLPROTO_ERR_AMBIGUOUS_PREFIX, detail);
  } else {
    mlproto_report_meta m;
    meta_of(&m, c, &g, jc);
    m.from = from;
    m.to = to;
    rc = answer(c, format, "contacts", &m, render_contacts, hit);
  }
  log_report(c, "contacts", jc, hits, &g);
  jc_grants_free(&g);
  return rc;
}
