/* report_html_overview.c — the overview of a jobcentre's grants: sorted, filtered, paged (mlproto/html.h; the shared parts:
 * report_html_int.h). */
#include "report_html_int.h"

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

/* Whether a period of g within the range has status s. */
static int has_status(const mlproto_grant_report *g, int s, const mlproto_report_meta *m) {
  const mlproto_compliance *c = g->compliance;
  for (size_t k = 0; c && k < c->n_periods; k++)
    if ((int)c->periods[k].status == s &&
        mlproto__span_meets(c->periods[k].start, c->periods[k].end, m->from, m->to))
      return 1;
  return 0;
}

static const char *const SORT_NAME[] = {"ref", "mentor", "start", "missed"};

const char *mlproto_html_sort_name(int sort) {
  return sort >= 0 && sort <= MLPROTO_HTML_SORT_MISSED ? SORT_NAME[sort] : NULL;
}

int mlproto_html_sort_parse(const char *s, size_t n) {
  for (int i = 0; s && i <= MLPROTO_HTML_SORT_MISSED; i++)
    if (strlen(SORT_NAME[i]) == n && memcmp(SORT_NAME[i], s, n) == 0)
      return i;
  return -1;
}

/* The overview's URL for a query (status -1: none; page 0: none) and the
 * range of m (from=, to= when set). */
