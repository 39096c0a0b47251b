/* sim.c — simulated device (sim.h). */
#include "sim.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <stdlib.h>
#include <string.h>

static void must(int rc) {
  if (rc) abort(); /* a test helper: a failure here is a broken test set-up */
}

void sim_dev_init(sim_dev *d) {
  memset(d, 0, sizeof *d);
  must(mlproto_crypto_init());
  must(mlproto_key_generate(&d->sign, MLPROTO_KEY_SIGN));
  must(mlproto_key_generate(&d->box, MLPROTO_KEY_BOX));
  must(mlproto_key_generate(&d->case_key, MLPROTO_KEY_CASE));
  must(mlproto_key_public(d->pub, d->sign));
  must(mlproto_key_public(d->box_pub, d->box));
}

void sim_dev_free(sim_dev *d) {
  mlproto_key_free(d->sign);
  mlproto_key_free(d->box);
  mlproto_key_free(d->case_key);
  memset(d, 0, sizeof *d);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len) {
  uint8_t *out = NULL;
  must(mlproto_msg_pack(&out, len, m));
  uint8_t *copy = malloc(*len ? *len : 1);
  memcpy(copy, out, *len);
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
  must(mlproto_enroll_request_sign(sig, &r, d->sign));
  r.signature.data = sig;
  r.signature.len = 64;
  return pack(&r.base, len);
}

uint8_t *sim_session_body(sim_dev *d, const uint8_t *cr, size_t cr_len, size_t *len) {
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_CHALLENGE_RESPONSE, cr, cr_len)) return NULL;
  Mentorlog__V1__ChallengeResponse *c = (Mentorlog__V1__ChallengeResponse *)m;
  uint8_t ch[32], sig[64];
  memcpy(ch, c->challenge.data, 32);
  mlproto_msg_free(m);
  must(mlproto_session_sign(sig, ch, d->sign));
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
  Mentorlog__V1__NoteSealed ns = MENTORLOG__V1__NOTE_SEALED__INIT;
  char text[401];
  memset(text, 'n', 400);
  text[400] = 0;
  ns.text = text;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  const mlproto_sealed *sp = NULL;
  if (kind == MLPROTO_KIND_NOTE) {
    s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_NOTE;
    s.note = &ns;
    sp = &s;
  }
  uint8_t *out = NULL;
  must(mlproto_record_build(&out, len, hash, &p, NULL, sp, d->case_key, d->sign));
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
  ProtobufCBinaryData *bs = calloc(n ? n : 1, sizeof *bs);
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
