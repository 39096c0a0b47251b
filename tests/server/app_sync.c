/* app_sync.c — see app_sync.h. */
#include "app_sync.h"

#include "admin_run.h"
#include "testutil.h"

#include "mlproto/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mark(sa_side_fn side, int s) {
  if (side) side(s);
}

int sa_sync(mls_app *app, mentorlog *h, const mentorlog_sync_options *o, int64_t *now,
            char *msg, size_t cap, sa_side_fn side) {
  mentorlog_sync *s = NULL;
  mark(side, SA_DEVICE);
  int err = mentorlog_sync_new(h, o, &s);
  mark(side, SA_NONE);
  if (err) {
    snprintf(msg, cap, "new: %s", mentorlog_errmsg(h));
    return err;
  }
  for (int guard = 0; guard < 100000; guard++) {
    mentorlog_sync_action a;
    mark(side, SA_DEVICE);
    mentorlog_sync_step(s, *now, &a);
    mark(side, SA_NONE);
    if (a.kind == MENTORLOG_SYNC_DONE || a.kind == MENTORLOG_SYNC_FAIL) {
      snprintf(msg, cap, "%s", mentorlog_sync_errmsg(s));
      err = a.kind == MENTORLOG_SYNC_FAIL ? a.error : 0;
      break;
    }
    if (a.kind == MENTORLOG_SYNC_WAIT) {
      *now = a.until_ms;
      continue;
    }
    char path[512], *q;
    snprintf(path, sizeof path, "%s", a.path);
    q = strchr(path, '?');
    if (q) *q++ = 0;
    mls_header hs[4];
    for (size_t i = 0; i < a.n_headers && i < 4; i++)
      hs[i] = (mls_header){a.headers[i].name, a.headers[i].value};
    mls_request rq = {.method = a.method, .path = path, .query = q ? q : "", .headers = hs,
                      .n_headers = a.n_headers, .body = a.body, .body_len = a.body_len,
                      .peer = "10.0.0.1", .conn_id = 1};
    mls_response rs;
    memset(&rs, 0, sizeof rs);
    mark(side, SA_SERVER);
    mls_app_handle(app, &rq, &rs, (uint64_t)*now);
    mark(side, SA_NONE);
    *now += 1;
    mark(side, SA_DEVICE);
    int d = mentorlog_sync_deliver(s, a.request_id, rs.status, NULL, 0, rs.body.data, rs.body.len,
                                   *now);
    mark(side, SA_NONE);
    assert_int_equal(d, 0);
    mark(side, SA_SERVER);
    mlproto_buf_free(&rs.body);
    mark(side, SA_NONE);
  }
  mark(side, SA_DEVICE);
  mentorlog_sync_free(s);
  mark(side, SA_NONE);
  return err;
}

mentorlog *sa_device(mls_app *app, const char *data_dir, const char *dir, const char *label,
                     const char *mentor, int64_t *now, sa_side_fn side) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = "correct horse battery";
  o.passphrase_len = strlen(o.passphrase);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  mentorlog *h = NULL;
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  char code[64];
  const char *args[] = {"enroll-code", mentor, NULL};
  assert_int_equal(sa_admin(data_dir, code, sizeof code, args), 0);
  mentorlog_sync_options so = MENTORLOG_SYNC_OPTIONS_INIT;
  so.enroll_code = code;
  so.server_url = "https://127.0.0.1:1";
  so.server_pin = "sha256:00";
  so.label = label;
  char msg[600];
  int err = sa_sync(app, h, &so, now, msg, sizeof msg, side);
  if (err) fail_msg("enrol %s: %s (%s)", label, mentorlog_errname(err), msg);
  return h;
}

sa_resp sa_get(mls_app *app, uint64_t now, const char *path, const char *query,
               const char *token, const char *peer) {
  char auth[200];
  mls_header hs[1];
  size_t nh = 0;
  if (token) {
    snprintf(auth, sizeof auth, "Bearer %s", token);
    hs[nh++] = (mls_header){"Authorization", auth};
  }
  mls_request rq = {.method = "GET", .path = path, .query = query ? query : "", .headers = hs,
                    .n_headers = nh, .peer = peer ? peer : "10.0.0.9", .conn_id = 7};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(app, &rq, &rs, now);
  sa_resp r = {.status = rs.status, .ctype = rs.content_type, .len = rs.body.len};
  snprintf(r.code, sizeof r.code, "%s", rs.error_code ? mlproto_errname(rs.error_code) : "OK");
  snprintf(r.headers, sizeof r.headers, "%s", rs.extra_headers);
  r.body = malloc(rs.body.len + 1);
  assert_non_null(r.body);
  if (rs.body.len) memcpy(r.body, rs.body.data, rs.body.len);
  r.body[rs.body.len] = 0;
  r.text = (char *)r.body;
  mlproto_buf_free(&rs.body);
  return r;
}

void sa_resp_free(sa_resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

int sa_sync_dev(mls_app *app, mentorlog *h, int64_t *now) {
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  char msg[600];
  int err = sa_sync(app, h, &o, now, msg, sizeof msg, NULL);
  if (err) print_message("sync: %s (%s)\n", mentorlog_errname(err), msg);
  return err;
}

int64_t sa_noon(mentorlog_date d) { return (int64_t)d * SA_DAY_MS + 11 * 3600000LL; }

void sa_grant(mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *jc, const char *ref,
              mentorlog_date start, mentorlog_date end) {
  mentorlog_grant_params p;
  mentorlog_grant_params_init(&p);
  p.jobcentre = jc;
  p.reference = ref;
  p.legal_basis = "LAB 78-81";
  p.purpose = "PURPOSE-SECRET";
  p.start = start;
  p.end = end;
  p.minutes_per_week = 120;
  assert_int_equal(mentorlog_grant_open(h, out, c, &p), 0);
}

void sa_contact(mentorlog *h, const uint8_t c[16], int64_t start_ms, uint32_t minutes, int channel,
                int outcome, uint32_t transport, const char *note) {
  mentorlog_contact_params p;
  mentorlog_contact_params_init(&p);
  p.start_ms = start_ms;
  p.minutes = minutes;
  p.channel = channel;
  p.outcome = outcome;
  p.transport_minutes = transport;
  p.note = note;
  uint8_t r[16];
  assert_int_equal(mentorlog_contact_add(h, r, c, &p), 0);
}

void sa_rmrf(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}
