/* report_doc.c — the JSON and CSV documents of the jobcentre's reports
 * (mlproto/report.h; the fields are specified in docs/reports.md). Every
 * byte goes through the one writer (mlproto/json.h). */
#include "mlproto/errors.h"
#include "mlproto/json.h"
#include "mlproto/report.h"
#include "report_int.h"

#include <string.h>

/* ------------------------------------------------------------- helpers */

int mlproto__date_in(mlproto_date d, mlproto_date from, mlproto_date to) {
  return (from == MLPROTO_DATE_NONE || d >= from) && (to == MLPROTO_DATE_NONE || d <= to);
}

int mlproto__span_meets(mlproto_date s, mlproto_date e, mlproto_date from, mlproto_date to) {
  return (from == MLPROTO_DATE_NONE || e >= from) && (to == MLPROTO_DATE_NONE || s <= to);
}

const char *mlproto__grant_state(const mlproto_grant_report *g) {
  if (g->erased)
    return "ERASED";
  if (g->invalid)
    return "INVALID";
  return g->grant.closed != MLPROTO_DATE_NONE ? "CLOSED" : "OPEN";
}

/* The figures of one grant over [from, to] (docs/reports.md). */
void mlproto__report_figures(mlproto__range_figures *f, const mlproto_grant_report *g,
                             mlproto_date from, mlproto_date to) {
  memset(f, 0, sizeof *f);
  f->last_contact = MLPROTO_DATE_NONE;
  const mlproto_compliance *c = g->compliance;
  if (c == NULL)
    return;
  for (size_t k = 0; k < c->n_periods; k++) {
    const mlproto_period *p = &c->periods[k];
    if (!mlproto__span_meets(p->start, p->end, from, to))
      continue;
    f->periods++;
    switch (p->status) {
    case MLPROTO_PERIOD_MET: f->met++; break;
    case MLPROTO_PERIOD_MISSED: f->missed++; break;
    case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS: f->missed_with_attempts++; break;
    case MLPROTO_PERIOD_PENDING: f->pending++; break;
    case MLPROTO_PERIOD_NOT_ASSESSABLE: f->not_assessable++; break;
    }
  }
  for (size_t w = 0; w < c->n_weeks; w++) {
    const mlproto_week_hours *wh = &c->weeks[w];
    if (!mlproto__span_meets(wh->monday, wh->monday + 6, from, to))
      continue;
    f->minutes_held += wh->minutes_held;
    f->minutes_granted += wh->minutes_granted;
  }
  for (size_t i = 0; i < g->n_contacts; i++) {
    const mlproto_report_contact *x = &g->contacts[i];
    if (x->period >= 0 && x->outcome == MLPROTO_OUTCOME_HELD &&
        (to == MLPROTO_DATE_NONE || x->local_date <= to) &&
        (f->last_contact == MLPROTO_DATE_NONE || x->local_date > f->last_contact))
      f->last_contact = x->local_date;
    if (!mlproto__date_in(x->local_date, from, to))
      continue;
    f->contacts++;
    f->late_entries += (uint32_t)x->late_entry;
    f->late_syncs += (uint32_t)x->late_sync;
    f->conflicts += (uint32_t)x->conflict;
    if (x->period >= 0)
      f->transport_minutes += x->transport_minutes;
  }
}

static void json_meta(mlproto_json *j, const char *kind, const mlproto_report_meta *m) {
  mlproto_json_kstr(j, "report", kind);
  mlproto_json_kstr(j, "jobcentre", m->jobcentre_id);
  mlproto_json_key(j, "checkpoint");
  mlproto_json_obj(j);
  mlproto_json_kstr(j, "origin", m->origin);
  mlproto_json_ku64(j, "size", m->checkpoint_size);
  mlproto_json_khex(j, "root", m->checkpoint_root, 32);
  mlproto_json_end(j);
  mlproto_json_ktime_ms(j, "generated_at", (uint64_t)m->generated_at_ms);
}

/* A grant's jobcentre, in a document of every jobcentre only (NULL: none
 * survived an erasure). */
static const char *grant_jobcentre(const mlproto_grant_report *g) {
  return g->jobcentre_id[0] ? g->jobcentre_id : NULL;
}

