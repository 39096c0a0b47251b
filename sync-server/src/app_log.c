/* app_log.c — the log as clients read it: GET /v1/pull, the tree head,
 * C2SP checkpoints and RFC 9162 proofs. */
#include "app_int.h"

#include "mlproto/json.h"

/* ---------------------------------------------------------------- STH --- */

void app_sth_to_pb(Mentorlog__V1__SignedTreeHead *pb, const mlproto_sth *s) {
  mentorlog__v1__signed_tree_head__init(pb);
  pb->size = s->size;
  pb->root.data = (uint8_t *)s->root;
  pb->root.len = 32;
  pb->timestamp_ms = s->timestamp_ms;
  pb->signature.data = (uint8_t *)s->signature;
  pb->signature.len = 64;
}

int app_read_sth(mls_app *app, uint64_t now, mlproto_sth *sth) {
  mls_txn *tx;
  int rc = mls_store_begin(app->st, MLS_TXN_READ, &tx);
  if (rc) return rc;
  rc = mls_log_sth(app->log, tx, now, sth);
  mls_store_rollback(tx);
  return rc;
}

/* ----------------------------------------------------------------- pull --- */

int app_page_init(app_page *a, size_t cap, uint64_t bound) {
  memset(a, 0, sizeof *a);
  a->cap = cap;
  a->bound = bound;
  a->items = calloc(cap, sizeof *a->items);
  a->ptrs = calloc(cap, sizeof *a->ptrs);
  a->copies = calloc(cap, sizeof *a->copies);
  if (a->items && a->ptrs && a->copies) return MLPROTO_OK;
  app_page_free(a);
  return MLPROTO_ERR_OUT_OF_MEMORY;
}

int app_page_add(void *ud, const mls_log_entry *e) {
  app_page *a = ud;
  if (e->index >= a->bound) return 1; /* past the tree head: stop, nothing more */
  if (a->n == a->cap || (a->n > 0 && a->bytes + e->envelope_len > PULL_BYTES_SOFT_CAP)) {
    a->more = 1;
    return 1; /* stop */
  }
  uint8_t *copy = mlproto_memdup(e->envelope, e->envelope_len);
  if (!copy) return MLPROTO_ERR_OUT_OF_MEMORY;
  Mentorlog__V1__LogItem *it = &a->items[a->n];
  mentorlog__v1__log_item__init(it);
  it->log_index = e->index;
  it->received_at_ms = e->received_ms;
  it->entry_type = e->type;
  it->envelope.data = copy;
  it->envelope.len = e->envelope_len;
  a->copies[a->n] = copy;
  a->ptrs[a->n] = it;
  a->n++;
  a->bytes += e->envelope_len;
  a->last = e->index;
  return 0;
}

uint64_t app_page_next(const app_page *a, uint64_t since, uint64_t size) {
  return a->more ? a->last + 1 : (size > since ? size : since);
}

void app_page_free(app_page *a) {
  for (size_t i = 0; i < a->n; i++) mlproto_free(a->copies[i]);
  free(a->items);
  free(a->ptrs);
  free(a->copies);
  memset(a, 0, sizeof *a);
}

