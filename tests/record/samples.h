/*
 * samples.h — valid sample records of every kind, shared by the record tests
 * and the fuzz seed generator.
 */
#ifndef ML_TEST_SAMPLES_H
#define ML_TEST_SAMPLES_H

#include "mlproto/record.h"

typedef struct fixture {
  mlproto_key *author;    /* device signing key */
  mlproto_key *server;    /* server signing key (author of server events) */
  mlproto_key *case_key;  /* key of case_id */
  mlproto_key *case_key2; /* key of case_id2 */
  mlproto_key *box;       /* device X25519 key */
  uint8_t case_id[MLPROTO_ID_BYTES];
  uint8_t case_id2[MLPROTO_ID_BYTES];
} fixture;

/* 0 on success. */
int fixture_init(fixture *f);
void fixture_free(fixture *f);

/* The fixture of a record test, shared by its tests: the cmocka group setup
 * and teardown below make and free it. */
extern fixture sample_fixture;
int sample_group_setup(void **state);
int sample_group_teardown(void **state);

/* Every kind, in order. */
extern const mlproto_kind sample_kinds[];
extern const size_t n_sample_kinds;

/* All payloads one sample record needs (pointers into this struct). */
typedef struct sample_payloads {
  mlproto_disclosed d;
  mlproto_sealed s;
  Mentorlog__V1__CaseOpenDisclosed case_open;
  Mentorlog__V1__GrantDisclosed grant;
  Mentorlog__V1__ContactRule rule;
  Mentorlog__V1__Channel channels[3];
  Mentorlog__V1__GrantCloseDisclosed grant_close;
  Mentorlog__V1__ContactDisclosed contact;
  Mentorlog__V1__NoteDisclosed note;
  Mentorlog__V1__AbsenceDisclosed absence;
  Mentorlog__V1__KeyGrantDisclosed key_grant;
  Mentorlog__V1__SealedKey sealed_key;
  Mentorlog__V1__SealedKey *sealed_keys[1];
  uint8_t recipient[32], sealed_key_bytes[MLPROTO_CASE_KEY_SEALEDBYTES];
  Mentorlog__V1__CaseEraseDisclosed case_erase;
  Mentorlog__V1__DeviceEnrolled enrolled;
  Mentorlog__V1__DeviceRevoked revoked;
  Mentorlog__V1__EscrowKey escrow;
  Mentorlog__V1__RetentionPurge purge;
  uint8_t pub[32], pub2[32], id16[16];
  Mentorlog__V1__CaseSealed case_sealed;
  Mentorlog__V1__GrantSealed grant_sealed;
  Mentorlog__V1__GrantCloseSealed grant_close_sealed;
  Mentorlog__V1__ContactSealed contact_sealed;
  char *topics[2];
  Mentorlog__V1__NoteSealed note_sealed;
  Mentorlog__V1__AbsenceSealed absence_sealed;
  int has_sealed;
} sample_payloads;

/* Fill p with valid payloads for kind (sealed too when the kind has one). */
void sample_payloads_init(sample_payloads *p, const fixture *f, mlproto_kind kind);

/* Build one valid record of kind with both parts where the kind has them.
 * case_key NULL: f->case_key. Returns an mlproto error code. */
int sample_build(uint8_t **env, size_t *len, uint8_t hash[MLPROTO_HASH_BYTES], const fixture *f,
                 mlproto_kind kind, uint64_t seq, const uint8_t prev[MLPROTO_HASH_BYTES],
                 const uint8_t case_id[MLPROTO_ID_BYTES], const mlproto_key *case_key);

/* Rewrite an envelope: unpack its header, let mut change it (may be NULL),
 * re-sign with signer, and replace the parts given (NULL: keep). erased sets
 * the envelope's erased bits. Packs with protobuf-c (canonical). Returns an
 * mlproto error code; *out freed with free(). */
typedef void (*header_mutator)(Mentorlog__V1__RecordHeader *h, void *ud);
int sample_resign(uint8_t **out, size_t *out_len, const uint8_t *env, size_t len,
                  const mlproto_key *signer, header_mutator mut, void *ud,
                  const ProtobufCBinaryData *disclosed, const ProtobufCBinaryData *sealed,
                  uint32_t erased);

/* 16 zero salt bytes || packed d; *out freed with free(). */
int sample_disclosed_bytes(uint8_t **out, size_t *len, const mlproto_disclosed *d);

#endif
