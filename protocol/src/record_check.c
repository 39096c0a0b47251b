/* Field-level rules of every payload and sync message (mentorlog.proto is
 * the reference for each cap and range). Shared by build and verify, so that
 * whatever we build, we would also accept. */
#include "record_int.h"

#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"

#include <string.h>

#define CODE_MAX 64
#define LABEL_MAX 64
#define MAX_GRANT_DAYS 184 /* six months, inclusive span minus one */
#define MAX_ABSENCE_DAYS 366
#define MAX_KEY_GRANTS 32

#define TRY(x)                                                                                     \
  do {                                                                                             \
    int rc_ = (x);                                                                                 \
    if (rc_)                                                                                       \
      return rc_;                                                                                  \
  } while (0)

static int check_day(uint32_t d) {
  return d >= MLPROTO_DAY_MIN && d <= MLPROTO_DAY_MAX ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
}

static int check_span(uint32_t from, uint32_t to, uint32_t max_days) {
  TRY(check_day(from));
  TRY(check_day(to));
  return to >= from && to - from <= max_days ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
}

static int in_range(uint64_t v, uint64_t lo, uint64_t hi) {
  return v >= lo && v <= hi ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
}

static int check_channel(int c) { return in_range((uint64_t)(int64_t)c, 1, 7); }

static int check_rule(const Mentorlog__V1__ContactRule *r) {
  if (!r)
    return MLPROTO_ERR_FIELD_MISSING;
  TRY(in_range(r->period_weeks, 1, 2));
  TRY(in_range(r->contacts_needed, 1, 14));
  if (r->n_qualifying_channels == 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (r->n_qualifying_channels > 7)
    return MLPROTO_ERR_FIELD_SIZE;
  unsigned seen = 0;
  for (size_t i = 0; i < r->n_qualifying_channels; i++) {
    int c = (int)r->qualifying_channels[i];
    TRY(check_channel(c));
    if (seen & (1u << c))
      return MLPROTO_ERR_FIELD_RANGE;
    seen |= 1u << c;
  }
  TRY(in_range(r->min_minutes, 0, 1440));
  TRY(in_range(r->partial_days, 0, 10));
  TRY(in_range(r->grace_days, 0, 90));
  TRY(in_range(r->late_days, 0, 90));
  return MLPROTO_OK;
}

static int check_grant(const Mentorlog__V1__GrantDisclosed *g) {
  if (!g)
    return MLPROTO_ERR_FIELD_MISSING;
  TRY(mlproto__check_code(g->jobcentre_id, 1, CODE_MAX, false));
  TRY(mlproto__check_code(g->case_ref, 1, CODE_MAX, true));
  TRY(mlproto__check_label(g->legal_basis, 1, LABEL_MAX));
  TRY(check_span(g->start_day, g->end_day, MAX_GRANT_DAYS));
  TRY(check_rule(g->rule));
  return in_range(g->granted_minutes_per_week, 0, 7 * 1440);
}

static int check_contact(const Mentorlog__V1__ContactDisclosed *c) {
  if (!c)
    return MLPROTO_ERR_FIELD_MISSING;
  TRY(in_range(c->start_ms, MLPROTO_MS_MIN, MLPROTO_MS_MAX));
  TRY(in_range(c->duration_minutes, 1, 1440));
  TRY(check_channel((int)c->channel));
  TRY(in_range((uint64_t)(int64_t)c->outcome, 1, 5));
  return in_range(c->transport_minutes, 0, 1440);
}

static int check_absence(const Mentorlog__V1__AbsenceDisclosed *a) {
  if (!a)
    return MLPROTO_ERR_FIELD_MISSING;
  TRY(check_span(a->from_day, a->to_day, MAX_ABSENCE_DAYS));
  TRY(in_range((uint64_t)(int64_t)a->kind, 1, 6));
  TRY(mlproto__check_code(a->approval_ref, 0, CODE_MAX, true));
  if (!a->approved && a->approval_ref[0])
    return MLPROTO_ERR_FIELD_RANGE;
  return MLPROTO_OK;
}

static int check_key_grant(const Mentorlog__V1__KeyGrantDisclosed *k) {
  if (!k)
    return MLPROTO_ERR_FIELD_MISSING;
  if (k->n_keys == 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (k->n_keys > MAX_KEY_GRANTS)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < k->n_keys; i++) {
    const Mentorlog__V1__SealedKey *s = k->keys[i];
    if (!s)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_bytes(&s->recipient, MLPROTO_BOX_PUBLICKEYBYTES));
    TRY(mlproto__check_bytes(&s->sealed_key, MLPROTO_CASE_KEY_SEALEDBYTES));
    for (size_t j = 0; j < i; j++)
      if (memcmp(k->keys[j]->recipient.data, s->recipient.data, MLPROTO_BOX_PUBLICKEYBYTES) == 0)
        return MLPROTO_ERR_FIELD_RANGE;
  }
  return MLPROTO_OK;
}

