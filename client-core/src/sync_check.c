/* The checks of the pull phase (client-core/DESIGN.md, "Sync engine"):
 * every entry of a page verified (own records against their stored hash,
 * the others in full, large pages on several threads), the page's order,
 * range and cursor, its checkpoint (signed note, split view, consistency),
 * inclusion proofs of sampled entries, then the page applied in one
 * transaction (sync_pull.c); and the receipts of own records proven by
 * runs of consecutive leaves. */
#include "sync_engine.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An own record that comes back (every pushed record does, in the next
 * pull) is the one this device built and signed, if its record hash is the
 * one stored at its seq: then every check but the signature is enough
 * (mlproto_record_verify_stored, against that hash). Returns 1 when the
 * entry is not such a record (verify it in full), else 0 or an error. */
static int own_verify(mentorlog_sync *s, struct ml_page_item *x) {
  mentorlog *h = s->h;
  mlproto_record_peek pk;
  uint8_t hash[32], held[32];
  if (mlproto_record_peek_fields(&pk, x->env, x->env_len) != 0 || memcmp(pk.author, h->sign_pk, 32) != 0 ||
      mlproto_record_hash(hash, x->env, x->env_len) != 0)
    return 1;
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_HELD_HASH, &st);
  if (err)
    return se_fail_h(s, err);
  sqlite3_bind_blob(st, 1, h->sign_pk, 32, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)pk.seq);
  int rc = sqlite3_step(st), found = rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32;
  if (found)
    memcpy(held, sqlite3_column_blob(st, 0), 32);
  ml__stmt_put(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return se_fail_h(s, ml__sqlite_err(h, rc, "read record"));
  if (!found || memcmp(held, hash, 32) != 0)
    return 1;
  return mlproto_record_verify_stored(&x->r, x->env, x->env_len, held);
}

/* Full verification of one entry (signature included), in a thread. */
struct verify_job {
  struct ml_page_item *items;
  const size_t *todo;
  size_t n;
  int *errs;
};

static void *verify_run(void *arg) {
  struct verify_job *j = arg;
  for (size_t k = 0; k < j->n; k++) {
    struct ml_page_item *x = &j->items[j->todo[k]];
    j->errs[j->todo[k]] = mlproto_record_verify(&x->r, x->env, x->env_len);
  }
  return NULL;
}

/* Verify every entry of the page: own records against their stored hash
 * (own_verify), the others in full, on up to verify_threads threads when
 * the page is large enough to pay for them (Ed25519 verification is most
 * of a pull's work). */
static int verify_items(mentorlog_sync *s) {
  size_t n = s->n_items, nt = 0;
  int *errs = mlproto_calloc(n ? n : 1, sizeof *errs);
  size_t *todo = mlproto_calloc(n ? n : 1, sizeof *todo);
  int err = 0;
  if (!errs || !todo)
    err = se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; !err && i < n; i++) {
    int e = own_verify(s, &s->items[i]);
    if (e == 1)
      todo[nt++] = i;
    else if (e && s->phase == PH_FAIL)
      err = e;
    else
      errs[i] = e;
  }
  unsigned threads = s->verify_threads;
  if (!err && nt >= VERIFY_THREAD_MIN * 2 && threads > 1) {
    if (threads > VERIFY_THREADS_MAX)
      threads = VERIFY_THREADS_MAX;
    pthread_t tid[VERIFY_THREADS_MAX];
    struct verify_job jobs[VERIFY_THREADS_MAX];
    size_t per = (nt + threads - 1) / threads, started = 0;
    for (unsigned t = 0; t < threads; t++) {
      size_t lo = t * per, hi = lo + per > nt ? nt : lo + per;
      jobs[t] = (struct verify_job){s->items, todo + lo, hi > lo ? hi - lo : 0, errs};
      /* the calling thread takes the first share itself */
      if (t == 0 || pthread_create(&tid[t], NULL, verify_run, &jobs[t]) != 0)
        continue;
      started |= (size_t)1 << t;
    }
    verify_run(&jobs[0]);
    for (unsigned t = 1; t < threads; t++) {
      if (started & ((size_t)1 << t))
        pthread_join(tid[t], NULL);
      else
        verify_run(&jobs[t]); /* no thread: done here */
    }
  } else if (!err) {
    struct verify_job j = {s->items, todo, nt, errs};
    verify_run(&j);
  }
  for (size_t i = 0; !err && i < n; i++) {
    int e = errs[i];
    if (e == MLPROTO_ERR_OUT_OF_MEMORY)
      err = se_fail(s, e, "out of memory");
    else if (e)
      err = se_fail(s, MLPROTO_ERR_SERVER_LIED, "log entry %" PRIu64 " does not verify: %s (%s)", s->items[i].index,
                 mlproto_errname(e), mlproto_strerror(e));
  }
  mlproto_free(errs);
  mlproto_free(todo);
  return err;
}

