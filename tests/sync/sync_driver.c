/* sync_driver.c — the in-process sync driver (sync_driver.h). */
#include "sync_driver.h"

#include "admin.h"

#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- files --- */

const char *sd_tmp_base(void) {
  const char *t = getenv("ML_SYNC_TMP");
  if (t && *t) return t;
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
    return "/dev/shm";
  t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

void sd_mkdtemp(char *out, size_t cap, const char *prefix) {
  int n = snprintf(out, cap, "%s/%s-XXXXXX", sd_tmp_base(), prefix);
  assert_true(n > 0 && (size_t)n < cap);
  if (!mkdtemp(out)) fail_msg("mkdtemp %s: %s", out, strerror(errno));
}

/* In process (no rm -rf: a thousand schedules would start thousands of
 * processes). Symbolic links are removed, never followed. */
void sd_rmtree(const char *dir) {
  if (!dir || !*dir) return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char p[1200];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      struct stat st;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) sd_rmtree(p);
      else if (unlink(p) != 0 && errno != ENOENT) fprintf(stderr, "remove %s: %s\n", p, strerror(errno));
    }
    closedir(d);
  }
  if (rmdir(dir) != 0 && errno != ENOENT) fprintf(stderr, "remove %s: %s\n", dir, strerror(errno));
}

static void copy_file(const char *from, const char *to, mode_t mode) {
  size_t n = 0;
  char *b = tu_read_file(from, &n);
  if (!b) fail_msg("cannot read %s", from);
  int fd = open(to, O_WRONLY | O_CREAT | O_EXCL, mode);
  if (fd < 0) fail_msg("cannot create %s: %s", to, strerror(errno));
  assert_int_equal(write(fd, b, n), (ssize_t)n);
  close(fd);
  sodium_memzero(b, n);
  free(b);
}

/* ------------------------------------------------------------ server --- */

void sd_server_open(sd_server *s, sd_clock *c, const char *dir, const char *key_from) {
  memset(s, 0, sizeof *s);
  s->clock = c;
  if (dir) {
    snprintf(s->dir, sizeof s->dir, "%s", dir);
  } else {
    sd_mkdtemp(s->dir, sizeof s->dir, "mlsync-srv");
    assert_int_equal(chmod(s->dir, 0700), 0);
  }
  if (key_from) {
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/server.key", key_from);
    snprintf(b, sizeof b, "%s/server.key", s->dir);
    copy_file(a, b, 0600);
    snprintf(a, sizeof a, "%s/log.name", key_from);
    snprintf(b, sizeof b, "%s/log.name", s->dir);
    copy_file(a, b, 0644);
  }
  /* Tests make many requests in little (test-clock) time from few
   * addresses: the per-address budget of credential-free routes is lifted.
   * The other budgets (challenges, failures, per device) stay as shipped. */
  if (test_store_uri(s->store, sizeof s->store, s->dir)) fail_msg("no store for %s", s->dir);
  mls_app_config cfg = {.data_dir = s->dir, .store_uri = s->store, .create = 1, .unauth_rate = 1e6};
  int rc = mls_app_open(&s->app, &cfg);
  if (rc) fail_msg("mls_app_open(%s): %s", s->dir, mlproto_errname(rc));
}

void sd_server_close(sd_server *s) {
  if (s->app) mls_app_close(s->app);
  s->app = NULL;
  sd_rmtree(s->dir);
  s->dir[0] = 0;
  if (test_store_drop(s->store)) fail_msg("cannot drop the test store");
  s->store[0] = 0;
}

static int g_saved_stderr = -1;
static char g_log_path[600];

void sd_log_quiet(void) {
  const char *v = getenv("ML_SYNC_VERBOSE");
  if ((v && *v && strcmp(v, "0") != 0) || g_saved_stderr >= 0) return;
  snprintf(g_log_path, sizeof g_log_path, "%s/mlsync-server-log-XXXXXX", sd_tmp_base());
  int fd = mkstemp(g_log_path);
  if (fd < 0) return;
  fflush(stderr);
  g_saved_stderr = dup(2);
  dup2(fd, 2);
  close(fd);
}