int mlproto__check_disclosed(const mlproto_disclosed *d, uint32_t kind) {
  if (d->payload_case == MENTORLOG__V1__DISCLOSED__PAYLOAD__NOT_SET ||
      (uint32_t)d->payload_case != kind)
    return MLPROTO_ERR_PAYLOAD_KIND_MISMATCH;
  switch (d->payload_case) {
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_CASE_OPEN:
    return d->case_open ? MLPROTO_OK : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_NOTE:
    return d->note ? MLPROTO_OK : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_CASE_ERASE:
    return d->case_erase ? MLPROTO_OK : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_OPEN:
    return check_grant(d->grant_open);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_UPDATE:
    return check_grant(d->grant_update);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_CLOSE:
    return d->grant_close ? check_day(d->grant_close->close_day) : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT:
    return check_contact(d->contact);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_ABSENCE:
    return check_absence(d->absence);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT:
    return check_key_grant(d->key_grant);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_ENROLLED: {
    const Mentorlog__V1__DeviceEnrolled *e = d->device_enrolled;
    if (!e)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_bytes(&e->device_pub, MLPROTO_SIGN_PUBLICKEYBYTES));
    TRY(mlproto__check_bytes(&e->box_pub, MLPROTO_BOX_PUBLICKEYBYTES));
    TRY(mlproto__check_bytes(&e->mentor_id, MLPROTO_ID_BYTES));
    return mlproto__check_label(e->label, 0, LABEL_MAX);
  }
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_REVOKED:
    if (!d->device_revoked)
      return MLPROTO_ERR_FIELD_MISSING;
    return mlproto__check_bytes(&d->device_revoked->device_pub, MLPROTO_SIGN_PUBLICKEYBYTES);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_ESCROW_KEY:
    if (!d->escrow_key)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_bytes(&d->escrow_key->box_pub, MLPROTO_BOX_PUBLICKEYBYTES));
    return mlproto__check_bytes(&d->escrow_key->sign_pub, MLPROTO_SIGN_PUBLICKEYBYTES);
  case MENTORLOG__V1__DISCLOSED__PAYLOAD_RETENTION_PURGE:
    if (!d->retention_purge)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_bytes(&d->retention_purge->case_id, MLPROTO_ID_BYTES));
    return mlproto__all_zero(d->retention_purge->case_id.data, MLPROTO_ID_BYTES)
               ? MLPROTO_ERR_FIELD_RANGE
               : MLPROTO_OK;
  default:
    return MLPROTO_ERR_PAYLOAD_KIND_MISMATCH;
  }
}

