/* Readers: current state derived from the stored records. Every record read
 * back is checked again against the record hash stored when it was verified
 * (signature, on insert): framing, fields and the SHA-256 of every part, so
 * a tampered row is an error, never silently believed. The signatures
 * themselves are re-checked by mentorlog_verify (see DESIGN.md, trust). */
#include "records_int.h"
#include "mlproto/chain.h"
#include "mlproto/util.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

struct vset {
  size_t n;
  mlproto_record **r;
  mlproto_item *items;
  mlproto_heads *heads;
};

static void vset_free(struct vset *v) {
  for (size_t i = 0; i < v->n; i++)
    mlproto_record_free(v->r[i]);
  mlproto_free(v->r);
  mlproto_free(v->items);
  mlproto_heads_free(v->heads);
  memset(v, 0, sizeof *v);
}

/* A stored row (record_id, sealed envelope, hash): opened and checked by
 * the record store, every check but the signature, which the stored record
 * hash stands for (it was verified before it was stored). */
static int row_record(mentorlog *h, sqlite3_stmt *st, mlproto_record **out) {
  return ml__row_record(h, st, 0, 1, 2, out);
}

/* All versions of the kinds kind_lo..kind_hi in a case (or every case for
 * NULL), in insertion order. */
static int vset_load(mentorlog *h, const uint8_t *case_id, int kind_lo, int kind_hi, struct vset *v) {
  memset(v, 0, sizeof *v);
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, case_id ? ML_SQL_CASE_RECORDS : ML_SQL_KIND_RECORDS, &st);
  if (err)
    return err;
  int p = 1;
  if (case_id)
    sqlite3_bind_blob(st, p++, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, p++, kind_lo);
  sqlite3_bind_int(st, p, kind_hi);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (v->n == MLPROTO_MAX_ITEMS) {
      err = ml__fail(h, MLPROTO_ERR_TOO_LARGE, "too many records in one case");
      break;
    }
    if (v->n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      mlproto_record **nr = mlproto_realloc(v->r, nc * sizeof *nr);
      if (!nr) {
        err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
        break;
      }
      v->r = nr;
      cap = nc;
    }
    mlproto_record *r = NULL;
    if ((err = row_record(h, st, &r)))
      break;
    v->r[v->n++] = r;
  }
  if (!err && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read records");
  ml__stmt_put(st);
  if (!err && v->n) {
    v->items = mlproto_calloc(v->n, sizeof *v->items);
    if (!v->items)
      err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; !err && i < v->n; i++) {
      mlproto_item *it = &v->items[i];
      memcpy(it->record_id, v->r[i]->record_id, 16);
      it->supersedes = (const uint8_t(*)[16])v->r[i]->supersedes;
      it->n_supersedes = v->r[i]->n_supersedes;
      it->hlc = v->r[i]->hlc;
      memcpy(it->author, v->r[i]->author, 32);
    }
    if (!err && (err = mlproto_heads_compute(&v->heads, v->items, v->n)))
      err = ml__fail(h, err, "current state: %s", mlproto_strerror(err));
  }
  if (err)
    vset_free(v);
  return err;
}

static void free_str(char *s) {
  if (s) {
    sodium_memzero(s, strlen(s));
    mlproto_free(s);
  }
}

static int dup_into(mentorlog *h, char **dst, const char *s) {
  *dst = NULL;
  if (!s || !*s)
    return 0;
  if (!(*dst = mlproto_strdup(s)))
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  return 0;
}

/* ck NULL: the device holds no key of the case (not approved yet): the
 * sealed part stays closed and *out NULL. */
