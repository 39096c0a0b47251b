/* Sealed plaintexts padded to size buckets (docs/record-format.md §7):
 * lengths that do not tell a name's or a note's length, every bucket
 * boundary, records of the unpadded layout still open, and plaintexts that
 * decrypt but are not a valid layout (marker, padding, bucket) are refused. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define F sample_fixture

#define assert_rc(expected, actual) assert_string_equal(mlproto_errname(expected), mlproto_errname(actual))

static const size_t buckets[] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 49152, 65536};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

/* Build and verify a record of kind with the sample payloads in p. */
static mlproto_record *build(uint8_t **env, size_t *len, sample_payloads *p, mlproto_kind kind) {
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  memcpy(rp.case_id, F.case_id, 16);
  rp.seq = 1;
  rp.kind = kind;
  assert_rc(MLPROTO_OK, mlproto_record_build(env, len, NULL, &rp, &p->d, &p->s, F.case_key, F.author));
  mlproto_record *r = NULL;
  assert_rc(MLPROTO_OK, mlproto_record_verify(&r, *env, *len));
  return r;
}

/* Decrypt r's sealed part by hand (malloc'd plaintext). */
static uint8_t *decrypt(const mlproto_record *r, size_t *ptl) {
  uint8_t aad[68], key[32];
  memcpy(aad, r->record_id, 16);
  memcpy(aad + 16, r->case_id, 16);
  memcpy(aad + 32, r->author, 32);
  aad[64] = 0, aad[65] = 0, aad[66] = 0, aad[67] = (uint8_t)r->kind;
  mlproto_key_export(key, F.case_key);
  *ptl = r->sealed_len - 40;
  uint8_t *pt = malloc(*ptl ? *ptl : 1);
  assert_non_null(pt);
  assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, r->sealed + 24,
                                                               r->sealed_len - 24, aad, sizeof aad,
                                                               r->sealed, key),
                   0);
  sodium_memzero(key, sizeof key);
  return pt;
}

/* A copy of env whose sealed part is nonce || Enc(pt) under the record's
 * AAD and case key (as any holder of the case key could make it), with
 * sealed_hash updated and re-signed by the author: it verifies. */
typedef struct hash_mut {
  uint8_t h[32];
} hash_mut;
static void set_sealed_hash(Mentorlog__V1__RecordHeader *h, void *ud) {
  h->sealed_hash = (ProtobufCBinaryData){32, ((hash_mut *)ud)->h};
}
static mlproto_record *reseal(uint8_t **out, size_t *out_len, const uint8_t *env, size_t len,
                              const mlproto_record *r, const uint8_t *pt, size_t ptl) {
  uint8_t aad[68], key[32];
  memcpy(aad, r->record_id, 16);
  memcpy(aad + 16, r->case_id, 16);
  memcpy(aad + 32, r->author, 32);
  aad[64] = 0, aad[65] = 0, aad[66] = 0, aad[67] = (uint8_t)r->kind;
  mlproto_key_export(key, F.case_key);
  uint8_t *s = malloc(24 + ptl + 16);
  assert_non_null(s);
  memcpy(s, r->sealed, 24);
  crypto_aead_xchacha20poly1305_ietf_encrypt(s + 24, NULL, pt, ptl, aad, sizeof aad, NULL, s, key);
  sodium_memzero(key, sizeof key);
  hash_mut hm;
  crypto_hash_sha256(hm.h, s, 24 + ptl + 16);
  ProtobufCBinaryData sb = {24 + ptl + 16, s};
  assert_rc(MLPROTO_OK, sample_resign(out, out_len, env, len, F.author, set_sealed_hash, &hm, NULL, &sb, 0));
  free(s);
  mlproto_record *nr = NULL;
  assert_rc(MLPROTO_OK, mlproto_record_verify(&nr, *out, *out_len));
  return nr;
}

static void test_bucket_function(void **state) {
  (void)state;
  for (size_t i = 0; i < N_BUCKETS; i++) {
    size_t b = buckets[i], next = i + 1 < N_BUCKETS ? buckets[i + 1] : 0;
    assert_int_equal(mlproto_sealed_bucket(b - 2), b);
    assert_int_equal(mlproto_sealed_bucket(b - 1), next);
    assert_int_equal(mlproto_sealed_bucket(b), next);
  }
  assert_int_equal(mlproto_sealed_bucket(0), 256);
  assert_int_equal(mlproto_sealed_bucket(MLPROTO_SEALED_PACKED_MAX), MLPROTO_SEALED_PLAIN_MAX);
  assert_int_equal(mlproto_sealed_bucket(MLPROTO_SEALED_PACKED_MAX + 1), 0);
  assert_int_equal(mlproto_sealed_bucket(SIZE_MAX), 0);
}

