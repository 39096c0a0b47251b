/* report_html_timesheet.c — a month's timesheet (mlproto/html.h; the shared parts:
 * report_html_int.h). */
#include "report_html_int.h"

/* ----------------------------------------------------------- timesheet */

static void month_href(const hw *w, char *b, size_t cap, mlproto_date first, int csv) {
  char month[MLPROTO_MONTH_STRLEN] = "", l[16];
  (void)mlproto_month_format(month, first);
  hw_with_lang(w, l, sizeof l, "&");
  snprintf(b, cap, "/jobcentre/timesheet?month=%s%s%s", month, csv ? "&format=csv" : "", l);
}

int mlproto_html_timesheet(mlproto_buf *out, const mlproto_html_options *o,
                           const mlproto_report_meta *m, const mlproto_grant_report *const *g,
                           size_t n) {
  if (out == NULL || o == NULL || m == NULL || (n > 0 && g == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  char month[MLPROTO_MONTH_STRLEN];
  if (mlproto_month_format(month, m->month) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_DATE;
  mlproto_date first = m->month, last = mlproto__month_last(m->month);
  hw w = {.out = out, .o = o};
  char self[128], href[160], title[128];
  mlproto_html_options plain = *o;
  plain.lang_in_links = 0;
  hw ws = {.out = NULL, .o = &plain};
  month_href(&ws, self, sizeof self, first, 0);
  int y, mo, d;
  (void)mlproto_date_to_ymd(first, &y, &mo, &d);
  snprintf(title, sizeof title, "%s – %s %d", T(&w, MLPROTO__T_TIMESHEET),
           T(&w, MLPROTO__T_MONTH_1 + mo - 1), y);
  hw_page_begin(&w, title, m->jobcentre_id, self);
  raw(&w, "<nav class=\"pager\" aria-label=\"");
  text(&w, T(&w, MLPROTO__T_MONTH));
  raw(&w, "\"><ul>");
  /* no link past the calendar's ends (1900-01, 9999-12) */
  mlproto_date prev = first - 1;
  if (mlproto_date_to_ymd(prev, &y, &mo, &d) == MLPROTO_OK) {
    month_href(&w, href, sizeof href, prev - d + 1, 0);
    raw(&w, "<li>");
    hw_link(&w, href, T(&w, MLPROTO__T_PREV_MONTH), 0);
    raw(&w, "</li>");
  }
  if (mlproto_date_to_ymd(last + 1, &y, &mo, &d) == MLPROTO_OK) {
    month_href(&w, href, sizeof href, last + 1, 0);
    raw(&w, "<li>");
    hw_link(&w, href, T(&w, MLPROTO__T_NEXT_MONTH), 0);
    raw(&w, "</li>");
  }
  raw(&w, "</ul></nav>\n");
  uint64_t all_bill = 0, all_tr = 0;
  size_t shown = 0;
  for (size_t i = 0; i < n; i++) {
    const mlproto_grant_report *gr = g[i];
    mlproto__month_sum sum = mlproto__month_of(gr, first, last); /* the document's figures */
    uint64_t bill_sum = sum.billable, tr_sum = sum.transport;
    uint32_t held = sum.contacts;
    all_bill += bill_sum;
    all_tr += tr_sum;
    shown++;
    char gh[128];
    hw_grant_href(&w, gh, sizeof gh, gr, "");
    raw(&w, "<section class=\"ts-grant\">\n<h2>");
    /* an erased grant has no reference left: its label, as on the overview */
    hw_link(&w, gh, gr->case_ref[0] ? gr->case_ref : T(&w, MLPROTO__T_ERASED_VALUE), 0);
    const char *mentor = hw_mentor_of(&w, gr);
    if (mentor) {
      raw(&w, " <span class=\"mentor\">(");
      text(&w, mentor);
      raw(&w, ")</span>");
    }
    raw(&w, "</h2>\n");
    raw(&w, "<table class=\"timesheet\">\n");
    static const int COLS[] = {MLPROTO__T_START,    MLPROTO__T_CHANNEL, MLPROTO__T_BILLABLE,
                               MLPROTO__T_TRANSPORT, MLPROTO__T_RECEIVED};
    hw_th_cols(&w, COLS, sizeof COLS / sizeof COLS[0]);
    raw(&w, "<tbody>\n");
    for (size_t k = 0; k < gr->n_contacts; k++) {
      int bill;
      const mlproto_report_contact *x = &gr->contacts[k];
      if (!mlproto__timesheet_listed(x, first, last, &bill))
        continue;
      raw(&w, "<tr><th scope=\"row\">");
      hw_when(&w, x->start_ms);
      cell(&w, "</th><td>", hw_channel_text(&w, x->channel), "</td>");
      cell_num(&w, "<td class=\"num\">", bill ? x->minutes : 0, "</td>");
      cell_num(&w, "<td class=\"num\">", x->transport_minutes, "</td><td>");
      if (x->log_index == MLPROTO_REPORT_NOT_LOGGED) {
        text(&w, T(&w, MLPROTO__T_NOT_LOGGED));
      } else {
        raw(&w, "#");
        num(&w, x->log_index);
      }
      raw(&w, "</td></tr>\n");
    }
    raw(&w, "</tbody>\n<tfoot><tr><th scope=\"row\">");
    text(&w, T(&w, MLPROTO__T_TOTAL));
    raw(&w, "</th><td>");
    fmt(&w, "%u %s", held, T(&w, MLPROTO__T_HELD_CONTACTS));
    cell_num(&w, "</td><td class=\"num billable\">", bill_sum, "</td>");
    cell_num(&w, "<td class=\"num transport\">", tr_sum, "</td><td></td></tr></tfoot>\n");
    raw(&w, "</table>\n</section>\n");
  }
  if (shown == 0)
    cell(&w, "<p>", T(&w, MLPROTO__T_NO_GRANTS), "</p>\n");
  raw(&w, "<p class=\"ts-total\">");
  text(&w, T(&w, MLPROTO__T_TOTAL));
  raw(&w, ": <span class=\"billable\">");
  num(&w, all_bill);
  raw(&w, "</span> ");
  text(&w, T(&w, MLPROTO__T_BILLABLE));
  raw(&w, ", <span class=\"transport\">");
  num(&w, all_tr);
  raw(&w, "</span> ");
  text(&w, T(&w, MLPROTO__T_TRANSPORT));
  raw(&w, ".</p>\n");
  month_href(&w, href, sizeof href, first, 1);
  hw_csv_link(&w, href);
  hw_page_end(&w, m);
  return hw_finish(&w);
}
