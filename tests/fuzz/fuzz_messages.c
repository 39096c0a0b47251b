/* Fuzz the sync messages: the first byte picks the type (mlproto_msg_type,
 * modulo the count: type = 1 + b % (MLPROTO_MSG__COUNT - 1), so seeds start
 * with type - 1), the rest is the body.
 * ML_FUZZ_MAX_LEN: 16384
 * Every message the server accepts (EnrollRequest, SessionRequest,
 * PushRequest with each envelope verified) and those the client reads
 * (EnrollResponse, ChallengeResponse, SessionResponse, PushResponse,
 * PullResponse and AuditLogResponse with each envelope verified, STH,
 * proofs, Error).
 * Invariant: a message that validates re-serializes into one that validates. */
#include "mlproto/alloc.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (mlproto_crypto_init() != MLPROTO_OK)
    abort();
  return 0;
}

static void verify_envelope(const ProtobufCBinaryData *b) {
  mlproto_record *r = (mlproto_record *)1;
  int rc = mlproto_record_verify(&r, b->data, b->len);
  if ((rc == MLPROTO_OK) != (r != NULL))
    abort();
  mlproto_record_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  mlproto_msg_type t = (mlproto_msg_type)(1 + data[0] % (MLPROTO_MSG__COUNT - 1));
  ProtobufCMessage *m = (ProtobufCMessage *)1;
  int rc = mlproto_msg_unpack(&m, t, data + 1, size - 1);
  if (rc != MLPROTO_OK) {
    if (m != NULL || rc >= 0)
      abort();
    return 0;
  }
  switch (t) {
  case MLPROTO_MSG_ENROLL_REQUEST:
    (void)!mlproto_enroll_request_verify((Mentorlog__V1__EnrollRequest *)m);
    break;
  case MLPROTO_MSG_SESSION_REQUEST:
    (void)!mlproto_session_request_verify((Mentorlog__V1__SessionRequest *)m);
    break;
  case MLPROTO_MSG_PUSH_REQUEST: {
    const Mentorlog__V1__PushRequest *p = (const void *)m;
    for (size_t i = 0; i < p->n_records; i++)
      verify_envelope(&p->records[i]);
    break;
  }
  case MLPROTO_MSG_PULL_RESPONSE: {
    const Mentorlog__V1__PullResponse *p = (const void *)m;
    for (size_t i = 0; i < p->n_items; i++)
      verify_envelope(&p->items[i]->envelope);
    break;
  }
  case MLPROTO_MSG_AUDIT_LOG_RESPONSE: {
    const Mentorlog__V1__AuditLogResponse *p = (const void *)m;
    for (size_t i = 0; i < p->n_items; i++)
      verify_envelope(&p->items[i]->envelope);
    break;
  }
  default:
    break;
  }
  uint8_t *buf;
  size_t len;
  if (mlproto_msg_pack(&buf, &len, m) != MLPROTO_OK)
    abort();
  ProtobufCMessage *m2;
  if (mlproto_msg_unpack(&m2, t, buf, len) != MLPROTO_OK)
    abort();
  mlproto_msg_free(m2);
  mlproto_free(buf);
  mlproto_msg_free(m);
  return 0;
}
