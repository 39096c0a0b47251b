/*
 * sim.h — a simulated device for the server's tests: keys, its hash chain,
 * and the protobuf bodies it sends (enrol, session, push), independent of
 * the transport (unit tests call mls_app_handle, integration tests send the
 * same bytes over TLS).
 */
#ifndef ML_TEST_SIM_H
#define ML_TEST_SIM_H

#include "mlproto/record.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sim_dev {
  mlproto_key *sign, *box, *case_key;
  uint8_t pub[32];
  uint8_t box_pub[32];
  uint64_t seq;            /* last seq built */
  uint8_t head[32];        /* hash of the last record built */
  char token[160];
} sim_dev;

void sim_dev_init(sim_dev *d);
void sim_dev_free(sim_dev *d);

/* EnrollRequest body (free with free()). */
uint8_t *sim_enroll_body(sim_dev *d, const char *code, size_t *len);
/* SessionRequest body for a challenge taken from a ChallengeResponse body. */
uint8_t *sim_session_body(sim_dev *d, const uint8_t *challenge_resp, size_t resp_len, size_t *len);
/* Stores the token of a SessionResponse body into d->token; 0 or -1. */
int sim_take_token(sim_dev *d, const uint8_t *body, size_t len);

/* Builds the next record of d's chain (advances seq/head). kind CASE_OPEN or
 * NOTE (a ~400-byte sealed note); case_id: 16 bytes. Free with mlproto_free. */
uint8_t *sim_record(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], size_t *len);
/* Same with explicit seq/prev and without touching d's chain. */
uint8_t *sim_record_at(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], uint64_t seq,
                       const uint8_t prev[32], size_t *len, uint8_t hash[32]);

/* PushRequest body of n envelopes. */
uint8_t *sim_push_body(uint8_t *const *envs, const size_t *lens, size_t n, size_t *len);

/* Decoded error code name of an Error body ("" if none). */
void sim_error_code(const uint8_t *body, size_t len, char out[64]);

#endif
