/*
 * test_audit_fetch.c — the auditor's whole path against the REAL
 * mentorlog-server over TLS on loopback (tests/integration/harness.h):
 * devices of two mentors push records (tools/devsim), one device is
 * revoked; an auditor token (admin token add --role auditor) fetches the
 * log with `mentorlog-audit fetch`, the administrator exports it with
 * `admin export-log` — the two files are byte for byte the same — and
 * `mentorlog-audit verify` finds nothing, with and without a state
 * directory. Then the tampering an auditor must catch:
 *   - 1,000 single-byte changes at random (seeded) offsets of the file;
 *   - every entry deleted, duplicated, and swapped with the next one;
 *   - the server's database altered behind its back (a disclosed byte of a
 *     stored envelope changed, a log row deleted): the next fetch and
 *     verify name the entry.
 * Each is refused (the in-process verifier of tools/audit for the many
 * variants, the binary for a sample of each kind). And the fetch's own
 * rules: resume, no clobbering, the token never from argv, refusals.
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "auditgen.h"
#include "store.h"
#include "store_tamper.h"
#include "verify.h"

#include "mlproto/auditlog.h"
#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fx {
  ih_server s;
  sc c;
  sim_dev a1, a2, b1;
  char mentor_a[40], mentor_b[40];
  char vkey[MLPROTO_NOTE_VKEY_MAX + 8];
  mlproto_note_verifier key;
  char url[96], pin[80];
  char tok[400], tok_jc[400];
  uint8_t case_a1[16], case_a2[16], case_b1[16];
  char ref[400];     /* the file of the first fetch */
  uint64_t size;     /* its tree size */
  uint64_t pushed_size; /* the tree size of the last push answer */
} fx;

static fx F;

/* ------------------------------------------------------------ helpers */

static void path_in(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", F.s.root, name);
}

/* One push of n records of d (kinds[i]) into its case. */
static void push(sim_dev *d, const uint8_t case_id[16], const mlproto_kind *kinds, size_t n) {
  uint8_t *e[8];
  size_t l[8], len;
  assert_true(n <= 8);
  for (size_t i = 0; i < n; i++) e[i] = sim_record(d, kinds[i], case_id, &l[i]);
  uint8_t *body = sim_push_body(e, l, n, &len);
  for (size_t i = 0; i < n; i++) mlproto_free(e[i]);
  int st;
  uint8_t *rb;
  size_t rl;
  /* once more on a fresh connection when the kept one was closed (idle for
   * longer than the server keeps it, under valgrind): a push is idempotent */
  int rc = sc_call(&F.c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl);
  if (rc) rc = sc_call(&F.c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl);
  assert_int_equal(rc, 0);
  free(body);
  assert_int_equal(st, 200);
  mlproto_sth sth;
  memset(&sth, 0, sizeof sth);
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, &sth), 0);
  free(rb);
  F.pushed_size = sth.size;
}

static void write_secret(const char *path, const char *text, mode_t mode) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "%s\n", text);
  assert_int_equal(fclose(f), 0);
  assert_int_equal(chmod(path, mode), 0);
}

/* mentorlog-audit ARGS... (NULL-terminated); stdout into out. */
static int audit(char *out, size_t cap, const char *a0, ...) {
  const char *argv[24] = {ML_AUDIT_BIN, a0};
  size_t n = 2;
  va_list ap;
  va_start(ap, a0);
  const char *a;
  while (n + 1 < 24 && (a = va_arg(ap, const char *))) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return ih_run(out, cap, 60000, argv);
}

static int fetch_to(const char *out, const char *token_file) {
  return audit(NULL, 0, "fetch", F.url, "--token-file", token_file, "--pin", F.pin, "--out", out,
               (char *)NULL);
}

static char *load(const char *path, size_t *len) {
  char *s = tu_read_file(path, len);
  if (!s) fail_msg("cannot read %s", path);
  return s;
}

static audit_result check(const uint8_t *p, size_t n) {
  audit_options o = {.key = &F.key};
  audit_result r;
  assert_int_equal(audit_verify(&r, p, n, &o), MLPROTO_OK);
  return r;
}