/* The whole point: a 1-byte and a 200-byte (the cap) citizen name give
 * sealed parts of one length. */
static void test_name_length_hidden(void **state) {
  (void)state;
  char name1[2] = "J", name200[201];
  memset(name200, 'n', 200);
  name200[200] = 0;
  size_t lens[2];
  const char *names[2] = {name1, name200};
  for (int k = 0; k < 2; k++) {
    sample_payloads p;
    sample_payloads_init(&p, &F, MLPROTO_KIND_CASE_OPEN);
    p.case_sealed.citizen_name = (char *)names[k];
    p.case_sealed.phone = (char *)"";
    p.case_sealed.address = (char *)"";
    uint8_t *env;
    size_t len;
    mlproto_record *r = build(&env, &len, &p, MLPROTO_KIND_CASE_OPEN);
    lens[k] = r->sealed_len;
    mlproto_sealed *s = NULL;
    assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
    assert_string_equal(s->case_open->citizen_name, names[k]);
    mlproto_sealed_free(s);
    mlproto_record_free(r);
    mlproto_free(env);
  }
  assert_int_equal(lens[0], lens[1]);
  assert_int_equal(lens[0], 256 + 40);
  /* The whole case at its caps (200 + 32 + 400 bytes) still fits 1024. */
  sample_payloads p;
  sample_payloads_init(&p, &F, MLPROTO_KIND_CASE_OPEN);
  char phone[33], addr[401];
  memset(phone, '1', 32), phone[32] = 0;
  memset(addr, 'a', 400), addr[400] = 0;
  p.case_sealed.citizen_name = name200;
  p.case_sealed.phone = phone;
  p.case_sealed.address = addr;
  uint8_t *env;
  size_t len;
  mlproto_record *r = build(&env, &len, &p, MLPROTO_KIND_CASE_OPEN);
  assert_int_equal(r->sealed_len, 1024 + 40);
  mlproto_record_free(r);
  mlproto_free(env);
}

/* A NOTE whose serialized Sealed is exactly want bytes (text of n 'x'). */
static size_t note_text_for(size_t want, char **text) {
  Mentorlog__V1__NoteSealed ns = MENTORLOG__V1__NOTE_SEALED__INIT;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_NOTE;
  s.note = &ns;
  char *t = malloc(want + 1);
  assert_non_null(t);
  for (size_t n = want > 8 ? want - 8 : 0; n <= want; n++) {
    memset(t, 'x', n);
    t[n] = 0;
    ns.text = t;
    if (protobuf_c_message_get_packed_size(&s.base) == want) {
      *text = t;
      return n;
    }
  }
  fail_msg("no note text packs to %zu bytes", want);
  return 0;
}

/* Every bucket boundary through build, open and a hand decryption:
 * a serialized Sealed of bucket-2 bytes fills the bucket exactly (marker +
 * payload + 0x80); bucket-1 and bucket take the next one. */
static void test_bucket_boundaries(void **state) {
  (void)state;
  for (size_t i = 0; i < N_BUCKETS; i++) {
    size_t b = buckets[i];
    for (size_t d = 0; d <= 2; d++) {
      size_t want = b - 2 + d;
      size_t expect = i + 1 < N_BUCKETS ? (d ? buckets[i + 1] : b) : (d ? 0 : b);
      char *text = NULL;
      note_text_for(want, &text);
      sample_payloads p;
      sample_payloads_init(&p, &F, MLPROTO_KIND_NOTE);
      p.note_sealed.text = text;
      if (strlen(text) > 60000) {
        /* Over NoteSealed's cap: the field caps refuse before any padding,
         * so TOO_LARGE cannot be reached by a valid Sealed. */
        mlproto_record_params rp;
        memset(&rp, 0, sizeof rp);
        mlproto_random_id(rp.record_id);
        memcpy(rp.case_id, F.case_id, 16);
        rp.seq = 1;
        rp.kind = MLPROTO_KIND_NOTE;
        uint8_t *out = NULL;
        size_t ol;
        assert_rc(MLPROTO_ERR_FIELD_SIZE,
                  mlproto_record_build(&out, &ol, NULL, &rp, &p.d, &p.s, F.case_key, F.author));
        assert_null(out);
        free(text);
        continue;
      }
      assert_int_equal(mlproto_sealed_bucket(want), expect);
      uint8_t *env;
      size_t len;
      mlproto_record *r = build(&env, &len, &p, MLPROTO_KIND_NOTE);
      assert_int_equal(r->sealed_len, expect + 40);
      size_t ptl;
      uint8_t *pt = decrypt(r, &ptl);
      assert_int_equal(ptl, expect);
      assert_int_equal(pt[0], 0x00);
      assert_int_equal(pt[1 + want], 0x80);
      for (size_t k = 2 + want; k < ptl; k++)
        if (pt[k] != 0)
          fail_msg("bucket %zu, payload %zu: byte %zu of the padding is %02x", b, want, k, pt[k]);
      mlproto_sealed *s = NULL;
      assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
      assert_string_equal(s->note->text, text);
      mlproto_sealed_free(s);
      free(pt);
      mlproto_record_free(r);
      mlproto_free(env);
      free(text);
    }
  }
}

