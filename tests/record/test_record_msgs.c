/* Sync messages: unpack + validation, enrol and session signatures. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define assert_rc(e, a) assert_string_equal(mlproto_errname(e), mlproto_errname(a))

#define F sample_fixture /* samples.h: made by sample_group_setup */

static int round_trip(const ProtobufCMessage *m, mlproto_msg_type t) {
  uint8_t *buf;
  size_t len;
  assert_rc(MLPROTO_OK, mlproto_msg_pack(&buf, &len, m));
  ProtobufCMessage *out = (ProtobufCMessage *)1;
  int rc = mlproto_msg_unpack(&out, t, buf, len);
  if (rc == MLPROTO_OK)
    mlproto_msg_free(out);
  else
    assert_null(out);
  mlproto_free(buf);
  return rc;
}

static void test_enroll(void **state) {
  (void)state;
  uint8_t dev[32], box[32];
  assert_rc(MLPROTO_OK, mlproto_key_public(dev, F.author));
  assert_rc(MLPROTO_OK, mlproto_key_public(box, F.box));
  Mentorlog__V1__EnrollRequest r = MENTORLOG__V1__ENROLL_REQUEST__INIT;
  r.code = (char *)"ABCD-1234";
  r.device_pub = (ProtobufCBinaryData){32, dev};
  r.box_pub = (ProtobufCBinaryData){32, box};
  r.label = (char *)"Annes telefon";
  uint8_t sig[64];
  assert_rc(MLPROTO_OK, mlproto_enroll_request_sign(sig, &r, F.author));
  r.signature = (ProtobufCBinaryData){64, sig};
  assert_rc(MLPROTO_OK, round_trip(&r.base, MLPROTO_MSG_ENROLL_REQUEST));
  assert_rc(MLPROTO_OK, mlproto_enroll_request_verify(&r));
  /* Every signed field is covered. */
  r.label = (char *)"Annes telefoN";
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_enroll_request_verify(&r));
  r.label = (char *)"Annes telefon";
  box[0] ^= 1;
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_enroll_request_verify(&r));
  box[0] ^= 1;
  r.code = (char *)"ABCD-1235";
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_enroll_request_verify(&r));
  r.code = (char *)"ABCD-1234";
  assert_rc(MLPROTO_OK, mlproto_enroll_request_verify(&r));
  /* Signing with a key that is not device_pub. */
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_enroll_request_sign(sig, &r, F.server));
  /* Field rules. */
  r.code = (char *)"bad code";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&r.base, MLPROTO_MSG_ENROLL_REQUEST));
  r.code = (char *)"";
  assert_rc(MLPROTO_ERR_FIELD_MISSING, round_trip(&r.base, MLPROTO_MSG_ENROLL_REQUEST));
  r.code = (char *)"ABCD-1234";
  r.device_pub.len = 31;
  assert_rc(MLPROTO_ERR_FIELD_SIZE, round_trip(&r.base, MLPROTO_MSG_ENROLL_REQUEST));
  r.device_pub.len = 32;
  r.label = (char *)"tab\there";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&r.base, MLPROTO_MSG_ENROLL_REQUEST));
}

static void test_session(void **state) {
  (void)state;
  uint8_t ch[32], dev[32], sig[64];
  randombytes_buf(ch, 32);
  assert_rc(MLPROTO_OK, mlproto_key_public(dev, F.author));
  assert_rc(MLPROTO_OK, mlproto_session_sign(sig, ch, F.author));
  Mentorlog__V1__SessionRequest r = MENTORLOG__V1__SESSION_REQUEST__INIT;
  r.device_pub = (ProtobufCBinaryData){32, dev};
  r.challenge = (ProtobufCBinaryData){32, ch};
  r.signature = (ProtobufCBinaryData){64, sig};
  assert_rc(MLPROTO_OK, round_trip(&r.base, MLPROTO_MSG_SESSION_REQUEST));
  assert_rc(MLPROTO_OK, mlproto_session_request_verify(&r));
  ch[7] ^= 1;
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_session_request_verify(&r));
  ch[7] ^= 1;
  /* An enrolment signature never passes as a session signature. */
  uint8_t pk2[32];
  assert_rc(MLPROTO_OK, mlproto_key_public(pk2, F.server));
  r.device_pub.data = pk2;
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_session_request_verify(&r));
  r.challenge.len = 16;
  assert_rc(MLPROTO_ERR_FIELD_SIZE, round_trip(&r.base, MLPROTO_MSG_SESSION_REQUEST));

  Mentorlog__V1__SessionResponse sr = MENTORLOG__V1__SESSION_RESPONSE__INIT;
  sr.token = (char *)"abcdefghijklmnop_-0123";
  assert_rc(MLPROTO_OK, round_trip(&sr.base, MLPROTO_MSG_SESSION_RESPONSE));
  sr.token = (char *)"short";
  assert_rc(MLPROTO_ERR_FIELD_SIZE, round_trip(&sr.base, MLPROTO_MSG_SESSION_RESPONSE));
  sr.token = (char *)"abcdefghijklmnop+0123";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&sr.base, MLPROTO_MSG_SESSION_RESPONSE));
}