static int open_sealed(mentorlog *h, const mlproto_record *r, const mlproto_key *ck, mlproto_sealed **out) {
  *out = NULL;
  if (!(r->flags & MLPROTO_RECORD_SEALED) || !ck)
    return 0;
  int err = mlproto_record_open_sealed(out, r, ck);
  if (err == MLPROTO_ERR_SEAL_OPEN_FAILED) {
    /* Sealed before a rotation: an older generation of the case key. */
    int64_t gens[16];
    size_t ng = 0;
    int e2 = ml__casekey_gens(h, r->case_id, gens, 16, &ng);
    if (e2)
      return e2;
    for (size_t i = 1; i < ng && err == MLPROTO_ERR_SEAL_OPEN_FAILED; i++) {
      const mlproto_key *old = NULL;
      if ((e2 = ml__casekey_gen(h, r->case_id, gens[i], &old)))
        return e2;
      err = mlproto_record_open_sealed(out, r, old);
    }
  }
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return ml__fail(h, err, "out of memory");
  return err ? ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a sealed part does not open: %s", mlproto_errname(err)) : 0;
}

/* As open_sealed, with the key of r's own case. */
static int open_sealed_own(mentorlog *h, const mlproto_record *r, mlproto_sealed **out) {
  const mlproto_key *ck = NULL;
  *out = NULL;
  int err = ml__casekey(h, r->case_id, &ck);
  if (err == MLPROTO_ERR_NO_CASE_KEY)
    return 0;
  return err ? err : open_sealed(h, r, ck, out);
}

static bool is_erased(mentorlog *h, const uint8_t case_id[16]) {
  int err = ml__case_check(h, case_id);
  return err == MLPROTO_ERR_CASE_ERASED;
}

/* ------------------------------------------------------------- cases */

void mentorlog_cases_free(mentorlog_case *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    free_str(v[i].name);
    free_str(v[i].phone);
  }
  mlproto_free(v);
}

int mentorlog_cases(mentorlog *h, mentorlog_case **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct vset v;
  int err = vset_load(h, NULL, MLPROTO_KIND_CASE_OPEN, MLPROTO_KIND_CASE_OPEN, &v);
  if (err)
    return err;
  mentorlog_case *c = v.n ? mlproto_calloc(v.n, sizeof *c) : NULL;
  if (v.n && !c) {
    vset_free(&v);
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; !err && i < v.n; i++) {
    const mlproto_record *r = v.r[i];
    mentorlog_case *o = &c[k++];
    memcpy(o->id, r->case_id, 16);
    o->opened_ms = MLPROTO_HLC_MS(r->hlc);
    if (is_erased(h, r->case_id)) {
      o->erased = 1;
      continue;
    }
    mlproto_sealed *s = NULL;
    if (!(err = open_sealed_own(h, r, &s)) && s && s->payload_case == MENTORLOG__V1__SEALED__PAYLOAD_CASE_OPEN) {
      if (!(err = dup_into(h, &o->name, s->case_open->citizen_name)))
        err = dup_into(h, &o->phone, s->case_open->phone);
    }
    o->locked = !err && !s && (r->flags & MLPROTO_RECORD_SEALED);
    mlproto_sealed_free(s);
  }
  vset_free(&v);
  if (err) {
    mentorlog_cases_free(c, k);
    return err;
  }
  *out = c;
  *n = k;
  return 0;
}

/* ------------------------------------------------------------ grants */

static void rule_from_wire(mentorlog_rule *o, const Mentorlog__V1__ContactRule *r) {
  memset(o, 0, sizeof *o);
  if (!r)
    return;
  o->period_weeks = r->period_weeks;
  o->contacts = r->contacts_needed;
  for (size_t i = 0; i < r->n_qualifying_channels; i++)
    if (r->qualifying_channels[i] >= 1 && r->qualifying_channels[i] <= 7)
      o->channels |= 1u << r->qualifying_channels[i];
  o->min_minutes = r->min_minutes;
  o->partial_days = r->partial_days;
  o->grace_days = r->grace_days;
  o->late_days = r->late_days;
}

void mentorlog_grants_free(mentorlog_grant *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    mlproto_free(v[i].jobcentre);
    mlproto_free(v[i].reference);
    mlproto_free(v[i].legal_basis);
    free_str(v[i].purpose);
    free_str(v[i].close_reason);
  }
  mlproto_free(v);
}