void sd_log_tail(unsigned lines) {
  if (g_saved_stderr < 0) return;
  fflush(stderr);
  size_t n = 0;
  char *b = tu_read_file(g_log_path, &n);
  if (!b) return;
  size_t at = n;
  unsigned seen = 0;
  while (at > 0 && seen <= lines)
    if (b[--at] == '\n') seen++;
  printf("--- the last %u lines of the server's log ---\n%s", lines, b + (at ? at + 1 : 0));
  free(b);
}

void sd_log_restore(void) {
  if (g_saved_stderr < 0) return;
  fflush(stderr);
  dup2(g_saved_stderr, 2);
  close(g_saved_stderr);
  g_saved_stderr = -1;
  unlink(g_log_path);
}

int sd_admin(sd_server *s, char *out, size_t cap, ...) {
  const char *argv[16] = {"admin", "--data", s->dir};
  int argc = 3;
  if (test_store_cli(s->store)) {
    argv[argc++] = "--store";
    argv[argc++] = s->store;
  }
  va_list ap;
  va_start(ap, cap);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL) {
    assert_true(argc < 15);
    argv[argc++] = a;
  }
  va_end(ap);
  argv[argc] = NULL;
  char po[700], pe[700];
  snprintf(po, sizeof po, "%s/admin.out", s->dir);
  snprintf(pe, sizeof pe, "%s/admin.err", s->dir);
  fflush(stdout);
  fflush(stderr);
  int so = dup(1), se = dup(2);
  int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
  dup2(fo, 1);
  dup2(fe, 2);
  close(fo);
  close(fe);
  int rc = mls_admin_main(argc, (char **)argv);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(se, 2);
  close(so);
  close(se);
  size_t n = 0;
  char *o = tu_read_file(po, &n);
  char *e = tu_read_file(pe, &n);
  if (out && cap) {
    snprintf(out, cap, "%s", o ? o : "");
    size_t l = strlen(out);
    if (l && out[l - 1] == '\n') out[l - 1] = 0;
  }
  if (rc != 0) fprintf(stderr, "admin %s %s: exit %d: %s", argv[3], argc > 4 ? argv[4] : "", rc,
                       e ? e : "");
  if (o) sodium_memzero(o, strlen(o)); /* may hold an enrolment code */
  free(o);
  free(e);
  unlink(po);
  unlink(pe);
  return rc;
}

void sd_mentor_add(sd_server *s, const char *name, char id[33]) {
  char out[128];
  assert_int_equal(sd_admin(s, out, sizeof out, "mentor", "add", name, NULL), 0);
  assert_int_equal(strlen(out), 32);
  memcpy(id, out, 33);
}

void sd_enroll_code(sd_server *s, const char *mentor, char code[64]) {
  assert_int_equal(sd_admin(s, code, 64, "enroll-code", mentor, "--ttl", "30d", NULL), 0);
  assert_true(strlen(code) >= 16);
}

void sd_device_revoke(sd_server *s, const uint8_t device_id[MENTORLOG_ID_BYTES]) {
  char hex[2 * MENTORLOG_ID_BYTES + 1], out[256];
  mlproto_hex_encode(hex, device_id, MENTORLOG_ID_BYTES);
  assert_int_equal(sd_admin(s, out, sizeof out, "device", "revoke", hex, NULL), 0);
}

/* ---------------------------------------------------------- exchange --- */

void sd_answer_free(sd_answer *a) {
  free(a->body);
  memset(a, 0, sizeof *a);
}

/* Appends "name\0value\0" to the store and a header pointing at them. */
static void add_header(sd_answer *a, size_t *used, const char *name, size_t nl, const char *value,
                       size_t vl) {
  if (a->n_headers == SD_MAX_HEADERS || *used + nl + vl + 2 > sizeof a->hdr_store) return;
  char *n = a->hdr_store + *used;
  memcpy(n, name, nl);
  n[nl] = 0;
  char *v = n + nl + 1;
  memcpy(v, value, vl);
  v[vl] = 0;
  *used += nl + vl + 2;
  a->headers[a->n_headers].name = n;
  a->headers[a->n_headers].value = v;
  a->n_headers++;
}

void sd_answer_set_headers(sd_answer *a, const char *ct, const char *extra) {
  a->n_headers = 0;
  size_t used = 0;
  a->content_type[0] = 0;
  if (ct) {
    snprintf(a->content_type, sizeof a->content_type, "%s", ct);
    add_header(a, &used, "Content-Type", 12, ct, strlen(ct));
  }
  const char *p = extra ? extra : "";
  while (*p) {
    const char *eol = strstr(p, "\r\n");
    if (!eol) eol = p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon) {
      const char *v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      add_header(a, &used, p, (size_t)(colon - p), v, (size_t)(eol - v));
    }
    p = *eol ? eol + 2 : eol;
  }
}

