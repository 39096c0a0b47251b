/* report_html_int.h — what the files of the caseworker's pages
 * (mlproto/html.h) share: the writer (static inline below), and the values,
 * links and page frame of report_html.c. One file per view:
 * report_html_overview.c, report_html_grant.c, report_html_timesheet.c;
 * report_html.c also has the escaper, sign-in, error pages and the
 * language. Markup is literal text (raw()); every value goes through
 * mlproto_html_escape (text(), num(), fmt()); every word comes from the
 * table of report_html_text.c (T()). The figures are report_doc.c's
 * (report_int.h), so a page equals its CSV. Not installed. */
#ifndef MLPROTO_REPORT_HTML_INT_H
#define MLPROTO_REPORT_HTML_INT_H

#include "mlproto/html.h"

#include "mlproto/alloc.h"
#include "mlproto/civiltime.h"
#include "mlproto/compliance.h"
#include "mlproto/errors.h"
#include "report_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- writer */
/* The primitives every view uses; small, so here, static inline. */

typedef struct hw {
  mlproto_buf *out;
  int err; /* sticky */
  const mlproto_html_options *o;
} hw;

static inline const char *T(const hw *w, int id) { return mlproto__html_text(w->o->lang, id); }

/* Markup of this file: a string literal, never a value. */
static inline void raw(hw *w, const char *lit) {
  if (!w->err)
    w->err = mlproto_buf_append(w->out, lit, strlen(lit));
}

static inline void text(hw *w, const char *s) {
  if (!w->err && s)
    w->err = mlproto_html_escape(w->out, s, strlen(s));
}

static inline void fmt(hw *w, const char *f, ...) __attribute__((format(printf, 2, 3)));
static inline void fmt(hw *w, const char *f, ...) {
  char b[512];
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof b) {
    if (!w->err)
      w->err = MLPROTO_ERR_TOO_LARGE;
    return;
  }
  text(w, b);
}

static inline void num(hw *w, uint64_t v) { fmt(w, "%llu", (unsigned long long)v); }

/* An element with escaped text: <tag>value</tag>; tag is markup. */
static inline void cell(hw *w, const char *open, const char *value, const char *close) {
  raw(w, open);
  text(w, value);
  raw(w, close);
}

static inline void cell_num(hw *w, const char *open, uint64_t v, const char *close) {
  raw(w, open);
  num(w, v);
  raw(w, close);
}

/* ------------------------------------------- values, links, frame (report_html.c) */

/* internal symbols of the library: mlproto__hw_* */
#define hw_date mlproto__hw_date
#define hw_when mlproto__hw_when
#define hw_week mlproto__hw_week
#define hw_period_weeks mlproto__hw_period_weeks
#define hw_hours mlproto__hw_hours
#define hw_status_class mlproto__hw_status_class
#define hw_status_text_id mlproto__hw_status_text_id
#define hw_status_badge mlproto__hw_status_badge
#define hw_channel_text mlproto__hw_channel_text
#define hw_outcome_text mlproto__hw_outcome_text
#define hw_state_text mlproto__hw_state_text
#define hw_code mlproto__hw_code
#define hw_rule mlproto__hw_rule
#define hw_mentor_of mlproto__hw_mentor_of
#define hw_with_lang mlproto__hw_with_lang
#define hw_link mlproto__hw_link
#define hw_grant_href mlproto__hw_grant_href
#define hw_page_begin mlproto__hw_page_begin
#define hw_page_end mlproto__hw_page_end
#define hw_legend mlproto__hw_legend
#define hw_csv_link mlproto__hw_csv_link
#define hw_finish mlproto__hw_finish
#define hw_th_cols mlproto__hw_th_cols
#define hw_STATUS_ORDER mlproto__hw_STATUS_ORDER

void hw_date(hw *w, mlproto_date d);
void hw_when(hw *w, int64_t unix_ms);
void hw_week(hw *w, const char *iso);
void hw_period_weeks(hw *w, const mlproto_period *p);
void hw_hours(hw *w, uint64_t minutes);
const char *hw_status_class(int s);
int hw_status_text_id(int s);
void hw_status_badge(hw *w, int s);
const char *hw_channel_text(const hw *w, int ch);
const char *hw_outcome_text(const hw *w, int oc);
const char *hw_state_text(const hw *w, const mlproto_grant_report *g);
void hw_code(hw *w, const mlproto_grant_report *g, const char *s);
void hw_rule(hw *w, const mlproto_rule *r);
const char *hw_mentor_of(const hw *w, const mlproto_grant_report *g);
void hw_with_lang(const hw *w, char *b, size_t cap, const char *sep);
void hw_link(hw *w, const char *href, const char *label, int current);
void hw_grant_href(const hw *w, char *b, size_t cap, const mlproto_grant_report *g,
                       const char *extra);
void hw_page_begin(hw *w, const char *title, const char *jobcentre, const char *self);
void hw_page_end(hw *w, const mlproto_report_meta *m);
void hw_legend(hw *w);
void hw_csv_link(hw *w, const char *href);
int hw_finish(hw *w);
/* a table head row of the texts cols[0..n) (scope=col) */
void hw_th_cols(hw *w, const int *cols, size_t n);
/* the statuses in the order of the legend and the filters */
extern const int hw_STATUS_ORDER[5];
#define N_STATUS (sizeof hw_STATUS_ORDER / sizeof hw_STATUS_ORDER[0])

#endif
