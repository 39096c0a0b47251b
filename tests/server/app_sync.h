/* app_sync.h — run a device's sync engine (mentorlog/sync.h) to its end
 * against the server's application half in the same process
 * (mls_app_handle): each request the engine asks for is handed to the app
 * as it would arrive over HTTP, and the answer delivered back. Shared by
 * the app-level tests that need devices with real records on a server. */
#ifndef ML_TEST_APP_SYNC_H
#define ML_TEST_APP_SYNC_H

#include "app.h"
#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"

#include <stddef.h>
#include <stdint.h>

/* Told whose code runs next: SA_DEVICE (the engine's calls), SA_SERVER
 * (mls_app_handle and freeing its answer), SA_NONE — for tests that count
 * or fail allocations on one side only. May be NULL. */
enum { SA_NONE = 0, SA_DEVICE = 1, SA_SERVER = 2 };
typedef void (*sa_side_fn)(int side);

/* Runs the engine to DONE or FAIL; *now is the engine's clock (advanced by
 * 1 ms per request and to every WAIT's end). Returns 0 or the engine's
 * error, its message in msg. A deliver() that fails is a test failure. */
int sa_sync(mls_app *app, mentorlog *h, const mentorlog_sync_options *o, int64_t *now,
            char *msg, size_t cap, sa_side_fn side);

/* One answer of the app, copied out: body is NUL-terminated (text is the
 * same bytes, for string checks), code the error's name or "OK". */
typedef struct sa_resp {
  int status;
  char code[64];
  const char *ctype;     /* static: the app's content type */
  char headers[1024];    /* the extra header lines */
  uint8_t *body;
  char *text;            /* == (char *)body */
  size_t len;
} sa_resp;

/* GET path?query (query may be NULL) with an optional bearer token, from
 * peer (NULL: "10.0.0.9"), answered by the app at now. */
sa_resp sa_get(mls_app *app, uint64_t now, const char *path, const char *query,
               const char *token, const char *peer);
void sa_resp_free(sa_resp *r);

/* A new profile at dir (fast test KDF) enrolled with a code of mentor via
 * the in-process admin (the app's data directory data_dir): its first sync
 * done. Fails the test on any error. */
mentorlog *sa_device(mls_app *app, const char *data_dir, const char *dir, const char *label,
                     const char *mentor, int64_t *now, sa_side_fn side);

/* sa_sync with default options, its error (and message) printed: 0 or the
 * engine's error. */
int sa_sync_dev(mls_app *app, mentorlog *h, int64_t *now);

/* The records the app-level tests write, in one shape. */
#define SA_DAY_MS 86400000LL
/* Noon, Copenhagen-ish (UTC 11:00), of day d. */
int64_t sa_noon(mentorlog_date d);
/* Opens the grant of case c at jobcentre jc with reference ref, start..end,
 * 120 minutes a week, legal basis "LAB 78-81", purpose "PURPOSE-SECRET"
 * (sealed: what no jobcentre answer may hold). Fails the test on error. */
void sa_grant(mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *jc, const char *ref,
              mentorlog_date start, mentorlog_date end);
/* A contact of case c; fails the test on error. */
void sa_contact(mentorlog *h, const uint8_t c[16], int64_t start_ms, uint32_t minutes, int channel,
                int outcome, uint32_t transport, const char *note);

/* rm -rf dir (a test's temporary directory); fails the test if it fails. */
void sa_rmrf(const char *dir);

#endif
