/* report_int.h — what the jobcentre's documents share inside mlproto_derive:
 * the figures of one grant over a range, computed once for the JSON and CSV
 * documents (report_doc.c) and the HTML pages (report_html.c), so that a
 * page and a download of the same report can never disagree. */
#ifndef MLPROTO_REPORT_INT_H
#define MLPROTO_REPORT_INT_H

#include "mlproto/report.h"

/* The figures of one grant over [from, to] (docs/reports.md). */
typedef struct mlproto__range_figures {
  uint32_t periods, met, missed, missed_with_attempts, pending, not_assessable;
  uint64_t minutes_held, minutes_granted, transport_minutes;
  uint32_t late_entries, late_syncs, conflicts, contacts;
  mlproto_date last_contact;
} mlproto__range_figures;

void mlproto__report_figures(mlproto__range_figures *f, const mlproto_grant_report *g,
                             mlproto_date from, mlproto_date to);
/* d in [from, to] / [s, e] meets [from, to] (MLPROTO_DATE_NONE: open). */
int mlproto__date_in(mlproto_date d, mlproto_date from, mlproto_date to);
int mlproto__span_meets(mlproto_date s, mlproto_date e, mlproto_date from, mlproto_date to);
/* "ERASED", "INVALID", "CLOSED", "OPEN". */
const char *mlproto__grant_state(const mlproto_grant_report *g);
/* The timesheet's rules (report_doc.c): a contact listed in the month
 * [first, last] (*bill: and billable), and the month's last day. */
int mlproto__timesheet_listed(const mlproto_report_contact *x, mlproto_date first,
                              mlproto_date last, int *bill);
mlproto_date mlproto__month_last(mlproto_date first);
/* One grant's month first..last on the timesheet: billable minutes and the
 * contacts that bill, transport minutes (every contact of the grant in the
 * month). The timesheet document's figures, and the page's. */
typedef struct mlproto__month_sum {
  uint64_t billable, transport;
  uint32_t contacts;
} mlproto__month_sum;
mlproto__month_sum mlproto__month_of(const mlproto_grant_report *g, mlproto_date first,
                                     mlproto_date last);

