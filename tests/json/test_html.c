/*
 * test_html.c — the jobcentre caseworker's pages (mlproto/html.h): the one
 * escaping function against a table, and whole pages rendered from a
 * report whose municipal reference and mentor name carry <script>, quotes
 * and ampersands, which must come out as text; every tag a page holds is
 * one of the few this module writes, no attribute is an event handler or
 * a style (the CSP forbids both); Danish and English dates and weeks.
 */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/compliance.h"
#include "mlproto/errors.h"
#include "mlproto/html.h"
#include "mlproto/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *in;
  size_t len; /* 0: strlen */
  const char *out;
} ESCAPES[] = {
    {"plain text", 0, "plain text"},
    {"<script>alert(1)</script>", 0, "&lt;script&gt;alert(1)&lt;/script&gt;"},
    {"a & b", 0, "a &amp; b"},
    {"&amp;", 0, "&amp;amp;"},
    {"\"double\" 'single'", 0, "&quot;double&quot; &#39;single&#39;"},
    {"\" onmouseover=\"x", 0, "&quot; onmouseover=&quot;x"},
    {"Søren Ærø Åse", 0, "Søren Ærø Åse"},
    {"tab\tnl\ncr\r", 0, "tab\tnl\ncr\r"},
    {"nul\0x", 5, "nul\xef\xbf\xbdx"},
    {"esc\x1b[0m", 0, "esc\xef\xbf\xbd[0m"},
    {"del\x7f", 0, "del\xef\xbf\xbd"},
    {"\xc3", 0, "\xef\xbf\xbd"},                       /* truncated */
    {"\xc0\xbc", 0, "\xef\xbf\xbd\xef\xbf\xbd"},        /* overlong '<' */
    {"\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
    {"\xf4\x90\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
    {"\xf0\x9f\x98\x80 ok", 0, "\xf0\x9f\x98\x80 ok"},
    {"", 0, ""},
};

static void escape_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof ESCAPES / sizeof ESCAPES[0]; i++) {
    mlproto_buf b;
    mlproto_buf_init(&b, 1024);
    size_t n = ESCAPES[i].len ? ESCAPES[i].len : strlen(ESCAPES[i].in);
    assert_int_equal(mlproto_html_escape(&b, ESCAPES[i].in, n), MLPROTO_OK);
    assert_int_equal(mlproto_buf_append(&b, "", 1), MLPROTO_OK);
    if (strcmp((const char *)b.data, ESCAPES[i].out) != 0)
      fail_msg("escape #%zu: got \"%s\", want \"%s\"", i, (const char *)b.data, ESCAPES[i].out);
    mlproto_buf_free(&b);
  }
  /* at the cap: TOO_LARGE and the buffer as it was */
  mlproto_buf b;
  mlproto_buf_init(&b, 8);
  assert_int_equal(mlproto_buf_append(&b, "ab", 2), MLPROTO_OK);
  assert_int_equal(mlproto_html_escape(&b, "<<<<", 4), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(b.len, 2);
  assert_int_equal(mlproto_html_escape(&b, NULL, 3), MLPROTO_OK);
  assert_int_equal(mlproto_html_escape(NULL, "x", 1), MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_buf_free(&b);
}

static void dates_and_languages(void **state) {
  (void)state;
  mlproto_date d;
  assert_int_equal(mlproto_date_from_ymd(&d, 2026, 11, 3), MLPROTO_OK);
  char out[48];
  mlproto_html_date(out, sizeof out, MLPROTO_LANG_DA, d);
  assert_string_equal(out, "d. 3. november 2026");
  mlproto_html_date(out, sizeof out, MLPROTO_LANG_EN, d);
  assert_string_equal(out, "3 November 2026");
  mlproto_html_date(out, sizeof out, MLPROTO_LANG_DA, MLPROTO_DATE_NONE);
  assert_string_equal(out, "");
  static const struct {
    const char *h;
    mlproto_lang want;
  } AL[] = {
      {NULL, MLPROTO_LANG_DA},
      {"", MLPROTO_LANG_DA},
      {"en", MLPROTO_LANG_EN},
      {"en-GB,en;q=0.9", MLPROTO_LANG_EN},
      {"da-DK,da;q=0.9,en;q=0.8", MLPROTO_LANG_DA},
      {"de-DE, en;q=0.5", MLPROTO_LANG_EN},
      {"en;q=0, da", MLPROTO_LANG_DA},
      {"eng", MLPROTO_LANG_DA},
      {"fr", MLPROTO_LANG_DA},
  };
  for (size_t i = 0; i < sizeof AL / sizeof AL[0]; i++)
    if (mlproto_lang_from_accept(AL[i].h) != AL[i].want)
      fail_msg("Accept-Language \"%s\"", AL[i].h ? AL[i].h : "(null)");
}

/* ------------------------------------------------------------- pages --- */

#define EVIL_REF "<script>alert(\"x\")</script>&'"
#define EVIL_REF_ESCAPED "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
#define EVIL_MENTOR "Ole \"O'Brien\" <b>&amp;</b>"
#define EVIL_MENTOR_ESCAPED "Ole &quot;O&#39;Brien&quot; &lt;b&gt;&amp;amp;&lt;/b&gt;"

static const char *mentor(void *ud, const uint8_t case_id[16]) {
  (void)ud;
  return case_id[0] == 0xca ? EVIL_MENTOR : NULL;
}

/* A report as mlproto_grant_report_compute makes one, by hand: a grant of
 * eight weeks without contacts, at a now in its fourth week. */
static mlproto_grant_report *evil_report(void) {
  mlproto_grant_report *g = mlproto_calloc(1, sizeof *g);
  assert_non_null(g);
  memset(g->grant_id, 0xab, 16);
  memset(g->case_id, 0xca, 16);
  strcpy(g->jobcentre_id, "kbh");
  strcpy(g->case_ref, EVIL_REF);
  strcpy(g->legal_basis, "LAB & <i>");
  assert_int_equal(mlproto_date_from_ymd(&g->grant.start, 2026, 11, 2), MLPROTO_OK);
  g->grant.end = g->grant.start + 55;
  g->grant.closed = MLPROTO_DATE_NONE;
  mlproto_rule_default(&g->grant.rule);
  g->grant.granted_minutes_per_week = 120;
  int64_t now = ((int64_t)g->grant.start + 24) * 86400000LL;
  assert_int_equal(mlproto_compliance_compute(&g->compliance, &g->grant, NULL, 0, NULL, 0, now),
                   MLPROTO_OK);
  return g;
}

static const char *const TAGS[] = {
    "!DOCTYPE", "html",  "head",  "meta", "title",   "link",   "body",  "header", "p",
    "span",     "nav",   "ul",    "li",   "a",       "form",   "button", "main",  "h1",
    "h2",       "footer", "data", "code", "details", "summary", "dl",   "dt",     "dd",
    "table",    "caption", "thead", "tr", "th",      "tbody",  "td",    "ol",     "tfoot",
    "section",  "label", "input", "div",    NULL};

/* Every tag of the page is one this module writes; no attribute starts an
 * event handler or carries a style; no script, no style element. */
static void assert_only_our_markup(const char *page) {
  assert_null(strstr(page, "<script"));
  assert_null(strstr(page, "<style"));
  assert_null(strstr(page, " style="));
  for (const char *p = strchr(page, '<'); p; p = strchr(p + 1, '<')) {
    const char *q = p + 1;
    if (*q == '/') q++;
    size_t n = strcspn(q, " >\n");
    int ok = 0;
    for (size_t i = 0; TAGS[i] && !ok; i++) ok = strlen(TAGS[i]) == n && !strncmp(q, TAGS[i], n);
    if (!ok) fail_msg("unexpected tag <%.*s> at %.40s", (int)n, q, p);
    const char *end = strchr(p, '>');
    assert_non_null(end);
    for (const char *a = p; a < end; a++)
      if (a[0] == ' ' && a[1] == 'o' && a[2] == 'n') fail_msg("event attribute: %.40s", p);
  }
}

static char *terminated(mlproto_buf *b) {
  assert_int_equal(mlproto_buf_append(b, "", 1), MLPROTO_OK);
  return (char *)b->data;
}

static void pages_escape_values(void **state) {
  (void)state;
  mlproto_grant_report *g = evil_report();
  const mlproto_grant_report *gs[] = {g};
  uint8_t root[32];
  memset(root, 0x5a, 32);
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, 4242, root, "log.example/<x>", 1796000000000LL, "kbh&co");
  mlproto_html_options o = {.lang = MLPROTO_LANG_DA, .mentor_name = mentor, .signed_in = 1};
  mlproto_html_overview_query q = MLPROTO_HTML_OVERVIEW_QUERY_INIT;

  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  const char *page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, EVIL_REF_ESCAPED));
  assert_non_null(strstr(page, EVIL_MENTOR_ESCAPED));
  assert_null(strstr(page, "kbh&co"));
  assert_non_null(strstr(page, "kbh&amp;co"));
  assert_non_null(strstr(page, "log.example/&lt;x&gt;"));
  assert_non_null(strstr(page, "<html lang=\"da\">"));
  /* the checkpoint, the Danish date, the weeks and the statuses as text */
  assert_non_null(strstr(page, "<data class=\"cp-size\" value=\"4242\">4242</data>"));
  assert_non_null(strstr(page, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"));
  assert_non_null(strstr(page, "d. 2. november 2026"));
  assert_non_null(strstr(page, "uge 45"));
  assert_non_null(strstr(page, ">MISSED<"));
  assert_non_null(strstr(page, ">PENDING<"));
  assert_non_null(strstr(page, "0:00 / 16:00")); /* held / granted: 8 weeks of 2 h */
  assert_non_null(strstr(page, "href=\"/jobcentre/grants/abababababababababababababababab\""));
  assert_non_null(strstr(page, "action=\"/jobcentre/signout\""));
  assert_non_null(strstr(page, "<th scope=\"col\">"));
  assert_non_null(strstr(page, "<th scope=\"row\""));

  /* English, kept in the links, and a filter that leaves nothing */
  mlproto_buf_reset(&b);
  o.lang = MLPROTO_LANG_EN;
  o.lang_in_links = 1;
  q.status = MLPROTO_PERIOD_MET;
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, "<html lang=\"en\">"));
  assert_non_null(strstr(page, "No grants."));
  assert_non_null(strstr(page, "href=\"/jobcentre/?status=MET&amp;lang=en\" aria-current=\"page\""));
  assert_null(strstr(page, EVIL_REF_ESCAPED));

  /* the grant's page */
  mlproto_buf_reset(&b);
  assert_int_equal(mlproto_html_grant(&b, &o, &m, g), MLPROTO_OK);
  page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, EVIL_REF_ESCAPED));
  assert_non_null(strstr(page, EVIL_MENTOR_ESCAPED));
  assert_non_null(strstr(page, "LAB &amp; &lt;i&gt;"));
  assert_non_null(strstr(page, "2 November 2026"));
  assert_non_null(strstr(page, "week 45"));
  assert_non_null(strstr(page, "No contacts."));
  assert_non_null(strstr(page, "?format=csv&amp;lang=en"));

  /* erased: said so, the codes gone shown as erased */
  mlproto_compliance_free(g->compliance);
  g->compliance = NULL;
  g->erased = 1;
  g->case_ref[0] = g->legal_basis[0] = 0;
  mlproto_buf_reset(&b);
  o.lang = MLPROTO_LANG_DA;
  o.lang_in_links = 0;
  assert_int_equal(mlproto_html_grant(&b, &o, &m, g), MLPROTO_OK);
  page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, "Denne bevilling er slettet"));
  assert_non_null(strstr(page, "<span class=\"erased\">(slettet)</span>"));

  /* the sign-in form and an error page */
  mlproto_buf_reset(&b);
  o.signed_in = 0;
  assert_int_equal(mlproto_html_signin(&b, &o, 1), MLPROTO_OK);
  page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, "<label for=\"token\">"));
  assert_non_null(strstr(page, "type=\"password\""));
  assert_non_null(strstr(page, "role=\"alert\""));
  assert_null(strstr(page, "signout"));
  mlproto_buf_reset(&b);
  assert_int_equal(mlproto_html_error(&b, &o, 404, MLPROTO_ERR_NOT_FOUND, "<no> & such"),
                   MLPROTO_OK);
  page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, "NOT_FOUND"));
  assert_non_null(strstr(page, "&lt;no&gt; &amp; such"));

  /* a cap too small: an error, never a page cut short silently */
  mlproto_buf small;
  mlproto_buf_init(&small, 512);
  assert_int_equal(mlproto_html_signin(&small, &o, 0), MLPROTO_ERR_TOO_LARGE);
  mlproto_buf_free(&small);
  mlproto_buf_free(&b);
  mlproto_grant_report_free(g);
}