void sd_answer_set_body(sd_answer *a, const uint8_t *b, size_t len) {
  uint8_t *n = malloc(len ? len : 1);
  assert_non_null(n);
  if (len) memcpy(n, b, len);
  free(a->body);
  a->body = n;
  a->len = len;
}

const char *sd_answer_header(const sd_answer *a, const char *name) {
  for (size_t i = 0; i < a->n_headers; i++)
    if (strcasecmp(a->headers[i].name, name) == 0) return a->headers[i].value;
  return NULL;
}

/* The code of an Error body (protobuf), "" when none. */
static void error_name(const uint8_t *b, size_t len, char out[64]) {
  out[0] = 0;
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_ERROR, b, len) == 0) {
    const Mentorlog__V1__Error *e = (const Mentorlog__V1__Error *)m;
    snprintf(out, 64, "%s", e->code ? e->code : "");
  }
  mlproto_msg_free(m);
}

static void handle(sd_server *s, const char *peer, const char *method, const char *target,
                   const mls_header *hs, size_t nh, const uint8_t *body, size_t len,
                   sd_answer *out) {
  memset(out, 0, sizeof *out);
  char path[1024];
  snprintf(path, sizeof path, "%s", target);
  char *q = strchr(path, '?');
  const char *query = "";
  if (q) {
    *q = 0;
    query = q + 1;
  }
  mls_request rq = {.method = method, .path = path, .query = query, .headers = hs,
                    .n_headers = nh, .body = body, .body_len = len,
                    .peer = peer ? peer : "10.0.0.1", .conn_id = 1};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(s->app, &rq, &rs, (uint64_t)s->clock->now_ms);
  s->requests++;
  s->clock->now_ms += 1; /* latency */
  out->status = rs.status;
  sd_answer_set_body(out, rs.body.data, rs.body.len);
  mlproto_buf_free(&rs.body);
  sd_answer_set_headers(out, rs.content_type, rs.extra_headers);
  if (out->status != 200) error_name(out->body, out->len, out->error);
}

void sd_exchange(sd_server *s, const char *peer, const mentorlog_sync_action *act,
                 sd_answer *out) {
  mls_header hs[SD_MAX_HEADERS];
  size_t nh = 0;
  for (size_t i = 0; i < act->n_headers && nh < SD_MAX_HEADERS; i++)
    hs[nh++] = (mls_header){act->headers[i].name, act->headers[i].value};
  handle(s, peer, act->method, act->path, hs, nh, act->body, act->body_len, out);
}

void sd_call(sd_server *s, const char *peer, const char *method, const char *target,
             const uint8_t *body, size_t len, sd_answer *out) {
  mls_header hs[1] = {{"Content-Type", "application/vnd.mentorlog.v1+protobuf"}};
  handle(s, peer, method, target, hs, body ? 1 : 0, body, len, out);
}

void sd_call_auth(sd_server *s, const char *peer, const char *method, const char *target,
                  const char *authorization, sd_answer *out) {
  mls_header hs[1] = {{"Authorization", authorization}};
  handle(s, peer, method, target, hs, 1, NULL, 0, out);
}

void sd_error_answer(sd_answer *out, int code, const char *detail, const char *extra) {
  memset(out, 0, sizeof *out);
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_error(&rs, code, detail, 0);
  out->status = mlproto_http_status(code);
  sd_answer_set_body(out, rs.body.data, rs.body.len);
  mlproto_buf_free(&rs.body);
  sd_answer_set_headers(out, rs.content_type, extra);
  snprintf(out->error, sizeof out->error, "%s", mlproto_errname(code));
}

/* ----------------------------------------------------------- devices --- */

int sd_keystore_profiles;

static int64_t dev_clock(void *ctx) { return ((sd_clock *)ctx)->now_ms; }

