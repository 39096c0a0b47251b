/* report.c — one grant's report from its case's records (mlproto/report.h).
 * The documents are in report_doc.c. */
#include "mlproto/report.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void copy_code(char out[MLPROTO_REPORT_CODE_MAX + 1], const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n > MLPROTO_REPORT_CODE_MAX)
    n = MLPROTO_REPORT_CODE_MAX; /* the record check caps codes at 64 already */
  memcpy(out, s ? s : "", n);
  out[n] = '\0';
}

static const Mentorlog__V1__GrantDisclosed *grant_part(const mlproto_record *r) {
  if (r == NULL || r->disclosed == NULL)
    return NULL;
  if (r->kind == MLPROTO_KIND_GRANT_OPEN)
    return r->disclosed->grant_open;
  if (r->kind == MLPROTO_KIND_GRANT_UPDATE)
    return r->disclosed->grant_update;
  return NULL;
}

/* The now-independent part of a grant's report (report.h). One block: the
 * struct, then per contact of the inputs its record id and log position. */
typedef struct basis_contact {
  uint8_t record_id[16];
  uint64_t log_index; /* MLPROTO_REPORT_NOT_LOGGED when not in the log */
  uint64_t received_at_ms;
} basis_contact;

struct mlproto_grant_basis {
  size_t bytes;
  int erased;
  uint8_t grant_id[16];
  uint8_t case_id[16];
  char jobcentre_id[MLPROTO_REPORT_CODE_MAX + 1];
  char case_ref[MLPROTO_REPORT_CODE_MAX + 1];
  char legal_basis[MLPROTO_REPORT_CODE_MAX + 1];
  mlproto_compliance_inputs *in; /* NULL when erased */
  basis_contact *contacts;       /* in->n_contacts of them, in the inputs' order */
};

static void codes_to_basis(mlproto_grant_basis *b, const mlproto_record *r) {
  const Mentorlog__V1__GrantDisclosed *gd = grant_part(r);
  if (gd == NULL)
    return;
  copy_code(b->jobcentre_id, gd->jobcentre_id);
  copy_code(b->case_ref, gd->case_ref);
  copy_code(b->legal_basis, gd->legal_basis);
}

/* About the bytes of the inputs' block (compliance_inputs.c lays it out). */
static size_t inputs_bytes(const mlproto_compliance_inputs *in) {
  size_t n = sizeof *in + in->n_contacts * (sizeof(mlproto_contact) + sizeof(size_t)) +
             in->n_absences * (sizeof(mlproto_absence) + sizeof(size_t)) + 64;
  for (size_t i = 0; i < in->n_contacts; i++)
    n += in->contacts[i].item.n_supersedes * 16;
  return n;
}

/* An erased grant: its ids, and its codes from the newest surviving
 * GRANT_OPEN/UPDATE part of the item's first record when there is one. */
static int erased_basis(mlproto_grant_basis **out, const mlproto_record *const *records,
                        size_t n, const uint8_t grant_id[16]) {
  const mlproto_record *g = NULL;
  for (size_t i = 0; i < n && g == NULL; i++)
    if (memcmp(records[i]->record_id, grant_id, 16) == 0)
      g = records[i];
  if (g == NULL)
    return MLPROTO_ERR_NOT_FOUND;
  mlproto_grant_basis *b = mlproto_calloc(1, sizeof *b);
  if (b == NULL)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  b->bytes = sizeof *b;
  b->erased = 1;
  memcpy(b->grant_id, g->record_id, 16);
  memcpy(b->case_id, g->case_id, 16);
  codes_to_basis(b, g);
  *out = b;
  return MLPROTO_OK;
}