/* Every check of a page that needs no store. */
static int page_check(mentorlog_sync *s) {
  const Mentorlog__V1__PullResponse *p = (const void *)s->page;
  uint64_t since = s->st.cursor, last = 0;
  s->items = p->n_items ? mlproto_calloc(p->n_items, sizeof *s->items) : NULL;
  if (p->n_items && !s->items)
    return se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < p->n_items; i++) {
    const Mentorlog__V1__LogItem *it = p->items[i];
    if (it->log_index < since || (i > 0 && it->log_index <= last))
      return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                  "the pull answer is out of order: log entry %" PRIu64 " after %" PRIu64 " (cursor %" PRIu64 ")",
                  it->log_index, last, since);
    if (it->log_index >= s->sth_size)
      return se_fail(s, MLPROTO_ERR_SERVER_LIED, "log entry %" PRIu64 " lies beyond the answer's tree size %" PRIu64,
                  it->log_index, s->sth_size);
    last = it->log_index;
    struct ml_page_item *x = &s->items[s->n_items];
    x->index = it->log_index;
    x->received_ms = (int64_t)it->received_at_ms;
    x->entry_type = it->entry_type;
    x->env = it->envelope.data;
    x->env_len = it->envelope.len;
    s->n_items++;
  }
  int err = verify_items(s);
  if (err)
    return err;
  for (size_t i = 0; i < s->n_items; i++) {
    const Mentorlog__V1__LogItem *it = p->items[i];
    struct ml_page_item *x = &s->items[i];
    int event = mlproto_kind_is_server_event(x->r->kind), by_server = memcmp(x->r->author, s->st.server_pub, 32) == 0;
    if ((it->entry_type != 1 && it->entry_type != 2) || event != (it->entry_type == 2) || event != by_server)
      return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                  "log entry %" PRIu64 ": entry type %u, kind %s and author do not agree", it->log_index,
                  it->entry_type, mlproto_kind_name(x->r->kind));
  }
  uint64_t end = p->more ? last + 1 : s->sth_size;
  if (p->n_items == 0 && p->more)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "the pull answer is empty but says more");
  if (p->next_since != end || p->next_since < since)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                "the pull answer's next cursor %" PRIu64 " is not %s %" PRIu64 " (cursor %" PRIu64 ")",
                p->next_since, p->more ? "one past its last entry," : "its tree size,", end, since);
  s->next_since = p->next_since;
  s->more = p->more;
  /* An own record the server acknowledged in this run, inside the range
   * this page covers, must be in it. */
  for (size_t a = 0; a < s->n_acked; a++) {
    uint64_t ix = s->acked[a];
    if (ix < since || ix >= s->next_since)
      continue;
    int seen = 0;
    for (size_t i = 0; i < s->n_items && !seen; i++)
      seen = s->items[i].index == ix;
    if (!seen)
      return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                  "log entry %" PRIu64 " (an own record the server acknowledged) was left out of the pull", ix);
  }
  return 0;
}

/* Pick the entries whose inclusion is proven for this page. */
static void page_samples(mentorlog_sync *s) {
  s->n_samples = s->sample_next = 0;
  if (s->n_items <= SAMPLES_PER_PAGE * 2) {
    for (size_t i = 0; i < s->n_items; i++)
      s->samples[s->n_samples++] = i;
    return;
  }
  s->samples[s->n_samples++] = 0;
  s->samples[s->n_samples++] = s->n_items - 1;
  while (s->n_samples < SAMPLES_PER_PAGE)
    s->samples[s->n_samples++] = randombytes_uniform((uint32_t)s->n_items);
}

static int next_after_checkpoint(mentorlog_sync *s);