int mlproto__check_sealed(const mlproto_sealed *s, uint32_t kind) {
  if (s->payload_case == MENTORLOG__V1__SEALED__PAYLOAD__NOT_SET ||
      (uint32_t)s->payload_case != kind)
    return MLPROTO_ERR_PAYLOAD_KIND_MISMATCH;
  switch (s->payload_case) {
  case MENTORLOG__V1__SEALED__PAYLOAD_CASE_OPEN:
    if (!s->case_open)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_text(s->case_open->citizen_name, 200));
    TRY(mlproto__check_text(s->case_open->phone, 32));
    return mlproto__check_text(s->case_open->address, 400);
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_OPEN:
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_UPDATE: {
    const Mentorlog__V1__GrantSealed *g =
        s->payload_case == MENTORLOG__V1__SEALED__PAYLOAD_GRANT_OPEN ? s->grant_open
                                                                     : s->grant_update;
    return g ? mlproto__check_text(g->purpose, 4096) : MLPROTO_ERR_FIELD_MISSING;
  }
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_CLOSE:
    return s->grant_close ? mlproto__check_text(s->grant_close->reason, 4096)
                          : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__SEALED__PAYLOAD_CONTACT: {
    const Mentorlog__V1__ContactSealed *c = s->contact;
    if (!c)
      return MLPROTO_ERR_FIELD_MISSING;
    TRY(mlproto__check_text(c->note, 32768));
    if (c->n_topics > 32)
      return MLPROTO_ERR_FIELD_SIZE;
    for (size_t i = 0; i < c->n_topics; i++)
      TRY(mlproto__check_label(c->topics[i], 1, LABEL_MAX));
    TRY(mlproto__check_text(c->next_steps, 4096));
    return mlproto__check_text(c->void_reason, 1024);
  }
  case MENTORLOG__V1__SEALED__PAYLOAD_NOTE:
    return s->note ? mlproto__check_text(s->note->text, 60000) : MLPROTO_ERR_FIELD_MISSING;
  case MENTORLOG__V1__SEALED__PAYLOAD_ABSENCE:
    return s->absence ? mlproto__check_text(s->absence->reason, 4096) : MLPROTO_ERR_FIELD_MISSING;
  default:
    return MLPROTO_ERR_PAYLOAD_KIND_MISMATCH;
  }
}

/* ------------------------------------------------------------ sync messages */

static int check_sth(const Mentorlog__V1__SignedTreeHead *s) {
  if (!s)
    return MLPROTO_ERR_FIELD_MISSING;
  TRY(mlproto__check_bytes(&s->root, MLPROTO_HASH_BYTES));
  return mlproto__check_bytes(&s->signature, MLPROTO_SIGN_BYTES);
}

static int check_hashes(size_t n, const ProtobufCBinaryData *h) {
  if (n > MLPROTO_PROOF_MAX_HASHES)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < n; i++)
    TRY(mlproto__check_bytes(&h[i], MLPROTO_HASH_BYTES));
  return MLPROTO_OK;
}

static int check_envelope_bytes(const ProtobufCBinaryData *b) {
  if (b->len == 0)
    return MLPROTO_ERR_FIELD_MISSING;
  return b->len > MLPROTO_ENVELOPE_MAX ? MLPROTO_ERR_TOO_LARGE : MLPROTO_OK;
}

static int check_status(const char *s) {
  TRY(mlproto__check_code(s, 1, CODE_MAX, false));
  if (strcmp(s, "OK") == 0)
    return MLPROTO_OK;
  /* Only names of the table: unknown ones come from a newer peer or a bug. */
  int code = mlproto_errcode(s);
  if (code == MLPROTO_ERR_INTERNAL && strcmp(s, "INTERNAL") != 0)
    return MLPROTO_ERR_FIELD_RANGE;
  return MLPROTO_OK;
}

static int check_token(const char *t) {
  size_t n = strnlen(t, 129);
  if (n == 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (n < 16 || n > 128)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < n; i++) {
    char c = t[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '-'))
      return MLPROTO_ERR_FIELD_RANGE;
  }
  return MLPROTO_OK;
}

static int check_error_code(const char *c) {
  size_t n = strnlen(c, CODE_MAX + 1);
  if (n == 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (n > CODE_MAX)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < n; i++)
    if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9') || c[i] == '_'))
      return MLPROTO_ERR_FIELD_RANGE;
  return MLPROTO_OK;
}

/* The LogItems of a pull or audit answer: at most 1024, ascending. */
static int check_items(size_t n, Mentorlog__V1__LogItem *const *items) {
  if (n > MLPROTO_PULL_MAX_ITEMS)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < n; i++) {
    const Mentorlog__V1__LogItem *it = items[i];
    if (i > 0 && it->log_index <= items[i - 1]->log_index)
      return MLPROTO_ERR_FIELD_RANGE;
    TRY(in_range(it->entry_type, 0, 255));
    TRY(check_envelope_bytes(&it->envelope));
  }
  return MLPROTO_OK;
}