/* One grant from its version group: parameters of the newest open/update,
 * closed when a head is a GRANT_CLOSE. */
static int grant_from_group(mentorlog *h, const struct vset *v, const mlproto_head_group *g,
                            mentorlog_grant *o) {
  const mlproto_record *params = NULL;
  for (size_t i = 0; i < g->n_versions && !params; i++) {
    const mlproto_record *r = v->r[g->versions[i]];
    if (r->kind != MLPROTO_KIND_GRANT_CLOSE)
      params = r;
  }
  const mlproto_record *first = v->r[g->versions[g->n_versions - 1]];
  memcpy(o->id, first->record_id, 16);
  memcpy(o->record, v->r[g->representative]->record_id, 16);
  memcpy(o->case_id, first->case_id, 16);
  o->conflict = g->n_heads != 1;
  const mlproto_record *close_rec = NULL; /* the head whose (earliest) close date counts */
  for (size_t i = 0; i < g->n_heads; i++) {
    const mlproto_record *r = v->r[g->heads[i]];
    if (r->kind == MLPROTO_KIND_GRANT_CLOSE && r->disclosed && r->disclosed->grant_close) {
      mentorlog_date c = (mentorlog_date)r->disclosed->grant_close->close_day;
      if (!o->closed || c < o->end) {
        o->end = c;
        close_rec = r;
      }
      o->closed = 1;
    }
  }
  if (!params || !params->disclosed)
    return ml__fail(h, MLPROTO_ERR_CASE_ERASED, "the grant's data was erased");
  const Mentorlog__V1__GrantDisclosed *gd = params->kind == MLPROTO_KIND_GRANT_OPEN
                                                ? params->disclosed->grant_open
                                                : params->disclosed->grant_update;
  if (!gd)
    return ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "grant record without parameters");
  o->start = (mentorlog_date)gd->start_day;
  if (!o->closed)
    o->end = (mentorlog_date)gd->end_day;
  else if ((mentorlog_date)gd->end_day < o->end)
    o->end = (mentorlog_date)gd->end_day;
  rule_from_wire(&o->rule, gd->rule);
  o->minutes_per_week = gd->granted_minutes_per_week;
  int err;
  if ((err = dup_into(h, &o->jobcentre, gd->jobcentre_id)) ||
      (err = dup_into(h, &o->reference, gd->case_ref)) ||
      (err = dup_into(h, &o->legal_basis, gd->legal_basis)))
    return err;
  if (params->flags & MLPROTO_RECORD_SEALED) {
    mlproto_sealed *s = NULL;
    if (!(err = open_sealed_own(h, params, &s)) && s) {
      const Mentorlog__V1__GrantSealed *gs = s->grant_open ? s->grant_open : s->grant_update;
      if (gs)
        err = dup_into(h, &o->purpose, gs->purpose);
    }
    o->locked = !err && !s;
    mlproto_sealed_free(s);
  }
  if (!err && close_rec && (close_rec->flags & MLPROTO_RECORD_SEALED)) {
    mlproto_sealed *s = NULL;
    if (!(err = open_sealed_own(h, close_rec, &s)) && s &&
        s->payload_case == MENTORLOG__V1__SEALED__PAYLOAD_GRANT_CLOSE && s->grant_close)
      err = dup_into(h, &o->close_reason, s->grant_close->reason);
    mlproto_sealed_free(s);
  }
  return err;
}

int mentorlog_grants(mentorlog *h, const uint8_t *case_id, mentorlog_grant **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct vset v;
  int err = vset_load(h, case_id, MLPROTO_KIND_GRANT_OPEN, MLPROTO_KIND_GRANT_CLOSE, &v);
  if (err)
    return err;
  mentorlog_grant *gs = v.n ? mlproto_calloc(v.heads->n_groups, sizeof *gs) : NULL;
  if (v.n && !gs) {
    vset_free(&v);
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; !err && v.n && i < v.heads->n_groups; i++) {
    const mlproto_head_group *g = &v.heads->groups[i];
    if (is_erased(h, v.r[g->representative]->case_id))
      continue;
    err = grant_from_group(h, &v, g, &gs[k++]);
  }
  vset_free(&v);
  if (err) {
    mentorlog_grants_free(gs, k);
    return err;
  }
  *out = gs;
  *n = k;
  return 0;
}


