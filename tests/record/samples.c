#include "samples.h"

#include "mlproto/errors.h"

#include <string.h>

const mlproto_kind sample_kinds[] = {
    MLPROTO_KIND_CASE_OPEN,       MLPROTO_KIND_GRANT_OPEN,     MLPROTO_KIND_GRANT_UPDATE,
    MLPROTO_KIND_GRANT_CLOSE,     MLPROTO_KIND_CONTACT,        MLPROTO_KIND_NOTE,
    MLPROTO_KIND_ABSENCE,         MLPROTO_KIND_KEY_GRANT,      MLPROTO_KIND_CASE_ERASE,
    MLPROTO_KIND_DEVICE_ENROLLED, MLPROTO_KIND_DEVICE_REVOKED, MLPROTO_KIND_ESCROW_KEY,
    MLPROTO_KIND_RETENTION_PURGE,
};
const size_t n_sample_kinds = sizeof sample_kinds / sizeof sample_kinds[0];

int fixture_init(fixture *f) {
  memset(f, 0, sizeof *f);
  if (mlproto_crypto_init() != MLPROTO_OK)
    return -1;
  if (mlproto_key_generate(&f->author, MLPROTO_KEY_SIGN) ||
      mlproto_key_generate(&f->server, MLPROTO_KEY_SIGN) ||
      mlproto_key_generate(&f->case_key, MLPROTO_KEY_CASE) ||
      mlproto_key_generate(&f->case_key2, MLPROTO_KEY_CASE) ||
      mlproto_key_generate(&f->box, MLPROTO_KEY_BOX))
    return -1;
  mlproto_random_id(f->case_id);
  mlproto_random_id(f->case_id2);
  return 0;
}

void fixture_free(fixture *f) {
  mlproto_key_free(f->author);
  mlproto_key_free(f->server);
  mlproto_key_free(f->case_key);
  mlproto_key_free(f->case_key2);
  mlproto_key_free(f->box);
  memset(f, 0, sizeof *f);
}

fixture sample_fixture;

int sample_group_setup(void **state) {
  (void)state;
  return fixture_init(&sample_fixture);
}

int sample_group_teardown(void **state) {
  (void)state;
  fixture_free(&sample_fixture);
  return 0;
}

/* 2026-03-02 = day 20514 */
#define DAY0 20514u

