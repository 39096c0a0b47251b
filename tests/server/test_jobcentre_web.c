/*
 * test_jobcentre_web.c — the jobcentre caseworker's web pages (/jobcentre/,
 * app_web.c) on the server's application half in the same process, with
 * time passed in: devices of two mentors (one with <script>, quotes and
 * ampersands in the name) sync grants of two jobcentres; a caseworker
 * signs in with the jobcentre token, reads the overview, a grant, the
 * timesheet and their CSV downloads (which must be the API's CSV byte for
 * byte, and the page's figures the API's), and signs out. Checked: the
 * cookie's flags, idle and absolute expiry, sign-out, Origin on every
 * POST, one jobcentre's session seeing none of another's grants, failed
 * sign-ins counted with failed bearer tokens, the headers of every
 * answer, the stylesheet's ETag, and that no page holds a name, a note or
 * a sealed byte.
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "admin_run.h"
#include "app.h"
#include "app_sync.h"
#include "store.h"
#include "test_store.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/civiltime.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL
#define MIN_MS 60000LL
#define HOST "mentorlog.test:8443"
#define ORIGIN "https://" HOST
#define CSP                                                                                   \
  "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; "          \
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'\r\n"
#define EVIL_NAME "Bo <script>alert(\"x\")</script> & 'Co'"
#define EVIL_NAME_HTML "Bo &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;"

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP];
  mls_app *app;
  int64_t now;
  char mentor_a[40], mentor_b[40];
  char tok_kbh[64], tok_aar[64], tok_audit[64];
  mentorlog *a1, *b1;
  uint8_t case1[16], case2[16], case3[16];
  uint8_t g1[16], g2[16], g3[16];
  mentorlog_date today;
} fx;

/* ---------------------------------------------------------- requests --- */

typedef struct resp {
  int status;
  char code[64];
  const char *ctype;
  char headers[1024];
  char *text;
  size_t len;
} resp;

typedef struct rq {
  const char *method, *path, *query;
  const char *cookie, *origin, *accept_language, *if_none_match, *bearer, *fetch_site;
  const char *body;
  const char *peer;
  int no_host;
} rq;

static resp request(mls_app *app, int64_t now, const rq *q) {
  mls_header hs[10];
  size_t nh = 0;
  char cookie[200], auth[128];
  if (!q->no_host) hs[nh++] = (mls_header){"Host", HOST};
  if (q->cookie) {
    snprintf(cookie, sizeof cookie, "theme=dark; mlsession=%s", q->cookie);
    hs[nh++] = (mls_header){"Cookie", cookie};
  }
  if (q->origin) hs[nh++] = (mls_header){"Origin", q->origin};
  if (q->fetch_site) hs[nh++] = (mls_header){"Sec-Fetch-Site", q->fetch_site};
  if (q->accept_language) hs[nh++] = (mls_header){"Accept-Language", q->accept_language};
  if (q->if_none_match) hs[nh++] = (mls_header){"If-None-Match", q->if_none_match};
  if (q->bearer) {
    snprintf(auth, sizeof auth, "Bearer %s", q->bearer);
    hs[nh++] = (mls_header){"Authorization", auth};
  }
  if (q->body) hs[nh++] = (mls_header){"Content-Type", "application/x-www-form-urlencoded"};
  mls_request r = {.method = q->method ? q->method : "GET", .path = q->path,
                   .query = q->query ? q->query : "", .headers = hs, .n_headers = nh,
                   .body = (const uint8_t *)q->body, .body_len = q->body ? strlen(q->body) : 0,
                   .peer = q->peer ? q->peer : "10.0.0.9", .conn_id = 9};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(app, &r, &rs, (uint64_t)now);
  resp o = {.status = rs.status, .ctype = rs.content_type, .len = rs.body.len};
  snprintf(o.code, sizeof o.code, "%s", rs.error_code ? mlproto_errname(rs.error_code) : "OK");
  snprintf(o.headers, sizeof o.headers, "%s", rs.extra_headers);
  o.text = malloc(rs.body.len + 1);
  assert_non_null(o.text);
  if (rs.body.len) memcpy(o.text, rs.body.data, rs.body.len);
  o.text[rs.body.len] = 0;
  mlproto_buf_free(&rs.body);
  return o;
}

static void resp_free(resp *r) {
  free(r->text);
  memset(r, 0, sizeof *r);
}

static resp page(fx *f, const char *path, const char *query, const char *cookie) {
  rq q = {.path = path, .query = query, .cookie = cookie};
  return request(f->app, f->now, &q);
}

/* The headers every answer below /jobcentre/ carries. */
static void assert_web_headers(const resp *r, const char *cache) {
  assert_non_null(strstr(r->headers, CSP));
  assert_non_null(strstr(r->headers, "X-Content-Type-Options: nosniff\r\n"));
  assert_non_null(strstr(r->headers, "Referrer-Policy: no-referrer\r\n"));
  char want[64];
  snprintf(want, sizeof want, "Cache-Control: %s\r\n", cache);
  assert_non_null(strstr(r->headers, want));
  assert_null(strstr(r->headers, "WWW-Authenticate"));
}

/* POST /jobcentre/signin with token: the session cookie's value (43
 * characters) in out, its flags checked. */