/* ---------------------------------------------------- contacts, notes */

/* The items of kinds [kind_lo, kind_hi] of one live case. */
static int case_vset(mentorlog *h, const uint8_t case_id[16], int kind_lo, int kind_hi, struct vset *v) {
  int err = ml__case_check(h, case_id);
  return err ? err : vset_load(h, case_id, kind_lo, kind_hi, v);
}

/* A walk over the current versions of a vset's items: each head of a group,
 * or the group's representative when it has none (a conflict is listed once
 * per head). */
struct vcursor {
  size_t group, head;
};

static size_t vset_nversions(const struct vset *v) {
  size_t total = 0;
  for (size_t i = 0; i < v->heads->n_groups; i++)
    total += v->heads->groups[i].n_heads ? v->heads->groups[i].n_heads : 1;
  return total;
}

/* The next version (NULL at the end), its item's first record, and whether
 * the item has other than exactly one head. */
static const mlproto_record *vset_next(const struct vset *v, struct vcursor *c, const mlproto_record **first,
                                       bool *conflict) {
  for (; v->n && c->group < v->heads->n_groups; c->group++, c->head = 0) {
    const mlproto_head_group *g = &v->heads->groups[c->group];
    if (c->head < (g->n_heads ? g->n_heads : 1)) {
      *first = v->r[g->versions[g->n_versions - 1]];
      *conflict = g->n_heads != 1;
      size_t j = c->head++;
      return v->r[g->n_heads ? g->heads[j] : g->representative];
    }
  }
  return NULL;
}

/* What a list of one kind of a live case's items starts from: the vset for
 * vset_next, the case key, and a zeroed array of one size-byte element per
 * current version (NULL when there are none). On failure nothing is held. */
static int case_versions(mentorlog *h, const uint8_t case_id[16], int kind, size_t size, struct vset *v,
                         const mlproto_key **ck, void **out) {
  *ck = NULL;
  *out = NULL;
  int err = case_vset(h, case_id, kind, kind, v);
  if (err || v->n == 0)
    return err;
  err = ml__casekey(h, case_id, ck);
  if (err == MLPROTO_ERR_NO_CASE_KEY)
    err = 0, *ck = NULL; /* listed, with sealed fields closed (locked) */
  if (!err && !(*out = mlproto_calloc(vset_nversions(v), size)))
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  if (err)
    vset_free(v);
  return err;
}

void mentorlog_contacts_free(mentorlog_contact *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free_str(v[i].note);
  mlproto_free(v);
}

/* L for a contact dated d: the rule of the grant whose [start, end] covers
 * d (the latest-starting one when grants overlap), else the default rule. */
static uint32_t late_days_for(const mentorlog_grant *g, size_t ng, mentorlog_date d) {
  const mentorlog_grant *best = NULL;
  for (size_t i = 0; i < ng; i++)
    if (g[i].start <= d && d <= g[i].end && (!best || g[i].start > best->start))
      best = &g[i];
  if (best)
    return best->rule.late_days;
  mentorlog_rule def;
  mentorlog_rule_default(&def);
  return def.late_days;
}

