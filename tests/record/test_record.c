/* Records: round trip of every kind, erasure, caps, formats, kind rules,
 * canonical encoding, peek/hash, and allocation-failure torture. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "samples.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define F sample_fixture /* samples.h: made by sample_group_setup */

#define assert_rc(expected, actual) assert_string_equal(mlproto_errname(expected), mlproto_errname(actual))

static uint8_t *build_kind(size_t *len, mlproto_kind kind, uint8_t hash[32]) {
  uint8_t *env = NULL, zero[32] = {0};
  assert_rc(MLPROTO_OK, sample_build(&env, len, hash, &F, kind, 1, zero, NULL, NULL));
  return env;
}

static void test_round_trip_every_kind(void **state) {
  (void)state;
  uint8_t prev[32] = {0};
  for (size_t i = 0; i < n_sample_kinds; i++) {
    mlproto_kind kind = sample_kinds[i];
    uint8_t *env, hash[32];
    size_t len;
    uint64_t seq = i + 1;
    assert_rc(MLPROTO_OK, sample_build(&env, &len, hash, &F, kind, seq, prev, NULL, NULL));
    assert_true(len <= MLPROTO_ENVELOPE_MAX);
    mlproto_record *r;
    assert_rc(MLPROTO_OK, mlproto_record_verify(&r, env, len));
    assert_int_equal(r->kind, kind);
    assert_int_equal(r->seq, seq);
    assert_int_equal(r->format, 1);
    assert_memory_equal(r->prev, prev, 32);
    assert_memory_equal(r->hash, hash, 32);
    uint8_t pk[32];
    assert_rc(MLPROTO_OK,
              mlproto_key_public(pk, mlproto_kind_is_server_event(kind) ? F.server : F.author));
    assert_memory_equal(r->author, pk, 32);
    assert_non_null(r->disclosed);
    assert_int_equal(r->disclosed->payload_case, kind);
    assert_true(r->flags & MLPROTO_RECORD_DISCLOSED);

    uint8_t h2[32];
    assert_rc(MLPROTO_OK, mlproto_record_hash(h2, env, len));
    assert_memory_equal(h2, hash, 32);
    mlproto_record_peek pkf;
    assert_rc(MLPROTO_OK, mlproto_record_peek_fields(&pkf, env, len));
    assert_memory_equal(pkf.record_id, r->record_id, 16);
    assert_memory_equal(pkf.case_id, r->case_id, 16);
    assert_memory_equal(pkf.author, r->author, 32);
    assert_int_equal(pkf.seq, seq);
    assert_int_equal(pkf.kind, kind);

    if (mlproto_kind_has_sealed(kind)) {
      assert_true(r->flags & MLPROTO_RECORD_SEALED);
      mlproto_sealed *s;
      assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
      assert_int_equal(s->payload_case, kind);
      sample_payloads p;
      sample_payloads_init(&p, &F, kind);
      uint8_t a[4096], b[4096];
      size_t na = protobuf_c_message_pack(&s->base, a), nb = protobuf_c_message_pack(&p.s.base, b);
      assert_int_equal(na, nb);
      assert_memory_equal(a, b, na);
      mlproto_sealed_free(s);
      /* Wrong key, wrong key type. */
      assert_rc(MLPROTO_ERR_SEAL_OPEN_FAILED, mlproto_record_open_sealed(&s, r, F.case_key2));
      assert_null(s);
      assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_record_open_sealed(&s, r, F.author));
    } else {
      assert_false(r->flags & (MLPROTO_RECORD_SEALED | MLPROTO_RECORD_SEALED_ERASED));
      mlproto_sealed *s;
      assert_rc(MLPROTO_ERR_FIELD_MISSING, mlproto_record_open_sealed(&s, r, F.case_key));
    }
    if (kind == MLPROTO_KIND_CONTACT) {
      assert_int_equal(r->disclosed->contact->duration_minutes, 60);
      assert_int_equal(r->disclosed->contact->channel, MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT);
    }
    memcpy(prev, hash, 32);
    mlproto_record_free(r);
    mlproto_free(env);
  }
}