static void test_push_pull(void **state) {
  (void)state;
  uint8_t zero[32] = {0}, h[32];
  uint8_t *env;
  size_t len;
  assert_rc(MLPROTO_OK, sample_build(&env, &len, h, &F, MLPROTO_KIND_CONTACT, 1, zero, NULL, NULL));
  ProtobufCBinaryData recs[MLPROTO_PUSH_MAX_RECORDS + 1];
  for (size_t i = 0; i <= MLPROTO_PUSH_MAX_RECORDS; i++)
    recs[i] = (ProtobufCBinaryData){len, env};
  Mentorlog__V1__PushRequest pr = MENTORLOG__V1__PUSH_REQUEST__INIT;
  pr.records = recs;
  pr.n_records = 1;
  assert_rc(MLPROTO_OK, round_trip(&pr.base, MLPROTO_MSG_PUSH_REQUEST));
  pr.n_records = MLPROTO_PUSH_MAX_RECORDS;
  assert_rc(MLPROTO_OK, round_trip(&pr.base, MLPROTO_MSG_PUSH_REQUEST));
  pr.n_records = MLPROTO_PUSH_MAX_RECORDS + 1;
  assert_rc(MLPROTO_ERR_BATCH_TOO_LARGE, round_trip(&pr.base, MLPROTO_MSG_PUSH_REQUEST));
  pr.n_records = 0;
  assert_rc(MLPROTO_ERR_FIELD_MISSING, round_trip(&pr.base, MLPROTO_MSG_PUSH_REQUEST));

  uint8_t root[32] = {1}, sig[64] = {2};
  Mentorlog__V1__SignedTreeHead sth = MENTORLOG__V1__SIGNED_TREE_HEAD__INIT;
  sth.size = 1;
  sth.root = (ProtobufCBinaryData){32, root};
  sth.signature = (ProtobufCBinaryData){64, sig};
  assert_rc(MLPROTO_OK, round_trip(&sth.base, MLPROTO_MSG_SIGNED_TREE_HEAD));
  Mentorlog__V1__LogItem it[2] = {MENTORLOG__V1__LOG_ITEM__INIT, MENTORLOG__V1__LOG_ITEM__INIT};
  Mentorlog__V1__LogItem *itp[2] = {&it[0], &it[1]};
  for (int i = 0; i < 2; i++) {
    it[i].log_index = (uint64_t)i + 5;
    it[i].envelope = (ProtobufCBinaryData){len, env};
    it[i].entry_type = 1;
  }
  Mentorlog__V1__PullResponse pu = MENTORLOG__V1__PULL_RESPONSE__INIT;
  pu.items = itp;
  pu.n_items = 2;
  pu.sth = &sth;
  assert_rc(MLPROTO_OK, round_trip(&pu.base, MLPROTO_MSG_PULL_RESPONSE));
  it[1].log_index = 5; /* not ascending */
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&pu.base, MLPROTO_MSG_PULL_RESPONSE));
  it[1].log_index = 6;
  it[1].entry_type = 256;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&pu.base, MLPROTO_MSG_PULL_RESPONSE));
  it[1].entry_type = 1;
  pu.sth = NULL;
  assert_rc(MLPROTO_ERR_FIELD_MISSING, round_trip(&pu.base, MLPROTO_MSG_PULL_RESPONSE));

  /* The audit listing: the same items, below its checkpoint's size. */
  static const char note[] = "mentorlog.example/log\n7\n...\n\n";
  Mentorlog__V1__AuditLogResponse au = MENTORLOG__V1__AUDIT_LOG_RESPONSE__INIT;
  au.items = itp;
  au.n_items = 2;
  au.tree_size = 7;
  au.checkpoint = (ProtobufCBinaryData){sizeof note - 1, (uint8_t *)note};
  au.log_key = (char *)"mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
  assert_rc(MLPROTO_OK, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  au.tree_size = 6; /* item 6 is not below it */
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  au.tree_size = 7;
  it[1].log_index = 4;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  it[1].log_index = 6;
  au.log_key = (char *)"mentorlog.example/log+2878df78+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  au.log_key = (char *)"";
  assert_rc(MLPROTO_ERR_FIELD_MISSING, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  au.log_key = (char *)"mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
  au.checkpoint.len = 0;
  assert_rc(MLPROTO_ERR_FIELD_MISSING, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  uint8_t *bignote = calloc(1, 32769);
  assert_non_null(bignote);
  au.checkpoint = (ProtobufCBinaryData){32769, bignote};
  assert_rc(MLPROTO_ERR_FIELD_SIZE, round_trip(&au.base, MLPROTO_MSG_AUDIT_LOG_RESPONSE));
  free(bignote);

  Mentorlog__V1__RecordResult rr = MENTORLOG__V1__RECORD_RESULT__INIT, *rrp = &rr;
  uint8_t rid[16] = {0};
  rr.record_id = (ProtobufCBinaryData){16, rid};
  rr.status = (char *)"FORK";
  Mentorlog__V1__PushResponse ps = MENTORLOG__V1__PUSH_RESPONSE__INIT;
  ps.results = &rrp;
  ps.n_results = 1;
  ps.sth = &sth;
  assert_rc(MLPROTO_OK, round_trip(&ps.base, MLPROTO_MSG_PUSH_RESPONSE));
  rr.status = (char *)"NOT_A_CODE";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&ps.base, MLPROTO_MSG_PUSH_RESPONSE));
  mlproto_free(env);
}

