/*
 * datadir.h — the layout of the server's data directory (--data DIR).
 *
 *   DIR/               mode 0700, created on first start
 *   DIR/server.db      the SQLite store (WAL: also server.db-wal, -shm)
 *   DIR/server.key     the log's Ed25519 signing key: 64 raw bytes
 *                      (libsodium secret key = seed || public key), mode 0600
 *   DIR/tls/           mode 0700
 *   DIR/tls/cert.pem   the self-signed certificate the network half creates
 *   DIR/tls/key.pem    its private key (0600)
 *   DIR/log.name       the log's name, the origin of its checkpoints (log.h,
 *                      mls_log_name_load; written once, never changed)
 *   DIR/serve.addr     the address a running server is bound to (written by
 *                      the network half once it listens, removed on a clean
 *                      exit; net.h MLS_NET_ADDR_FILE)
 *
 * Both halves of the server and the admin command use these paths; no other
 * file is written there by the application half (but log.name, by log.c).
 * Not thread-safe to open; the struct is read-only afterwards.
 */
#ifndef MLS_DATADIR_H
#define MLS_DATADIR_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define MLS_PATH_MAX 1024
#define MLS_DATADIR_DB "server.db" /* the SQLite store's file in DIR */

typedef struct mls_datadir {
  char root[MLS_PATH_MAX];
  char db[MLS_PATH_MAX];        /* server.db */
  char key[MLS_PATH_MAX];       /* server.key */
  char tls_dir[MLS_PATH_MAX];   /* tls/ */
  char tls_cert[MLS_PATH_MAX];  /* tls/cert.pem */
  char tls_key[MLS_PATH_MAX];   /* tls/key.pem */
} mls_datadir;

/* The data directory and store a command line names with --data DIR and
 * --store URI (either may be NULL):
 *   --data DIR                  DIR, store sqlite:DIR/server.db;
 *   --store sqlite:DIR          the same (its short form is --data DIR; both
 *                               may be given only when they name one DIR);
 *   --data DIR --store postgresql://...  DIR holds what every instance
 *                               reads from files (the log key, the TLS
 *                               certificate, log.name: the same copy on every
 *                               instance), the store is the database.
 * *dir gets DIR (borrowed from the arguments), uri the store to open.
 * MLPROTO_ERR_INVALID_ARGUMENT / TOO_LARGE with a static human message in
 * *why (mls_store_uri_check's for a bad URI). No I/O. */
int mls_datadir_store_resolve(const char *data, const char *store, const char **dir,
                              char uri[MLS_STORE_URI_MAX + 1], const char **why);

/* Fill the paths for root (no I/O). MLPROTO_ERR_TOO_LARGE when a path would
 * not fit MLS_PATH_MAX, MLPROTO_ERR_INVALID_ARGUMENT for an empty root. */
int mls_datadir_init(mls_datadir *d, const char *root);

/* Create root and tls/ (mode 0700) when create is set and they are missing.
 * MLPROTO_ERR_NOT_FOUND when root is missing and create is 0,
 * MLPROTO_ERR_IO on any other failure. */
int mls_datadir_prepare(const mls_datadir *d, int create);

/* The server's signing key. Loads DIR/server.key into *sk (64 bytes from
 * sodium_malloc, read-only; free with mls_datadir_key_free), creating it
 * (O_EXCL, 0600, fsync'd) when absent and create is set. pk gets the public
 * half. MLPROTO_ERR_NOT_FOUND when absent and !create; MLPROTO_ERR_BAD_KEY
 * when the file has the wrong size, is readable by group/others, or its
 * halves do not match; MLPROTO_ERR_IO / OUT_OF_MEMORY otherwise. */
int mls_datadir_key_load(const mls_datadir *d, int create, uint8_t **sk, uint8_t pk[32]);
void mls_datadir_key_free(uint8_t *sk);

/* SHA-256 of the DER certificate in the PEM file at path (the first
 * CERTIFICATE block), as 64 lower-case hex digits + NUL into hex[65]: the
 * fingerprint devices pin (same as `openssl x509 -fingerprint -sha256`
 * without colons, lower case). MLPROTO_ERR_NOT_FOUND when the file is absent,
 * MLPROTO_ERR_MALFORMED when no certificate block decodes. Files over
 * 64 KiB are refused (MLPROTO_ERR_TOO_LARGE). */
int mls_datadir_cert_fingerprint(const char *path, char hex[65]);

/* All n bytes to fd (EINTR retried): MLPROTO_OK, DISK_FULL (ENOSPC) or IO. */
int mls_write_all(int fd, const uint8_t *p, size_t n);

/* The whole regular file at path, at most max bytes, into a new buffer *out
 * (free with free(); NULL on failure) of *len bytes. NOT_FOUND, TOO_LARGE,
 * IO (also: not a regular file), OUT_OF_MEMORY. */
int mls_read_file(const char *path, size_t max, uint8_t **out, size_t *len);

#endif
