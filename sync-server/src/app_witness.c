/* app_witness.c — the log's witnesses (C2SP tlog-witness, tlog-cosignature):
 * POST /v1/log/cosignature takes a witness's cosignature/v1 of a checkpoint,
 * verifies it against the witness key the operator configured (`admin
 * witness add`) and the checkpoint the server re-creates for that size, and
 * keeps it; app_cosig_append adds the kept ones to GET /v1/log/checkpoint.
 *
 * Pull mode: the witness (mentorlog-audit witness) fetches the checkpoint and
 * the consistency proof itself, checks them, persists its state and sends
 * its cosignature here. The server never signs anything for a witness.
 *
 * One cosignature per (witness, size). A later one for the same size (a
 * larger timestamp) replaces the kept one: the spec's statement is "as of
 * the specified time, the consistent tree head with the largest size the
 * cosigner has observed [...] has the specified root hash", and for one
 * size the root never changes, so the later statement carries everything
 * the earlier one did and is fresher. An older or equal timestamp changes
 * nothing (the answer is still 200: a retried submission is no error).
 */
#include "app_int.h"
#include "witnessed.h"

#include "mlproto/cosignature.h"

/* How far ahead of the server's clock a cosignature's time may be (the
 * spec: "verifiers MAY reject cosignatures with timestamps in the future"). */
#define COSIG_FUTURE_S 300u
/* Cosignatures appended to the latest checkpoint at most: with the log's own
 * line, within the 100 signature lines signed-note readers accept. */
#define COSIG_SERVED_MAX (MLPROTO_CHECKPOINT_MAX_SIGS - 1u)
/* Longest body accepted: a checkpoint note and one more line. */
#define COSIG_BODY_MAX (MLPROTO_CHECKPOINT_SIGNED_MAX + MLPROTO_COSIG_LINE_MAX)

static int need_text_body(ctx *c) {
  const char *ct = app_header(c->req, "Content-Type");
  static const char want[] = "text/plain";
  size_t n = sizeof want - 1;
  while (ct && *ct == ' ') ct++;
  if (!ct || strncasecmp(ct, want, n) != 0 || (ct[n] && ct[n] != ';' && ct[n] != ' '))
    return app_fail(c, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE, "Content-Type text/plain required");
  return MLPROTO_OK;
}

/* The witness of c's name, as a verifier. */
static int witness_verifier(mls_txn *tx, const char *name, mlproto_note_verifier *v) {
  mls_witness w;
  int rc = MLS_TX(tx, witness_get, name, &w);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNKNOWN_WITNESS;
  if (rc) return rc;
  /* stored by `admin witness add` after the same parse */
  if (mlproto_cosig_vkey_parse(v, w.vkey, strlen(w.vkey)) != MLPROTO_OK ||
      strcmp(v->name, name) != 0)
    return MLPROTO_ERR_STORAGE;
  return MLPROTO_OK;
}