static void test_erased_parts_still_verify(void **state) {
  (void)state;
  size_t len;
  uint8_t hash[32];
  uint8_t *env = build_kind(&len, MLPROTO_KIND_CONTACT, hash);
  static const unsigned masks[] = {MLPROTO_PART_DISCLOSED, MLPROTO_PART_SEALED,
                                   MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED};
  for (size_t i = 0; i < 3; i++) {
    uint8_t *e2;
    size_t l2;
    assert_rc(MLPROTO_OK, mlproto_envelope_erase(&e2, &l2, env, len, masks[i]));
    assert_true(l2 < len);
    mlproto_record *r;
    assert_rc(MLPROTO_OK, mlproto_record_verify(&r, e2, l2));
    assert_memory_equal(r->hash, hash, 32);
    if (masks[i] & MLPROTO_PART_DISCLOSED) {
      assert_true(r->flags & MLPROTO_RECORD_DISCLOSED_ERASED);
      assert_null(r->disclosed);
    } else {
      assert_non_null(r->disclosed);
    }
    mlproto_sealed *s;
    if (masks[i] & MLPROTO_PART_SEALED) {
      assert_true(r->flags & MLPROTO_RECORD_SEALED_ERASED);
      assert_rc(MLPROTO_ERR_SEALED_ERASED, mlproto_record_open_sealed(&s, r, F.case_key));
    } else {
      assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
      mlproto_sealed_free(s);
    }
    mlproto_record_free(r);
    /* Erasing again changes nothing. */
    uint8_t *e3;
    size_t l3;
    assert_rc(MLPROTO_OK, mlproto_envelope_erase(&e3, &l3, e2, l2, masks[i]));
    assert_int_equal(l3, l2);
    assert_memory_equal(e3, e2, l2);
    mlproto_free(e3);
    /* Without its erased marker the same bytes are a damaged envelope. */
    assert_int_equal(e2[l2 - 2], (5 << 3));
    assert_rc(MLPROTO_ERR_FIELD_MISSING, mlproto_record_verify(&r, e2, l2 - 2));
    assert_null(r);
    /* A marker on a part that is present is malformed. */
    mlproto_free(e2);
  }
  /* Marker for a present part. */
  uint8_t *e4 = malloc(len + 2);
  memcpy(e4, env, len);
  e4[len] = 5 << 3;
  e4[len + 1] = 1;
  mlproto_record *r;
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, e4, len + 2));
  e4[len + 1] = 4; /* unknown bit */
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, e4, len + 2));
  e4[len + 1] = 0; /* non-canonical zero */
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, e4, len + 2));
  free(e4);
  mlproto_free(env);
}

/* --------------------------------------------------------- crafted headers */

static void mut_format2(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->format = 2;
}
static void mut_kind(Mentorlog__V1__RecordHeader *h, void *ud) {
  h->kind = (Mentorlog__V1__Kind)(intptr_t)ud;
}
static void mut_seq0(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->seq = 0;
}
static void mut_seq2(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->seq = 2; /* prev stays zero: must be refused */
}
static void mut_prev_nonzero(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->prev.data[5] = 1; /* seq stays 1 */
}
static void mut_short_id(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->record_id.len = 15;
}
static void mut_no_author(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  h->author.len = 0;
}

static uint8_t sup_ids[17][16];
static ProtobufCBinaryData sup_bd[17];
static void mut_supersedes(Mentorlog__V1__RecordHeader *h, void *ud) {
  size_t n = (size_t)(intptr_t)ud;
  for (size_t i = 0; i < n; i++)
    sup_bd[i] = (ProtobufCBinaryData){16, sup_ids[i]};
  h->n_supersedes = n;
  h->supersedes = n ? sup_bd : NULL;
}
static void mut_supersede_self(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  memcpy(sup_ids[0], h->record_id.data, 16);
  sup_bd[0] = (ProtobufCBinaryData){16, sup_ids[0]};
  h->n_supersedes = 1;
  h->supersedes = sup_bd;
}
static void mut_supersede_short(Mentorlog__V1__RecordHeader *h, void *ud) {
  (void)ud;
  sup_bd[0] = (ProtobufCBinaryData){15, sup_ids[0]};
  h->n_supersedes = 1;
  h->supersedes = sup_bd;
}

static int verify_resigned(mlproto_kind kind, header_mutator mut, void *ud) {
  size_t len, l2;
  uint8_t hash[32], *e2;
  uint8_t *env = build_kind(&len, kind, hash);
  assert_rc(MLPROTO_OK, sample_resign(&e2, &l2, env, len, mlproto_kind_is_server_event(kind)
                                                               ? F.server : F.author,
                                      mut, ud, NULL, NULL, 0));
  mlproto_record *r = (mlproto_record *)1;
  int rc = mlproto_record_verify(&r, e2, l2);
  if (rc == MLPROTO_OK)
    mlproto_record_free(r);
  else
    assert_null(r);
  free(e2);
  mlproto_free(env);
  return rc;
}

