/*
 * The tamper test (issue "Foundation"): no single change to a valid envelope
 * may verify, and each must fail with a specific code of the class that its
 * position allows.
 *   - every bit of every byte of the serialized envelope flipped;
 *   - every bit of every field flipped and the envelope re-serialized;
 *   - sealed / disclosed parts swapped between records of the same case and
 *     of different cases;
 *   - the envelope truncated at every offset;
 *   - a sealed part moved under a validly signed header of another identity
 *     (record id, case, author, kind): verify passes (the hash matches), but
 *     the AAD makes open fail with SEAL_OPEN_FAILED.
 */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F sample_fixture /* samples.h: made by sample_group_setup */

enum region { R_FRAMING, R_HEADER, R_SIGNATURE, R_DISCLOSED, R_SEALED, R_COUNT };
static const char *const region_name[] = {"framing", "header", "signature", "disclosed", "sealed"};

/* Codes each region may produce; anything else (and OK) fails the test. */
static const int allowed[R_COUNT][8] = {
    [R_FRAMING] = {MLPROTO_ERR_MALFORMED, MLPROTO_ERR_FIELD_MISSING, MLPROTO_ERR_FIELD_SIZE,
                   MLPROTO_ERR_TOO_LARGE, 0},
    [R_HEADER] = {MLPROTO_ERR_MALFORMED, MLPROTO_ERR_UNSUPPORTED_FORMAT, MLPROTO_ERR_FIELD_SIZE,
                  MLPROTO_ERR_FIELD_RANGE, MLPROTO_ERR_FIELD_MISSING, MLPROTO_ERR_UNKNOWN_KIND,
                  MLPROTO_ERR_BAD_SIGNATURE, 0},
    [R_SIGNATURE] = {MLPROTO_ERR_BAD_SIGNATURE, 0},
    [R_DISCLOSED] = {MLPROTO_ERR_DISCLOSED_HASH_MISMATCH, 0},
    [R_SEALED] = {MLPROTO_ERR_SEALED_HASH_MISMATCH, 0},
};

/* Histogram of codes per region, printed once: it documents what the
 * verifier actually answers. */
static unsigned long hist[R_COUNT][128];

static void expect_rejected(enum region rg, const uint8_t *env, size_t len, const char *what,
                            size_t where) {
  mlproto_record *r = (mlproto_record *)1;
  int rc = mlproto_record_verify(&r, env, len);
  if (rc == MLPROTO_OK) {
    mlproto_record_free(r);
    fail_msg("%s at %zu (%s) verified OK", what, where, region_name[rg]);
  }
  assert_null(r);
  for (int i = 0; allowed[rg][i]; i++)
    if (allowed[rg][i] == rc) {
      hist[rg][-rc % 128]++;
      return;
    }
  fail_msg("%s at %zu (%s): unexpected %s", what, where, region_name[rg], mlproto_errname(rc));
}

/* Map each byte of a canonical envelope to its region (independent of the
 * library's walker: a plain reading of the protobuf framing). */
static void map_regions(uint8_t *map, const uint8_t *env, size_t len) {
  size_t o = 0;
  while (o < len) {
    uint8_t key = env[o];
    map[o++] = R_FRAMING;
    if ((key & 7) == 0) { /* the erased marker: varint */
      while (env[o] & 0x80)
        map[o++] = R_FRAMING;
      map[o++] = R_FRAMING;
      continue;
    }
    assert_int_equal(key & 7, 2);
    size_t n = 0, shift = 0;
    do {
      n |= (size_t)(env[o] & 0x7f) << shift;
      shift += 7;
      map[o] = R_FRAMING;
    } while (env[o++] & 0x80);
    enum region rg = key >> 3 == 1   ? R_HEADER
                     : key >> 3 == 2 ? R_SIGNATURE
                     : key >> 3 == 3 ? R_DISCLOSED
                                     : R_SEALED;
    assert_true(o + n <= len);
    memset(map + o, rg, n);
    o += n;
  }
}

static void flip_every_bit(const uint8_t *env, size_t len) {
  uint8_t *map = malloc(len), *e = malloc(len);
  map_regions(map, env, len);
  memcpy(e, env, len);
  for (size_t i = 0; i < len; i++)
    for (int b = 0; b < 8; b++) {
      e[i] ^= (uint8_t)(1u << b);
      expect_rejected((enum region)map[i], e, len, "envelope bit flip", i * 8 + (size_t)b);
      e[i] ^= (uint8_t)(1u << b);
    }
  free(e);
  free(map);
}