static void signin(fx *f, mls_app *app, const char *token, char out[64]) {
  char body[160];
  snprintf(body, sizeof body, "token=%s", token);
  rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body};
  resp r = request(app, f->now, &q);
  assert_int_equal(r.status, 303);
  assert_web_headers(&r, "no-store");
  assert_non_null(strstr(r.headers, "Location: /jobcentre/\r\n"));
  const char *sc = strstr(r.headers, "Set-Cookie: mlsession=");
  assert_non_null(sc);
  const char *v = sc + strlen("Set-Cookie: mlsession=");
  size_t n = strcspn(v, ";");
  assert_int_equal(n, 43);
  memcpy(out, v, n);
  out[n] = 0;
  const char *eol = strstr(sc, "\r\n");
  char line[256];
  snprintf(line, sizeof line, "%.*s", (int)(eol - sc), sc);
  assert_non_null(strstr(line, "; HttpOnly"));
  assert_non_null(strstr(line, "; Secure"));
  assert_non_null(strstr(line, "; SameSite=Strict"));
  assert_non_null(strstr(line, "; Path=/jobcentre"));
  assert_null(strstr(line, "Max-Age")); /* a session cookie: gone with the browser */
  assert_null(strstr(r.text, token));
  resp_free(&r);
}

/* ----------------------------------------------------------- fixture --- */

static int admin(fx *f, char *out, size_t cap, const char *a1, const char *a2, const char *a3,
                 const char *a4, const char *a5) {
  const char *args[] = {a1, a2, a3, a4, a5, NULL};
  return sa_admin(f->dir, out, cap, args);
}

static int sync_dev(fx *f, mentorlog *h) { return sa_sync_dev(f->app, h, &f->now); }

static void grant(mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *jc,
                  const char *ref, mentorlog_date start, mentorlog_date end) {
  sa_grant(h, c, out, jc, ref, start, end);
}

static void contact(mentorlog *h, const uint8_t c[16], int64_t start_ms, uint32_t minutes,
                    int channel, int outcome, uint32_t transport) {
  sa_contact(h, c, start_ms, minutes, channel, outcome, transport,
             "NOTE-SECRET the citizen talked about debts");
}

static int64_t noon(mentorlog_date d) { return sa_noon(d); }

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-web-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  f->today = (mentorlog_date)(f->now / DAY_MS);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  assert_int_equal(admin(f, f->mentor_a, sizeof f->mentor_a, "mentor", "add", "Anna & Ann", 0, 0),
                   0);
  assert_int_equal(admin(f, f->mentor_b, sizeof f->mentor_b, "mentor", "add", EVIL_NAME, 0, 0), 0);
  const char *kbh[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_kbh, sizeof f->tok_kbh, kbh), 0);
  const char *aar[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "aarhus", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_aar, sizeof f->tok_aar, aar), 0);
  assert_int_equal(admin(f, f->tok_audit, sizeof f->tok_audit, "token", "add", "--role",
                         "auditor", 0), 0);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->mentor_a, &f->now, NULL);
  snprintf(dir, sizeof dir, "%s/b1", f->dir);
  f->b1 = sa_device(f->app, f->dir, dir, "b1", f->mentor_b, &f->now, NULL);
  mentorlog_date s = f->today - 56, e = f->today + 60;
  assert_int_equal(mentorlog_case_open(f->a1, f->case1, "NAME-SECRET Ada", "+4512345678"), 0);
  grant(f->a1, f->case1, f->g1, "kbh", "KBH-2026-001", s, e);
  for (int w = 0; w < 8; w++) {
    if (w == 3) continue; /* a missed week */
    contact(f->a1, f->case1, noon(s + 7 * w + 1), 60, MENTORLOG_CHANNEL_HOME_VISIT,
            MENTORLOG_OUTCOME_HELD, 15);
  }
  contact(f->a1, f->case1, noon(f->today), 45, MENTORLOG_CHANNEL_VIDEO, MENTORLOG_OUTCOME_HELD, 0);
  assert_int_equal(mentorlog_case_open(f->a1, f->case2, "NAME-SECRET Bent", NULL), 0);
  grant(f->a1, f->case2, f->g2, "aarhus", "AAR-77", f->today - 20, f->today + 20);
  contact(f->a1, f->case2, noon(f->today - 2), 30, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD, 0);
  assert_int_equal(mentorlog_case_open(f->b1, f->case3, "NAME-SECRET Cai", NULL), 0);
  grant(f->b1, f->case3, f->g3, "kbh", "KBH-2026-002", f->today - 10, f->today + 30);
  contact(f->b1, f->case3, noon(f->today - 1), 90, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD, 20);
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, f->b1), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mentorlog_close(f->a1);
  mentorlog_close(f->b1);
  mls_app_close(f->app);
  sa_rmrf(f->dir);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

static void hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

/* What no page may hold: a citizen's name or phone, a note, a purpose, a
 * run of a sealed part (hex as ids are written, or raw). */
typedef struct sealed_ud {
  const resp *r;
  int sealed;
} sealed_ud;

static int sealed_fn(void *ud, const mls_log_entry *e) {
  sealed_ud *u = ud;
  mlproto_record *rec = NULL;
  if (mlproto_record_verify_stored(&rec, e->envelope, e->envelope_len, e->record_hash) != 0)
    return 0;
  if (rec->sealed && rec->sealed_len >= 12) {
    char hex[25];
    mlproto_hex_encode(hex, rec->sealed, 12);
    assert_null(strstr(u->r->text, hex));
    assert_null(memmem(u->r->text, u->r->len, rec->sealed, 12));
    u->sealed++;
  }
  mlproto_record_free(rec);
  return 0;
}

static void assert_nothing_sealed(fx *f, const resp *r) {
  assert_null(strstr(r->text, "SECRET"));
  assert_null(strstr(r->text, "4512345678"));
  sealed_ud u = {.r = r};
  t_log_each(f->store, sealed_fn, &u);
  assert_true(u.sealed > 5);
}