int se_on_pull(mentorlog_sync *s, const uint8_t *b, size_t n) {
  se_page_free(s);
  int err = mlproto_msg_unpack(&s->page, MLPROTO_MSG_PULL_RESPONSE, b, n);
  if (err == MLPROTO_ERR_OUT_OF_MEMORY)
    return se_fail(s, err, "out of memory");
  if (err) /* the decoder checks the entries' order and each field's range */
    return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                "the pull answer does not decode: %s (%s; its entries must be in ascending log order)",
                mlproto_errname(err), mlproto_strerror(err));
  const Mentorlog__V1__PullResponse *p = (const void *)s->page;
  const mlproto_checkpoint *kept = &s->st.cp;
  if ((err = se_sth_of(s, p->sth, "pull")))
    return err;
  if (s->sth_size < kept->size)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED,
                "the log shrank: the answer's tree has %" PRIu64 " entries, the checkpoint kept has %" PRIu64
                " (an old checkpoint replayed)", s->sth_size, kept->size);
  if ((err = page_check(s)))
    return err;
  s->prog.pulled += s->n_items;
  s->have_new = 0;
  if (s->sth_size == kept->size && memcmp(s->sth_root, kept->root, 32) == 0)
    return next_after_checkpoint(s);
  s->phase = PH_CP;
  se_request(s, "GET", NULL, 0, 0, "/v1/log/checkpoint?size=%" PRIu64, s->sth_size);
  return 0;
}

int se_on_cp(mentorlog_sync *s, const uint8_t *b, size_t n) {
  mlproto_checkpoint cp;
  int err = se_note_open(s, s->st.origin, s->st.server_pub, b, n, &cp);
  if (err)
    return err;
  const mlproto_checkpoint *kept = &s->st.cp;
  if (cp.size == kept->size) {
    if (mlproto_checkpoint_check_split_view(kept, &cp) != 0) {
      /* Two signed roots for one size: keep both notes as evidence. */
      struct ml_sync_state *t = &s->tmp;
      *t = s->st;
      snprintf(t->evidence, sizeof t->evidence, "%s\n%s", s->st.note, s->new_note);
      (void)se_commit_state(s, t);
      return se_fail(s, MLPROTO_ERR_SPLIT_VIEW,
                  "the log signed two different roots for size %" PRIu64 " (both checkpoints kept as evidence)",
                  cp.size);
    }
    return next_after_checkpoint(s);
  }
  if (kept->size == 0)
    return next_after_checkpoint(s);
  s->phase = PH_CONS;
  se_request(s, "GET", NULL, 0, 0, "/v1/log/proof/consistency?first=%" PRIu64 "&second=%" PRIu64, kept->size,
          cp.size);
  return 0;
}

/* Proof hashes of a message into a flat array. */
static int proof_hashes(mentorlog_sync *s, ProtobufCBinaryData *hs, size_t n, uint8_t (*out)[32]) {
  if (n > 64)
    return se_fail(s, MLPROTO_ERR_SERVER_LIED, "a proof has more than 64 hashes");
  for (size_t i = 0; i < n; i++) {
    if (hs[i].len != 32)
      return se_fail(s, MLPROTO_ERR_SERVER_LIED, "a proof hash is not 32 bytes");
    memcpy(out[i], hs[i].data, 32);
  }
  return 0;
}

int se_on_cons(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_CONSISTENCY_PROOF, b, n, "consistency proof");
  if (err)
    return err;
  const Mentorlog__V1__ConsistencyProof *p = (const void *)m;
  uint8_t hs[64][32];
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs))) {
    int v = p->first == s->st.cp.size && p->second == s->new_cp.size
                ? mlproto_checkpoint_check_consistency(&s->st.cp, &s->new_cp, (const uint8_t(*)[32])hs, p->n_hashes)
                : MLPROTO_ERR_PROOF_INVALID;
    if (v)
      err = se_fail(s, MLPROTO_ERR_PROOF_INVALID,
                 "the checkpoint of size %" PRIu64 " is not an extension of the one kept (size %" PRIu64
                 "): the consistency proof fails (%s)", s->new_cp.size, s->st.cp.size, mlproto_errname(v));
  }
  mlproto_msg_free(m);
  return err ? err : next_after_checkpoint(s);
}

static void req_incl(mentorlog_sync *s, uint64_t index, uint64_t size) {
  se_request(s, "GET", NULL, 0, 0, "/v1/log/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64, index, size);
}

/* Check an inclusion proof answer for (type, ms, hash) at index against cp. */
static int incl_check(mentorlog_sync *s, const uint8_t *b, size_t n, uint32_t type, int64_t ms,
                      const uint8_t hash[32], uint64_t index, const mlproto_checkpoint *cp, const char *what) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_INCLUSION_PROOF, b, n, "inclusion proof");
  if (err)
    return err;
  const Mentorlog__V1__InclusionProof *p = (const void *)m;
  uint8_t hs[64][32], leaf[32];
  mlproto_log_entry e = {.type = (mlproto_log_entry_type)type, .received_at_ms = (uint64_t)ms};
  memcpy(e.record_hash, hash, 32);
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs))) {
    int v = mlproto_log_entry_leaf_hash(leaf, &e);
    if (!v)
      v = p->leaf_index == index && p->tree_size == cp->size
              ? mlproto_merkle_verify_inclusion(leaf, index, cp->size, (const uint8_t(*)[32])hs, p->n_hashes, cp->root)
              : MLPROTO_ERR_PROOF_INVALID;
    if (v)
      err = se_fail(s, MLPROTO_ERR_PROOF_INVALID,
                 "%s at log entry %" PRIu64 " is not in the checkpoint of size %" PRIu64
                 " (inclusion proof fails: %s)", what, index, cp->size, mlproto_errname(v));
  }
  mlproto_msg_free(m);
  return err;
}