static void overview_href(const hw *w, const mlproto_report_meta *m, char *b, size_t cap, int sort,
                          int status, size_t page, int csv) {
  size_t o = 0;
  o += (size_t)snprintf(b + o, cap - o, "/jobcentre/");
  const char *sep = "?";
  if (csv) {
    o += (size_t)snprintf(b + o, cap - o, "%sformat=csv", sep);
    sep = "&";
  }
  const mlproto_date bound[2] = {m->from, m->to};
  static const char *const NAME[2] = {"from", "to"};
  for (int i = 0; i < 2; i++) {
    char d[16];
    if (bound[i] != MLPROTO_DATE_NONE && mlproto_date_format(d, bound[i]) == MLPROTO_OK && o < cap) {
      o += (size_t)snprintf(b + o, cap - o, "%s%s=%s", sep, NAME[i], d);
      sep = "&";
    }
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
    hw_with_lang(w, b + o, cap - o, sep);
}

/* The periods of g within the range, as a strip of their statuses. */
static void strip(hw *w, const mlproto_grant_report *g, const mlproto_report_meta *m) {
  const mlproto_compliance *c = g->compliance;
  if (c == NULL) {
    cell(w, "<span class=\"erased\">", hw_state_text(w, g), "</span>");
    return;
  }
  size_t shown = 0;
  for (size_t k = 0; k < c->n_periods; k++)
    shown += (size_t)mlproto__span_meets(c->periods[k].start, c->periods[k].end, m->from, m->to);
  if (shown == 0) {
    text(w, T(w, MLPROTO__T_NO_PERIODS));
    return;
  }
  raw(w, "<ol class=\"strip\">");
  for (size_t k = 0; k < c->n_periods; k++) {
    const mlproto_period *p = &c->periods[k];
    if (!mlproto__span_meets(p->start, p->end, m->from, m->to))
      continue;
    raw(w, "<li class=\"");
    raw(w, hw_status_class((int)p->status));
    raw(w, "\"><span class=\"wk\">");
    hw_period_weeks(w, p);
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

static void overview_row(hw *w, const row *r, const mlproto_report_meta *m) {
  const mlproto_grant_report *g = r->g;
  mlproto__range_figures f;
  mlproto__report_figures(&f, g, m->from, m->to);
  char href[128];
  hw_grant_href(w, href, sizeof href, g, "");
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
    hw_date(w, g->grant.start);
    raw(w, " – ");
    hw_date(w, g->compliance->effective_end);
  } else {
    text(w, hw_state_text(w, g));
  }
  raw(w, "</td>\n");
  td(w, "rule", MLPROTO__T_RULE);
  if (g->compliance)
    hw_rule(w, &g->grant.rule);
  raw(w, "</td>\n");
  td(w, "periods", MLPROTO__T_PERIODS);
  strip(w, g, m);
  raw(w, "</td>\n");
  td(w, "num hours", MLPROTO__T_HOURS);
  if (g->compliance) {
    hw_hours(w, f.minutes_held);
    raw(w, " / ");
    hw_hours(w, f.minutes_granted);
  }
  raw(w, "</td>\n");
  td(w, "num late", MLPROTO__T_LATE);
  num(w, f.late_entries);
  raw(w, "</td>\n");
  td(w, "num conflicts", MLPROTO__T_CONFLICTS);
  num(w, f.conflicts + (g->grant_conflict ? 1u : 0u));
  raw(w, "</td>\n</tr>\n");
}

/* The range: a GET form of two date fields (empty: no bound), keeping the
 * order, the filter and the language. */
static void range_form(hw *w, const mlproto_report_meta *m, const mlproto_html_overview_query *q) {
  raw(w, "<form class=\"range\" method=\"get\" action=\"/jobcentre/\" aria-label=\"");
  text(w, T(w, MLPROTO__T_RANGE));
  raw(w, "\">\n");
  const mlproto_date bound[2] = {m->from, m->to};
  static const char *const NAME[2] = {"from", "to"};
  static const int LABEL[2] = {MLPROTO__T_FROM, MLPROTO__T_TO};
  for (int i = 0; i < 2; i++) {
    char d[16] = "";
    if (bound[i] != MLPROTO_DATE_NONE && mlproto_date_format(d, bound[i]) != MLPROTO_OK)
      d[0] = '\0';
    raw(w, "<label>");
    text(w, T(w, LABEL[i]));
    raw(w, " <input type=\"date\" name=\"");
    raw(w, NAME[i]);
    raw(w, "\" value=\"");
    text(w, d);
    raw(w, "\"></label>\n");
  }
  if (q->sort != MLPROTO_HTML_SORT_REF) {
    raw(w, "<input type=\"hidden\" name=\"sort\" value=\"");
    text(w, mlproto_html_sort_name(q->sort));
    raw(w, "\">\n");
  }
  if (q->status >= 0) {
    raw(w, "<input type=\"hidden\" name=\"status\" value=\"");
    text(w, mlproto_period_status_name(q->status));
    raw(w, "\">\n");
  }
  if (w->o->lang_in_links) {
    raw(w, "<input type=\"hidden\" name=\"lang\" value=\"");
    text(w, T(w, MLPROTO__T_LANG_CODE));
    raw(w, "\">\n");
  }
  raw(w, "<button type=\"submit\">");
  text(w, T(w, MLPROTO__T_SHOW));
  raw(w, "</button>\n</form>\n");
}

static void overview_controls(hw *w, const mlproto_report_meta *m, const mlproto_html_overview_query *q) {
  char href[256];
  static const int SORT_TEXT[] = {MLPROTO__T_SORT_REF, MLPROTO__T_SORT_MENTOR,
                                  MLPROTO__T_SORT_START, MLPROTO__T_SORT_MISSED};
  raw(w, "<nav class=\"controls\" aria-label=\"");
  text(w, T(w, MLPROTO__T_SORT));
  raw(w, "\">\n<p>");
  text(w, T(w, MLPROTO__T_SORT));
  raw(w, ":</p><ul>");
  for (int s = 0; s < 4; s++) {
    overview_href(w, m, href, sizeof href, s, q->status, 0, 0);
    raw(w, "<li>");
    hw_link(w, href, T(w, SORT_TEXT[s]), q->sort == s);
    raw(w, "</li>");
  }
  raw(w, "</ul>\n</nav>\n<nav class=\"controls\" aria-label=\"");
  text(w, T(w, MLPROTO__T_FILTER));
  raw(w, "\">\n<p>");
  text(w, T(w, MLPROTO__T_FILTER));
  raw(w, ":</p><ul>");
  overview_href(w, m, href, sizeof href, q->sort, -1, 0, 0);
  raw(w, "<li>");
  hw_link(w, href, T(w, MLPROTO__T_ALL), q->status < 0);
  raw(w, "</li>");
  for (size_t i = 0; i < N_STATUS; i++) {
    overview_href(w, m, href, sizeof href, q->sort, hw_STATUS_ORDER[i], 0, 0);
    raw(w, "<li>");
    hw_link(w, href, mlproto_period_status_name(hw_STATUS_ORDER[i]), q->status == hw_STATUS_ORDER[i]);
    raw(w, "</li>");
  }
  raw(w, "</ul>\n</nav>\n");
}

static void pager(hw *w, const mlproto_report_meta *m, const mlproto_html_overview_query *q,
                  size_t page, size_t pages) {
  if (pages <= 1)
    return;
  char href[256];
  raw(w, "<nav class=\"pager\" aria-label=\"");
  text(w, T(w, MLPROTO__T_PAGES));
  raw(w, "\"><ul>");
  if (page > 0) {
    overview_href(w, m, href, sizeof href, q->sort, q->status, page - 1, 0);
    raw(w, "<li>");
    hw_link(w, href, T(w, MLPROTO__T_PREV), 0);
    raw(w, "</li>");
  }
  raw(w, "<li>");
  fmt(w, "%s %zu %s %zu", T(w, MLPROTO__T_PAGE), page + 1, T(w, MLPROTO__T_OF), pages);
  raw(w, "</li>");
  if (page + 1 < pages) {
    overview_href(w, m, href, sizeof href, q->sort, q->status, page + 1, 0);
    raw(w, "<li>");
    hw_link(w, href, T(w, MLPROTO__T_NEXT), 0);
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
    if (q->status >= 0 && !has_status(g[i], q->status, m))
      continue;
    row *r = &rows[k++];
    r->g = g[i];
    r->mentor = hw_mentor_of(&w, g[i]);
    mlproto__range_figures f;
    mlproto__report_figures(&f, g[i], m->from, m->to);
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
  overview_href(&ws, m, self, sizeof self, q->sort, q->status, page, 0);
  hw_page_begin(&w, T(&w, MLPROTO__T_OVERVIEW), m->jobcentre_id, self);
  overview_controls(&w, m, q);
  range_form(&w, m, q);
  raw(&w, "<p class=\"count\">");
  if (k)
    fmt(&w, "%s %zu–%zu %s %zu %s", T(&w, MLPROTO__T_SHOWING), lo + 1, hi, T(&w, MLPROTO__T_OF),
        k, T(&w, MLPROTO__T_GRANTS));
  else
    text(&w, T(&w, MLPROTO__T_NO_GRANTS));
  raw(&w, "</p>\n");
  hw_legend(&w);
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
      overview_row(&w, &rows[i], m);
    raw(&w, "</tbody>\n</table>\n");
  }
  pager(&w, m, q, page, pages);
  char csv[256];
  overview_href(&w, m, csv, sizeof csv, MLPROTO_HTML_SORT_REF, -1, 0, 1);
  hw_csv_link(&w, csv);
  hw_page_end(&w, m);
  mlproto_free(rows);
  return hw_finish(&w);
}