/* ------------------------------------------------------------- tests --- */

static void signin_browse_signout(void **state) {
  fx *f = *state;
  /* not signed in: the form (Danish by default) */
  resp r = page(f, "/jobcentre/", NULL, NULL);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ctype, "text/html; charset=utf-8");
  assert_web_headers(&r, "no-store");
  assert_non_null(strstr(r.text, "<html lang=\"da\">"));
  assert_non_null(strstr(r.text, "<form method=\"post\" action=\"/jobcentre/signin\""));
  assert_non_null(strstr(r.text, "<label for=\"token\">"));
  resp_free(&r);
  /* the other pages send a signed-out browser to the form, which comes
   * back to them after signing in (next=) */
  r = page(f, "/jobcentre/timesheet", "month=2026-11", NULL);
  assert_int_equal(r.status, 303);
  assert_non_null(strstr(r.headers, "Location: /jobcentre/?next=/jobcentre/timesheet%3Fmonth%3D2026-11\r\n"));
  assert_web_headers(&r, "no-store");
  resp_free(&r);
  r = page(f, "/jobcentre/", "next=/jobcentre/timesheet%3Fmonth%3D2026-11", NULL);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "<input type=\"hidden\" name=\"next\" value=\"/jobcentre/timesheet?month=2026-11\">"));
  resp_free(&r);
  r = page(f, "/jobcentre/", "from=2026-11-01&status=MISSED", NULL); /* a kept overview link */
  assert_non_null(strstr(r.text, "name=\"next\" value=\"/jobcentre/?from=2026-11-01&amp;status=MISSED\""));
  resp_free(&r);
  {
    char body[256];
    snprintf(body, sizeof body, "token=%s&next=%%2Fjobcentre%%2Ftimesheet%%3Fmonth%%3D2026-11",
             f->tok_kbh);
    rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body};
    resp n = request(f->app, f->now, &q);
    assert_int_equal(n.status, 303);
    assert_non_null(strstr(n.headers, "Location: /jobcentre/timesheet?month=2026-11\r\n"));
    resp_free(&n);
    /* never anywhere else: another site, another path, a dot segment, the
     * sign-out, a header break; the form keeps none of them */
    static const char *const BAD[] = {
        "%2F%2Fevil.example%2F", "https%3A%2F%2Fevil.example%2F", "%2Fv1%2Fpush",
        "%2Fjobcentre%2F..%2Fv1%2Fpull", "%2Fjobcentre%2Fsignout", "%2Fjobcentre%2F%0D%0ASet-Cookie%3A%20x",
        "%2Fjobcentre%2F%2F%2Fevil.example", "%2Fjobcentre%5C..%5Cx"};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
      snprintf(body, sizeof body, "token=%s&next=%s", f->tok_kbh, BAD[i]);
      q.body = body;
      n = request(f->app, f->now, &q);
      assert_int_equal(n.status, 303);
      if (!strstr(n.headers, "Location: /jobcentre/\r\n")) fail_msg("next=%s followed", BAD[i]);
      resp_free(&n);
      char qs[96];
      snprintf(qs, sizeof qs, "next=%s", BAD[i]);
      n = page(f, "/jobcentre/", qs, NULL);
      assert_int_equal(n.status, 200);
      assert_null(strstr(n.text, "name=\"next\""));
      resp_free(&n);
    }
  }

  char sid[64];
  signin(f, f->app, f->tok_kbh, sid);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_int_equal(r.status, 200);
  assert_web_headers(&r, "no-store");
  assert_non_null(strstr(r.text, ">KBH-2026-001</a>"));
  assert_non_null(strstr(r.text, ">KBH-2026-002</a>"));
  assert_null(strstr(r.text, "AAR-77"));
  assert_non_null(strstr(r.text, EVIL_NAME_HTML));
  assert_null(strstr(r.text, "<script>"));
  assert_non_null(strstr(r.text, "Anna &amp; Ann"));
  assert_non_null(strstr(r.text, ">MISSED</span>"));
  assert_non_null(strstr(r.text, ">MET</span>"));
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signout\""));
  /* the checkpoint it was computed over, in the page and its header */
  const char *cp = strstr(r.headers, "X-Mentorlog-Checkpoint: ");
  assert_non_null(cp);
  char size[24], root[65];
  assert_int_equal(sscanf(cp, "X-Mentorlog-Checkpoint: %23s %64s", size, root), 2);
  char want[160];
  snprintf(want, sizeof want, "<data class=\"cp-size\" value=\"%s\">", size);
  assert_non_null(strstr(r.text, want));
  snprintf(want, sizeof want, "<code class=\"cp-root\">%s</code>", root);
  assert_non_null(strstr(r.text, want));
  assert_nothing_sealed(f, &r);
  resp_free(&r);

  /* a grant, by the overview's link */
  char g1[33], path[96];
  hex16(g1, f->g1);
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g1);
  r = page(f, path, NULL, sid);
  assert_int_equal(r.status, 200);
  assert_web_headers(&r, "no-store");
  assert_non_null(strstr(r.text, "<h1>Bevilling KBH-2026-001</h1>"));
  assert_non_null(strstr(r.text, "hjemmebesøg"));
  assert_non_null(strstr(r.text, "sen registrering"));
  assert_non_null(strstr(r.text, "class=\"log-index\""));
  assert_nothing_sealed(f, &r);
  resp_free(&r);
  r = page(f, "/jobcentre/timesheet", NULL, sid);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "Timeseddel"));
  assert_nothing_sealed(f, &r);
  resp_free(&r);

  /* sign-out: the session is gone here and at any instance */
  rq q = {.method = "POST", .path = "/jobcentre/signout", .origin = ORIGIN, .cookie = sid};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 303);
  assert_web_headers(&r, "no-store");
  assert_non_null(strstr(r.headers, "Set-Cookie: mlsession=; Max-Age=0; Path=/jobcentre; "
                                    "HttpOnly; Secure; SameSite=Strict\r\n"));
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  assert_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  r = page(f, path, NULL, sid);
  assert_int_equal(r.status, 303);
  resp_free(&r);
}

