/*
 * admin.h — `mentorlog-server admin ...`, the administrator's commands.
 *
 * They work on the data directory directly, also while the server runs
 * (but migrate, which needs the SQLite store to itself):
 * the store serialises writers across processes (WAL + busy timeout) and the
 * server reads mentors, codes, devices and revocations from the store on
 * every request, so changes take effect at once, without a restart.
 *
 *   admin --data DIR init [--log-name NAME]          create store + log key (serve
 *                                                    also does on first start)
 *   admin --data DIR mentor add NAME                 -> mentor id (32 hex)
 *   admin --data DIR enroll-code MENTOR [--ttl 24h]  -> one-time code (stdout),
 *                                                    its id (stderr); default 24h
 *   admin --data DIR enroll-code list [--all] [--json]   codes by id, never the code
 *   admin --data DIR enroll-code revoke ID           (ID or a 4+ hex digit prefix;
 *                                                    NOT_FOUND, AMBIGUOUS_PREFIX)
 *   admin --data DIR device list [--json]
 *   admin --data DIR device revoke DEVICE            (logs DEVICE_REVOKED)
 *   admin --data DIR token add --role jobcentre --jobcentre ID | --role auditor
 *                                                    -> bearer token
 *   admin --data DIR fingerprint [--cert F]          -> SHA-256 of the certificate
 *   admin --data DIR log-key                         -> the log's C2SP verifier key
 *   admin --data DIR export-log --out FILE [--size N]   the log (up to its latest
 *                                                    checkpoint, or that of size N)
 *                                                    as an audit log file
 *                                                    (docs/audit-log-format.md)
 *   admin --data DIR migrate --to URI                DIR's SQLite store copied whole into
 *                                                    the empty PostgreSQL store URI, in one
 *                                                    transaction verified before its commit
 *                                                    (admin_migrate.c; STORE_NOT_EMPTY,
 *                                                    STORE_IN_USE, MIGRATE_MISMATCH)
 *
 * Every command but init and fingerprint refuses (exit 1) a DIR that holds
 * no server store, instead of creating a new server with a new key.
 *
 * Exit status: 0 success, 1 runtime failure (message on stderr with the
 * stable error name), 2 usage error.
 */
#ifndef MLS_ADMIN_H
#define MLS_ADMIN_H

#include <stdint.h>

/* argv[0] is "admin". Prints results on stdout, errors on stderr. */
int mls_admin_main(int argc, char **argv);

/* "30m", "24h", "7d", "90s" -> milliseconds (1 s .. 30 d); -1 if invalid. */
int mls_admin_parse_ttl(const char *s, uint64_t *ms);

/* export-log's writer (admin_export.c): the entries of st's log below the
 * latest checkpoint (latest set) or the checkpoint of `size` leaves, as
 * stored, and that checkpoint, into a new file at path (mode 0600: a
 * temporary file in the same directory, fsync'd, then linked to path, so
 * that path holds a whole file or nothing; an existing path is never
 * replaced: ALREADY_EXISTS). The same checkpoint gives the same bytes as
 * `mentorlog-audit fetch`. Errors: TREE_RANGE (size beyond the log),
 * NOT_FOUND (no such directory), IO, DISK_FULL, STORAGE, and FIELD_SIZE for a
 * stored envelope the format cannot hold (info->failed_index names it). */
typedef struct mls_export_info {
  uint64_t size;          /* the checkpoint's tree size */
  uint64_t entries;       /* entries written (size, unless rows are missing) */
  int failed;             /* an entry could not be written: */
  uint64_t failed_index;  /* its log index */
} mls_export_info;

typedef struct mls_store mls_store;
typedef struct mls_log mls_log;
int mls_admin_export_log(mls_store *st, mls_log *log, const char *path, int latest, uint64_t size,
                         mls_export_info *info);

/* SHA-256 over the normalised enrolment code (upper case, without '-' and
 * spaces), domain-tagged: what the store keeps instead of the code. */
int mls_app_code_hash(uint8_t out[32], const char *code);

#endif
