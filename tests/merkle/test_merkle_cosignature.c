/* C2SP tlog-cosignature/v1 (mlproto/cosignature.h): witness keys (type
 * 0x04, never confused with a log key of type 0x01), sign / format / parse /
 * verify round trips, the signed message's exact bytes (checked against
 * Ed25519 directly), and refusals: another key, another body, another name,
 * a flipped byte anywhere in the line, a payload of the wrong length, a
 * timestamp above 2^63 - 1, and a line inside a whole note. */
#include "testutil.h"

#include "mlproto/checkpoint.h"
#include "mlproto/cosignature.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ORIGIN "mentorlog.example/log"
#define WITNESS "witness.example/w1"

static uint8_t sk[64], pk[32], log_sk[64], log_pk[32];

static int setup(void **state) {
  (void)state;
  assert_true(sodium_init() >= 0);
  uint8_t seed[32];
  memset(seed, 0x09, sizeof seed);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
  memset(seed, 0x07, sizeof seed);
  assert_int_equal(crypto_sign_seed_keypair(log_pk, log_sk, seed), 0);
  return 0;
}

static void checkpoint_note(char *note, size_t cap, size_t *len, size_t *body_len, uint64_t size) {
  mlproto_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  snprintf(cp.origin, sizeof cp.origin, ORIGIN);
  cp.size = size;
  for (int i = 0; i < 32; i++) cp.root[i] = (uint8_t)(i + size);
  assert_int_equal(mlproto_checkpoint_sign(note, cap, len, &cp, log_sk), MLPROTO_OK);
  assert_int_equal(mlproto_checkpoint_body(note + 2000, cap - 2000, body_len, &cp), MLPROTO_OK);
  note[*len] = 0;
}

static void keys(void **state) {
  (void)state;
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  size_t vl;
  assert_int_equal(mlproto_cosig_vkey_format(vkey, sizeof vkey, &vl, WITNESS, pk), MLPROTO_OK);
  assert_int_equal(vl, strlen(vkey));
  mlproto_note_verifier v, w;
  assert_int_equal(mlproto_cosig_vkey_parse(&v, vkey, vl), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_verifier_init(&w, WITNESS, pk), MLPROTO_OK);
  assert_memory_equal(&v, &w, sizeof v);
  /* key ID = SHA-256(name || 0x0A || 0x04 || pk)[:4], written in the vkey */
  uint8_t buf[sizeof WITNESS + 33], h[32];
  memcpy(buf, WITNESS "\n", sizeof WITNESS);
  buf[sizeof WITNESS] = 0x04;
  memcpy(buf + sizeof WITNESS + 1, pk, 32);
  crypto_hash_sha256(h, buf, sizeof WITNESS + 33);
  assert_memory_equal(v.key_id, h, 4);
  char hex[9];
  mlproto_hex_encode(hex, h, 4);
  assert_memory_equal(vkey + strlen(WITNESS) + 1, hex, 8);
  /* A log key (0x01) is no witness key and the other way round. */
  char lkey[MLPROTO_NOTE_VKEY_MAX];
  assert_int_equal(mlproto_note_vkey_format(lkey, sizeof lkey, NULL, WITNESS, pk), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_vkey_parse(&v, lkey, strlen(lkey)), MLPROTO_ERR_BAD_KEY);
  assert_int_equal(mlproto_note_vkey_parse(&v, vkey, vl), MLPROTO_ERR_BAD_KEY);
  uint8_t zero[sizeof v];
  memset(zero, 0, sizeof zero);
  assert_memory_equal(&v, zero, sizeof v);
  assert_int_equal(mlproto_cosig_vkey_format(vkey, sizeof vkey, NULL, "bad name", pk),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_cosig_vkey_format(vkey, 10, NULL, WITNESS, pk),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_string_equal(vkey, "");
}

static void round_trip(void **state) {
  (void)state;
  char note[4096];
  size_t nl, bl;
  checkpoint_note(note, sizeof note, &nl, &bl, 20852163);
  const uint8_t *body = (const uint8_t *)note + 2000;
  mlproto_note_verifier v;
  assert_int_equal(mlproto_cosig_verifier_init(&v, WITNESS, pk), MLPROTO_OK);
  mlproto_cosig c;
  assert_int_equal(mlproto_cosig_sign(&c, body, bl, 1679315147, WITNESS, sk), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_verify(&c, body, bl, &v), MLPROTO_OK);

  /* The signed message, byte for byte, as the spec writes it. */
  char msg[4096];
  int ml = snprintf(msg, sizeof msg, "cosignature/v1\ntime 1679315147\n%.*s", (int)bl,
                    (const char *)body);
  assert_int_equal(crypto_sign_verify_detached(c.sig, (const uint8_t *)msg, (size_t)ml, pk), 0);

  char line[MLPROTO_COSIG_LINE_MAX];
  size_t ll;
  assert_int_equal(mlproto_cosig_line_format(line, sizeof line, &ll, &c), MLPROTO_OK);
  assert_int_equal(ll, 4 + strlen(WITNESS) + 1 + 104 + 1);
  assert_memory_equal(line, "\xe2\x80\x94 " WITNESS " ", 4 + strlen(WITNESS) + 1);
  /* payload: key ID || u64be timestamp || signature */
  uint8_t raw[80];
  size_t rl;
  assert_int_equal(sodium_base642bin(raw, sizeof raw, line + 4 + strlen(WITNESS) + 1, 104, NULL,
                                     &rl, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(rl, 76);
  assert_memory_equal(raw, v.key_id, 4);
  const uint8_t ts_be[8] = {0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb}; /* 1679315147 */
  assert_memory_equal(raw + 4, ts_be, 8);
  assert_memory_equal(raw + 12, c.sig, 64);

  mlproto_cosig p;
  assert_int_equal(mlproto_cosig_line_parse(&p, (const uint8_t *)line, ll), MLPROTO_OK);
  assert_memory_equal(&p, &c, sizeof p);

  /* In a note, after the log's line: found and verified; the log's own
   * checkpoint still opens (the extra line is ignored). */
  char both[4096];
  memcpy(both, note, nl);
  memcpy(both + nl, line, ll);
  size_t tl = nl + ll;
  mlproto_cosig f;
  assert_int_equal(mlproto_cosig_find(&f, (const uint8_t *)both, tl, &v), MLPROTO_OK);
  assert_memory_equal(&f, &c, sizeof f);
  mlproto_note_verifier lv;
  assert_int_equal(mlproto_note_verifier_init(&lv, ORIGIN, log_pk), MLPROTO_OK);
  mlproto_checkpoint cp;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)both, tl, &lv), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_find(&f, (const uint8_t *)note, nl, &v),
                   MLPROTO_ERR_CHECKPOINT_UNSIGNED);
  size_t got_bl;
  assert_int_equal(mlproto_note_body_len((const uint8_t *)both, tl, &got_bl), MLPROTO_OK);
  assert_int_equal(got_bl, bl);
}

