/* devsim.c — the simulated device (devsim.h). */
#include "devsim.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fixture that cannot be built leaves nothing to test or measure. */
static void must(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "devsim: %s failed: %s\n", what, mlproto_errname(rc));
    abort();
  }
}

static void *must_alloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "devsim: out of memory\n");
    abort();
  }
  return p;
}

/* Ordinary note-taking prose, cut to SIM_CONTACT_NOTE_LEN. */
static const char CONTACT_NOTE[] =
    "Met at the library cafe. He had slept badly but came on time and we went through the "
    "letters from the municipality together; two were reminders about the dentist, one was the "
    "new housing benefit decision. We called the dentist and booked a time for next Thursday. "
    "He wants to apply for the warehouse job on Jobnet.";
_Static_assert(sizeof CONTACT_NOTE - 1 >= SIM_CONTACT_NOTE_LEN, "the contact note is long enough");

void sim_dev_init(sim_dev *d) {
  memset(d, 0, sizeof *d);
  must(mlproto_crypto_init(), "crypto init");
  must(mlproto_key_generate(&d->sign, MLPROTO_KEY_SIGN), "signing key");
  must(mlproto_key_generate(&d->box, MLPROTO_KEY_BOX), "box key");
  must(mlproto_key_generate(&d->case_key, MLPROTO_KEY_CASE), "case key");
  must(mlproto_key_public(d->pub, d->sign), "public key");
  must(mlproto_key_public(d->box_pub, d->box), "box public key");
}

void sim_dev_free(sim_dev *d) {
  mlproto_key_free(d->sign);
  mlproto_key_free(d->box);
  mlproto_key_free(d->case_key);
  sodium_memzero(d, sizeof *d);
}