static int apply_page(mentorlog_sync *s);

/* The checkpoint of the page is settled: prove the samples, then apply. */
static int next_after_checkpoint(mentorlog_sync *s) {
  if (s->sample_next == 0 && s->n_samples == 0)
    page_samples(s);
  if (s->sample_next < s->n_samples) {
    const mlproto_checkpoint *cp = s->have_new ? &s->new_cp : &s->st.cp;
    s->phase = PH_INCL;
    req_incl(s, s->items[s->samples[s->sample_next]].index, cp->size);
    return 0;
  }
  return apply_page(s);
}

int se_on_incl(mentorlog_sync *s, const uint8_t *b, size_t n) {
  const struct ml_page_item *it = &s->items[s->samples[s->sample_next]];
  const mlproto_checkpoint *cp = s->have_new ? &s->new_cp : &s->st.cp;
  int err = incl_check(s, b, n, it->entry_type, it->received_ms, it->r->hash, it->index, cp, "the pulled entry");
  if (err)
    return err;
  s->sample_next++;
  return next_after_checkpoint(s);
}

static int receipts_load(mentorlog_sync *s);

static int apply_page(mentorlog_sync *s) {
  mentorlog *h = s->h;
  s->tmp = s->st;
  uint64_t applied = 0;
  int err = ml__page_apply(h, &s->tmp, s->acks, s->n_acks, s->items, s->n_items, s->next_since,
                           s->have_new ? s->new_note : NULL, s->new_note_len, &s->new_cp, &applied);
  if (!err)
    s->n_acks = 0; /* written */
  s->n_samples = s->sample_next = 0;
  if (err) {
    se_fail_h(s, err);
    (void)ml__sync_load(h, &s->st); /* as committed */
    se_page_free(s);
    return err;
  }
  s->st = s->tmp;
  s->prog.applied += applied;
  s->prog.cursor = s->st.cursor;
  s->prog.log_size = s->st.cp.size;
  int more = s->more;
  se_page_free(s);
  if (more) {
    s->phase = PH_PULL;
    se_req_pull(s);
    return 0;
  }
  return receipts_load(s);
}

/* ------------------------------------------------------------ receipts */


static int cmp_receipt(const void *a, const void *b) {
  uint64_t x = ((const struct receipt_check *)a)->index, y = ((const struct receipt_check *)b)->index;
  return x < y ? -1 : x > y;
}

/* The next run (or the grants when all are proven). */
static int receipt_next(mentorlog_sync *s) {
  s->run_lo = s->run_hi;
  if (s->run_lo < s->n_rq && s->runs_done < RUNS_PER_SYNC) {
    size_t hi = s->run_lo + 1;
    while (hi < s->n_rq && s->rq[hi].index == s->rq[hi - 1].index + 1)
      hi++;
    s->run_hi = hi;
    s->run_step = 0;
    s->phase = PH_RECEIPTS;
    req_incl(s, s->rq[s->run_lo].index, s->st.cp.size);
    return 0;
  }
  mlproto_free(s->rq);
  s->rq = NULL;
  s->n_rq = s->run_lo = s->run_hi = s->runs_done = 0;
  return se_grants_and_next(s);
}

