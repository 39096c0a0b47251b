/* report.c — the compliance recomputed from an audit log file (report.h). */
#include "report.h"

#include "batch.h"

#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tables --- */

/* A device the log enrolled: its key and its mentor. */
typedef struct device {
  uint8_t pub[32];
  uint8_t mentor[16];
  int used;
} device;

/* A case seen in the log: its owner and where its records go. */
typedef struct kase {
  uint8_t id[16];
  uint8_t owner[16];
  int used, owned;
  size_t n;     /* records kept */
  size_t first; /* its first record in the by-case order */
} kase;

/* A record kept for the report, in file order. */
typedef struct kept {
  mlproto_record *rec;
  mlproto_log_pos pos;
  size_t slot; /* its case */
} kept;

typedef struct collect {
  const audit_report_options *o;
  audit_report *r;
  device *dev;
  size_t dev_cap, dev_used;
  kase *cases;
  size_t case_cap, case_used;
  kept *k;
  size_t n, cap;
  uint64_t last_received;
} collect;

static uint64_t bytes_hash(const uint8_t *p) {
  uint64_t h;
  memcpy(&h, p, sizeof h); /* keys and random ids are uniformly distributed */
  return h;
}

static int dev_grow(collect *c) {
  size_t cap = c->dev_cap ? 2 * c->dev_cap : 64;
  device *t = calloc(cap, sizeof *t);
  if (!t) return MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; i < c->dev_cap; i++) {
    if (!c->dev[i].used) continue;
    size_t j = bytes_hash(c->dev[i].pub) & (cap - 1);
    while (t[j].used) j = (j + 1) & (cap - 1);
    t[j] = c->dev[i];
  }
  free(c->dev);
  c->dev = t;
  c->dev_cap = cap;
  return MLPROTO_OK;
}

static device *dev_find(const collect *c, const uint8_t pub[32]) {
  if (!c->dev_cap) return NULL;
  size_t j = bytes_hash(pub) & (c->dev_cap - 1);
  while (c->dev[j].used) {
    if (memcmp(c->dev[j].pub, pub, 32) == 0) return &c->dev[j];
    j = (j + 1) & (c->dev_cap - 1);
  }
  return NULL;
}

/* A DEVICE_ENROLLED of the log key: the device is its mentor's (the first
 * event naming it counts; a second one is verify's ALREADY_EXISTS). */
static int dev_add(collect *c, const uint8_t pub[32], const uint8_t mentor[16]) {
  if (dev_find(c, pub)) return MLPROTO_OK;
  if (2 * (c->dev_used + 1) > c->dev_cap && dev_grow(c)) return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t j = bytes_hash(pub) & (c->dev_cap - 1);
  while (c->dev[j].used) j = (j + 1) & (c->dev_cap - 1);
  device *d = &c->dev[j];
  d->used = 1;
  memcpy(d->pub, pub, 32);
  memcpy(d->mentor, mentor, 16);
  c->dev_used++;
  return MLPROTO_OK;
}

