/* report_html.c — the caseworker's pages (mlproto/html.h): the escaper,
 * the values, links and page frame every view shares (report_html_int.h),
 * the sign-in and error pages, and the language of a request. The views:
 * report_html_overview.c, report_html_grant.c, report_html_timesheet.c. */
#include "report_html_int.h"
#include "util_int.h"

/* ------------------------------------------------------------ escaping */

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
        uint32_t cp;
        adv = mlproto__utf8_next(p + i, n - i, &cp); /* RFC 3629; 0: not valid */
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

void hw_date(hw *w, mlproto_date d) {
  char b[48];
  mlproto_html_date(b, sizeof b, w->o->lang, d);
  text(w, b);
}

/* A Copenhagen wall time: "d. 3. november 2026 kl. 14:05" / "3 November 2026 at 14:05". */
void hw_when(hw *w, int64_t unix_ms) {
  mlproto_localtime lt;
  if (mlproto_cph_from_unix_ms(&lt, unix_ms) != MLPROTO_OK) {
    text(w, "?");
    return;
  }
  hw_date(w, lt.date);
  fmt(w, " %s %02d:%02d", T(w, MLPROTO__T_AT), lt.hour, lt.minute);
}

/* "uge 45" / "week 45" of an ISO label "2026-W45". */
void hw_week(hw *w, const char *iso) {
  const char *wk = strchr(iso, 'W');
  int n = wk ? atoi(wk + 1) : 0;
  fmt(w, "%s %d", T(w, MLPROTO__T_WEEK), n);
}

void hw_period_weeks(hw *w, const mlproto_period *p) {
  hw_week(w, p->weeks[0]);
  if (p->n_weeks > 1) {
    const char *wk = strchr(p->weeks[1], 'W');
    fmt(w, "–%d", wk ? atoi(wk + 1) : 0);
  }
}

void hw_hours(hw *w, uint64_t minutes) {
  fmt(w, "%llu:%02u", (unsigned long long)(minutes / 60), (unsigned)(minutes % 60));
}

const char *hw_status_class(int s) {
  switch (s) {
  case MLPROTO_PERIOD_MET: return "st st-met";
  case MLPROTO_PERIOD_NOT_ASSESSABLE: return "st st-na";
  case MLPROTO_PERIOD_PENDING: return "st st-pending";
  case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS: return "st st-mwa";
  case MLPROTO_PERIOD_MISSED: return "st st-missed";
  default: return "st";
  }
}

int hw_status_text_id(int s) {
  switch (s) {
  case MLPROTO_PERIOD_MET: return MLPROTO__T_ST_MET;
  case MLPROTO_PERIOD_NOT_ASSESSABLE: return MLPROTO__T_ST_NOT_ASSESSABLE;
  case MLPROTO_PERIOD_PENDING: return MLPROTO__T_ST_PENDING;
  case MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS: return MLPROTO__T_ST_MISSED_WITH_ATTEMPTS;
  default: return MLPROTO__T_ST_MISSED;
  }
}

const int hw_STATUS_ORDER[5] = {MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MISSED,
                                   MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_PERIOD_PENDING,
                                   MLPROTO_PERIOD_NOT_ASSESSABLE};

/* The status as a labelled badge: its stable name in a coloured, patterned
 * box (the name is the label: legible in black and white). */
void hw_status_badge(hw *w, int s) {
  raw(w, "<span class=\"");
  raw(w, hw_status_class(s));
  raw(w, "\">");
  text(w, mlproto_period_status_name(s));
  raw(w, "</span>");
}

const char *hw_channel_text(const hw *w, int ch) {
  if (ch >= 1 && ch <= (int)MLPROTO_CHANNEL__COUNT)
    return T(w, MLPROTO__T_CH_IN_PERSON + ch - 1);
  return "?";
}

