/*
 * auditfile.h — the files of mentorlog-audit (tools/audit, internal): a
 * file mapped for reading, files published atomically, the secret token
 * file. POSIX; every function returns MLPROTO_OK or a negative
 * MLPROTO_ERR_* and leaves errno as the failing call set it (IO errors), so
 * that a caller can say why in words (strerror). Nothing prints.
 */
#ifndef ML_AUDITFILE_H
#define ML_AUDITFILE_H

#include <stddef.h>
#include <stdint.h>

/* A whole file, read-only (mmap; an empty file has data NULL, len 0). */
typedef struct af_map {
  const uint8_t *data;
  size_t len;
} af_map;

/* Maps the regular file at path. NOT_FOUND (absent), IO (not a regular
 * file: errno EINVAL; or open/mmap failed), OUT_OF_MEMORY. m is zeroed on
 * failure. */
int af_map_open(af_map *m, const char *path);
void af_map_close(af_map *m); /* a zeroed map: no-op */

/* Writes all n bytes to fd (EINTR resumed). IO, DISK_FULL (ENOSPC). */
int af_write_all(int fd, const void *p, size_t n);

/* Makes the file tmp (written and fsync'd by the caller) appear at path:
 * link(tmp, path), unlink(tmp), fsync of path's directory. An existing path
 * is never replaced (ALREADY_EXISTS, tmp is kept). */
int af_publish(const char *tmp, const char *path);

/* Replaces (or creates) path with data, atomically: a temporary file in the
 * same directory (mode 0600), fsync, rename, fsync of the directory. */
int af_replace(const char *path, const void *data, size_t len);

/* fsync of the directory holding path. */
int af_fsync_dir(const char *path);

/* A bearer token from path, or from standard input when path is "-": its
 * first line without the line end, which must be 16..128 characters of
 * base64url (A-Z a-z 0-9 - _). A file must be a regular file of the user's
 * without any permission for group or others (chmod 600): else FORBIDDEN.
 * NOT_FOUND / IO (cannot read), FIELD_MISSING (empty), FIELD_RANGE (not a
 * token). out gets the token and a NUL (cap >= 129); it is wiped on failure. */
int af_read_token(const char *path, char *out, size_t cap);

#endif