int app_h_pull(ctx *c) {
  mls_device d;
  int rc = app_authenticate(c, &d);
  if (rc) return rc;
  qparam ps[] = {{.name = "since"}, {.name = "limit"}};
  if ((rc = app_parse_query(c, ps, 2))) return rc;
  uint64_t since = 0, limit = PULL_DEFAULT_LIMIT;
  if (ps[0].seen && (rc = app_q_u64(c, &ps[0], &since))) return rc;
  if (ps[1].seen && (rc = app_q_u64(c, &ps[1], &limit))) return rc;
  if (limit == 0) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "limit must be >= 1");
  if (limit > MLPROTO_PULL_MAX_ITEMS) limit = MLPROTO_PULL_MAX_ITEMS;

  app_page a;
  mlproto_sth sth;
  rc = app_page_init(&a, (size_t)limit, UINT64_MAX);
  if (!rc) {
    mls_txn *tx;
    rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
    if (!rc) {
      rc = mls_log_sth(c->app->log, tx, c->now, &sth);
      /* limit+1: one more row tells whether more are waiting. */
      if (!rc) rc = MLS_TX(tx, log_list, d.mentor_id, since, (uint32_t)limit + 1, app_page_add, &a);
      if (rc == 1) rc = MLPROTO_OK;
      mls_store_rollback(tx);
    }
  }
  if (!rc) {
    Mentorlog__V1__PullResponse r = MENTORLOG__V1__PULL_RESPONSE__INIT;
    Mentorlog__V1__SignedTreeHead pb;
    app_sth_to_pb(&pb, &sth);
    r.n_items = a.n;
    r.items = a.ptrs;
    r.more = a.more;
    /* Without more, everything up to the tree head's size was scanned. */
    r.next_since = app_page_next(&a, since, sth.size);
    r.sth = &pb;
    rc = app_reply(c, &r.base);
  } else {
    app_fail(c, rc, NULL);
  }
  app_page_free(&a);
  return rc;
}

/* ------------------------------------------------------------------ log --- */

/* The tree head as JSON (Accept: application/json) for witnesses and scripts:
 * {"size":N,"root":"<64 hex>","timestamp_ms":N,"signature":"<128 hex>"}. */
static int reply_sth_json(ctx *c, const mlproto_sth *sth) {
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 512);
  mlproto_json j;
  mlproto_json_init(&j, &c->resp->body);
  mlproto_json_obj(&j);
  mlproto_json_ku64(&j, "size", sth->size);
  mlproto_json_khex(&j, "root", sth->root, sizeof sth->root);
  mlproto_json_ku64(&j, "timestamp_ms", sth->timestamp_ms);
  mlproto_json_khex(&j, "signature", sth->signature, sizeof sth->signature);
  mlproto_json_end(&j);
  int rc = mlproto_json_finish(&j);
  if (rc) return app_fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_JSON;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

int app_h_sth(ctx *c) {
  mlproto_sth sth;
  int rc = app_read_sth(c->app, c->now, &sth);
  if (rc) return app_fail(c, rc, NULL);
  if (c->want_json) return reply_sth_json(c, &sth);
  Mentorlog__V1__SignedTreeHead pb;
  app_sth_to_pb(&pb, &sth);
  return app_reply(c, &pb.base);
}

/* GET /v1/log/checkpoint[?size=N]: the C2SP checkpoint note of the whole
 * log, or of its first N leaves (N <= the log size: the same bytes every
 * time, so a device can fetch the checkpoint a push or pull answer named by
 * its size). text/plain; charset=utf-8. The latest also carries, after the
 * log's signature line, one cosignature line by each configured witness
 * that cosigned its size (app_witness.c); by size: only the log's line. The latest changes with every
 * append: tlog-tiles says its "headers SHOULD prevent caching beyond a few
 * seconds", so caches may keep it 5 s (CHECKPOINT_MAX_AGE_S); the
 * checkpoint of a size is immutable. */
int app_h_checkpoint(ctx *c) {
  qparam ps[] = {{.name = "size"}};
  int rc = app_parse_query(c, ps, 1);
  if (rc) return rc;
  uint64_t size = 0;
  if (ps[0].seen && (rc = app_q_u64(c, &ps[0], &size))) return rc;
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len = 0;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return app_fail(c, rc, NULL);
  uint64_t of = 0;
  rc = mls_log_checkpoint(c->app->log, tx, !ps[0].seen, size, note, sizeof note, &len, &of);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, RESPONSE_CAP);
  if (!rc && mlproto_buf_append(&c->resp->body, note, len)) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  /* The latest carries its witnesses' cosignatures (app_witness.c); a
   * checkpoint by size stays the same bytes forever and carries none. */
  if (!rc && !ps[0].seen) rc = app_cosig_append(tx, of, &c->resp->body);
  mls_store_rollback(tx);
  if (rc) return app_fail(c, rc, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_TEXT;
  c->resp->error_code = MLPROTO_OK;
  if (ps[0].seen)
    snprintf(c->resp->extra_headers, sizeof c->resp->extra_headers,
             "Cache-Control: public, max-age=31536000, immutable\r\n");
  else
    snprintf(c->resp->extra_headers, sizeof c->resp->extra_headers,
             "Cache-Control: public, max-age=%u\r\n", CHECKPOINT_MAX_AGE_S);
  return MLPROTO_OK;
}