const char *hw_outcome_text(const hw *w, int oc) {
  if (oc >= 1 && oc <= (int)MLPROTO_OUTCOME__COUNT)
    return T(w, MLPROTO__T_OC_HELD + oc - 1);
  return "?";
}

const char *hw_state_text(const hw *w, const mlproto_grant_report *g) {
  const char *s = mlproto__grant_state(g);
  if (strcmp(s, "ERASED") == 0)
    return T(w, MLPROTO__T_STATE_ERASED);
  if (strcmp(s, "INVALID") == 0)
    return T(w, MLPROTO__T_STATE_INVALID);
  return T(w, strcmp(s, "CLOSED") == 0 ? MLPROTO__T_STATE_CLOSED : MLPROTO__T_STATE_OPEN);
}

/* A code of the grant, or "(erased)" when an erasure took it. */
void hw_code(hw *w, const mlproto_grant_report *g, const char *s) {
  if (s[0])
    text(w, s);
  else if (g->erased)
    cell(w, "<span class=\"erased\">", T(w, MLPROTO__T_ERASED_VALUE), "</span>");
}

void hw_rule(hw *w, const mlproto_rule *r) {
  fmt(w, "%u %s %s", r->contacts_needed,
      T(w, r->contacts_needed == 1 ? MLPROTO__T_CONTACT_1 : MLPROTO__T_CONTACT_N),
      T(w, r->period_weeks == 2 ? MLPROTO__T_PER_2WEEKS : MLPROTO__T_PER_WEEK));
  if (r->min_minutes)
    fmt(w, ", %s %u %s", T(w, MLPROTO__T_AT_LEAST), r->min_minutes, T(w, MLPROTO__T_MIN));
}

const char *hw_mentor_of(const hw *w, const mlproto_grant_report *g) {
  return w->o->mentor_name ? w->o->mentor_name(w->o->mentor_ud, g->case_id) : NULL;
}

/* ------------------------------------------------------------- links */

/* The query-string suffix that keeps the chosen language: "" or
 * "lang=xx"; sep is the separator to put before it when it is not empty. */
void hw_with_lang(const hw *w, char *b, size_t cap, const char *sep) {
  if (w->o->lang_in_links)
    snprintf(b, cap, "%slang=%s", sep, T(w, MLPROTO__T_LANG_CODE));
  else
    b[0] = '\0';
}

/* <a href="HREF">label</a>: href and label are values (escaped). */
void hw_link(hw *w, const char *href, const char *label, int current) {
  raw(w, "<a href=\"");
  text(w, href);
  raw(w, current ? "\" aria-current=\"page\">" : "\">");
  text(w, label);
  raw(w, "</a>");
}

void hw_grant_href(const hw *w, char *b, size_t cap, const mlproto_grant_report *g,
                       const char *extra) {
  char id[33], l[16];
  mlproto_hex_encode(id, g->grant_id, 16);
  hw_with_lang(w, l, sizeof l, extra[0] ? "&" : "");
  snprintf(b, cap, "/jobcentre/grants/%s%s%s%s", id, extra[0] || l[0] ? "?" : "", extra, l);
}

/* ------------------------------------------------------------- frame */

/* <!DOCTYPE html> .. <main>: title, header with the menu, the language
 * switch to self (a path and query of this page without lang=). */
void hw_page_begin(hw *w, const char *title, const char *jobcentre, const char *self) {
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
    hw_with_lang(w, l, sizeof l, "?");
    snprintf(href, sizeof href, "/jobcentre/%s", l);
    raw(w, "<li>");
    hw_link(w, href, T(w, MLPROTO__T_OVERVIEW), 0);
    raw(w, "</li>\n<li>");
    snprintf(href, sizeof href, "/jobcentre/timesheet%s", l);
    hw_link(w, href, T(w, MLPROTO__T_TIMESHEET), 0);
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
void hw_page_end(hw *w, const mlproto_report_meta *m) {
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
    hw_when(w, m->generated_at_ms);
    raw(w, ".</p>\n");
  }
  raw(w, "</footer>\n</body>\n</html>\n");
}