static int case_grow(collect *c) {
  size_t cap = c->case_cap ? 2 * c->case_cap : 256;
  kase *t = calloc(cap, sizeof *t);
  if (!t) return MLPROTO_ERR_OUT_OF_MEMORY;
  /* slots move: the kept records name their case by slot, so renumber */
  size_t *moved = c->case_cap ? malloc(c->case_cap * sizeof *moved) : NULL;
  if (c->case_cap && !moved) {
    free(t);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  for (size_t i = 0; i < c->case_cap; i++) {
    if (!c->cases[i].used) continue;
    size_t j = bytes_hash(c->cases[i].id) & (cap - 1);
    while (t[j].used) j = (j + 1) & (cap - 1);
    t[j] = c->cases[i];
    moved[i] = j;
  }
  for (size_t i = 0; i < c->n; i++) c->k[i].slot = moved[c->k[i].slot];
  free(moved);
  free(c->cases);
  c->cases = t;
  c->case_cap = cap;
  return MLPROTO_OK;
}

/* The slot of case id (created when new: *is_new). */
static int case_get(collect *c, const uint8_t id[16], size_t *slot, int *is_new) {
  *is_new = 0;
  if (2 * (c->case_used + 1) > c->case_cap && case_grow(c)) return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t j = bytes_hash(id) & (c->case_cap - 1);
  while (c->cases[j].used && memcmp(c->cases[j].id, id, 16) != 0) j = (j + 1) & (c->case_cap - 1);
  if (!c->cases[j].used) {
    c->cases[j].used = 1;
    memcpy(c->cases[j].id, id, 16);
    c->case_used++;
    *is_new = 1;
  }
  *slot = j;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------ records --- */

static void short_hex(char out[17], const uint8_t *p) { mlproto_hex_encode(out, p, 8); }

static void ownership(collect *c, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ownership(collect *c, uint64_t index, const char *fmt, ...) {
  audit_report *r = c->r;
  if (r->ownership_total++ == 0) {
    r->code = MLPROTO_ERR_NOT_YOUR_CASE;
    r->code_index = index;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
  }
}

/* verify.h's on_record: every verified entry, in file order. */
static int on_record(void *ud, const mlproto_auditlog_item *it, mlproto_record **recp) {
  collect *c = ud;
  const mlproto_record *rec = *recp;
  c->last_received = it->received_at_ms;
  if (mlproto_kind_is_server_event(rec->kind)) {
    /* only the log key's events enrol (a forged one is verify's finding) */
    const mlproto_disclosed *d = rec->disclosed;
    if (rec->kind == MLPROTO_KIND_DEVICE_ENROLLED && d && d->device_enrolled &&
        memcmp(rec->author, c->o->key->pk, 32) == 0 && d->device_enrolled->device_pub.len == 32 &&
        d->device_enrolled->mentor_id.len == 16)
      return dev_add(c, d->device_enrolled->device_pub.data, d->device_enrolled->mentor_id.data);
    return MLPROTO_OK;
  }
  if (it->type != MLPROTO_LOG_DEVICE_RECORD) return MLPROTO_OK; /* verify's FIELD_RANGE */
  size_t slot;
  int is_new;
  int rc = case_get(c, rec->case_id, &slot, &is_new);
  if (rc) return rc;
  kase *k = &c->cases[slot];
  const device *dv = dev_find(c, rec->author);
  char cs[17], au[17];
  short_hex(cs, rec->case_id);
  short_hex(au, rec->author);
  if (is_new) {
    if (rec->kind != MLPROTO_KIND_CASE_OPEN)
      ownership(c, it->index, "case %s begins with a %s by %s, not with its CASE_OPEN", cs,
                mlproto_kind_name(rec->kind), au);
    else if (dv) {
      memcpy(k->owner, dv->mentor, 16);
      k->owned = 1;
    }
  } else if (k->owned && dv && memcmp(dv->mentor, k->owner, 16) != 0) {
    ownership(c, it->index, "%s of case %s by %s, a device of another mentor than the case's",
              mlproto_kind_name(rec->kind), cs, au);
  }
  /* (an author no DEVICE_ENROLLED named is verify's FORBIDDEN finding) */
  if (!mlproto_report_kind_used(rec->kind)) return MLPROTO_OK;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 1024;
    kept *t = realloc(c->k, cap * sizeof *t);
    if (!t) return MLPROTO_ERR_OUT_OF_MEMORY;
    c->k = t;
    c->cap = cap;
  }
  c->k[c->n++] = (kept){*recp, {it->index, it->received_at_ms}, slot};
  *recp = NULL; /* ours now */
  c->cases[slot].n++;
  return MLPROTO_OK;
}

/* -------------------------------------------------------------- cases --- */

/* A device of a mentor, for the ranges of keys by mentor. */
typedef struct mkey {
  uint8_t mentor[16];
  uint8_t pub[32];
} mkey;

static int by_mentor(const void *pa, const void *pb) {
  const mkey *a = pa, *b = pb;
  int c = memcmp(a->mentor, b->mentor, 16);
  return c ? c : memcmp(a->pub, b->pub, 32);
}

/* One case to compute: its records in log order and its owner's keys. */
typedef struct job {
  const mlproto_record **recs;
  const mlproto_log_pos *pos;
  size_t n;
  const uint8_t (*keys)[32];
  size_t n_keys;
  mlproto_grant_report **g; /* results */
  size_t ng;
  int rc;
} job;

typedef struct run {
  job *jobs;
  int64_t now;
  const char *jc;
} run;

static void compute(void *ud, size_t i) {
  run *r = ud;
  job *j = &r->jobs[i];
  j->rc = mlproto_case_reports(&j->g, &j->ng, (const mlproto_record *const *)j->recs, j->pos,
                               j->n, j->keys, j->n_keys, r->now, r->jc);
}

static const uint8_t NO_KEYS[1][32];

/* The mentor keys of every owner, then every case computed on every core. */
static int compute_all(collect *c, unsigned threads) {
  audit_report *r = c->r;
  int rc = MLPROTO_OK;
  mkey *mk = c->dev_used ? malloc(c->dev_used * sizeof *mk) : NULL;
  const mlproto_record **recs = c->n ? malloc(c->n * sizeof *recs) : NULL;
  mlproto_log_pos *pos = c->n ? malloc(c->n * sizeof *pos) : NULL;
  uint8_t(*keys)[32] = c->dev_used ? malloc(c->dev_used * sizeof *keys) : NULL;
  job *jobs = c->case_used ? calloc(c->case_used, sizeof *jobs) : NULL;
  size_t *slot_job = c->case_cap ? malloc(c->case_cap * sizeof *slot_job) : NULL;
  if ((c->dev_used && (!mk || !keys)) || (c->n && (!recs || !pos)) ||
      (c->case_used && (!jobs || !slot_job))) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
    goto out;
  }
  size_t nm = 0;
  for (size_t i = 0; i < c->dev_cap; i++)
    if (c->dev[i].used) {
      memcpy(mk[nm].mentor, c->dev[i].mentor, 16);
      memcpy(mk[nm].pub, c->dev[i].pub, 32);
      nm++;
    }
  if (nm > 1) qsort(mk, nm, sizeof *mk, by_mentor);
  for (size_t i = 0; i < nm; i++) memcpy(keys[i], mk[i].pub, 32);
  /* the records by case, each case's in log order (the kept ones are) */
  size_t nj = 0, at = 0;
  for (size_t s = 0; s < c->case_cap; s++) {
    kase *k = &c->cases[s];
    if (!k->used) continue;
    slot_job[s] = nj;
    job *j = &jobs[nj++];
    k->first = at;
    j->recs = recs + at;
    j->pos = pos + at;
    at += k->n;
    size_t lo = 0, hi = nm;
    while (lo < hi) { /* the owner's first device */
      size_t mid = lo + (hi - lo) / 2;
      if (memcmp(mk[mid].mentor, k->owner, 16) < 0) lo = mid + 1;
      else hi = mid;
    }
    for (hi = lo; hi < nm && memcmp(mk[hi].mentor, k->owner, 16) == 0; hi++) {}
    /* ownership held (else no computation): every case with a record of
     * its own has an owner with at least the device of its CASE_OPEN */
    j->n_keys = hi - lo;
    j->keys = j->n_keys ? (const uint8_t(*)[32])(keys + lo) : NO_KEYS; /* never NULL: NULL is
                                                                          "every author" */
  }
  for (size_t i = 0; i < c->n; i++) {
    job *j = &jobs[slot_job[c->k[i].slot]];
    size_t w = (size_t)(j->recs - recs) + j->n++;
    recs[w] = c->k[i].rec;
    pos[w] = c->k[i].pos;
  }
  run rn = {jobs, r->now_ms, r->every_jobcentre ? NULL : r->jobcentre};
  batch_for(nj, threads, compute, &rn);
  size_t total = 0;
  for (size_t i = 0; i < nj; i++) {
    if (jobs[i].rc && !rc) rc = jobs[i].rc;
    total += jobs[i].ng;
  }
  if (!rc && total && !(r->g = malloc(total * sizeof *r->g))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; i < nj; i++) {
    for (size_t k = 0; !rc && k < jobs[i].ng; k++) r->g[r->n++] = jobs[i].g[k];
    if (!rc) jobs[i].ng = 0; /* moved */
    mlproto_grant_reports_free(jobs[i].g, jobs[i].ng);
  }
  if (!rc) mlproto_grant_reports_sort(r->g, r->n);
out:
  free(mk);
  free(recs);
  free(pos);
  free(keys);
  free(jobs);
  free(slot_job);
  return rc;
}

/* ------------------------------------------------------------- report --- */

static void collect_free(collect *c) {
  for (size_t i = 0; i < c->n; i++) mlproto_record_free(c->k[i].rec);
  free(c->k);
  free(c->dev);
  free(c->cases);
}

int audit_report_build(audit_report *out, const uint8_t *file, size_t len,
                       const audit_report_options *o) {
  if (!out) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (!o || !o->key || (o->jobcentre && strlen(o->jobcentre) > MLPROTO_REPORT_CODE_MAX))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  out->every_jobcentre = o->jobcentre == NULL;
  if (o->jobcentre) snprintf(out->jobcentre, sizeof out->jobcentre, "%s", o->jobcentre);
  collect c;
  memset(&c, 0, sizeof c);
  c.o = o;
  c.r = out;
  audit_options vo = {.key = o->key, .kept = o->kept, .n_kept = o->n_kept, .threads = o->threads,
                      .vouch_kept = o->vouch_kept, .on_record = on_record, .ud = &c};
  int rc = audit_verify(&out->verify, file, len, &vo);
  out->now_ms = o->now_ms == AUDIT_NOW_LOG ? (int64_t)c.last_received : o->now_ms;
  out->cases = c.case_used;
  out->records = c.n;
  if (!rc) {
    out->refused = out->verify.findings_total > 0 || out->ownership_total > 0 ||
                   !out->verify.checkpoint_ok;
    if (!out->refused)
      rc = compute_all(&c, o->threads ? o->threads : batch_threads());
  }
  collect_free(&c);
  if (rc) audit_report_free(out);
  return rc;
}

int audit_report_render(mlproto_buf *out, int format, const audit_report *r, mlproto_date from,
                        mlproto_date to) {
  if (!out || !r || r->refused || (format != MLPROTO_REPORT_JSON && format != MLPROTO_REPORT_CSV))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  const mlproto_grant_report **g = r->n ? malloc(r->n * sizeof *g) : NULL;
  if (r->n && !g) return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t n = 0;
  /* as the server's mlproto_grant_reports_keep_range, without freeing */
  for (size_t i = 0; i < r->n; i++)
    if (mlproto_grant_report_in_range(r->g[i], from, to)) g[n++] = r->g[i];
  const mlproto_checkpoint *cp = &r->verify.checkpoint;
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, cp->size, cp->root, cp->origin, r->now_ms,
                           r->every_jobcentre ? NULL : r->jobcentre);
  m.from = from;
  m.to = to;
  int rc = mlproto_report_compliance(out, format, &m, g, n);
  free(g);
  return rc;
}

void audit_report_free(audit_report *r) {
  if (!r) return;
  audit_result_free(&r->verify);
  for (size_t i = 0; i < r->n; i++) mlproto_grant_report_free(r->g[i]);
  free(r->g);
  memset(r, 0, sizeof *r);
}