/* Sort, filter and pages: 250 grants, 100 a page, links to the others. */
/* The query names of the sorts: what the links write is what is parsed. */
static void sort_names(void **state) {
  (void)state;
  for (int i = MLPROTO_HTML_SORT_REF; i <= MLPROTO_HTML_SORT_MISSED; i++) {
    const char *name = mlproto_html_sort_name(i);
    assert_non_null(name);
    assert_int_equal(mlproto_html_sort_parse(name, strlen(name)), i);
    assert_int_equal(mlproto_html_sort_parse(name, strlen(name) - 1), -1); /* a prefix */
  }
  assert_string_equal(mlproto_html_sort_name(MLPROTO_HTML_SORT_MISSED), "missed");
  assert_null(mlproto_html_sort_name(-1));
  assert_null(mlproto_html_sort_name(MLPROTO_HTML_SORT_MISSED + 1));
  assert_int_equal(mlproto_html_sort_parse("refx", 4), -1);
  assert_int_equal(mlproto_html_sort_parse("REF", 3), -1);
  assert_int_equal(mlproto_html_sort_parse("", 0), -1);
  assert_int_equal(mlproto_html_sort_parse(NULL, 0), -1);
}

static void overview_paged(void **state) {
  (void)state;
  enum { N = 250 };
  mlproto_grant_report *gs[N];
  for (int i = 0; i < N; i++) {
    gs[i] = evil_report();
    snprintf(gs[i]->case_ref, sizeof gs[i]->case_ref, "KBH-%04d", i);
    gs[i]->grant_id[0] = (uint8_t)i;
  }
  uint8_t root[32] = {0};
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, 1, root, "o", 1796000000000LL, "kbh");
  mlproto_html_options o = {.lang = MLPROTO_LANG_DA};
  mlproto_html_overview_query q = MLPROTO_HTML_OVERVIEW_QUERY_INIT;
  mlproto_buf b;
  mlproto_buf_init(&b, 8u << 20);
  q.page = 1;
  assert_int_equal(
      mlproto_html_overview(&b, &o, &m, (const mlproto_grant_report *const *)gs, N, &q),
      MLPROTO_OK);
  const char *page = terminated(&b);
  assert_null(strstr(page, ">KBH-0099<"));
  assert_non_null(strstr(page, ">KBH-0100<"));
  assert_non_null(strstr(page, ">KBH-0199<"));
  assert_null(strstr(page, ">KBH-0200<"));
  assert_non_null(strstr(page, "Viser 101–200 af 250 bevillinger"));
  assert_non_null(strstr(page, "Side 2 af 3"));
  assert_non_null(strstr(page, "href=\"/jobcentre/?page=3\""));
  assert_non_null(strstr(page, "href=\"/jobcentre/\">Forrige side"));
  /* past the last page: the last */
  mlproto_buf_reset(&b);
  q.page = 99;
  q.sort = MLPROTO_HTML_SORT_START;
  assert_int_equal(
      mlproto_html_overview(&b, &o, &m, (const mlproto_grant_report *const *)gs, N, &q),
      MLPROTO_OK);
  page = terminated(&b);
  assert_non_null(strstr(page, "Side 3 af 3"));
  assert_non_null(strstr(page, "href=\"/jobcentre/?sort=start&amp;page=2\""));
  mlproto_buf_free(&b);
  for (int i = 0; i < N; i++) mlproto_grant_report_free(gs[i]);
}

