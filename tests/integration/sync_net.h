/*
 * sync_net.h — the sync engine of libmentorlog (mentorlog/sync.h) carried
 * over the network to the REAL mentorlog-server (harness.h) by the CLI's
 * transport: tools/netclient (pinned TLS, keep-alive) and its retry policy
 * ml_transport_request (429/503/connection loss). The wall clock is the
 * engine's clock; a WAIT sleeps.
 *
 * A device is enrolled with the server's URL and pin (sha256:FINGERPRINT)
 * in the engine's options; every later sync connects with what the profile
 * kept (mentorlog_sync_status: server_url, server_pin), as the CLI will.
 *
 * Static functions in a header, like test_sync_util.h: each test file
 * includes it once. Failures fail the running cmocka test, except in
 * sn_run(), which only reports (a forked child uses it too).
 */
#ifndef ML_SYNC_NET_H
#define ML_SYNC_NET_H

#include "testutil.h"

#include "harness.h"
#include "netclient.h"
#include "transport.h"

#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"
#include "mlproto/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct sn_dev {
  char name[16];
  char dir[400];          /* the profile */
  mentorlog *h;
  ml_netclient *c;        /* to the server the profile names */
  int result;             /* of the last run: 0 DONE, else the FAIL code */
  char errmsg[512];
  unsigned requests, waits;
  mentorlog_sync_progress progress;
} sn_dev;