static void json_grant_ids(mlproto_json *j, const mlproto_grant_report *g,
                           const mlproto_report_meta *m) {
  mlproto_json_khex(j, "grant_id", g->grant_id, 16);
  mlproto_json_khex(j, "case_id", g->case_id, 16);
  if (m->jobcentre_id == NULL)
    mlproto_json_kstr(j, "jobcentre", grant_jobcentre(g));
  mlproto_json_kstr(j, "case_ref", g->case_ref);
  mlproto_json_kstr(j, "legal_basis", g->legal_basis);
  mlproto_json_kstr(j, "state", mlproto__grant_state(g));
  if (g->invalid)
    mlproto_json_kstr(j, "invalid_code", mlproto_errname(g->invalid));
}

static void json_rule(mlproto_json *j, const mlproto_rule *r) {
  mlproto_json_key(j, "rule");
  mlproto_json_obj(j);
  mlproto_json_ku64(j, "period_weeks", r->period_weeks);
  mlproto_json_ku64(j, "contacts_needed", r->contacts_needed);
  mlproto_json_key(j, "channels");
  mlproto_json_arr(j);
  for (int ch = 1; ch <= (int)MLPROTO_CHANNEL__COUNT; ch++)
    if (r->channels & MLPROTO_CHANNEL_BIT(ch))
      mlproto_json_str(j, mlproto_channel_name(ch));
  mlproto_json_end(j);
  mlproto_json_ku64(j, "min_minutes", r->min_minutes);
  mlproto_json_ku64(j, "partial_days", r->min_working_days);
  mlproto_json_ku64(j, "grace_days", r->grace_days);
  mlproto_json_ku64(j, "late_days", r->late_days);
  mlproto_json_end(j);
}

static void json_period(mlproto_json *j, const mlproto_period *p) {
  mlproto_json_obj(j);
  mlproto_json_ku64(j, "k", p->k);
  mlproto_json_kdate(j, "start", p->start);
  mlproto_json_kdate(j, "end", p->end);
  mlproto_json_key(j, "weeks");
  mlproto_json_arr(j);
  for (uint32_t w = 0; w < p->n_weeks && w < 2; w++)
    mlproto_json_str(j, p->weeks[w]);
  mlproto_json_end(j);
  mlproto_json_kstr(j, "status", mlproto_period_status_name(p->status));
  if (p->reason != MLPROTO_NA_NONE)
    mlproto_json_kstr(j, "reason", mlproto_na_reason_name(p->reason));
  else {
    mlproto_json_key(j, "reason");
    mlproto_json_null(j);
  }
  mlproto_json_kbool(j, "cut", p->cut);
  mlproto_json_ku64(j, "qualifying", p->qualifying);
  mlproto_json_ku64(j, "attempts", p->attempts);
  mlproto_json_ku64(j, "minutes_held", p->minutes_held);
  mlproto_json_ku64(j, "working_days", p->working_days);
  mlproto_json_ktime_ms(j, "final_at", (uint64_t)p->final_at_ms);
  mlproto_json_end(j);
}

static int is_missed(mlproto_period_status s) {
  return s == MLPROTO_PERIOD_MISSED || s == MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS;
}

