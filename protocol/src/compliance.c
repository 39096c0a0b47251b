/* The contact rule of domain.md. The header states every decision; this file
 * only implements them. Cost: O(c log c) in the contacts (one heads sort, one
 * sort by start) plus O(days of the grant) for the calendar; no loop over
 * contacts x days. */
#include "compliance_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <stdlib.h>
#include <string.h>

static const char *const channel_names[MLPROTO_CHANNEL__COUNT] = {
    "in-person", "home-visit", "accompaniment", "video", "phone", "message", "other"};
static const char *const outcome_names[MLPROTO_OUTCOME__COUNT] = {
    "held", "attempt-failed", "no-show", "cancelled-by-citizen", "cancelled-by-mentor"};
static const char *const status_names[] = {"MET", "NOT_ASSESSABLE", "PENDING",
                                           "MISSED_WITH_ATTEMPTS", "MISSED"};
static const char *const reason_names[] = {"none", "partial", "absence"};

const char *mlproto_channel_name(int channel) {
  return channel >= 1 && channel <= MLPROTO_CHANNEL__COUNT ? channel_names[channel - 1] : NULL;
}

const char *mlproto_outcome_name(int outcome) {
  return outcome >= 1 && outcome <= MLPROTO_OUTCOME__COUNT ? outcome_names[outcome - 1] : NULL;
}

const char *mlproto_period_status_name(int status) {
  return status >= 0 && status <= MLPROTO_PERIOD_MISSED ? status_names[status] : NULL;
}

const char *mlproto_na_reason_name(int reason) {
  return reason >= 0 && reason <= MLPROTO_NA_ABSENCE ? reason_names[reason] : NULL;
}

static int name_lookup(const char *const *names, int count, const char *s, size_t len) {
  if (s == NULL)
    return -1;
  for (int i = 0; i < count; i++)
    if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
      return i;
  return -1;
}