/* Records sealed before padding (plaintext = protobuf(Sealed)) open, for
 * every kind with a sealed part; re-padding by hand gives the same again. */
static void test_unpadded_layout_opens(void **state) {
  (void)state;
  for (size_t i = 0; i < n_sample_kinds; i++) {
    mlproto_kind kind = sample_kinds[i];
    if (!mlproto_kind_has_sealed(kind))
      continue;
    sample_payloads p;
    sample_payloads_init(&p, &F, kind);
    if (!p.has_sealed)
      continue;
    uint8_t *env;
    size_t len;
    mlproto_record *r = build(&env, &len, &p, kind);
    size_t n = protobuf_c_message_get_packed_size(&p.s.base);
    uint8_t *old = malloc(n);
    assert_non_null(old);
    protobuf_c_message_pack(&p.s.base, old);
    assert_true(old[0] != 0x00);
    uint8_t *e2;
    size_t l2;
    mlproto_record *r2 = reseal(&e2, &l2, env, len, r, old, n);
    assert_int_equal(r2->sealed_len, n + 40); /* unpadded */
    mlproto_sealed *s = NULL;
    assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r2, F.case_key));
    assert_int_equal((uint32_t)s->payload_case, kind);
    size_t n2 = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *re = malloc(n2);
    assert_non_null(re);
    protobuf_c_message_pack(&s->base, re);
    assert_int_equal(n2, n);
    assert_memory_equal(re, old, n);
    mlproto_sealed_free(s);
    free(re);
    free(old);
    mlproto_record_free(r2);
    free(e2);
    mlproto_record_free(r);
    mlproto_free(env);
  }
}

/* Plaintexts that decrypt (a key holder made them) but are not a layout. */
static void test_bad_layouts_refused(void **state) {
  (void)state;
  sample_payloads p;
  sample_payloads_init(&p, &F, MLPROTO_KIND_CONTACT);
  uint8_t *env;
  size_t len;
  mlproto_record *r = build(&env, &len, &p, MLPROTO_KIND_CONTACT);
  size_t ptl;
  uint8_t *pt = decrypt(r, &ptl);
  size_t n = protobuf_c_message_get_packed_size(&p.s.base);
  assert_int_equal(ptl, 256);
  assert_true(n + 2 <= 256);

  uint8_t *b = calloc(1, 1024);
  assert_non_null(b);
  for (int c = 0; c < 7; c++) {
    size_t bl = 256;
    memcpy(b, pt, 256);
    memset(b + 256, 0, 1024 - 256);
    const char *what = "";
    int expect = MLPROTO_ERR_MALFORMED;
    switch (c) {
    case 0: what = "marker 00 -> 01"; b[0] = 0x01; break;
    case 1: what = "marker 00 -> 80"; b[0] = 0x80; break;
    case 2: what = "no 80 after the payload"; b[1 + n] = 0x00; break;
    case 3: what = "a stray byte in the padding"; b[255] = 0x01; break;
    case 4: what = "padded to 512 though 256 holds it"; bl = 512; break;
    case 5: what = "padded to 300: not a bucket"; bl = 300; break;
    case 6: what = "the marker alone"; bl = 1; break;
    }
    uint8_t *e2;
    size_t l2;
    mlproto_record *r2 = reseal(&e2, &l2, env, len, r, b, bl);
    mlproto_sealed *s = NULL;
    int rc = mlproto_record_open_sealed(&s, r2, F.case_key);
    if (strcmp(mlproto_errname(rc), mlproto_errname(expect)) != 0)
      fail_msg("%s: expected %s, got %s", what, mlproto_errname(expect), mlproto_errname(rc));
    assert_null(s);
    mlproto_record_free(r2);
    free(e2);
  }
  /* The marker is under the AEAD: a flipped first ciphertext byte (the
   * marker's) does not open at all. */
  r->sealed[24] ^= 0x01;
  mlproto_sealed *s = NULL;
  assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED, mlproto_record_open_sealed(&s, r, F.case_key));
  assert_null(s);
  free(b);
  free(pt);
  mlproto_record_free(r);
  mlproto_free(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket_function),
      cmocka_unit_test(test_name_length_hidden),
      cmocka_unit_test(test_bucket_boundaries),
      cmocka_unit_test(test_unpadded_layout_opens),
      cmocka_unit_test(test_bad_layouts_refused),
  };
  return cmocka_run_group_tests(tests, sample_group_setup, sample_group_teardown);
}
