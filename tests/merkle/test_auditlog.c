/* The audit log file's framing (mlproto/auditlog.h, docs/audit-log-format.md):
 * the exact bytes of a header and of each item (the document's worked
 * example), round trips, every prefix of a file reading as TRUNCATED, and
 * the refusals of every field out of its canonical form. */
#include "testutil.h"

#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The verifier key of Go's note.Sign with seed 07 07 .. 07 (also in
 * test_merkle_checkpoint.c). */
#define ORIGIN "mentorlog.example/log"
#define VKEY ORIGIN "+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
#define HEADER                        \
  "mentorlog-audit-log 1\n"           \
  "origin " ORIGIN "\n"               \
  "vkey " VKEY "\n"                   \
  "size 2\n"                          \
  "\n"

#define assert_rc(want, got) assert_string_equal(mlproto_errname(got), mlproto_errname(want))

static const uint8_t ENV[] = {0x0a, 0x01, 0xaa, 0x12, 0x01, 0xbb}; /* framing only */
static const char NOTE[] = ORIGIN "\n2\nAAAA\n\n\xe2\x80\x94 " ORIGIN " x\n";

static void build(mlproto_buf *b) {
  mlproto_buf_init(b, 1u << 20);
  assert_rc(MLPROTO_OK, mlproto_auditlog_header_encode(b, VKEY, 2));
  assert_rc(MLPROTO_OK, mlproto_auditlog_entry_encode(b, 0, 2, 1767225600000ull, ENV, sizeof ENV));
  assert_rc(MLPROTO_OK, mlproto_auditlog_entry_encode(b, 1, 1, 1767225600001ull, ENV, sizeof ENV));
  assert_rc(MLPROTO_OK, mlproto_auditlog_checkpoint_encode(b, (const uint8_t *)NOTE, strlen(NOTE)));
}

static void exact_bytes(void **state) {
  (void)state;
  mlproto_buf b;
  build(&b);
  size_t hl = strlen(HEADER);
  assert_true(b.len > hl);
  assert_memory_equal(b.data, HEADER, hl);
  /* 'E', length 17 + 6, index 0, type 2, 2026-01-01T00:00:00Z, the envelope */
  static const uint8_t e0[] = {0x45, 0, 0, 0, 23, 0, 0, 0, 0, 0, 0, 0, 0, 2,
                               0x00, 0x00, 0x01, 0x9b, 0x76, 0xda, 0xa8, 0x00};
  assert_memory_equal(b.data + hl, e0, sizeof e0);
  assert_memory_equal(b.data + hl + sizeof e0, ENV, sizeof ENV);
  size_t c = hl + 2 * (sizeof e0 + sizeof ENV);
  assert_int_equal(b.data[c], 0x43);
  assert_int_equal(b.data[c + 4], strlen(NOTE));
  assert_memory_equal(b.data + c + 5, NOTE, strlen(NOTE));
  assert_int_equal(b.len, c + 5 + strlen(NOTE));
  mlproto_buf_free(&b);
}

static void round_trip(void **state) {
  (void)state;
  mlproto_buf b;
  build(&b);
  mlproto_auditlog_header h;
  size_t used = 0, off;
  assert_rc(MLPROTO_OK, mlproto_auditlog_header_decode(&h, b.data, b.len, &used));
  assert_string_equal(h.origin, ORIGIN);
  assert_string_equal(h.vkey, VKEY);
  assert_string_equal(h.verifier.name, ORIGIN);
  assert_int_equal(h.size, 2);
  assert_int_equal(used, strlen(HEADER));
  off = used;
  mlproto_auditlog_item it;
  for (unsigned i = 0; i < 2; i++) {
    assert_rc(MLPROTO_OK, mlproto_auditlog_item_decode(&it, b.data + off, b.len - off, &used));
    assert_int_equal(it.tag, MLPROTO_AUDITLOG_ENTRY);
    assert_int_equal(it.index, i);
    assert_int_equal(it.type, 2 - i);
    assert_int_equal(it.received_at_ms, 1767225600000ull + i);
    assert_int_equal(it.envelope_len, sizeof ENV);
    assert_memory_equal(it.envelope, ENV, sizeof ENV);
    off += used;
  }
  assert_rc(MLPROTO_OK, mlproto_auditlog_item_decode(&it, b.data + off, b.len - off, &used));
  assert_int_equal(it.tag, MLPROTO_AUDITLOG_CHECKPOINT);
  assert_int_equal(it.note_len, strlen(NOTE));
  assert_memory_equal(it.note, NOTE, strlen(NOTE));
  assert_int_equal(off + used, b.len);
  assert_rc(MLPROTO_ERR_AUDIT_FILE_TRUNCATED, mlproto_auditlog_item_decode(&it, b.data + b.len, 0, &used));
  mlproto_buf_free(&b);
}