static int has_finding(const audit_result *r, int code, uint64_t index) {
  for (size_t i = 0; i < r->n_findings; i++)
    if (r->findings[i].code == code && r->findings[i].has_index && r->findings[i].index == index)
      return 1;
  return 0;
}

/* The items of a file: the header's length, each item's offset and length. */
typedef struct items {
  size_t header;
  size_t off[256], len[256];
  size_t n; /* the last one is the checkpoint */
} items;

static items split(const uint8_t *p, size_t n) {
  items it;
  memset(&it, 0, sizeof it);
  mlproto_auditlog_header h;
  assert_int_equal(mlproto_auditlog_header_decode(&h, p, n, &it.header), 0);
  size_t off = it.header;
  while (off < n) {
    mlproto_auditlog_item x;
    size_t used;
    assert_int_equal(mlproto_auditlog_item_decode(&x, p + off, n - off, &used), 0);
    assert_true(it.n < 256);
    it.off[it.n] = off;
    it.len[it.n++] = used;
    off += used;
  }
  return it;
}

/* A copy of the file with entry i left out (dup 0) or written twice (1). */
static uint8_t *without_or_twice(const uint8_t *p, size_t n, const items *it, size_t i, int dup,
                                 size_t *out_len) {
  size_t m = dup ? n + it->len[i] : n - it->len[i];
  uint8_t *q = malloc(m);
  assert_non_null(q);
  size_t end = it->off[i] + it->len[i];
  if (dup) {
    memcpy(q, p, end);
    memcpy(q + end, p + it->off[i], it->len[i]);
    memcpy(q + end + it->len[i], p + end, n - end);
  } else {
    memcpy(q, p, it->off[i]);
    memcpy(q + it->off[i], p + end, n - end);
  }
  *out_len = m;
  return q;
}

/* ------------------------------------------------------------- set-up */

