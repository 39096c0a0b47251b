/* Writes the seed corpora of fuzz_envelope and fuzz_messages:
 *   record_gen_seeds <dir>   (normally tests/fuzz/corpus)
 * <dir>/envelope/<kind>[-erased-N]   one valid envelope per kind and its erased forms
 * <dir>/messages/<type>              first byte = mlproto_msg_type - 1, then the message
 * Seeds are random each run (keys, ids, salts); the checked-in set is one run. */
#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *dir, const char *sub, const char *name, uint8_t prefix,
                      int with_prefix, const uint8_t *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    return -1;
  }
  int ok = (!with_prefix || fputc(prefix, f) != EOF) && fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_msg(const char *dir, const char *name, mlproto_msg_type t,
                     const ProtobufCMessage *m) {
  uint8_t *buf;
  size_t len;
  if (mlproto_msg_pack(&buf, &len, m))
    return -1;
  ProtobufCMessage *chk;
  int rc = mlproto_msg_unpack(&chk, t, buf, len);
  if (rc) {
    fprintf(stderr, "seed %s does not validate: %s\n", name, mlproto_errname(rc));
    mlproto_free(buf);
    return -1;
  }
  mlproto_msg_free(chk);
  rc = write_file(dir, "messages", name, (uint8_t)(t - 1), 1, buf, len);
  mlproto_free(buf);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <corpus-dir>\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  fixture F;
  if (fixture_init(&F))
    return 1;
  uint8_t zero[32] = {0}, h[32];
  uint8_t *env = NULL;
  size_t len = 0;
  uint8_t *keep = NULL;
  size_t keep_len = 0;
  for (size_t k = 0; k < n_sample_kinds; k++) {
    if (sample_build(&env, &len, h, &F, sample_kinds[k], 1, zero, NULL, NULL))
      return 1;
    const char *name = mlproto_kind_name(sample_kinds[k]);
    if (write_file(dir, "envelope", name, 0, 0, env, len))
      return 1;
    for (unsigned m = 1; m <= 3; m++) {
      uint8_t *e2;
      size_t l2;
      if (mlproto_envelope_erase(&e2, &l2, env, len, m))
        return 1;
      char n2[64];
      snprintf(n2, sizeof n2, "%s-erased-%u", name, m);
      if (l2 != len && (m != 3 || mlproto_kind_has_sealed(sample_kinds[k])) &&
          write_file(dir, "envelope", n2, 0, 0, e2, l2))
        return 1;
      mlproto_free(e2);
    }
    if (sample_kinds[k] == MLPROTO_KIND_CONTACT) {
      keep = env;
      keep_len = len;
    } else {
      mlproto_free(env);
    }
  }

  uint8_t dev[32], box[32], sig[64], ch[32] = {7}, root[32] = {1}, id[16] = {3};
  if (mlproto_key_public(dev, F.author) || mlproto_key_public(box, F.box))
    return 1;
  Mentorlog__V1__EnrollRequest er = MENTORLOG__V1__ENROLL_REQUEST__INIT;
  er.code = (char *)"ABCD-1234";
  er.device_pub = (ProtobufCBinaryData){32, dev};
  er.box_pub = (ProtobufCBinaryData){32, box};
  er.label = (char *)"Annes telefon";
  if (mlproto_enroll_request_sign(sig, &er, F.author))
    return 1;
  er.signature = (ProtobufCBinaryData){64, sig};
  int rc = write_msg(dir, "enroll_request", MLPROTO_MSG_ENROLL_REQUEST, &er.base);

  Mentorlog__V1__SignedTreeHead sth = MENTORLOG__V1__SIGNED_TREE_HEAD__INIT;
  sth.size = 2;
  sth.timestamp_ms = 1767225600000ull;
  sth.root = (ProtobufCBinaryData){32, root};
  sth.signature = (ProtobufCBinaryData){64, sig};
  rc |= write_msg(dir, "signed_tree_head", MLPROTO_MSG_SIGNED_TREE_HEAD, &sth.base);

  Mentorlog__V1__EnrollResponse ers = MENTORLOG__V1__ENROLL_RESPONSE__INIT;
  ers.device_id = (ProtobufCBinaryData){16, id};
  ers.mentor_id = (ProtobufCBinaryData){16, id};
  ers.server_pub = (ProtobufCBinaryData){32, dev};
  ers.escrow_pub = (ProtobufCBinaryData){32, box};
  ers.sth = &sth;
  rc |= write_msg(dir, "enroll_response", MLPROTO_MSG_ENROLL_RESPONSE, &ers.base);

  Mentorlog__V1__ChallengeResponse cr = MENTORLOG__V1__CHALLENGE_RESPONSE__INIT;
  cr.challenge = (ProtobufCBinaryData){32, ch};
  cr.expires_ms = 1767225660000ull;
  rc |= write_msg(dir, "challenge_response", MLPROTO_MSG_CHALLENGE_RESPONSE, &cr.base);

  uint8_t ssig[64];
  if (mlproto_session_sign(ssig, ch, F.author))
    return 1;
  Mentorlog__V1__SessionRequest sr = MENTORLOG__V1__SESSION_REQUEST__INIT;
  sr.device_pub = (ProtobufCBinaryData){32, dev};
  sr.challenge = (ProtobufCBinaryData){32, ch};
  sr.signature = (ProtobufCBinaryData){64, ssig};
  rc |= write_msg(dir, "session_request", MLPROTO_MSG_SESSION_REQUEST, &sr.base);

  Mentorlog__V1__SessionResponse ss = MENTORLOG__V1__SESSION_RESPONSE__INIT;
  ss.token = (char *)"tok_0123456789abcdefABCDEF";
  ss.expires_ms = 1767229200000ull;
  rc |= write_msg(dir, "session_response", MLPROTO_MSG_SESSION_RESPONSE, &ss.base);

  ProtobufCBinaryData recs[2] = {{keep_len, keep}, {keep_len, keep}};
  Mentorlog__V1__PushRequest pr = MENTORLOG__V1__PUSH_REQUEST__INIT;
  pr.records = recs;
  pr.n_records = 2;
  rc |= write_msg(dir, "push_request", MLPROTO_MSG_PUSH_REQUEST, &pr.base);

  Mentorlog__V1__RecordResult rr[2] = {MENTORLOG__V1__RECORD_RESULT__INIT,
                                       MENTORLOG__V1__RECORD_RESULT__INIT};
  Mentorlog__V1__RecordResult *rrp[2] = {&rr[0], &rr[1]};
  rr[0].record_id = rr[1].record_id = (ProtobufCBinaryData){16, id};
  rr[0].status = (char *)"OK";
  rr[0].log_index = 1;
  rr[1].status = (char *)"FORK";
  Mentorlog__V1__PushResponse ps = MENTORLOG__V1__PUSH_RESPONSE__INIT;
  ps.results = rrp;
  ps.n_results = 2;
  ps.sth = &sth;
  rc |= write_msg(dir, "push_response", MLPROTO_MSG_PUSH_RESPONSE, &ps.base);

  Mentorlog__V1__LogItem it = MENTORLOG__V1__LOG_ITEM__INIT, *itp = &it;
  it.log_index = 1;
  it.received_at_ms = 1767225600000ull;
  it.entry_type = 1;
  it.envelope = (ProtobufCBinaryData){keep_len, keep};
  Mentorlog__V1__PullResponse pu = MENTORLOG__V1__PULL_RESPONSE__INIT;
  pu.items = &itp;
  pu.n_items = 1;
  pu.next_since = 2;
  pu.sth = &sth;
  rc |= write_msg(dir, "pull_response", MLPROTO_MSG_PULL_RESPONSE, &pu.base);
  static const char note[] = "mentorlog.example/log\n2\n...\n\n";
  Mentorlog__V1__AuditLogResponse au = MENTORLOG__V1__AUDIT_LOG_RESPONSE__INIT;
  au.items = &itp;
  au.n_items = 1;
  au.next_since = 2;
  au.tree_size = 2;
  au.checkpoint = (ProtobufCBinaryData){sizeof note - 1, (uint8_t *)note};
  au.log_key = (char *)"mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
  rc |= write_msg(dir, "audit_log_response", MLPROTO_MSG_AUDIT_LOG_RESPONSE, &au.base);

  uint8_t hs[3][32] = {{1}, {2}, {3}};
  ProtobufCBinaryData hb[3] = {{32, hs[0]}, {32, hs[1]}, {32, hs[2]}};
  Mentorlog__V1__InclusionProof ip = MENTORLOG__V1__INCLUSION_PROOF__INIT;
  ip.leaf_index = 5;
  ip.tree_size = 7;
  ip.hashes = hb;
  ip.n_hashes = 3;
  rc |= write_msg(dir, "inclusion_proof", MLPROTO_MSG_INCLUSION_PROOF, &ip.base);
  Mentorlog__V1__ConsistencyProof cp = MENTORLOG__V1__CONSISTENCY_PROOF__INIT;
  cp.first = 3;
  cp.second = 7;
  cp.hashes = hb;
  cp.n_hashes = 3;
  rc |= write_msg(dir, "consistency_proof", MLPROTO_MSG_CONSISTENCY_PROOF, &cp.base);
  Mentorlog__V1__Error e = MENTORLOG__V1__ERROR__INIT;
  e.code = (char *)"PREV_MISMATCH";
  e.message = (char *)"record does not link to the author's previous record";
  rc |= write_msg(dir, "error", MLPROTO_MSG_ERROR, &e.base);

  mlproto_free(keep);
  fixture_free(&F);
  return rc ? 1 : 0;
}