static void test_header_rules(void **state) {
  (void)state;
  assert_rc(MLPROTO_OK, verify_resigned(MLPROTO_KIND_CONTACT, NULL, NULL));
  assert_rc(MLPROTO_ERR_UNSUPPORTED_FORMAT, verify_resigned(MLPROTO_KIND_CONTACT, mut_format2, NULL));
  assert_rc(MLPROTO_ERR_UNKNOWN_KIND, verify_resigned(MLPROTO_KIND_CONTACT, mut_kind, (void *)(intptr_t)42));
  assert_rc(MLPROTO_ERR_UNKNOWN_KIND, verify_resigned(MLPROTO_KIND_CONTACT, mut_kind, (void *)(intptr_t)0));
  /* A valid kind whose payload is another kind's. */
  assert_rc(MLPROTO_ERR_PAYLOAD_KIND_MISMATCH,
            verify_resigned(MLPROTO_KIND_CONTACT, mut_kind, (void *)(intptr_t)MLPROTO_KIND_ABSENCE));
  /* A sealed part on a kind that has none. */
  assert_rc(MLPROTO_ERR_FIELD_RANGE,
            verify_resigned(MLPROTO_KIND_CONTACT, mut_kind, (void *)(intptr_t)MLPROTO_KIND_KEY_GRANT));
  assert_rc(MLPROTO_ERR_FIELD_RANGE, verify_resigned(MLPROTO_KIND_CONTACT, mut_seq0, NULL));
  assert_rc(MLPROTO_ERR_FIELD_RANGE, verify_resigned(MLPROTO_KIND_CONTACT, mut_seq2, NULL));
  assert_rc(MLPROTO_ERR_FIELD_RANGE, verify_resigned(MLPROTO_KIND_CONTACT, mut_prev_nonzero, NULL));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, verify_resigned(MLPROTO_KIND_CONTACT, mut_short_id, NULL));
  assert_rc(MLPROTO_ERR_FIELD_MISSING, verify_resigned(MLPROTO_KIND_CONTACT, mut_no_author, NULL));
  for (size_t i = 0; i < 17; i++)
    randombytes_buf(sup_ids[i], 16);
  assert_rc(MLPROTO_OK, verify_resigned(MLPROTO_KIND_CONTACT, mut_supersedes, (void *)(intptr_t)16));
  assert_rc(MLPROTO_ERR_FIELD_RANGE,
            verify_resigned(MLPROTO_KIND_CONTACT, mut_supersedes, (void *)(intptr_t)17));
  assert_rc(MLPROTO_ERR_FIELD_RANGE, verify_resigned(MLPROTO_KIND_CONTACT, mut_supersede_self, NULL));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, verify_resigned(MLPROTO_KIND_CONTACT, mut_supersede_short, NULL));
}

