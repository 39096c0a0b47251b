/* app_audit.c — GET /v1/audit/log?since=N&limit=K[&size=S]: every entry of
 * the log (all mentors, server events included) for an auditor's token, in
 * pages, with the checkpoint note that bounds the listing
 * (docs/wire-protocol.md §8.6). The checkpoint is the latest one, or that
 * of size S: a client pages through one tree by passing the first answer's
 * tree_size, and gets the same note with every page (checkpoints of one
 * size are the same bytes). The entries are served as stored: the server
 * does not vouch for them, the auditor's verifier judges. */
#include "app_int.h"

int app_h_audit_log(ctx *c) {
  char jc[MLS_JOBCENTRE_MAX + 1];
  int rc = app_authenticate_api_roles(c, APP_ROLES_AUDITOR, jc);
  if (rc) return rc;
  qparam ps[] = {{.name = "since"}, {.name = "limit"}, {.name = "size"}};
  if ((rc = app_parse_query(c, ps, 3))) return rc;
  uint64_t since = 0, limit = PULL_DEFAULT_LIMIT, size = 0;
  if (ps[0].seen && (rc = app_q_u64(c, &ps[0], &since))) return rc;
  if (ps[1].seen && (rc = app_q_u64(c, &ps[1], &limit))) return rc;
  if (ps[2].seen && (rc = app_q_u64(c, &ps[2], &size))) return rc;
  if (limit == 0) return app_fail(c, MLPROTO_ERR_BAD_QUERY, "limit must be >= 1");
  if (limit > MLPROTO_PULL_MAX_ITEMS) limit = MLPROTO_PULL_MAX_ITEMS;

  char note[MLPROTO_CHECKPOINT_SIGNED_MAX], vkey[MLPROTO_NOTE_VKEY_MAX];
  size_t note_len = 0;
  if ((rc = mls_log_vkey(c->app->log, vkey, sizeof vkey))) return app_fail(c, rc, NULL);
  app_page a;
  if ((rc = app_page_init(&a, (size_t)limit, 0))) return app_fail(c, rc, NULL);
  mls_txn *tx;
  rc = mls_store_begin(c->app->st, MLS_TXN_READ, &tx);
  if (!rc) {
    /* the note and the entries from one snapshot */
    rc = mls_log_checkpoint(c->app->log, tx, !ps[2].seen, size, note, sizeof note, &note_len,
                            &size);
    a.bound = size;
    /* limit+1: one more row below the bound tells whether more are waiting */
    if (!rc && since < size)
      rc = MLS_TX(tx, log_list, NULL, since, (uint32_t)limit + 1, app_page_add, &a);
    if (rc == 1) rc = MLPROTO_OK;
    mls_store_rollback(tx);
  }
  if (rc) {
    app_page_free(&a);
    return app_fail(c, rc, rc == MLPROTO_ERR_TREE_RANGE ? "size is beyond the log" : NULL);
  }
  Mentorlog__V1__AuditLogResponse r = MENTORLOG__V1__AUDIT_LOG_RESPONSE__INIT;
  r.n_items = a.n;
  r.items = a.ptrs;
  r.more = a.more;
  r.next_since = app_page_next(&a, since, size);
  r.tree_size = size;
  r.checkpoint.data = (uint8_t *)note;
  r.checkpoint.len = note_len;
  r.log_key = vkey;
  rc = app_reply(c, &r.base);
  app_page_free(&a);
  return rc;
}