static void json_compliance_grant(mlproto_json *j, const mlproto_grant_report *g,
                                  const mlproto_report_meta *m) {
  mlproto_json_obj(j);
  json_grant_ids(j, g, m);
  const mlproto_compliance *c = g->compliance;
  if (c != NULL) {
    mlproto_json_kdate(j, "start", g->grant.start);
    mlproto_json_kdate(j, "end", g->grant.end);
    mlproto_json_kdate(j, "closed", g->grant.closed);
    mlproto_json_kdate(j, "effective_end", c->effective_end);
    json_rule(j, &g->grant.rule);
    mlproto_json_ku64(j, "granted_minutes_per_week", g->grant.granted_minutes_per_week);
    mlproto_json_kbool(j, "grant_conflict", g->grant_conflict);
    mlproto__range_figures f;
    mlproto__report_figures(&f, g, m->from, m->to);
    mlproto_json_key(j, "periods");
    mlproto_json_arr(j);
    for (size_t k = 0; k < c->n_periods; k++)
      if (mlproto__span_meets(c->periods[k].start, c->periods[k].end, m->from, m->to))
        json_period(j, &c->periods[k]);
    mlproto_json_end(j);
    mlproto_json_key(j, "missed");
    mlproto_json_arr(j);
    for (size_t k = 0; k < c->n_periods; k++) {
      const mlproto_period *p = &c->periods[k];
      if (is_missed(p->status) && mlproto__span_meets(p->start, p->end, m->from, m->to))
        mlproto_json_u64(j, p->k);
    }
    mlproto_json_end(j);
    mlproto_json_key(j, "totals");
    mlproto_json_obj(j);
    mlproto_json_ku64(j, "periods", f.periods);
    mlproto_json_ku64(j, "met", f.met);
    mlproto_json_ku64(j, "missed", f.missed);
    mlproto_json_ku64(j, "missed_with_attempts", f.missed_with_attempts);
    mlproto_json_ku64(j, "pending", f.pending);
    mlproto_json_ku64(j, "not_assessable", f.not_assessable);
    mlproto_json_ku64(j, "minutes_held", f.minutes_held);
    mlproto_json_ku64(j, "minutes_granted", f.minutes_granted);
    mlproto_json_ku64(j, "transport_minutes", f.transport_minutes);
    mlproto_json_ku64(j, "contacts", f.contacts);
    mlproto_json_ku64(j, "late_entries", f.late_entries);
    mlproto_json_ku64(j, "late_syncs", f.late_syncs);
    mlproto_json_ku64(j, "conflicts", f.conflicts);
    mlproto_json_kdate(j, "last_contact", f.last_contact);
    mlproto_json_end(j);
  }
  mlproto_json_end(j);
}

static void json_range(mlproto_json *j, const mlproto_report_meta *m) {
  mlproto_json_kdate(j, "from", m->from);
  mlproto_json_kdate(j, "to", m->to);
}

static void csv_checkpoint(mlproto_csv *c, const mlproto_report_meta *m) {
  mlproto_csv_u64(c, m->checkpoint_size);
  mlproto_csv_hex(c, m->checkpoint_root, 32);
}

static void csv_header(mlproto_csv *c, const char *const *names) {
  for (; *names; names++)
    mlproto_csv_str(c, *names);
  mlproto_csv_row(c);
}

/* ---------------------------------------------------------- compliance */

static const char *const COMPLIANCE_COLUMNS[] = {
    "grant_id", "case_ref", "legal_basis", "state", "grant_start", "grant_end",
    "effective_end", "period", "period_start", "period_end", "weeks", "status", "reason",
    "qualifying", "attempts", "period_minutes_held", "grant_minutes_held",
    "grant_minutes_granted", "late_entries", "late_syncs", "conflicts", "last_contact",
    "checkpoint_size", "checkpoint_root", NULL};
/* The same with the grant's jobcentre after its id (a document of every
 * jobcentre: mentorlog-audit report). */
static const char *const COMPLIANCE_COLUMNS_EVERY_JOBCENTRE[] = {
    "grant_id", "jobcentre", "case_ref", "legal_basis", "state", "grant_start", "grant_end",
    "effective_end", "period", "period_start", "period_end", "weeks", "status", "reason",
    "qualifying", "attempts", "period_minutes_held", "grant_minutes_held",
    "grant_minutes_granted", "late_entries", "late_syncs", "conflicts", "last_contact",
    "checkpoint_size", "checkpoint_root", NULL};

/* The grant's first columns: its id, and in a document of every jobcentre
 * its jobcentre. */
static void csv_grant_id(mlproto_csv *c, const mlproto_grant_report *g,
                         const mlproto_report_meta *m) {
  mlproto_csv_hex(c, g->grant_id, 16);
  if (m->jobcentre_id == NULL)
    mlproto_csv_str(c, grant_jobcentre(g));
}

