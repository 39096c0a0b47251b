/* auditfile.c — mapped, published and secret files (auditfile.h). */
#include "auditfile.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#define PATH_CAP 4096

int af_map_open(af_map *m, const char *path) {
  memset(m, 0, sizeof *m);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  struct stat st;
  int rc = MLPROTO_OK;
  if (fstat(fd, &st) != 0) {
    rc = MLPROTO_ERR_IO;
  } else if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    rc = MLPROTO_ERR_IO;
  } else if ((uint64_t)st.st_size > SIZE_MAX) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  } else if (st.st_size > 0) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) rc = errno == ENOMEM ? MLPROTO_ERR_OUT_OF_MEMORY : MLPROTO_ERR_IO;
    else m->data = p, m->len = (size_t)st.st_size;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

void af_map_close(af_map *m) {
  if (m->data) munmap((void *)m->data, m->len);
  memset(m, 0, sizeof *m);
}

int af_write_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return errno == ENOSPC ? MLPROTO_ERR_DISK_FULL : MLPROTO_ERR_IO;
    b += w;
    n -= (size_t)w;
  }
  return MLPROTO_OK;
}

int af_fsync_dir(const char *path) {
  char d[PATH_CAP];
  if (strlen(path) >= sizeof d) return MLPROTO_ERR_INVALID_ARGUMENT;
  snprintf(d, sizeof d, "%s", path);
  int fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return MLPROTO_ERR_IO;
  int rc = fsync(fd) == 0 ? MLPROTO_OK : MLPROTO_ERR_IO;
  close(fd);
  return rc;
}

int af_publish(const char *tmp, const char *path) {
  if (link(tmp, path) != 0) return errno == EEXIST ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  if (unlink(tmp) != 0) return MLPROTO_ERR_IO;
  return af_fsync_dir(path);
}

int af_replace(const char *path, const void *data, size_t len) {
  char tmp[PATH_CAP];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int fd = mkstemp(tmp); /* 0600 */
  if (fd < 0) return MLPROTO_ERR_IO;
  int rc = af_write_all(fd, data, len);
  if (!rc && fsync(fd) != 0) rc = MLPROTO_ERR_IO;
  if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
  if (!rc && rename(tmp, path) != 0) rc = MLPROTO_ERR_IO;
  if (rc) {
    int saved = errno;
    (void)unlink(tmp);
    errno = saved;
    return rc;
  }
  return af_fsync_dir(path);
}

static int token_chars(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return 0;
  }
  return 1;
}

int af_read_token(const char *path, char *out, size_t cap) {
  if (cap < 129) return MLPROTO_ERR_INVALID_ARGUMENT;
  out[0] = 0;
  FILE *f;
  int is_stdin = strcmp(path, "-") == 0;
  if (is_stdin) {
    f = stdin;
  } else {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0) {
      close(fd);
      return MLPROTO_ERR_FORBIDDEN;
    }
    if (!(f = fdopen(fd, "r"))) {
      close(fd);
      return MLPROTO_ERR_IO;
    }
  }
  char line[160];
  int rc = MLPROTO_OK;
  if (!fgets(line, sizeof line, f)) rc = ferror(f) ? MLPROTO_ERR_IO : MLPROTO_ERR_FIELD_MISSING;
  if (!is_stdin) fclose(f);
  size_t n = rc ? 0 : strcspn(line, "\r\n");
  if (!rc && n == 0) rc = MLPROTO_ERR_FIELD_MISSING;
  if (!rc && (n < 16 || n > 128 || !token_chars(line, n))) rc = MLPROTO_ERR_FIELD_RANGE;
  if (!rc) {
    memcpy(out, line, n);
    out[n] = 0;
  }
  sodium_memzero(line, sizeof line);
  return rc;
}
