/*
 * test_store.h — the store a test's server runs on (issue 12).
 *
 * Every test that opens the application (mls_app_config.store_uri), runs
 * `admin` in its own process or starts the real server process takes its
 * store from test_store_uri(): one fresh, private store per server.
 *
 *   ML_TEST_PG_FILE unset or empty   "sqlite:DATA_DIR/server.db", the store
 *                                    the server makes in its data directory;
 *   ML_TEST_PG_FILE=PATH             PATH holds one line, a libpq key/value
 *                                    conninfo (the ctest fixture `postgresql`
 *                                    writes it); a new schema t_<16 hex> is
 *                                    created there and the URI is
 *                                    "postgresql:<conninfo> options='-c
 *                                    search_path=t_<hex>'" (the backend uses
 *                                    unqualified table names). A PATH that
 *                                    cannot be read, an empty line, a
 *                                    database that cannot be reached: the test
 *                                    fails, it never falls back to SQLite.
 *
 * test_store_drop() (in teardown) drops the schema with everything in it;
 * what a failed test left is dropped at exit (unless ML_KEEP_TEST_DIRS is
 * set, as the data directories are kept then).
 *
 * The reads below go through the store contract (store.h: a second
 * mls_store_open on the same URI, as an operator's tool would), never the
 * backend's tables: a test of the application reads what the application
 * wrote, whichever database holds it. Damage the contract cannot express is
 * store_tamper.h's.
 *
 * Not thread-safe: call from the test's main thread. Errors are printed to
 * stderr (never a password: a conninfo with one is refused) and returned
 * as -1; the t_* helpers fail the running cmocka test instead.
 */
#ifndef ML_TEST_STORE_H
#define ML_TEST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define TEST_STORE_URI_CAP (MLS_STORE_URI_MAX + 1)

/* 1 when the tests run against PostgreSQL (ML_TEST_PG_FILE set, not
 * empty), 0 for SQLite. */
int test_store_is_pg(void);

/* A fresh store for a server whose data directory is data_dir (which need
 * not exist yet), into out (cap >= TEST_STORE_URI_CAP). Remembered by
 * data_dir for test_store_of() and for the drop at exit. 0 or -1. */
int test_store_uri(char *out, size_t cap, const char *data_dir);

/* Drops what test_store_uri() made (PostgreSQL: DROP SCHEMA ... CASCADE;
 * SQLite: nothing, the file goes with its directory) and forgets it.
 * NULL, "" and a URI it did not make are no-ops. 0 or -1. */
int test_store_drop(const char *uri);

/* The URI test_store_uri() made for data_dir (the latest), NULL if none. */
const char *test_store_of(const char *data_dir);

/* What a command line gives for uri as `--store`: NULL for the SQLite store
 * in the data directory (`--data DIR` names it; `--store sqlite:DIR` is the
 * directory, not the file, on a command line: datadir.h), the URI itself
 * for PostgreSQL. */
const char *test_store_cli(const char *uri);

/* A copy of the store's contents to go back to, for a test that starts
 * many attempts from one state (it copies its data directory the same
 * way). SQLite: nothing, the file is in the data directory the test copies
 * and puts back itself. PostgreSQL: every table of the test's schema is
 * copied into the schema <schema>_saved (replacing an earlier copy);
 * restore empties every table and fills it from the copy, in one
 * transaction. Nothing may have the store open during restore. Dropped
 * with the store. 0 or -1. */
int test_store_save(const char *uri);
int test_store_restore(const char *uri);

/* --- reads through the store contract ---------------------------------- */

/* Opens the existing store at uri (create 0): fails the test on error. */
mls_store *t_store_open(const char *uri);

/* Calls fn for every log entry, in index order, in one read transaction
 * of a store opened for the call; fn's non-zero return stops and is
 * returned. Fails the test when the store cannot be read. */
int t_log_each(const char *uri, mls_entry_fn fn, void *ud);

/* Entries matching: any field left NULL / -1 matches all. */
typedef struct t_log_filter {
  const uint8_t *record_id;  /* 16 bytes */
  const uint8_t *case_id;    /* 16 bytes */
  const uint8_t *mentor_id;  /* 16 bytes: entries visible to that mentor */
  const uint8_t *author;     /* 32 bytes */
  int type;                  /* MLPROTO_LOG_* */
  int64_t kind;              /* MLPROTO_KIND_* */
  int64_t from, to;          /* from <= index < to (-1: unbounded) */
} t_log_filter;
#define T_LOG_ALL ((t_log_filter){.type = -1, .kind = -1, .from = -1, .to = -1})

int t_log_match(const t_log_filter *f, const mls_log_entry *e);
/* How many entries match. */
uint64_t t_log_count(const char *uri, const t_log_filter *f);

/* The log's size (log_size in a read transaction). */
uint64_t t_log_size(const char *uri);

/* The leaf hash of index idx (node_get level 0). */
void t_leaf_hash(const char *uri, uint64_t idx, uint8_t out[32]);

#endif
