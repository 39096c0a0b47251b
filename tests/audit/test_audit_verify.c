/*
 * test_audit_verify.c — every check of the auditor's verifier
 * (tools/audit/verify.h) on synthetic logs (auditgen.h): what a dishonest
 * or damaged server could put into an audit log file, one fault at a time,
 * each reported with its stable code at the log index it concerns, and
 * nothing reported for an honest log, an erased part, or checkpoints kept
 * from before that the log extends. Then the state directory (state.h).
 */
#include "testutil.h"

#include "auditgen.h"
#include "state.h"
#include "verify.h"

#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx {
  ag_log l;
  sim_dev a, b, c;
  uint8_t c1[16], c2[16];
} fx;

/* 0 enrol A, 1 enrol B, 2 A CASE_OPEN, 3 A CONTACT, 4 B CASE_OPEN, 5 B NOTE, 6 A NOTE */
static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  ag_init(&f->l);
  sim_dev_init(&f->a);
  sim_dev_init(&f->b);
  sim_dev_init(&f->c);
  memset(f->c1, 0xc1, 16);
  memset(f->c2, 0xc2, 16);
  ag_enroll(&f->l, &f->a, NULL);
  ag_enroll(&f->l, &f->b, NULL);
  ag_record(&f->l, &f->a, MLPROTO_KIND_CASE_OPEN, f->c1);
  ag_record(&f->l, &f->a, MLPROTO_KIND_CONTACT, f->c1);
  ag_record(&f->l, &f->b, MLPROTO_KIND_CASE_OPEN, f->c2);
  ag_record(&f->l, &f->b, MLPROTO_KIND_NOTE, f->c2);
  ag_record(&f->l, &f->a, MLPROTO_KIND_NOTE, f->c1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  ag_free(&f->l);
  sim_dev_free(&f->a);
  sim_dev_free(&f->b);
  sim_dev_free(&f->c);
  free(f);
  return 0;
}

static void dump(const audit_result *r) {
  for (size_t i = 0; i < r->n_findings; i++) {
    const audit_finding *x = &r->findings[i];
    if (x->has_index) print_message("  index %llu: ", (unsigned long long)x->index);
    else print_message("  file: ");
    print_message("%s: %s\n", mlproto_errname(x->code), x->text);
  }
}

static audit_result verify_buf(const ag_log *l, const uint8_t *p, size_t n,
                               const mlproto_checkpoint *kept, size_t n_kept) {
  audit_options o = {.key = &l->key, .kept = kept, .n_kept = n_kept};
  audit_result r;
  assert_int_equal(audit_verify(&r, p, n, &o), MLPROTO_OK);
  return r;
}

static audit_result verify_log(const ag_log *l) {
  mlproto_buf b;
  ag_file(l, &b);
  audit_result r = verify_buf(l, b.data, b.len, NULL, 0);
  mlproto_buf_free(&b);
  return r;
}

static void expect_ok(const audit_result *r) {
  if (r->findings_total) {
    dump(r);
    fail_msg("%llu findings, none expected", (unsigned long long)r->findings_total);
  }
}

/* A finding of code at index (index < 0: one without an index). */
static void expect(const audit_result *r, int code, long long index) {
  for (size_t i = 0; i < r->n_findings; i++) {
    const audit_finding *x = &r->findings[i];
    if (x->code == code && (index < 0 ? !x->has_index : x->has_index && x->index == (uint64_t)index))
      return;
  }
  dump(r);
  fail_msg("no %s finding at %lld", mlproto_errname(code), index);
}

/* Exactly the findings given (code, index pairs; index -1: none), in any order. */
static void expect_only(const audit_result *r, size_t n, const int *codes, const long long *idx) {
  for (size_t i = 0; i < n; i++) expect(r, codes[i], idx[i]);
  if (r->findings_total != n) {
    dump(r);
    fail_msg("%llu findings, %zu expected", (unsigned long long)r->findings_total, n);
  }
}

/* ------------------------------------------------------------ honest */

static void honest_log(void **state) {
  fx *f = *state;
  audit_result r = verify_log(&f->l);
  expect_ok(&r);
  assert_true(r.header_ok && r.checkpoint_ok);
  assert_int_equal(r.entries, 7);
  assert_int_equal(r.checkpoint.size, 7);
  assert_int_equal(r.device_records, 5);
  assert_int_equal(r.server_events, 2);
  assert_int_equal(r.authors, 3);
  assert_int_equal(r.devices_enrolled, 2);
  assert_int_equal(r.n_erased, 0);
  audit_result_free(&r);
  /* an empty log */
  ag_log e;
  ag_init(&e);
  r = verify_log(&e);
  expect_ok(&r);
  assert_int_equal(r.checkpoint.size, 0);
  audit_result_free(&r);
  ag_free(&e);
}

