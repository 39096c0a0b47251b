/* A grant's compliance inputs from the records of its case (compliance.h,
 * mlproto_compliance_inputs_from_records). Disclosed parts only. Every
 * choice the output depends on is an order over record ids or over the
 * heads' (hlc, author, record_id), never the order of the input, so the same
 * set of records gives the same bytes. Cost: O(r log r) in the records. */
#include "compliance_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/hlc.h"
#include "mlproto/record.h"

#include <stdlib.h>
#include <string.h>

struct ref {
  const mlproto_record *r;
  size_t idx; /* input index */
};

static int ref_cmp(const void *pa, const void *pb) {
  const struct ref *a = pa, *b = pb;
  int c = memcmp(a->r->record_id, b->r->record_id, MLPROTO_ID_BYTES);
  if (c != 0)
    return c;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

static int is_grant_kind(mlproto_kind k) {
  return k == MLPROTO_KIND_GRANT_OPEN || k == MLPROTO_KIND_GRANT_UPDATE ||
         k == MLPROTO_KIND_GRANT_CLOSE;
}

static size_t align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* Heads of refs[0..n) (records pointed to must outlive *out). */
static int heads_of(mlproto_heads **out, const struct ref *refs, size_t n, mlproto_item *items) {
  for (size_t i = 0; i < n; i++) {
    const mlproto_record *r = refs[i].r;
    mlproto_item *it = &items[i];
    memcpy(it->record_id, r->record_id, 16);
    it->supersedes = r->n_supersedes ? (const uint8_t(*)[16])r->supersedes : NULL;
    it->n_supersedes = r->n_supersedes;
    it->hlc = r->hlc;
    memcpy(it->author, r->author, 32);
  }
  return mlproto_heads_compute(out, items, n);
}

static void rule_from_wire(mlproto_rule *o, const Mentorlog__V1__ContactRule *r) {
  memset(o, 0, sizeof *o);
  o->period_weeks = r->period_weeks;
  o->contacts_needed = r->contacts_needed;
  for (size_t i = 0; i < r->n_qualifying_channels; i++) {
    int ch = (int)r->qualifying_channels[i]; /* wire value = mlproto_channel */
    if (ch >= 1 && ch <= (int)MLPROTO_CHANNEL__COUNT)
      o->channels |= MLPROTO_CHANNEL_BIT(ch);
  }
  o->min_minutes = r->min_minutes;
  o->min_working_days = r->partial_days;
  o->grace_days = r->grace_days;
  o->late_days = r->late_days;
}

static int is_mentor(const uint8_t author[32], const uint8_t (*keys)[32], size_t n) {
  if (keys == NULL && n == 0)
    return 1;
  for (size_t i = 0; i < n; i++)
    if (memcmp(keys[i], author, 32) == 0)
      return 1;
  return 0;
}

/* The grant of the item holding refs[gi]: parameters and close. */
static int grant_from_item(mlproto_compliance_inputs *o, const struct ref *refs,
                           const mlproto_head_group *hg) {
  const mlproto_record *params = NULL;
  for (size_t i = 0; i < hg->n_versions && params == NULL; i++)
    if (refs[hg->versions[i]].r->kind != MLPROTO_KIND_GRANT_CLOSE) {
      params = refs[hg->versions[i]].r;
      o->params_record = refs[hg->versions[i]].idx;
    }
  if (params == NULL)
    return MLPROTO_ERR_NOT_FOUND;
  if (params->disclosed == NULL)
    return MLPROTO_ERR_SEALED_ERASED;
  const Mentorlog__V1__GrantDisclosed *gd = params->kind == MLPROTO_KIND_GRANT_OPEN
                                                ? params->disclosed->grant_open
                                                : params->disclosed->grant_update;
  if (gd == NULL || gd->rule == NULL)
    return MLPROTO_ERR_FIELD_MISSING;
  const mlproto_record *first = refs[hg->versions[hg->n_versions - 1]].r;
  memcpy(o->grant_id, first->record_id, 16);
  memcpy(o->case_id, first->case_id, 16);
  o->grant_conflict = hg->n_heads != 1;
  o->grant.start = (mlproto_date)gd->start_day;
  o->grant.end = (mlproto_date)gd->end_day;
  o->grant.closed = MLPROTO_DATE_NONE;
  o->grant.granted_minutes_per_week = gd->granted_minutes_per_week;
  rule_from_wire(&o->grant.rule, gd->rule);
  o->close_record = SIZE_MAX;
  for (size_t i = 0; i < hg->n_heads; i++) {
    const struct ref *h = &refs[hg->heads[i]];
    if (h->r->kind != MLPROTO_KIND_GRANT_CLOSE)
      continue;
    if (h->r->disclosed == NULL)
      return MLPROTO_ERR_SEALED_ERASED;
    if (h->r->disclosed->grant_close == NULL)
      return MLPROTO_ERR_FIELD_MISSING;
    mlproto_date c = (mlproto_date)h->r->disclosed->grant_close->close_day;
    /* Equal days: the newest such head (heads come newest first). */
    if (o->grant.closed == MLPROTO_DATE_NONE || c < o->grant.closed) {
      o->grant.closed = c;
      o->close_record = h->idx;
    }
  }
  return MLPROTO_OK;
}

int mlproto_compliance_inputs_from_records(mlproto_compliance_inputs **out,
                                           const struct mlproto_record *const *records, size_t n,
                                           const uint8_t grant_id[16],
                                           const uint8_t (*mentor_keys)[32],
                                           size_t n_mentor_keys) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (grant_id == NULL || (n > 0 && records == NULL) || (n_mentor_keys > 0 && mentor_keys == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  const mlproto_record *gr = NULL;
  for (size_t i = 0; i < n; i++) {
    if (records[i] == NULL)
      return MLPROTO_ERR_INVALID_ARGUMENT;
    if (gr == NULL && is_grant_kind(records[i]->kind) &&
        memcmp(records[i]->record_id, grant_id, 16) == 0)
      gr = records[i];
  }
  if (gr == NULL)
    return MLPROTO_ERR_NOT_FOUND;

  size_t ng = 0, nc = 0, na = 0;
  for (size_t i = 0; i < n; i++) {
    const mlproto_record *r = records[i];
    if (memcmp(r->case_id, gr->case_id, 16) != 0)
      continue;
    ng += (size_t)is_grant_kind(r->kind);
    nc += (size_t)(r->kind == MLPROTO_KIND_CONTACT);
    na += (size_t)(r->kind == MLPROTO_KIND_ABSENCE);
  }
  if (nc > MLPROTO_COMPLIANCE_MAX_CONTACTS || ng > MLPROTO_MAX_ITEMS || na > MLPROTO_MAX_ITEMS)
    return MLPROTO_ERR_TOO_LARGE;

  /* refs: grants [0, ng), contacts [ng, ng + nc), absences after. */
  struct ref *refs = mlproto_calloc(ng + nc + na, sizeof *refs);
  mlproto_item *items = mlproto_calloc(ng > na ? ng : na, sizeof *items);
  mlproto_heads *gh = NULL, *ah = NULL;
  char *blk = NULL;
  int rc = MLPROTO_ERR_OUT_OF_MEMORY;
  if (refs == NULL || items == NULL)
    goto done;
  size_t pg = 0, pc = ng, pa = ng + nc;
  for (size_t i = 0; i < n; i++) {
    const mlproto_record *r = records[i];
    if (memcmp(r->case_id, gr->case_id, 16) != 0)
      continue;
    if (is_grant_kind(r->kind))
      refs[pg++] = (struct ref){r, i};
    else if (r->kind == MLPROTO_KIND_CONTACT)
      refs[pc++] = (struct ref){r, i};
    else if (r->kind == MLPROTO_KIND_ABSENCE)
      refs[pa++] = (struct ref){r, i};
  }
  struct ref *grefs = refs, *crefs = refs + ng, *arefs = refs + ng + nc;
  qsort(grefs, ng, sizeof *refs, ref_cmp);
  qsort(crefs, nc, sizeof *refs, ref_cmp);
  qsort(arefs, na, sizeof *refs, ref_cmp);

  /* The grant. */
  if ((rc = heads_of(&gh, grefs, ng, items)) != MLPROTO_OK)
    goto done;
  size_t gi = 0;
  while (grefs[gi].r != gr)
    gi++;
  mlproto_compliance_inputs head;
  memset(&head, 0, sizeof head);
  if ((rc = grant_from_item(&head, grefs, &gh->groups[gh->group_of[gi]])) != MLPROTO_OK)
    goto done;

  /* Absences: the representative of each item, in record_id order. */
  if ((rc = heads_of(&ah, arefs, na, items)) != MLPROTO_OK)
    goto done;
  size_t n_abs = ah->n_groups, n_links = 0;
  if (n_abs > MLPROTO_COMPLIANCE_MAX_ABSENCES) {
    rc = MLPROTO_ERR_TOO_LARGE;
    goto done;
  }
  for (size_t i = 0; i < nc; i++) {
    /* The engine would refuse a duplicate too; say so before building. */
    if (i > 0 && memcmp(crefs[i - 1].r->record_id, crefs[i].r->record_id, 16) == 0) {
      rc = MLPROTO_ERR_ALREADY_EXISTS;
      goto done;
    }
    if (crefs[i].r->disclosed == NULL) {
      rc = MLPROTO_ERR_SEALED_ERASED;
      goto done;
    }
    if (crefs[i].r->disclosed->contact == NULL) {
      rc = MLPROTO_ERR_FIELD_MISSING;
      goto done;
    }
    n_links += crefs[i].r->n_supersedes;
  }

  size_t off_contacts = align8(sizeof(mlproto_compliance_inputs));
  size_t off_crec = off_contacts + align8(nc * sizeof(mlproto_contact));
  size_t off_links = off_crec + align8(nc * sizeof(size_t));
  size_t off_abs = off_links + align8(n_links * 16);
  size_t off_arec = off_abs + align8(n_abs * sizeof(mlproto_absence));
  size_t total = off_arec + align8(n_abs * sizeof(size_t));
  rc = MLPROTO_ERR_OUT_OF_MEMORY;
  if ((blk = mlproto_malloc(total)) == NULL)
    goto done;
  memset(blk, 0, total);
  mlproto_compliance_inputs *o = (mlproto_compliance_inputs *)blk;
  *o = head;
  mlproto_contact *cs = (mlproto_contact *)(blk + off_contacts);
  size_t *crec = (size_t *)(blk + off_crec);
  uint8_t(*links)[16] = (uint8_t(*)[16])(blk + off_links);
  mlproto_absence *as = (mlproto_absence *)(blk + off_abs);
  size_t *arec = (size_t *)(blk + off_arec);

  size_t lpos = 0;
  for (size_t i = 0; i < nc; i++) {
    const mlproto_record *r = crefs[i].r;
    const Mentorlog__V1__ContactDisclosed *cd = r->disclosed->contact;
    mlproto_contact *c = &cs[i];
    memcpy(c->item.record_id, r->record_id, 16);
    c->item.hlc = r->hlc;
    memcpy(c->item.author, r->author, 32);
    c->item.n_supersedes = r->n_supersedes;
    if (r->n_supersedes > 0) {
      memcpy(links[lpos], r->supersedes, r->n_supersedes * 16);
      c->item.supersedes = (const uint8_t(*)[16])links[lpos];
      lpos += r->n_supersedes;
    }
    c->voided = cd->voided != 0;
    c->start_ms = (int64_t)cd->start_ms;
    c->duration_minutes = cd->duration_minutes;
    c->transport_minutes = cd->transport_minutes;
    c->outcome = (mlproto_outcome)cd->outcome; /* wire values (see the enums) */
    c->channel = (mlproto_channel)cd->channel;
    c->by_grant_mentor = is_mentor(r->author, mentor_keys, n_mentor_keys);
    c->recorded_at_ms = MLPROTO_HLC_MS(r->hlc);
    crec[i] = crefs[i].idx;
  }
  size_t k = 0;
  for (size_t i = 0; i < na; i++) {
    if (ah->groups[ah->group_of[i]].representative != i)
      continue;
    const mlproto_record *r = arefs[i].r;
    if (r->disclosed == NULL || r->disclosed->absence == NULL) {
      rc = r->disclosed == NULL ? MLPROTO_ERR_SEALED_ERASED : MLPROTO_ERR_FIELD_MISSING;
      mlproto_free(blk);
      blk = NULL;
      goto done;
    }
    const Mentorlog__V1__AbsenceDisclosed *ad = r->disclosed->absence;
    as[k] = (mlproto_absence){(mlproto_date)ad->from_day, (mlproto_date)ad->to_day,
                              ad->approved != 0};
    arec[k++] = arefs[i].idx;
  }
  o->n_contacts = nc;
  o->contacts = cs;
  o->contact_record = crec;
  o->n_absences = k;
  o->absences = as;
  o->absence_record = arec;
  *out = o;
  blk = NULL;
  rc = MLPROTO_OK;

done:
  mlproto_free(blk);
  mlproto_heads_free(ah);
  mlproto_heads_free(gh);
  mlproto_free(items);
  mlproto_free(refs);
  return rc;
}

void mlproto_compliance_inputs_free(mlproto_compliance_inputs *in) { mlproto_free(in); }