/* A range (m.from, m.to): only the periods that meet it, in the strip and
 * in the status filter; every link and the form keep it. */
static void overview_range(void **state) {
  (void)state;
  mlproto_grant_report *g = evil_report(); /* weeks 45..52 of 2026; 45, 46 MISSED */
  strcpy(g->case_ref, "KBH-1");
  uint8_t root[32] = {0};
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, 1, root, "o", 1796000000000LL, "kbh");
  m.from = g->grant.start + 7; /* 2026-11-09 .. 15, week 46 */
  m.to = g->grant.start + 13;
  mlproto_html_options o = {.lang = MLPROTO_LANG_DA};
  mlproto_html_overview_query q = MLPROTO_HTML_OVERVIEW_QUERY_INIT;
  q.sort = MLPROTO_HTML_SORT_MISSED;
  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  const mlproto_grant_report *const *gs = (const mlproto_grant_report *const *)&g;
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  const char *page = terminated(&b);
  assert_only_our_markup(page);
  assert_non_null(strstr(page, ">uge 46<"));
  assert_null(strstr(page, ">uge 45<"));
  assert_null(strstr(page, ">uge 47<"));
  assert_non_null(strstr(page, "name=\"from\" value=\"2026-11-09\""));
  assert_non_null(strstr(page, "name=\"to\" value=\"2026-11-15\""));
  assert_non_null(strstr(page, "<input type=\"hidden\" name=\"sort\" value=\"missed\">"));
  assert_non_null(strstr(page, "href=\"/jobcentre/?from=2026-11-09&amp;to=2026-11-15&amp;sort=mentor\""));
  assert_non_null(strstr(page, "href=\"/jobcentre/?format=csv&amp;from=2026-11-09&amp;to=2026-11-15\""));
  assert_non_null(strstr(page, "status=MISSED\""));
  /* MET: none of its periods in the range is (week 46 is MISSED) */
  mlproto_buf_reset(&b);
  q.status = MLPROTO_PERIOD_MET;
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  page = terminated(&b);
  assert_null(strstr(page, ">KBH-1<"));
  assert_non_null(strstr(page, "<input type=\"hidden\" name=\"status\" value=\"MET\">"));
  mlproto_buf_reset(&b);
  q.status = MLPROTO_PERIOD_MISSED;
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  assert_non_null(strstr(terminated(&b), ">KBH-1<"));
  /* a range after every period: the grant's row says so */
  mlproto_buf_reset(&b);
  q.status = -1;
  m.from = g->grant.start + 200;
  m.to = MLPROTO_DATE_NONE;
  assert_int_equal(mlproto_html_overview(&b, &o, &m, gs, 1, &q), MLPROTO_OK);
  page = terminated(&b);
  assert_null(strstr(page, ">uge "));
  assert_non_null(strstr(page, "name=\"to\" value=\"\""));
  assert_null(strstr(page, "to=2"));
  mlproto_buf_free(&b);
  mlproto_grant_report_free(g);
}

