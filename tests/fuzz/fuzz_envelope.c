/* Fuzz mlproto_record_verify and the cheap envelope helpers.
 * ML_FUZZ_MAX_LEN: 16384
 * Invariants when an input verifies: peek and record_hash agree with the
 * verified record; the kind/payload match holds; erasing any part still
 * verifies with the same record hash; the sealed part never opens under an
 * unrelated key. On any input: no crash, no leak, outputs NULL on error. */
#include "mlproto/alloc.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdlib.h>
#include <string.h>

static mlproto_key *other_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_key_generate(&other_key, MLPROTO_KEY_CASE))
    abort();
  return 0;
}

static void check_erase(const uint8_t *data, size_t size, const mlproto_record *r, unsigned parts) {
  uint8_t *e;
  size_t el;
  if (mlproto_envelope_erase(&e, &el, data, size, parts) != MLPROTO_OK)
    abort();
  mlproto_record *r2;
  if (mlproto_record_verify(&r2, e, el) != MLPROTO_OK)
    abort();
  if (memcmp(r2->hash, r->hash, 32) != 0 || r2->seq != r->seq || r2->kind != r->kind)
    abort();
  if ((parts & MLPROTO_PART_SEALED) && (r2->flags & MLPROTO_RECORD_SEALED))
    abort();
  if ((parts & MLPROTO_PART_DISCLOSED) && r2->disclosed)
    abort();
  mlproto_record_free(r2);
  mlproto_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlproto_record *r = (mlproto_record *)1;
  int rc = mlproto_record_verify(&r, data, size);
  mlproto_record_peek pk;
  int prc = mlproto_record_peek_fields(&pk, data, size);
  uint8_t h[32];
  int hrc = mlproto_record_hash(h, data, size);
  if (rc != MLPROTO_OK) {
    if (r != NULL || rc >= 0)
      abort();
    return 0;
  }
  if (prc != MLPROTO_OK || hrc != MLPROTO_OK)
    abort();
  if (memcmp(pk.record_id, r->record_id, 16) || memcmp(pk.case_id, r->case_id, 16) ||
      memcmp(pk.author, r->author, 32) || pk.seq != r->seq || pk.kind != (uint32_t)r->kind ||
      memcmp(h, r->hash, 32))
    abort();
  if (!mlproto_kind_valid(r->kind) || r->seq == 0 || r->n_supersedes > MLPROTO_MAX_SUPERSEDES)
    abort();
  if (r->disclosed && (uint32_t)r->disclosed->payload_case != (uint32_t)r->kind)
    abort();
  if ((r->flags & MLPROTO_RECORD_SEALED) && !mlproto_kind_has_sealed(r->kind))
    abort();
  if (r->flags & MLPROTO_RECORD_SEALED) {
    mlproto_sealed *s = (mlproto_sealed *)1;
    if (mlproto_record_open_sealed(&s, r, other_key) != MLPROTO_ERR_SEAL_OPEN_FAILED || s)
      abort();
  }
  check_erase(data, size, r, MLPROTO_PART_DISCLOSED);
  check_erase(data, size, r, MLPROTO_PART_SEALED);
  check_erase(data, size, r, MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED);
  mlproto_record_free(r);
  return 0;
}