static void csv_compliance_grant(mlproto_csv *c, const mlproto_grant_report *g,
                                 const mlproto_report_meta *m) {
  mlproto__range_figures f;
  mlproto__report_figures(&f, g, m->from, m->to);
  const mlproto_compliance *cp = g->compliance;
  int rows = 0;
  for (size_t k = 0; cp && k <= cp->n_periods; k++) {
    const mlproto_period *p = k < cp->n_periods ? &cp->periods[k] : NULL;
    if (p ? !mlproto__span_meets(p->start, p->end, m->from, m->to) : rows > 0)
      continue;
    rows++;
    csv_grant_id(c, g, m);
    mlproto_csv_str(c, g->case_ref);
    mlproto_csv_str(c, g->legal_basis);
    mlproto_csv_str(c, mlproto__grant_state(g));
    mlproto_csv_date(c, g->grant.start);
    mlproto_csv_date(c, g->grant.end);
    mlproto_csv_date(c, cp->effective_end);
    if (p) {
      char weeks[2 * MLPROTO_ISOWEEK_STRLEN + 1] = "";
      strcpy(weeks, p->weeks[0]);
      if (p->n_weeks > 1) {
        strcat(weeks, " ");
        strcat(weeks, p->weeks[1]);
      }
      mlproto_csv_u64(c, p->k);
      mlproto_csv_date(c, p->start);
      mlproto_csv_date(c, p->end);
      mlproto_csv_str(c, weeks);
      mlproto_csv_str(c, mlproto_period_status_name(p->status));
      mlproto_csv_str(c, p->reason != MLPROTO_NA_NONE ? mlproto_na_reason_name(p->reason) : "");
      mlproto_csv_u64(c, p->qualifying);
      mlproto_csv_u64(c, p->attempts);
      mlproto_csv_u64(c, p->minutes_held);
    } else { /* a grant with no period in the range: one row of its totals */
      for (int e = 0; e < 9; e++)
        mlproto_csv_str(c, NULL);
    }
    mlproto_csv_u64(c, f.minutes_held);
    mlproto_csv_u64(c, f.minutes_granted);
    mlproto_csv_u64(c, f.late_entries);
    mlproto_csv_u64(c, f.late_syncs);
    mlproto_csv_u64(c, f.conflicts);
    mlproto_csv_date(c, f.last_contact);
    csv_checkpoint(c, m);
    mlproto_csv_row(c);
  }
  if (cp == NULL) { /* erased or invalid: one row that says so */
    csv_grant_id(c, g, m);
    mlproto_csv_str(c, g->case_ref);
    mlproto_csv_str(c, g->legal_basis);
    mlproto_csv_str(c, mlproto__grant_state(g));
    for (int e = 0; e < 18; e++)
      mlproto_csv_str(c, NULL);
    csv_checkpoint(c, m);
    mlproto_csv_row(c);
  }
}

int mlproto_report_compliance_slice(mlproto_buf *out, int format, const mlproto_report_meta *m,
                                    const mlproto_grant_report *const *g, size_t n, size_t lo,
                                    size_t hi) {
  if (out == NULL || m == NULL || (n > 0 && g == NULL) || lo > hi || hi > n)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (format == MLPROTO_REPORT_CSV) {
    mlproto_csv c;
    mlproto_csv_init(&c, out);
    if (lo == 0)
      csv_header(&c, m->jobcentre_id ? COMPLIANCE_COLUMNS : COMPLIANCE_COLUMNS_EVERY_JOBCENTRE);
    for (size_t i = lo; i < hi; i++)
      csv_compliance_grant(&c, g[i], m);
    return mlproto_csv_finish(&c);
  }
  /* A later slice: the writer is brought to where the one writer stands
   * after grant lo - 1 by writing the head into a scratch buffer; its
   * state (depth, commas) is then the one writer's. */
  mlproto_buf scratch;
  mlproto_buf_init(&scratch, 4096);
  mlproto_json j;
  mlproto_json_init(&j, lo == 0 ? out : &scratch);
  mlproto_json_obj(&j);
  json_meta(&j, "compliance", m);
  json_range(&j, m);
  mlproto_json_key(&j, "grants");
  mlproto_json_arr(&j);
  if (lo > 0) {
    int rc = j.err;
    mlproto_buf_free(&scratch);
    if (rc)
      return rc;
    j.out = out;
    j.has_item[j.depth - 1] = 1; /* grants [0, lo) are in the array */
  }
  for (size_t i = lo; i < hi; i++)
    json_compliance_grant(&j, g[i], m);
  if (hi < n)
    return j.err;
  mlproto_json_end(&j);
  mlproto_json_end(&j);
  return mlproto_json_finish(&j);
}

