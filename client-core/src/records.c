/* Writers: every change becomes one signed record (mlproto_record_build),
 * stored with its chain link and outbox entry in one transaction. */
#include "records_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static int step_done(mentorlog *h, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  int err = rc == SQLITE_DONE ? 0 : ml__sqlite_err(h, rc, what);
  sqlite3_finalize(st);
  return err;
}

/* The record through the record store, then its outbox entry; the chain
 * row follows at the outermost commit (one UPDATE per batch, not per record). */
int ml__append(mentorlog *h, const struct ml_write *w, uint8_t out_id[16]) {
  if (h->chain_stale) {
    int rc = ml__chain_load(h);
    if (rc)
      return rc;
  }
  mlproto_record_params p = {.seq = h->seq + 1, .kind = w->kind,
                             .n_supersedes = w->n_supersedes, .supersedes = w->supersedes};
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, w->case_id, 16);
  memcpy(p.prev, h->head, 32);
  int err = mlproto_hlc_now(&h->hlc, (uint64_t)ml__now_ms(h), &p.hlc);
  if (err)
    return ml__fail(h, err, "device clock out of range");
  uint8_t *env = NULL, hash[32];
  size_t env_len = 0;
  err = mlproto_record_build(&env, &env_len, hash, &p, w->disclosed, w->sealed, w->case_key, h->sign);
  if (err)
    return ml__fail(h, err, "build record: %s", mlproto_strerror(err));
  struct ml_stored m = {.record_id = p.record_id, .case_id = p.case_id,
                        .item_id = w->item_id ? w->item_id : p.record_id, .author = h->sign_pk,
                        .seq = p.seq, .kind = p.kind, .hash = hash,
                        .supersedes = w->supersedes, .n_supersedes = w->n_supersedes};
  sqlite3_stmt *st;
  if ((err = ml__record_store(h, &m, env, env_len)))
    goto out;
  if ((err = ml__stmt_get(h, ML_SQL_OUTBOX_INSERT, &st)))
    goto out;
  sqlite3_bind_int64(st, 1, (sqlite3_int64)p.seq);
  sqlite3_bind_blob(st, 2, p.record_id, 16, SQLITE_STATIC);
  if ((err = ml__stmt_run(h, st, "queue record")))
    goto out;
  h->seq = p.seq;
  memcpy(h->head, hash, 32);
  h->chain_dirty = 1;
  if (out_id)
    memcpy(out_id, p.record_id, 16);
out:
  mlproto_free(env);
  return err;
}

/* ---------------------------------------------------------- helpers */

/* Finish w and store it in its own transaction: a version of t (when t)
 * supersedes all of t's heads; sealed (when not NULL) is encrypted to the
 * case key of w->case_id. */
static int write_one(mentorlog *h, struct ml_write *w, const struct ml_target *t,
                     const mlproto_sealed *sealed, uint8_t out[16]) {
  int err;
  if (t) {
    w->item_id = t->item_id;
    w->supersedes = (const uint8_t(*)[16])t->heads;
    w->n_supersedes = t->n;
  }
  if (sealed) {
    const mlproto_key *ck = NULL;
    if ((err = ml__casekey(h, w->case_id, &ck)))
      return err;
    w->sealed = sealed;
    w->case_key = ck;
  }
  if ((err = ml__begin(h)))
    return err;
  if ((err = ml__append(h, w, out)))
    ml__rollback(h);
  else
    err = ml__commit(h);
  return err;
}

static int check_text(mentorlog *h, const char *s, size_t cap, const char *what, bool required) {
  if (!s || !*s)
    return required ? ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "%s is required", what) : 0;
  if (strlen(s) > cap)
    return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "%s is longer than %zu bytes", what, cap);
  return 0;
}

/* The case must exist here and not be erased. */
int ml__case_check(mentorlog *h, const uint8_t case_id[16]) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_CASE_CHECK, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "find case");
  else if (sqlite3_column_int(st, 1))
    err = ml__fail(h, MLPROTO_ERR_CASE_ERASED, "the case was erased");
  else if (!sqlite3_column_int(st, 0))
    err = ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no such case");
  ml__stmt_put(st);
  return err;
}

/* Concurrent heads (versions written on two devices) in one order on
 * every replica, newest first: protocol's order of versions
 * (mlproto_item_order; heads[0] is what a void repeats). Rows are stored in
 * arrival order, which differs between replicas. */