int mentorlog_contacts(mentorlog *h, const uint8_t case_id[16], mentorlog_contact **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct vset v;
  const mlproto_key *ck;
  void *room;
  int err = case_versions(h, case_id, MLPROTO_KIND_CONTACT, sizeof(mentorlog_contact), &v, &ck, &room);
  if (err)
    return err;
  mentorlog_contact *c = room;
  mentorlog_grant *grants = NULL;
  size_t k = 0, ngrants = 0;
  if (v.n == 0 || (err = mentorlog_grants(h, case_id, &grants, &ngrants)))
    goto done;
  const mlproto_record *first, *r;
  bool conflict;
  for (struct vcursor cur = {0}; !err && (r = vset_next(&v, &cur, &first, &conflict));) {
    const Mentorlog__V1__ContactDisclosed *cd = r->disclosed ? r->disclosed->contact : NULL;
    if (!cd || cd->voided)
      continue;
    mentorlog_contact *o = &c[k++];
    memcpy(o->id, first->record_id, 16);
    memcpy(o->record, r->record_id, 16);
    o->start_ms = (int64_t)cd->start_ms;
    o->recorded_ms = MLPROTO_HLC_MS(r->hlc);
    o->minutes = cd->duration_minutes;
    o->transport_minutes = cd->transport_minutes;
    o->channel = cd->channel;
    o->outcome = cd->outcome;
    o->conflict = conflict;
    uint32_t late_days = late_days_for(grants, ngrants, mentorlog_local_date(o->start_ms));
    o->late_entry = mlproto_late_entry(o->start_ms, o->recorded_ms, late_days);
    mlproto_sealed *s = NULL;
    o->locked = !ck && (r->flags & MLPROTO_RECORD_SEALED);
    if (!(err = open_sealed(h, r, ck, &s)) && s && s->contact)
      err = dup_into(h, &o->note, s->contact->note);
    mlproto_sealed_free(s);
  }
done:
  mentorlog_grants_free(grants, ngrants);
  vset_free(&v);
  if (err) {
    mentorlog_contacts_free(c, k);
    return err;
  }
  *out = c;
  *n = k;
  return 0;
}

void mentorlog_notes_free(mentorlog_note *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free_str(v[i].text);
  mlproto_free(v);
}

int mentorlog_notes(mentorlog *h, const uint8_t case_id[16], mentorlog_note **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct vset v;
  const mlproto_key *ck;
  void *room;
  int err = case_versions(h, case_id, MLPROTO_KIND_NOTE, sizeof(mentorlog_note), &v, &ck, &room);
  if (err)
    return err;
  mentorlog_note *c = room;
  size_t k = 0;
  const mlproto_record *first, *r;
  bool conflict;
  for (struct vcursor cur = {0}; !err && (r = vset_next(&v, &cur, &first, &conflict));) {
    mentorlog_note *o = &c[k++];
    memcpy(o->id, first->record_id, 16);
    memcpy(o->record, r->record_id, 16);
    o->recorded_ms = MLPROTO_HLC_MS(r->hlc);
    o->conflict = conflict;
    mlproto_sealed *s = NULL;
    o->locked = !ck && (r->flags & MLPROTO_RECORD_SEALED);
    if (!(err = open_sealed(h, r, ck, &s)) && s && s->note)
      err = dup_into(h, &o->text, s->note->text);
    mlproto_sealed_free(s);
  }
  vset_free(&v);
  if (err) {
    mentorlog_notes_free(c, k);
    return err;
  }
  *out = c;
  *n = k;
  return 0;
}

void mentorlog_absences_free(mentorlog_absence *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    mlproto_free(v[i].approved_ref);
  mlproto_free(v);
}

int mentorlog_absences(mentorlog *h, const uint8_t case_id[16], mentorlog_absence **out, size_t *n) {
  *out = NULL;
  *n = 0;
  struct vset v;
  int err = case_vset(h, case_id, MLPROTO_KIND_ABSENCE, MLPROTO_KIND_ABSENCE, &v);
  if (err)
    return err;
  mentorlog_absence *a = v.n ? mlproto_calloc(v.n, sizeof *a) : NULL;
  size_t k = 0;
  if (v.n && !a)
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; !err && i < v.n; i++) {
    if (!v.heads->is_head[i] || !v.r[i]->disclosed || !v.r[i]->disclosed->absence)
      continue;
    const Mentorlog__V1__AbsenceDisclosed *ad = v.r[i]->disclosed->absence;
    mentorlog_absence *o = &a[k++];
    memcpy(o->record, v.r[i]->record_id, 16);
    o->from = (mentorlog_date)ad->from_day;
    o->to = (mentorlog_date)ad->to_day;
    o->kind = ad->kind;
    if (ad->approved)
      err = dup_into(h, &o->approved_ref, ad->approval_ref);
  }
  vset_free(&v);
  if (err) {
    mentorlog_absences_free(a, k);
    return err;
  }
  *out = a;
  *n = k;
  return 0;
}