/* Another instance on the same store knows the session (it is in the
 * store, not in the process). */
static void session_shared_by_instances(void **state) {
  fx *f = *state;
  char sid[64];
  signin(f, f->app, f->tok_kbh, sid);
  mls_app *other = NULL;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store};
  assert_int_equal(mls_app_open(&other, &cfg), 0);
  rq q = {.path = "/jobcentre/", .cookie = sid};
  resp r = request(other, f->now, &q);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, ">KBH-2026-001</a>"));
  resp_free(&r);
  q = (rq){.method = "POST", .path = "/jobcentre/signout", .origin = ORIGIN, .cookie = sid};
  r = request(other, f->now, &q);
  assert_int_equal(r.status, 303);
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  mls_app_close(other);
}

static void sessions_expire(void **state) {
  fx *f = *state;
  char sid[64];
  int64_t t0 = f->now;
  signin(f, f->app, f->tok_kbh, sid);
  /* idle: 30 minutes; each request renews it */
  f->now = t0 + 29 * MIN_MS;
  resp r = page(f, "/jobcentre/", NULL, sid);
  assert_non_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  f->now = t0 + 58 * MIN_MS; /* 29 min after the last request */
  r = page(f, "/jobcentre/", NULL, sid);
  assert_non_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  f->now = t0 + 58 * MIN_MS + 30 * MIN_MS; /* 30 min idle: gone */
  r = page(f, "/jobcentre/", NULL, sid);
  assert_int_equal(r.status, 200);
  assert_null(strstr(r.text, "KBH-2026-001"));
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  resp_free(&r);
  /* at most 8 hours, however busy */
  f->now = t0 = t0 + DAY_MS;
  signin(f, f->app, f->tok_kbh, sid);
  for (int k = 1; k <= 24; k++) { /* every 20 minutes for 8 hours */
    f->now = t0 + k * 20 * MIN_MS;
    r = page(f, "/jobcentre/timesheet", NULL, sid);
    assert_int_equal(r.status, k < 24 ? 200 : 303);
    resp_free(&r);
  }
  /* a cookie of the right shape that names nothing: signed out, not a failure */
  r = page(f, "/jobcentre/", NULL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  resp_free(&r);
}

/* The cookie and the pasted token, as a browser and a caseworker send them:
 * two cookies of our name (one planted by a sibling domain) sign out; a
 * new sign-in ends the session the browser held; a token pasted with
 * whitespace around it signs in; the pages spend the token's request
 * budget, as the API does. */
static void cookie_rules(void **state) {
  fx *f = *state;
  char sid[64], sid_aar[64];
  signin(f, f->app, f->tok_kbh, sid);
  signin(f, f->app, f->tok_aar, sid_aar);
  char two[160];
  snprintf(two, sizeof two, "%.43s; mlsession=%.43s", sid_aar, sid);
  resp r = page(f, "/jobcentre/", NULL, two);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  assert_null(strstr(r.text, "KBH-2026-001"));
  assert_null(strstr(r.text, "AAR-77"));
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, sid); /* alone, it still works */
  assert_non_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);

  /* signing in again (the old cookie sent along) ends the old session */
  char body[200];
  snprintf(body, sizeof body, "token=%%0A%%20%s%%20%%0D%%0A", f->tok_kbh); /* a sloppy paste */
  rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body,
          .cookie = sid};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 303);
  const char *sc = strstr(r.headers, "Set-Cookie: mlsession=");
  assert_non_null(sc);
  char fresh[64];
  snprintf(fresh, sizeof fresh, "%.43s", sc + strlen("Set-Cookie: mlsession="));
  resp_free(&r);
  assert_string_not_equal(fresh, sid);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, fresh);
  assert_non_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);

  /* with two cookies of the name, a sign-in ends both sessions */
  char s1[64], s2[64], both[160];
  signin(f, f->app, f->tok_kbh, s1);
  signin(f, f->app, f->tok_kbh, s2);
  snprintf(both, sizeof both, "%.43s; mlsession=%.43s", s1, s2);
  q = (rq){.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body,
           .cookie = both};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 303);
  resp_free(&r);
  for (int i = 0; i < 2; i++) {
    r = page(f, "/jobcentre/", NULL, i ? s2 : s1);
    assert_null(strstr(r.text, "KBH-2026-001"));
    assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
    resp_free(&r);
  }

  /* the token's budget (the API's: bursts of 100): a page beyond it is 429 */
  int limited = 0;
  for (int i = 0; i < 300 && !limited; i++) {
    r = page(f, "/jobcentre/timesheet", NULL, fresh);
    if (r.status == 429) {
      limited = 1;
      assert_string_equal(r.code, "RATE_LIMITED");
      assert_non_null(strstr(r.headers, "Retry-After: "));
      assert_web_headers(&r, "no-store");
    } else {
      assert_int_equal(r.status, 200);
    }
    resp_free(&r);
  }
  assert_true(limited);
  /* signing out spends none of it: it works with the budget gone */
  q = (rq){.method = "POST", .path = "/jobcentre/signout", .origin = ORIGIN, .cookie = fresh};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 303);
  assert_non_null(strstr(r.headers, "Set-Cookie: mlsession=; Max-Age=0;"));
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, fresh);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  resp_free(&r);

  /* a NUL inside the pasted token is no token */
  char nul[200];
  snprintf(nul, sizeof nul, "token=%.10s%%00%s", f->tok_kbh, f->tok_kbh + 10);
  q = (rq){.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = nul,
           .peer = "10.0.0.77"};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 401);
  assert_null(strstr(r.headers, "Set-Cookie: mlsession="));
  resp_free(&r);
}