static void erased_part_is_reported_not_refused(void **state) {
  fx *f = *state;
  ag_entry *e = &f->l.e[5]; /* B's NOTE: a sealed part */
  uint8_t *er;
  size_t el;
  assert_int_equal(mlproto_envelope_erase(&er, &el, e->env, e->len, MLPROTO_PART_SEALED), 0);
  uint8_t *keep = e->env;
  size_t keep_len = e->len;
  e->env = malloc(el);
  memcpy(e->env, er, el);
  e->len = el;
  mlproto_free(er);
  audit_result r = verify_log(&f->l); /* the checkpoint is the same: the record hash is */
  expect_ok(&r);
  assert_int_equal(r.n_erased, 1);
  assert_int_equal(r.erased[0].index, 5);
  assert_int_equal(r.erased[0].parts, MLPROTO_PART_SEALED);
  assert_memory_equal(r.erased[0].case_id, f->c2, 16);
  assert_false(r.erased[0].accounted); /* nothing in the log says why */
  audit_result_free(&r);
  /* a purge of another case accounts for nothing; one of its case does */
  ag_purge(&f->l, f->c1); /* 7 */
  ag_purge(&f->l, f->c2); /* 8 */
  r = verify_log(&f->l);
  expect_ok(&r);
  assert_int_equal(r.n_erased, 1);
  assert_true(r.erased[0].accounted);
  assert_int_equal(r.erased[0].accounted_at, 8);
  audit_result_free(&r);
  free(e->env);
  e->env = keep;
  e->len = keep_len;
}

/* ------------------------------------------------------- enrolments */

static void record_after_revocation(void **state) {
  fx *f = *state;
  ag_revoke(&f->l, &f->a);
  ag_record(&f->l, &f->a, MLPROTO_KIND_CONTACT, f->c1);
  audit_result r = verify_log(&f->l);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_FORBIDDEN}, (long long[]){8});
  assert_int_equal(r.devices_revoked, 1);
  audit_result_free(&r);
}

static void record_of_unenrolled_device(void **state) {
  fx *f = *state;
  ag_record(&f->l, &f->c, MLPROTO_KIND_CASE_OPEN, f->c2); /* 7: C never enrolled */
  audit_result r = verify_log(&f->l);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_FORBIDDEN}, (long long[]){7});
  audit_result_free(&r);
  /* enrolled only after its record: still refused at 7, accepted at 9 */
  ag_enroll(&f->l, &f->c, NULL);                          /* 8 */
  ag_record(&f->l, &f->c, MLPROTO_KIND_NOTE, f->c2);       /* 9 */
  r = verify_log(&f->l);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_FORBIDDEN}, (long long[]){7});
  audit_result_free(&r);
}

static void event_not_signed_by_the_log(void **state) {
  fx *f = *state;
  sim_dev d;
  sim_dev_init(&d);
  ag_enroll(&f->l, &f->c, d.sign);                        /* 7: D "enrols" C */
  ag_record(&f->l, &f->c, MLPROTO_KIND_CASE_OPEN, f->c2);  /* 8 */
  audit_result r = verify_log(&f->l);
  expect_only(&r, 2, (int[]){MLPROTO_ERR_AUTHOR_MISMATCH, MLPROTO_ERR_FORBIDDEN}, (long long[]){7, 8});
  assert_int_equal(r.devices_enrolled, 2);
  audit_result_free(&r);
  sim_dev_free(&d);
}

/* ------------------------------------------------- entries and chains */

static void entry_type_of_another_kind(void **state) {
  fx *f = *state;
  f->l.e[3].type = MLPROTO_LOG_SERVER_EVENT; /* a device record claimed as a server event */
  f->l.e[0].type = 7;
  audit_result r = verify_log(&f->l);       /* signed over the types as written */
  expect_only(&r, 2, (int[]){MLPROTO_ERR_FIELD_RANGE, MLPROTO_ERR_FIELD_RANGE}, (long long[]){3, 0});
  audit_result_free(&r);
}