/* The timesheet's month links stop at the calendar's ends. */
static void timesheet_month_links(void **state) {
  (void)state;
  uint8_t root[32] = {0};
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, 1, root, "o", 1796000000000LL, "kbh");
  mlproto_html_options o = {.lang = MLPROTO_LANG_DA};
  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  static const struct {
    int y, mo, prev, next;
  } CASES[] = {{2026, 11, 1, 1}, {1900, 1, 0, 1}, {9999, 12, 1, 0}};
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    assert_int_equal(mlproto_date_from_ymd(&m.month, CASES[i].y, CASES[i].mo, 1), MLPROTO_OK);
    mlproto_buf_reset(&b);
    assert_int_equal(mlproto_html_timesheet(&b, &o, &m, NULL, 0), MLPROTO_OK);
    const char *page = terminated(&b);
    assert_only_our_markup(page);
    assert_int_equal(strstr(page, ">Forrige måned<") != NULL, CASES[i].prev);
    assert_int_equal(strstr(page, ">Næste måned<") != NULL, CASES[i].next);
    assert_null(strstr(page, "month=\""));
    assert_null(strstr(page, "month=&"));
  }
  assert_non_null(strstr(terminated(&b), "href=\"/jobcentre/timesheet?month=9999-11\""));
  mlproto_buf_free(&b);
}