void sd_dev_create(sd_dev *d, sd_server *srv, sd_clock *c, const char *name, const char *peer) {
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  snprintf(d->peer, sizeof d->peer, "%s", peer);
  d->srv = srv;
  d->clock = c;
  sd_mkdtemp(d->root, sizeof d->root, "mlsync-dev");
  snprintf(d->dir, sizeof d->dir, "%s/p", d->root);
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  if (sd_keystore_profiles) {
    randombytes_buf(d->key, sizeof d->key);
    o.key = d->key;
  } else {
    o.passphrase = "correct horse battery";
    o.passphrase_len = strlen(o.passphrase);
    o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  }
  o.clock_ms = dev_clock;
  o.clock_ctx = c;
  int rc = mentorlog_create(&d->h, d->dir, &o);
  if (rc) fail_msg("%s: mentorlog_create: %s %s", name, mentorlog_errname(rc), mentorlog_open_errmsg());
}

void sd_dev_close(sd_dev *d) {
  sd_sync_end(d);
  mentorlog_close(d->h);
  d->h = NULL;
  sodium_memzero(d->key, sizeof d->key);
  sd_rmtree(d->root);
  d->root[0] = 0;
}

void sd_sync_begin(sd_dev *d, const mentorlog_sync_options *opts) {
  assert_false(d->running);
  mentorlog_sync_options def = MENTORLOG_SYNC_OPTIONS_INIT;
  int rc = mentorlog_sync_new(d->h, opts ? opts : &def, &d->s);
  if (rc) fail_msg("%s: mentorlog_sync_new: %s %s", d->name, mentorlog_errname(rc), mentorlog_errmsg(d->h));
  d->running = 1;
  d->result = 0;
  d->errmsg[0] = 0;
  d->steps = d->sends = d->waits = 0;
  d->max_wait_ms = 0;
  d->last_path[0] = 0;
}

static void finish(sd_dev *d, const mentorlog_sync_action *a) {
  d->result = a->kind == MENTORLOG_SYNC_DONE ? 0 : a->error;
  if (a->kind == MENTORLOG_SYNC_FAIL && a->error == 0)
    fail_msg("%s: FAIL without an error code", d->name);
  snprintf(d->errmsg, sizeof d->errmsg, "%s", mentorlog_sync_errmsg(d->s));
  d->progress = (mentorlog_sync_progress)MENTORLOG_SYNC_PROGRESS_INIT;
  mentorlog_sync_get_progress(d->s, &d->progress);
  d->running = 0;
}

int sd_sync_step(sd_dev *d) {
  assert_true(d->running);
  mentorlog_sync_action a;
  memset(&a, 0, sizeof a);
  int rc = mentorlog_sync_step(d->s, d->clock->now_ms, &a);
  d->steps++;
  switch (a.kind) {
  case MENTORLOG_SYNC_SEND: {
    if (rc) fail_msg("%s: step returned %s with a SEND", d->name, mentorlog_errname(rc));
    d->sends++;
    snprintf(d->last_path, sizeof d->last_path, "%s %s", a.method, a.path);
    sd_answer ans;
    memset(&ans, 0, sizeof ans);
    if (d->hook) d->hook(d->hook_ctx, d, &a, &ans);
    else sd_exchange(d->srv, d->peer, &a, &ans);
    rc = mentorlog_sync_deliver(d->s, a.request_id, ans.status, ans.headers, ans.n_headers,
                                ans.body, ans.len, d->clock->now_ms);
    sd_answer_free(&ans);
    if (rc) fail_msg("%s: deliver of the outstanding request: %s", d->name, mentorlog_errname(rc));
    return 1;
  }
  case MENTORLOG_SYNC_WAIT:
    if (rc) fail_msg("%s: step returned %s with a WAIT", d->name, mentorlog_errname(rc));
    d->waits++;
    if (a.until_ms - d->clock->now_ms > d->max_wait_ms) d->max_wait_ms = a.until_ms - d->clock->now_ms;
    if (a.until_ms > d->clock->now_ms) d->clock->now_ms = a.until_ms;
    else d->clock->now_ms += 1; /* a WAIT for the past: time still passes */
    return 1;
  case MENTORLOG_SYNC_DONE:
    if (rc) fail_msg("%s: step returned %s with DONE", d->name, mentorlog_errname(rc));
    finish(d, &a);
    return 0;
  case MENTORLOG_SYNC_FAIL:
    if (rc != a.error) fail_msg("%s: step returned %d, FAIL action %d", d->name, rc, a.error);
    finish(d, &a);
    return 0;
  default:
    fail_msg("%s: unknown action kind %d", d->name, a.kind);
  }
  return 0;
}