static void receipt_time_goes_back(void **state) {
  fx *f = *state;
  f->l.e[4].received = f->l.e[3].received - 1;
  audit_result r = verify_log(&f->l);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_RECEIPT_TIME_REVERSED}, (long long[]){4});
  audit_result_free(&r);
  f->l.e[4].received = f->l.e[3].received; /* equal is fine */
  r = verify_log(&f->l);
  expect_ok(&r);
  audit_result_free(&r);
}

static void fork_gap_prev_and_duplicate(void **state) {
  fx *f = *state;
  /* 7: A signs another record at seq 2 (the CONTACT's seq) */
  size_t len;
  uint8_t prev[32], h[32];
  assert_int_equal(mlproto_record_hash(prev, f->l.e[2].env, f->l.e[2].len), 0);
  uint8_t *env = sim_record_at(&f->a, MLPROTO_KIND_NOTE, f->c1, 2, prev, &len, h);
  ag_add(&f->l, env, len);
  mlproto_free(env);
  /* 8: B's NOTE again, the very bytes */
  ag_add(&f->l, f->l.e[5].env, f->l.e[5].len);
  /* 9: A at seq 4 linking to nothing it signed */
  uint8_t junk[32];
  memset(junk, 9, 32);
  env = sim_record_at(&f->a, MLPROTO_KIND_NOTE, f->c1, 4, junk, &len, h);
  ag_add(&f->l, env, len);
  mlproto_free(env);
  /* 10: B jumps from seq 2 to seq 4 */
  assert_int_equal(mlproto_record_hash(prev, f->l.e[5].env, f->l.e[5].len), 0);
  env = sim_record_at(&f->b, MLPROTO_KIND_NOTE, f->c2, 4, prev, &len, h);
  ag_add(&f->l, env, len);
  mlproto_free(env);
  audit_result r = verify_log(&f->l);
  expect_only(&r, 4,
              (int[]){MLPROTO_ERR_FORK, MLPROTO_ERR_ALREADY_EXISTS, MLPROTO_ERR_PREV_MISMATCH,
                      MLPROTO_ERR_SEQ_GAP},
              (long long[]){7, 8, 9, 10});
  audit_result_free(&r);
}

static void changed_disclosed_byte(void **state) {
  fx *f = *state;
  ag_entry *e = &f->l.e[3]; /* A's CONTACT */
  size_t n = 0, at = ag_disclosed_at(e->env, e->len, &n);
  e->env[at + n - 1] ^= 0x01;
  audit_result r = verify_log(&f->l); /* the record hash does not cover it: same root */
  expect_only(&r, 1, (int[]){MLPROTO_ERR_DISCLOSED_HASH_MISMATCH}, (long long[]){3});
  audit_result_free(&r);
}

static void removed_and_moved_entries(void **state) {
  fx *f = *state;
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t nl;
  ag_checkpoint(&f->l, f->l.n, note, &nl); /* what the log signed */
  /* entry 4 (B's CASE_OPEN) left out, the header still says 7 */
  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  assert_int_equal(mlproto_auditlog_header_encode(&b, f->l.vkey, 7), 0);
  for (size_t i = 0; i < f->l.n; i++) {
    if (i == 4) continue;
    const ag_entry *e = &f->l.e[i];
    assert_int_equal(mlproto_auditlog_entry_encode(&b, e->index, e->type, e->received, e->env, e->len), 0);
  }
  assert_int_equal(mlproto_auditlog_checkpoint_encode(&b, (const uint8_t *)note, nl), 0);
  audit_result r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect(&r, MLPROTO_ERR_TREE_RANGE, 4);   /* the missing index */
  expect(&r, MLPROTO_ERR_SEQ_GAP, 5);      /* B's chain starts at seq 2 */
  expect(&r, MLPROTO_ERR_TREE_RANGE, -1);  /* 6 entries, a checkpoint of 7 */
  audit_result_free(&r);
  mlproto_buf_free(&b);
  /* 3 and 4 swapped, with their indices */
  ag_entry t = f->l.e[3];
  f->l.e[3] = f->l.e[4];
  f->l.e[4] = t;
  ag_file(&f->l, &b); /* signed over the swapped order: the indices tell */
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 3,
              (int[]){MLPROTO_ERR_TREE_RANGE, MLPROTO_ERR_TREE_RANGE, MLPROTO_ERR_RECEIPT_TIME_REVERSED},
              (long long[]){3, 3, 3});
  audit_result_free(&r);
  mlproto_buf_free(&b);
  /* swapped, and renumbered: the leaves are not the log's */
  f->l.e[3].index = 3;
  f->l.e[4].index = 4;
  mlproto_buf_init(&b, 1u << 20);
  assert_int_equal(mlproto_auditlog_header_encode(&b, f->l.vkey, 7), 0);
  for (size_t i = 0; i < f->l.n; i++) {
    const ag_entry *e = &f->l.e[i];
    assert_int_equal(mlproto_auditlog_entry_encode(&b, e->index, e->type, e->received, e->env, e->len), 0);
  }
  assert_int_equal(mlproto_auditlog_checkpoint_encode(&b, (const uint8_t *)note, nl), 0);
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect(&r, MLPROTO_ERR_PROOF_INVALID, -1);
  audit_result_free(&r);
  mlproto_buf_free(&b);
}

