#include "auditgen.h"

#include "testutil.h"

#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void ag_init(ag_log *l) {
  memset(l, 0, sizeof *l);
  assert_int_equal(mlproto_crypto_init(), MLPROTO_OK);
  uint8_t seed[32];
  memset(seed, 0x42, sizeof seed);
  l->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  assert_non_null(l->sk);
  assert_int_equal(crypto_sign_seed_keypair(l->pk, l->sk, seed), 0);
  assert_int_equal(mlproto_key_import(&l->server, MLPROTO_KEY_SIGN, seed, 32), MLPROTO_OK);
  assert_int_equal(mlproto_note_verifier_init(&l->key, AG_ORIGIN, l->pk), MLPROTO_OK);
  assert_int_equal(mlproto_note_vkey_format(l->vkey, sizeof l->vkey, NULL, AG_ORIGIN, l->pk), MLPROTO_OK);
}

void ag_free(ag_log *l) {
  for (size_t i = 0; i < l->n; i++) free(l->e[i].env);
  free(l->e);
  mlproto_key_free(l->server);
  sodium_free(l->sk);
  memset(l, 0, sizeof *l);
}

static void push(ag_log *l, unsigned type, const uint8_t *env, size_t len) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->e = realloc(l->e, l->cap * sizeof *l->e);
    assert_non_null(l->e);
  }
  ag_entry *e = &l->e[l->n];
  e->index = l->n;
  e->type = type;
  e->received = AG_T0 + 1000 * l->n;
  e->env = malloc(len);
  assert_non_null(e->env);
  memcpy(e->env, env, len);
  e->len = len;
  l->n++;
}

void ag_add(ag_log *l, const uint8_t *env, size_t len) { push(l, MLPROTO_LOG_DEVICE_RECORD, env, len); }

static void event(ag_log *l, const mlproto_disclosed *d, mlproto_kind kind, const mlproto_key *signer) {
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  p.seq = signer ? 1 : ++l->seq; /* a forger starts a chain of its own */
  if (!signer) memcpy(p.prev, l->head, 32);
  p.hlc = (AG_T0 + 1000 * l->n) << 16;
  p.kind = kind;
  uint8_t *env = NULL;
  size_t len = 0;
  uint8_t hash[32];
  int rc = mlproto_record_build(&env, &len, hash, &p, d, NULL, NULL, signer ? signer : l->server);
  assert_int_equal(rc, MLPROTO_OK);
  if (!signer) memcpy(l->head, hash, 32);
  push(l, MLPROTO_LOG_SERVER_EVENT, env, len);
  mlproto_free(env);
}

static void enroll(ag_log *l, const sim_dev *d, const mlproto_key *signer,
                   const uint8_t mentor[16]) {
  Mentorlog__V1__DeviceEnrolled de = MENTORLOG__V1__DEVICE_ENROLLED__INIT;
  de.device_pub = (ProtobufCBinaryData){32, (uint8_t *)d->pub};
  de.box_pub = (ProtobufCBinaryData){32, (uint8_t *)d->box_pub};
  de.mentor_id = (ProtobufCBinaryData){16, (uint8_t *)mentor};
  de.label = (char *)"test";
  mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
  disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_ENROLLED;
  disc.device_enrolled = &de;
  event(l, &disc, MLPROTO_KIND_DEVICE_ENROLLED, signer);
}

void ag_enroll(ag_log *l, const sim_dev *d, const mlproto_key *signer) {
  static const uint8_t mentor[16] = {1, 2, 3};
  enroll(l, d, signer, mentor);
}

void ag_enroll_as(ag_log *l, const sim_dev *d, const uint8_t mentor[16]) {
  enroll(l, d, NULL, mentor);
}