void sample_payloads_init(sample_payloads *p, const fixture *f, mlproto_kind kind) {
  memset(p, 0, sizeof *p);
  p->d = (mlproto_disclosed)MENTORLOG__V1__DISCLOSED__INIT;
  p->s = (mlproto_sealed)MENTORLOG__V1__SEALED__INIT;
  p->d.payload_case = (Mentorlog__V1__Disclosed__PayloadCase)kind;
  p->s.payload_case = (Mentorlog__V1__Sealed__PayloadCase)kind;
  p->has_sealed = mlproto_kind_has_sealed(kind);
  switch (kind) {
  case MLPROTO_KIND_CASE_OPEN:
    p->case_open = (Mentorlog__V1__CaseOpenDisclosed)MENTORLOG__V1__CASE_OPEN_DISCLOSED__INIT;
    p->d.case_open = &p->case_open;
    p->case_sealed = (Mentorlog__V1__CaseSealed)MENTORLOG__V1__CASE_SEALED__INIT;
    p->case_sealed.citizen_name = (char *)"Jens Jensen";
    p->case_sealed.phone = (char *)"+45 12 34 56 78";
    p->case_sealed.address = (char *)"Nørrebrogade 1, 2200 København N";
    p->s.case_open = &p->case_sealed;
    break;
  case MLPROTO_KIND_GRANT_OPEN:
  case MLPROTO_KIND_GRANT_UPDATE:
    p->rule = (Mentorlog__V1__ContactRule)MENTORLOG__V1__CONTACT_RULE__INIT;
    p->rule.period_weeks = 1;
    p->rule.contacts_needed = 1;
    p->channels[0] = MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON;
    p->channels[1] = MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT;
    p->channels[2] = MENTORLOG__V1__CHANNEL__CHANNEL_PHONE;
    p->rule.n_qualifying_channels = 3;
    p->rule.qualifying_channels = p->channels;
    p->rule.min_minutes = 0;
    p->rule.partial_days = 3;
    p->rule.grace_days = 7;
    p->rule.late_days = 7;
    p->grant = (Mentorlog__V1__GrantDisclosed)MENTORLOG__V1__GRANT_DISCLOSED__INIT;
    p->grant.jobcentre_id = (char *)"kk-101";
    p->grant.case_ref = (char *)"JC/2026:4711";
    p->grant.legal_basis = (char *)"LAB §§ 78-81";
    p->grant.start_day = DAY0;
    p->grant.end_day = DAY0 + 181;
    p->grant.rule = &p->rule;
    p->grant.granted_minutes_per_week = 120;
    p->grant_sealed = (Mentorlog__V1__GrantSealed)MENTORLOG__V1__GRANT_SEALED__INIT;
    p->grant_sealed.purpose = (char *)"Struktur i hverdagen, kontakt til læge.";
    if (kind == MLPROTO_KIND_GRANT_OPEN) {
      p->d.grant_open = &p->grant;
      p->s.grant_open = &p->grant_sealed;
    } else {
      p->d.grant_update = &p->grant;
      p->s.grant_update = &p->grant_sealed;
    }
    break;
  case MLPROTO_KIND_GRANT_CLOSE:
    p->grant_close = (Mentorlog__V1__GrantCloseDisclosed)MENTORLOG__V1__GRANT_CLOSE_DISCLOSED__INIT;
    p->grant_close.close_day = DAY0 + 90;
    p->d.grant_close = &p->grant_close;
    p->grant_close_sealed =
        (Mentorlog__V1__GrantCloseSealed)MENTORLOG__V1__GRANT_CLOSE_SEALED__INIT;
    p->grant_close_sealed.reason = (char *)"Borgeren er startet i job.";
    p->s.grant_close = &p->grant_close_sealed;
    break;
  case MLPROTO_KIND_CONTACT:
    p->contact = (Mentorlog__V1__ContactDisclosed)MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
    p->contact.start_ms = (uint64_t)(DAY0 + 3) * 86400000u + 9 * 3600000u;
    p->contact.duration_minutes = 60;
    p->contact.channel = MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT;
    p->contact.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
    p->contact.transport_minutes = 20;
    p->d.contact = &p->contact;
    p->contact_sealed = (Mentorlog__V1__ContactSealed)MENTORLOG__V1__CONTACT_SEALED__INIT;
    p->contact_sealed.note = (char *)"Talked about the appointment with the doctor on Friday.";
    p->topics[0] = (char *)"health";
    p->topics[1] = (char *)"economy";
    p->contact_sealed.n_topics = 2;
    p->contact_sealed.topics = p->topics;
    p->contact_sealed.next_steps = (char *)"Call on Monday.";
    p->s.contact = &p->contact_sealed;
    break;
  case MLPROTO_KIND_NOTE:
    p->note = (Mentorlog__V1__NoteDisclosed)MENTORLOG__V1__NOTE_DISCLOSED__INIT;
    p->d.note = &p->note;
    p->note_sealed = (Mentorlog__V1__NoteSealed)MENTORLOG__V1__NOTE_SEALED__INIT;
    p->note_sealed.text = (char *)"Prefers morning visits.";
    p->s.note = &p->note_sealed;
    break;
  case MLPROTO_KIND_ABSENCE:
    p->absence = (Mentorlog__V1__AbsenceDisclosed)MENTORLOG__V1__ABSENCE_DISCLOSED__INIT;
    p->absence.from_day = DAY0 + 14;
    p->absence.to_day = DAY0 + 20;
    p->absence.kind = MENTORLOG__V1__ABSENCE_KIND__ABSENCE_HOSPITALISED;
    p->absence.approved = 1;
    p->absence.approval_ref = (char *)"JC-2026-17";
    p->d.absence = &p->absence;
    p->absence_sealed = (Mentorlog__V1__AbsenceSealed)MENTORLOG__V1__ABSENCE_SEALED__INIT;
    p->absence_sealed.reason = (char *)"Admitted to hospital.";
    p->s.absence = &p->absence_sealed;
    break;
  case MLPROTO_KIND_KEY_GRANT: {
    p->key_grant = (Mentorlog__V1__KeyGrantDisclosed)MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
    p->sealed_key = (Mentorlog__V1__SealedKey)MENTORLOG__V1__SEALED_KEY__INIT;
    if (mlproto_key_public(p->recipient, f->box) != MLPROTO_OK ||
        mlproto_case_key_seal(p->sealed_key_bytes, f->case_key, p->recipient) != MLPROTO_OK)
      memset(p->recipient, 0, sizeof p->recipient); /* makes the build fail loudly */
    p->sealed_key.recipient = (ProtobufCBinaryData){32, p->recipient};
    p->sealed_key.sealed_key =
        (ProtobufCBinaryData){MLPROTO_CASE_KEY_SEALEDBYTES, p->sealed_key_bytes};
    p->sealed_keys[0] = &p->sealed_key;
    p->key_grant.n_keys = 1;
    p->key_grant.keys = p->sealed_keys;
    p->d.key_grant = &p->key_grant;
    break;
  }
  case MLPROTO_KIND_CASE_ERASE:
    p->case_erase = (Mentorlog__V1__CaseEraseDisclosed)MENTORLOG__V1__CASE_ERASE_DISCLOSED__INIT;
    p->d.case_erase = &p->case_erase;
    break;
  case MLPROTO_KIND_DEVICE_ENROLLED:
    memset(p->pub, 0x11, 32);
    memset(p->pub2, 0x22, 32);
    memset(p->id16, 0x33, 16);
    p->enrolled = (Mentorlog__V1__DeviceEnrolled)MENTORLOG__V1__DEVICE_ENROLLED__INIT;
    p->enrolled.device_pub = (ProtobufCBinaryData){32, p->pub};
    p->enrolled.box_pub = (ProtobufCBinaryData){32, p->pub2};
    p->enrolled.mentor_id = (ProtobufCBinaryData){16, p->id16};
    p->enrolled.label = (char *)"Annes telefon";
    p->d.device_enrolled = &p->enrolled;
    break;
  case MLPROTO_KIND_DEVICE_REVOKED:
    memset(p->pub, 0x44, 32);
    p->revoked = (Mentorlog__V1__DeviceRevoked)MENTORLOG__V1__DEVICE_REVOKED__INIT;
    p->revoked.device_pub = (ProtobufCBinaryData){32, p->pub};
    p->d.device_revoked = &p->revoked;
    break;
  case MLPROTO_KIND_ESCROW_KEY:
    memset(p->pub, 0x55, 32);
    p->escrow = (Mentorlog__V1__EscrowKey)MENTORLOG__V1__ESCROW_KEY__INIT;
    p->escrow.box_pub = (ProtobufCBinaryData){32, p->pub};
    p->escrow.sign_pub = (ProtobufCBinaryData){32, p->pub};
    p->d.escrow_key = &p->escrow;
    break;
  case MLPROTO_KIND_RETENTION_PURGE:
    memcpy(p->id16, f->case_id, 16);
    p->purge = (Mentorlog__V1__RetentionPurge)MENTORLOG__V1__RETENTION_PURGE__INIT;
    p->purge.case_id = (ProtobufCBinaryData){16, p->id16};
    p->d.retention_purge = &p->purge;
    break;
  }
}