void sd_sync_end(sd_dev *d) {
  mentorlog_sync_free(d->s);
  d->s = NULL;
  d->running = 0;
}

int sd_sync_opts(sd_dev *d, const mentorlog_sync_options *opts, sd_hook hook, void *ctx,
                 unsigned max_steps) {
  d->hook = hook;
  d->hook_ctx = ctx;
  sd_sync_begin(d, opts);
  if (!max_steps) max_steps = 20000;
  while (sd_sync_step(d))
    if (d->steps >= max_steps) {
      sd_sync_end(d);
      d->result = SD_STUCK;
      snprintf(d->errmsg, sizeof d->errmsg, "no DONE or FAIL within %u steps (last: %s)",
               max_steps, d->last_path);
      d->hook = NULL;
      return SD_STUCK;
    }
  sd_sync_end(d);
  d->hook = NULL;
  return d->result;
}

int sd_sync(sd_dev *d, sd_hook hook, void *ctx, unsigned max_steps) {
  return sd_sync_opts(d, NULL, hook, ctx, max_steps);
}

const char *sd_describe(const sd_dev *d) {
  static char buf[1024];
  if (d->result == 0)
    snprintf(buf, sizeof buf, "%s: DONE after %u steps", d->name, d->steps);
  else
    snprintf(buf, sizeof buf, "%s: FAIL %s: %s (after %u steps, %u requests, last %s)", d->name,
             d->result == SD_STUCK ? "STUCK" : mentorlog_errname(d->result), d->errmsg, d->steps,
             d->sends, d->last_path);
  return buf;
}

void sd_enroll(sd_dev *d, const char *mentor, const char *label) {
  char code[64];
  sd_enroll_code(d->srv, mentor, code);
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  o.enroll_code = code;
  o.label = label ? label : d->name;
  o.server_url = "https://mentorlog-server.test";
  o.server_pin = "sha256:00";
  int rc = sd_sync_opts(d, &o, NULL, NULL, 0);
  sodium_memzero(code, sizeof code);
  if (rc) fail_msg("enrolment: %s", sd_describe(d));
  mentorlog_sync_info i = sd_status(d);
  assert_true(i.enrolled);
}

void sd_sync_ok(sd_dev *d) {
  if (sd_sync(d, NULL, NULL, 0)) fail_msg("honest sync: %s", sd_describe(d));
}

mentorlog_sync_info sd_status(sd_dev *d) {
  mentorlog_sync_info i;
  memset(&i, 0, sizeof i);
  i.version = MENTORLOG_SYNC_INFO_VERSION;
  int rc = mentorlog_sync_status(d->h, &i);
  if (rc) fail_msg("%s: mentorlog_sync_status: %s %s", d->name, mentorlog_errname(rc), mentorlog_errmsg(d->h));
  return i;
}

void sd_approve(sd_dev *approver, sd_dev *d) {
  char fp[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(d->h, fp), 0);
  mentorlog_sync_info di = sd_status(d);
  assert_string_equal(di.fingerprint, fp);
  mentorlog_device *v = NULL;
  size_t n = 0;
  int rc = mentorlog_devices(approver->h, &v, &n);
  if (rc) fail_msg("%s: mentorlog_devices: %s", approver->name, mentorlog_errname(rc));
  size_t k = n;
  for (size_t i = 0; i < n; i++)
    if (memcmp(v[i].id, di.device_id, MENTORLOG_ID_BYTES) == 0) k = i;
  if (k == n) fail_msg("%s does not list %s", approver->name, d->name);
  /* what the mentor compares by eye on the two screens */
  assert_string_equal(v[k].fingerprint, fp);
  assert_false(v[k].self);
  rc = mentorlog_device_approve(approver->h, v[k].id, fp);
  mentorlog_devices_free(v, n);
  if (rc) fail_msg("%s approves %s: %s %s", approver->name, d->name, mentorlog_errname(rc),
                   mentorlog_errmsg(approver->h));
}

void sd_state_hash(sd_dev *d, uint8_t out[32], unsigned *conflicts, unsigned *locked) {
  sd_state_hash_of(d->h, d->name, out, conflicts, locked);
}