/* Unverified receipts inside the kept checkpoint, sorted by index. */
static int receipts_load(mentorlog_sync *s) {
  mentorlog *h = s->h;
  mlproto_free(s->rq);
  s->rq = NULL;
  s->n_rq = s->run_lo = s->run_hi = s->runs_done = 0;
  sqlite3_stmt *st;
  /* own records in seq order are in log order: a prefix of consecutive
   * indices, so the runs stay whole */
  int err = ml__prepare(h, &st, "SELECT c.record_id, r.hash FROM receipts c JOIN records r ON r.record_id ="
                                " c.record_id WHERE c.verified = 0 ORDER BY r.seq LIMIT ?");
  if (err)
    return se_fail_h(s, err);
  sqlite3_bind_int(st, 1, (int)RECEIPTS_MAX);
  size_t cap = 0;
  int rc;
  while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 32)
      continue;
    if (s->n_rq == cap) {
      size_t nc = cap ? cap * 2 : 64;
      struct receipt_check *nv = mlproto_realloc(s->rq, nc * sizeof *nv);
      if (!nv) {
        err = ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
        break;
      }
      s->rq = nv;
      cap = nc;
    }
    struct receipt_check *q = &s->rq[s->n_rq];
    memcpy(q->id, sqlite3_column_blob(st, 0), 16);
    memcpy(q->hash, sqlite3_column_blob(st, 1), 32);
    int found = 0;
    if ((err = ml__receipt_get(h, q->id, &found, &q->index, &q->ms, NULL)))
      break;
    if (found && q->index < s->st.cp.size)
      s->n_rq++;
  }
  sqlite3_finalize(st);
  if (err)
    return se_fail_h(s, err);
  if (s->n_rq > 1)
    qsort(s->rq, s->n_rq, sizeof *s->rq, cmp_receipt);
  return receipt_next(s);
}

int se_on_receipt(mentorlog_sync *s, const uint8_t *b, size_t n) {
  ProtobufCMessage *m;
  int err = se_unpack(s, &m, MLPROTO_MSG_INCLUSION_PROOF, b, n, "inclusion proof");
  if (err)
    return err;
  const Mentorlog__V1__InclusionProof *p = (const void *)m;
  size_t lo = s->run_lo, cnt = s->run_hi - s->run_lo;
  uint64_t want = s->run_step == 0 ? s->rq[lo].index : s->rq[s->run_hi - 1].index;
  uint8_t hs[64][32];
  if (!(err = proof_hashes(s, p->hashes, p->n_hashes, hs)) &&
      (p->leaf_index != want || p->tree_size != s->st.cp.size))
    err = se_fail(s, MLPROTO_ERR_PROOF_INVALID, "the inclusion proof answers for another entry or tree");
  size_t len = p->n_hashes;
  mlproto_msg_free(m);
  if (err)
    return err;
  if (s->run_step == 0 && cnt > 1) {
    memcpy(s->proof_a, hs, len * 32);
    s->len_a = len;
    s->run_step = 1;
    req_incl(s, s->rq[s->run_hi - 1].index, s->st.cp.size);
    return 0;
  }
  if (cnt == 1) {
    memcpy(s->proof_a, hs, len * 32);
    s->len_a = len;
  }
  /* the run's leaves, then both paths against the kept checkpoint */
  uint8_t(*leaves)[32] = mlproto_malloc(cnt * 32);
  if (!leaves)
    return se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < cnt && !err; i++) {
    const struct receipt_check *q = &s->rq[lo + i];
    mlproto_log_entry e = {.type = MLPROTO_LOG_DEVICE_RECORD, .received_at_ms = (uint64_t)q->ms};
    memcpy(e.record_hash, q->hash, 32);
    if (mlproto_log_entry_leaf_hash(leaves[i], &e))
      err = se_fail(s, MLPROTO_ERR_INTERNAL, "leaf hash");
  }
  int v = err ? 0
              : mlproto_merkle_verify_range((const uint8_t(*)[32])leaves, s->rq[lo].index, cnt, s->st.cp.size,
                                            (const uint8_t(*)[32])s->proof_a, s->len_a,
                                            (const uint8_t(*)[32])hs, len, s->st.cp.root);
  mlproto_free(leaves);
  if (err)
    return err;
  if (v)
    return se_fail(s, MLPROTO_ERR_PROOF_INVALID,
                "own records the server acknowledged at log entries %" PRIu64 "..%" PRIu64
                " are not in the checkpoint of size %" PRIu64 " (inclusion proof fails: %s)",
                s->rq[lo].index, s->rq[s->run_hi - 1].index, s->st.cp.size, mlproto_errname(v));
  if (s->n_proven + cnt > s->cap_proven) {
    size_t nc = s->cap_proven ? s->cap_proven : 256;
    while (nc < s->n_proven + cnt)
      nc *= 2;
    uint8_t(*nv)[16] = mlproto_realloc(s->proven, nc * 16);
    if (!nv)
      return se_fail(s, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
    s->proven = nv;
    s->cap_proven = nc;
  }
  for (size_t i = 0; i < cnt; i++)
    memcpy(s->proven[s->n_proven++], s->rq[lo + i].id, 16);
  s->runs_done++;
  return receipt_next(s);
}

