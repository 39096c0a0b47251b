/* report_html.c — the jobcentre caseworker's web pages (mlproto/html.h).
 * Markup is literal text of this file (raw()); every value goes through
 * mlproto_html_escape (text(), num(), fmt()); every word comes from the
 * table of report_html_text.c (T()). The figures are report_doc.c's
 * (report_int.h), so a page equals its CSV. */
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

/* ------------------------------------------------------------ escaping */

/* Length of the valid UTF-8 sequence at s[0..n) (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

int mlproto_html_escape(mlproto_buf *out, const char *s, size_t n) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (s == NULL || n == 0)
    return MLPROTO_OK;
  size_t mark = out->len;
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0; /* bytes p[run..i) to copy as they are */
  int rc = MLPROTO_OK;
  while (i < n && rc == MLPROTO_OK) {
    unsigned char c = p[i];
    const char *rep = NULL;
    size_t adv = 1;
    switch (c) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default:
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        rep = "\xef\xbf\xbd";
      } else if (c >= 0x80) {
        adv = utf8_seq(p + i, n - i);
        if (adv == 0) {
          rep = "\xef\xbf\xbd"; /* U+FFFD for the byte */
          adv = 1;
        }
      }
    }
    if (rep == NULL) {
      i += adv;
      continue;
    }
    if (i > run)
      rc = mlproto_buf_append(out, p + run, i - run);
    if (rc == MLPROTO_OK)
      rc = mlproto_buf_append(out, rep, strlen(rep));
    i += adv;
    run = i;
  }
  if (rc == MLPROTO_OK && i > run)
    rc = mlproto_buf_append(out, p + run, i - run);
  if (rc != MLPROTO_OK)
    out->len = mark;
  return rc;
}

/* ------------------------------------------------------------- writer */

typedef struct hw {
  mlproto_buf *out;
  int err; /* sticky */
  const mlproto_html_options *o;
} hw;

static const char *T(const hw *w, int id) { return mlproto__html_text(w->o->lang, id); }

/* Markup of this file: a string literal, never a value. */
static void raw(hw *w, const char *lit) {
  if (!w->err)
    w->err = mlproto_buf_append(w->out, lit, strlen(lit));
}

static void text(hw *w, const char *s) {
  if (!w->err && s)
    w->err = mlproto_html_escape(w->out, s, strlen(s));
}