int mlproto_report_compliance(mlproto_buf *out, int format, const mlproto_report_meta *m,
                              const mlproto_grant_report *const *g, size_t n) {
  return mlproto_report_compliance_slice(out, format, m, g, n, 0, n);
}

/* ------------------------------------------------------------ contacts */

static void json_contact(mlproto_json *j, const mlproto_report_contact *x,
                         const mlproto_compliance *c) {
  mlproto_json_obj(j);
  mlproto_json_khex(j, "record_id", x->record_id, 16);
  mlproto_json_kdate(j, "date", x->local_date);
  mlproto_json_ktime_ms(j, "start", (uint64_t)x->start_ms);
  mlproto_json_ktime_ms(j, "recorded_at", (uint64_t)x->recorded_at_ms);
  mlproto_json_key(j, "received_at");
  if (x->log_index == MLPROTO_REPORT_NOT_LOGGED)
    mlproto_json_null(j);
  else
    mlproto_json_time_ms(j, x->received_at_ms);
  mlproto_json_key(j, "log_index");
  if (x->log_index == MLPROTO_REPORT_NOT_LOGGED)
    mlproto_json_null(j);
  else
    mlproto_json_u64(j, x->log_index);
  mlproto_json_kstr(j, "channel", mlproto_channel_name(x->channel));
  mlproto_json_kstr(j, "outcome", mlproto_outcome_name(x->outcome));
  mlproto_json_ku64(j, "duration_minutes", x->duration_minutes);
  mlproto_json_ku64(j, "minutes", x->minutes);
  mlproto_json_ku64(j, "transport_minutes", x->transport_minutes);
  mlproto_json_key(j, "period");
  if (x->period >= 0 && c && (size_t)x->period < c->n_periods)
    mlproto_json_u64(j, (uint64_t)x->period);
  else
    mlproto_json_null(j);
  mlproto_json_kbool(j, "qualifies", x->qualifies);
  mlproto_json_kbool(j, "attempt", x->attempt);
  mlproto_json_kbool(j, "in_absence", x->in_absence);
  mlproto_json_kbool(j, "late_entry", x->late_entry);
  mlproto_json_kbool(j, "late_sync", x->late_sync);
  mlproto_json_kbool(j, "conflict", x->conflict);
  mlproto_json_end(j);
}

static const char *const CONTACT_COLUMNS[] = {
    "grant_id", "case_ref", "record_id", "date", "start", "recorded_at", "received_at",
    "log_index", "channel", "outcome", "duration_minutes", "minutes", "transport_minutes",
    "period", "qualifies", "attempt", "in_absence", "late_entry", "late_sync", "conflict",
    "checkpoint_size", "checkpoint_root", NULL};

static void csv_flag(mlproto_csv *c, int v) { mlproto_csv_u64(c, v ? 1 : 0); }

static void csv_contact(mlproto_csv *c, const mlproto_grant_report *g,
                        const mlproto_report_contact *x, const mlproto_report_meta *m) {
  mlproto_csv_hex(c, g->grant_id, 16);
  mlproto_csv_str(c, g->case_ref);
  mlproto_csv_hex(c, x->record_id, 16);
  mlproto_csv_date(c, x->local_date);
  mlproto_csv_time_ms(c, (uint64_t)x->start_ms);
  mlproto_csv_time_ms(c, (uint64_t)x->recorded_at_ms);
  int logged = x->log_index != MLPROTO_REPORT_NOT_LOGGED;
  if (logged) {
    mlproto_csv_time_ms(c, x->received_at_ms);
    mlproto_csv_u64(c, x->log_index);
  } else {
    mlproto_csv_str(c, NULL);
    mlproto_csv_str(c, NULL);
  }
  mlproto_csv_str(c, mlproto_channel_name(x->channel));
  mlproto_csv_str(c, mlproto_outcome_name(x->outcome));
  mlproto_csv_u64(c, x->duration_minutes);
  mlproto_csv_u64(c, x->minutes);
  mlproto_csv_u64(c, x->transport_minutes);
  if (x->period >= 0)
    mlproto_csv_u64(c, (uint64_t)x->period);
  else
    mlproto_csv_str(c, NULL);
  csv_flag(c, x->qualifies);
  csv_flag(c, x->attempt);
  csv_flag(c, x->in_absence);
  csv_flag(c, x->late_entry);
  csv_flag(c, x->late_sync);
  csv_flag(c, x->conflict);
  csv_checkpoint(c, m);
  mlproto_csv_row(c);
}