/* Packs m into a malloc'ed copy, so callers free bodies with free(). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  uint8_t *out = NULL;
  must(mlproto_msg_pack(&out, len, m), "pack");
  uint8_t *copy = must_alloc(*len);
  if (*len) memcpy(copy, out, *len);
  mlproto_free(out);
  return copy;
}

uint8_t *sim_enroll_body(sim_dev *d, const char *code, size_t *len) {
  Mentorlog__V1__EnrollRequest r = MENTORLOG__V1__ENROLL_REQUEST__INIT;
  uint8_t sig[64];
  r.code = (char *)code;
  r.device_pub.data = d->pub;
  r.device_pub.len = 32;
  r.box_pub.data = d->box_pub;
  r.box_pub.len = 32;
  r.label = (char *)"test phone";
  must(mlproto_enroll_request_sign(sig, &r, d->sign), "enrolment signature");
  r.signature.data = sig;
  r.signature.len = 64;
  return pack(&r.base, len);
}

uint8_t *sim_session_body(sim_dev *d, const uint8_t *cr, size_t cr_len, size_t *len) {
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_CHALLENGE_RESPONSE, cr, cr_len)) return NULL;
  Mentorlog__V1__ChallengeResponse *c = (Mentorlog__V1__ChallengeResponse *)m;
  uint8_t ch[32], sig[64];
  if (c->challenge.len != sizeof ch) {
    mlproto_msg_free(m);
    return NULL;
  }
  memcpy(ch, c->challenge.data, sizeof ch);
  mlproto_msg_free(m);
  must(mlproto_session_sign(sig, ch, d->sign), "session signature");
  Mentorlog__V1__SessionRequest r = MENTORLOG__V1__SESSION_REQUEST__INIT;
  r.device_pub.data = d->pub;
  r.device_pub.len = 32;
  r.challenge.data = ch;
  r.challenge.len = 32;
  r.signature.data = sig;
  r.signature.len = 64;
  return pack(&r.base, len);
}

int sim_take_token(sim_dev *d, const uint8_t *body, size_t len) {
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_RESPONSE, body, len)) return -1;
  Mentorlog__V1__SessionResponse *s = (Mentorlog__V1__SessionResponse *)m;
  int ok = s->token && strlen(s->token) < sizeof d->token;
  if (ok) strcpy(d->token, s->token);
  mlproto_msg_free(m);
  return ok ? 0 : -1;
}

uint8_t *sim_record_at(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], uint64_t seq,
                       const uint8_t prev[32], size_t *len, uint8_t hash[32]) {
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, case_id, 16);
  p.seq = seq;
  memcpy(p.prev, prev, 32);
  p.hlc = (UINT64_C(1767225600000) + seq) << 16;
  p.kind = kind;

  char text[SIM_NOTE_TEXT_LEN + 1], note[SIM_CONTACT_NOTE_LEN + 1];
  Mentorlog__V1__NoteSealed ns = MENTORLOG__V1__NOTE_SEALED__INIT;
  Mentorlog__V1__ContactSealed cs = MENTORLOG__V1__CONTACT_SEALED__INIT;
  Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  Mentorlog__V1__GrantDisclosed gd = MENTORLOG__V1__GRANT_DISCLOSED__INIT;
  Mentorlog__V1__ContactRule rule = MENTORLOG__V1__CONTACT_RULE__INIT;
  Mentorlog__V1__GrantSealed gs = MENTORLOG__V1__GRANT_SEALED__INIT;
  Mentorlog__V1__Channel channels[] = {
      MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON, MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT,
      MENTORLOG__V1__CHANNEL__CHANNEL_VIDEO, MENTORLOG__V1__CHANNEL__CHANNEL_PHONE};
  char ref[16];
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  mlproto_disclosed dis = MENTORLOG__V1__DISCLOSED__INIT;
  const mlproto_sealed *sp = NULL;
  const mlproto_disclosed *dp = NULL;
  switch (kind) {
  case MLPROTO_KIND_CASE_OPEN:
    break;
  case MLPROTO_KIND_NOTE:
    memset(text, 'n', SIM_NOTE_TEXT_LEN);
    text[SIM_NOTE_TEXT_LEN] = 0;
    ns.text = text;
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_NOTE;
    s.note = &ns;
    sp = &s;
    break;
  case MLPROTO_KIND_CONTACT:
    /* One contact a minute from 2026-01-01 00:00 UTC, an hour before the hlc. */
    cd.start_ms = d->contact_start_ms ? d->contact_start_ms : UINT64_C(1767225600000) + seq * 60000u;
    cd.duration_minutes = 75;
    cd.channel = MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON;
    cd.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
    cd.transport_minutes = 15;
    dis.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
    dis.contact = &cd;
    dp = &dis;
    p.hlc = (cd.start_ms + 3600000u) << 16;
    memcpy(note, CONTACT_NOTE, SIM_CONTACT_NOTE_LEN);
    note[SIM_CONTACT_NOTE_LEN] = 0;
    cs.note = note;
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_CONTACT;
    s.contact = &cs;
    sp = &s;
    break;
  case MLPROTO_KIND_GRANT_OPEN:
    snprintf(ref, sizeof ref, "REF-%02x%02x%02x%02x", case_id[0], case_id[1], case_id[2],
             case_id[3]);
    rule.period_weeks = 1;
    rule.contacts_needed = 1;
    rule.n_qualifying_channels = sizeof channels / sizeof channels[0];
    rule.qualifying_channels = channels;
    rule.partial_days = 3;
    rule.grace_days = 7;
    rule.late_days = 7;
    gd.jobcentre_id = (char *)SIM_JOBCENTRE;
    gd.case_ref = ref;
    gd.legal_basis = (char *)"LAB 78-81";
    gd.start_day = (uint32_t)(d->grant_start ? d->grant_start : 20605); /* 2026-06-01 */
    gd.end_day = gd.start_day + SIM_GRANT_DAYS - 1;
    gd.rule = &rule;
    gd.granted_minutes_per_week = 120;
    dis.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_OPEN;
    dis.grant_open = &gd;
    dp = &dis;
    gs.purpose = (char *)"a simulated purpose";
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_GRANT_OPEN;
    s.grant_open = &gs;
    sp = &s;
    break;
  default:
    fprintf(stderr, "devsim: sim_record_at does not build kind %d\n", (int)kind);
    abort();
  }
  uint8_t *out = NULL;
  must(mlproto_record_build(&out, len, hash, &p, dp, sp, d->case_key, d->sign), "record build");
  return out;
}

uint8_t *sim_record(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], size_t *len) {
  uint8_t h[32];
  uint8_t *r = sim_record_at(d, kind, case_id, d->seq + 1, d->head, len, h);
  d->seq++;
  memcpy(d->head, h, 32);
  return r;
}

uint8_t *sim_push_body(uint8_t *const *envs, const size_t *lens, size_t n, size_t *len) {
  Mentorlog__V1__PushRequest r = MENTORLOG__V1__PUSH_REQUEST__INIT;
  ProtobufCBinaryData *bs = must_alloc((n ? n : 1) * sizeof *bs);
  for (size_t i = 0; i < n; i++) {
    bs[i].data = envs[i];
    bs[i].len = lens[i];
  }
  r.n_records = n;
  r.records = bs;
  uint8_t *out = pack(&r.base, len);
  free(bs);
  return out;
}

void sim_error_code(const uint8_t *body, size_t len, char out[64]) {
  out[0] = 0;
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_ERROR, body, len)) return;
  Mentorlog__V1__Error *e = (Mentorlog__V1__Error *)m;
  if (e->code && strlen(e->code) < 64) strcpy(out, e->code);
  mlproto_msg_free(m);
}
