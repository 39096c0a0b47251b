/*
 * store_tamper.h — damage the store contract (store.h) cannot express, done
 * behind the server's back, for the tests of what the server and the
 * auditor make of a damaged store. One function per kind of damage,
 * implemented for both backends on their own tables:
 *
 *   sqlite:FILE      sqlite3 on FILE (store_sqlite.c's SCHEMA);
 *   postgresql:...   libpq on the PostgreSQL layout: the same tables and
 *                    columns as SQLite's, but tiles(level, idx, hashes)
 *                    for the tree's nodes (tile (level, idx) holds the
 *                    hashes of nodes (level, idx*256) .. (level, idx*256+n-1)
 *                    concatenated) and checkpoints(size, note) for the
 *                    signed tree heads, appended, instead of meta 'sth'.
 *
 * Each function changes exactly the rows it names and fails the running
 * cmocka test when they are not there (a tamper that touched nothing would
 * make the test pass for the wrong reason). A server may hold the store
 * open meanwhile: writes wait for its writer (busy timeout 10 s).
 */
#ifndef ML_STORE_TAMPER_H
#define ML_STORE_TAMPER_H

#include <stddef.h>
#include <stdint.h>

/* The perfect-subtree hash (level, index) is lost.
 * PostgreSQL: a tile keeps its hashes as one value, so the tile is cut
 * before position index % 256: the nodes (level, index + 1) .. to the end
 * of that tile are lost as well (the whole tile when index % 256 == 0).
 * A test using it asserts only on nodes before index in its tile, on
 * index itself, and on other tiles. */
void store_tamper_node_delete(const char *uri, unsigned level, uint64_t index);

/* The log entry at index (its row: record, leaf fields, envelope) is
 * deleted; the tree's nodes are left as they were. */
void store_tamper_log_delete(const char *uri, uint64_t index);

/* The envelope stored at log index is replaced by bytes (nothing else of
 * the row changes). */
void store_tamper_envelope_set(const char *uri, uint64_t index, const uint8_t *bytes, size_t len);

/* The store's signed tree head goes back to an older one, blob (sth_get's
 * bytes, saved by the test while it was the latest) of tree size `size`,
 * as if the rows beyond it had been written without a head.
 * SQLite: blob is written back to meta 'sth'. PostgreSQL: the checkpoints
 * of sizes above `size` are deleted (the one of `size` must be there; blob
 * is compared with what sth_get then gives). */
void store_tamper_sth_rewind(const char *uri, const uint8_t *blob, size_t len, uint64_t size);

/* The jobcentre index of the grants is forgotten, as a store migrated from
 * before it existed has none: case_jobcentres emptied and meta
 * 'jobcentre_index' set to 'pending', which the application fills at open
 * (app_jobcentre.c). */
void store_tamper_jobcentre_index_forget(const char *uri);

/* Not damage: one integer that sql (written to run unchanged on both
 * backends: plain SELECTs of the shared tables and columns) gives, for the
 * few tests that count rows the contract has no operation for (sessions,
 * meta keys). NULL gives -1. Fails the test on any error. */
int64_t store_sql_int(const char *uri, const char *sql);

/* Runs sql (statements without a result: DDL, a trigger a test sets on the
 * store) on the store at uri. Fails the test on any error. */
void store_sql_exec(const char *uri, const char *sql);

#endif