static void posts_need_this_origin(void **state) {
  fx *f = *state;
  char body[160];
  snprintf(body, sizeof body, "token=%s", f->tok_kbh);
  const char *bad[] = {NULL, "https://evil.example", "http://" HOST, "https://" HOST ".evil",
                       "null"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = bad[i], .body = body};
    resp r = request(f->app, f->now, &q);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.code, "WEB_ORIGIN");
    assert_web_headers(&r, "no-store");
    assert_null(strstr(r.headers, "Set-Cookie"));
    resp_free(&r);
  }
  /* Origin "null" (what a browser sends for its own form under the pages'
   * Referrer-Policy: no-referrer) is taken with Fetch Metadata's
   * same-origin only */
  const char *sites[] = {NULL, "cross-site", "same-site", "none", "same-origin"};
  for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
    rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = "null",
            .fetch_site = sites[i], .body = body};
    resp r = request(f->app, f->now, &q);
    assert_int_equal(r.status, i + 1 < sizeof sites / sizeof sites[0] ? 403 : 303);
    resp_free(&r);
  }
  /* no Host to compare with: refused too */
  rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body,
          .no_host = 1};
  resp r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 403);
  resp_free(&r);
  /* a forged sign-out leaves the session alone */
  char sid[64];
  signin(f, f->app, f->tok_kbh, sid);
  q = (rq){.method = "POST", .path = "/jobcentre/signout", .origin = "https://evil.example",
           .cookie = sid};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 403);
  assert_null(strstr(r.headers, "Set-Cookie"));
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_non_null(strstr(r.text, "KBH-2026-001"));
  resp_free(&r);
  /* GET on the POST routes, POST on the pages */
  r = page(f, "/jobcentre/signin", NULL, sid);
  assert_int_equal(r.status, 405);
  assert_non_null(strstr(r.headers, "Allow: POST\r\n"));
  assert_web_headers(&r, "no-store");
  resp_free(&r);
  q = (rq){.method = "POST", .path = "/jobcentre/timesheet", .origin = ORIGIN, .cookie = sid};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 405);
  resp_free(&r);
}

/* A session of jobcentre B sees none of A's grants, by any page or link. */
static void jobcentres_apart(void **state) {
  fx *f = *state;
  char sid[64], g1[33], g2[33], path[96];
  hex16(g1, f->g1);
  hex16(g2, f->g2);
  signin(f, f->app, f->tok_aar, sid);
  resp r = page(f, "/jobcentre/", NULL, sid);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, ">AAR-77</a>"));
  assert_null(strstr(r.text, "KBH-2026"));
  assert_null(strstr(r.text, g1));
  assert_null(strstr(r.text, "Bo &lt;script")); /* B's mentor has no aarhus grant */
  resp_free(&r);
  r = page(f, "/jobcentre/", "format=csv", sid);
  assert_int_equal(r.status, 200);
  assert_null(strstr(r.text, "KBH-2026"));
  assert_non_null(strstr(r.text, "AAR-77"));
  resp_free(&r);
  const char *refs[] = {g1, "KBH-2026-001"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/jobcentre/grants/%s", refs[i]);
    r = page(f, path, NULL, sid);
    assert_int_equal(r.status, 404);
    assert_web_headers(&r, "no-store");
    assert_null(strstr(r.text, "KBH-2026-001</"));
    resp_free(&r);
    r = page(f, path, "format=csv", sid);
    assert_int_equal(r.status, 404);
    resp_free(&r);
  }
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g2);
  r = page(f, path, NULL, sid);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = page(f, "/jobcentre/timesheet", "format=csv", sid);
  assert_int_equal(r.status, 200);
  assert_null(strstr(r.text, "KBH-2026"));
  resp_free(&r);
  /* an auditor's token opens no session */
  char body[160];
  snprintf(body, sizeof body, "token=%s", f->tok_audit);
  rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body};
  r = request(f->app, f->now, &q);
  assert_int_equal(r.status, 403);
  assert_null(strstr(r.headers, "Set-Cookie"));
  assert_non_null(strstr(r.text, "action=\"/jobcentre/signin\""));
  resp_free(&r);
}

/* Failed sign-ins count against the address with failed bearer tokens:
 * past --auth-fail-limit the address is refused 429, sign-in and API alike. */