/* -------------------------------------------------------- compliance */

void mentorlog_compliance_free(mentorlog_compliance *c) {
  if (c) {
    mlproto_free(c->periods);
    mlproto_free(c);
  }
}

static void rule_from_proto(mentorlog_rule *o, const mlproto_rule *r) {
  o->period_weeks = r->period_weeks;
  o->contacts = r->contacts_needed;
  o->channels = r->channels; /* same numbering as the wire */
  o->min_minutes = r->min_minutes;
  o->partial_days = r->min_working_days;
  o->grace_days = r->grace_days;
  o->late_days = r->late_days;
}

/* The grant's case's records (grants, contacts, absences) go to the
 * protocol's mlproto_compliance_inputs_from_records, the same function the
 * server's report and an auditor's tool use, then to the engine. */
int mentorlog_grant_compliance(mentorlog *h, const uint8_t grant_id[16], int64_t now_ms,
                               mentorlog_compliance **out) {
  *out = NULL;
  struct ml_target t;
  int err = ml__item_heads(h, grant_id, MLPROTO_KIND_GRANT_OPEN, MLPROTO_KIND_GRANT_CLOSE, &t);
  if (err)
    return err;
  struct vset gv, av;
  memset(&av, 0, sizeof av);
  const mlproto_record **recs = NULL;
  mlproto_compliance_inputs *in = NULL;
  mlproto_compliance *res = NULL;
  mentorlog_compliance *o = NULL;
  /* Kinds GRANT_OPEN .. CONTACT, and ABSENCE: notes are not needed. */
  if ((err = vset_load(h, t.case_id, MLPROTO_KIND_GRANT_OPEN, MLPROTO_KIND_CONTACT, &gv)))
    return err;
  if ((err = vset_load(h, t.case_id, MLPROTO_KIND_ABSENCE, MLPROTO_KIND_ABSENCE, &av)))
    goto out;
  if (!(recs = mlproto_calloc(gv.n + av.n ? gv.n + av.n : 1, sizeof *recs))) {
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < gv.n; i++)
    recs[i] = gv.r[i];
  for (size_t i = 0; i < av.n; i++)
    recs[gv.n + i] = av.r[i];
  /* Every record in this profile's case was written by this mentor's
   * devices (no mentor keys: every author is the grant's mentor); other
   * mentors' records arrive with sync (later issue). */
  if ((err = mlproto_compliance_inputs_from_records(&in, (const struct mlproto_record *const *)recs,
                                                    gv.n + av.n, t.item_id, NULL, 0))) {
    if (err == MLPROTO_ERR_OUT_OF_MEMORY)
      err = ml__fail(h, err, "out of memory");
    else if (err == MLPROTO_ERR_SEALED_ERASED)
      err = ml__fail(h, MLPROTO_ERR_CASE_ERASED, "the grant's data was erased");
    else if (err == MLPROTO_ERR_NOT_FOUND)
      err = ml__fail(h, err, "no such grant");
    else
      err = ml__fail(h, err, "compliance inputs: %s", mlproto_strerror(err));
    goto out;
  }
  if ((err = mlproto_compliance_compute(&res, &in->grant, in->contacts, in->n_contacts, in->absences,
                                        in->n_absences, now_ms))) {
    err = ml__fail(h, err, "compliance: %s", mlproto_strerror(err));
    goto out;
  }
  if (!(o = mlproto_calloc(1, sizeof *o)) ||
      (res->n_periods && !(o->periods = mlproto_calloc(res->n_periods, sizeof *o->periods)))) {
    mentorlog_compliance_free(o);
    o = NULL;
    err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    goto out;
  }
  memcpy(o->grant, in->grant_id, 16);
  rule_from_proto(&o->rule, &in->grant.rule);
  o->start = in->grant.start;
  o->end = res->effective_end;
  o->nperiods = res->n_periods;
  for (size_t i = 0; i < res->n_periods; i++) {
    const mlproto_period *p = &res->periods[i];
    mentorlog_period *q = &o->periods[i];
    q->start = p->start;
    q->end = p->end;
    q->status = (int)p->status + 1;
    q->reason = p->status == MLPROTO_PERIOD_NOT_ASSESSABLE ? mlproto_na_reason_name(p->reason) : NULL;
    q->qualifying = p->qualifying;
    q->attempts = p->attempts;
    q->minutes_held = (uint32_t)p->minutes_held;
  }
  o->met = res->totals.met;
  o->assessable_final = res->totals.assessable_final;
  o->minutes_held = res->totals.minutes_held;
  o->minutes_granted = res->totals.minutes_granted;
  o->late_entries = res->late_entries;
  *out = o;
out:
  mlproto_compliance_free(res);
  mlproto_compliance_inputs_free(in);
  mlproto_free(recs);
  vset_free(&gv);
  vset_free(&av);
  return err;
}