/* --------------------------------------------------------- checkpoints */

static void kept_checkpoints(void **state) {
  fx *f = *state;
  mlproto_buf b;
  ag_file(&f->l, &b);
  mlproto_checkpoint kept[3] = {ag_checkpoint_of(&f->l, 7), ag_checkpoint_of(&f->l, 0),
                                ag_checkpoint_of(&f->l, 3)};
  audit_result r = verify_buf(&f->l, b.data, b.len, kept, 3);
  expect_ok(&r);
  audit_result_free(&r);
  /* another root for size 7: two signed roots of one size */
  kept[0].root[0] ^= 1;
  r = verify_buf(&f->l, b.data, b.len, kept, 3);
  expect_only(&r, 2, (int[]){MLPROTO_ERR_SPLIT_VIEW, MLPROTO_ERR_PROOF_INVALID}, (long long[]){-1, -1});
  audit_result_free(&r);
  kept[0].root[0] ^= 1;
  /* an earlier tree this one does not extend */
  kept[2].root[5] ^= 1;
  r = verify_buf(&f->l, b.data, b.len, kept, 3);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_PROOF_INVALID}, (long long[]){-1});
  audit_result_free(&r);
  kept[2].root[5] ^= 1;
  /* a larger tree verified before: the log shrank */
  ag_record(&f->l, &f->a, MLPROTO_KIND_NOTE, f->c1);
  kept[1] = ag_checkpoint_of(&f->l, 8);
  r = verify_buf(&f->l, b.data, b.len, kept, 3);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_TREE_RANGE}, (long long[]){-1});
  audit_result_free(&r);
  mlproto_buf_free(&b);
}

/* The file of l with the checkpoint note given. */
static void file_with_note(const ag_log *l, const char *note, size_t nl, uint64_t header_size,
                           mlproto_buf *b) {
  mlproto_buf_init(b, 1u << 20);
  assert_int_equal(mlproto_auditlog_header_encode(b, l->vkey, header_size), 0);
  for (size_t i = 0; i < l->n; i++) {
    const ag_entry *e = &l->e[i];
    assert_int_equal(mlproto_auditlog_entry_encode(b, e->index, e->type, e->received, e->env, e->len), 0);
  }
  assert_int_equal(mlproto_auditlog_checkpoint_encode(b, (const uint8_t *)note, nl), 0);
}

static void checkpoint_refusals(void **state) {
  fx *f = *state;
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX + 200];
  size_t nl;
  ag_checkpoint(&f->l, f->l.n, note, &nl);
  mlproto_buf b;
  /* a cosignature line: ignored by checkpoint_open, refused in an audit file */
  char more[sizeof note];
  int ml = snprintf(more, sizeof more, "%s\xe2\x80\x94 witness.example/w1 AAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", note);
  file_with_note(&f->l, more, (size_t)ml, 7, &b);
  audit_result r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_CHECKPOINT_MALFORMED}, (long long[]){-1});
  audit_result_free(&r);
  mlproto_buf_free(&b);
  /* the header's size is not the checkpoint's */
  file_with_note(&f->l, note, nl, 6, &b);
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_TREE_RANGE}, (long long[]){-1});
  audit_result_free(&r);
  mlproto_buf_free(&b);
  /* a checkpoint of another key of the same name */
  ag_log other;
  ag_init(&other);
  uint8_t seed[32];
  memset(seed, 0x43, 32);
  assert_int_equal(crypto_sign_seed_keypair(other.pk, other.sk, seed), 0);
  for (size_t i = 0; i < f->l.n; i++) ag_add(&other, f->l.e[i].env, f->l.e[i].len);
  for (size_t i = 0; i < f->l.n; i++) other.e[i].type = f->l.e[i].type;
  char onote[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t onl;
  ag_checkpoint(&other, other.n, onote, &onl);
  file_with_note(&f->l, onote, onl, 7, &b);
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_CHECKPOINT_UNSIGNED}, (long long[]){-1});
  audit_result_free(&r);
  mlproto_buf_free(&b);
  ag_free(&other);
}