static int head_newest_first(const void *a, const void *b) {
  return -mlproto_item_order(a, b);
}

static int heads_order(mentorlog *h, struct ml_target *t) {
  if (t->n < 2)
    return 0;
  mlproto_item keys[16];
  int err = 0;
  for (size_t i = 0; !err && i < t->n; i++) {
    sqlite3_stmt *st;
    if ((err = ml__stmt_get(h, ML_SQL_RECORD_BY_ID, &st)))
      return err;
    sqlite3_bind_blob(st, 1, t->heads[i], 16, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    mlproto_record *r = NULL;
    if (rc == SQLITE_ROW && !(err = ml__row_record(h, st, 0, 1, 2, &r))) {
      keys[i] = (mlproto_item){.hlc = r->hlc};
      memcpy(keys[i].author, r->author, 32);
      memcpy(keys[i].record_id, r->record_id, 16);
    } else if (rc != SQLITE_ROW) {
      err = ml__sqlite_err(h, rc, "read heads");
    }
    mlproto_record_free(r);
    ml__stmt_put(st);
  }
  if (err)
    return err;
  qsort(keys, t->n, sizeof keys[0], head_newest_first);
  for (size_t i = 0; i < t->n; i++)
    memcpy(t->heads[i], keys[i].record_id, 16);
  return 0;
}

int ml__item_heads(mentorlog *h, const uint8_t record_id[16], int kind_lo, int kind_hi,
                   struct ml_target *t) {
  memset(t, 0, sizeof *t);
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_RECORD_META, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 16)) {
    err = ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a record's ids are damaged");
  } else if (rc == SQLITE_ROW) {
    int kind = sqlite3_column_int(st, 2);
    memcpy(t->item_id, sqlite3_column_blob(st, 0), 16);
    memcpy(t->case_id, sqlite3_column_blob(st, 1), 16);
    if (kind < kind_lo || kind > kind_hi)
      err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "the record is a %s, not the kind expected",
                     mlproto_kind_name((uint32_t)kind));
  } else {
    err = rc == SQLITE_DONE ? ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no such record")
                            : ml__sqlite_err(h, rc, "find record");
  }
  ml__stmt_put(st);
  if (err)
    return err;
  if ((err = ml__case_check(h, t->case_id)))
    return err;
  if ((err = ml__stmt_get(h, ML_SQL_ITEM_HEADS, &st)))
    return err;
  sqlite3_bind_blob(st, 1, t->item_id, 16, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16)
    memcpy(t->heads[t->n++], sqlite3_column_blob(st, 0), 16);
  if (rc != SQLITE_DONE)
    err = rc == SQLITE_ROW ? ml__fail(h, MLPROTO_ERR_PROFILE_CORRUPT, "a record id is damaged")
                           : ml__sqlite_err(h, rc, "find heads");
  ml__stmt_put(st);
  return err ? err : heads_order(h, t);
}

/* ----------------------------------------------------------- cases */