/* ------------------------------------------------------- maintenance */

int mentorlog_verify(mentorlog *h) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "PRAGMA integrity_check");
  if (err)
    return err;
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "integrity_check");
  else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "database integrity check failed");
  sqlite3_finalize(st);
  if (err)
    return err;
  /* The device's chain: seq 1..n without gaps, each prev = previous hash,
   * each signature valid, the tip row and the outbox consistent. */
  if ((err = ml__prepare(h, &st, "SELECT seq, hash, envelope, record_id FROM records WHERE author = ?"
                                 " ORDER BY seq")))
    return err;
  sqlite3_bind_blob(st, 1, h->sign_pk, 32, SQLITE_STATIC);
  /* The chain rule is protocol/'s (mlproto/chain.h): every record must be
   * ACCEPTed by the tip of the records before it; its row's seq and hash
   * columns must be the record's own. */
  mlproto_chain_tip tip;
  mlproto_chain_tip_init(&tip, h->sign_pk);
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    mlproto_record *r = NULL;
    unsigned long long expect = (unsigned long long)tip.seq + 1;
    const uint8_t *env;
    size_t env_len;
    int e = ml__env_open(h, sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3),
                         sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2), &env, &env_len);
    if (e) {
      err = e == MLPROTO_ERR_OUT_OF_MEMORY
                ? e
                : ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "record %llu does not open: %s", expect,
                           mlproto_errname(e));
      break;
    }
    e = mlproto_record_verify(&r, env, env_len);
    sodium_memzero(h->envbuf, env_len);
    mlproto_chain_verdict v = e ? MLPROTO_CHAIN_INVALID : mlproto_chain_check(&tip, NULL, r);
    if (e == MLPROTO_ERR_OUT_OF_MEMORY)
      err = ml__fail(h, e, "out of memory");
    else if (e)
      err = ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "record %llu does not verify: %s", expect,
                     mlproto_errname(e));
    else if (v == MLPROTO_CHAIN_GAP || (uint64_t)sqlite3_column_int64(st, 0) != r->seq)
      err = ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "sequence gap at %llu", expect);
    else if (v == MLPROTO_CHAIN_DUPLICATE || v == MLPROTO_CHAIN_FORK || v == MLPROTO_CHAIN_NEED_HELD)
      err = ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "seq %llu is held twice (at %llu)",
                     (unsigned long long)r->seq, expect);
    else if (v != MLPROTO_CHAIN_ACCEPT || sqlite3_column_bytes(st, 1) != 32 ||
             memcmp(sqlite3_column_blob(st, 1), r->hash, 32) != 0)
      err = ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "broken link at %llu (%s)", expect,
                     mlproto_chain_verdict_name(v));
    else
      mlproto_chain_advance(&tip, r);
    mlproto_record_free(r);
  }
  if (!err && rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "read chain");
  sqlite3_finalize(st);
  if (err)
    return err;
  if (h->seq != tip.seq || memcmp(h->head, tip.hash, 32) != 0)
    return ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "the chain tip does not match the last record");
  if ((err = ml__prepare(h, &st, "SELECT count(*) FROM outbox o LEFT JOIN records r ON r.record_id = o.record_id"
                                 " WHERE r.rid IS NULL OR r.seq != o.seq")))
    return err;
  if ((rc = sqlite3_step(st)) != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "outbox");
  else if (sqlite3_column_int64(st, 0) != 0)
    err = ml__fail(h, MLPROTO_ERR_CHAIN_BROKEN, "the outbox names records that are not stored");
  sqlite3_finalize(st);
  return err;
}