/* Every proper prefix of a file is TRUNCATED where it is cut: in the
 * header, or in the item that starts before the cut. */
static void every_prefix_truncated(void **state) {
  (void)state;
  mlproto_buf b;
  build(&b);
  size_t hl = strlen(HEADER);
  for (size_t n = 0; n < b.len; n++) {
    mlproto_auditlog_header h;
    size_t used = 0;
    int rc = mlproto_auditlog_header_decode(&h, b.data, n, &used);
    if (n < hl) {
      if (rc != MLPROTO_ERR_AUDIT_FILE_TRUNCATED) fail_msg("header cut at %zu: %s", n, mlproto_errname(rc));
      continue;
    }
    assert_rc(MLPROTO_OK, rc);
    size_t off = used;
    mlproto_auditlog_item it;
    while ((rc = mlproto_auditlog_item_decode(&it, b.data + off, n - off, &used)) == MLPROTO_OK) off += used;
    assert_true(off <= n);
    if (rc != MLPROTO_ERR_AUDIT_FILE_TRUNCATED) fail_msg("cut at %zu: %s", n, mlproto_errname(rc));
    assert_int_equal(used, 0);
  }
  mlproto_buf_free(&b);
}

static void header_refusals(void **state) {
  (void)state;
  static const char *const bad[] = {
      "mentorlog-audit-log 2\norigin " ORIGIN "\nvkey " VKEY "\nsize 2\n\n",  /* version */
      "Mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize 2\n\n",  /* magic */
      "mentorlog-audit-log 1\nvkey " VKEY "\norigin " ORIGIN "\nsize 2\n\n",  /* order */
      "mentorlog-audit-log 1\norigin other.example/log\nvkey " VKEY "\nsize 2\n\n", /* not vkey's name */
      "mentorlog-audit-log 1\norigin " ORIGIN " \nvkey " VKEY "\nsize 2\n\n", /* blank in the name */
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " ORIGIN "+2878DF77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
      "\nsize 2\n\n",                                                           /* key ID upper case */
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " ORIGIN "+2878df78+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
      "\nsize 2\n\n",                                                           /* wrong key ID */
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize 02\n\n", /* leading zero */
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize +2\n\n",
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize \n\n",
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize 9223372036854775809\n\n",
      "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize 2\nx",  /* no blank line */
      "mentorlog-audit-log 1\r\norigin " ORIGIN "\nvkey " VKEY "\nsize 2\n\n",
      "mentorlog-audit-log 1\norigin\nvkey " VKEY "\nsize 2\n\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mlproto_auditlog_header h;
    size_t used = 99;
    int rc = mlproto_auditlog_header_decode(&h, (const uint8_t *)bad[i], strlen(bad[i]), &used);
    if (rc != MLPROTO_ERR_AUDIT_FILE_MALFORMED) fail_msg("case %zu: %s", i, mlproto_errname(rc));
    assert_int_equal(used, 0);
    assert_int_equal(h.size, 0);
    assert_string_equal(h.origin, "");
  }
  /* 2^63 is the largest size */
  static const char top[] = "mentorlog-audit-log 1\norigin " ORIGIN "\nvkey " VKEY "\nsize 9223372036854775808\n\n";
  mlproto_auditlog_header h;
  size_t used;
  assert_rc(MLPROTO_OK, mlproto_auditlog_header_decode(&h, (const uint8_t *)top, strlen(top), &used));
  assert_true(h.size == (UINT64_C(1) << 63));
  /* a line that can never end within the header's cap */
  char *longline = calloc(1, 2 * MLPROTO_AUDITLOG_HEADER_MAX);
  assert_non_null(longline);
  strcpy(longline, "mentorlog-audit-log 1\norigin ");
  memset(longline + strlen(longline), 'a', MLPROTO_AUDITLOG_HEADER_MAX);
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED,
            mlproto_auditlog_header_decode(&h, (const uint8_t *)longline, strlen(longline), &used));
  free(longline);
  /* not a header at all, however short */
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_header_decode(&h, (const uint8_t *)"PK", 2, &used));
}