int mentorlog_case_open(mentorlog *h, uint8_t out_case[16], const char *name, const char *phone) {
  int err;
  if ((err = check_text(h, name, MENTORLOG_NAME_MAX, "name", true)) || (err = check_text(h, phone, MENTORLOG_PHONE_MAX, "phone", false)))
    return err;
  uint8_t case_id[16];
  mlproto_random_id(case_id);
  mlproto_key *ck = NULL;
  if ((err = mlproto_key_generate(&ck, MLPROTO_KEY_CASE)))
    return ml__fail(h, err, "case key");
  /* KEY_GRANT: the case key sealed to this device's own X25519 key, so its
   * other devices and the escrow can be given it later. */
  Mentorlog__V1__SealedKey sk = MENTORLOG__V1__SEALED_KEY__INIT;
  Mentorlog__V1__SealedKey *skp = &sk;
  uint8_t sealed_key[MLPROTO_CASE_KEY_SEALEDBYTES];
  if ((err = mlproto_case_key_seal(sealed_key, ck, h->box_pk))) {
    err = ml__fail(h, err, "seal case key");
    goto out_key;
  }
  sk.recipient = (ProtobufCBinaryData){32, h->box_pk};
  sk.sealed_key = (ProtobufCBinaryData){sizeof sealed_key, sealed_key};
  Mentorlog__V1__KeyGrantDisclosed kg = MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
  kg.n_keys = 1;
  kg.keys = &skp;
  mlproto_disclosed dk = MENTORLOG__V1__DISCLOSED__INIT;
  dk.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT;
  dk.key_grant = &kg;

  Mentorlog__V1__CaseSealed cs = MENTORLOG__V1__CASE_SEALED__INIT;
  cs.citizen_name = (char *)name;
  if (phone)
    cs.phone = (char *)phone;
  mlproto_sealed sl = MENTORLOG__V1__SEALED__INIT;
  sl.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_CASE_OPEN;
  sl.case_open = &cs;
  Mentorlog__V1__CaseOpenDisclosed cod = MENTORLOG__V1__CASE_OPEN_DISCLOSED__INIT;
  mlproto_disclosed dc = MENTORLOG__V1__DISCLOSED__INIT;
  dc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CASE_OPEN;
  dc.case_open = &cod;

  if ((err = ml__begin(h)))
    goto out_key;
  struct ml_write wk = {.kind = MLPROTO_KIND_KEY_GRANT, .case_id = case_id, .disclosed = &dk};
  struct ml_write wc = {.kind = MLPROTO_KIND_CASE_OPEN, .case_id = case_id, .disclosed = &dc,
                        .sealed = &sl, .case_key = ck};
  uint8_t open_id[16];
  /* CASE_OPEN first: the server assigns a case to a mentor by its first
   * record, which must be the CASE_OPEN (docs/wire-protocol.md §5). */
  if ((err = ml__casekey_store(h, case_id, ck, NULL)) || (err = ml__append(h, &wc, open_id)) ||
      (err = ml__append(h, &wk, NULL))) {
    ml__rollback(h);
    goto out_key;
  }
  /* The case is named by its id in the header, not by the CASE_OPEN record. */
  if ((err = ml__commit(h)))
    goto out_key;
  if (out_case)
    memcpy(out_case, case_id, 16);
out_key:
  sodium_memzero(sealed_key, sizeof sealed_key);
  mlproto_key_free(ck);
  return err;
}