int mlproto_grant_basis_build(mlproto_grant_basis **out,
                              const struct mlproto_record *const *records,
                              const mlproto_log_pos *pos, size_t n, const uint8_t grant_id[16],
                              const uint8_t (*mentor_keys)[32], size_t n_mentor_keys) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (grant_id == NULL || (n > 0 && records == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_compliance_inputs *in = NULL;
  int rc = mlproto_compliance_inputs_from_records(&in, records, n, grant_id, mentor_keys,
                                                  n_mentor_keys);
  if (rc == MLPROTO_ERR_SEALED_ERASED)
    return erased_basis(out, records, n, grant_id);
  if (rc != MLPROTO_OK)
    return rc;
  size_t nc = in->n_contacts;
  mlproto_grant_basis *b = mlproto_calloc(1, sizeof *b + nc * sizeof(basis_contact));
  if (b == NULL) {
    mlproto_compliance_inputs_free(in);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  b->contacts = nc ? (basis_contact *)(b + 1) : NULL;
  /* The receipt times the log committed: what late_sync needs. */
  for (size_t i = 0; i < nc; i++) {
    size_t ri = in->contact_record[i];
    basis_contact *x = &b->contacts[i];
    memcpy(x->record_id, records[ri]->record_id, 16);
    x->log_index = pos ? pos[ri].index : MLPROTO_REPORT_NOT_LOGGED;
    x->received_at_ms = x->log_index == MLPROTO_REPORT_NOT_LOGGED ? 0 : pos[ri].received_at_ms;
    if (x->log_index != MLPROTO_REPORT_NOT_LOGGED)
      in->contacts[i].received_at_ms = (int64_t)pos[ri].received_at_ms;
  }
  memcpy(b->grant_id, in->grant_id, 16);
  memcpy(b->case_id, in->case_id, 16);
  codes_to_basis(b, records[in->params_record]);
  b->in = in;
  b->bytes = sizeof *b + nc * sizeof(basis_contact) + inputs_bytes(in);
  *out = b;
  return MLPROTO_OK;
}

static void codes_from_basis(mlproto_grant_report *o, const mlproto_grant_basis *b) {
  memcpy(o->jobcentre_id, b->jobcentre_id, sizeof o->jobcentre_id);
  memcpy(o->case_ref, b->case_ref, sizeof o->case_ref);
  memcpy(o->legal_basis, b->legal_basis, sizeof o->legal_basis);
}

int mlproto_grant_report_compute(mlproto_grant_report **out, const mlproto_grant_basis *b,
                                 int64_t now_ms) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (b == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (b->erased) {
    mlproto_grant_report *o = mlproto_calloc(1, sizeof *o);
    if (o == NULL)
      return MLPROTO_ERR_OUT_OF_MEMORY;
    memcpy(o->grant_id, b->grant_id, 16);
    memcpy(o->case_id, b->case_id, 16);
    o->erased = 1;
    o->grant.start = o->grant.end = o->grant.closed = MLPROTO_DATE_NONE;
    codes_from_basis(o, b);
    *out = o;
    return MLPROTO_OK;
  }
  const mlproto_compliance_inputs *in = b->in;
  mlproto_compliance *c = NULL;
  int invalid = mlproto_grant_validate(&in->grant);
  if (invalid == MLPROTO_OK) {
    invalid = mlproto_compliance_compute(&c, &in->grant, in->contacts, in->n_contacts,
                                         in->absences, in->n_absences, now_ms);
    if (invalid == MLPROTO_ERR_OUT_OF_MEMORY)
      return invalid;
  }
  size_t nc = c ? c->n_contacts : 0;
  mlproto_grant_report *o = mlproto_calloc(1, sizeof *o + nc * sizeof(mlproto_report_contact));
  if (o == NULL) {
    mlproto_compliance_free(c);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  memcpy(o->grant_id, in->grant_id, 16);
  memcpy(o->case_id, in->case_id, 16);
  codes_from_basis(o, b);
  o->invalid = invalid;
  o->grant_conflict = in->grant_conflict;
  o->grant = in->grant;
  o->compliance = c;
  o->n_contacts = nc;
  o->contacts = nc ? (mlproto_report_contact *)(o + 1) : NULL;
  for (size_t j = 0; j < nc; j++) {
    const mlproto_contact_result *cr = &c->contacts[j];
    const mlproto_contact *ct = &in->contacts[cr->index];
    const basis_contact *x = &b->contacts[cr->index];
    mlproto_report_contact *rc_ = &o->contacts[j];
    memcpy(rc_->record_id, x->record_id, 16);
    rc_->start_ms = ct->start_ms;
    rc_->local_date = cr->local_date;
    rc_->minutes = cr->minutes;
    rc_->duration_minutes = ct->duration_minutes;
    rc_->transport_minutes = ct->transport_minutes;
    rc_->channel = ct->channel;
    rc_->outcome = ct->outcome;
    rc_->recorded_at_ms = ct->recorded_at_ms;
    rc_->log_index = x->log_index;
    rc_->received_at_ms = x->received_at_ms;
    rc_->period = cr->period;
    rc_->qualifies = cr->qualifies;
    rc_->attempt = cr->attempt;
    rc_->in_absence = cr->in_absence;
    rc_->late_entry = cr->late_entry;
    rc_->late_sync = cr->late_sync;
    rc_->conflict = cr->conflict;
  }
  *out = o;
  return MLPROTO_OK;
}

size_t mlproto_grant_basis_bytes(const mlproto_grant_basis *b) { return b ? b->bytes : 0; }

void mlproto_grant_basis_free(mlproto_grant_basis *b) {
  if (b == NULL)
    return;
  mlproto_compliance_inputs_free(b->in);
  mlproto_free(b);
}

int mlproto_grant_report_build(mlproto_grant_report **out,
                               const struct mlproto_record *const *records,
                               const mlproto_log_pos *pos, size_t n, const uint8_t grant_id[16],
                               const uint8_t (*mentor_keys)[32], size_t n_mentor_keys,
                               int64_t now_ms) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  mlproto_grant_basis *b = NULL;
  int rc = mlproto_grant_basis_build(&b, records, pos, n, grant_id, mentor_keys, n_mentor_keys);
  if (rc != MLPROTO_OK)
    return rc;
  rc = mlproto_grant_report_compute(out, b, now_ms);
  mlproto_grant_basis_free(b);
  return rc;
}

void mlproto_grant_report_free(mlproto_grant_report *r) {
  if (r == NULL)
    return;
  mlproto_compliance_free(r->compliance);
  mlproto_free(r);
}

int mlproto_grant_report_in_range(const mlproto_grant_report *r, mlproto_date from,
                                  mlproto_date to) {
  if (r->erased || r->invalid)
    return 1;
  mlproto_date s = r->grant.start;
  mlproto_date e = r->compliance ? r->compliance->effective_end : r->grant.end;
  if (e < s)
    return 0; /* cancelled before it began: no day of support */
  if (from != MLPROTO_DATE_NONE && e < from)
    return 0;
  if (to != MLPROTO_DATE_NONE && s > to)
    return 0;
  return 1;
}

/* ------------------------------------------------------------ gathering */

int mlproto_report_kind_used(uint32_t kind) {
  return kind == MLPROTO_KIND_GRANT_OPEN || kind == MLPROTO_KIND_GRANT_UPDATE ||
         kind == MLPROTO_KIND_GRANT_CLOSE || kind == MLPROTO_KIND_CONTACT ||
         kind == MLPROTO_KIND_ABSENCE;
}

int mlproto_grant_report_for(const mlproto_grant_report *g, const char *jc) {
  if (jc == NULL)
    return 1;
  return strcmp(g->jobcentre_id, jc) == 0 || (g->erased && g->jobcentre_id[0] == '\0');
}

void mlproto_grant_reports_free(mlproto_grant_report **g, size_t n) {
  if (g == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    mlproto_grant_report_free(g[i]);
  mlproto_free(g);
}

int mlproto_case_reports(mlproto_grant_report ***out, size_t *n_out,
                         const struct mlproto_record *const *records, const mlproto_log_pos *pos,
                         size_t n, const uint8_t (*mentor_keys)[32], size_t n_mentor_keys,
                         int64_t now_ms, const char *jc) {
  if (out == NULL || n_out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  *n_out = 0;
  if (n > 0 && records == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t grants = 0;
  for (size_t k = 0; k < n; k++)
    grants += records[k]->kind == MLPROTO_KIND_GRANT_OPEN;
  if (grants == 0)
    return MLPROTO_OK;
  mlproto_grant_report **g = mlproto_calloc(grants, sizeof *g);
  if (g == NULL)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t ng = 0;
  int rc = MLPROTO_OK;
  for (size_t k = 0; k < n && rc == MLPROTO_OK; k++) {
    if (records[k]->kind != MLPROTO_KIND_GRANT_OPEN)
      continue;
    mlproto_grant_report *r = NULL;
    rc = mlproto_grant_report_build(&r, records, pos, n, records[k]->record_id, mentor_keys,
                                    n_mentor_keys, now_ms);
    if (rc != MLPROTO_OK)
      break;
    if (mlproto_grant_report_for(r, jc))
      g[ng++] = r;
    else
      mlproto_grant_report_free(r);
  }
  if (rc != MLPROTO_OK || ng == 0) {
    mlproto_grant_reports_free(g, ng);
    return rc;
  }
  *out = g;
  *n_out = ng;
  return MLPROTO_OK;
}

static int grant_order(const void *pa, const void *pb) {
  const mlproto_grant_report *a = *(mlproto_grant_report *const *)pa;
  const mlproto_grant_report *b = *(mlproto_grant_report *const *)pb;
  int c = strcmp(a->jobcentre_id, b->jobcentre_id);
  if (c == 0)
    c = strcmp(a->case_ref, b->case_ref);
  if (c != 0)
    return c;
  if (a->grant.start != b->grant.start)
    return a->grant.start < b->grant.start ? -1 : 1;
  return memcmp(a->grant_id, b->grant_id, 16);
}

void mlproto_grant_reports_sort(mlproto_grant_report **g, size_t n) {
  if (g != NULL && n > 1)
    qsort(g, n, sizeof *g, grant_order);
}

size_t mlproto_grant_reports_keep_range(mlproto_grant_report **g, size_t n, mlproto_date from,
                                        mlproto_date to) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (mlproto_grant_report_in_range(g[i], from, to))
      g[k++] = g[i];
    else
      mlproto_grant_report_free(g[i]);
  }
  return k;
}

void mlproto_report_meta_init(mlproto_report_meta *m, uint64_t checkpoint_size,
                              const uint8_t checkpoint_root[32], const char *origin,
                              int64_t now_ms, const char *jc) {
  memset(m, 0, sizeof *m);
  m->checkpoint_size = checkpoint_size;
  if (checkpoint_root != NULL)
    memcpy(m->checkpoint_root, checkpoint_root, 32);
  m->origin = origin;
  m->generated_at_ms = now_ms;
  m->jobcentre_id = jc;
  m->from = m->to = m->month = MLPROTO_DATE_NONE;
}