static void failed_signins_counted(void **state) {
  fx *f = *state;
  mls_app *app = NULL;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .auth_fail_limit = 3};
  assert_int_equal(mls_app_open(&app, &cfg), 0);
  const char *wrong[] = {"token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "token=", "other=x"};
  for (int i = 0; i < 3; i++) {
    rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = wrong[i],
            .peer = "192.0.2.7"};
    resp r = request(app, f->now, &q);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.code, "UNAUTHENTICATED");
    assert_web_headers(&r, "no-store");
    assert_non_null(strstr(r.text, "role=\"alert\""));
    assert_null(strstr(r.headers, "Set-Cookie"));
    resp_free(&r);
  }
  char body[160];
  snprintf(body, sizeof body, "token=%s", f->tok_kbh);
  rq q = {.method = "POST", .path = "/jobcentre/signin", .origin = ORIGIN, .body = body,
          .peer = "192.0.2.7"};
  resp r = request(app, f->now, &q);
  assert_int_equal(r.status, 429); /* even the right token, from this address */
  assert_non_null(strstr(r.headers, "Retry-After: "));
  assert_web_headers(&r, "no-store");
  resp_free(&r);
  rq api = {.path = "/v1/jobcentre/compliance", .bearer = f->tok_kbh, .peer = "192.0.2.7"};
  r = request(app, f->now, &api);
  assert_int_equal(r.status, 429);
  resp_free(&r);
  q.peer = "192.0.2.8"; /* another address signs in */
  r = request(app, f->now, &q);
  assert_int_equal(r.status, 303);
  resp_free(&r);
  /* a bearer-token failure counts against the sign-in too */
  rq bad_api = {.path = "/v1/jobcentre/compliance",
                .bearer = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", .peer = "192.0.2.9"};
  for (int i = 0; i < 3; i++) {
    r = request(app, f->now, &bad_api);
    assert_int_equal(r.status, 401);
    resp_free(&r);
  }
  q.peer = "192.0.2.9";
  r = request(app, f->now, &q);
  assert_int_equal(r.status, 429);
  resp_free(&r);
  mls_app_close(app);
}

static void every_answer_has_the_headers(void **state) {
  fx *f = *state;
  char sid[64], g1[33], path[96], month[8], q[32];
  signin(f, f->app, f->tok_kbh, sid);
  hex16(g1, f->g1);
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g1);
  mlproto_month_format(month, f->today);
  snprintf(q, sizeof q, "month=%s", month);
  const struct {
    const char *path, *query;
    int cookie, status;
  } PAGES[] = {
      {"/jobcentre/", NULL, 0, 200},
      {"/jobcentre/", NULL, 1, 200},
      {"/jobcentre/", "format=csv", 1, 200},
      {"/jobcentre/", "sort=missed&status=MISSED&lang=en", 1, 200},
      {"/jobcentre/", "sort=nope", 1, 400},
      {"/jobcentre/", "who=me", 1, 400},
      {"/jobcentre/", "page=0", 1, 400},
      {"/jobcentre/", "lang=fr", 1, 400},
      {"/jobcentre/", "from=&to=", 1, 200}, /* the range form's empty fields */
      {"/jobcentre/", "from=2026-11-01&status=MISSED&lang=da", 0, 200}, /* a kept link: sign in */
      {"/jobcentre/", "format=csv&sort=missed", 1, 400},
      {"/jobcentre/", "format=csv&page=2", 1, 400},
      {"/jobcentre", "from=2026-11-01&to=2026-11-30", 0, 308},
      {"/jobcentre/", "from=2026-11-01&to=2026-11-30&status=MISSED", 1, 200},
      {"/jobcentre/", "from=2026-02-30", 1, 400},
      {"/jobcentre/", "from=2026-12-01&to=2026-11-01", 1, 400},
      {"/jobcentre/", "from=2020-01-01&to=2026-01-01", 1, 400}, /* over 1,100 days */
      {path, NULL, 1, 200},
      {path, "format=csv", 1, 200},
      {path, "format=xml", 1, 400},
      {"/jobcentre/grants/KBH-2026-001", NULL, 1, 200},
      {"/jobcentre/grants/no%20such", NULL, 1, 404},
      {"/jobcentre/timesheet", q, 1, 200},
      {"/jobcentre/timesheet", "month=2026-13", 1, 400},
      {"/jobcentre/nothing", NULL, 1, 404},
      {"/jobcentre", NULL, 0, 308},
      {"/jobcentre/timesheet", NULL, 0, 303},
  };
  for (size_t i = 0; i < sizeof PAGES / sizeof PAGES[0]; i++) {
    resp r = page(f, PAGES[i].path, PAGES[i].query, PAGES[i].cookie ? sid : NULL);
    if (r.status != PAGES[i].status)
      fail_msg("%s?%s: %d, want %d", PAGES[i].path, PAGES[i].query ? PAGES[i].query : "",
               r.status, PAGES[i].status);
    assert_web_headers(&r, "no-store");
    if (r.status >= 400) {
      assert_string_equal(r.ctype, "text/html; charset=utf-8");
      assert_non_null(strstr(r.text, "<h1>"));
    }
    assert_null(strstr(r.text, "<script"));
    resp_free(&r);
  }
  /* /jobcentre without its slash keeps the query; one that is not plain
   * URL characters is left behind */
  resp slash = page(f, "/jobcentre", "from=2026-11-01&to=2026-11-30", NULL);
  assert_int_equal(slash.status, 308);
  assert_non_null(strstr(slash.headers, "Location: /jobcentre/?from=2026-11-01&to=2026-11-30\r\n"));
  resp_free(&slash);
  slash = page(f, "/jobcentre", "a=<b>", NULL);
  assert_int_equal(slash.status, 308);
  assert_non_null(strstr(slash.headers, "Location: /jobcentre/\r\n"));
  resp_free(&slash);
  /* answers made before the pages' code runs carry the headers too */
  rq odd[] = {{.method = "PUT", .path = "/jobcentre/"},
              {.method = "DELETE", .path = "/jobcentre/signin", .origin = ORIGIN},
              {.method = "GET", .path = "/jobcentre/", .body = "x=1"}};
  int want[] = {405, 405, 400};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    resp r = request(f->app, f->now, &odd[i]);
    assert_int_equal(r.status, want[i]);
    assert_web_headers(&r, "no-store");
    resp_free(&r);
  }
  /* the stylesheet: embedded, revalidated by its ETag */
  resp css = page(f, "/jobcentre/style.css", NULL, NULL);
  assert_int_equal(css.status, 200);
  assert_string_equal(css.ctype, "text/css; charset=utf-8");
  assert_web_headers(&css, "no-cache");
  assert_non_null(strstr(css.text, "@media print"));
  const char *et = strstr(css.headers, "ETag: \"");
  assert_non_null(et);
  char etag[64];
  size_t n = strcspn(et + 6, "\r");
  assert_int_equal(n, 34);
  snprintf(etag, sizeof etag, "%.*s", (int)n, et + 6);
  rq c = {.path = "/jobcentre/style.css", .if_none_match = etag};
  resp again = request(f->app, f->now, &c);
  assert_int_equal(again.status, 304);
  assert_int_equal(again.len, 0);
  assert_web_headers(&again, "no-cache");
  assert_non_null(strstr(again.headers, etag));
  resp_free(&again);
  c.if_none_match = "\"0123\"";
  again = request(f->app, f->now, &c);
  assert_int_equal(again.status, 200);
  assert_int_equal(again.len, css.len);
  resp_free(&again);
  resp_free(&css);
}