int ml__case_erase_local(mentorlog *h, const uint8_t case_id[16], const uint8_t *keep) {
  static const uint8_t none[16];
  sqlite3_stmt *sel = NULL;
  int err;
  if ((err = ml__prepare(h, &sel, "SELECT rid, record_id, envelope FROM records WHERE case_id = ?"
                                  " AND record_id != ?")))
    return err;
  sqlite3_bind_blob(sel, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(sel, 2, keep ? keep : none, 16, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    uint8_t *env = NULL, *plain_erased = NULL;
    size_t len = 0;
    const uint8_t *plain;
    size_t plain_len;
    if ((err = ml__env_open(h, sqlite3_column_blob(sel, 1), sqlite3_column_bytes(sel, 1),
                            sqlite3_column_blob(sel, 2), sqlite3_column_bytes(sel, 2), &plain, &plain_len)))
      goto out;
    err = mlproto_envelope_erase(&plain_erased, &len, plain, plain_len,
                                 MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED);
    sodium_memzero(h->envbuf, plain_len);
    if (err) {
      err = ml__fail(h, err, "erase record: %s", mlproto_strerror(err));
      goto out;
    }
    /* what is left (header, signature) is sealed at rest like every row */
    err = ml__env_seal(h, sqlite3_column_blob(sel, 1), plain_erased, len, &env, &len);
    mlproto_free(plain_erased);
    if (err)
      goto out;
    sqlite3_stmt *up;
    if ((err = ml__prepare(h, &up, "UPDATE records SET envelope = ? WHERE rid = ?"))) {
      mlproto_free(env);
      goto out;
    }
    sqlite3_bind_blob(up, 1, env, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(up, 2, sqlite3_column_int64(sel, 0));
    err = step_done(h, up, "erase record");
    mlproto_free(env);
    if (err)
      goto out;
  }
  if (rc != SQLITE_DONE) {
    err = ml__sqlite_err(h, rc, "erase");
    goto out;
  }
  sqlite3_finalize(sel);
  sel = NULL;
  sqlite3_stmt *st;
  if ((err = ml__prepare(h, &st, "DELETE FROM case_keys WHERE case_id = ?")))
    goto out;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  if ((err = step_done(h, st, "destroy case key")))
    goto out;
  if ((err = ml__prepare(h, &st, "INSERT OR IGNORE INTO erased_cases VALUES (?, ?)")))
    goto out;
  sqlite3_bind_blob(st, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)h->hlc.last);
  err = step_done(h, st, "mark erased");
  if (!err)
    h->erased_pending = 1;
out:
  sqlite3_finalize(sel);
  return err;
}

void ml__erased_scrub(mentorlog *h) {
  /* secure_delete zeroed the freed cells in the new page images; the old
   * images still sit in the WAL until it is checkpointed and truncated. */
  if (h->batch || !h->erased_pending)
    return;
  h->erased_pending = 0;
  sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

int mentorlog_case_erase(mentorlog *h, const uint8_t case_id[16]) {
  int err = ml__case_check(h, case_id);
  if (err)
    return err;
  if ((err = ml__begin(h)))
    return err;
  struct ml_write w = {.kind = MLPROTO_KIND_CASE_ERASE, .case_id = case_id};
  uint8_t erase_id[16];
  if ((err = ml__append(h, &w, erase_id)) || (err = ml__case_erase_local(h, case_id, erase_id))) {
    ml__rollback(h);
    return err;
  }
  if ((err = ml__commit(h)))
    return err;
  ml__casekey_flush(h, case_id);
  ml__erased_scrub(h);
  return 0;
}

/* ---------------------------------------------------------- grants */

static void rule_to_proto(mlproto_rule *o, const mentorlog_rule *r) {
  o->period_weeks = r->period_weeks;
  o->contacts_needed = r->contacts;
  o->channels = r->channels & MLPROTO_CHANNELS_ALL; /* same numbering as the wire */
  o->min_minutes = r->min_minutes;
  o->min_working_days = r->partial_days;
  o->grace_days = r->grace_days;
  o->late_days = r->late_days;
}


static int grant_fill(mentorlog *h, const mentorlog_grant_params *p, Mentorlog__V1__GrantDisclosed *g,
                      Mentorlog__V1__ContactRule *r, int ch[8], size_t *nch) {
  if (!p || p->version != MENTORLOG_GRANT_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "grant parameters: wrong version");
  int err;
  if ((err = check_text(h, p->jobcentre, MENTORLOG_CODE_MAX, "jobcentre", true)) ||
      (err = check_text(h, p->reference, MENTORLOG_CODE_MAX, "reference", true)) ||
      (err = check_text(h, p->legal_basis, MENTORLOG_LEGAL_BASIS_MAX, "legal basis", false)) ||
      (err = check_text(h, p->purpose, MENTORLOG_PURPOSE_MAX, "purpose", false)))
    return err;
  mlproto_grant mg = {.start = p->start, .end = p->end, .closed = MLPROTO_DATE_NONE,
                      .granted_minutes_per_week = p->minutes_per_week};
  rule_to_proto(&mg.rule, &p->rule);
  if ((err = mlproto_grant_validate(&mg)))
    return ml__fail(h, err, "grant: %s", mlproto_strerror(err));
  *nch = 0;
  for (int c = 1; c <= 7; c++)
    if (p->rule.channels & (1u << c))
      ch[(*nch)++] = c;
  r->period_weeks = p->rule.period_weeks;
  r->contacts_needed = p->rule.contacts;
  r->n_qualifying_channels = *nch;
  r->qualifying_channels = (Mentorlog__V1__Channel *)ch;
  r->min_minutes = p->rule.min_minutes;
  r->partial_days = p->rule.partial_days;
  r->grace_days = p->rule.grace_days;
  r->late_days = p->rule.late_days;
  g->jobcentre_id = (char *)p->jobcentre;
  g->case_ref = (char *)p->reference;
  g->legal_basis = (char *)(p->legal_basis ? p->legal_basis : "unspecified");
  g->start_day = (uint32_t)p->start;
  g->end_day = (uint32_t)p->end;
  g->rule = r;
  g->granted_minutes_per_week = p->minutes_per_week;
  return 0;
}

static int grant_write(mentorlog *h, uint8_t out[16], const uint8_t case_id[16],
                       const struct ml_target *t, const mentorlog_grant_params *p) {
  Mentorlog__V1__GrantDisclosed g = MENTORLOG__V1__GRANT_DISCLOSED__INIT;
  Mentorlog__V1__ContactRule r = MENTORLOG__V1__CONTACT_RULE__INIT;
  int ch[8];
  size_t nch;
  int err = grant_fill(h, p, &g, &r, ch, &nch);
  if (err)
    return err;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  Mentorlog__V1__GrantSealed gs = MENTORLOG__V1__GRANT_SEALED__INIT;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  struct ml_write w = {.case_id = case_id, .disclosed = &d};
  if (t) {
    d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_UPDATE;
    d.grant_update = &g;
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_GRANT_UPDATE;
    s.grant_update = &gs;
    w.kind = MLPROTO_KIND_GRANT_UPDATE;
  } else {
    d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_OPEN;
    d.grant_open = &g;
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_GRANT_OPEN;
    s.grant_open = &gs;
    w.kind = MLPROTO_KIND_GRANT_OPEN;
  }
  if (p->purpose)
    gs.purpose = (char *)p->purpose;
  return write_one(h, &w, t, p->purpose ? &s : NULL, out);
}

int mentorlog_grant_open(mentorlog *h, uint8_t out_grant[16], const uint8_t case_id[16],
                         const mentorlog_grant_params *p) {
  int err = ml__case_check(h, case_id);
  return err ? err : grant_write(h, out_grant, case_id, NULL, p);
}

/* Whether a current head of t is a GRANT_CLOSE. */
static int grant_is_closed(mentorlog *h, const struct ml_target *t, bool *closed) {
  *closed = false;
  sqlite3_stmt *st;
  int err = ml__prepare(h, &st, "SELECT kind FROM records WHERE record_id = ?");
  for (size_t i = 0; !err && i < t->n && !*closed; i++) {
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, t->heads[i], 16, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
      *closed = sqlite3_column_int(st, 0) == MLPROTO_KIND_GRANT_CLOSE;
    else
      err = ml__sqlite_err(h, rc, "find grant");
  }
  sqlite3_finalize(st);
  return err;
}

int mentorlog_grant_update(mentorlog *h, uint8_t out[16], const uint8_t grant_id[16],
                           const mentorlog_grant_params *p) {
  struct ml_target t;
  bool closed;
  int err = ml__item_heads(h, grant_id, MLPROTO_KIND_GRANT_OPEN, MLPROTO_KIND_GRANT_CLOSE, &t);
  if (err || (err = grant_is_closed(h, &t, &closed)))
    return err;
  /* An update supersedes every head: it would silently drop the close. */
  if (closed)
    return ml__fail(h, MLPROTO_ERR_GRANT_CLOSED, "the grant is closed; open a new grant for a renewal");
  return grant_write(h, out, t.case_id, &t, p);
}

int mentorlog_grant_close(mentorlog *h, uint8_t out[16], const uint8_t grant_id[16],
                          mentorlog_date date, const char *reason) {
  struct ml_target t;
  int err = ml__item_heads(h, grant_id, MLPROTO_KIND_GRANT_OPEN, MLPROTO_KIND_GRANT_CLOSE, &t);
  if (err)
    return err;
  if ((err = check_text(h, reason, MENTORLOG_REASON_MAX, "reason", false)))
    return err;
  if (date < (mentorlog_date)MLPROTO_DAY_MIN || date > (mentorlog_date)MLPROTO_DAY_MAX)
    return ml__fail(h, MLPROTO_ERR_BAD_DATE, "close date out of range");
  Mentorlog__V1__GrantCloseDisclosed gc = MENTORLOG__V1__GRANT_CLOSE_DISCLOSED__INIT;
  gc.close_day = (uint32_t)date;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_CLOSE;
  d.grant_close = &gc;
  Mentorlog__V1__GrantCloseSealed gcs = MENTORLOG__V1__GRANT_CLOSE_SEALED__INIT;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  struct ml_write w = {.kind = MLPROTO_KIND_GRANT_CLOSE, .case_id = t.case_id, .disclosed = &d};
  /* The reason may name the citizen's circumstances: sealed, like a note. */
  bool sealed = reason && *reason;
  if (sealed) {
    gcs.reason = (char *)reason;
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_GRANT_CLOSE;
    s.grant_close = &gcs;
  }
  return write_one(h, &w, &t, sealed ? &s : NULL, out);
}

/* -------------------------------------------------- contacts, notes */

/* Disclosed contact values of one stored record (voiding repeats them). */
static int contact_disclosed(mentorlog *h, const uint8_t record_id[16], Mentorlog__V1__ContactDisclosed *out) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, ML_SQL_RECORD_BY_ID, &st);
  if (err)
    return err;
  sqlite3_bind_blob(st, 1, record_id, 16, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  mlproto_record *r = NULL;
  if (rc == SQLITE_ROW) {
    err = ml__row_record(h, st, 0, 1, 2, &r);
    if (!err && (!r->disclosed || !r->disclosed->contact))
      err = ml__fail(h, MLPROTO_ERR_CASE_ERASED, "the contact's data was erased");
    else if (!err) {
      const Mentorlog__V1__ContactDisclosed *c = r->disclosed->contact;
      out->start_ms = c->start_ms;
      out->duration_minutes = c->duration_minutes;
      out->channel = c->channel;
      out->outcome = c->outcome;
      out->transport_minutes = c->transport_minutes;
    }
  } else {
    err = rc == SQLITE_DONE ? ml__fail(h, MLPROTO_ERR_NOT_FOUND, "no such record") : ml__sqlite_err(h, rc, "read contact");
  }
  ml__stmt_put(st);
  mlproto_record_free(r);
  return err;
}


static int contact_write(mentorlog *h, uint8_t out[16], const uint8_t case_id[16],
                         const struct ml_target *t, const mentorlog_contact_params *p,
                         const char *void_reason) {
  Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  Mentorlog__V1__ContactSealed cs = MENTORLOG__V1__CONTACT_SEALED__INIT;
  int err;
  if (p) {
    if (p->version != MENTORLOG_CONTACT_VERSION)
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "contact parameters: wrong version");
    if (p->start_ms < (int64_t)MLPROTO_MS_MIN || p->start_ms > (int64_t)MLPROTO_MS_MAX)
      return ml__fail(h, MLPROTO_ERR_BAD_TIME, "contact start out of range (2000..2099)");
    if (p->minutes < 1 || p->minutes > 1440)
      return ml__fail(h, MLPROTO_ERR_OUT_OF_RANGE, "minutes must be 1..1440");
    if (p->transport_minutes > 1440)
      return ml__fail(h, MLPROTO_ERR_OUT_OF_RANGE, "transport minutes must be 0..1440");
    if (!mentorlog_channel_name(p->channel) || !mentorlog_outcome_name(p->outcome))
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "unknown channel or outcome");
    if ((err = check_text(h, p->note, MENTORLOG_CONTACT_NOTE_MAX, "note", false)))
      return err;
    cd.start_ms = (uint64_t)p->start_ms;
    cd.duration_minutes = p->minutes;
    cd.channel = (Mentorlog__V1__Channel)p->channel;
    cd.outcome = (Mentorlog__V1__Outcome)p->outcome;
    cd.transport_minutes = p->transport_minutes;
    if (p->note && *p->note)
      cs.note = (char *)p->note;
  } else {
    /* Voiding: repeat the current head's disclosed values, flagged voided. */
    if ((err = check_text(h, void_reason, MENTORLOG_VOID_REASON_MAX, "reason", true)) ||
        (err = contact_disclosed(h, t->heads[0], &cd)))
      return err;
    cd.voided = 1;
    cs.void_reason = (char *)void_reason;
  }
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
  d.contact = &cd;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_CONTACT;
  s.contact = &cs;
  struct ml_write w = {.kind = MLPROTO_KIND_CONTACT, .case_id = case_id, .disclosed = &d};
  return write_one(h, &w, t, cs.note || cs.void_reason ? &s : NULL, out);
}