static int64_t sn_wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sn_sleep_until(int64_t until_ms) {
  int64_t now = sn_wall_ms();
  if (until_ms <= now) return;
  struct timespec ts = {(time_t)((until_ms - now) / 1000), (long)((until_ms - now) % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A client for url "https://HOST:PORT" pinned by pin "sha256:HEX" (what the
 * profile keeps); NULL when either does not parse. */
static ml_netclient *sn_client_for(const char *url, const char *pin) {
  char host[128];
  unsigned port = 0;
  if (sscanf(url, "https://%127[^:/]:%u", host, &port) != 2 || port == 0 || port > 65535) return NULL;
  if (strncmp(pin, "sha256:", 7) != 0) return NULL;
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = host;
  o.port = (uint16_t)port;
  o.tls_hostname = "mentorlog-server"; /* the self-signed certificate's only name */
  o.pin_sha256 = pin + 7;
  o.timeout_ms = 10000;
  ml_netclient *c = NULL;
  if (ml_netclient_open(&c, &o) != MLPROTO_OK) return NULL;
  return c;
}

/* One engine run over d->c; returns d->result (0: DONE). Never fails the
 * test itself. max_ms bounds the run (0: 120 s): past it, the result is
 * MENTORLOG_ERR_INTERNAL with "run took too long". */
static int sn_run(sn_dev *d, const mentorlog_sync_options *opts, int64_t max_ms) {
  mentorlog_sync_options def = MENTORLOG_SYNC_OPTIONS_INIT;
  mentorlog_sync *e = NULL;
  d->requests = d->waits = 0;
  d->errmsg[0] = 0;
  int rc = mentorlog_sync_new(d->h, opts ? opts : &def, &e);
  if (rc) {
    snprintf(d->errmsg, sizeof d->errmsg, "mentorlog_sync_new: %s", mentorlog_errmsg(d->h));
    return d->result = rc;
  }
  int64_t end = sn_wall_ms() + (max_ms ? max_ms : 120000);
  ml_transport_options to = ML_TRANSPORT_OPTIONS_INIT;
  for (;;) {
    if (sn_wall_ms() > end) {
      snprintf(d->errmsg, sizeof d->errmsg, "run took too long (%u requests)", d->requests);
      d->result = MENTORLOG_ERR_INTERNAL;
      break;
    }
    mentorlog_sync_action a;
    memset(&a, 0, sizeof a);
    rc = mentorlog_sync_step(e, sn_wall_ms(), &a);
    if (a.kind == MENTORLOG_SYNC_SEND) {
      mlproto_http_header hs[8];
      size_t nh = 0;
      for (size_t i = 0; i < a.n_headers && nh < 8; i++) hs[nh++] = (mlproto_http_header){a.headers[i].name, a.headers[i].value};
      ml_netclient_response r;
      memset(&r, 0, sizeof r);
      d->requests++;
      int t = ml_transport_request(d->c, &to, a.method, a.path, hs, nh, a.body, a.body_len, &r, NULL);
      mentorlog_sync_header rh[2];
      size_t nrh = 0;
      if (t == MLPROTO_OK) {
        if (r.content_type) rh[nrh++] = (mentorlog_sync_header){"Content-Type", r.content_type};
        if (r.retry_after) rh[nrh++] = (mentorlog_sync_header){"Retry-After", r.retry_after};
      }
      (void)mentorlog_sync_deliver(e, a.request_id, t == MLPROTO_OK ? r.status : 0, rh, nrh,
                                   t == MLPROTO_OK ? r.body : NULL, t == MLPROTO_OK ? r.body_len : 0,
                                   sn_wall_ms());
      ml_netclient_response_free(&r);
    } else if (a.kind == MENTORLOG_SYNC_WAIT) {
      d->waits++;
      int64_t until = a.until_ms;
      if (until > sn_wall_ms() + 65000) until = sn_wall_ms() + 65000; /* Retry-After is capped at 60 s */
      sn_sleep_until(until);
    } else {
      d->result = a.kind == MENTORLOG_SYNC_DONE ? 0 : (a.error ? a.error : rc ? rc : MENTORLOG_ERR_INTERNAL);
      snprintf(d->errmsg, sizeof d->errmsg, "%s", mentorlog_sync_errmsg(e));
      break;
    }
  }
  d->progress = (mentorlog_sync_progress)MENTORLOG_SYNC_PROGRESS_INIT;
  mentorlog_sync_get_progress(e, &d->progress);
  mentorlog_sync_free(e);
  return d->result;
}

static const char *sn_describe(const sn_dev *d) {
  static char buf[800];
  if (d->result == 0)
    snprintf(buf, sizeof buf, "%s: DONE (%u requests)", d->name, d->requests);
  else
    snprintf(buf, sizeof buf, "%s: FAIL %s: %s (%u requests)", d->name, mentorlog_errname(d->result),
             d->errmsg, d->requests);
  return buf;
}

/* A new profile root/name (passphrase, fast test KDF; key: a platform
 * keystore key instead, when not NULL). */
static void sn_dev_create(sn_dev *d, const char *root, const char *name, const uint8_t *key) {
  memset(d, 0, sizeof *d);
  snprintf(d->name, sizeof d->name, "%s", name);
  snprintf(d->dir, sizeof d->dir, "%s/%s", root, name);
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  if (key) {
    o.key = key;
  } else {
    o.passphrase = "correct horse battery";
    o.passphrase_len = strlen(o.passphrase);
    o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  }
  int rc = mentorlog_create(&d->h, d->dir, &o);
  if (rc) fail_msg("%s: mentorlog_create: %s %s", name, mentorlog_errname(rc), mentorlog_open_errmsg());
}

static mentorlog_sync_info sn_status(sn_dev *d) {
  mentorlog_sync_info i;
  memset(&i, 0, sizeof i);
  i.version = MENTORLOG_SYNC_INFO_VERSION;
  int rc = mentorlog_sync_status(d->h, &i);
  if (rc) fail_msg("%s: status: %s %s", d->name, mentorlog_errname(rc), mentorlog_errmsg(d->h));
  return i;
}

/* Connects d to the server its profile names. */
static void sn_connect(sn_dev *d) {
  if (d->c) return;
  mentorlog_sync_info i = sn_status(d);
  assert_true(i.enrolled);
  d->c = sn_client_for(i.server_url, i.server_pin);
  if (!d->c) fail_msg("%s: cannot connect to the kept server \"%s\" pin \"%s\"", d->name, i.server_url, i.server_pin);
}

/* Enrols d with a fresh code of mentor at s (URL and pin given to the engine). */
static void sn_enroll(sn_dev *d, ih_server *s, const char *mentor, const char *label) {
  char code[64], url[128], pin[80];
  const char *args[] = {"enroll-code", mentor, NULL};
  assert_int_equal(ih_admin(s, code, sizeof code, args), 0);
  snprintf(url, sizeof url, "https://%s:%d", s->host, s->port);
  snprintf(pin, sizeof pin, "sha256:%s", s->fingerprint);
  d->c = sn_client_for(url, pin);
  assert_non_null(d->c);
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  o.enroll_code = code;
  o.label = label;
  o.server_url = url;
  o.server_pin = pin;
  if (sn_run(d, &o, 0)) fail_msg("enrolment: %s", sn_describe(d));
  mentorlog_sync_info i = sn_status(d);
  assert_true(i.enrolled);
  assert_string_equal(i.server_url, url);
  assert_string_equal(i.server_pin, pin);
  /* later syncs connect with what the profile kept */
  ml_netclient_close(d->c);
  d->c = NULL;
}

static void sn_sync_ok(sn_dev *d) {
  sn_connect(d);
  if (sn_run(d, NULL, 0)) fail_msg("sync: %s", sn_describe(d));
}

static void sn_dev_close(sn_dev *d) {
  ml_netclient_close(d->c);
  d->c = NULL;
  mentorlog_close(d->h);
  d->h = NULL;
}

/* The running server's log, read through the store contract (test_store.h),
 * whichever backend the test runs on. */
static inline uint64_t sn_log_count(ih_server *s, t_log_filter f) { return t_log_count(s->store, &f); }

#endif