/* Sorted by mentor: Danish order (æ, ø, å after z, case ignored). */
static const char *const NAMES[] = {"Åse", "ærø", "Øster", "Zoe", "anna", "Bo", "Ærø"};
static const char *by_index(void *ud, const uint8_t case_id[16]) {
  (void)ud;
  return NAMES[case_id[0]];
}

static void overview_by_mentor(void **state) {
  (void)state;
  enum { N = sizeof NAMES / sizeof NAMES[0] };
  mlproto_grant_report *gs[N];
  for (int i = 0; i < N; i++) {
    gs[i] = evil_report();
    gs[i]->case_id[0] = (uint8_t)i;
    snprintf(gs[i]->case_ref, sizeof gs[i]->case_ref, "R-%d", i);
  }
  uint8_t root[32] = {0};
  mlproto_report_meta m;
  mlproto_report_meta_init(&m, 1, root, "o", 1796000000000LL, "kbh");
  mlproto_html_options o = {.lang = MLPROTO_LANG_DA, .mentor_name = by_index};
  mlproto_html_overview_query q = MLPROTO_HTML_OVERVIEW_QUERY_INIT;
  q.sort = MLPROTO_HTML_SORT_MENTOR;
  mlproto_buf b;
  mlproto_buf_init(&b, 4u << 20);
  assert_int_equal(
      mlproto_html_overview(&b, &o, &m, (const mlproto_grant_report *const *)gs, N, &q),
      MLPROTO_OK);
  const char *page = terminated(&b);
  static const char *const WANT[] = {"anna", "Bo", "Zoe", "Ærø", "ærø", "Øster", "Åse"};
  const char *at = page;
  for (int i = 0; i < N; i++) {
    char cellv[64];
    snprintf(cellv, sizeof cellv, "data-label=\"Mentor\">%s</td>", WANT[i]);
    const char *hit = strstr(at, cellv);
    if (!hit) fail_msg("%s not after the previous name", WANT[i]);
    at = hit + 1;
  }
  mlproto_buf_free(&b);
  for (int i = 0; i < N; i++) mlproto_grant_report_free(gs[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(escape_table),
      cmocka_unit_test(dates_and_languages),
      cmocka_unit_test(pages_escape_values),
      cmocka_unit_test(sort_names),
      cmocka_unit_test(overview_paged),
      cmocka_unit_test(overview_range),
      cmocka_unit_test(timesheet_month_links),
      cmocka_unit_test(overview_by_mentor),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