static void header_of_another_log(void **state) {
  fx *f = *state;
  mlproto_buf b;
  ag_file(&f->l, &b);
  /* the same file, verified with another key of the same name */
  uint8_t pk[32], sk[64], seed[32];
  memset(seed, 0x44, 32);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
  mlproto_note_verifier k;
  assert_int_equal(mlproto_note_verifier_init(&k, AG_ORIGIN, pk), 0);
  audit_options o = {.key = &k};
  audit_result r;
  assert_int_equal(audit_verify(&r, b.data, b.len, &o), 0);
  expect(&r, MLPROTO_ERR_BAD_KEY, -1);
  expect(&r, MLPROTO_ERR_CHECKPOINT_UNSIGNED, -1);
  expect(&r, MLPROTO_ERR_AUTHOR_MISMATCH, 0); /* the enrolments are not its */
  audit_result_free(&r);
  /* and with a key of another name */
  assert_int_equal(mlproto_note_verifier_init(&k, "other.test/log", f->l.pk), 0);
  assert_int_equal(audit_verify(&r, b.data, b.len, &o), 0);
  expect(&r, MLPROTO_ERR_CHECKPOINT_ORIGIN, -1);
  audit_result_free(&r);
  mlproto_buf_free(&b);
}

/* Every cut of the file, and a byte too many, is refused. */
static void cut_short_or_extended(void **state) {
  fx *f = *state;
  mlproto_buf b;
  ag_file(&f->l, &b);
  for (size_t n = 0; n < b.len; n++) {
    audit_result r = verify_buf(&f->l, b.data, n, NULL, 0);
    if (r.findings_total == 0) fail_msg("a file cut at byte %zu of %zu verifies", n, b.len);
    audit_result_free(&r);
  }
  audit_result r = verify_buf(&f->l, b.data, b.len - 1, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_AUDIT_FILE_TRUNCATED}, (long long[]){-1});
  audit_result_free(&r);
  assert_int_equal(mlproto_buf_append(&b, "E", 1), 0);
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_AUDIT_FILE_TRUNCATED}, (long long[]){-1});
  audit_result_free(&r);
  b.data[b.len - 1] = 'x';
  r = verify_buf(&f->l, b.data, b.len, NULL, 0);
  expect_only(&r, 1, (int[]){MLPROTO_ERR_AUDIT_FILE_MALFORMED}, (long long[]){-1});
  audit_result_free(&r);
  mlproto_buf_free(&b);
}

/* Every single byte of the synthetic file changed (one bit, then the whole
 * byte): each change is refused. */
static void every_byte_matters(void **state) {
  fx *f = *state;
  mlproto_buf b;
  ag_file(&f->l, &b);
  for (size_t i = 0; i < b.len; i++) {
    for (int m = 0; m < 2; m++) {
      uint8_t was = b.data[i];
      b.data[i] = m ? (uint8_t)~was : (uint8_t)(was ^ 0x01);
      audit_result r = verify_buf(&f->l, b.data, b.len, NULL, 0);
      if (r.findings_total == 0) fail_msg("byte %zu of %zu changed (%02x -> %02x) verifies", i, b.len, was, b.data[i]);
      audit_result_free(&r);
      b.data[i] = was;
    }
  }
  mlproto_buf_free(&b);
}

/* A log of three batches and more (verify.c reads 1,024 entries at a time and
 * verifies their signatures on several threads): the same result on one
 * thread and on four, for an honest log and for faults on both sides of a
 * batch's end. */