static void refusals(void **state) {
  (void)state;
  char note[4096], other[4096];
  size_t nl, bl, onl, obl;
  checkpoint_note(note, sizeof note, &nl, &bl, 7);
  checkpoint_note(other, sizeof other, &onl, &obl, 8);
  const uint8_t *body = (const uint8_t *)note + 2000, *obody = (const uint8_t *)other + 2000;
  mlproto_note_verifier v, wrong;
  assert_int_equal(mlproto_cosig_verifier_init(&v, WITNESS, pk), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_verifier_init(&wrong, WITNESS, log_pk), MLPROTO_OK);
  mlproto_cosig c;
  assert_int_equal(mlproto_cosig_sign(&c, body, bl, 1700000000, WITNESS, sk), MLPROTO_OK);
  /* another checkpoint, another key, another name, another time */
  assert_int_equal(mlproto_cosig_verify(&c, obody, obl, &v), MLPROTO_ERR_COSIGNATURE_INVALID);
  assert_int_equal(mlproto_cosig_verify(&c, body, bl, &wrong), MLPROTO_ERR_COSIGNATURE_INVALID);
  mlproto_cosig d = c;
  snprintf(d.name, sizeof d.name, "witness.example/w2");
  assert_int_equal(mlproto_cosig_verify(&d, body, bl, &v), MLPROTO_ERR_COSIGNATURE_INVALID);
  d = c;
  d.timestamp++;
  assert_int_equal(mlproto_cosig_verify(&d, body, bl, &v), MLPROTO_ERR_COSIGNATURE_INVALID);
  d = c;
  d.timestamp = MLPROTO_COSIG_TIME_MAX + 1;
  assert_int_equal(mlproto_cosig_verify(&d, body, bl, &v), MLPROTO_ERR_COSIGNATURE_INVALID);
  assert_int_equal(mlproto_cosig_sign(&d, body, bl, MLPROTO_COSIG_TIME_MAX + 1, WITNESS, sk),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_cosig_sign(&d, body, bl - 1, 1, WITNESS, sk),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_cosig_sign(&d, body, bl, MLPROTO_COSIG_TIME_MAX, WITNESS, sk),
                   MLPROTO_OK);
  assert_int_equal(mlproto_cosig_verify(&d, body, bl, &v), MLPROTO_OK);

  /* Every byte of the line flipped: never a verifying cosignature. */
  char line[MLPROTO_COSIG_LINE_MAX];
  size_t ll;
  assert_int_equal(mlproto_cosig_line_format(line, sizeof line, &ll, &c), MLPROTO_OK);
  for (size_t i = 0; i < ll; i++) {
    for (int bit = 0; bit < 8; bit++) {
      line[i] ^= (char)(1 << bit);
      mlproto_cosig p;
      int rc = mlproto_cosig_line_parse(&p, (const uint8_t *)line, ll);
      if (rc == MLPROTO_OK) rc = mlproto_cosig_verify(&p, body, bl, &v);
      assert_int_not_equal(rc, MLPROTO_OK);
      line[i] ^= (char)(1 << bit);
    }
  }
  /* Not a line: no '\n', two lines, no dash, a log key's 68-byte payload. */
  mlproto_cosig p;
  assert_int_equal(mlproto_cosig_line_parse(&p, (const uint8_t *)line, ll - 1),
                   MLPROTO_ERR_CHECKPOINT_MALFORMED);
  char two[2 * MLPROTO_COSIG_LINE_MAX];
  memcpy(two, line, ll);
  memcpy(two + ll, line, ll);
  assert_int_equal(mlproto_cosig_line_parse(&p, (const uint8_t *)two, 2 * ll),
                   MLPROTO_ERR_CHECKPOINT_MALFORMED);
  assert_int_equal(mlproto_cosig_line_parse(&p, (const uint8_t *)"- a b\n", 6),
                   MLPROTO_ERR_CHECKPOINT_MALFORMED);
  const char *log_line = strstr(note, "\n\n") + 2;
  assert_int_equal(mlproto_cosig_line_parse(&p, (const uint8_t *)log_line, strlen(log_line)),
                   MLPROTO_ERR_COSIGNATURE_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(keys),
      cmocka_unit_test(round_trip),
      cmocka_unit_test(refusals),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