/* Flip every bit of one field, then re-serialize with protobuf-c. */
static void flip_field_bits(const uint8_t *env, size_t len) {
  Mentorlog__V1__Envelope *e = mentorlog__v1__envelope__unpack(NULL, len, env);
  assert_non_null(e);
  ProtobufCBinaryData *fields[4] = {&e->header, &e->signature, &e->disclosed, &e->sealed};
  static const enum region rg[4] = {R_HEADER, R_SIGNATURE, R_DISCLOSED, R_SEALED};
  uint8_t *out = malloc(len + 16);
  for (int f = 0; f < 4; f++) {
    ProtobufCBinaryData *bd = fields[f];
    for (size_t i = 0; i < bd->len; i++)
      for (int b = 0; b < 8; b++) {
        bd->data[i] ^= (uint8_t)(1u << b);
        size_t n = mentorlog__v1__envelope__pack(e, out);
        assert_int_equal(n, len);
        expect_rejected(rg[f], out, n, "field bit flip", i * 8 + (size_t)b);
        bd->data[i] ^= (uint8_t)(1u << b);
      }
  }
  free(out);
  mentorlog__v1__envelope__free_unpacked(e, NULL);
}

static void truncate_everywhere(const uint8_t *env, size_t len) {
  for (size_t n = 0; n < len; n++) {
    uint8_t *e = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    memcpy(e, env, n);
    mlproto_record *r = (mlproto_record *)1;
    int rc = mlproto_record_verify(&r, e, n);
    if (rc == MLPROTO_OK)
      fail_msg("truncation at %zu of %zu verified OK", n, len);
    assert_null(r);
    if (rc != MLPROTO_ERR_MALFORMED && rc != MLPROTO_ERR_FIELD_MISSING)
      fail_msg("truncation at %zu: unexpected %s", n, mlproto_errname(rc));
    free(e);
  }
}

static void test_every_kind(void **state) {
  (void)state;
  uint8_t zero[32] = {0};
  for (size_t k = 0; k < n_sample_kinds; k++) {
    uint8_t *env, hash[32];
    size_t len;
    assert_int_equal(MLPROTO_OK,
                     sample_build(&env, &len, hash, &F, sample_kinds[k], 1, zero, NULL, NULL));
    flip_every_bit(env, len);
    flip_field_bits(env, len);
    truncate_everywhere(env, len);
    /* The same for the erased forms (the erased marker is framing). */
    for (unsigned m = 1; m <= 3; m++) {
      uint8_t *e2;
      size_t l2;
      assert_int_equal(MLPROTO_OK, mlproto_envelope_erase(&e2, &l2, env, len, m));
      if (l2 == len) { /* nothing to erase for this kind/part */
        mlproto_free(e2);
        continue;
      }
      flip_every_bit(e2, l2);
      truncate_everywhere(e2, l2);
      mlproto_free(e2);
    }
    mlproto_free(env);
  }
  printf("tamper: codes per region (name count)\n");
  for (int rg = 0; rg < R_COUNT; rg++) {
    printf("  %-9s", region_name[rg]);
    for (int c = 0; c < 128; c++)
      if (hist[rg][c])
        printf(" %s %lu", mlproto_errname(-c), hist[rg][c]);
    printf("\n");
  }
}

/* Swap a part between two records: the header's hash catches it. */
static void swap_parts(const uint8_t *ca, size_t cla, const uint8_t *cb, size_t clb) {
  Mentorlog__V1__Envelope *a = mentorlog__v1__envelope__unpack(NULL, cla, ca);
  Mentorlog__V1__Envelope *b = mentorlog__v1__envelope__unpack(NULL, clb, cb);
  assert_non_null(a);
  assert_non_null(b);
  uint8_t *out = malloc(cla + clb);
  ProtobufCBinaryData keep = a->sealed;
  a->sealed = b->sealed;
  size_t n = mentorlog__v1__envelope__pack(a, out);
  expect_rejected(R_SEALED, out, n, "sealed swap", 0);
  a->sealed = keep;
  keep = a->disclosed;
  a->disclosed = b->disclosed;
  n = mentorlog__v1__envelope__pack(a, out);
  expect_rejected(R_DISCLOSED, out, n, "disclosed swap", 0);
  a->disclosed = keep;
  free(out);
  mentorlog__v1__envelope__free_unpacked(a, NULL);
  mentorlog__v1__envelope__free_unpacked(b, NULL);
}

