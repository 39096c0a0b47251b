/* log.c — the transparency log on top of the store (see log.h). */
#include "log.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mls_log {
  mls_store *st;
  const uint8_t *sk;           /* borrowed, sodium_malloc'd by the owner */
  uint8_t pk[32];
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  mlproto_key *key;            /* the same key for mlproto_record_build */
  pthread_mutex_t append;      /* held from mls_log_begin to commit/abort */
  mlproto_merkle_compact cr;   /* valid while `append` is held after begin */
  mlproto_merkle_compact saved;
  uint64_t last_ms, saved_last_ms; /* receipt time of the last entry (with cr) */
  int cr_valid;
  _Atomic uint64_t cached_size;
};

static int node_reader(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  mls_txn *tx = ud;
  int rc = MLS_TX(tx, node_get, level, index, out);
  /* A node the maths needs but the store lacks is damage, not a user error. */
  return rc == MLPROTO_ERR_NOT_FOUND ? MLPROTO_ERR_STORAGE : rc;
}

/* ------------------------------------------------------------- name --- */

static int name_read(const char *path, char out[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  char buf[MLPROTO_CHECKPOINT_ORIGIN_MAX + 2];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0) return MLPROTO_ERR_IO;
  /* Exactly a name and one newline. */
  if (n < 2 || buf[n - 1] != '\n' ||
      mlproto_note_name_check(buf, (size_t)n - 1) != MLPROTO_OK || memchr(buf, 0, (size_t)n))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memcpy(out, buf, (size_t)n - 1);
  out[n - 1] = 0;
  return MLPROTO_OK;
}

