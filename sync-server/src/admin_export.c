/* admin_export.c — the writer behind `admin export-log` (admin.h): the log
 * of the store, up to one checkpoint, as an audit log file
 * (mlproto/auditlog.h, docs/audit-log-format.md). Entries are written as
 * stored, unverified, as the audit endpoint serves them: the file of a
 * checkpoint is the same bytes `mentorlog-audit fetch` writes for it. */
#include "admin.h"
#include "datadir.h"
#include "log.h"
#include "store.h"

#include "mlproto/auditlog.h"
#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLUSH_AT (1u << 20)
#define BATCH 4096u

typedef struct exporter {
  int fd;
  mlproto_buf buf;
  uint64_t bound;    /* the checkpoint's size: entries below it */
  uint64_t next;     /* where the next batch starts */
  uint64_t written;
  uint32_t seen;     /* rows of the current batch */
  mls_export_info *info;
} exporter;

static int flush(exporter *x) {
  int rc = mls_write_all(x->fd, x->buf.data, x->buf.len);
  mlproto_buf_reset(&x->buf);
  return rc;
}

static int export_one(void *ud, const mls_log_entry *e) {
  exporter *x = ud;
  x->seen++;
  if (e->index >= x->bound) return 1;
  x->next = e->index + 1;
  int rc = mlproto_auditlog_entry_encode(&x->buf, e->index, e->type, e->received_ms, e->envelope,
                                         e->envelope_len);
  if (rc) {
    x->info->failed_index = e->index;
    x->info->failed = 1;
    return rc;
  }
  x->written++;
  return x->buf.len >= FLUSH_AT ? flush(x) : MLPROTO_OK;
}

/* Everything into the open temporary file fd, in one read transaction. */
static int export_to(exporter *x, mls_store *st, mls_log *log, int latest, uint64_t size) {
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX], vkey[MLPROTO_NOTE_VKEY_MAX];
  size_t note_len = 0;
  int rc = mls_log_vkey(log, vkey, sizeof vkey);
  if (rc) return rc;
  mls_txn *tx;
  if ((rc = mls_store_begin(st, MLS_TXN_READ, &tx))) return rc;
  rc = mls_log_checkpoint(log, tx, latest, size, note, sizeof note, &note_len, &x->bound);
  if (!rc) rc = mlproto_auditlog_header_encode(&x->buf, vkey, x->bound);
  while (!rc && x->next < x->bound) {
    x->seen = 0;
    rc = MLS_TX(tx, log_list, NULL, x->next, BATCH, export_one, x);
    if (rc == 1 || (!rc && x->seen < BATCH)) {
      rc = MLPROTO_OK;
      break; /* reached the bound, or no rows are left */
    }
  }
  mls_store_rollback(tx);
  if (!rc) rc = mlproto_auditlog_checkpoint_encode(&x->buf, (const uint8_t *)note, note_len);
  if (!rc) rc = flush(x);
  if (!rc && fsync(x->fd) != 0) rc = MLPROTO_ERR_IO;
  x->info->size = x->bound;
  x->info->entries = x->written;
  return rc;
}

int mls_admin_export_log(mls_store *st, mls_log *log, const char *path, int latest, uint64_t size,
                         mls_export_info *info) {
  memset(info, 0, sizeof *info);
  if (!path || !*path || strlen(path) > 4000) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (access(path, F_OK) == 0) return MLPROTO_ERR_ALREADY_EXISTS;
  char tmp[4096], dir[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
  int fd = mkstemp(tmp); /* mode 0600 */
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  exporter x = {.fd = fd, .info = info};
  mlproto_buf_init(&x.buf, 2 * FLUSH_AT + MLPROTO_AUDITLOG_ITEM_MAX);
  int rc = export_to(&x, st, log, latest, size);
  mlproto_buf_free(&x.buf);
  if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
  /* link, not rename: a file that appeared at path meanwhile is not replaced */
  if (!rc && link(tmp, path) != 0) rc = errno == EEXIST ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  (void)unlink(tmp);
  if (rc) return rc;
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0) rc = MLPROTO_ERR_IO;
    close(dfd);
  }
  return rc;
}