static void test_payload_kind_mismatch_and_missing(void **state) {
  (void)state;
  size_t len, l2, dl;
  uint8_t hash[32], *e2, *db;
  uint8_t *env = build_kind(&len, MLPROTO_KIND_CONTACT, hash);
  /* A contact header whose (correctly hashed) disclosed part is an absence. */
  sample_payloads p;
  sample_payloads_init(&p, &F, MLPROTO_KIND_ABSENCE);
  assert_rc(MLPROTO_OK, sample_disclosed_bytes(&db, &dl, &p.d));
  ProtobufCBinaryData dbd = {dl, db};
  assert_rc(MLPROTO_OK, sample_resign(&e2, &l2, env, len, F.author, NULL, NULL, &dbd, NULL, 0));
  mlproto_record *r;
  /* The header still commits to the old hash. */
  assert_rc(MLPROTO_ERR_DISCLOSED_HASH_MISMATCH, mlproto_record_verify(&r, e2, l2));
  free(e2);
  free(db);

  /* Build-side checks. */
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  memcpy(rp.case_id, F.case_id, 16);
  rp.seq = 1;
  rp.kind = MLPROTO_KIND_CONTACT;
  uint8_t *out;
  size_t ol;
  assert_rc(MLPROTO_ERR_PAYLOAD_KIND_MISMATCH,
            mlproto_record_build(&out, &ol, NULL, &rp, &p.d, NULL, NULL, F.author));
  assert_null(out);
  assert_rc(MLPROTO_ERR_FIELD_MISSING,
            mlproto_record_build(&out, &ol, NULL, &rp, NULL, NULL, NULL, F.author));
  /* A NOTE may go without a disclosed part. */
  sample_payloads pn;
  sample_payloads_init(&pn, &F, MLPROTO_KIND_NOTE);
  rp.kind = MLPROTO_KIND_NOTE;
  assert_rc(MLPROTO_OK, mlproto_record_build(&out, &ol, NULL, &rp, NULL, &pn.s, F.case_key, F.author));
  assert_rc(MLPROTO_OK, mlproto_record_verify(&r, out, ol));
  assert_null(r->disclosed);
  assert_int_equal(r->flags, MLPROTO_RECORD_SEALED);
  mlproto_record_free(r);
  mlproto_free(out);
  /* Sealed on a kind without one; wrong keys. */
  sample_payloads pc;
  sample_payloads_init(&pc, &F, MLPROTO_KIND_KEY_GRANT);
  rp.kind = MLPROTO_KIND_KEY_GRANT;
  assert_rc(MLPROTO_ERR_FIELD_RANGE,
            mlproto_record_build(&out, &ol, NULL, &rp, &pc.d, &pn.s, F.case_key, F.author));
  rp.kind = MLPROTO_KIND_NOTE;
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_record_build(&out, &ol, NULL, &rp, NULL, &pn.s, F.case_key, F.case_key));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_record_build(&out, &ol, NULL, &rp, NULL, &pn.s, F.author, F.author));
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_record_build(&out, &ol, NULL, &rp, NULL, &pn.s, NULL, F.author));
  mlproto_free(env);
}

/* Each mutation of a valid payload must be refused by build with the code. */
typedef void (*payload_mut)(sample_payloads *p);
static void m_dur0(sample_payloads *p) { p->contact.duration_minutes = 0; }
static void m_dur1441(sample_payloads *p) { p->contact.duration_minutes = 1441; }
static void m_chan0(sample_payloads *p) { p->contact.channel = 0; }
static void m_chan8(sample_payloads *p) { p->contact.channel = 8; }
static void m_outcome6(sample_payloads *p) { p->contact.outcome = 6; }
static void m_transport(sample_payloads *p) { p->contact.transport_minutes = 1441; }
static void m_start1999(sample_payloads *p) { p->contact.start_ms = 946684799999ull; }
static void m_note_big(sample_payloads *p) {
  static char big[32770];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  p->contact_sealed.note = big;
}
static void m_bad_utf8(sample_payloads *p) { p->contact_sealed.note = (char *)"caf\xc3"; }
static void m_topic_ctrl(sample_payloads *p) { p->topics[0] = (char *)"a\nb"; }
static void m_span(sample_payloads *p) { p->grant.end_day = p->grant.start_day + 185; }
static void m_reversed(sample_payloads *p) { p->grant.end_day = p->grant.start_day - 1; }
static void m_jc_chars(sample_payloads *p) { p->grant.jobcentre_id = (char *)"kk 101"; }
static void m_jc_empty(sample_payloads *p) { p->grant.jobcentre_id = (char *)""; }
static void m_ref_long(sample_payloads *p) {
  p->grant.case_ref = (char *)"0123456789012345678901234567890123456789012345678901234567890123X";
}
static void m_basis_nl(sample_payloads *p) { p->grant.legal_basis = (char *)"LAB\n78"; }
static void m_period3(sample_payloads *p) { p->rule.period_weeks = 3; }
static void m_dup_chan(sample_payloads *p) { p->channels[1] = p->channels[0]; }
static void m_no_rule(sample_payloads *p) { p->grant.rule = NULL; }
static void m_abs_ref(sample_payloads *p) { p->absence.approved = 0; }
static void m_abs_kind(sample_payloads *p) { p->absence.kind = 0; }

static void check_build_refuses(mlproto_kind kind, payload_mut mut, int expected) {
  sample_payloads p;
  sample_payloads_init(&p, &F, kind);
  mut(&p);
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  memcpy(rp.case_id, F.case_id, 16);
  rp.seq = 1;
  rp.kind = kind;
  uint8_t *out = (uint8_t *)1;
  size_t ol;
  assert_rc(expected, mlproto_record_build(&out, &ol, NULL, &rp, &p.d, p.has_sealed ? &p.s : NULL,
                                           F.case_key, F.author));
  assert_null(out);
}

