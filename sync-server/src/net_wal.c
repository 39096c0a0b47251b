/* net_wal.c — --wal-truncate: the WAL's periodic TRUNCATE checkpoint.
 *
 * Why: SQLite's write-ahead log keeps the page images of committed
 * transactions until a checkpoint copies them into the database, and even
 * then it only rewinds and overwrites the file from its start: the bytes
 * of a row deleted or replaced since (an expired session, a used
 * challenge with the address key that asked for it, an erased envelope)
 * can stay in server.db-wal for as long as no writer happens to overwrite
 * them. secure_delete zeroes them in the database pages, not in the WAL.
 * So every period the server runs the store's scrub (store.h: a TRUNCATE
 * checkpoint, after which the WAL file is empty) on a worker, never on the
 * loop thread: it waits for the writer lock and for readers. Each
 * connection also has journal_size_limit set (store_sqlite.c), which caps
 * what the file keeps after a checkpoint that could not truncate.
 * One scrub at a time: a tick that finds the last one still running is
 * skipped. A BUSY scrub (a long reader) is retried at the next tick. */
#include "net.h"

static void scrub_work_cb(uv_work_t *w) {
  mls_server *s = w->data;
  int rc = mls_app_scrub(s->app);
  if (rc) mls__net_log("warn", "wal_truncate_failed", "code=%s", mlproto_errname(rc));
}

static void scrub_after_cb(uv_work_t *w, int status) {
  mls_server *s = w->data;
  (void)status;
  s->wal_busy = 0;
}

static void wal_tick(uv_timer_t *t) {
  mls_server *s = t->data;
  if (s->wal_busy || s->draining) return;
  s->wal_work.data = s;
  if (uv_queue_work(s->loop, &s->wal_work, scrub_work_cb, scrub_after_cb) == 0) s->wal_busy = 1;
}

void mls__wal_timer_start(mls_server *s) {
  s->wal_timer.data = s;
  if (s->opt.wal_truncate_ms)
    uv_timer_start(&s->wal_timer, wal_tick, s->opt.wal_truncate_ms, s->opt.wal_truncate_ms);
}

void mls__wal_timer_close(mls_server *s, uv_close_cb cb) {
  uv_close((uv_handle_t *)&s->wal_timer, cb);
}