int mentorlog_contact_add(mentorlog *h, uint8_t out[16], const uint8_t case_id[16],
                          const mentorlog_contact_params *p) {
  int err = ml__case_check(h, case_id);
  if (!err && !p)
    err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "no contact parameters");
  return err ? err : contact_write(h, out, case_id, NULL, p, NULL);
}

int mentorlog_contact_correct(mentorlog *h, uint8_t out[16], const uint8_t record_id[16],
                              const mentorlog_contact_params *p) {
  struct ml_target t;
  int err = ml__item_heads(h, record_id, MLPROTO_KIND_CONTACT, MLPROTO_KIND_CONTACT, &t);
  if (!err && !p)
    err = ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "no contact parameters");
  return err ? err : contact_write(h, out, t.case_id, &t, p, NULL);
}

int mentorlog_contact_void(mentorlog *h, uint8_t out[16], const uint8_t record_id[16],
                           const char *reason) {
  struct ml_target t;
  int err = ml__item_heads(h, record_id, MLPROTO_KIND_CONTACT, MLPROTO_KIND_CONTACT, &t);
  return err ? err : contact_write(h, out, t.case_id, &t, NULL, reason);
}

static int note_write(mentorlog *h, uint8_t out[16], const uint8_t case_id[16],
                      const struct ml_target *t, const char *text, size_t len) {
  if (!text || len == 0)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "the note is empty");
  if (len > MENTORLOG_TEXT_MAX)
    return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "the note is longer than %d bytes", MENTORLOG_TEXT_MAX);
  if (memchr(text, 0, len))
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "the note contains a NUL byte");
  /* protobuf-c wants a NUL-terminated string: copy, and wipe the copy. */
  char *copy = mlproto_malloc(len + 1);
  if (!copy)
    return ml__fail(h, MLPROTO_ERR_OUT_OF_MEMORY, "out of memory");
  memcpy(copy, text, len);
  copy[len] = 0;
  Mentorlog__V1__NoteDisclosed nd = MENTORLOG__V1__NOTE_DISCLOSED__INIT;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_NOTE;
  d.note = &nd;
  Mentorlog__V1__NoteSealed ns = MENTORLOG__V1__NOTE_SEALED__INIT;
  ns.text = copy;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_NOTE;
  s.note = &ns;
  struct ml_write w = {.kind = MLPROTO_KIND_NOTE, .case_id = case_id, .disclosed = &d};
  int err = write_one(h, &w, t, &s, out);
  sodium_memzero(copy, len);
  mlproto_free(copy);
  return err;
}