/* What each status means, always shown (on paper too: the badges' borders
 * are explained where colour is gone). */
void hw_legend(hw *w) {
  raw(w, "<dl class=\"legend\" aria-label=\"");
  text(w, T(w, MLPROTO__T_LEGEND));
  raw(w, "\">\n");
  for (size_t i = 0; i < N_STATUS; i++) {
    raw(w, "<div><dt>");
    hw_status_badge(w, hw_STATUS_ORDER[i]);
    cell(w, "</dt><dd>", T(w, hw_status_text_id(hw_STATUS_ORDER[i])), "</dd></div>\n");
  }
  raw(w, "</dl>\n");
}

void hw_csv_link(hw *w, const char *href) {
  raw(w, "<p class=\"download\">");
  hw_link(w, href, T(w, MLPROTO__T_DOWNLOAD_CSV), 0);
  raw(w, "</p>\n");
}

int hw_finish(hw *w) { return w->err; }

void hw_th_cols(hw *w, const int *cols, size_t n) {
  raw(w, "<thead>\n<tr>");
  for (size_t i = 0; i < n; i++)
    cell(w, "<th scope=\"col\">", T(w, cols[i]), "</th>");
  raw(w, "</tr>\n</thead>\n");
}

/* ------------------------------------------------------ sign-in, error */

int mlproto_html_signin(mlproto_buf *out, const mlproto_html_options *o, int failed) {
  if (out == NULL || o == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  hw w = {.out = out, .o = o};
  hw_page_begin(&w, T(&w, MLPROTO__T_SIGNIN), NULL, "/jobcentre/");
  if (failed)
    cell(&w, "<p class=\"notice\" role=\"alert\">", T(&w, MLPROTO__T_SIGNIN_FAILED), "</p>\n");
  cell(&w, "<p>", T(&w, MLPROTO__T_SIGNIN_INTRO), "</p>\n");
  char l[16];
  hw_with_lang(&w, l, sizeof l, "?");
  raw(&w, "<form method=\"post\" action=\"/jobcentre/signin");
  text(&w, l);
  raw(&w, "\" class=\"signin\">\n<label for=\"token\">");
  text(&w, T(&w, MLPROTO__T_TOKEN_LABEL));
  raw(&w, "</label>\n<input id=\"token\" name=\"token\" type=\"password\" required "
          "autocomplete=\"off\" spellcheck=\"false\" maxlength=\"128\">\n");
  if (o->signin_next && *o->signin_next) {
    raw(&w, "<input type=\"hidden\" name=\"next\" value=\"");
    text(&w, o->signin_next);
    raw(&w, "\">\n");
  }
  raw(&w, "<button type=\"submit\">");
  text(&w, T(&w, MLPROTO__T_SIGNIN));
  raw(&w, "</button>\n</form>\n");
  cell(&w, "<p class=\"note\">", T(&w, MLPROTO__T_SESSION_NOTE), "</p>\n");
  hw_page_end(&w, NULL);
  return hw_finish(&w);
}

int mlproto_html_error(mlproto_buf *out, const mlproto_html_options *o, int status, int code,
                       const char *detail) {
  if (out == NULL || o == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  hw w = {.out = out, .o = o};
  char title[64];
  snprintf(title, sizeof title, "%s %d", T(&w, MLPROTO__T_ERROR), status);
  hw_page_begin(&w, title, NULL, "/jobcentre/");
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
  hw_with_lang(&w, l, sizeof l, "?");
  char href[32];
  snprintf(href, sizeof href, "/jobcentre/%s", l);
  hw_link(&w, href, T(&w, MLPROTO__T_BACK), 0);
  raw(&w, "</p>\n");
  hw_page_end(&w, NULL);
  return hw_finish(&w);
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
