/* app_push.c — POST /v1/push: a batch of one device's records, verified
 * (signatures on the helper threads), checked against its chain
 * (mlproto_chain_check) and appended to the log in one transaction. A
 * CASE_ERASE erases its case's stored envelopes in that transaction, and a
 * record of an erased case is stored in its erased form (erase.h). */
#include "app_int.h"
#include "erase.h"

/* ----------------------------------------------------------------- push --- */

/* Number of top-level field-1 entries in a PushRequest, read from the wire
 * before unpacking, so an oversize batch gets BATCH_TOO_LARGE, not a
 * generic decoding error. -1 when the framing is broken. */
static long count_push_records(const uint8_t *p, size_t n) {
  long count = 0;
  size_t i = 0;
  while (i < n) {
    uint64_t key = 0, len = 0;
    int shift = 0;
    do {
      if (i >= n || shift > 63) return -1;
      key |= (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
    } while (p[i++] & 0x80);
    if ((key & 7) != 2) return -1;
    shift = 0;
    do {
      if (i >= n || shift > 63) return -1;
      len |= (uint64_t)(p[i] & 0x7f) << shift;
      shift += 7;
    } while (p[i++] & 0x80);
    if (len > n - i) return -1;
    i += (size_t)len;
    if ((key >> 3) == 1) count++;
  }
  return count;
}

typedef struct push_item {
  mlproto_record *rec;
  const uint8_t *env;
  size_t env_len;
  uint64_t index;
  uint64_t received_ms;
  int verify_rc;
} push_item;

static void verify_item(void *ud, size_t i) {
  push_item *it = (push_item *)ud + i;
  it->verify_rc = mlproto_record_verify(&it->rec, it->env, it->env_len);
}

static void record_fork(mls_app *app, const push_item *it, const mls_record_ref *ref,
                        const mls_device *d, uint64_t now) {
  uint8_t *logged = malloc(MLS_ENVELOPE_MAX);
  if (!logged) return;
  mls_txn *tx;
  size_t len = 0;
  int rc = mls_store_begin(app->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    rc = MLS_TX(tx, envelope_at, ref->index, logged, MLS_ENVELOPE_MAX, &len);
    if (!rc) rc = MLS_TX(tx, fork_add, it->rec->author, it->rec->seq, logged, len, it->env,
                         it->env_len, d->pub, now);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  free(logged);
  char dev[33];
  app_hex16(dev, d->id);
  app_log(rc ? "error" : "warn", "fork_evidence", "device=%s seq=%" PRIu64 " index=%" PRIu64
          " stored=%d", dev, it->rec->seq, ref->index, rc == MLPROTO_OK);
}

/* Case owners seen in this batch: a batch usually writes to a few cases,
 * and each would otherwise cost a lookup per record. Valid only inside the
 * batch's transaction (a claim made here is rolled back with it). */
#define CASE_MEMO_SLOTS 8
typedef struct case_memo {
  uint8_t case_id[CASE_MEMO_SLOTS][16];
  uint8_t owner[CASE_MEMO_SLOTS][16];
  int erased[CASE_MEMO_SLOTS];
  size_t n;
} case_memo;

static int *memo_put(case_memo *m, const uint8_t case_id[16], const uint8_t owner[16],
                     int erased) {
  size_t slot = m->n++ % CASE_MEMO_SLOTS;
  memcpy(m->case_id[slot], case_id, 16);
  memcpy(m->owner[slot], owner, 16);
  m->erased[slot] = erased;
  return &m->erased[slot];
}

/* The record may be written by this mentor: its case is theirs, or it opens
 * a case no one has claimed (then the case becomes theirs). *erased points
 * at the memo's flag of the case: set when the case was erased (before or
 * earlier in this batch), for the caller to set when it erases it. */
static int case_check(mls_txn *tx, case_memo *m, const mlproto_record *r,
                      const uint8_t mentor_id[16], int **erased) {
  size_t filled = m->n < CASE_MEMO_SLOTS ? m->n : CASE_MEMO_SLOTS;
  for (size_t k = 0; k < filled; k++)
    if (memcmp(m->case_id[k], r->case_id, 16) == 0) {
      *erased = &m->erased[k];
      return memcmp(m->owner[k], mentor_id, 16) == 0 ? MLPROTO_OK : MLPROTO_ERR_NOT_YOUR_CASE;
    }
  uint8_t owner[16];
  uint64_t erased_ms = 0;
  int x = MLS_TX(tx, case_owner, r->case_id, owner);
  if (x == MLPROTO_ERR_NOT_FOUND) {
    if (r->kind != MLPROTO_KIND_CASE_OPEN) return MLPROTO_ERR_NOT_YOUR_CASE;
    if ((x = MLS_TX(tx, case_claim, r->case_id, mentor_id))) return x;
    memcpy(owner, mentor_id, 16);
  } else if (x) {
    return x;
  } else if ((x = MLS_TX(tx, case_erased_get, r->case_id, &erased_ms))) {
    return x;
  }
  *erased = memo_put(m, r->case_id, owner, erased_ms != 0);
  return memcmp(owner, mentor_id, 16) == 0 ? MLPROTO_OK : MLPROTO_ERR_NOT_YOUR_CASE;
}

/* Appends record r (envelope env) of the batch; its case is erased when
 * *erased is set (it is then stored erased), and a CASE_ERASE erases it. */
static int push_append(ctx *c, mls_txn *tx, const mls_device *d, const mlproto_record *r,
                       const uint8_t *env, size_t env_len, int *erased, mls_log_entry *e,
                       uint64_t *rewritten) {
  memset(e, 0, sizeof *e);
  e->type = MLPROTO_LOG_DEVICE_RECORD;
  e->received_ms = c->now;
  memcpy(e->record_hash, r->hash, 32);
  memcpy(e->author, r->author, 32);
  e->seq = r->seq;
  memcpy(e->record_id, r->record_id, 16);
  memcpy(e->case_id, r->case_id, 16);
  e->kind = (uint32_t)r->kind;
  e->has_mentor = 1;
  memcpy(e->mentor_id, d->mentor_id, 16);
  uint8_t *shredded = NULL;
  size_t shredded_len = 0;
  int rc = MLPROTO_OK;
  /* a late record of an erased case: appended as usual (the log stays
   * complete), its parts never stored */
  if (*erased) rc = mls_erase_form(&shredded, &shredded_len, NULL, env, env_len, r->hash);
  e->envelope = shredded ? shredded : env;
  e->envelope_len = shredded ? shredded_len : env_len;
  if (!rc) rc = mls_log_append(c->app->log, tx, e);
  if (!rc) rc = app_index_grant(tx, r);
  if (!rc && shredded) (*rewritten)++;
  mlproto_free(shredded);
  e->envelope = NULL;
  e->envelope_len = 0;
  if (!rc && r->kind == MLPROTO_KIND_CASE_ERASE && !*erased) {
    uint64_t n = 0;
    rc = mls_erase_case(tx, r->case_id, c->now, &n, NULL);
    if (!rc) {
      *erased = 1;
      *rewritten += n;
      char cs[33];
      app_hex16(cs, r->case_id);
      app_log("info", "case_erased", "case=%s envelopes=%" PRIu64 " index=%" PRIu64, cs, n,
              e->index);
    }
  }
  return rc;
}

/* Where an accepted batch's time went (mls_metrics_observe_push_times):
 * t0 when the application got the request, the transactions' time summed
 * (a batch that waited for an earlier push of its device has two), and the
 * part of it acquiring the log (mls_log_begin_timed). */
typedef struct push_clock {
  uint64_t t0;
  uint64_t began; /* when the open transaction's begin was called */
  uint64_t store_ns, lock_ns;
} push_clock;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The open transaction ended (committed or aborted). */
static void clock_txn_end(push_clock *k) { k->store_ns += mono_ns() - k->began; }

static int push_ordered(ctx *c, const mls_device *d, int slot, push_clock *k);

int app_h_push(ctx *c) {
  push_clock k = {.t0 = mono_ns()};
  mls_device d;
  int rc = app_authenticate(c, &d);
  if (rc) return rc;
  int slot = mls_push_order_enter(c->app->order, d.pub);
  rc = push_ordered(c, &d, slot, &k);
  mls_push_order_leave(c->app->order, slot);
  return rc;
}

#define NO_RECORD SIZE_MAX

/* The checks of record i that need no store: its signature and hash
 * (verified by verify_item), its author, its kind, and that it follows
 * record i - 1 of the batch. */
static int record_precheck(const push_item *items, size_t i, const mls_device *d) {
  const mlproto_record *r = items[i].rec;
  if (items[i].verify_rc) return items[i].verify_rc;
  if (memcmp(r->author, d->pub, 32) != 0) return MLPROTO_ERR_AUTHOR_MISMATCH;
  if (mlproto_kind_is_server_event(r->kind)) return MLPROTO_ERR_KIND_NOT_ALLOWED;
  if (i > 0 && r->seq != items[i - 1].rec->seq + 1) return MLPROTO_ERR_SEQ_GAP;
  return MLPROTO_OK;
}

/* Opens the batch's write transaction. When this is the only push in
 * flight and the log is free: at once, and each record is then written as
 * soon as it is verified while the other cores verify the next ones (a
 * device that waits for each answer gets verifying and writing overlapped;
 * measured +8 % for one device, docs/benchmarks.md). Otherwise the whole
 * batch is verified first, outside the lock, so that its signature checks
 * never hold up the writer while other pushes wait for it. On a store that
 * other processes share (MLS_STORE_CAP_SHARED: several instances on one
 * PostgreSQL) this process cannot know that it is the only one pushing, so
 * it always verifies first: holding the log's row lock while verifying
 * made every other instance's verified batches wait behind those checks
 * (3 instances: 8 devices 8-12 % slower than 1; verifying first was no
 * slower for one device on PostgreSQL either, docs/benchmarks.md). */
static int push_begin(ctx *c, mls_fanout_job *vj, size_t count, mls_txn **tx, push_clock *k) {
  uint64_t wait = 0;
  /* Without helpers there is nothing to overlap: no point holding the log. */
  if (!c->app->verify_first && !(c->app->st->ops->caps & MLS_STORE_CAP_SHARED) &&
      mls_fanout_helpers(c->app->verify) > 0 && mls_push_order_count(c->app->order) <= 1) {
    k->began = mono_ns();
    int rc = mls_log_try_begin_timed(c->app->log, tx, &wait);
    k->lock_ns += wait;
    if (rc || *tx) return rc;
  }
  for (size_t i = 0; i < count; i++) mls_fanout_await(vj, i);
  k->began = mono_ns();
  int rc = mls_log_begin_timed(c->app->log, tx, &wait);
  k->lock_ns += wait;
  return rc;
}

/* slot: this push's place in app->order (push_order.h), or -1. */
static int push_ordered(ctx *c, const mls_device *d, int slot, push_clock *k) {
  int rc;
  if ((rc = app_need_proto_body(c))) return rc;
  uint64_t t0 = mono_ns();
  long n = count_push_records(c->req->body, c->req->body_len);
  if (n > (long)MLPROTO_PUSH_MAX_RECORDS) {
    mls_metrics_add_records(0, "BATCH_TOO_LARGE", (uint64_t)n);
    char detail[64];
    snprintf(detail, sizeof detail, "at most %u records per batch", MLPROTO_PUSH_MAX_RECORDS);
    return app_fail(c, MLPROTO_ERR_BATCH_TOO_LARGE, detail);
  }
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_REQUEST, c->req->body, c->req->body_len);
  if (rc) {
    mls_metrics_inc_records(0, mlproto_errname(rc));
    return app_fail(c, rc, "PushRequest");
  }
  Mentorlog__V1__PushRequest *pr = (Mentorlog__V1__PushRequest *)m;
  size_t count = pr->n_records;
  push_item *items = calloc(count ? count : 1, sizeof *items);
  mls_fanout_job *vj = NULL;
  if (items) {
    for (size_t i = 0; i < count; i++) {
      items[i].env = pr->records[i].data;
      items[i].env_len = pr->records[i].len;
    }
    rc = mls_fanout_start(c->app->verify, count, verify_item, items, &vj);
  } else {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  }
  if (rc) {
    free(items);
    mlproto_msg_free(m);
    mls_metrics_add_records(0, mlproto_errname(rc), count ? count : 1);
    return app_fail(c, rc, NULL);
  }

  /* Every record is checked in order, so the first bad record is the one
   * named, whether or not the batch was verified before the lock. bad:
   * that record's index, NO_RECORD when the failure is not about one. */
  mls_txn *tx = NULL;
  size_t appended = 0, bad = NO_RECORD;
  mls_record_ref fork_ref;
  memset(&fork_ref, 0, sizeof fork_ref);
  int forked = 0, waited = 0, stateless = 0;
  uint64_t shredded = 0; /* envelopes stored or rewritten erased */
  mlproto_sth sth;
retry:
  bad = NO_RECORD;
  shredded = 0;
  rc = push_begin(c, vj, count, &tx, k);
  if (!rc) {
    /* app_authenticate() read the device in an earlier snapshot: a revocation
     * committed since must win, or records could follow DEVICE_REVOKED. */
    mls_device now_d;
    int x = MLS_TX(tx, device_get, d->pub, &now_d);
    if (x == MLPROTO_ERR_NOT_FOUND || (!x && now_d.revoked_ms)) x = MLPROTO_ERR_UNAUTHENTICATED;
    if (x) {
      mls_log_abort(c->app->log, tx);
      mls_metrics_add_records(0, mlproto_errname(x), count ? count : 1);
      rc = app_fail(c, x, NULL);
      goto out;
    }
  }
  if (!rc) {
    /* All records share one author (checked per record): its tip, read
     * once and moved along the batch, decides each record (mlproto/chain.h).
     * A resend (seq <= tip) is looked up: its original log index is the
     * answer, and a fork's stored envelope is the evidence. */
    mlproto_chain_tip tip;
    mlproto_chain_tip_init(&tip, d->pub);
    if (count) rc = MLS_TX(tx, author_head, d->pub, &tip.seq, tip.hash);
    case_memo memo = {.n = 0};
    for (size_t i = 0; i < count && !rc; i++) {
      mls_fanout_await(vj, i);
      bad = i;
      if ((rc = record_precheck(items, i, d))) {
        stateless = 1;
        break;
      }
      const mlproto_record *r = items[i].rec;
      mlproto_chain_verdict v = mlproto_chain_check(&tip, NULL, r);
      if (v == MLPROTO_CHAIN_DUPLICATE || v == MLPROTO_CHAIN_FORK || v == MLPROTO_CHAIN_NEED_HELD) {
        mls_record_ref ref;
        int x = MLS_TX(tx, record_at, r->author, r->seq, &ref);
        if (x) {
          rc = x == MLPROTO_ERR_NOT_FOUND ? MLPROTO_ERR_SEQ_GAP : x;
          break;
        }
        v = mlproto_chain_check(&tip, ref.record_hash, r);
        if (v == MLPROTO_CHAIN_DUPLICATE) {
          items[i].index = ref.index; /* identical resend: acknowledged again */
          items[i].received_ms = ref.received_ms;
          continue;
        }
        if (v == MLPROTO_CHAIN_FORK) {
          fork_ref = ref;
          forked = 1;
        }
      }
      if (v != MLPROTO_CHAIN_ACCEPT) { rc = mlproto_chain_error(v); break; }
      int *erased = NULL;
      if ((rc = case_check(tx, &memo, r, d->mentor_id, &erased))) break;
      mls_log_entry e;
      if ((rc = push_append(c, tx, d, r, items[i].env, items[i].env_len, erased, &e, &shredded)))
        break;
      items[i].index = e.index;
      items[i].received_ms = e.received_ms;
      mlproto_chain_advance(&tip, r);
      appended++;
    }
    if (!rc) bad = NO_RECORD;
    if (rc) {
      mls_log_abort(c->app->log, tx);
      clock_txn_end(k);
      /* The first new record does not follow the stored head: an earlier
       * batch of this device may still be on its way (push_order.h). The
       * helpers go on verifying this batch meanwhile. (A gap inside the
       * batch is the batch's own fault: no wait.) */
      if (rc == MLPROTO_ERR_SEQ_GAP && appended == 0 && !forked && !waited && !stateless &&
          mls_push_order_wait(c->app->order, slot, PUSH_ORDER_WAIT_MS)) {
        waited = 1;
        atomic_fetch_add(&c->app->push_waits, 1);
        tx = NULL;
        goto retry;
      }
    } else if (appended) {
      rc = mls_log_commit(c->app->log, tx, c->now, &sth);
      clock_txn_end(k);
      /* the old page images of what was erased leave the files now */
      if (!rc && shredded) {
        int x = mls_store_scrub(c->app->st);
        if (x) app_log("warn", "store_scrub", "reason=%s", mlproto_errname(x));
        /* and the reports' cache forgets the erased cases' disclosed parts
         * now, not at their next miss (report_cache.h) */
        for (size_t i = 0; i < count; i++)
          if (items[i].rec && items[i].rec->kind == MLPROTO_KIND_CASE_ERASE)
            mls_rcache_drop(c->app->rcache, items[i].rec->case_id);
      }
    } else {
      /* Nothing new: no new tree head to sign. */
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      mls_log_abort(c->app->log, tx);
      clock_txn_end(k);
    }
  }
  /* The evidence is committed (its own durable transaction) before the
   * answer is built: a client that saw FORK can rely on it being kept. */
  if (forked) record_fork(c->app, &items[bad], &fork_ref, d, c->now);

  char dev[33];
  app_hex16(dev, d->id);
  if (rc) {
    char detail[96] = "";
    size_t which = bad == NO_RECORD ? 0 : bad + 1;
    if (which) snprintf(detail, sizeof detail, "record %zu of %zu", which, count);
    mls_metrics_add_records(0, mlproto_errname(rc), count ? count : 1);
    app_log("info", "push_refused", "conn=%" PRIu64 " device=%s n=%zu record=%zu reason=%s",
            c->req->conn_id, dev, count, which, mlproto_errname(rc));
    rc = app_fail(c, rc, detail);
    goto out;
  }
  mls_metrics_add_records(1, "ok", count);

  Mentorlog__V1__PushResponse resp = MENTORLOG__V1__PUSH_RESPONSE__INIT;
  Mentorlog__V1__RecordResult *res = calloc(count ? count : 1, sizeof *res);
  Mentorlog__V1__RecordResult **resp_ptrs = calloc(count ? count : 1, sizeof *resp_ptrs);
  Mentorlog__V1__SignedTreeHead pb;
  app_sth_to_pb(&pb, &sth);
  if (!res || !resp_ptrs) {
    rc = app_fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  } else {
    for (size_t i = 0; i < count; i++) {
      mentorlog__v1__record_result__init(&res[i]);
      res[i].record_id.data = items[i].rec->record_id;
      res[i].record_id.len = 16;
      res[i].log_index = items[i].index;
      res[i].received_at_ms = items[i].received_ms;
      res[i].status = (char *)"OK";
      resp_ptrs[i] = &res[i];
    }
    resp.n_results = count;
    resp.results = resp_ptrs;
    resp.sth = &pb;
    rc = app_reply(c, &resp.base);
  }
  mls_metrics_observe_push_ms((double)(mono_ns() - t0) / 1e6);
  mls_push_times pt = {.total_ns = mono_ns() - k->t0, .store_ns = k->store_ns,
                       .lock_wait_ns = k->lock_ns};
  mls_metrics_observe_push_times(&pt);
  app_log("info", "push", "conn=%" PRIu64 " device=%s n=%zu new=%zu log_size=%" PRIu64,
          c->req->conn_id, dev, count, appended, sth.size);
  free(res);
  free(resp_ptrs);
out:
  /* Records never handed out are not verified (rec NULL): skipped. */
  mls_fanout_finish(vj, 1);
  for (size_t i = 0; i < count; i++) mlproto_record_free(items[i].rec);
  free(items);
  mlproto_msg_free(m);
  return rc;
}
