/* witnessed.c — the largest cosigned checkpoint, outside the store (witnessed.h). */
#include "witnessed.h"

#include "datadir.h"
#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int path_of(char *out, size_t cap, const char *dir, const char *suffix) {
  int n = snprintf(out, cap, "%s/%s%s", dir, MLS_WITNESSED_FILE, suffix);
  return n < 0 || (size_t)n >= cap ? MLPROTO_ERR_TOO_LARGE : MLPROTO_OK;
}

int mls_witnessed_check(mls_log *log, mls_store *st, const char *dir, uint64_t *size_out) {
  if (size_out) *size_out = 0;
  char path[MLS_PATH_MAX + 32];
  int rc = path_of(path, sizeof path, dir, "");
  if (rc) return rc;
  uint8_t *file = NULL;
  size_t len = 0;
  rc = mls_read_file(path, MLPROTO_CHECKPOINT_SIGNED_MAX, &file, &len);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_OK;
  if (rc == MLPROTO_ERR_TOO_LARGE) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  if (rc) return rc;
  mlproto_note_verifier v;
  mlproto_checkpoint cp;
  if ((rc = mlproto_note_verifier_init(&v, mls_log_origin(log), mls_log_server_pub(log))) ||
      (rc = mlproto_checkpoint_open(&cp, file, len, &v))) {
    free(file);
    return rc;
  }
  if (size_out) *size_out = cp.size;
  char mine[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t mine_len = 0;
  mls_txn *tx;
  if ((rc = mls_store_begin(st, MLS_TXN_READ, &tx))) {
    free(file);
    return rc;
  }
  rc = mls_log_checkpoint(log, tx, 0, cp.size, mine, sizeof mine, &mine_len, NULL);
  mls_store_rollback(tx);
  /* TREE_RANGE: the log is smaller than a size a witness cosigned. */
  if (rc == MLPROTO_ERR_TREE_RANGE) rc = MLPROTO_ERR_STORE_ROLLED_BACK;
  else if (!rc && (mine_len != len || memcmp(mine, file, len) != 0))
    rc = MLPROTO_ERR_STORE_ROLLED_BACK; /* another root for that size */
  free(file);
  return rc;
}

int mls_witnessed_raise(const char *dir, uint64_t *known, uint64_t size, const char *note,
                        size_t len) {
  if (size <= *known) return MLPROTO_OK;
  char path[MLS_PATH_MAX + 32], tmp[MLS_PATH_MAX + 40];
  int rc;
  if ((rc = path_of(path, sizeof path, dir, "")) || (rc = path_of(tmp, sizeof tmp, dir, ".tmp")))
    return rc;
  (void)unlink(tmp); /* a leftover of a crash between create and rename */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno == ENOSPC ? MLPROTO_ERR_DISK_FULL : MLPROTO_ERR_IO;
  rc = mls_write_all(fd, (const uint8_t *)note, len);
  if (!rc && fsync(fd) != 0) rc = MLPROTO_ERR_IO;
  if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
  if (!rc && rename(tmp, path) != 0) rc = MLPROTO_ERR_IO;
  if (rc) {
    (void)unlink(tmp);
    return rc;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  *known = size;
  return MLPROTO_OK;
}