static void fmt(hw *w, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void fmt(hw *w, const char *f, ...) {
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

static void num(hw *w, uint64_t v) { fmt(w, "%llu", (unsigned long long)v); }

/* An element with escaped text: <tag>value</tag>; tag is markup. */
static void cell(hw *w, const char *open, const char *value, const char *close) {
  raw(w, open);
  text(w, value);
  raw(w, close);
}

static void cell_num(hw *w, const char *open, uint64_t v, const char *close) {
  raw(w, open);
  num(w, v);
  raw(w, close);
}

/* ------------------------------------------------------------- values */

void mlproto_html_date(char *out, size_t cap, mlproto_lang lang, mlproto_date d) {
  int y, m, day;
  if (cap == 0)
    return;
  out[0] = '\0';
  if (d == MLPROTO_DATE_NONE || mlproto_date_to_ymd(d, &y, &m, &day) != MLPROTO_OK)
    return;
  const char *month = mlproto__html_text(lang, MLPROTO__T_MONTH_1 + m - 1);
  snprintf(out, cap, lang == MLPROTO_LANG_EN ? "%d %s %d" : "d. %d. %s %d", day, month, y);
}

static void date(hw *w, mlproto_date d) {
  char b[48];
  mlproto_html_date(b, sizeof b, w->o->lang, d);
  text(w, b);
}

/* A Copenhagen wall time: "d. 3. november 2026 kl. 14:05" / "3 November 2026 at 14:05". */
static void when(hw *w, int64_t unix_ms) {
  mlproto_localtime lt;
  if (mlproto_cph_from_unix_ms(&lt, unix_ms) != MLPROTO_OK) {
    text(w, "?");
    return;
  }
  date(w, lt.date);
  fmt(w, " %s %02d:%02d", T(w, MLPROTO__T_AT), lt.hour, lt.minute);
}

/* "uge 45" / "week 45" of an ISO label "2026-W45". */
static void week(hw *w, const char *iso) {
  const char *wk = strchr(iso, 'W');
  int n = wk ? atoi(wk + 1) : 0;
  fmt(w, "%s %d", T(w, MLPROTO__T_WEEK), n);
}

static void period_weeks(hw *w, const mlproto_period *p) {
  week(w, p->weeks[0]);
  if (p->n_weeks > 1) {
    const char *wk = strchr(p->weeks[1], 'W');
    fmt(w, "–%d", wk ? atoi(wk + 1) : 0);
  }
}

static void hours(hw *w, uint64_t minutes) {
  fmt(w, "%llu:%02u", (unsigned long long)(minutes / 60), (unsigned)(minutes % 60));
}

static const char *status_class(int s) {
  switch (s) {
  case MLPROTO_PERIOD_MET: return "st st-met";
  case MLPROTO_PERIOD_NOT_ASSESSABLE: return "st st-na";
  case MLPROTO_PERIOD_PENDING: return "st st-pending";
  case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS: return "st st-mwa";
  case MLPROTO_PERIOD_MISSED: return "st st-missed";
  default: return "st";
  }
}

static int status_text_id(int s) {
  switch (s) {
  case MLPROTO_PERIOD_MET: return MLPROTO__T_ST_MET;
  case MLPROTO_PERIOD_NOT_ASSESSABLE: return MLPROTO__T_ST_NOT_ASSESSABLE;
  case MLPROTO_PERIOD_PENDING: return MLPROTO__T_ST_PENDING;
  case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS: return MLPROTO__T_ST_MISSED_WITH_ATTEMPTS;
  default: return MLPROTO__T_ST_MISSED;
  }
}

static const int STATUS_ORDER[] = {MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MISSED,
                                   MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_PERIOD_PENDING,
                                   MLPROTO_PERIOD_NOT_ASSESSABLE};
#define N_STATUS (sizeof STATUS_ORDER / sizeof STATUS_ORDER[0])

/* The status as a labelled badge: its stable name in a coloured, patterned
 * box (the name is the label: legible in black and white). */
static void status_badge(hw *w, int s) {
  raw(w, "<span class=\"");
  raw(w, status_class(s));
  raw(w, "\">");
  text(w, mlproto_period_status_name(s));
  raw(w, "</span>");
}

static const char *channel_text(const hw *w, int ch) {
  if (ch >= 1 && ch <= (int)MLPROTO_CHANNEL__COUNT)
    return T(w, MLPROTO__T_CH_IN_PERSON + ch - 1);
  return "?";
}

static const char *outcome_text(const hw *w, int oc) {
  if (oc >= 1 && oc <= (int)MLPROTO_OUTCOME__COUNT)
    return T(w, MLPROTO__T_OC_HELD + oc - 1);
  return "?";
}

static const char *state_text(const hw *w, const mlproto_grant_report *g) {
  const char *s = mlproto__grant_state(g);
  if (strcmp(s, "ERASED") == 0)
    return T(w, MLPROTO__T_STATE_ERASED);
  if (strcmp(s, "INVALID") == 0)
    return T(w, MLPROTO__T_STATE_INVALID);
  return T(w, strcmp(s, "CLOSED") == 0 ? MLPROTO__T_STATE_CLOSED : MLPROTO__T_STATE_OPEN);
}

/* A code of the grant, or "(erased)" when an erasure took it. */
static void code(hw *w, const mlproto_grant_report *g, const char *s) {
  if (s[0])
    text(w, s);
  else if (g->erased)
    cell(w, "<span class=\"erased\">", T(w, MLPROTO__T_ERASED_VALUE), "</span>");
}

static void rule(hw *w, const mlproto_rule *r) {
  fmt(w, "%u %s %s", r->contacts_needed,
      T(w, r->contacts_needed == 1 ? MLPROTO__T_CONTACT_1 : MLPROTO__T_CONTACT_N),
      T(w, r->period_weeks == 2 ? MLPROTO__T_PER_2WEEKS : MLPROTO__T_PER_WEEK));
  if (r->min_minutes)
    fmt(w, ", %s %u %s", T(w, MLPROTO__T_AT_LEAST), r->min_minutes, T(w, MLPROTO__T_MIN));
}

static const char *mentor_of(const hw *w, const mlproto_grant_report *g) {
  return w->o->mentor_name ? w->o->mentor_name(w->o->mentor_ud, g->case_id) : NULL;
}

/* ------------------------------------------------------------- links */

/* The query-string suffix that keeps the chosen language: "" or
 * "lang=xx"; sep is the separator to put before it when it is not empty. */
static void with_lang(const hw *w, char *b, size_t cap, const char *sep) {
  if (w->o->lang_in_links)
    snprintf(b, cap, "%slang=%s", sep, T(w, MLPROTO__T_LANG_CODE));
  else
    b[0] = '\0';
}

/* <a href="HREF">label</a>: href and label are values (escaped). */
static void link(hw *w, const char *href, const char *label, int current) {
  raw(w, "<a href=\"");
  text(w, href);
  raw(w, current ? "\" aria-current=\"page\">" : "\">");
  text(w, label);
  raw(w, "</a>");
}

static void grant_href(const hw *w, char *b, size_t cap, const mlproto_grant_report *g,
                       const char *extra) {
  char id[33], l[16];
  mlproto_hex_encode(id, g->grant_id, 16);
  with_lang(w, l, sizeof l, extra[0] ? "&" : "");
  snprintf(b, cap, "/jobcentre/grants/%s%s%s%s", id, extra[0] || l[0] ? "?" : "", extra, l);
}

/* ------------------------------------------------------------- frame */

/* <!DOCTYPE html> .. <main>: title, header with the menu, the language
 * switch to self (a path and query of this page without lang=). */
static void page_begin(hw *w, const char *title, const char *jobcentre, const char *self) {
  raw(w, "<!DOCTYPE html>\n<html lang=\"");
  text(w, T(w, MLPROTO__T_LANG_CODE));
  raw(w, "\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta name=\"referrer\" content=\"no-referrer\">\n"
         "<link rel=\"icon\" href=\"/jobcentre/icon.svg\" type=\"image/svg+xml\">\n<title>");
  text(w, title);
  raw(w, " – ");
  text(w, T(w, MLPROTO__T_APP));
  raw(w, "</title>\n<link rel=\"stylesheet\" href=\"/jobcentre/style.css\">\n</head>\n<body>\n"
         "<header class=\"top\">\n<p class=\"brand\">");
  text(w, T(w, MLPROTO__T_APP));
  if (jobcentre) {
    raw(w, " · <span class=\"jc\">");
    text(w, jobcentre);
    raw(w, "</span>");
  }
  raw(w, "</p>\n<nav aria-label=\"");
  text(w, T(w, MLPROTO__T_NAV));
  raw(w, "\">\n<ul>\n");
  char href[160], l[16];
  if (w->o->signed_in) {
    with_lang(w, l, sizeof l, "?");
    snprintf(href, sizeof href, "/jobcentre/%s", l);
    raw(w, "<li>");
    link(w, href, T(w, MLPROTO__T_OVERVIEW), 0);
    raw(w, "</li>\n<li>");
    snprintf(href, sizeof href, "/jobcentre/timesheet%s", l);
    link(w, href, T(w, MLPROTO__T_TIMESHEET), 0);
    raw(w, "</li>\n");
  }
  snprintf(href, sizeof href, "%s%slang=%s", self, strchr(self, '?') ? "&" : "?",
           T(w, MLPROTO__T_OTHER_LANG_CODE));
  raw(w, "<li><a href=\"");
  text(w, href);
  raw(w, "\" hreflang=\"");
  text(w, T(w, MLPROTO__T_OTHER_LANG_CODE));
  raw(w, "\" lang=\"");
  text(w, T(w, MLPROTO__T_OTHER_LANG_CODE));
  raw(w, "\">");
  text(w, T(w, MLPROTO__T_OTHER_LANG));
  raw(w, "</a></li>\n");
  if (w->o->signed_in) {
    raw(w, "<li><form method=\"post\" action=\"/jobcentre/signout\" class=\"signout\">"
           "<button type=\"submit\">");
    text(w, T(w, MLPROTO__T_SIGNOUT));
    raw(w, "</button></form></li>\n");
  }
  raw(w, "</ul>\n</nav>\n</header>\n<main>\n<h1>");
  text(w, title);
  raw(w, "</h1>\n");
}

/* </main>, the footer naming the checkpoint (m NULL: none), </html>. */
static void page_end(hw *w, const mlproto_report_meta *m) {
  raw(w, "</main>\n<footer>\n");
  if (m) {
    char root[65];
    mlproto_hex_encode(root, m->checkpoint_root, 32);
    raw(w, "<p class=\"checkpoint\">");
    text(w, T(w, MLPROTO__T_CHECKPOINT));
    raw(w, " <span class=\"origin\">");
    text(w, m->origin);
    raw(w, "</span>: ");
    text(w, T(w, MLPROTO__T_SIZE));
    raw(w, " <data class=\"cp-size\" value=\"");
    num(w, m->checkpoint_size);
    raw(w, "\">");
    num(w, m->checkpoint_size);
    raw(w, "</data>, ");
    text(w, T(w, MLPROTO__T_ROOT));
    raw(w, " <code class=\"cp-root\">");
    text(w, root);
    raw(w, "</code>; ");
    text(w, T(w, MLPROTO__T_GENERATED));
    raw(w, " ");
    when(w, m->generated_at_ms);
    raw(w, ".</p>\n");
  }
  raw(w, "</footer>\n</body>\n</html>\n");
}

/* What each status means, always shown (on paper too: the badges' borders
 * are explained where colour is gone). */
static void legend(hw *w) {
  raw(w, "<dl class=\"legend\" aria-label=\"");
  text(w, T(w, MLPROTO__T_LEGEND));
  raw(w, "\">\n");
  for (size_t i = 0; i < N_STATUS; i++) {
    raw(w, "<div><dt>");
    status_badge(w, STATUS_ORDER[i]);
    cell(w, "</dt><dd>", T(w, status_text_id(STATUS_ORDER[i])), "</dd></div>\n");
  }
  raw(w, "</dl>\n");
}

static void csv_link(hw *w, const char *href) {
  raw(w, "<p class=\"download\">");
  link(w, href, T(w, MLPROTO__T_DOWNLOAD_CSV), 0);
  raw(w, "</p>\n");
}

static int finish(hw *w) { return w->err; }

/* ------------------------------------------------------------ overview */

typedef struct row {
  const mlproto_grant_report *g;
  const char *mentor;
  uint32_t missed;
} row;

static int cmp_ref(const row *a, const row *b) {
  int c = strcmp(a->g->case_ref, b->g->case_ref);
  if (c)
    return c;
  if (a->g->grant.start != b->g->grant.start)
    return a->g->grant.start < b->g->grant.start ? -1 : 1;
  return memcmp(a->g->grant_id, b->g->grant_id, 16);
}

static int by_ref(const void *pa, const void *pb) { return cmp_ref(pa, pb); }

/* The next letter of s as a Danish sort key (advancing *s): a..z as 1..26
 * whatever the case, then æ ø å (27, 28, 29, either case), every other
 * byte after them by its value; 0 at the end. */
static unsigned da_key(const unsigned char **s) {
  const unsigned char *p = *s;
  if (*p == 0)
    return 0;
  if (p[0] == 0xc3 && p[1]) {
    unsigned k = 0;
    switch (p[1] | 0x20) { /* 0x86/0xa6 æ, 0x98/0xb8 ø, 0x85/0xa5 å */
    case 0xa6: k = 27; break;
    case 0xb8: k = 28; break;
    case 0xa5: k = 29; break;
    }
    if (k) {
      *s = p + 2;
      return k;
    }
  }
  *s = p + 1;
  if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
    return (unsigned)((*p | 0x20) - 'a' + 1);
  return 100u + *p;
}

/* Names in Danish order (æ, ø, å after z; case ignored), then bytewise. */
static int da_cmp(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  for (;;) {
    unsigned x = da_key(&p), y = da_key(&q);
    if (x != y)
      return x < y ? -1 : 1;
    if (x == 0)
      return strcmp(a, b);
  }
}

static int by_mentor(const void *pa, const void *pb) {
  const row *a = pa, *b = pb;
  int c = da_cmp(a->mentor ? a->mentor : "", b->mentor ? b->mentor : "");
  return c ? c : cmp_ref(a, b);
}

static int by_start(const void *pa, const void *pb) {
  const row *a = pa, *b = pb;
  if (a->g->grant.start != b->g->grant.start)
    return a->g->grant.start < b->g->grant.start ? -1 : 1;
  return cmp_ref(a, b);
}

static int by_missed(const void *pa, const void *pb) {
  const row *a = pa, *b = pb;
  if (a->missed != b->missed)
    return a->missed > b->missed ? -1 : 1;
  return cmp_ref(a, b);
}

static int has_status(const mlproto_grant_report *g, int s) {
  const mlproto_compliance *c = g->compliance;
  for (size_t k = 0; c && k < c->n_periods; k++)
    if ((int)c->periods[k].status == s)
      return 1;
  return 0;
}

static const char *const SORT_NAME[] = {"ref", "mentor", "start", "missed"};

/* The overview's URL for a query (status -1: none; page 0: none). */
static void overview_href(const hw *w, char *b, size_t cap, int sort, int status, size_t page,
                          int csv) {
  size_t o = 0;
  o += (size_t)snprintf(b + o, cap - o, "/jobcentre/");
  const char *sep = "?";
  if (csv) {
    o += (size_t)snprintf(b + o, cap - o, "%sformat=csv", sep);
    sep = "&";
  }
  if (sort != MLPROTO_HTML_SORT_REF && o < cap) {
    o += (size_t)snprintf(b + o, cap - o, "%ssort=%s", sep, SORT_NAME[sort]);
    sep = "&";
  }
  if (status >= 0 && o < cap) {
    o += (size_t)snprintf(b + o, cap - o, "%sstatus=%s", sep, mlproto_period_status_name(status));
    sep = "&";
  }
  if (page > 0 && o < cap) {
    o += (size_t)snprintf(b + o, cap - o, "%spage=%zu", sep, page + 1);
    sep = "&";
  }
  if (o < cap)
    with_lang(w, b + o, cap - o, sep);
}

static void strip(hw *w, const mlproto_grant_report *g) {
  const mlproto_compliance *c = g->compliance;
  if (c == NULL) {
    cell(w, "<span class=\"erased\">", state_text(w, g), "</span>");
    return;
  }
  if (c->n_periods == 0) {
    text(w, T(w, MLPROTO__T_NO_PERIODS));
    return;
  }
  raw(w, "<ol class=\"strip\">");
  for (size_t k = 0; k < c->n_periods; k++) {
    const mlproto_period *p = &c->periods[k];
    raw(w, "<li class=\"");
    raw(w, status_class((int)p->status));
    raw(w, "\"><span class=\"wk\">");
    period_weeks(w, p);
    raw(w, "</span> <span class=\"lbl\">");
    text(w, mlproto_period_status_name((int)p->status));
    raw(w, "</span></li>");
  }
  raw(w, "</ol>");
}

/* <td class="cls" data-label="..."> (the label: the column's title, which
 * the stylesheet shows beside the value when a narrow window stacks the
 * row's cells). */
static void td(hw *w, const char *cls, int label) {
  raw(w, "<td class=\"");
  raw(w, cls);
  raw(w, "\" data-label=\"");
  text(w, T(w, label));
  raw(w, "\">");
}

static void overview_row(hw *w, const row *r) {
  const mlproto_grant_report *g = r->g;
  mlproto__range_figures f;
  mlproto__report_figures(&f, g, MLPROTO_DATE_NONE, MLPROTO_DATE_NONE);
  char href[128];
  grant_href(w, href, sizeof href, g, "");
  raw(w, "<tr>\n<th scope=\"row\" class=\"ref\"><a href=\"");
  text(w, href);
  raw(w, "\">");
  if (g->case_ref[0])
    text(w, g->case_ref);
  else
    text(w, T(w, g->erased ? MLPROTO__T_ERASED_VALUE : MLPROTO__T_GRANT));
  raw(w, "</a></th>\n");
  td(w, "mentor", MLPROTO__T_MENTOR);
  text(w, r->mentor);
  raw(w, "</td>\n");
  td(w, "period", MLPROTO__T_PERIOD);
  if (g->compliance) {
    date(w, g->grant.start);
    raw(w, " – ");
    date(w, g->compliance->effective_end);
  } else {
    text(w, state_text(w, g));
  }
  raw(w, "</td>\n");
  td(w, "rule", MLPROTO__T_RULE);
  if (g->compliance)
    rule(w, &g->grant.rule);
  raw(w, "</td>\n");
  td(w, "periods", MLPROTO__T_PERIODS);
  strip(w, g);
  raw(w, "</td>\n");
  td(w, "num hours", MLPROTO__T_HOURS);
  if (g->compliance) {
    hours(w, f.minutes_held);
    raw(w, " / ");
    hours(w, f.minutes_granted);
  }
  raw(w, "</td>\n");
  td(w, "num late", MLPROTO__T_LATE);
  num(w, f.late_entries);
  raw(w, "</td>\n");
  td(w, "num conflicts", MLPROTO__T_CONFLICTS);
  num(w, f.conflicts + (g->grant_conflict ? 1u : 0u));
  raw(w, "</td>\n</tr>\n");
}

static void overview_controls(hw *w, const mlproto_html_overview_query *q) {
  char href[256];
  static const int SORT_TEXT[] = {MLPROTO__T_SORT_REF, MLPROTO__T_SORT_MENTOR,
                                  MLPROTO__T_SORT_START, MLPROTO__T_SORT_MISSED};
  raw(w, "<nav class=\"controls\" aria-label=\"");
  text(w, T(w, MLPROTO__T_SORT));
  raw(w, "\">\n<p>");
  text(w, T(w, MLPROTO__T_SORT));
  raw(w, ":</p><ul>");
  for (int s = 0; s < 4; s++) {
    overview_href(w, href, sizeof href, s, q->status, 0, 0);
    raw(w, "<li>");
    link(w, href, T(w, SORT_TEXT[s]), q->sort == s);
    raw(w, "</li>");
  }
  raw(w, "</ul>\n</nav>\n<nav class=\"controls\" aria-label=\"");
  text(w, T(w, MLPROTO__T_FILTER));
  raw(w, "\">\n<p>");
  text(w, T(w, MLPROTO__T_FILTER));
  raw(w, ":</p><ul>");
  overview_href(w, href, sizeof href, q->sort, -1, 0, 0);
  raw(w, "<li>");
  link(w, href, T(w, MLPROTO__T_ALL), q->status < 0);
  raw(w, "</li>");
  for (size_t i = 0; i < N_STATUS; i++) {
    overview_href(w, href, sizeof href, q->sort, STATUS_ORDER[i], 0, 0);
    raw(w, "<li>");
    link(w, href, mlproto_period_status_name(STATUS_ORDER[i]), q->status == STATUS_ORDER[i]);
    raw(w, "</li>");
  }
  raw(w, "</ul>\n</nav>\n");
}

static void pager(hw *w, const mlproto_html_overview_query *q, size_t page, size_t pages) {
  if (pages <= 1)
    return;
  char href[256];
  raw(w, "<nav class=\"pager\" aria-label=\"");
  text(w, T(w, MLPROTO__T_PAGES));
  raw(w, "\"><ul>");
  if (page > 0) {
    overview_href(w, href, sizeof href, q->sort, q->status, page - 1, 0);
    raw(w, "<li>");
    link(w, href, T(w, MLPROTO__T_PREV), 0);
    raw(w, "</li>");
  }
  raw(w, "<li>");
  fmt(w, "%s %zu %s %zu", T(w, MLPROTO__T_PAGE), page + 1, T(w, MLPROTO__T_OF), pages);
  raw(w, "</li>");
  if (page + 1 < pages) {
    overview_href(w, href, sizeof href, q->sort, q->status, page + 1, 0);
    raw(w, "<li>");
    link(w, href, T(w, MLPROTO__T_NEXT), 0);
    raw(w, "</li>");
  }
  raw(w, "</ul></nav>\n");
}

int mlproto_html_overview(mlproto_buf *out, const mlproto_html_options *o,
                          const mlproto_report_meta *m, const mlproto_grant_report *const *g,
                          size_t n, const mlproto_html_overview_query *q) {
  if (out == NULL || o == NULL || m == NULL || q == NULL || (n > 0 && g == NULL) || q->sort < 0 ||
      q->sort > MLPROTO_HTML_SORT_MISSED)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  row *rows = mlproto_calloc(n ? n : 1, sizeof *rows);
  if (rows == NULL)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  hw w = {.out = out, .o = o};
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (q->status >= 0 && !has_status(g[i], q->status))
      continue;
    row *r = &rows[k++];
    r->g = g[i];
    r->mentor = mentor_of(&w, g[i]);
    mlproto__range_figures f;
    mlproto__report_figures(&f, g[i], MLPROTO_DATE_NONE, MLPROTO_DATE_NONE);
    r->missed = f.missed + f.missed_with_attempts;
  }
  static int (*const CMP[])(const void *, const void *) = {by_ref, by_mentor, by_start,
                                                           by_missed};
  if (k > 1)
    qsort(rows, k, sizeof *rows, CMP[q->sort]);
  size_t per = q->per_page ? q->per_page : MLPROTO_HTML_PER_PAGE;
  size_t pages = k ? (k + per - 1) / per : 1;
  size_t page = q->page < pages ? q->page : pages - 1;
  size_t lo = page * per, hi = lo + per < k ? lo + per : k;

  char self[256];
  mlproto_html_options plain = *o;
  plain.lang_in_links = 0; /* the language switch adds its own lang= */
  hw ws = {.out = NULL, .o = &plain};
  overview_href(&ws, self, sizeof self, q->sort, q->status, page, 0);
  page_begin(&w, T(&w, MLPROTO__T_OVERVIEW), m->jobcentre_id, self);
  overview_controls(&w, q);
  raw(&w, "<p class=\"count\">");
  if (k)
    fmt(&w, "%s %zu–%zu %s %zu %s", T(&w, MLPROTO__T_SHOWING), lo + 1, hi, T(&w, MLPROTO__T_OF),
        k, T(&w, MLPROTO__T_GRANTS));
  else
    text(&w, T(&w, MLPROTO__T_NO_GRANTS));
  raw(&w, "</p>\n");
  legend(&w);
  if (k) {
    raw(&w, "<table class=\"overview\">\n<caption>");
    text(&w, T(&w, MLPROTO__T_OVERVIEW));
    raw(&w, "</caption>\n<thead>\n<tr>");
    static const int COLS[] = {MLPROTO__T_REF,     MLPROTO__T_MENTOR,  MLPROTO__T_PERIOD,
                               MLPROTO__T_RULE,    MLPROTO__T_PERIODS, MLPROTO__T_HOURS,
                               MLPROTO__T_LATE,    MLPROTO__T_CONFLICTS};
    for (size_t c = 0; c < sizeof COLS / sizeof COLS[0]; c++) {
      raw(&w, "<th scope=\"col\">");
      text(&w, T(&w, COLS[c]));
      if (COLS[c] == MLPROTO__T_HOURS)
        fmt(&w, " (%s)", T(&w, MLPROTO__T_HOURS_UNIT));
      raw(&w, "</th>");
    }
    raw(&w, "</tr>\n</thead>\n<tbody>\n");
    for (size_t i = lo; i < hi; i++)
      overview_row(&w, &rows[i]);
    raw(&w, "</tbody>\n</table>\n");
  }
  pager(&w, q, page, pages);
  char csv[256];
  overview_href(&w, csv, sizeof csv, MLPROTO_HTML_SORT_REF, -1, 0, 1);
  csv_link(&w, csv);
  page_end(&w, m);
  mlproto_free(rows);
  return finish(&w);
}

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
  code(w, g, g->case_ref);
  raw(w, "</dd>\n<dt>");
  text(w, T(w, MLPROTO__T_LEGAL_BASIS));
  raw(w, "</dt><dd>");
  code(w, g, g->legal_basis);
  raw(w, "</dd>\n");
  dl_item(w, MLPROTO__T_MENTOR, mentor_of(w, g));
  dl_item(w, MLPROTO__T_STATE, state_text(w, g));
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
    date(w, g->grant.start);
    raw(w, " – ");
    date(w, g->grant.end);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_EFFECTIVE_END));
    raw(w, "</dt><dd>");
    date(w, c->effective_end);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_RULE));
    raw(w, "</dt><dd>");
    rule(w, &g->grant.rule);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_CHANNELS));
    raw(w, "</dt><dd>");
    int first = 1;
    for (int ch = 1; ch <= (int)MLPROTO_CHANNEL__COUNT; ch++)
      if (g->grant.rule.channels & MLPROTO_CHANNEL_BIT(ch)) {
        if (!first)
          raw(w, ", ");
        text(w, channel_text(w, ch));
        first = 0;
      }
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_GRANTED_PER_WEEK));
    raw(w, "</dt><dd>");
    hours(w, g->grant.granted_minutes_per_week);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_HOURS));
    raw(w, "</dt><dd class=\"hours\">");
    hours(w, f.minutes_held);
    raw(w, " / ");
    hours(w, f.minutes_granted);
    raw(w, "</dd>\n<dt>");
    text(w, T(w, MLPROTO__T_LAST_CONTACT));
    raw(w, "</dt><dd>");
    date(w, f.last_contact);
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