int sample_build(uint8_t **env, size_t *len, uint8_t hash[MLPROTO_HASH_BYTES], const fixture *f,
                 mlproto_kind kind, uint64_t seq, const uint8_t prev[MLPROTO_HASH_BYTES],
                 const uint8_t case_id[MLPROTO_ID_BYTES], const mlproto_key *case_key) {
  sample_payloads p;
  sample_payloads_init(&p, f, kind);
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  if (mlproto_kind_is_server_event(kind))
    memset(rp.case_id, 0, sizeof rp.case_id);
  else
    memcpy(rp.case_id, case_id ? case_id : f->case_id, 16);
  rp.seq = seq;
  if (prev)
    memcpy(rp.prev, prev, 32);
  rp.hlc = ((uint64_t)(DAY0 + 3) * 86400000u + 10 * 3600000u) << 16 | 1;
  rp.kind = kind;
  return mlproto_record_build(env, len, hash, &rp, &p.d, p.has_sealed ? &p.s : NULL,
                              case_key ? case_key : f->case_key,
                              mlproto_kind_is_server_event(kind) ? f->server : f->author);
}

#include <stdlib.h>

int sample_resign(uint8_t **out, size_t *out_len, const uint8_t *env, size_t len,
                  const mlproto_key *signer, header_mutator mut, void *ud,
                  const ProtobufCBinaryData *disclosed, const ProtobufCBinaryData *sealed,
                  uint32_t erased) {
  Mentorlog__V1__Envelope *e = mentorlog__v1__envelope__unpack(NULL, len, env);
  if (!e)
    return MLPROTO_ERR_MALFORMED;
  Mentorlog__V1__RecordHeader *h =
      mentorlog__v1__record_header__unpack(NULL, e->header.len, e->header.data);
  if (!h) {
    mentorlog__v1__envelope__free_unpacked(e, NULL);
    return MLPROTO_ERR_MALFORMED;
  }
  /* Mutate a shallow copy: mutators may point fields at their own memory,
   * which the unpacked original must not free. */
  Mentorlog__V1__RecordHeader hc = *h;
  if (mut)
    mut(&hc, ud);
  size_t hl = mentorlog__v1__record_header__get_packed_size(&hc);
  uint8_t *hb = malloc(hl ? hl : 1);
  mentorlog__v1__record_header__pack(&hc, hb);
  uint8_t sig[64];
  int rc = mlproto_sign(sig, signer, MLPROTO_TAG_RECORD, hb, hl);
  Mentorlog__V1__Envelope ne = MENTORLOG__V1__ENVELOPE__INIT;
  ne.header = (ProtobufCBinaryData){hl, hb};
  ne.signature = (ProtobufCBinaryData){64, sig};
  ne.disclosed = disclosed ? *disclosed : e->disclosed;
  ne.sealed = sealed ? *sealed : e->sealed;
  ne.erased = erased;
  if (rc == MLPROTO_OK) {
    *out_len = mentorlog__v1__envelope__get_packed_size(&ne);
    *out = malloc(*out_len ? *out_len : 1);
    mentorlog__v1__envelope__pack(&ne, *out);
  }
  free(hb);
  mentorlog__v1__record_header__free_unpacked(h, NULL);
  mentorlog__v1__envelope__free_unpacked(e, NULL);
  return rc;
}

int sample_disclosed_bytes(uint8_t **out, size_t *len, const mlproto_disclosed *d) {
  size_t n = protobuf_c_message_get_packed_size(&d->base);
  *out = calloc(1, 16 + n);
  if (!*out)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  protobuf_c_message_pack(&d->base, *out + 16);
  *len = 16 + n;
  return MLPROTO_OK;
}