/* The words of the web pages (report_html_text.c): one table per language. */
enum {
  MLPROTO__T_APP,
  MLPROTO__T_LANG_CODE,
  MLPROTO__T_OTHER_LANG,
  MLPROTO__T_OTHER_LANG_CODE,
  MLPROTO__T_NAV,
  MLPROTO__T_OVERVIEW,
  MLPROTO__T_TIMESHEET,
  MLPROTO__T_SIGNOUT,
  MLPROTO__T_SIGNIN,
  MLPROTO__T_SIGNIN_INTRO,
  MLPROTO__T_TOKEN_LABEL,
  MLPROTO__T_SIGNIN_FAILED,
  MLPROTO__T_SESSION_NOTE,
  MLPROTO__T_JOBCENTRE,
  MLPROTO__T_CHECKPOINT,
  MLPROTO__T_SIZE,
  MLPROTO__T_ROOT,
  MLPROTO__T_GENERATED,
  MLPROTO__T_REF,
  MLPROTO__T_MENTOR,
  MLPROTO__T_PERIOD,
  MLPROTO__T_RULE,
  MLPROTO__T_PERIODS,
  MLPROTO__T_HOURS,
  MLPROTO__T_LATE,
  MLPROTO__T_CONFLICTS,
  MLPROTO__T_SORT,
  MLPROTO__T_SORT_REF,
  MLPROTO__T_SORT_MENTOR,
  MLPROTO__T_SORT_START,
  MLPROTO__T_SORT_MISSED,
  MLPROTO__T_FILTER,
  MLPROTO__T_ALL,
  MLPROTO__T_SHOWING,
  MLPROTO__T_OF,
  MLPROTO__T_GRANTS,
  MLPROTO__T_PAGES,
  MLPROTO__T_PREV,
  MLPROTO__T_NEXT,
  MLPROTO__T_PAGE,
  MLPROTO__T_DOWNLOAD_CSV,
  MLPROTO__T_NO_GRANTS,
  MLPROTO__T_WEEK,
  MLPROTO__T_CONTACT_1,
  MLPROTO__T_CONTACT_N,
  MLPROTO__T_PER_WEEK,
  MLPROTO__T_PER_2WEEKS,
  MLPROTO__T_AT_LEAST,
  MLPROTO__T_MIN,
  MLPROTO__T_LEGEND,
  MLPROTO__T_ST_MET,
  MLPROTO__T_ST_NOT_ASSESSABLE,
  MLPROTO__T_ST_PENDING,
  MLPROTO__T_ST_MISSED_WITH_ATTEMPTS,
  MLPROTO__T_ST_MISSED,
  MLPROTO__T_STATE,
  MLPROTO__T_STATE_OPEN,
  MLPROTO__T_STATE_CLOSED,
  MLPROTO__T_STATE_ERASED,
  MLPROTO__T_STATE_INVALID,
  MLPROTO__T_ERASED_NOTE,
  MLPROTO__T_ERASED_VALUE,
  MLPROTO__T_INVALID_NOTE,
  MLPROTO__T_GRANT,
  MLPROTO__T_LEGAL_BASIS,
  MLPROTO__T_GRANT_ID,
  MLPROTO__T_CASE_ID,
  MLPROTO__T_GRANTED_PER_WEEK,
  MLPROTO__T_EFFECTIVE_END,
  MLPROTO__T_LAST_CONTACT,
  MLPROTO__T_CHANNELS,
  MLPROTO__T_CONTACTS,
  MLPROTO__T_STATUS,
  MLPROTO__T_REASON,
  MLPROTO__T_QUALIFYING,
  MLPROTO__T_ATTEMPTS,
  MLPROTO__T_MINUTES,
  MLPROTO__T_WEEKS,
  MLPROTO__T_DATES,
  MLPROTO__T_DATE,
  MLPROTO__T_CLAIMED,
  MLPROTO__T_DEVICE_TIME,
  MLPROTO__T_RECEIVED,
  MLPROTO__T_CHANNEL,
  MLPROTO__T_OUTCOME,
  MLPROTO__T_TRANSPORT,
  MLPROTO__T_FLAGS,
  MLPROTO__T_LATE_ENTRY,
  MLPROTO__T_LATE_SYNC,
  MLPROTO__T_CONFLICT,
  MLPROTO__T_IN_ABSENCE,
  MLPROTO__T_OUTSIDE,
  MLPROTO__T_NOT_LOGGED,
  MLPROTO__T_NO_CONTACTS,
  MLPROTO__T_NO_PERIODS,
  MLPROTO__T_REASON_PARTIAL,
  MLPROTO__T_REASON_ABSENCE,
  MLPROTO__T_CH_IN_PERSON,
  MLPROTO__T_CH_HOME_VISIT,
  MLPROTO__T_CH_ACCOMPANIMENT,
  MLPROTO__T_CH_VIDEO,
  MLPROTO__T_CH_PHONE,
  MLPROTO__T_CH_MESSAGE,
  MLPROTO__T_CH_OTHER,
  MLPROTO__T_OC_HELD,
  MLPROTO__T_OC_ATTEMPT_FAILED,
  MLPROTO__T_OC_NO_SHOW,
  MLPROTO__T_OC_CANCELLED_BY_CITIZEN,
  MLPROTO__T_OC_CANCELLED_BY_MENTOR,
  MLPROTO__T_MONTH,
  MLPROTO__T_BILLABLE,
  MLPROTO__T_TOTAL,
  MLPROTO__T_PREV_MONTH,
  MLPROTO__T_NEXT_MONTH,
  MLPROTO__T_START,
  MLPROTO__T_HELD_CONTACTS,
  MLPROTO__T_ERROR,
  MLPROTO__T_BACK,
  MLPROTO__T_AT,
  MLPROTO__T_HOURS_UNIT,
  MLPROTO__T_MONTH_1,
  MLPROTO__T_MONTH_2,
  MLPROTO__T_MONTH_3,
  MLPROTO__T_MONTH_4,
  MLPROTO__T_MONTH_5,
  MLPROTO__T_MONTH_6,
  MLPROTO__T_MONTH_7,
  MLPROTO__T_MONTH_8,
  MLPROTO__T_MONTH_9,
  MLPROTO__T_MONTH_10,
  MLPROTO__T_MONTH_11,
  MLPROTO__T_MONTH_12,
  MLPROTO__T_RANGE,
  MLPROTO__T_FROM,
  MLPROTO__T_TO,
  MLPROTO__T_SHOW,
  MLPROTO__T_COUNT
};
/* The text of id in lang (never NULL). */
const char *mlproto__html_text(int lang, int id);

#endif
