/* store.c — opening a store by URI (store.h) and backend-independent helpers. */
#include "store.h"
#include "store_backend.h"

#include "mlproto/crypto.h"
#include "mlproto/errors.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

void mls_device_id(uint8_t id[16], const uint8_t pub[32]) { mlproto_device_id(id, pub); }

#define SQLITE_PREFIX "sqlite:"

static int is_pg(const char *uri) {
  return strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0 ||
         strncmp(uri, "postgresql:", 11) == 0;
}

const char *mls_store_uri_backend(const char *uri) {
  if (!uri) return NULL;
  if (strncmp(uri, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0) return "sqlite";
  if (is_pg(uri)) return "postgresql";
  return NULL;
}

const char *mls_store_uri_conninfo(const char *uri) {
  if (!uri || !is_pg(uri)) return NULL;
  if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0) return uri;
  return uri + 11;
}

/* A password anywhere in the connection string, as libpq itself reads it
 * (PQconninfoParse: a URI's user-info or query, percent-decoded names, a
 * URI inside a key/value string, any separator libpq takes): its value
 * would be in the process list and in shell history. 1: one; 2: libpq
 * cannot parse the string; 0: none. */
static int has_password(const char *uri) {
  const char *ci = mls_store_uri_conninfo(uri);
  char *err = NULL;
  PQconninfoOption *opts = PQconninfoParse(ci, &err);
  if (err) PQfreemem(err);
  if (!opts) return 2;
  int found = 0;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0]) found = 1;
  PQconninfoFree(opts);
  return found;
}

int mls_store_uri_check(const char *uri, const char **why) {
  static const char *unused;
  if (!why) why = &unused;
  *why = NULL;
  if (!uri || !*uri) {
    *why = "the store is empty: give sqlite:FILE or postgresql://...";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  if (strlen(uri) > MLS_STORE_URI_MAX) {
    *why = "the store URI is longer than 1024 bytes";
    return MLPROTO_ERR_TOO_LARGE;
  }
  const char *b = mls_store_uri_backend(uri);
  if (!b) {
    *why = "unknown store: it must begin with sqlite: or postgresql:// (or postgres://)";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  if (strcmp(b, "sqlite") == 0 && uri[strlen(SQLITE_PREFIX)] == '\0') {
    *why = "sqlite: needs a file or directory name after the colon";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  int pw = strcmp(b, "postgresql") == 0 ? has_password(uri) : 0;
  if (pw == 1) {
    *why = "the store URI holds a password, which every user of the machine could read in "
           "the process list: put it in a PGPASSFILE (~/.pgpass, mode 0600) instead";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  if (pw == 2) {
    *why = "the store URI is not a PostgreSQL connection string (key=value ... or "
           "postgresql://...) that libpq can read";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  return MLPROTO_OK;
}

int mls_store_open(mls_store **out, const char *uri, const mls_store_options *opt) {
  *out = NULL;
  int rc = mls_store_uri_check(uri, NULL);
  if (rc) return rc;
  mls_store_options o = {.version = MLS_STORE_OPTIONS_VERSION};
  if (opt) {
    if (opt->version < 1 || opt->version > MLS_STORE_OPTIONS_VERSION)
      return MLPROTO_ERR_INVALID_ARGUMENT;
    o = *opt;
  }
  if (!o.busy_timeout_ms) o.busy_timeout_ms = 5000;
  if (!o.connections) o.connections = 16;
  if (strcmp(mls_store_uri_backend(uri), "sqlite") == 0) {
    rc = mls_store_sqlite_open(out, uri + strlen(SQLITE_PREFIX), &o);
  } else {
#ifdef MLS_HAVE_POSTGRESQL
    rc = mls_store_pg_open(out, mls_store_uri_conninfo(uri), &o);
#else
    rc = MLPROTO_ERR_UNSUPPORTED; /* a build without libpq */
#endif
  }
  if (!rc && (*out)->ops->version != MLS_STORE_OPS_VERSION) {
    mls_store_close(*out);
    *out = NULL;
    return MLPROTO_ERR_INTERNAL;
  }
  return rc;
}

/* --------------------------------------------------------- secrets --- */

/* Reads the secret into buf (len bytes): MLPROTO_OK, NOT_FOUND, BAD_KEY. */
static int secret_read(mls_txn *tx, const char *meta, uint8_t *buf, size_t len) {
  size_t got = 0;
  int rc = MLS_TX(tx, meta_get, meta, buf, len, &got);
  if (rc == MLPROTO_ERR_BUFFER_TOO_SMALL || (!rc && got != len)) rc = MLPROTO_ERR_BAD_KEY;
  return rc;
}

int mls_store_secret_load(mls_store *st, const char *meta, size_t len, uint8_t **out,
                          int *created) {
  *out = NULL;
  if (created) *created = 0;
  if (!st || !meta || len == 0 || len > 64) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (sodium_init() < 0) return MLPROTO_ERR_INTERNAL;
  uint8_t *buf = sodium_malloc(len);
  if (!buf) return MLPROTO_ERR_OUT_OF_MEMORY;
  mls_txn *tx = NULL;
  /* Usually there: a read, no writer lock at every start. */
  int rc = mls_store_begin(st, MLS_TXN_READ, &tx);
  if (rc) goto fail;
  rc = secret_read(tx, meta, buf, len);
  mls_store_rollback(tx);
  tx = NULL;
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    /* Absent: look again under the writer lock (another instance may have
     * written it since), and write one when it is still absent. */
    if ((rc = mls_store_begin(st, MLS_TXN_WRITE, &tx))) goto fail;
    rc = secret_read(tx, meta, buf, len);
    if (rc == MLPROTO_ERR_NOT_FOUND) {
      randombytes_buf(buf, len);
      rc = MLS_TX(tx, meta_put, meta, buf, len);
      if (!rc) {
        rc = mls_store_commit(tx); /* frees tx whatever the outcome */
        tx = NULL;
        if (!rc && created) *created = 1;
      }
    }
    mls_store_rollback(tx);
    tx = NULL;
  }
  if (rc) goto fail;
  sodium_mprotect_readonly(buf);
  *out = buf;
  return MLPROTO_OK;
fail:
  sodium_free(buf); /* wipes */
  return rc;
}