int mentorlog_counts(mentorlog *h, uint64_t *records, uint64_t *outbox) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM outbox)");
  if (err)
    return err;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (records)
      *records = (uint64_t)sqlite3_column_int64(st, 0);
    if (outbox)
      *outbox = (uint64_t)sqlite3_column_int64(st, 1);
  } else {
    err = ml__sqlite_err(h, rc, "count");
  }
  sqlite3_finalize(st);
  return err;
}

int mentorlog_has_record(mentorlog *h, const uint8_t record_id[16], int *present) {
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT 1 FROM records WHERE record_id = ?");
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    *present = rc == SQLITE_ROW;
  else
    err = ml__sqlite_err(h, rc, "find record");
  sqlite3_finalize(st);
  return err;
}

int mentorlog_resolve(mentorlog *h, uint8_t out[16], char what, const char *hex) {
  size_t len = hex ? strlen(hex) : 0;
  if (len < 6 || len > 32)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "an id needs 6 to 32 hex digits");
  char lo[33] = {0}, hi[33] = {0};
  for (size_t i = 0; i < len; i++) {
    if (!isxdigit((unsigned char)hex[i]))
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "an id is hex digits only");
    lo[i] = hi[i] = (char)tolower((unsigned char)hex[i]);
  }
  for (size_t i = len; i < 32; i++) {
    lo[i] = '0';
    hi[i] = 'f';
  }
  uint8_t blo[16], bhi[16];
  if (mlproto_hex_decode(blo, 16, lo, 32) || mlproto_hex_decode(bhi, 16, hi, 32))
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "bad id");
  const char *sql = what == 'c'   ? "SELECT DISTINCT case_id FROM records WHERE kind = 1 AND case_id BETWEEN ?1 AND ?2 LIMIT 2"
                    : what == 'g' ? "SELECT record_id FROM records WHERE kind = 2 AND record_id BETWEEN ?1 AND ?2 LIMIT 2"
                                  : "SELECT record_id FROM records WHERE record_id BETWEEN ?1 AND ?2 LIMIT 2";
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, sql);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, blo, 16, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, bhi, 16, SQLITE_STATIC);
  int n = 0, rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n++ == 0)
      memcpy(out, sqlite3_column_blob(st, 0), 16);
  }
  if (rc != SQLITE_DONE)
    err = ml__sqlite_err(h, rc, "resolve id");
  else if (n == 0)
    err = ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no %s with id %s", what == 'c' ? "case" : what == 'g' ? "grant" : "record", hex);
  else if (n > 1)
    err = ml__fail(h, MLPROTO_ERR_AMBIGUOUS_PREFIX, "id prefix %s matches more than one %s", hex,
                   what == 'c' ? "case" : what == 'g' ? "grant" : "record");
  sqlite3_finalize(st);
  return err;
}