static void th_cols(hw *w, const int *cols, size_t n) {
  raw(w, "<thead>\n<tr>");
  for (size_t i = 0; i < n; i++)
    cell(w, "<th scope=\"col\">", T(w, cols[i]), "</th>");
  raw(w, "</tr>\n</thead>\n");
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
  th_cols(w, COLS, sizeof COLS / sizeof COLS[0]);
  raw(w, "<tbody>\n");
  for (size_t k = 0; k < c->n_periods; k++) {
    const mlproto_period *p = &c->periods[k];
    raw(w, "<tr><th scope=\"row\">");
    period_weeks(w, p);
    raw(w, "</th><td>");
    date(w, p->start);
    raw(w, " – ");
    date(w, p->end);
    raw(w, "</td><td>");
    status_badge(w, (int)p->status);
    raw(w, " ");
    text(w, T(w, status_text_id((int)p->status)));
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
  th_cols(w, COLS, sizeof COLS / sizeof COLS[0]);
  raw(w, "<tbody>\n");
  for (size_t i = 0; i < g->n_contacts; i++) {
    const mlproto_report_contact *x = &g->contacts[i];
    raw(w, "<tr><th scope=\"row\">");
    when(w, x->start_ms);
    raw(w, "</th><td>");
    when(w, x->recorded_at_ms);
    raw(w, "</td><td>");
    if (x->log_index == MLPROTO_REPORT_NOT_LOGGED) {
      text(w, T(w, MLPROTO__T_NOT_LOGGED));
    } else {
      when(w, (int64_t)x->received_at_ms);
      raw(w, " (<data class=\"log-index\" value=\"");
      num(w, x->log_index);
      raw(w, "\">#");
      num(w, x->log_index);
      raw(w, "</data>)");
    }
    cell(w, "</td><td>", channel_text(w, x->channel), "</td>");
    cell(w, "<td>", outcome_text(w, x->outcome), "</td>");
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
  grant_href(&ws, self, sizeof self, g, "");
  grant_href(&w, csv, sizeof csv, g, "format=csv");
  snprintf(title, sizeof title, "%s %s", T(&w, MLPROTO__T_GRANT),
           g->case_ref[0] ? g->case_ref : T(&w, MLPROTO__T_ERASED_VALUE));
  page_begin(&w, title, m->jobcentre_id, self);
  if (g->erased)
    cell(&w, "<p class=\"notice erased\">", T(&w, MLPROTO__T_ERASED_NOTE), "</p>\n");
  else if (g->invalid)
    cell(&w, "<p class=\"notice\">", T(&w, MLPROTO__T_INVALID_NOTE), "</p>\n");
  grant_facts(&w, g);
  if (g->compliance) {
    legend(&w);
    periods_table(&w, g->compliance);
    contacts_table(&w, g);
  }
  csv_link(&w, csv);
  page_end(&w, m);
  return finish(&w);
}

/* ----------------------------------------------------------- timesheet */

static void month_href(const hw *w, char *b, size_t cap, mlproto_date first, int csv) {
  char month[MLPROTO_MONTH_STRLEN] = "", l[16];
  (void)mlproto_month_format(month, first);
  with_lang(w, l, sizeof l, "&");
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
  page_begin(&w, title, m->jobcentre_id, self);
  raw(&w, "<nav class=\"pager\" aria-label=\"");
  text(&w, T(&w, MLPROTO__T_MONTH));
  raw(&w, "\"><ul><li>");
  mlproto_date prev = first - 1;
  (void)mlproto_date_to_ymd(prev, &y, &mo, &d);
  month_href(&w, href, sizeof href, prev - d + 1, 0);
  link(&w, href, T(&w, MLPROTO__T_PREV_MONTH), 0);
  raw(&w, "</li><li>");
  month_href(&w, href, sizeof href, last + 1, 0);
  link(&w, href, T(&w, MLPROTO__T_NEXT_MONTH), 0);
  raw(&w, "</li></ul></nav>\n");
  uint64_t all_bill = 0, all_tr = 0;
  size_t shown = 0;
  for (size_t i = 0; i < n; i++) {
    const mlproto_grant_report *gr = g[i];
    uint64_t bill_sum = 0, tr_sum = 0;
    uint32_t held = 0;
    for (size_t k = 0; k < gr->n_contacts; k++) {
      int bill;
      const mlproto_report_contact *x = &gr->contacts[k];
      if (x->period >= 0 && x->local_date >= first && x->local_date <= last)
        tr_sum += x->transport_minutes; /* as the timesheet document */
      if (!mlproto__timesheet_listed(x, first, last, &bill))
        continue;
      if (bill) {
        bill_sum += x->minutes;
        held++;
      }
    }
    all_bill += bill_sum;
    all_tr += tr_sum;
    shown++;
    char gh[128];
    grant_href(&w, gh, sizeof gh, gr, "");
    raw(&w, "<section class=\"ts-grant\">\n<h2>");
    /* an erased grant has no reference left: its label, as on the overview */
    link(&w, gh, gr->case_ref[0] ? gr->case_ref : T(&w, MLPROTO__T_ERASED_VALUE), 0);
    const char *mentor = mentor_of(&w, gr);
    if (mentor) {
      raw(&w, " <span class=\"mentor\">(");
      text(&w, mentor);
      raw(&w, ")</span>");
    }
    raw(&w, "</h2>\n");
    raw(&w, "<table class=\"timesheet\">\n");
    static const int COLS[] = {MLPROTO__T_START,    MLPROTO__T_CHANNEL, MLPROTO__T_BILLABLE,
                               MLPROTO__T_TRANSPORT, MLPROTO__T_RECEIVED};
    th_cols(&w, COLS, sizeof COLS / sizeof COLS[0]);
    raw(&w, "<tbody>\n");
    for (size_t k = 0; k < gr->n_contacts; k++) {
      int bill;
      const mlproto_report_contact *x = &gr->contacts[k];
      if (!mlproto__timesheet_listed(x, first, last, &bill))
        continue;
      raw(&w, "<tr><th scope=\"row\">");
      when(&w, x->start_ms);
      cell(&w, "</th><td>", channel_text(&w, x->channel), "</td>");
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
  csv_link(&w, href);
  page_end(&w, m);
  return finish(&w);
}

/* ------------------------------------------------------ sign-in, error */

int mlproto_html_signin(mlproto_buf *out, const mlproto_html_options *o, int failed) {
  if (out == NULL || o == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  hw w = {.out = out, .o = o};
  page_begin(&w, T(&w, MLPROTO__T_SIGNIN), NULL, "/jobcentre/");
  if (failed)
    cell(&w, "<p class=\"notice\" role=\"alert\">", T(&w, MLPROTO__T_SIGNIN_FAILED), "</p>\n");
  cell(&w, "<p>", T(&w, MLPROTO__T_SIGNIN_INTRO), "</p>\n");
  char l[16];
  with_lang(&w, l, sizeof l, "?");
  raw(&w, "<form method=\"post\" action=\"/jobcentre/signin");
  text(&w, l);
  raw(&w, "\" class=\"signin\">\n<label for=\"token\">");
  text(&w, T(&w, MLPROTO__T_TOKEN_LABEL));
  raw(&w, "</label>\n<input id=\"token\" name=\"token\" type=\"password\" required "
          "autocomplete=\"off\" spellcheck=\"false\" maxlength=\"128\">\n"
          "<button type=\"submit\">");
  text(&w, T(&w, MLPROTO__T_SIGNIN));
  raw(&w, "</button>\n</form>\n");
  cell(&w, "<p class=\"note\">", T(&w, MLPROTO__T_SESSION_NOTE), "</p>\n");
  page_end(&w, NULL);
  return finish(&w);
}

int mlproto_html_error(mlproto_buf *out, const mlproto_html_options *o, int status, int code,
                       const char *detail) {
  if (out == NULL || o == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  hw w = {.out = out, .o = o};
  char title[64];
  snprintf(title, sizeof title, "%s %d", T(&w, MLPROTO__T_ERROR), status);
  page_begin(&w, title, NULL, "/jobcentre/");
  raw(&w, "<p class=\"notice\" role=\"alert\"><code class=\"errname\">");
  text(&w, mlproto_errname(code));
  raw(&w, "</code>: ");
  text(&w, mlproto_strerror(code));
  if (detail && *detail) {
    raw(&w, " (");
    text(&w, detail);
    raw(&w, ")");
  }
  raw(&w, "</p>\n<p>");
  char l[16];
  with_lang(&w, l, sizeof l, "?");
  char href[32];
  snprintf(href, sizeof href, "/jobcentre/%s", l);
  link(&w, href, T(&w, MLPROTO__T_BACK), 0);
  raw(&w, "</p>\n");
  page_end(&w, NULL);
  return finish(&w);
}

/* ------------------------------------------------------------- language */

mlproto_lang mlproto_lang_from_accept(const char *h) {
  if (h == NULL)
    return MLPROTO_LANG_DA;
  /* Each comma-separated range: "tag[;q=V]". The first da* or en* one with
   * q != 0 decides (the order of the header, not q's weight: browsers send
   * their preferences in order). */
  const char *p = h;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *tag = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ')
      p++;
    size_t tl = (size_t)(p - tag);
    int q0 = 0;
    while (*p && *p != ',') {
      if (*p == ';') {
        const char *q = p + 1;
        while (*q == ' ')
          q++;
        if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
          double v = strtod(q + 2, NULL);
          q0 = v <= 0.0;
        }
      }
      p++;
    }
    if (q0 || tl < 2)
      continue;
    int is_en = (tag[0] == 'e' || tag[0] == 'E') && (tag[1] == 'n' || tag[1] == 'N');
    int is_da = (tag[0] == 'd' || tag[0] == 'D') && (tag[1] == 'a' || tag[1] == 'A');
    if ((is_en || is_da) && (tl == 2 || tag[2] == '-'))
      return is_en ? MLPROTO_LANG_EN : MLPROTO_LANG_DA;
  }
  return MLPROTO_LANG_DA;
}