static int reply_proof(ctx *c, int inclusion, uint64_t a, uint64_t b, uint8_t (*proof)[32],
                       size_t len) {
  ProtobufCBinaryData hs[MLPROTO_MERKLE_MAX_PROOF];
  for (size_t i = 0; i < len; i++) {
    hs[i].data = proof[i];
    hs[i].len = 32;
  }
  if (inclusion) {
    Mentorlog__V1__InclusionProof p = MENTORLOG__V1__INCLUSION_PROOF__INIT;
    p.leaf_index = a;
    p.tree_size = b;
    p.n_hashes = len;
    p.hashes = hs;
    return app_reply(c, &p.base);
  }
  Mentorlog__V1__ConsistencyProof p = MENTORLOG__V1__CONSISTENCY_PROOF__INIT;
  p.first = a;
  p.second = b;
  p.n_hashes = len;
  p.hashes = hs;
  return app_reply(c, &p.base);
}

int app_h_inclusion(ctx *c) {
  qparam ps[] = {{.name = "index"}, {.name = "size"}, {.name = "hash"}};
  int rc = app_parse_query(c, ps, 3);
  if (rc) return rc;
  if (ps[0].seen == ps[2].seen) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "give index or hash");
  uint64_t index = 0, size = 0;
  uint8_t leaf[32];
  if (ps[0].seen && (rc = app_q_u64(c, &ps[0], &index))) return rc;
  if (ps[1].seen && (rc = app_q_u64(c, &ps[1], &size))) return rc;
  if (ps[2].seen && mlproto_hex_decode(leaf, 32, ps[2].val, ps[2].len) != MLPROTO_OK)
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, "hash: 64 hex digits");
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return app_fail(c, rc, NULL);
  if (!ps[1].seen) {
    mlproto_sth sth;
    rc = mls_log_sth(c->app->log, tx, c->now, &sth);
    size = sth.size;
  }
  if (!rc && ps[2].seen) rc = MLS_TX(tx, leaf_find, leaf, &index);
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len = 0;
  if (!rc) rc = mls_log_inclusion(tx, index, size, proof, &len);
  mls_store_rollback(tx);
  if (rc) return app_fail(c, rc, NULL);
  return reply_proof(c, 1, index, size, proof, len);
}

int app_h_consistency(ctx *c) {
  qparam ps[] = {{.name = "first"}, {.name = "second"}};
  int rc = app_parse_query(c, ps, 2);
  if (rc) return rc;
  if (!ps[0].seen) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "first required");
  uint64_t first = 0, second = 0;
  if ((rc = app_q_u64(c, &ps[0], &first))) return rc;
  if (ps[1].seen && (rc = app_q_u64(c, &ps[1], &second))) return rc;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return app_fail(c, rc, NULL);
  if (!ps[1].seen) {
    mlproto_sth sth;
    rc = mls_log_sth(c->app->log, tx, c->now, &sth);
    second = sth.size;
  }
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len = 0;
  if (!rc) rc = mls_log_consistency(tx, first, second, proof, &len);
  mls_store_rollback(tx);
  if (rc) return app_fail(c, rc, NULL);
  return reply_proof(c, 0, first, second, proof, len);
}