static void test_payload_ranges(void **state) {
  (void)state;
  check_build_refuses(MLPROTO_KIND_CONTACT, m_dur0, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_dur1441, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_chan0, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_chan8, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_outcome6, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_transport, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_start1999, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_note_big, MLPROTO_ERR_FIELD_SIZE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_bad_utf8, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_CONTACT, m_topic_ctrl, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_span, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_reversed, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_UPDATE, m_jc_chars, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_jc_empty, MLPROTO_ERR_FIELD_MISSING);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_ref_long, MLPROTO_ERR_FIELD_SIZE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_basis_nl, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_period3, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_dup_chan, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_GRANT_OPEN, m_no_rule, MLPROTO_ERR_FIELD_MISSING);
  check_build_refuses(MLPROTO_KIND_ABSENCE, m_abs_ref, MLPROTO_ERR_FIELD_RANGE);
  check_build_refuses(MLPROTO_KIND_ABSENCE, m_abs_kind, MLPROTO_ERR_FIELD_RANGE);
}

static void test_size_caps(void **state) {
  (void)state;
  mlproto_record *r;
  uint8_t *big = calloc(1, MLPROTO_ENVELOPE_MAX + 1);
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_record_verify(&r, big, MLPROTO_ENVELOPE_MAX + 1));
  mlproto_record_peek pk;
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_record_peek_fields(&pk, big, MLPROTO_ENVELOPE_MAX + 1));
  /* A header of 1025 bytes (framing: 0x0a, varint 1025, bytes; then a signature). */
  size_t o = 0;
  big[o++] = 0x0a;
  big[o++] = (uint8_t)(1025 & 0x7f) | 0x80;
  big[o++] = (uint8_t)(1025 >> 7);
  o += 1025;
  big[o++] = 0x12;
  big[o++] = 64;
  o += 64;
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_record_verify(&r, big, o));
  free(big);
  /* A disclosed part of 4097 bytes (checked before anything else). */
  size_t len, l2;
  uint8_t hash[32], *e2;
  uint8_t *env = build_kind(&len, MLPROTO_KIND_GRANT_CLOSE, hash);
  uint8_t *dbig = calloc(1, MLPROTO_DISCLOSED_MAX + 1);
  ProtobufCBinaryData dbd = {MLPROTO_DISCLOSED_MAX + 1, dbig};
  assert_rc(MLPROTO_OK, sample_resign(&e2, &l2, env, len, F.author, NULL, NULL, &dbd, NULL, 0));
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_record_verify(&r, e2, l2));
  free(e2);
  free(dbig);
  mlproto_free(env);

  /* Sealed plaintext over 64 KiB: TOO_LARGE at build. A NOTE of 60000 bytes
   * plus a contact note of 32768 are within their own caps. */
  sample_payloads p;
  sample_payloads_init(&p, &F, MLPROTO_KIND_NOTE);
  char *text = malloc(60001);
  memset(text, 'x', 60000);
  text[60000] = 0;
  p.note_sealed.text = text;
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  memcpy(rp.case_id, F.case_id, 16);
  rp.seq = 1;
  rp.kind = MLPROTO_KIND_NOTE;
  uint8_t *out;
  size_t ol;
  assert_rc(MLPROTO_OK, mlproto_record_build(&out, &ol, NULL, &rp, &p.d, &p.s, F.case_key, F.author));
  assert_rc(MLPROTO_OK, mlproto_record_verify(&r, out, ol));
  mlproto_sealed *s;
  assert_rc(MLPROTO_OK, mlproto_record_open_sealed(&s, r, F.case_key));
  assert_int_equal(strlen(s->note->text), 60000);
  mlproto_sealed_free(s);
  mlproto_record_free(r);
  mlproto_free(out);
  text[60000] = 'x';
  char *t2 = malloc(60002);
  memset(t2, 'x', 60001);
  t2[60001] = 0;
  p.note_sealed.text = t2;
  assert_rc(MLPROTO_ERR_FIELD_SIZE,
            mlproto_record_build(&out, &ol, NULL, &rp, &p.d, &p.s, F.case_key, F.author));
  free(t2);
  free(text);

  /* KEY_GRANT with 33 recipients is refused. */
  sample_payloads kg;
  sample_payloads_init(&kg, &F, MLPROTO_KIND_KEY_GRANT);
  Mentorlog__V1__SealedKey keys[33], *kp[33];
  uint8_t recips[33][32];
  for (int i = 0; i < 33; i++) {
    keys[i] = kg.sealed_key;
    randombytes_buf(recips[i], 32);
    keys[i].recipient = (ProtobufCBinaryData){32, recips[i]};
    kp[i] = &keys[i];
  }
  kg.key_grant.keys = kp;
  kg.key_grant.n_keys = 33;
  rp.kind = MLPROTO_KIND_KEY_GRANT;
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_record_build(&out, &ol, NULL, &rp, &kg.d, NULL, NULL, F.author));
  kg.key_grant.n_keys = 32;
  assert_rc(MLPROTO_OK, mlproto_record_build(&out, &ol, NULL, &rp, &kg.d, NULL, NULL, F.author));
  assert_true(ol < MLPROTO_DISCLOSED_MAX + 200);
  mlproto_free(out);
  keys[1].recipient = keys[0].recipient;
  assert_rc(MLPROTO_ERR_FIELD_RANGE, mlproto_record_build(&out, &ol, NULL, &rp, &kg.d, NULL, NULL, F.author));
}

