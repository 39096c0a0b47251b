/* report_html_grant.c — one grant: its facts, periods and contacts (mlproto/html.h; the shared parts:
 * report_html_int.h). */
#include "report_html_int.h"

/* --------------------------------------------------------------- grant */

static void dl_item(hw *w, int term, const char *value) {
  cell(w, "<dt>", T(w, term), "</dt>");
  cell(w, "<dd>", value, "</dd>\n");
}

static void grant_facts(hw *w, const mlproto_grant_report *g) {
  char id[33];
  raw(w, "<dl class=\"facts\">\n");
  raw(w, "<dt>");
  text(w, T(w, MLPROTO__T_REF));
  raw(w, "</dt><dd class=\"ref\">");
  hw_code(w, g, g->case_ref);
  raw(w, "</dd>\n<dt>");
  text(w, T(w, MLPROTO__T_LEGAL_BASIS));
  raw(w, "</dt><dd>");
  hw_code(w, g, g->legal_basis);
  raw(w, "</dd>\n");
  dl_item(w, MLPROTO__T_MENTOR, hw_mentor_of(w, g));
  dl_item(w, MLPROTO__T_STATE, hw_state_text(w, g));
  mlproto_hex_encode(id, g->grant_id, 16);
  raw(w, "<dt>");
  text(w, T(w, MLPROTO__T_GRANT_ID));
  cell(w, "</dt><dd><code>", id, "</code></dd>\n");
  mlproto_hex_encode(id, g->case_id, 16);
  raw(w, "<dt>");
  text(w, T(w, MLPROTO__T_CASE_ID));
  cell(w, "</dt><dd><code>", id, "</code></dd>\n");
  const mlproto_compliance *c = g->compliance;
  if (c) {
    mlproto__range_figures f;
    mlproto__report_figures(&f, g, MLPROTO_DATE_NONE, MLPROTO_DATE_NONE);
    raw(w, "<dt>");
    text(w, T(w, MLPROTO__T_PERIOD));
    raw(w, "</dt><dd>");
    hw_date(w, g->grant.start);
    raw(w, " – ");
    hw_date(w, g->grant.end);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_EFFECTIVE_END));
    raw(w, "</dt><dd>");
    hw_date(w, c->effective_end);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_RULE));
    raw(w, "</dt><dd>");
    hw_rule(w, &g->grant.rule);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_CHANNELS));
    raw(w, "</dt><dd>");
    int first = 1;
    for (int ch = 1; ch <= (int)MLPROTO_CHANNEL__COUNT; ch++)
      if (g->grant.rule.channels & MLPROTO_CHANNEL_BIT(ch)) {
        if (!first)
          raw(w, ", ");
        text(w, hw_channel_text(w, ch));
        first = 0;
      }
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_GRANTED_PER_WEEK));
    raw(w, "</dt><dd>");
    hw_hours(w, g->grant.granted_minutes_per_week);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_HOURS));
    raw(w, "</dt><dd class=\"hours\">");
    hw_hours(w, f.minutes_held);
    raw(w, " / ");
    hw_hours(w, f.minutes_granted);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_LAST_CONTACT));
    raw(w, "</dt><dd>");
    hw_date(w, f.last_contact);
    raw(w, "</dd>\n");
    raw(w, "<dt>");
    text(w, T(w, MLPROTO__T_LATE));
    cell_num(w, "</dt><dd class=\"late\">", f.late_entries, "</dd>\n");
    raw(w, "<dt>");
    text(w, T(w, MLPROTO__T_CONFLICTS));
    cell_num(w, "</dt><dd class=\"conflicts\">", f.conflicts + (g->grant_conflict ? 1u : 0u),
             "</dd>\n");
  }
  raw(w, "</dl>\n");
}

static void periods_table(hw *w, const mlproto_compliance *c) {
  raw(w, "<h2>");
  text(w, T(w, MLPROTO__T_PERIODS));
  raw(w, "</h2>\n");
  if (c->n_periods == 0) {
    cell(w, "<p>", T(w, MLPROTO__T_NO_PERIODS), "</p>\n");
    return;
  }
  raw(w, "<table class=\"periods\">\n");
  static const int COLS[] = {MLPROTO__T_WEEKS,      MLPROTO__T_DATES,    MLPROTO__T_STATUS,
                             MLPROTO__T_REASON,     MLPROTO__T_QUALIFYING, MLPROTO__T_ATTEMPTS,
                             MLPROTO__T_MINUTES};
  hw_th_cols(w, COLS, sizeof COLS / sizeof COLS[0]);
  raw(w, "<tbody>\n");
  for (size_t k = 0; k < c->n_periods; k++) {
    const mlproto_period *p = &c->periods[k];
    raw(w, "<tr><th scope=\"row\">");
    hw_period_weeks(w, p);
    raw(w, "</th><td>");
    hw_date(w, p->start);
    raw(w, " – ");
    hw_date(w, p->end);
    raw(w, "</td><td>");
    hw_status_badge(w, (int)p->status);
    raw(w, " ");
    text(w, T(w, hw_status_text_id((int)p->status)));
    raw(w, "</td><td>");
    if (p->reason == MLPROTO_NA_PARTIAL)
      text(w, T(w, MLPROTO__T_REASON_PARTIAL));
    else if (p->reason == MLPROTO_NA_ABSENCE)
      text(w, T(w, MLPROTO__T_REASON_ABSENCE));
    cell_num(w, "</td><td class=\"num\">", p->qualifying, "</td>");
    cell_num(w, "<td class=\"num\">", p->attempts, "</td>");
    cell_num(w, "<td class=\"num\">", p->minutes_held, "</td></tr>\n");
  }
  raw(w, "</tbody>\n</table>\n");
}