/* The downloads are the API's CSV byte for byte, at the same now; the
 * pages' figures are the API's JSON figures. */
static void downloads_are_the_api(void **state) {
  fx *f = *state;
  char sid[64], g1[33], path[96], api[96], month[8], q[48], from[16], to[16], rweb[80], rapi[80];
  signin(f, f->app, f->tok_kbh, sid);
  hex16(g1, f->g1);
  mlproto_month_format(month, f->today);
  snprintf(q, sizeof q, "month=%s&format=csv", month);
  /* a range: the last two weeks (the page's link order, the API's) */
  assert_int_equal(mlproto_date_format(from, f->today - 14), MLPROTO_OK);
  assert_int_equal(mlproto_date_format(to, f->today), MLPROTO_OK);
  snprintf(rweb, sizeof rweb, "format=csv&from=%s&to=%s", from, to);
  snprintf(rapi, sizeof rapi, "from=%s&to=%s&format=csv", from, to);
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g1);
  snprintf(api, sizeof api, "/v1/jobcentre/grants/%s/contacts", g1);
  const struct {
    const char *web, *web_q, *api, *api_q;
  } PAIRS[] = {
      {"/jobcentre/", "format=csv", "/v1/jobcentre/compliance", "format=csv"},
      {path, "format=csv", api, "format=csv"},
      {"/jobcentre/timesheet", q, "/v1/jobcentre/timesheet", q},
      {"/jobcentre/", rweb, "/v1/jobcentre/compliance", rapi},
  };
  for (size_t i = 0; i < sizeof PAIRS / sizeof PAIRS[0]; i++) {
    resp w = page(f, PAIRS[i].web, PAIRS[i].web_q, sid);
    sa_resp a = sa_get(f->app, (uint64_t)f->now, PAIRS[i].api, PAIRS[i].api_q, f->tok_kbh, NULL);
    assert_int_equal(w.status, 200);
    assert_int_equal(a.status, 200);
    assert_string_equal(w.ctype, "text/csv; charset=utf-8");
    assert_non_null(strstr(w.headers, "Content-Disposition: attachment; filename=\""));
    assert_web_headers(&w, "no-store");
    assert_int_equal(w.len, a.len);
    assert_memory_equal(w.text, a.text, a.len);
    assert_nothing_sealed(f, &w);
    resp_free(&w);
    sa_resp_free(&a);
  }
  /* the grant page's hours are the JSON totals' */
  sa_resp j = sa_get(f->app, (uint64_t)f->now, "/v1/jobcentre/compliance", NULL, f->tok_kbh, NULL);
  assert_int_equal(j.status, 200);
  const char *at = strstr(j.text, g1);
  assert_non_null(at);
  const char *tot = strstr(at, "\"totals\":{");
  assert_non_null(tot);
  unsigned long held = 0, granted = 0, late = 0;
  const char *h = strstr(tot, "\"minutes_held\":"), *g = strstr(tot, "\"minutes_granted\":"),
             *l = strstr(tot, "\"late_entries\":");
  assert_non_null(h);
  assert_non_null(g);
  assert_non_null(l);
  held = strtoul(h + strlen("\"minutes_held\":"), NULL, 10);
  granted = strtoul(g + strlen("\"minutes_granted\":"), NULL, 10);
  late = strtoul(l + strlen("\"late_entries\":"), NULL, 10);
  assert_true(held > 0 && granted > 0 && late > 0);
  sa_resp_free(&j);
  resp w = page(f, path, NULL, sid);
  char want[192];
  snprintf(want, sizeof want, "<dd class=\"hours\">%lu:%02lu / %lu:%02lu</dd>", held / 60,
           held % 60, granted / 60, granted % 60);
  assert_non_null(strstr(w.text, want));
  snprintf(want, sizeof want, "<dd class=\"late\">%lu</dd>", late);
  assert_non_null(strstr(w.text, want));
  resp_free(&w);
  w = page(f, "/jobcentre/", NULL, sid);
  snprintf(want, sizeof want,
           "<td class=\"num hours\" data-label=\"Timer leveret / bevilget\">%lu:%02lu / "
           "%lu:%02lu</td>",
           held / 60, held % 60, granted / 60, granted % 60);
  assert_non_null(strstr(w.text, want));
  resp_free(&w);
}