static void test_other_messages(void **state) {
  (void)state;
  Mentorlog__V1__Error e = MENTORLOG__V1__ERROR__INIT;
  e.code = (char *)"BAD_SIGNATURE";
  e.message = (char *)"signature does not verify";
  assert_rc(MLPROTO_OK, round_trip(&e.base, MLPROTO_MSG_ERROR));
  e.code = (char *)"bad";
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&e.base, MLPROTO_MSG_ERROR));

  uint8_t hs[65][32];
  ProtobufCBinaryData hb[65];
  for (int i = 0; i < 65; i++)
    hb[i] = (ProtobufCBinaryData){32, hs[i]};
  Mentorlog__V1__InclusionProof ip = MENTORLOG__V1__INCLUSION_PROOF__INIT;
  ip.leaf_index = 3;
  ip.tree_size = 8;
  ip.hashes = hb;
  ip.n_hashes = 3;
  assert_rc(MLPROTO_OK, round_trip(&ip.base, MLPROTO_MSG_INCLUSION_PROOF));
  ip.leaf_index = 8;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&ip.base, MLPROTO_MSG_INCLUSION_PROOF));
  ip.leaf_index = 3;
  ip.n_hashes = 65;
  assert_rc(MLPROTO_ERR_FIELD_SIZE, round_trip(&ip.base, MLPROTO_MSG_INCLUSION_PROOF));
  Mentorlog__V1__ConsistencyProof cp = MENTORLOG__V1__CONSISTENCY_PROOF__INIT;
  cp.first = 9;
  cp.second = 8;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, round_trip(&cp.base, MLPROTO_MSG_CONSISTENCY_PROOF));

  /* Unknown fields, garbage, caps, bad type. */
  static const uint8_t unknown[] = {0x78, 0x01}; /* field 15, varint 1 */
  ProtobufCMessage *m;
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_msg_unpack(&m, MLPROTO_MSG_ERROR, unknown, 2));
  static const uint8_t junk[] = {0x0a, 0x05, 0x01};
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, junk, 3));
  uint8_t *big = calloc(1, MLPROTO_SMALL_MSG_MAX + 1);
  assert_rc(MLPROTO_ERR_TOO_LARGE,
            mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_REQUEST, big, MLPROTO_SMALL_MSG_MAX + 1));
  free(big);
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_msg_unpack(&m, MLPROTO_MSG__COUNT, junk, 3));
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_msg_unpack(&m, (mlproto_msg_type)0, junk, 3));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_enroll),
      cmocka_unit_test(test_session),
      cmocka_unit_test(test_push_pull),
      cmocka_unit_test(test_other_messages),
  };
  return cmocka_run_group_tests(tests, sample_group_setup, sample_group_teardown);
}