static void flags(hw *w, const mlproto_report_contact *x) {
  struct {
    int on, id;
  } fl[] = {{x->late_entry, MLPROTO__T_LATE_ENTRY}, {x->late_sync, MLPROTO__T_LATE_SYNC},
            {x->conflict, MLPROTO__T_CONFLICT},     {x->in_absence, MLPROTO__T_IN_ABSENCE},
            {x->period < 0, MLPROTO__T_OUTSIDE}};
  int first = 1;
  for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
    if (fl[i].on) {
      raw(w, first ? "<span class=\"flag\">" : " <span class=\"flag\">");
      text(w, T(w, fl[i].id));
      raw(w, "</span>");
      first = 0;
    }
}

static void contacts_table(hw *w, const mlproto_grant_report *g) {
  raw(w, "<h2>");
  text(w, T(w, MLPROTO__T_CONTACTS));
  raw(w, "</h2>\n");
  if (g->n_contacts == 0) {
    cell(w, "<p>", T(w, MLPROTO__T_NO_CONTACTS), "</p>\n");
    return;
  }
  raw(w, "<table class=\"contacts\">\n");
  static const int COLS[] = {MLPROTO__T_CLAIMED, MLPROTO__T_DEVICE_TIME, MLPROTO__T_RECEIVED,
                             MLPROTO__T_CHANNEL, MLPROTO__T_OUTCOME,     MLPROTO__T_MINUTES,
                             MLPROTO__T_TRANSPORT, MLPROTO__T_FLAGS};
  hw_th_cols(w, COLS, sizeof COLS / sizeof COLS[0]);
  raw(w, "<tbody>\n");
  for (size_t i = 0; i < g->n_contacts; i++) {
    const mlproto_report_contact *x = &g->contacts[i];
    raw(w, "<tr><th scope=\"row\">");
    hw_when(w, x->start_ms);
    raw(w, "</th><td>");
    hw_when(w, x->recorded_at_ms);
    raw(w, "</td><td>");
    if (x->log_index == MLPROTO_REPORT_NOT_LOGGED) {
      text(w, T(w, MLPROTO__T_NOT_LOGGED));
    } else {
      hw_when(w, (int64_t)x->received_at_ms);
      raw(w, " (<data class=\"log-index\" value=\"");
      num(w, x->log_index);
      raw(w, "\">#");
      num(w, x->log_index);
      raw(w, "</data>)");
    }
    cell(w, "</td><td>", hw_channel_text(w, x->channel), "</td>");
    cell(w, "<td>", hw_outcome_text(w, x->outcome), "</td>");
    cell_num(w, "<td class=\"num\">", x->minutes, "</td>");
    cell_num(w, "<td class=\"num\">", x->transport_minutes, "</td><td>");
    flags(w, x);
    raw(w, "</td></tr>\n");
  }
  raw(w, "</tbody>\n</table>\n");
}

int mlproto_html_grant(mlproto_buf *out, const mlproto_html_options *o,
                       const mlproto_report_meta *m, const mlproto_grant_report *g) {
  if (out == NULL || o == NULL || m == NULL || g == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  hw w = {.out = out, .o = o};
  char self[128], csv[160], title[160];
  mlproto_html_options plain = *o;
  plain.lang_in_links = 0;
  hw ws = {.out = NULL, .o = &plain};
  hw_grant_href(&ws, self, sizeof self, g, "");
  hw_grant_href(&w, csv, sizeof csv, g, "format=csv");
  snprintf(title, sizeof title, "%s %s", T(&w, MLPROTO__T_GRANT),
           g->case_ref[0] ? g->case_ref : T(&w, MLPROTO__T_ERASED_VALUE));
  hw_page_begin(&w, title, m->jobcentre_id, self);
  if (g->erased)
    cell(&w, "<p class=\"notice erased\">", T(&w, MLPROTO__T_ERASED_NOTE), "</p>\n");
  else if (g->invalid)
    cell(&w, "<p class=\"notice\">", T(&w, MLPROTO__T_INVALID_NOTE), "</p>\n");
  grant_facts(&w, g);
  if (g->compliance) {
    hw_legend(&w);
    periods_table(&w, g->compliance);
    contacts_table(&w, g);
  }
  hw_csv_link(&w, csv);
  hw_page_end(&w, m);
  return hw_finish(&w);
}