/* The timesheet page's totals are the timesheet document's. */
static void timesheet_totals(void **state) {
  fx *f = *state;
  char sid[64], month[8], q[32];
  signin(f, f->app, f->tok_kbh, sid);
  mlproto_month_format(month, f->today);
  snprintf(q, sizeof q, "month=%s", month);
  sa_resp j = sa_get(f->app, (uint64_t)f->now, "/v1/jobcentre/timesheet", q, f->tok_kbh, NULL);
  assert_int_equal(j.status, 200);
  /* the document's own totals close it: "billable_minutes":B,"transport_minutes":T} */
  const char *last = NULL;
  for (const char *p = j.text; (p = strstr(p, "\"billable_minutes\":")); p++) last = p;
  assert_non_null(last);
  unsigned long bill = strtoul(last + strlen("\"billable_minutes\":"), NULL, 10);
  const char *t = strstr(last, "\"transport_minutes\":");
  assert_non_null(t);
  unsigned long tr = strtoul(t + strlen("\"transport_minutes\":"), NULL, 10);
  assert_true(bill > 0);
  sa_resp_free(&j);
  resp r = page(f, "/jobcentre/timesheet", q, sid);
  assert_int_equal(r.status, 200);
  char want[96];
  snprintf(want, sizeof want, "<span class=\"billable\">%lu</span>", bill);
  assert_non_null(strstr(r.text, want));
  snprintf(want, sizeof want, "<span class=\"transport\">%lu</span>", tr);
  assert_non_null(strstr(r.text, want));
  assert_non_null(strstr(r.text, ">KBH-2026-001</a>"));
  assert_null(strstr(r.text, "AAR-77"));
  resp_free(&r);
}

/* A case erased by its device: its grant's page says so, the overview
 * keeps the grant (its jobcentre's), no figure or contact of it remains. */
static void erased_grant(void **state) {
  fx *f = *state;
  assert_int_equal(mentorlog_case_erase(f->b1, f->case3), 0);
  assert_int_equal(sync_dev(f, f->b1), 0);
  char sid[64], g3[33], path[96];
  hex16(g3, f->g3);
  signin(f, f->app, f->tok_kbh, sid);
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g3);
  resp r = page(f, path, NULL, sid);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, "Denne bevilling er slettet"));
  assert_non_null(strstr(r.text, "<span class=\"erased\">(slettet)</span>"));
  assert_null(strstr(r.text, "table class=\"contacts\""));
  assert_nothing_sealed(f, &r);
  resp_free(&r);
  r = page(f, "/jobcentre/", NULL, sid);
  assert_int_equal(r.status, 200);
  snprintf(path, sizeof path, "href=\"/jobcentre/grants/%s\"", g3);
  assert_non_null(strstr(r.text, path));
  assert_non_null(strstr(r.text, ">KBH-2026-001</a>"));
  assert_null(strstr(r.text, ">KBH-2026-002</a>"));
  resp_free(&r);
  /* and its CSV is the API's */
  snprintf(path, sizeof path, "/jobcentre/grants/%s", g3);
  resp w = page(f, path, "format=csv", sid);
  char api[96];
  snprintf(api, sizeof api, "/v1/jobcentre/grants/%s/contacts", g3);
  sa_resp a = sa_get(f->app, (uint64_t)f->now, api, "format=csv", f->tok_kbh, NULL);
  assert_int_equal(w.status, 200);
  assert_int_equal(a.status, 200);
  assert_int_equal(w.len, a.len);
  assert_memory_equal(w.text, a.text, a.len);
  resp_free(&w);
  sa_resp_free(&a);
}

static void languages(void **state) {
  fx *f = *state;
  char sid[64];
  signin(f, f->app, f->tok_kbh, sid);
  rq q = {.path = "/jobcentre/", .cookie = sid, .accept_language = "en-GB,en;q=0.8"};
  resp r = request(f->app, f->now, &q);
  assert_non_null(strstr(r.text, "<html lang=\"en\">"));
  assert_non_null(strstr(r.text, "Overview"));
  assert_non_null(strstr(r.text, "week "));
  resp_free(&r);
  q.query = "lang=da";
  r = request(f->app, f->now, &q);
  assert_non_null(strstr(r.text, "<html lang=\"da\">"));
  assert_non_null(strstr(r.text, "Oversigt"));
  assert_non_null(strstr(r.text, "uge "));
  resp_free(&r);
  r = page(f, "/jobcentre/", "lang=en", sid);
  assert_non_null(strstr(r.text, "<html lang=\"en\">"));
  char g1[33], want[96];
  hex16(g1, f->g1);
  snprintf(want, sizeof want, "href=\"/jobcentre/grants/%s?lang=en\"", g1);
  assert_non_null(strstr(r.text, want)); /* the choice is kept in the links */
  resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(signin_browse_signout, setup, teardown),
      cmocka_unit_test_setup_teardown(session_shared_by_instances, setup, teardown),
      cmocka_unit_test_setup_teardown(sessions_expire, setup, teardown),
      cmocka_unit_test_setup_teardown(cookie_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(posts_need_this_origin, setup, teardown),
      cmocka_unit_test_setup_teardown(jobcentres_apart, setup, teardown),
      cmocka_unit_test_setup_teardown(failed_signins_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(every_answer_has_the_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(downloads_are_the_api, setup, teardown),
      cmocka_unit_test_setup_teardown(timesheet_totals, setup, teardown),
      cmocka_unit_test_setup_teardown(erased_grant, setup, teardown),
      cmocka_unit_test_setup_teardown(languages, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