static void test_canonical_framing(void **state) {
  (void)state;
  size_t len;
  uint8_t hash[32];
  uint8_t *env = build_kind(&len, MLPROTO_KIND_CONTACT, hash);
  mlproto_record *r;
  /* Unknown trailing field 6. */
  uint8_t *e = malloc(len + 2);
  memcpy(e, env, len);
  e[len] = 6 << 3;
  e[len + 1] = 1;
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, e, len + 2));
  /* Duplicate header field appended. */
  free(e);
  /* Overlong length varint for the signature: 0x40 written as 0xc0 0x00. */
  size_t vlen = (env[1] & 0x80) ? 2 : 1;
  size_t hl = (env[1] & 0x7f) | (vlen == 2 ? (size_t)env[2] << 7 : 0);
  size_t so = 1 + vlen + hl;
  assert_int_equal(env[so], 0x12);
  assert_int_equal(env[so + 1], 0x40);
  e = malloc(len + 1);
  memcpy(e, env, so + 1);
  e[so + 1] = 0xc0;
  e[so + 2] = 0x00;
  memcpy(e + so + 3, env + so + 2, len - so - 2);
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, e, len + 1));
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_peek_fields(&(mlproto_record_peek){0}, e, len + 1));
  free(e);
  /* An empty envelope and garbage. */
  assert_rc(MLPROTO_ERR_FIELD_MISSING, mlproto_record_verify(&r, env, 0));
  static const uint8_t junk[] = {0xff, 0xff, 0xff};
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_verify(&r, junk, sizeof junk));
  mlproto_record_peek pk;
  assert_rc(MLPROTO_ERR_MALFORMED, mlproto_record_peek_fields(&pk, junk, sizeof junk));
  mlproto_free(env);
}

/* ------------------------------------------------- allocation failure loop */

static void test_out_of_memory(void **state) {
  (void)state;
  size_t len;
  uint8_t hash[32];
  uint8_t *env = build_kind(&len, MLPROTO_KIND_CONTACT, hash);
  mlproto_set_allocator(&tu_oom_allocator);
  int done = 0;
  for (long n = 0; !done && n < 1000; n++) {
    tu_oom_budget = n;
    tu_oom_live = 0;
    mlproto_record *r = NULL;
    int rc = mlproto_record_verify(&r, env, len);
    if (rc == MLPROTO_OK) {
      mlproto_sealed *s = NULL;
      rc = mlproto_record_open_sealed(&s, r, F.case_key);
      if (rc == MLPROTO_OK) {
        done = 1;
        mlproto_sealed_free(s);
      } else {
        assert_rc(MLPROTO_ERR_OUT_OF_MEMORY, rc);
        assert_null(s);
      }
      mlproto_record_free(r);
    } else {
      assert_rc(MLPROTO_ERR_OUT_OF_MEMORY, rc);
      assert_null(r);
    }
    assert_int_equal(tu_oom_live, 0);
  }
  assert_true(done);
  /* Build. */
  sample_payloads p;
  sample_payloads_init(&p, &F, MLPROTO_KIND_CONTACT);
  mlproto_record_params rp;
  memset(&rp, 0, sizeof rp);
  mlproto_random_id(rp.record_id);
  memcpy(rp.case_id, F.case_id, 16);
  rp.seq = 1;
  rp.kind = MLPROTO_KIND_CONTACT;
  done = 0;
  for (long n = 0; !done && n < 100; n++) {
    tu_oom_budget = n;
    tu_oom_live = 0;
    uint8_t *out = NULL;
    size_t ol;
    int rc = mlproto_record_build(&out, &ol, NULL, &rp, &p.d, &p.s, F.case_key, F.author);
    if (rc == MLPROTO_OK) {
      done = 1;
      mlproto_free(out);
    } else {
      assert_rc(MLPROTO_ERR_OUT_OF_MEMORY, rc);
      assert_null(out);
    }
    assert_int_equal(tu_oom_live, 0);
  }
  assert_true(done);
  tu_oom_budget = -1;
  mlproto_set_allocator(NULL);
  mlproto_free(env);
}