static void item_refusals(void **state) {
  (void)state;
  mlproto_auditlog_item it;
  size_t used;
  uint8_t buf[64] = {0};
  /* unknown tag */
  buf[0] = 'X';
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  /* entry lengths 0 .. 17 carry no envelope */
  buf[0] = 'E';
  for (uint8_t n = 0; n <= 17; n++) {
    buf[4] = n;
    assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  }
  /* an envelope over the cap */
  uint32_t big = MLPROTO_AUDITLOG_ENTRY_FIXED + MLPROTO_AUDITLOG_ENVELOPE_MAX + 1;
  buf[1] = (uint8_t)(big >> 24), buf[2] = (uint8_t)(big >> 16), buf[3] = (uint8_t)(big >> 8),
  buf[4] = (uint8_t)big;
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  big--;
  buf[3] = (uint8_t)(big >> 8), buf[4] = (uint8_t)big;
  assert_rc(MLPROTO_ERR_AUDIT_FILE_TRUNCATED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  /* a checkpoint of 0 bytes, or over 32 KiB */
  memset(buf, 0, 5);
  buf[0] = 'C';
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  buf[3] = 0x80, buf[4] = 1; /* 32,769 */
  assert_rc(MLPROTO_ERR_AUDIT_FILE_MALFORMED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  buf[3] = 0x80, buf[4] = 0; /* 32,768 */
  assert_rc(MLPROTO_ERR_AUDIT_FILE_TRUNCATED, mlproto_auditlog_item_decode(&it, buf, sizeof buf, &used));
  assert_int_equal(it.tag, 0);
  assert_int_equal(used, 0);
}

static void encode_refusals(void **state) {
  (void)state;
  mlproto_buf b;
  mlproto_buf_init(&b, 40); /* room for one entry, not for a header or two entries */
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_auditlog_header_encode(&b, VKEY, 1));
  assert_int_equal(b.len, 0);
  assert_rc(MLPROTO_ERR_BAD_KEY, mlproto_auditlog_header_encode(&b, "not a key", 1));
  assert_rc(MLPROTO_ERR_TREE_RANGE, mlproto_auditlog_header_encode(&b, VKEY, (UINT64_C(1) << 63) + 1));
  assert_rc(MLPROTO_ERR_FIELD_RANGE, mlproto_auditlog_entry_encode(&b, 0, 256, 0, ENV, sizeof ENV));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_auditlog_entry_encode(&b, 0, 1, 0, ENV, 0));
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_auditlog_checkpoint_encode(&b, (const uint8_t *)"", 0));
  assert_rc(MLPROTO_OK, mlproto_auditlog_entry_encode(&b, 0, 1, 0, ENV, sizeof ENV));
  size_t one = b.len;
  assert_int_equal(one, 5 + 17 + sizeof ENV);
  /* the second does not fit: the buffer keeps the first only */
  assert_rc(MLPROTO_ERR_TOO_LARGE, mlproto_auditlog_entry_encode(&b, 1, 1, 0, ENV, sizeof ENV));
  assert_int_equal(b.len, one);
  uint8_t *huge = calloc(1, MLPROTO_AUDITLOG_ENVELOPE_MAX + 1);
  assert_non_null(huge);
  assert_rc(MLPROTO_ERR_FIELD_SIZE, mlproto_auditlog_entry_encode(&b, 1, 1, 0, huge, MLPROTO_AUDITLOG_ENVELOPE_MAX + 1));
  free(huge);
  mlproto_buf_free(&b);
  /* a vkey in another case is written in its canonical form */
  mlproto_buf_init(&b, 4096);
  assert_rc(MLPROTO_OK, mlproto_auditlog_header_encode(
                            &b, ORIGIN "+2878DF77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", 2));
  assert_int_equal(b.len, strlen(HEADER));
  assert_memory_equal(b.data, HEADER, b.len);
  mlproto_buf_free(&b);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_bytes),        cmocka_unit_test(round_trip),
      cmocka_unit_test(every_prefix_truncated), cmocka_unit_test(header_refusals),
      cmocka_unit_test(item_refusals),      cmocka_unit_test(encode_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