static void test_swaps(void **state) {
  (void)state;
  uint8_t zero[32] = {0}, h[32];
  uint8_t *a, *b, *c;
  size_t la, lb, lc;
  assert_int_equal(MLPROTO_OK, sample_build(&a, &la, h, &F, MLPROTO_KIND_CONTACT, 1, zero, NULL, NULL));
  assert_int_equal(MLPROTO_OK, sample_build(&b, &lb, h, &F, MLPROTO_KIND_CONTACT, 1, zero, NULL, NULL));
  assert_int_equal(MLPROTO_OK, sample_build(&c, &lc, h, &F, MLPROTO_KIND_CONTACT, 1, zero,
                                            F.case_id2, F.case_key2));
  swap_parts(a, la, b, lb); /* same case */
  swap_parts(a, la, c, lc); /* different cases */
  mlproto_free(a);
  mlproto_free(b);
  mlproto_free(c);
}

/* ------------------------------------------------------------------ AAD -- */

static uint8_t new_id[16];
static void mut_record_id(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  memcpy(h->record_id.data, new_id, 16);
}
static void mut_case_id(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  memcpy(h->case_id.data, new_id, 16);
}
static uint8_t other_author[32];
static void mut_author(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  memcpy(h->author.data, other_author, 32);
}
static void mut_kind_note(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->kind = MENTORLOG__V1__KIND__NOTE;
  h->disclosed_hash.len = 0;
}

static void moved_sealed_fails(const uint8_t *env, size_t len, const mlproto_key *signer,
                               header_mutator mut, int drop_disclosed) {
  uint8_t *e2;
  size_t l2;
  ProtobufCBinaryData none = {0, NULL};
  assert_int_equal(MLPROTO_OK, sample_resign(&e2, &l2, env, len, signer, mut, NULL,
                                             drop_disclosed ? &none : NULL, NULL, 0));
  mlproto_record *r;
  /* The moved ciphertext still matches the (copied) sealed hash... */
  assert_int_equal(MLPROTO_OK, mlproto_record_verify(&r, e2, l2));
  mlproto_sealed *s = (mlproto_sealed *)1;
  /* ...but the AAD binds it to its original record. */
  assert_string_equal(mlproto_errname(mlproto_record_open_sealed(&s, r, F.case_key)),
                      "SEAL_OPEN_FAILED");
  assert_null(s);
  mlproto_record_free(r);
  free(e2);
}

static void test_moved_ciphertext_fails_to_open(void **state) {
  (void)state;
  uint8_t zero[32] = {0}, h[32], *env;
  size_t len;
  assert_int_equal(MLPROTO_OK, sample_build(&env, &len, h, &F, MLPROTO_KIND_CONTACT, 1, zero, NULL, NULL));
  /* Control: re-signing without a change opens fine. */
  uint8_t *e2;
  size_t l2;
  assert_int_equal(MLPROTO_OK, sample_resign(&e2, &l2, env, len, F.author, NULL, NULL, NULL, NULL, 0));
  mlproto_record *r;
  assert_int_equal(MLPROTO_OK, mlproto_record_verify(&r, e2, l2));
  mlproto_sealed *s;
  assert_int_equal(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
  mlproto_sealed_free(s);
  mlproto_record_free(r);
  free(e2);

  mlproto_random_id(new_id);
  moved_sealed_fails(env, len, F.author, mut_record_id, 0);
  moved_sealed_fails(env, len, F.author, mut_case_id, 0);
  mlproto_key *other;
  assert_int_equal(MLPROTO_OK, mlproto_key_generate(&other, MLPROTO_KEY_SIGN));
  assert_int_equal(MLPROTO_OK, mlproto_key_public(other_author, other));
  moved_sealed_fails(env, len, other, mut_author, 0);
  mlproto_key_free(other);
  moved_sealed_fails(env, len, F.author, mut_kind_note, 1);
  mlproto_free(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind),
      cmocka_unit_test(test_swaps),
      cmocka_unit_test(test_moved_ciphertext_fails_to_open),
  };
  return cmocka_run_group_tests(tests, sample_group_setup, sample_group_teardown);
}