int mlproto_report_contacts(mlproto_buf *out, int format, const mlproto_report_meta *m,
                            const mlproto_grant_report *g) {
  if (out == NULL || m == NULL || g == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (format == MLPROTO_REPORT_CSV) {
    mlproto_csv c;
    mlproto_csv_init(&c, out);
    csv_header(&c, CONTACT_COLUMNS);
    for (size_t i = 0; i < g->n_contacts; i++)
      if (mlproto__date_in(g->contacts[i].local_date, m->from, m->to))
        csv_contact(&c, g, &g->contacts[i], m);
    return mlproto_csv_finish(&c);
  }
  mlproto_json j;
  mlproto_json_init(&j, out);
  mlproto_json_obj(&j);
  json_meta(&j, "contacts", m);
  json_range(&j, m);
  mlproto_json_key(&j, "grant");
  mlproto_json_obj(&j);
  json_grant_ids(&j, g, m);
  mlproto_json_end(&j);
  mlproto_json_key(&j, "contacts");
  mlproto_json_arr(&j);
  for (size_t i = 0; i < g->n_contacts; i++)
    if (mlproto__date_in(g->contacts[i].local_date, m->from, m->to))
      json_contact(&j, &g->contacts[i], g->compliance);
  mlproto_json_end(&j);
  mlproto_json_end(&j);
  return mlproto_json_finish(&j);
}

/* ----------------------------------------------------------- timesheet */

/* Billable: a current held contact inside the grant's support, dated in the
 * month (the engine's month billing counts exactly these). */
static int billable_in(const mlproto_report_contact *x, mlproto_date first, mlproto_date last) {
  return x->period >= 0 && x->outcome == MLPROTO_OUTCOME_HELD && x->local_date >= first &&
         x->local_date <= last;
}

/* A timesheet lists a contact inside the grant dated in the month that is
 * billable, or carries transport minutes even when it was not held. */
int mlproto__timesheet_listed(const mlproto_report_contact *x, mlproto_date first,
                              mlproto_date last, int *bill) {
  *bill = billable_in(x, first, last);
  return x->period >= 0 && x->local_date >= first && x->local_date <= last &&
         (*bill || x->transport_minutes > 0);
}

mlproto_date mlproto__month_last(mlproto_date first) {
  int y, mo, d;
  if (mlproto_date_to_ymd(first, &y, &mo, &d) != MLPROTO_OK)
    return first;
  return first + mlproto_days_in_month(y, mo) - 1;
}

mlproto__month_sum mlproto__month_of(const mlproto_grant_report *g, mlproto_date first,
                                     mlproto_date last) {
  mlproto__month_sum s = {0, 0, 0};
  for (size_t i = 0; i < g->n_contacts; i++) {
    const mlproto_report_contact *x = &g->contacts[i];
    if (x->period < 0 || x->local_date < first || x->local_date > last)
      continue;
    s.transport += x->transport_minutes; /* as the engine: every contact in the grant */
    if (billable_in(x, first, last)) {
      s.billable += x->minutes;
      s.contacts++;
    }
  }
  return s;
}

static const char *const TIMESHEET_COLUMNS[] = {
    "month", "grant_id", "case_ref", "legal_basis", "record_id", "date", "start", "channel",
    "billable_minutes", "transport_minutes", "log_index", "checkpoint_size", "checkpoint_root",
    NULL};

int mlproto_report_timesheet(mlproto_buf *out, int format, const mlproto_report_meta *m,
                             const mlproto_grant_report *const *g, size_t n) {
  if (out == NULL || m == NULL || (n > 0 && g == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  char month[MLPROTO_MONTH_STRLEN];
  if (mlproto_month_format(month, m->month) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_DATE;
  mlproto_date first = m->month, last = mlproto__month_last(m->month);
  if (format == MLPROTO_REPORT_CSV) {
    mlproto_csv c;
    mlproto_csv_init(&c, out);
    csv_header(&c, TIMESHEET_COLUMNS);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < g[i]->n_contacts; k++) {
        const mlproto_report_contact *x = &g[i]->contacts[k];
        int bill;
        if (!mlproto__timesheet_listed(x, first, last, &bill))
          continue;
        mlproto_csv_str(&c, month);
        mlproto_csv_hex(&c, g[i]->grant_id, 16);
        mlproto_csv_str(&c, g[i]->case_ref);
        mlproto_csv_str(&c, g[i]->legal_basis);
        mlproto_csv_hex(&c, x->record_id, 16);
        mlproto_csv_date(&c, x->local_date);
        mlproto_csv_time_ms(&c, (uint64_t)x->start_ms);
        mlproto_csv_str(&c, mlproto_channel_name(x->channel));
        mlproto_csv_u64(&c, bill ? x->minutes : 0);
        mlproto_csv_u64(&c, x->transport_minutes);
        if (x->log_index != MLPROTO_REPORT_NOT_LOGGED)
          mlproto_csv_u64(&c, x->log_index);
        else
          mlproto_csv_str(&c, NULL);
        csv_checkpoint(&c, m);
        mlproto_csv_row(&c);
      }
    return mlproto_csv_finish(&c);
  }
  mlproto_json j;
  mlproto_json_init(&j, out);
  mlproto_json_obj(&j);
  json_meta(&j, "timesheet", m);
  mlproto_json_kstr(&j, "month", month);
  mlproto_json_key(&j, "grants");
  mlproto_json_arr(&j);
  uint64_t all_billable = 0, all_transport = 0;
  for (size_t i = 0; i < n; i++) {
    mlproto__month_sum s = mlproto__month_of(g[i], first, last);
    all_billable += s.billable;
    all_transport += s.transport;
    mlproto_json_obj(&j);
    json_grant_ids(&j, g[i], m);
    mlproto_json_ku64(&j, "billable_minutes", s.billable);
    mlproto_json_ku64(&j, "transport_minutes", s.transport);
    mlproto_json_ku64(&j, "held_contacts", s.contacts);
    mlproto_json_key(&j, "contacts");
    mlproto_json_arr(&j);
    for (size_t k = 0; k < g[i]->n_contacts; k++) {
      const mlproto_report_contact *x = &g[i]->contacts[k];
      int bill;
      if (!mlproto__timesheet_listed(x, first, last, &bill))
        continue;
      mlproto_json_obj(&j);
      mlproto_json_khex(&j, "record_id", x->record_id, 16);
      mlproto_json_kdate(&j, "date", x->local_date);
      mlproto_json_ktime_ms(&j, "start", (uint64_t)x->start_ms);
      mlproto_json_kstr(&j, "channel", mlproto_channel_name(x->channel));
      mlproto_json_kstr(&j, "outcome", mlproto_outcome_name(x->outcome));
      mlproto_json_ku64(&j, "billable_minutes", bill ? x->minutes : 0);
      mlproto_json_ku64(&j, "transport_minutes", x->transport_minutes);
      mlproto_json_key(&j, "log_index");
      if (x->log_index != MLPROTO_REPORT_NOT_LOGGED)
        mlproto_json_u64(&j, x->log_index);
      else
        mlproto_json_null(&j);
      mlproto_json_end(&j);
    }
    mlproto_json_end(&j);
    mlproto_json_end(&j);
  }
  mlproto_json_end(&j);
  mlproto_json_ku64(&j, "billable_minutes", all_billable);
  mlproto_json_ku64(&j, "transport_minutes", all_transport);
  mlproto_json_end(&j);
  return mlproto_json_finish(&j);
}