static int name_write(const char *dir, const char *path, const char *name) {
  char tmp[1100];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return MLPROTO_ERR_TOO_LARGE;
  (void)unlink(tmp); /* a leftover of a crash between create and rename */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return MLPROTO_ERR_IO;
  size_t n = strlen(name);
  int bad = write(fd, name, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0;
  bad |= close(fd) != 0;
  /* link() fails when another process created the name first: theirs wins. */
  if (!bad && link(tmp, path) != 0 && errno != EEXIST) bad = 1;
  (void)unlink(tmp);
  if (bad) return MLPROTO_ERR_IO;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return MLPROTO_OK;
}

int mls_log_name_load(const char *dir, const char *want, const uint8_t pk[32],
                      char out[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1]) {
  out[0] = 0;
  char name[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  if (want) {
    size_t wl = strlen(want);
    if (mlproto_note_name_check(want, wl) != MLPROTO_OK) return MLPROTO_ERR_INVALID_ARGUMENT;
    memcpy(name, want, wl + 1);
  } else {
    char hex[17];
    mlproto_hex_encode(hex, pk, 8);
    snprintf(name, sizeof name, "%s%s", MLS_LOG_NAME_DEFAULT_PREFIX, hex);
  }
  char path[1100];
  if (snprintf(path, sizeof path, "%s/%s", dir, MLS_LOG_NAME_FILE) >= (int)sizeof path)
    return MLPROTO_ERR_TOO_LARGE;
  int rc = name_read(path, out);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    if ((rc = name_write(dir, path, name))) return rc;
    rc = name_read(path, out);
  }
  if (rc) {
    out[0] = 0;
    return rc;
  }
  if (want && strcmp(out, want) != 0) return MLPROTO_ERR_ALREADY_EXISTS;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- open --- */

/* The store remembers which log it holds: meta "log_identity" = the log's
 * public key || SHA-256 of its name, written by the first open. Every later open, by
 * any instance or the admin command, must bring the same key and name: an
 * instance started with a data directory of its own (a fresh key, another
 * log.name) against a shared store would otherwise sign a second, forked
 * sequence of checkpoints. STORE_OTHER_LOG then, nothing written. *size gets
 * the log's size. */
#define IDENTITY_KEY "log_identity"
static int identity_check(mls_log *log, uint64_t *size) {
  size_t olen = 32, len = 0; /* the identity is 32 + olen bytes */
  uint8_t want[64], got[MLS_META_MAX];
  memcpy(want, log->pk, 32);
  crypto_hash_sha256(want + 32, (const uint8_t *)log->origin, strlen(log->origin));
  mls_txn *tx;
  int rc = mls_store_begin(log->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  if (!(rc = MLS_TX(tx, log_size, size))) rc = MLS_TX(tx, meta_get, IDENTITY_KEY, got, sizeof got, &len);
  mls_store_rollback(tx);
  if (rc == MLPROTO_OK)
    return len == 32 + olen && memcmp(got, want, len) == 0 ? MLPROTO_OK : MLPROTO_ERR_STORE_OTHER_LOG;
  if (rc != MLPROTO_ERR_NOT_FOUND) return rc;
  /* First open since the store was created (or since this check exists):
   * record it, unless another process just did. */
  if ((rc = mls_store_begin(log->st, MLS_TXN_WRITE, &tx))) return rc;
  rc = MLS_TX(tx, meta_get, IDENTITY_KEY, got, sizeof got, &len);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    rc = MLS_TX(tx, meta_put, IDENTITY_KEY, want, 32 + olen);
    if (!rc) return mls_store_commit(tx);
  } else if (rc == MLPROTO_OK && (len != 32 + olen || memcmp(got, want, len) != 0)) {
    rc = MLPROTO_ERR_STORE_OTHER_LOG;
  }
  mls_store_rollback(tx);
  return rc;
}

int mls_log_open(mls_log **out, mls_store *st, const uint8_t *sk, const uint8_t pk[32],
                 const char *origin) {
  *out = NULL;
  if (!origin || mlproto_note_name_check(origin, strlen(origin)) != MLPROTO_OK)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mls_log *log = calloc(1, sizeof *log);
  if (!log) return MLPROTO_ERR_OUT_OF_MEMORY;
  memcpy(log->origin, origin, strlen(origin) + 1);
  log->st = st;
  log->sk = sk;
  memcpy(log->pk, pk, 32);
  int rc = mlproto_key_import(&log->key, MLPROTO_KEY_SIGN, sk, 32); /* the seed half */
  if (rc) { free(log); return rc; }
  uint8_t check[32];
  if (mlproto_key_public(check, log->key) || memcmp(check, pk, 32) != 0) {
    mlproto_key_free(log->key);
    free(log);
    return MLPROTO_ERR_BAD_KEY;
  }
  pthread_mutex_init(&log->append, NULL);
  uint64_t size = 0;
  if ((rc = identity_check(log, &size))) { mls_log_close(log); return rc; }
  atomic_store(&log->cached_size, size);
  *out = log;
  return MLPROTO_OK;
}

void mls_log_close(mls_log *log) {
  if (!log) return;
  mlproto_key_free(log->key);
  pthread_mutex_destroy(&log->append);
  sodium_memzero(log, sizeof *log);
  free(log);
}

const uint8_t *mls_log_server_pub(const mls_log *log) { return log->pk; }
const char *mls_log_origin(const mls_log *log) { return log->origin; }

int mls_log_vkey(const mls_log *log, char *out, size_t cap) {
  return mlproto_note_vkey_format(out, cap, NULL, log->origin, log->pk);
}
uint64_t mls_log_cached_size(const mls_log *log) { return atomic_load(&log->cached_size); }
uint64_t mls_log_pending_size(const mls_log *log) { return log->cr.size; }

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The rest of a begin, with `append` held; releases it on failure. t0: when
 * the begin was called; *wait_ns (may be NULL) gets the time from t0 until
 * the store's writer lock was held. */
static int begin_locked(mls_log *log, mls_txn **txp, uint64_t t0, uint64_t *wait_ns) {
  mls_txn *tx;
  int rc = mls_store_begin(log->st, MLS_TXN_WRITE, &tx);
  if (wait_ns) *wait_ns = mono_ns() - t0;
  if (rc) goto fail;
  uint64_t size;
  rc = MLS_TX(tx, log_size, &size);
  if (rc) goto fail_tx;
  /* Another process (admin) may have appended since we last looked. */
  if (!log->cr_valid || log->cr.size != size) {
    rc = mlproto_merkle_compact_load(&log->cr, size, node_reader, tx);
    if (rc) goto fail_tx;
    log->last_ms = 0;
    if (size) {
      mls_leaf_entry last;
      rc = MLS_TX(tx, leaf_entry_range, size - 1, 1, &last);
      if (rc) goto fail_tx;
      log->last_ms = last.received_ms;
    }
    log->cr_valid = 1;
  }
  log->saved = log->cr;
  log->saved_last_ms = log->last_ms;
  *txp = tx;
  return MLPROTO_OK;
fail_tx:
  mls_store_rollback(tx);
fail:
  pthread_mutex_unlock(&log->append);
  return rc;
}

int mls_log_begin_timed(mls_log *log, mls_txn **txp, uint64_t *wait_ns) {
  *txp = NULL;
  uint64_t t0 = wait_ns ? mono_ns() : 0;
  pthread_mutex_lock(&log->append);
  return begin_locked(log, txp, t0, wait_ns);
}

int mls_log_try_begin_timed(mls_log *log, mls_txn **txp, uint64_t *wait_ns) {
  *txp = NULL;
  if (wait_ns) *wait_ns = 0;
  uint64_t t0 = wait_ns ? mono_ns() : 0;
  if (pthread_mutex_trylock(&log->append) != 0) return MLPROTO_OK;
  return begin_locked(log, txp, t0, wait_ns);
}

int mls_log_begin(mls_log *log, mls_txn **txp) { return mls_log_begin_timed(log, txp, NULL); }

int mls_log_try_begin(mls_log *log, mls_txn **txp) {
  return mls_log_try_begin_timed(log, txp, NULL);
}

int mls_log_append(mls_log *log, mls_txn *tx, mls_log_entry *e) {
  /* Receipt times never decrease along the log (an auditor checks it,
   * RECEIPT_TIME_REVERSED): a clock stepped back, or an admin process whose
   * clock is behind the server's, appends at the last entry's time. */
  if (e->received_ms < log->last_ms) e->received_ms = log->last_ms;
  mlproto_log_entry le = {.type = (mlproto_log_entry_type)e->type,
                          .received_at_ms = e->received_ms};
  memcpy(le.record_hash, e->record_hash, 32);
  int rc = mlproto_log_entry_leaf_hash(e->leaf_hash, &le);
  if (rc) return rc;
  mlproto_merkle_compact next = log->cr;
  mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
  size_t n = 0;
  rc = mlproto_merkle_compact_append(&next, e->leaf_hash, nodes, &n);
  if (rc) return rc;
  e->index = log->cr.size;
  rc = MLS_TX(tx, log_append, e);
  for (size_t i = 0; !rc && i < n; i++)
    rc = MLS_TX(tx, node_put, nodes[i].level, nodes[i].index, nodes[i].hash);
  if (rc) return rc;
  log->cr = next;
  log->last_ms = e->received_ms;
  return MLPROTO_OK;
}

int mls_log_append_event(mls_log *log, mls_txn *tx, const mlproto_disclosed *d,
                         const uint8_t *mentor_id, uint64_t now_ms, uint64_t *index_out) {
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  uint64_t seq;
  int rc = MLS_TX(tx, author_head, log->pk, &seq, p.prev);
  if (rc) return rc;
  p.seq = seq + 1;
  p.hlc = now_ms << 16;
  p.kind = (mlproto_kind)d->payload_case;
  uint8_t *env = NULL;
  size_t env_len = 0;
  mls_log_entry e;
  memset(&e, 0, sizeof e);
  rc = mlproto_record_build(&env, &env_len, e.record_hash, &p, d, NULL, NULL, log->key);
  if (rc) return rc;
  e.type = MLPROTO_LOG_SERVER_EVENT;
  e.received_ms = now_ms;
  memcpy(e.author, log->pk, 32);
  e.seq = p.seq;
  memcpy(e.record_id, p.record_id, 16);
  e.kind = (uint32_t)p.kind;
  if (mentor_id) {
    e.has_mentor = 1;
    memcpy(e.mentor_id, mentor_id, 16);
  }
  e.envelope = env;
  e.envelope_len = env_len;
  rc = mls_log_append(log, tx, &e);
  mlproto_free(env);
  if (!rc && index_out) *index_out = e.index;
  return rc;
}

static int sth_store(mls_txn *tx, const mlproto_sth *sth) {
  uint8_t blob[MLPROTO_STH_ENCODED_BYTES];
  mlproto_sth_encode(blob, sth);
  return MLS_TX(tx, sth_put, blob, sizeof blob);
}

int mls_log_commit(mls_log *log, mls_txn *tx, uint64_t now_ms, mlproto_sth *sth) {
  mlproto_sth h;
  memset(&h, 0, sizeof h);
  int rc;
  if (log->cr.size == log->saved.size) {
    /* Nothing appended: the stored head stays the latest. A second head for
     * one size (another timestamp, other bytes) is what a split view looks
     * like, and the store refuses it (store.h sth_put). */
    rc = mls_log_sth(log, tx, now_ms, &h);
  } else {
    h.size = log->cr.size;
    h.timestamp_ms = now_ms;
    mlproto_merkle_compact_root(&log->cr, h.root);
    rc = mlproto_sth_sign(&h, log->sk);
    if (!rc) rc = sth_store(tx, &h);
  }
  if (rc) {
    mls_log_abort(log, tx);
    return rc;
  }
  rc = mls_store_commit(tx);
  if (rc) {
    /* Whether the commit reached the disk is unknown: reload next time. */
    log->cr_valid = 0;
    pthread_mutex_unlock(&log->append);
    return rc;
  }
  atomic_store(&log->cached_size, h.size);
  pthread_mutex_unlock(&log->append);
  if (sth) *sth = h;
  return MLPROTO_OK;
}

void mls_log_abort(mls_log *log, mls_txn *tx) {
  if (!tx) return;
  mls_store_rollback(tx);
  log->cr = log->saved;
  log->last_ms = log->saved_last_ms;
  pthread_mutex_unlock(&log->append);
}

int mls_log_sth(mls_log *log, mls_txn *tx, uint64_t now_ms, mlproto_sth *sth) {
  uint8_t blob[256];
  size_t len = 0;
  int rc = MLS_TX(tx, sth_get, blob, sizeof blob, &len);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    memset(sth, 0, sizeof *sth);
    sth->timestamp_ms = now_ms;
    mlproto_merkle_empty_root(sth->root);
    return mlproto_sth_sign(sth, log->sk);
  }
  if (rc) return rc;
  rc = mlproto_sth_decode(sth, blob, len);
  return rc ? MLPROTO_ERR_STORAGE : MLPROTO_OK;
}

static int check_size(mls_txn *tx, uint64_t size) {
  uint64_t n;
  int rc = MLS_TX(tx, log_size, &n);
  if (rc) return rc;
  return size > n ? MLPROTO_ERR_TREE_RANGE : MLPROTO_OK;
}

int mls_log_inclusion(mls_txn *tx, uint64_t index, uint64_t size, uint8_t (*proof)[32],
                      size_t *len) {
  *len = 0;
  int rc = check_size(tx, size);
  if (rc) return rc;
  return mlproto_merkle_inclusion_proof(proof, len, MLPROTO_MERKLE_MAX_PROOF, index, size,
                                        node_reader, tx);
}

int mls_log_consistency(mls_txn *tx, uint64_t first, uint64_t second, uint8_t (*proof)[32],
                        size_t *len) {
  *len = 0;
  int rc = check_size(tx, second);
  if (rc) return rc;
  return mlproto_merkle_consistency_proof(proof, len, MLPROTO_MERKLE_MAX_PROOF, first, second,
                                          node_reader, tx);
}

int mls_log_checkpoint(mls_log *log, mls_txn *tx, int latest, uint64_t size, char *out,
                       size_t cap, size_t *len, uint64_t *size_out) {
  *len = 0;
  uint64_t n;
  int rc = MLS_TX(tx, log_size, &n);
  if (rc) return rc;
  if (latest) size = n;
  if (size > n) return MLPROTO_ERR_TREE_RANGE;
  mlproto_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  memcpy(cp.origin, log->origin, sizeof cp.origin);
  cp.size = size;
  if ((rc = mlproto_merkle_root_at(cp.root, size, node_reader, tx))) return rc;
  if ((rc = mlproto_checkpoint_sign(out, cap, len, &cp, log->sk))) return rc;
  if (size_out) *size_out = size;
  return MLPROTO_OK;
}