static void many_entries_many_threads(void **state) {
  fx *f = *state;
  while (f->l.n < 3100)
    ag_record(&f->l, f->l.n % 3 ? &f->a : &f->b, MLPROTO_KIND_NOTE, f->l.n % 3 ? f->c1 : f->c2);
  mlproto_buf b;
  ag_file(&f->l, &b);
  for (unsigned t = 1; t <= 4; t += 3) {
    audit_options o = {.key = &f->l.key, .threads = t};
    audit_result r;
    assert_int_equal(audit_verify(&r, b.data, b.len, &o), MLPROTO_OK);
    expect_ok(&r);
    assert_int_equal(r.entries, 3100);
    assert_int_equal(r.device_records, 3098);
    audit_result_free(&r);
  }
  /* signatures broken in entries 1023 and 1024 (the last of the first batch,
   * the first of the second), and 3099, the very last */
  size_t bad[3] = {1023, 1024, 3099};
  for (int k = 0; k < 3; k++) f->l.e[bad[k]].env[f->l.e[bad[k]].len / 3] ^= 0x10;
  mlproto_buf_free(&b);
  ag_file(&f->l, &b);
  for (unsigned t = 1; t <= 4; t += 3) {
    audit_options o = {.key = &f->l.key, .threads = t};
    audit_result r;
    assert_int_equal(audit_verify(&r, b.data, b.len, &o), MLPROTO_OK);
    for (int k = 0; k < 3; k++) {
      int found = 0;
      for (size_t i = 0; i < r.n_findings; i++)
        found |= r.findings[i].has_index && r.findings[i].index == bad[k];
      if (!found) {
        dump(&r);
        fail_msg("threads %u: entry %zu not named", t, bad[k]);
      }
    }
    audit_result_free(&r);
  }
  mlproto_buf_free(&b);
}

/* ------------------------------------------------------------- state */

static void state_directory(void **state) {
  fx *f = *state;
  char dir[64] = "/tmp/audit-state-XXXXXX", sub[128], why[4200];
  assert_non_null(mkdtemp(dir));
  snprintf(sub, sizeof sub, "%s/st", dir);
  audit_state s;
  assert_int_equal(audit_state_open(&s, sub, why, sizeof why), 0);
  assert_false(s.have_key);
  assert_int_equal(audit_state_load_kept(&s, &f->l.key, why, sizeof why), 0);
  assert_int_equal(s.n_kept, 0);
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t nl;
  ag_checkpoint(&f->l, 3, note, &nl);
  int stored = 0;
  assert_int_equal(audit_state_save(&s, &f->l.key, (const uint8_t *)note, nl, 3, &stored), 0);
  assert_true(stored);
  assert_int_equal(audit_state_save(&s, &f->l.key, (const uint8_t *)note, nl, 3, &stored), 0);
  assert_false(stored); /* kept already */
  ag_checkpoint(&f->l, 7, note, &nl);
  assert_int_equal(audit_state_save(&s, &f->l.key, (const uint8_t *)note, nl, 7, &stored), 0);
  audit_state_close(&s);
  struct stat st;
  assert_int_equal(stat(sub, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  char p[200];
  snprintf(p, sizeof p, "%s/checkpoints/00000000000000000007.note", sub);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  assert_int_equal(audit_state_open(&s, sub, why, sizeof why), 0);
  assert_true(s.have_key);
  assert_string_equal(s.vkey, f->l.vkey);
  assert_int_equal(audit_state_load_kept(&s, &s.key, why, sizeof why), 0);
  assert_int_equal(s.n_kept, 2);
  audit_state_close(&s);
  /* a note under another size's name is damage */
  char q[200];
  snprintf(q, sizeof q, "%s/checkpoints/00000000000000000005.note", sub);
  assert_int_equal(link(p, q), 0);
  assert_int_equal(audit_state_open(&s, sub, why, sizeof why), 0);
  assert_int_equal(audit_state_load_kept(&s, &s.key, why, sizeof why), MLPROTO_ERR_TREE_RANGE);
  audit_state_close(&s);
  unlink(q);
  /* a damaged key file */
  snprintf(q, sizeof q, "%s/log-key", sub);
  FILE *k = fopen(q, "w");
  fputs("not a key\n", k);
  fclose(k);
  assert_int_equal(audit_state_open(&s, sub, why, sizeof why), MLPROTO_ERR_BAD_KEY);
  audit_state_close(&s);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(honest_log),
      T(erased_part_is_reported_not_refused),
      T(record_after_revocation),
      T(record_of_unenrolled_device),
      T(event_not_signed_by_the_log),
      T(entry_type_of_another_kind),
      T(receipt_time_goes_back),
      T(fork_gap_prev_and_duplicate),
      T(changed_disclosed_byte),
      T(removed_and_moved_entries),
      T(kept_checkpoints),
      T(checkpoint_refusals),
      T(header_of_another_log),
      T(cut_short_or_extended),
      T(every_byte_matters),
      T(many_entries_many_threads),
      T(state_directory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