void ag_revoke(ag_log *l, const sim_dev *d) {
  Mentorlog__V1__DeviceRevoked dr = MENTORLOG__V1__DEVICE_REVOKED__INIT;
  dr.device_pub = (ProtobufCBinaryData){32, (uint8_t *)d->pub};
  mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
  disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_REVOKED;
  disc.device_revoked = &dr;
  event(l, &disc, MLPROTO_KIND_DEVICE_REVOKED, NULL);
}

void ag_purge(ag_log *l, const uint8_t case_id[16]) {
  Mentorlog__V1__RetentionPurge rp = MENTORLOG__V1__RETENTION_PURGE__INIT;
  rp.case_id = (ProtobufCBinaryData){16, (uint8_t *)case_id};
  mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
  disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_RETENTION_PURGE;
  disc.retention_purge = &rp;
  event(l, &disc, MLPROTO_KIND_RETENTION_PURGE, NULL);
}

void ag_record(ag_log *l, sim_dev *d, mlproto_kind kind, const uint8_t case_id[16]) {
  size_t len;
  uint8_t *env = sim_record(d, kind, case_id, &len);
  push(l, MLPROTO_LOG_DEVICE_RECORD, env, len);
  mlproto_free(env);
}

static void root_of(const ag_log *l, size_t size, uint8_t root[32]) {
  mlproto_merkle_compact c;
  mlproto_merkle_compact_init(&c);
  for (size_t i = 0; i < size; i++) {
    uint8_t ent[MLPROTO_LOG_ENTRY_BYTES], leaf[32];
    ent[0] = (uint8_t)l->e[i].type;
    mlproto_put_u64be(ent + 1, l->e[i].received);
    assert_int_equal(mlproto_record_hash(ent + 9, l->e[i].env, l->e[i].len), MLPROTO_OK);
    mlproto_merkle_leaf_hash(leaf, ent, sizeof ent);
    assert_int_equal(mlproto_merkle_compact_append(&c, leaf, NULL, NULL), MLPROTO_OK);
  }
  mlproto_merkle_compact_root(&c, root);
}

mlproto_checkpoint ag_checkpoint_of(const ag_log *l, size_t size) {
  mlproto_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  strcpy(cp.origin, AG_ORIGIN);
  cp.size = size;
  root_of(l, size, cp.root);
  return cp;
}

void ag_checkpoint(const ag_log *l, size_t size, char *out, size_t *len) {
  mlproto_checkpoint cp = ag_checkpoint_of(l, size);
  assert_int_equal(mlproto_checkpoint_sign(out, MLPROTO_CHECKPOINT_SIGNED_MAX, len, &cp, l->sk),
                   MLPROTO_OK);
}

void ag_file(const ag_log *l, mlproto_buf *b) {
  mlproto_buf_init(b, 64u << 20);
  assert_int_equal(mlproto_auditlog_header_encode(b, l->vkey, l->n), MLPROTO_OK);
  for (size_t i = 0; i < l->n; i++)
    assert_int_equal(mlproto_auditlog_entry_encode(b, l->e[i].index, l->e[i].type, l->e[i].received,
                                                   l->e[i].env, l->e[i].len),
                     MLPROTO_OK);
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t nl;
  ag_checkpoint(l, l->n, note, &nl);
  assert_int_equal(mlproto_auditlog_checkpoint_encode(b, (const uint8_t *)note, nl), MLPROTO_OK);
}

size_t ag_disclosed_at(const uint8_t *env, size_t len, size_t *n) {
  size_t off = 0;
  while (off < len) {
    uint8_t key = env[off++];
    uint64_t l = 0;
    for (int sh = 0; off < len && sh < 64; sh += 7) {
      uint8_t b = env[off++];
      l |= (uint64_t)(b & 0x7f) << sh;
      if (!(b & 0x80)) break;
    }
    if (key == 0x1a) {
      *n = (size_t)l;
      return off;
    }
    if (key != 0x0a && key != 0x12 && key != 0x22) break; /* field 5 is a varint, after 3 */
    off += (size_t)l;
  }
  fail_msg("the envelope has no disclosed part");
  return 0;
}