int mentorlog_note_add(mentorlog *h, uint8_t out[16], const uint8_t case_id[16], const char *text,
                       size_t len) {
  int err = ml__case_check(h, case_id);
  return err ? err : note_write(h, out, case_id, NULL, text, len);
}

int mentorlog_note_revise(mentorlog *h, uint8_t out[16], const uint8_t record_id[16],
                          const char *text, size_t len) {
  struct ml_target t;
  int err = ml__item_heads(h, record_id, MLPROTO_KIND_NOTE, MLPROTO_KIND_NOTE, &t);
  return err ? err : note_write(h, out, t.case_id, &t, text, len);
}

int mentorlog_absence_add(mentorlog *h, uint8_t out[16], const uint8_t case_id[16],
                          const mentorlog_absence_params *p) {
  int err = ml__case_check(h, case_id);
  if (err)
    return err;
  if (!p || p->version != MENTORLOG_ABSENCE_VERSION)
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "absence parameters: wrong version");
  if (!mentorlog_absence_kind_name(p->kind))
    return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT, "unknown absence kind");
  if (p->from < (mentorlog_date)MLPROTO_DAY_MIN || p->to > (mentorlog_date)MLPROTO_DAY_MAX)
    return ml__fail(h, MLPROTO_ERR_BAD_DATE, "absence dates out of range (2000..2099)");
  if (p->to < p->from || p->to - p->from > 366)
    return ml__fail(h, MLPROTO_ERR_BAD_PERIOD, "absence must end on or after its start, within 366 days");
  if ((err = check_text(h, p->approved_ref, MENTORLOG_CODE_MAX, "approval reference", false)) ||
      (err = check_text(h, p->reason, MENTORLOG_REASON_MAX, "reason", false)))
    return err;
  Mentorlog__V1__AbsenceDisclosed ad = MENTORLOG__V1__ABSENCE_DISCLOSED__INIT;
  ad.from_day = (uint32_t)p->from;
  ad.to_day = (uint32_t)p->to;
  ad.kind = (Mentorlog__V1__AbsenceKind)p->kind;
  ad.approved = p->approved_ref && *p->approved_ref;
  if (ad.approved)
    ad.approval_ref = (char *)p->approved_ref;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_ABSENCE;
  d.absence = &ad;
  Mentorlog__V1__AbsenceSealed as = MENTORLOG__V1__ABSENCE_SEALED__INIT;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_ABSENCE;
  s.absence = &as;
  struct ml_write w = {.kind = MLPROTO_KIND_ABSENCE, .case_id = case_id, .disclosed = &d};
  bool sealed = p->reason && *p->reason;
  if (sealed)
    as.reason = (char *)p->reason;
  return write_one(h, &w, NULL, sealed ? &s : NULL, out);
}
