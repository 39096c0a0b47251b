/*
 * devsim.h — a simulated Mentorlog device: its keys, its hash chain, and the
 * protobuf bodies it sends (enrolment, session, push), independent of the
 * transport. The server's unit tests feed the bodies to mls_app_handle(),
 * the integration tests and `mentorlog-bench server` send the same bytes
 * over TLS to the real server. One implementation, so that what the bench
 * measures is what the tests check.
 *
 * This is a test and benchmark tool, not a client: the real device is
 * client-core. It takes short cuts a client must not take:
 *  - Set-up failures (key generation, out of memory, a protobuf that does
 *    not pack) abort the process after a message on stderr: a test or a
 *    benchmark whose fixture is broken has nothing sensible to continue
 *    with. Functions that parse a server answer return an error instead.
 *  - All records of one device use the device's one case key.
 *
 * Ownership: bodies returned as uint8_t * are malloc'ed (free with free());
 * envelopes from sim_record* are mlproto-allocated (free with mlproto_free).
 *
 * Threads: mlproto_crypto_init() is called by sim_dev_init (idempotent).
 * A sim_dev belongs to one thread at a time; distinct sim_devs may be used
 * from different threads concurrently.
 *
 * Secrets: the device keys live in sodium_malloc'ed mlproto_keys and are
 * wiped by sim_dev_free. The bearer token is kept in the struct in clear
 * (it is a test credential) and wiped by sim_dev_free as well.
 */
#ifndef ML_DEVSIM_H
#define ML_DEVSIM_H

#include "mlproto/record.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of the note text in a CONTACT built by sim_record: chosen so that
 * the envelope is about 600 bytes, the size of the peer benchmark's
 * documents (../shared/bench/peer-pouchdb). */
#define SIM_CONTACT_NOTE_LEN 250
/* Length of the text of a NOTE built by sim_record. */
#define SIM_NOTE_TEXT_LEN 400

typedef struct sim_dev {
  mlproto_key *sign, *box, *case_key;
  uint8_t pub[32];         /* Ed25519 public key: the device's identity */
  uint8_t box_pub[32];     /* X25519 public key for case-key grants */
  uint64_t seq;            /* last seq built by sim_record (0: none yet) */
  uint8_t head[32];        /* hash of the last record built (zeros at first) */
  char token[160];         /* bearer token after sim_take_token ("" before) */
  uint64_t contact_start_ms; /* CONTACT start (0: derived from seq) */
  int32_t grant_start;     /* GRANT_OPEN start, days since 1970 (0: 2026-06-01) */
} sim_dev;

#define SIM_JOBCENTRE "bench-jc"
#define SIM_GRANT_DAYS 182

/* Generates fresh keys and an empty chain. Aborts on failure. */
void sim_dev_init(sim_dev *d);
/* Frees and wipes the keys and the token. d may be zeroed/freed already. */
void sim_dev_free(sim_dev *d);

/* EnrollRequest body for the one-time enrolment code `code`, self-signed
 * with the device key; label "test phone". */
uint8_t *sim_enroll_body(sim_dev *d, const char *code, size_t *len);
/* SessionRequest body answering the challenge of a ChallengeResponse body
 * (GET /v1/session/challenge). NULL when that body does not decode or its
 * challenge is not 32 bytes. */
uint8_t *sim_session_body(sim_dev *d, const uint8_t *challenge_resp, size_t resp_len, size_t *len);
/* Stores the token of a SessionResponse body into d->token; 0, or -1 when
 * the body does not decode or the token does not fit. */
int sim_take_token(sim_dev *d, const uint8_t *body, size_t len);

/* Builds the next record of d's chain (advances seq and head):
 *   CASE_OPEN  no payload;
 *   NOTE       a sealed note of SIM_NOTE_TEXT_LEN bytes;
 *   CONTACT    a disclosed in-person contact of 75 minutes (start time
 *              derived from seq) and a sealed note of SIM_CONTACT_NOTE_LEN
 *              bytes — about 600 bytes of envelope; its start is
 *              d->contact_start_ms when that is set, else derived from seq;
 *   GRANT_OPEN a grant of jobcentre SIM_JOBCENTRE, reference "REF-" and the
 *              case id's first 4 bytes in hex, from d->grant_start for
 *              SIM_GRANT_DAYS days, the default rule, 120 minutes a week.
 * Any other kind is a programming error (abort). case_id: 16 bytes. */
uint8_t *sim_record(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], size_t *len);
/* Same with explicit seq/prev, without touching d's chain; hash gets the
 * record hash. */
uint8_t *sim_record_at(sim_dev *d, mlproto_kind kind, const uint8_t case_id[16], uint64_t seq,
                       const uint8_t prev[32], size_t *len, uint8_t hash[32]);

/* PushRequest body carrying n envelopes (n may be 0). */
uint8_t *sim_push_body(uint8_t *const *envs, const size_t *lens, size_t n, size_t *len);

/* The code name of an Error body into out ("" when it does not decode). */
void sim_error_code(const uint8_t *body, size_t len, char out[64]);

#ifdef __cplusplus
}
#endif
#endif