int mlproto_channel_from_name(mlproto_channel *out, const char *s, size_t len) {
  int i = name_lookup(channel_names, MLPROTO_CHANNEL__COUNT, s, len);
  if (i < 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = (mlproto_channel)(i + 1);
  return MLPROTO_OK;
}

int mlproto_outcome_from_name(mlproto_outcome *out, const char *s, size_t len) {
  int i = name_lookup(outcome_names, MLPROTO_OUTCOME__COUNT, s, len);
  if (i < 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = (mlproto_outcome)(i + 1);
  return MLPROTO_OK;
}

/* ------------------------------------------------------- rule and grant */

void mlproto_rule_default(mlproto_rule *r) { *r = (mlproto_rule)MLPROTO_RULE_INIT; }

int mlproto_rule_validate(const mlproto_rule *r) {
  if (r == NULL || r->period_weeks < 1 || r->period_weeks > 2 || r->contacts_needed < 1 ||
      r->contacts_needed > MLPROTO_RULE_MAX_N || r->channels == 0 ||
      (r->channels & ~MLPROTO_CHANNELS_ALL) != 0 || r->min_minutes > MLPROTO_CONTACT_MAX_MINUTES ||
      r->min_working_days > 5 * r->period_weeks || r->grace_days > MLPROTO_RULE_MAX_DAYS ||
      r->late_days > MLPROTO_RULE_MAX_DAYS)
    return MLPROTO_ERR_BAD_RULE;
  return MLPROTO_OK;
}

int mlproto_grant_max_end(mlproto_date *out, mlproto_date start) {
  int y, m, d;
  if (mlproto_date_to_ymd(start, &y, &m, &d) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_DATE;
  m += 6;
  if (m > 12) {
    m -= 12;
    y++;
  }
  mlproto_date same_day;
  int dim = mlproto_days_in_month(y, m);
  if (d > dim)
    return mlproto_date_from_ymd(out, y, m, dim);
  int rc = mlproto_date_from_ymd(&same_day, y, m, d);
  if (rc == MLPROTO_OK)
    *out = same_day - 1;
  return rc;
}

/* 1980-01-01 and 9998-12-31: periods, grace and local midnights stay in the
 * range where Copenhagen time is modelled. */
#define GRANT_DATE_MIN 3652
#define GRANT_DATE_MAX 2932531

int mlproto_grant_validate(const mlproto_grant *g) {
  if (g == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (g->start < GRANT_DATE_MIN || g->start > GRANT_DATE_MAX || g->end < GRANT_DATE_MIN ||
      g->end > GRANT_DATE_MAX)
    return MLPROTO_ERR_BAD_DATE;
  if (g->closed != MLPROTO_DATE_NONE && !mlproto_date_valid(g->closed))
    return MLPROTO_ERR_BAD_DATE;
  mlproto_date max_end;
  int rc = mlproto_grant_max_end(&max_end, g->start);
  if (rc != MLPROTO_OK)
    return rc;
  if (g->end < g->start || g->end > max_end)
    return MLPROTO_ERR_BAD_PERIOD;
  if ((rc = mlproto_rule_validate(&g->rule)) != MLPROTO_OK)
    return rc;
  if (g->granted_minutes_per_week > 7 * 24 * 60)
    return MLPROTO_ERR_OUT_OF_RANGE;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------ entry flags */

/* later - earlier > days * 1 day, without overflow for any int64 pair. */
static int more_than_days_after(int64_t earlier, int64_t later, uint32_t days) {
  if (later <= earlier)
    return 0;
  return (uint64_t)later - (uint64_t)earlier > (uint64_t)days * (uint64_t)MLPROTO_MS_PER_DAY;
}

int mlproto_late_entry(int64_t start_ms, int64_t recorded_at_ms, uint32_t late_days) {
  return more_than_days_after(start_ms, recorded_at_ms, late_days);
}

int mlproto_late_sync(int64_t recorded_at_ms, int64_t received_at_ms, uint32_t late_days) {
  return received_at_ms != 0 && more_than_days_after(recorded_at_ms, received_at_ms, late_days);
}

/* ------------------------------------------------------------ the engine */

struct span {
  mlproto_date from, to;
};

static int span_cmp(const void *pa, const void *pb) {
  const struct span *a = pa, *b = pb;
  if (a->from != b->from)
    return a->from < b->from ? -1 : 1;
  return (a->to > b->to) - (a->to < b->to);
}

/* Disjoint sorted spans: binary search. */
static int in_spans(const struct span *s, size_t n, mlproto_date d) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s[mid].to < d)
      lo = mid + 1;
    else if (s[mid].from > d)
      hi = mid;
    else
      return 1;
  }
  return 0;
}

struct cur {
  const mlproto_contact *c;
  size_t idx;
  int conflict;
};

static int cur_cmp(const void *pa, const void *pb) {
  const struct cur *a = pa, *b = pb;
  if (a->c->start_ms != b->c->start_ms)
    return a->c->start_ms < b->c->start_ms ? -1 : 1;
  return memcmp(a->c->item.record_id, b->c->item.record_id, 16);
}

static int validate_contact(const mlproto_contact *c) {
  if ((int)c->channel < 1 || (int)c->channel > MLPROTO_CHANNEL__COUNT || (int)c->outcome < 1 ||
      (int)c->outcome > MLPROTO_OUTCOME__COUNT)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_date d;
  if (mlproto_cph_date(&d, c->start_ms) != MLPROTO_OK)
    return MLPROTO_ERR_FIELD_RANGE;
  if (c->end_ms != 0) {
    if (c->end_ms < c->start_ms ||
        (c->end_ms - c->start_ms) / 60000 > MLPROTO_CONTACT_MAX_MINUTES)
      return MLPROTO_ERR_FIELD_RANGE;
  } else if (c->duration_minutes > MLPROTO_CONTACT_MAX_MINUTES) {
    return MLPROTO_ERR_FIELD_RANGE;
  }
  if (c->transport_minutes > MLPROTO_CONTACT_MAX_MINUTES || c->recorded_at_ms < 0 ||
      c->received_at_ms < 0)
    return MLPROTO_ERR_FIELD_RANGE;
  return MLPROTO_OK;
}

/* Local date of an instant already checked by validate_contact(). */
static mlproto_date local_date_of(int64_t ms) {
  mlproto_localtime lt;
  return mlproto_cph_from_unix_ms(&lt, ms) == MLPROTO_OK ? lt.date : MLPROTO_DATE_NONE;
}

static uint32_t contact_minutes(const mlproto_contact *c) {
  if (c->end_ms != 0)
    return (uint32_t)((c->end_ms - c->start_ms) / 60000);
  return c->duration_minutes;
}

static size_t align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

static int month_index(mlproto_date first_month_day, mlproto_date d) {
  int y0, m0, y, m;
  (void)mlproto_date_to_ymd(first_month_day, &y0, &m0, NULL);
  (void)mlproto_date_to_ymd(d, &y, &m, NULL);
  return (y - y0) * 12 + (m - m0);
}

int mlproto_compliance_compute(mlproto_compliance **out, const mlproto_grant *grant,
                               const mlproto_contact *contacts, size_t n_contacts,
                               const mlproto_absence *absences, size_t n_absences,
                               int64_t now_ms) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (grant == NULL || (n_contacts > 0 && contacts == NULL) ||
      (n_absences > 0 && absences == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (n_contacts > MLPROTO_COMPLIANCE_MAX_CONTACTS || n_absences > MLPROTO_COMPLIANCE_MAX_ABSENCES)
    return MLPROTO_ERR_TOO_LARGE;
  int rc = mlproto_grant_validate(grant);
  if (rc != MLPROTO_OK)
    return rc;
  for (size_t i = 0; i < n_absences; i++) {
    if (!mlproto_date_valid(absences[i].from) || !mlproto_date_valid(absences[i].to))
      return MLPROTO_ERR_BAD_DATE;
    if (absences[i].to < absences[i].from)
      return MLPROTO_ERR_BAD_PERIOD;
  }
  for (size_t i = 0; i < n_contacts; i++)
    if ((rc = validate_contact(&contacts[i])) != MLPROTO_OK)
      return rc;

  const mlproto_rule *rule = &grant->rule;
  const mlproto_date S = grant->start;
  const mlproto_date E = grant->closed != MLPROTO_DATE_NONE && grant->closed < grant->end
                             ? grant->closed
                             : grant->end;
  const mlproto_date mon = mlproto_date_monday(S);
  const int64_t plen = 7 * (int64_t)rule->period_weeks;
  const int have_days = E >= S;
  const size_t n_periods = have_days ? (size_t)((E - mon) / plen + 1) : 0;
  const size_t n_weeks = have_days ? (size_t)((E - mon) / 7 + 1) : 0;
  mlproto_date first_month = MLPROTO_DATE_NONE;
  size_t n_months = 0;
  if (have_days) {
    int day;
    (void)mlproto_date_to_ymd(S, NULL, NULL, &day);
    first_month = S - (day - 1);
    n_months = (size_t)month_index(first_month, E) + 1;
  }

  mlproto_heads *heads = NULL;
  struct span *spans = NULL;
  struct cur *cur = NULL;
  rc = mlproto__heads_compute_strided(&heads, contacts, sizeof *contacts, n_contacts);
  if (rc != MLPROTO_OK)
    return rc;
  rc = MLPROTO_ERR_OUT_OF_MEMORY;
  spans = mlproto_calloc(n_absences ? n_absences : 1, sizeof *spans);
  cur = mlproto_calloc(heads->n_groups ? heads->n_groups : 1, sizeof *cur);
  if (spans == NULL || cur == NULL)
    goto free_tmp;

  /* Approved absences clipped to [S, E], merged into disjoint spans. */
  size_t n_spans = 0;
  for (size_t i = 0; i < n_absences; i++) {
    const mlproto_absence *a = &absences[i];
    if (!a->approved || a->to < S || a->from > E)
      continue;
    spans[n_spans++] = (struct span){a->from < S ? S : a->from, a->to > E ? E : a->to};
  }
  qsort(spans, n_spans, sizeof *spans, span_cmp);
  size_t merged = 0;
  for (size_t i = 0; i < n_spans; i++) {
    if (merged > 0 && (int64_t)spans[i].from <= (int64_t)spans[merged - 1].to + 1) {
      if (spans[i].to > spans[merged - 1].to)
        spans[merged - 1].to = spans[i].to;
    } else {
      spans[merged++] = spans[i];
    }
  }
  n_spans = merged;

  /* Current contacts: representatives of non-voided items. */
  size_t n_cur = 0, n_conflicts = 0, conflict_idx = 0;
  for (size_t g = 0; g < heads->n_groups; g++) {
    const mlproto_head_group *hg = &heads->groups[g];
    int conflict = hg->n_heads != 1;
    if (conflict) {
      n_conflicts++;
      conflict_idx += hg->n_heads + hg->n_versions;
    }
    if (contacts[hg->representative].voided)
      continue;
    cur[n_cur++] = (struct cur){&contacts[hg->representative], hg->representative, conflict};
  }
  qsort(cur, n_cur, sizeof *cur, cur_cmp);

  /* One block for the whole result. */
  size_t off_periods = align8(sizeof(mlproto_compliance));
  size_t off_missed = off_periods + align8(n_periods * sizeof(mlproto_period));
  size_t off_weeks = off_missed + align8(n_periods * sizeof(uint32_t));
  size_t off_months = off_weeks + align8(n_weeks * sizeof(mlproto_week_hours));
  size_t off_contacts = off_months + align8(n_months * sizeof(mlproto_month_billing));
  size_t off_conflicts = off_contacts + align8(n_cur * sizeof(mlproto_contact_result));
  size_t off_cidx = off_conflicts + align8(n_conflicts * sizeof(mlproto_head_group));
  size_t total = off_cidx + align8(conflict_idx * sizeof(size_t));
  char *blk = mlproto_malloc(total);
  if (blk == NULL)
    goto free_tmp;
  memset(blk, 0, total);
  mlproto_compliance *res = (mlproto_compliance *)blk;
  mlproto_period *periods = (mlproto_period *)(blk + off_periods);
  uint32_t *missed = (uint32_t *)(blk + off_missed);
  mlproto_week_hours *weeks = (mlproto_week_hours *)(blk + off_weeks);
  mlproto_month_billing *months = (mlproto_month_billing *)(blk + off_months);
  mlproto_contact_result *cres = (mlproto_contact_result *)(blk + off_contacts);
  mlproto_head_group *conflicts = (mlproto_head_group *)(blk + off_conflicts);
  size_t *cidx = (size_t *)(blk + off_cidx);

  res->effective_end = have_days ? E : MLPROTO_DATE_NONE;
  res->last_contact_date = MLPROTO_DATE_NONE;

  /* Calendar of each period. */
  for (size_t k = 0; k < n_periods; k++) {
    mlproto_period *p = &periods[k];
    p->k = (uint32_t)k;
    p->start = (mlproto_date)(mon + plen * (int64_t)k);
    p->end = (mlproto_date)(p->start + plen - 1);
    p->n_weeks = rule->period_weeks;
    for (uint32_t w = 0; w < p->n_weeks; w++)
      (void)mlproto_isoweek_label(p->weeks[w], p->start + 7 * (mlproto_date)w);
    p->cut = p->start < S || p->end > E;
    uint32_t wd_cut = 0;
    for (mlproto_date d = p->start; d <= p->end; d++) {
      if (d < S || d > E)
        continue;
      int working = mlproto_is_working_day(d);
      wd_cut += (uint32_t)working;
      if (in_spans(spans, n_spans, d)) {
        p->absence_reduced = 1;
        continue;
      }
      p->in_scope_days++;
      p->working_days += (uint32_t)working;
    }
    /* Definition 7: K applies to cut periods only; a full period needs
     * one in-scope day whatever absences and holidays leave of it. */
    if (p->in_scope_days == 0)
      p->reason = MLPROTO_NA_ABSENCE;
    else if (p->cut && p->working_days < rule->min_working_days)
      p->reason = wd_cut < rule->min_working_days ? MLPROTO_NA_PARTIAL : MLPROTO_NA_ABSENCE;
    int64_t final_at;
    if (mlproto_cph_day_start_ms(&final_at, p->end + 1 + (mlproto_date)rule->grace_days) !=
        MLPROTO_OK) {
      rc = MLPROTO_ERR_INTERNAL; /* excluded by the grant's date range */
      mlproto_free(blk);
      goto free_tmp;
    }
    p->final_at_ms = final_at;
  }

  for (size_t w = 0; w < n_weeks; w++) {
    mlproto_week_hours *wk = &weeks[w];
    wk->monday = (mlproto_date)(mon + 7 * (mlproto_date)w);
    (void)mlproto_isoweek_label(wk->week, wk->monday);
    for (mlproto_date d = wk->monday; d < wk->monday + 7; d++)
      wk->days_in_grant += (uint32_t)(d >= S && d <= E);
    wk->minutes_granted =
        ((uint64_t)grant->granted_minutes_per_week * wk->days_in_grant * 2 + 7) / 14;
    res->totals.minutes_granted += wk->minutes_granted;
  }
  int64_t d = first_month;
  for (size_t m = 0; m < n_months; m++) {
    int y, mo;
    (void)mlproto_month_format(months[m].month, (mlproto_date)d);
    (void)mlproto_date_to_ymd((mlproto_date)d, &y, &mo, NULL);
    d += mlproto_days_in_month(y, mo);
  }

  /* Contacts. */
  for (size_t i = 0; i < n_cur; i++) {
    const mlproto_contact *c = cur[i].c;
    mlproto_contact_result *r = &cres[i];
    r->index = cur[i].idx;
    r->local_date = local_date_of(c->start_ms);
    r->minutes = contact_minutes(c);
    r->conflict = cur[i].conflict;
    r->late_entry = mlproto_late_entry(c->start_ms, c->recorded_at_ms, rule->late_days);
    r->late_sync = mlproto_late_sync(c->recorded_at_ms, c->received_at_ms, rule->late_days);
    res->late_entries += (uint32_t)r->late_entry;
    res->late_syncs += (uint32_t)r->late_sync;
    r->period = -1;
    if (r->local_date < S || r->local_date > E)
      continue;
    mlproto_period *p = &periods[(r->local_date - mon) / plen];
    r->period = (int32_t)p->k;
    r->in_absence = in_spans(spans, n_spans, r->local_date);
    const int held = c->outcome == MLPROTO_OUTCOME_HELD;
    r->qualifies = held && (rule->channels & MLPROTO_CHANNEL_BIT(c->channel)) != 0 &&
                   r->minutes >= rule->min_minutes && c->by_grant_mentor && !r->in_absence;
    r->attempt = !r->qualifies && (held || c->outcome == MLPROTO_OUTCOME_ATTEMPT_FAILED ||
                                   c->outcome == MLPROTO_OUTCOME_NO_SHOW ||
                                   c->outcome == MLPROTO_OUTCOME_CANCELLED_BY_CITIZEN);
    p->qualifying += (uint32_t)r->qualifies;
    p->attempts += (uint32_t)r->attempt;
    mlproto_month_billing *mb = &months[month_index(first_month, r->local_date)];
    mb->transport_minutes += c->transport_minutes;
    res->totals.transport_minutes += c->transport_minutes;
    if (held) {
      p->minutes_held += r->minutes;
      weeks[(r->local_date - mon) / 7].minutes_held += r->minutes;
      mb->billable_minutes += r->minutes;
      mb->held_contacts++;
      res->totals.minutes_held += r->minutes;
      if (res->last_contact_date == MLPROTO_DATE_NONE || r->local_date > res->last_contact_date)
        res->last_contact_date = r->local_date;
    }
  }

  /* Statuses, first match wins (definition 7). */
  for (size_t k = 0; k < n_periods; k++) {
    mlproto_period *p = &periods[k];
    if (p->qualifying >= rule->contacts_needed) {
      p->status = MLPROTO_PERIOD_MET;
      p->reason = MLPROTO_NA_NONE;
    } else if (p->reason != MLPROTO_NA_NONE) {
      p->status = MLPROTO_PERIOD_NOT_ASSESSABLE;
    } else if (now_ms < p->final_at_ms) {
      p->status = MLPROTO_PERIOD_PENDING;
    } else {
      p->status = p->attempts > 0 ? MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS : MLPROTO_PERIOD_MISSED;
    }
    switch (p->status) {
    case MLPROTO_PERIOD_MET:
      res->totals.met++;
      res->totals.assessable_final++;
      break;
    case MLPROTO_PERIOD_NOT_ASSESSABLE:
      res->totals.not_assessable++;
      break;
    case MLPROTO_PERIOD_PENDING:
      res->totals.pending++;
      break;
    case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS:
    case MLPROTO_PERIOD_MISSED:
      res->totals.assessable_final++;
      missed[res->totals.n_missed++] = (uint32_t)k;
      break;
    }
  }

  /* Conflicts, with their index lists copied out of the heads block. */
  size_t cpos = 0, nc = 0;
  for (size_t g = 0; g < heads->n_groups; g++) {
    const mlproto_head_group *hg = &heads->groups[g];
    if (hg->n_heads == 1)
      continue;
    mlproto_head_group *o = &conflicts[nc++];
    *o = *hg;
    memcpy(cidx + cpos, hg->heads, hg->n_heads * sizeof(size_t));
    o->heads = cidx + cpos;
    cpos += hg->n_heads;
    memcpy(cidx + cpos, hg->versions, hg->n_versions * sizeof(size_t));
    o->versions = cidx + cpos;
    cpos += hg->n_versions;
  }

  res->n_periods = n_periods;
  res->periods = periods;
  res->totals.missed = missed;
  res->n_weeks = n_weeks;
  res->weeks = weeks;
  res->n_months = n_months;
  res->months = months;
  res->n_contacts = n_cur;
  res->contacts = cres;
  res->n_conflicts = n_conflicts;
  res->conflicts = conflicts;
  *out = res;
  rc = MLPROTO_OK;

free_tmp:
  mlproto_free(cur);
  mlproto_free(spans);
  mlproto_heads_free(heads);
  return rc;
}

void mlproto_compliance_free(mlproto_compliance *c) { mlproto_free(c); }