int app_h_cosignature(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  int rc = app_authenticate_api_roles(c, APP_ROLES_COSIGN, jc);
  if (rc) return rc;
  if ((rc = need_text_body(c))) return rc;
  qparam ps[] = {{.name = "size"}};
  if ((rc = app_parse_query(c, ps, 1))) return rc;
  uint64_t size = 0;
  if (ps[0].seen && (rc = app_q_u64(c, &ps[0], &size))) return rc;
  const uint8_t *b = c->req->body;
  size_t bl = c->req->body_len;
  if (bl > COSIG_BODY_MAX) return app_fail(c, MLPROTO_ERR_TOO_LARGE, "at most a checkpoint note and one cosignature line");
  if (bl == 0 || !b) return app_fail(c, MLPROTO_ERR_CHECKPOINT_MALFORMED, "empty body");

  /* Two forms: one signature line with ?size=N, or the checkpoint note with
   * the cosignature as its last signature line (the size from its text). */
  const uint8_t *line = b;
  size_t ll = bl;
  size_t text_len = 0;
  int note_form = mlproto_note_body_len(b, bl, &text_len) == MLPROTO_OK;
  mlproto_checkpoint got;
  memset(&got, 0, sizeof got);
  if (note_form) {
    mlproto_note_verifier lv;
    if ((rc = mlproto_note_verifier_init(&lv, mls_log_origin(c->app->log), c->app->pk)))
      return app_fail(c, rc, NULL);
    if ((rc = mlproto_checkpoint_open(&got, b, bl, &lv))) return app_fail(c, rc, NULL);
    if (ps[0].seen && size != got.size)
      return app_fail(c, MLPROTO_ERR_BAD_QUERY, "size differs from the note's");
    size = got.size;
    /* the last line: after the last '\n' before the final one */
    size_t at = bl - 1;
    while (at > 0 && b[at - 1] != '\n') at--;
    line = b + at;
    ll = bl - at;
  } else if (!ps[0].seen) {
    return app_fail(c, MLPROTO_ERR_BAD_QUERY, "size required with a single cosignature line");
  }
  mlproto_cosig cs;
  if ((rc = mlproto_cosig_line_parse(&cs, line, ll))) return app_fail(c, rc, NULL);

  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len = 0, body_len = 0;
  mlproto_note_verifier wv;
  mls_txn *tx;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx))) return app_fail(c, rc, NULL);
  rc = witness_verifier(tx, cs.name, &wv);
  if (!rc) rc = mls_log_checkpoint(c->app->log, tx, 0, size, note, sizeof note, &len, NULL);
  mls_store_rollback(tx);
  if (rc == MLPROTO_ERR_UNKNOWN_WITNESS) return app_fail(c, rc, "no witness of that name");
  if (rc) return app_fail(c, rc, NULL);
  if ((rc = mlproto_note_body_len((const uint8_t *)note, len, &body_len)))
    return app_fail(c, MLPROTO_ERR_INTERNAL, NULL);
  /* A note signed by our key whose text is not our tree's at that size:
   * two roots for one size under the log's key. Tell the witness so. */
  if (note_form && (text_len != body_len || memcmp(b, note, body_len) != 0)) {
    app_log("error", "witness_split_view", "size=%" PRIu64, size);
    return app_fail(c, MLPROTO_ERR_SPLIT_VIEW, "the note is not this log's checkpoint of its size");
  }
  if ((rc = mlproto_cosig_verify(&cs, (const uint8_t *)note, body_len, &wv)))
    return app_fail(c, rc, "not this witness's cosignature of the checkpoint of this size");
  if (cs.timestamp > c->now / 1000u + COSIG_FUTURE_S)
    return app_fail(c, MLPROTO_ERR_CLOCK_DRIFT, "cosignature time is in the future");

  mls_cosignature row;
  memset(&row, 0, sizeof row);
  memcpy(row.witness, cs.name, sizeof row.witness);
  row.size = size;
  row.timestamp = cs.timestamp;
  memcpy(row.sig, cs.sig, 64);
  row.received_ms = c->now;
  int stored = 0;
  if ((rc = mls_store_begin(c->app->st, MLS_TXN_WRITE, &tx))) return app_fail(c, rc, NULL);
  rc = MLS_TX(tx, cosig_put, &row, &stored);
  if (rc) mls_store_rollback(tx);
  else rc = mls_store_commit(tx);
  if (rc == MLPROTO_ERR_NOT_FOUND) rc = MLPROTO_ERR_UNKNOWN_WITNESS;
  if (rc) return app_fail(c, rc, NULL);
  /* Outside the store: the size no restored backup may go below. The
   * cosignature is stored already; failing to record it is logged, and
   * answered as a failure so that the witness sends it again. */
  pthread_mutex_lock(&c->app->witnessed_mu);
  rc = mls_witnessed_raise(c->app->dd.root, &c->app->witnessed_size, size, note, len);
  pthread_mutex_unlock(&c->app->witnessed_mu);
  if (rc) {
    app_log("error", "witnessed_write_failed", "code=%s", mlproto_errname(rc));
    return app_fail(c, rc, NULL);
  }
  app_log("info", "cosignature", "witness_bytes=%zu size=%" PRIu64 " time=%" PRIu64 " stored=%d",
          strlen(cs.name), size, cs.timestamp, stored);
  mlproto_buf_free(&c->resp->body);
  mlproto_buf_init(&c->resp->body, 64);
  const char *msg = stored ? "stored\n" : "kept\n";
  if (mlproto_buf_append(&c->resp->body, msg, strlen(msg)))
    return app_fail(c, MLPROTO_ERR_OUT_OF_MEMORY, NULL);
  c->resp->status = 200;
  c->resp->content_type = CT_TEXT;
  c->resp->error_code = MLPROTO_OK;
  return MLPROTO_OK;
}

/* ---------------------------------------------- serving cosignatures --- */

typedef struct append_ctx {
  mls_txn *tx;
  mlproto_buf *out;
  int rc;
} append_ctx;

static int append_one(void *ud, const mls_cosignature *r) {
  append_ctx *a = ud;
  mlproto_note_verifier v;
  /* Every row was verified against the witness's key before it was kept
   * (POST /v1/log/cosignature); the checkpoint is read on every device's
   * sync, so it is not verified again here (a row damaged behind the
   * server's back is served and refused by every verifier). A witness no
   * longer configured is not served. */
  if (witness_verifier(a->tx, r->witness, &v) != MLPROTO_OK) return 0;
  mlproto_cosig cs;
  memset(&cs, 0, sizeof cs);
  memcpy(cs.name, r->witness, sizeof cs.name);
  memcpy(cs.key_id, v.key_id, 4);
  cs.timestamp = r->timestamp;
  memcpy(cs.sig, r->sig, 64);
  char line[MLPROTO_COSIG_LINE_MAX];
  size_t ll;
  int rc = mlproto_cosig_line_format(line, sizeof line, &ll, &cs);
  if (!rc) rc = mlproto_buf_append(a->out, line, ll);
  a->rc = rc;
  return rc;
}

int app_cosig_append(mls_txn *tx, uint64_t size, mlproto_buf *out) {
  append_ctx a = {tx, out, 0};
  int rc = MLS_TX(tx, cosig_list, size, COSIG_SERVED_MAX, append_one, &a);
  return rc ? rc : a.rc;
}