static void test_kind_helpers(void **state) {
  (void)state;
  assert_string_equal(mlproto_kind_name(MLPROTO_KIND_CONTACT), "contact");
  assert_string_equal(mlproto_kind_name(MLPROTO_KIND_RETENTION_PURGE), "retention_purge");
  assert_string_equal(mlproto_kind_name(10), "unknown");
  assert_false(mlproto_kind_valid(0));
  assert_false(mlproto_kind_valid(10));
  assert_false(mlproto_kind_valid(99));
  assert_true(mlproto_kind_valid(100));
  assert_false(mlproto_kind_valid(104));
  assert_true(mlproto_kind_is_server_event(MLPROTO_KIND_ESCROW_KEY));
  assert_false(mlproto_kind_has_sealed(MLPROTO_KIND_KEY_GRANT));
  assert_true(mlproto_kind_needs_disclosed(MLPROTO_KIND_CONTACT));
  assert_false(mlproto_kind_needs_disclosed(MLPROTO_KIND_NOTE));
}

/* verify_stored: the same record as verify for the stored bytes and hash; any
 * change of the bytes, or a different hash, is refused with a specific code. */
static void test_verify_stored(void **state) {
  (void)state;
  size_t len;
  uint8_t hash[32];
  uint8_t *env = build_kind(&len, MLPROTO_KIND_CONTACT, hash);
  mlproto_record *a = NULL, *b = NULL;
  assert_rc(MLPROTO_OK, mlproto_record_verify(&a, env, len));
  assert_rc(MLPROTO_OK, mlproto_record_verify_stored(&b, env, len, hash));
  assert_memory_equal(a->hash, b->hash, 32);
  assert_int_equal(a->flags, b->flags);
  assert_int_equal(a->disclosed->contact->duration_minutes, b->disclosed->contact->duration_minutes);
  assert_int_equal(a->sealed_len, b->sealed_len);
  mlproto_record_free(a);
  mlproto_record_free(b);
  /* another hash */
  uint8_t other[32];
  memcpy(other, hash, 32);
  other[31] ^= 1;
  b = (mlproto_record *)1;
  assert_rc(MLPROTO_ERR_BAD_SIGNATURE, mlproto_record_verify_stored(&b, env, len, other));
  assert_null(b);
  assert_rc(MLPROTO_ERR_INVALID_ARGUMENT, mlproto_record_verify_stored(&b, env, len, NULL));
  /* every single-bit change of the stored bytes is refused */
  size_t refused = 0;
  for (size_t i = 0; i < len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      env[i] ^= (uint8_t)(1u << bit);
      int rc = mlproto_record_verify_stored(&b, env, len, hash);
      env[i] ^= (uint8_t)(1u << bit);
      assert_int_not_equal(rc, MLPROTO_OK);
      assert_null(b);
      refused++;
    }
  }
  assert_int_equal(refused, 8 * len);
  mlproto_free(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_every_kind),
      cmocka_unit_test(test_erased_parts_still_verify),
      cmocka_unit_test(test_header_rules),
      cmocka_unit_test(test_payload_kind_mismatch_and_missing),
      cmocka_unit_test(test_payload_ranges),
      cmocka_unit_test(test_size_caps),
      cmocka_unit_test(test_canonical_framing),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_kind_helpers),
      cmocka_unit_test(test_verify_stored),
  };
  return cmocka_run_group_tests(tests, sample_group_setup, sample_group_teardown);
}
