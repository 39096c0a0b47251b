/*
 * mlproto/html.h — the jobcentre caseworker's web pages (module
 * mlproto_derive): server-rendered HTML without JavaScript, made from the
 * same report structures (mlproto/report.h) and the same figures as the
 * JSON and CSV documents, so that a page, its CSV download and the API
 * agree by construction (docs/web.md).
 *
 * Escaping. Every value that is not markup written by this module — a
 * municipal reference, a mentor's name, a number, a date, a URL built from
 * them, an error message — is written through the one function
 * mlproto_html_escape(); the module's own markup is literal text of the
 * program. Nothing here reads a sealed byte: a report holds none.
 *
 * Language. Danish by default, English on request; every word a page
 * shows comes from one table of strings per language (report_html_text.c).
 * Dates read "d. 3. november 2026" / "3 November 2026", weeks "uge 45" /
 * "week 45", times are Copenhagen wall time.
 *
 * Pages. Each renderer appends one whole document (<!DOCTYPE html> to
 * </html>) to out; the stylesheet is /jobcentre/style.css (no inline style,
 * no script: the server's Content-Security-Policy forbids both). Every page
 * made from a report names the checkpoint (size, root) it was computed
 * over. Errors: TOO_LARGE at out's cap, OUT_OF_MEMORY, INVALID_ARGUMENT
 * (NULL arguments); on error out holds a prefix that must not be sent.
 *
 * Pure and reentrant: no I/O, no clock, no shared state.
 */
#ifndef MLPROTO_HTML_H
#define MLPROTO_HTML_H

#include "mlproto/common.h"
#include "mlproto/report.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The one escaping function: appends s[0..n) to out as HTML text that is
 * safe in element content and in a double- or single-quoted attribute
 * value: & < > " ' become &amp; &lt; &gt; &quot; &#39;; a byte sequence
 * that is not valid UTF-8 and every C0 control but TAB, LF and CR, and
 * DEL, become U+FFFD (so no input can end an element, an attribute or
 * the document's encoding). s NULL: nothing. TOO_LARGE at the cap (out
 * then unchanged), OUT_OF_MEMORY.
 */
MLPROTO_EXTERN int mlproto_html_escape(mlproto_buf *out, const char *s, size_t n)
    MLPROTO_WARN_UNUSED;

typedef enum mlproto_lang { MLPROTO_LANG_DA = 0, MLPROTO_LANG_EN = 1 } mlproto_lang;

/* The language an Accept-Language header value asks for: English when its
 * first language it names with a non-zero q that is da or en is en (en,
 * en-GB, ...); Danish otherwise (also for NULL). */
MLPROTO_EXTERN mlproto_lang mlproto_lang_from_accept(const char *accept_language);

/* "d. 3. november 2026" / "3 November 2026" into out (at least 32 bytes);
 * "" for MLPROTO_DATE_NONE or an invalid date. */
MLPROTO_EXTERN void mlproto_html_date(char *out, size_t cap, mlproto_lang lang, mlproto_date d);

/* How a page is made. */
typedef struct mlproto_html_options {
  mlproto_lang lang;
  /* 1: the language was chosen with ?lang=: every link of the page keeps
   * it (lang=en or lang=da), so the choice lasts while one browses. */
  int lang_in_links;
  /* The display name of a case's mentor (the server's mentor table: not in
   * the records), or NULL when unknown; mentor_name NULL: none shown. */
  const char *(*mentor_name)(void *ud, const uint8_t case_id[16]);
  void *mentor_ud;
  /* 1: the page is for a signed-in caseworker (a sign-out button). */
  int signed_in;
  /* The sign-in form's page to return to (a hidden field "next": a path
   * below /jobcentre/ the server checked), or NULL for the overview. */
  const char *signin_next;
} mlproto_html_options;

/* The overview's order, filter and page (its query string: sort=, status=,
 * page=). */
enum {
  MLPROTO_HTML_SORT_REF = 0,    /* municipal reference (the documents' order) */
  MLPROTO_HTML_SORT_MENTOR = 1, /* mentor's name, then reference */
  MLPROTO_HTML_SORT_START = 2,  /* start date, then reference */
  MLPROTO_HTML_SORT_MISSED = 3  /* most missed periods first, then reference */
};
/* The sort's name in the query string ("ref", "mentor", "start",
 * "missed"), the one the overview's links write; NULL for another value. */
const char *mlproto_html_sort_name(int sort);
/* The MLPROTO_HTML_SORT_* named by s[0..n), or -1. */
int mlproto_html_sort_parse(const char *s, size_t n);
#define MLPROTO_HTML_PER_PAGE 100
typedef struct mlproto_html_overview_query {
  int sort;      /* MLPROTO_HTML_SORT_* */
  int status;    /* -1: every grant; else an mlproto_period_status: the grants
                    with at least one period in it */
  size_t page;   /* 0-based; past the last page: the last */
  size_t per_page; /* 0: MLPROTO_HTML_PER_PAGE */
} mlproto_html_overview_query;
#define MLPROTO_HTML_OVERVIEW_QUERY_INIT {MLPROTO_HTML_SORT_REF, -1, 0, 0}

/* GET /jobcentre/: every grant of g[0..n) (the compliance document's
 * grants, its order): reference (a link to the grant's page), mentor,
 * period, rule, a strip of its periods coloured by status and labelled
 * with it, hours delivered against granted, late entries, conflicts;
 * sorted, filtered and paged by q, with plain links for each; a link to
 * the CSV (the compliance document of mlproto_report_compliance). */
MLPROTO_EXTERN int mlproto_html_overview(mlproto_buf *out, const mlproto_html_options *o,
                                         const mlproto_report_meta *m,
                                         const mlproto_grant_report *const *g, size_t n,
                                         const mlproto_html_overview_query *q)
    MLPROTO_WARN_UNUSED;

/* GET /jobcentre/grants/ID: one grant: its figures, its periods with
 * status and reason, its contacts with their three times (claimed start,
 * the device's clock, the server's receipt with the log index), channel,
 * outcome, minutes and flags; an erased grant says so and shows only what
 * survived. */
MLPROTO_EXTERN int mlproto_html_grant(mlproto_buf *out, const mlproto_html_options *o,
                                      const mlproto_report_meta *m,
                                      const mlproto_grant_report *g) MLPROTO_WARN_UNUSED;

/* GET /jobcentre/timesheet?month=YYYY-MM: for m->month, per grant its
 * listed contacts (the timesheet document's rules) with billable and
 * transport minutes and the totals; links to the months before and after. */
MLPROTO_EXTERN int mlproto_html_timesheet(mlproto_buf *out, const mlproto_html_options *o,
                                          const mlproto_report_meta *m,
                                          const mlproto_grant_report *const *g, size_t n)
    MLPROTO_WARN_UNUSED;

/* The sign-in form (POST /jobcentre/signin, one password field for the
 * jobcentre token); failed: 1 to say the last attempt failed. */
MLPROTO_EXTERN int mlproto_html_signin(mlproto_buf *out, const mlproto_html_options *o,
                                       int failed) MLPROTO_WARN_UNUSED;

/* An error page: the HTTP status, the error's stable name and message
 * (mlproto_errname / mlproto_strerror of code) and detail (may be NULL),
 * every one escaped. */
MLPROTO_EXTERN int mlproto_html_error(mlproto_buf *out, const mlproto_html_options *o,
                                      int status, int code, const char *detail)
    MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