static int setup(void **state) {
  (void)state;
  memset(&F, 0, sizeof F);
  ih_start(&F.s, NULL);
  sc_init(&F.c, &F.s);
  const char *ma[] = {"mentor", "add", "Anna", NULL}, *mb[] = {"mentor", "add", "Bo", NULL};
  assert_int_equal(ih_admin(&F.s, F.mentor_a, sizeof F.mentor_a, ma), 0);
  assert_int_equal(ih_admin(&F.s, F.mentor_b, sizeof F.mentor_b, mb), 0);
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(ih_admin(&F.s, F.vkey, sizeof F.vkey, lk), 0);
  assert_int_equal(mlproto_note_vkey_parse(&F.key, F.vkey, strlen(F.vkey)), MLPROTO_OK);
  snprintf(F.url, sizeof F.url, "https://%s:%d", F.s.host, F.s.port);
  snprintf(F.pin, sizeof F.pin, "%s", F.s.fingerprint);

  char t[128];
  const char *ta[] = {"token", "add", "--role", "auditor", NULL};
  assert_int_equal(ih_admin(&F.s, t, sizeof t, ta), 0);
  path_in(F.tok, sizeof F.tok, "auditor.token");
  write_secret(F.tok, t, 0600);
  const char *tj[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(ih_admin(&F.s, t, sizeof t, tj), 0);
  path_in(F.tok_jc, sizeof F.tok_jc, "jobcentre.token");
  write_secret(F.tok_jc, t, 0600);

  /* Two devices of Anna, one of Bo; records of each; Anna's second device
   * revoked, then more records of the others. */
  sim_dev_init(&F.a1);
  sim_dev_init(&F.a2);
  sim_dev_init(&F.b1);
  assert_int_equal(sc_device_up(&F.c, &F.a1, F.mentor_a), 0);
  assert_int_equal(sc_device_up(&F.c, &F.b1, F.mentor_b), 0);
  assert_int_equal(sc_device_up(&F.c, &F.a2, F.mentor_a), 0);
  mlproto_random_id(F.case_a1);
  mlproto_random_id(F.case_a2);
  mlproto_random_id(F.case_b1);
  static const mlproto_kind open_and_two[] = {MLPROTO_KIND_CASE_OPEN, MLPROTO_KIND_CONTACT,
                                              MLPROTO_KIND_NOTE};
  static const mlproto_kind two[] = {MLPROTO_KIND_CONTACT, MLPROTO_KIND_CONTACT};
  push(&F.a1, F.case_a1, open_and_two, 3);
  push(&F.b1, F.case_b1, open_and_two, 3);
  push(&F.a2, F.case_a2, open_and_two, 2);
  uint8_t id[16];
  char idhex[33];
  mls_device_id(id, F.a2.pub);
  mlproto_hex_encode(idhex, id, 16);
  const char *rv[] = {"device", "revoke", idhex, NULL};
  assert_int_equal(ih_admin(&F.s, NULL, 0, rv), 0);
  push(&F.a1, F.case_a1, two, 2);
  push(&F.b1, F.case_b1, two, 2);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  sc_free(&F.c);
  sim_dev_free(&F.a1);
  sim_dev_free(&F.a2);
  sim_dev_free(&F.b1);
  ih_stop(&F.s);
  return 0;
}

/* -------------------------------------------------------------- tests */

static void fetch_export_verify(void **state) {
  (void)state;
  path_in(F.ref, sizeof F.ref, "log.audit");
  assert_int_equal(fetch_to(F.ref, F.tok), 0);
  struct stat st;
  assert_int_equal(stat(F.ref, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char part[450];
  snprintf(part, sizeof part, "%s.part", F.ref);
  assert_int_not_equal(access(part, F_OK), 0);

  size_t len;
  char *file = load(F.ref, &len);
  mlproto_auditlog_header h;
  size_t used;
  assert_int_equal(mlproto_auditlog_header_decode(&h, (const uint8_t *)file, len, &used), 0);
  F.size = h.size;
  assert_int_equal(F.size, 3 + 1 + 3 + 3 + 2 + 2 + 2); /* enrolments, revocation, records */
  assert_int_equal(F.size, F.pushed_size);             /* the log as of the last push */
  assert_string_equal(h.vkey, F.vkey);

  /* export-log of the same checkpoint: the same bytes */
  char exp[400], sz[24];
  path_in(exp, sizeof exp, "export.audit");
  snprintf(sz, sizeof sz, "%llu", (unsigned long long)F.size);
  const char *ex[] = {"export-log", "--out", exp, "--size", sz, NULL};
  assert_int_equal(ih_admin(&F.s, NULL, 0, ex), 0);
  size_t elen;
  char *efile = load(exp, &elen);
  assert_int_equal(elen, len);
  assert_memory_equal(efile, file, len);
  free(efile);

  /* in process: nothing found, and the log's events counted */
  audit_result r = check((const uint8_t *)file, len);
  assert_int_equal(r.findings_total, 0);
  assert_int_equal(r.entries, F.size);
  assert_int_equal(r.server_events, 4);
  assert_int_equal(r.device_records, F.size - 4);
  assert_int_equal(r.devices_enrolled, 3);
  assert_int_equal(r.devices_revoked, 1);
  audit_result_free(&r);
  free(file);

  /* the binary: with the key, then with a state directory that keeps it */
  char out[8192], stdir[400];
  path_in(stdir, sizeof stdir, "state");
  assert_int_equal(audit(out, sizeof out, "verify", F.ref, "--log-key", F.vkey, (char *)NULL), 0);
  assert_non_null(strstr(out, "OK: every check holds"));
  assert_int_equal(audit(out, sizeof out, "verify", F.ref, "--log-key", F.vkey, "--state", stdir,
                         "--json", (char *)NULL), 0);
  assert_non_null(strstr(out, "\"ok\":true"));
  assert_non_null(strstr(out, "\"stored\":true"));
  assert_int_equal(audit(out, sizeof out, "verify", F.ref, "--state", stdir, (char *)NULL), 0);
  assert_non_null(strstr(out, "kept already"));
  /* that state is of this log: another key is refused, and so is the file under it */
  uint8_t pk[32];
  char other[MLPROTO_NOTE_VKEY_MAX];
  randombytes_buf(pk, sizeof pk);
  pk[31] &= 0x7f;
  assert_int_equal(mlproto_note_vkey_format(other, sizeof other, NULL, F.key.name, pk), 0);
  assert_int_equal(audit(out, sizeof out, "verify", F.ref, "--log-key", other, "--state", stdir,
                         (char *)NULL), 1);
  assert_int_equal(audit(out, sizeof out, "verify", F.ref, "--log-key", other, "--json", (char *)NULL), 1);
  assert_non_null(strstr(out, "\"ok\":false"));
  assert_non_null(strstr(out, "\"code\":\"BAD_KEY\""));
  assert_non_null(strstr(out, "\"code\":\"CHECKPOINT_UNSIGNED\""));
  /* usage errors */
  assert_int_equal(audit(NULL, 0, "verify", F.ref, (char *)NULL), 2);
  assert_int_equal(audit(NULL, 0, "verify", F.ref, "--log-key", "nonsense", (char *)NULL), 2);
  assert_int_equal(audit(NULL, 0, "verify", (char *)NULL), 2);
  assert_int_equal(audit(NULL, 0, "nonsense", (char *)NULL), 2);
  assert_int_equal(audit(out, sizeof out, "verify", "--help", (char *)NULL), 0);
  assert_non_null(strstr(out, "Usage: mentorlog-audit verify"));
  assert_int_equal(audit(out, sizeof out, "fetch", "--help", (char *)NULL), 0);
  assert_non_null(strstr(out, "Usage: mentorlog-audit fetch"));
}

/* A tiny seeded generator (xorshift64*), so that a failure can be replayed. */
static uint64_t rng = 0x20261203u;
static uint64_t next_rand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 0x2545F4914F6CDD1DULL;
}

static void single_byte_changes(void **state) {
  (void)state;
  size_t len;
  uint8_t *file = (uint8_t *)load(F.ref, &len);
  for (int k = 0; k < 1000; k++) {
    size_t at = (size_t)(next_rand() % len);
    uint8_t was = file[at], now = (uint8_t)(was ^ (1 + next_rand() % 255));
    file[at] = now;
    audit_result r = check(file, len);
    if (r.findings_total == 0)
      fail_msg("change %d: byte %zu of %zu (%02x -> %02x) is not detected", k, at, len, was, now);
    audit_result_free(&r);
    file[at] = was;
  }
  /* Through the binary: in the magic, in the first entry's length prefix, in
   * an envelope: refused, each with what is wrong. */
  items it = split(file, len);
  size_t offs[3] = {3, it.off[0] + 2, it.off[5] + it.len[5] - 7};
  const char *want[3] = {"AUDIT_FILE_MALFORMED", "AUDIT_FILE_", "index 5: "};
  char bad[400], out[8192];
  path_in(bad, sizeof bad, "bad.audit");
  for (int k = 0; k < 3; k++) {
    file[offs[k]] ^= 0x20;
    FILE *f = fopen(bad, "wb");
    assert_int_equal(fwrite(file, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    file[offs[k]] ^= 0x20;
    assert_int_equal(audit(out, sizeof out, "verify", bad, "--log-key", F.vkey, (char *)NULL), 1);
    if (!strstr(out, want[k])) fail_msg("change at byte %zu: no \"%s\" in:\n%s", offs[k], want[k], out);
    assert_non_null(strstr(out, "FAILED"));
  }
  free(file);
}

static void whole_entry_changes(void **state) {
  (void)state;
  size_t len;
  uint8_t *file = (uint8_t *)load(F.ref, &len);
  items it = split(file, len);
  size_t entries = it.n - 1;
  assert_int_equal(entries, F.size);
  for (size_t i = 0; i < entries; i++) {
    for (int dup = 0; dup < 2; dup++) {
      size_t m;
      uint8_t *q = without_or_twice(file, len, &it, i, dup, &m);
      audit_result r = check(q, m);
      if (r.findings_total == 0) fail_msg("entry %zu %s: not detected", i, dup ? "twice" : "deleted");
      /* the entry concerned is named (but the last one deleted: the
       * checkpoint's size and root say that one is missing) */
      int named = 0;
      for (size_t k = 0; k < r.n_findings; k++)
        named |= r.findings[k].has_index && r.findings[k].index == i;
      if (!named && (dup || i + 1 < entries))
        fail_msg("entry %zu %s: no finding names it", i, dup ? "twice" : "deleted");
      audit_result_free(&r);
      free(q);
    }
    if (i + 1 < entries) { /* swapped with the next one */
      uint8_t *q = malloc(len);
      memcpy(q, file, len);
      size_t a = it.off[i], la = it.len[i], lb = it.len[i + 1];
      memcpy(q + a, file + it.off[i + 1], lb);
      memcpy(q + a + lb, file + a, la);
      audit_result r = check(q, len);
      if (r.findings_total == 0) fail_msg("entries %zu and %zu swapped: not detected", i, i + 1);
      audit_result_free(&r);
      free(q);
    }
  }
  free(file);
}

static void fetch_rules(void **state) {
  (void)state;
  char out[400], part[450], bad_tok[400];
  /* the file exists: never replaced */
  assert_int_equal(fetch_to(F.ref, F.tok), 1);
  path_in(out, sizeof out, "r.audit");
  /* the token: never from argv; a file others may read; standard input empty */
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token", "x", "--pin", F.pin, "--out", out,
                         (char *)NULL), 2);
  path_in(bad_tok, sizeof bad_tok, "open.token");
  char t[160];
  size_t tl;
  char *tok = load(F.tok, &tl);
  snprintf(t, sizeof t, "%.*s", (int)strcspn(tok, "\n"), tok);
  free(tok);
  write_secret(bad_tok, t, 0644);
  assert_int_equal(fetch_to(out, bad_tok), 1);
  assert_int_equal(fetch_to(out, "-"), 1);
  /* a jobcentre's token is refused (403), a wrong pin too */
  assert_int_equal(fetch_to(out, F.tok_jc), 1);
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token-file", F.tok, "--pin",
                         "0000000000000000000000000000000000000000000000000000000000000000", "--out",
                         out, (char *)NULL), 1);
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token-file", F.tok, "--out", out, (char *)NULL), 2);
  assert_int_not_equal(access(out, F_OK), 0);
  snprintf(part, sizeof part, "%s.part", out);
  assert_int_not_equal(access(part, F_OK), 0); /* nothing left behind */
  /* --resume without a partial file */
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token-file", F.tok, "--pin", F.pin, "--out", out,
                         "--resume", (char *)NULL), 1);
}