static int check_msg(const ProtobufCMessage *m, mlproto_msg_type type) {
  switch (type) {
  case MLPROTO_MSG_ENROLL_REQUEST: {
    const Mentorlog__V1__EnrollRequest *r = (const void *)m;
    TRY(mlproto__check_code(r->code, 1, CODE_MAX, false));
    TRY(mlproto__check_bytes(&r->device_pub, MLPROTO_SIGN_PUBLICKEYBYTES));
    TRY(mlproto__check_bytes(&r->box_pub, MLPROTO_BOX_PUBLICKEYBYTES));
    TRY(mlproto__check_label(r->label, 0, LABEL_MAX));
    return mlproto__check_bytes(&r->signature, MLPROTO_SIGN_BYTES);
  }
  case MLPROTO_MSG_ENROLL_RESPONSE: {
    const Mentorlog__V1__EnrollResponse *r = (const void *)m;
    TRY(mlproto__check_bytes(&r->device_id, MLPROTO_ID_BYTES));
    TRY(mlproto__check_bytes(&r->mentor_id, MLPROTO_ID_BYTES));
    TRY(mlproto__check_bytes(&r->server_pub, MLPROTO_SIGN_PUBLICKEYBYTES));
    if (r->escrow_pub.len != 0)
      TRY(mlproto__check_bytes(&r->escrow_pub, MLPROTO_BOX_PUBLICKEYBYTES));
    return check_sth(r->sth);
  }
  case MLPROTO_MSG_CHALLENGE_RESPONSE: {
    const Mentorlog__V1__ChallengeResponse *r = (const void *)m;
    return mlproto__check_bytes(&r->challenge, 32);
  }
  case MLPROTO_MSG_SESSION_REQUEST: {
    const Mentorlog__V1__SessionRequest *r = (const void *)m;
    TRY(mlproto__check_bytes(&r->device_pub, MLPROTO_SIGN_PUBLICKEYBYTES));
    TRY(mlproto__check_bytes(&r->challenge, 32));
    return mlproto__check_bytes(&r->signature, MLPROTO_SIGN_BYTES);
  }
  case MLPROTO_MSG_SESSION_RESPONSE: {
    const Mentorlog__V1__SessionResponse *r = (const void *)m;
    return check_token(r->token);
  }
  case MLPROTO_MSG_PUSH_REQUEST: {
    const Mentorlog__V1__PushRequest *r = (const void *)m;
    if (r->n_records == 0)
      return MLPROTO_ERR_FIELD_MISSING;
    if (r->n_records > MLPROTO_PUSH_MAX_RECORDS)
      return MLPROTO_ERR_BATCH_TOO_LARGE;
    for (size_t i = 0; i < r->n_records; i++)
      TRY(check_envelope_bytes(&r->records[i]));
    return MLPROTO_OK;
  }
  case MLPROTO_MSG_PUSH_RESPONSE: {
    const Mentorlog__V1__PushResponse *r = (const void *)m;
    if (r->n_results > MLPROTO_PUSH_MAX_RECORDS)
      return MLPROTO_ERR_FIELD_SIZE;
    for (size_t i = 0; i < r->n_results; i++) {
      TRY(mlproto__check_bytes(&r->results[i]->record_id, MLPROTO_ID_BYTES));
      TRY(check_status(r->results[i]->status));
    }
    return check_sth(r->sth);
  }
  case MLPROTO_MSG_PULL_RESPONSE: {
    const Mentorlog__V1__PullResponse *r = (const void *)m;
    TRY(check_items(r->n_items, r->items));
    return check_sth(r->sth);
  }
  case MLPROTO_MSG_AUDIT_LOG_RESPONSE: {
    const Mentorlog__V1__AuditLogResponse *r = (const void *)m;
    TRY(check_items(r->n_items, r->items));
    for (size_t i = 0; i < r->n_items; i++)
      if (r->items[i]->log_index >= r->tree_size)
        return MLPROTO_ERR_FIELD_RANGE;
    if (r->tree_size > MLPROTO_MERKLE_MAX_SIZE)
      return MLPROTO_ERR_FIELD_RANGE;
    if (r->checkpoint.len == 0)
      return MLPROTO_ERR_FIELD_MISSING;
    if (r->checkpoint.len > MLPROTO_CHECKPOINT_NOTE_MAX)
      return MLPROTO_ERR_FIELD_SIZE;
    mlproto_note_verifier v;
    if (!r->log_key || !*r->log_key)
      return MLPROTO_ERR_FIELD_MISSING;
    return mlproto_note_vkey_parse(&v, r->log_key, strlen(r->log_key)) ? MLPROTO_ERR_FIELD_RANGE
                                                                         : MLPROTO_OK;
  }
  case MLPROTO_MSG_SIGNED_TREE_HEAD:
    return check_sth((const void *)m);
  case MLPROTO_MSG_INCLUSION_PROOF: {
    const Mentorlog__V1__InclusionProof *p = (const void *)m;
    if (p->leaf_index >= p->tree_size)
      return MLPROTO_ERR_FIELD_RANGE;
    return check_hashes(p->n_hashes, p->hashes);
  }
  case MLPROTO_MSG_CONSISTENCY_PROOF: {
    const Mentorlog__V1__ConsistencyProof *p = (const void *)m;
    if (p->first > p->second)
      return MLPROTO_ERR_FIELD_RANGE;
    return check_hashes(p->n_hashes, p->hashes);
  }
  case MLPROTO_MSG_ERROR: {
    const Mentorlog__V1__Error *e = (const void *)m;
    TRY(check_error_code(e->code));
    return mlproto__check_label(e->message, 0, 512);
  }
  default:
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
}

static const struct {
  const ProtobufCMessageDescriptor *d;
  size_t cap;
} msg_types[MLPROTO_MSG__COUNT] = {
    [MLPROTO_MSG_ENROLL_REQUEST] = {&mentorlog__v1__enroll_request__descriptor,
                                    MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_ENROLL_RESPONSE] = {&mentorlog__v1__enroll_response__descriptor,
                                     MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_CHALLENGE_RESPONSE] = {&mentorlog__v1__challenge_response__descriptor,
                                        MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_SESSION_REQUEST] = {&mentorlog__v1__session_request__descriptor,
                                     MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_SESSION_RESPONSE] = {&mentorlog__v1__session_response__descriptor,
                                      MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_PUSH_REQUEST] = {&mentorlog__v1__push_request__descriptor,
                                  MLPROTO_PUSH_MAX_BYTES},
    [MLPROTO_MSG_PUSH_RESPONSE] = {&mentorlog__v1__push_response__descriptor,
                                   64u * 1024u},
    [MLPROTO_MSG_PULL_RESPONSE] = {&mentorlog__v1__pull_response__descriptor,
                                   MLPROTO_PULL_MAX_BYTES},
    [MLPROTO_MSG_SIGNED_TREE_HEAD] = {&mentorlog__v1__signed_tree_head__descriptor,
                                      MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_INCLUSION_PROOF] = {&mentorlog__v1__inclusion_proof__descriptor,
                                     MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_CONSISTENCY_PROOF] = {&mentorlog__v1__consistency_proof__descriptor,
                                       MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_ERROR] = {&mentorlog__v1__error__descriptor, MLPROTO_SMALL_MSG_MAX},
    [MLPROTO_MSG_AUDIT_LOG_RESPONSE] = {&mentorlog__v1__audit_log_response__descriptor,
                                        MLPROTO_PULL_MAX_BYTES},
};

int mlproto_msg_unpack(ProtobufCMessage **out, mlproto_msg_type type, const uint8_t *buf,
                       size_t len) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if ((int)type <= 0 || type >= MLPROTO_MSG__COUNT || (!buf && len))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len > msg_types[type].cap)
    return MLPROTO_ERR_TOO_LARGE;
  ProtobufCMessage *m;
  TRY(mlproto__unpack(&m, msg_types[type].d, buf, len, false));
  int rc = check_msg(m, type);
  if (rc) {
    mlproto_msg_free(m);
    return rc;
  }
  *out = m;
  return MLPROTO_OK;
}