static void resume(void **state) {
  (void)state;
  size_t len;
  uint8_t *file = (uint8_t *)load(F.ref, &len);
  items it = split(file, len);
  /* An interrupted fetch: six entries and half of the seventh. */
  char out[400], part[450];
  path_in(out, sizeof out, "resumed.audit");
  snprintf(part, sizeof part, "%s.part", out);
  size_t cut = it.off[6] + it.len[6] / 2;
  int fd = open(part, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, file, cut), (ssize_t)cut);
  close(fd);
  /* the log grows meanwhile: the resumed file is still of the first checkpoint */
  static const mlproto_kind one[] = {MLPROTO_KIND_NOTE};
  push(&F.b1, F.case_b1, one, 1);
  /* without --resume the partial file is not touched */
  assert_int_equal(fetch_to(out, F.tok), 1);
  struct stat st;
  assert_int_equal(stat(part, &st), 0);
  assert_int_equal((size_t)st.st_size, cut);
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token-file", F.tok, "--pin", F.pin, "--out", out,
                         "--resume", (char *)NULL), 0);
  assert_int_not_equal(access(part, F_OK), 0);
  size_t rl;
  char *res = load(out, &rl);
  assert_int_equal(rl, len);
  assert_memory_equal(res, file, len);
  free(res);
  /* interrupted after the last write, before the rename: --resume only renames */
  path_in(out, sizeof out, "resumed2.audit");
  snprintf(part, sizeof part, "%s.part", out);
  fd = open(part, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, file, len), (ssize_t)len);
  close(fd);
  assert_int_equal(audit(NULL, 0, "fetch", F.url, "--token-file", F.tok, "--pin", F.pin, "--out", out,
                         "--resume", (char *)NULL), 0);
  res = load(out, &rl);
  assert_int_equal(rl, len);
  assert_memory_equal(res, file, len);
  free(res);
  free(file);
}

static void altered_database(void **state) {
  (void)state;
  size_t len;
  uint8_t *file = (uint8_t *)load(F.ref, &len);
  items it = split(file, len);
  /* Bo's first CONTACT: a disclosed part */
  size_t k = 0;
  for (size_t i = 0; i < it.n - 1 && !k; i++) {
    mlproto_auditlog_item x;
    size_t used;
    assert_int_equal(mlproto_auditlog_item_decode(&x, file + it.off[i], it.len[i], &used), 0);
    mlproto_record *rec = NULL;
    assert_int_equal(mlproto_record_verify(&rec, x.envelope, x.envelope_len), 0);
    if (rec->kind == MLPROTO_KIND_CONTACT && memcmp(rec->author, F.b1.pub, 32) == 0) k = i;
    if (k) {
      uint8_t *env = malloc(x.envelope_len);
      memcpy(env, x.envelope, x.envelope_len);
      size_t n = 0, at = ag_disclosed_at(env, x.envelope_len, &n);
      env[at + n / 2] ^= 0x04;
      /* behind the server's back (store_tamper.h) */
      store_tamper_envelope_set(F.s.store, k, env, x.envelope_len);
      free(env);
    }
    mlproto_record_free(rec);
  }
  assert_true(k > 0);
  char f4[400], out[16384], want[64];
  path_in(f4, sizeof f4, "altered.audit");
  assert_int_equal(fetch_to(f4, F.tok), 0);
  assert_int_equal(audit(out, sizeof out, "verify", f4, "--log-key", F.vkey, (char *)NULL), 1);
  snprintf(want, sizeof want, "index %zu: DISCLOSED_HASH_MISMATCH", k);
  if (!strstr(out, want)) fail_msg("no \"%s\" in:\n%s", want, out);
  size_t l4;
  uint8_t *a4 = (uint8_t *)load(f4, &l4);
  audit_result r = check(a4, l4);
  assert_true(has_finding(&r, MLPROTO_ERR_DISCLOSED_HASH_MISMATCH, k));
  assert_int_equal(r.findings_total, 1); /* the record hash does not cover the bytes: nothing else */
  audit_result_free(&r);
  free(a4);

  /* A log row deleted: the listing skips it, the verifier names it. */
  size_t j = 6;
  store_tamper_log_delete(F.s.store, j);
  char f5[400];
  path_in(f5, sizeof f5, "deleted.audit");
  assert_int_equal(fetch_to(f5, F.tok), 0);
  assert_int_equal(audit(out, sizeof out, "verify", f5, "--log-key", F.vkey, (char *)NULL), 1);
  snprintf(want, sizeof want, "index %zu: TREE_RANGE", j);
  if (!strstr(out, want)) fail_msg("no \"%s\" in:\n%s", want, out);
  print_message("%s", out); /* what the auditor reads */
  size_t l5;
  uint8_t *a5 = (uint8_t *)load(f5, &l5);
  r = check(a5, l5);
  assert_true(has_finding(&r, MLPROTO_ERR_TREE_RANGE, j));
  audit_result_free(&r);
  /* export-log reads the same store: the same file */
  char exp[400], sz[24];
  path_in(exp, sizeof exp, "deleted-export.audit");
  mlproto_auditlog_header h;
  size_t used;
  assert_int_equal(mlproto_auditlog_header_decode(&h, a5, l5, &used), 0);
  snprintf(sz, sizeof sz, "%llu", (unsigned long long)h.size);
  const char *ex[] = {"export-log", "--out", exp, "--size", sz, NULL};
  assert_int_equal(ih_admin(&F.s, NULL, 0, ex), 0);
  size_t el;
  char *e5 = load(exp, &el);
  assert_int_equal(el, l5);
  assert_memory_equal(e5, a5, l5);
  free(e5);
  free(a5);
  free(file);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fetch_export_verify),
      cmocka_unit_test(single_byte_changes),
      cmocka_unit_test(whole_entry_changes),
      cmocka_unit_test(fetch_rules),
      cmocka_unit_test(resume),
      cmocka_unit_test(altered_database), /* last: it damages the server's store */
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
