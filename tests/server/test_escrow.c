/*
 * test_escrow.c — the organisation's escrow key end to end (docs/escrow.md),
 * with real devices synced against the application half in the same
 * process (app_sync.c), the real admin commands (admin_run.h) and the audit
 * tool's escrow library (tools/audit/escrow_holder.h) over exported log files.
 *
 *   - a key made by escrow-keygen is configured (`admin escrow-key set`):
 *     one ESCROW_KEY event per mentor, and one for a mentor added later;
 *     a device grants the key of a case it opened before (at its next
 *     sync) and of a case opened after;
 *   - `decrypt` reads the names and notes of both cases from the exported
 *     file; another escrow key reads nothing;
 *   - the mentor loses her device: it is revoked, a new one enrolled reads
 *     nothing (not approved), `regrant` + `admin escrow-key import` give it
 *     the keys, and after its sync it reads the old notes and writes new
 *     ones; the same file imported again is refused; `verify` counts the
 *     re-grants and finds nothing;
 *   - after a case erasure nothing of the case decrypts and `verify` still
 *     passes, listing the erased parts;
 *   - the importer refuses a tampered grant, one signed by another escrow
 *     key, one to a device of another mentor, a kind other than KEY_GRANT,
 *     and grants when no escrow key is set; the public key string and the
 *     re-grant file's framing refuse what is not canonical.
 */
#include "testutil.h"

#include "admin_run.h"
#include "test_store.h"
#include "app.h"
#include "app_sync.h"
#include "escrow_holder.h"
#include "verify.h"

#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"
#include "mlproto/auditlog.h"
#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"
#include "mlproto/escrow.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  char anna[40], bo[40];
  mentorlog *a1;
  uint8_t c1[16], c2[16];
  char key_path[128], pub[MLPROTO_ESCROW_PUB_LEN + 1];
  mlproto_note_verifier log_key;
  unsigned files;
} fx;

static int sync_dev(fx *f, mentorlog *h) { return sa_sync_dev(f->app, h, &f->now); }

static void note(mentorlog *h, const uint8_t c[16], const char *text) {
  uint8_t r[16];
  assert_int_equal(mentorlog_note_add(h, r, c, text, strlen(text)), 0);
}

static void device_hex(mentorlog *h, char out[33]) {
  mentorlog_sync_info in;
  memset(&in, 0, sizeof in);
  in.version = MENTORLOG_SYNC_INFO_VERSION;
  assert_int_equal(mentorlog_sync_status(h, &in), 0);
  mlproto_hex_encode(out, in.device_id, 16);
}

/* The log as `admin export-log` writes it, read whole (free()). */
static uint8_t *export_log(fx *f, size_t *len) {
  char path[128], out[256];
  snprintf(path, sizeof path, "%s/export-%u.mlaudit", f->dir, ++f->files);
  const char *ex[] = {"export-log", "--out", path, NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, ex), 0);
  uint8_t *file = (uint8_t *)tu_read_file(path, len);
  assert_non_null(file);
  return file;
}

static void verify_clean(fx *f, const uint8_t *file, size_t len, audit_result *r) {
  audit_options o = {.key = &f->log_key, .threads = 1};
  assert_int_equal(audit_verify(r, file, len, &o), 0);
  for (size_t i = 0; i < r->n_findings; i++) print_message("finding: %s\n", r->findings[i].text);
  assert_int_equal(r->findings_total, 0);
}

/* What decrypt shows of a case: every sealed field's value, joined. */
typedef struct seen {
  char text[8192];
  unsigned opened, erased, no_key;
} seen;

static void add_field(seen *s, const char *v) {
  if (v && *v && strlen(s->text) + strlen(v) + 2 < sizeof s->text) {
    strcat(s->text, v);
    strcat(s->text, "|");
  }
}

static int on_record(void *ud, const ae_opened *o) {
  seen *s = ud;
  s->opened += o->state == AE_OPENED;
  s->erased += o->state == AE_ERASED;
  s->no_key += o->state == AE_NO_KEY;
  const mlproto_sealed *p = o->sealed;
  if (!p) return 0;
  if (p->payload_case == MENTORLOG__V1__SEALED__PAYLOAD_CASE_OPEN) {
    add_field(s, p->case_open->citizen_name);
    add_field(s, p->case_open->phone);
  } else if (p->payload_case == MENTORLOG__V1__SEALED__PAYLOAD_NOTE) {
    add_field(s, p->note->text);
  }
  return 0;
}

static int decrypt(const uint8_t *file, size_t len, const ae_key *k, const uint8_t c[16], seen *s,
                   ae_case_keys *keys) {
  memset(s, 0, sizeof *s);
  return ae_decrypt(file, len, k, c, on_record, s, keys);
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(p, 1, n, fp), n);
  assert_int_equal(fclose(fp), 0);
}

/* `admin escrow-key import` of the n bytes at p: its exit status. */
static int import(fx *f, const void *p, size_t n, char *out, size_t cap) {
  char path[128];
  snprintf(path, sizeof path, "%s/grants-%u", f->dir, ++f->files);
  write_file(path, p, n);
  const char *im[] = {"escrow-key", "import", path, NULL};
  return sa_admin(f->dir, out, cap, im);
}

/* `mentorlog-audit ARGS` (the real binary), its standard output into out
 * (cap bytes, NUL-terminated): its exit status. */
static int audit_cli(char *out, size_t cap, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", ML_AUDIT_BIN, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, cap - 1, p);
  out[n] = 0;
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t count_kind(const uint8_t *file, size_t len, uint32_t kind) {
  mlproto_auditlog_header h;
  size_t used, n = 0;
  assert_int_equal(mlproto_auditlog_header_decode(&h, file, len, &used), 0);
  for (size_t off = used; off < len; off += used) {
    mlproto_auditlog_item it;
    assert_int_equal(mlproto_auditlog_item_decode(&it, file + off, len - off, &used), 0);
    mlproto_record_peek pk;
    if (it.tag == MLPROTO_AUDITLOG_ENTRY && mlproto_record_peek_fields(&pk, it.envelope, it.envelope_len) == 0 &&
        pk.kind == kind)
      n++;
  }
  return n;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-escrow-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  const char *ma[] = {"mentor", "add", "Anna", NULL};
  assert_int_equal(sa_admin(f->dir, f->anna, sizeof f->anna, ma), 0);
  const char *mb[] = {"mentor", "add", "Bo", NULL};
  assert_int_equal(sa_admin(f->dir, f->bo, sizeof f->bo, mb), 0);
  char vkey[400];
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(sa_admin(f->dir, vkey, sizeof vkey, lk), 0);
  assert_int_equal(mlproto_note_vkey_parse(&f->log_key, vkey, strlen(vkey)), 0);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->anna, &f->now, NULL);
  /* case 1 before the escrow key exists */
  assert_int_equal(mentorlog_case_open(f->a1, f->c1, "NAME-ESCROW-ONE", "+4511111111"), 0);
  note(f->a1, f->c1, "NOTE-BEFORE the citizen's debts");
  assert_int_equal(sync_dev(f, f->a1), 0);
  snprintf(f->key_path, sizeof f->key_path, "%s/escrow.key", f->dir);
  assert_int_equal(ae_key_create(f->key_path, f->pub), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mentorlog_close(f->a1);
  mls_app_close(f->app);
  sa_rmrf(f->dir);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

static void escrow_reads_and_regrants(void **state) {
  fx *f = *state;
  char out[512];
  /* the key file is the owner's only */
  struct stat st;
  assert_int_equal(stat(f->key_path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char again[MLPROTO_ESCROW_PUB_LEN + 1];
  assert_int_equal(ae_key_create(f->key_path, again), MLPROTO_ERR_ALREADY_EXISTS);
  ae_key k;
  assert_int_equal(ae_key_load(f->key_path, &k), 0);

  /* no escrow yet: a re-grant file is refused as such */
  {
    mlproto_buf b;
    mlproto_buf_init(&b, 1u << 20);
    assert_int_equal(mlproto_escrow_grants_begin(&b), 0);
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(mlproto_escrow_grants_add(&b, junk, sizeof junk), 0);
    assert_int_equal(import(f, b.data, b.len, out, sizeof out), 1);
    mlproto_buf_free(&b);
  }
  const char *bad[] = {"escrow-key", "set", "mentorlog-escrow-v1:AAAA", NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, bad), 2);
  const char *set[] = {"escrow-key", "set", f->pub, NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, set), 0);
  assert_non_null(strstr(out, "2 ESCROW_KEY events"));
  assert_int_equal(sa_admin(f->dir, out, sizeof out, set), 0); /* the same key: nothing logged */
  assert_non_null(strstr(out, "already"));
  const char *show[] = {"escrow-key", "show", NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, show), 0);
  assert_string_equal(out, f->pub);
  char cleo[40];
  const char *mc[] = {"mentor", "add", "Cleo", NULL};
  assert_int_equal(sa_admin(f->dir, cleo, sizeof cleo, mc), 0);

  /* the device grants the old case's key and a new case's */
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(mentorlog_case_open(f->a1, f->c2, "NAME-ESCROW-TWO", "+4522222222"), 0);
  note(f->a1, f->c2, "NOTE-AFTER a job interview on Monday");
  assert_int_equal(sync_dev(f, f->a1), 0);

  size_t len;
  uint8_t *file = export_log(f, &len);
  audit_result r;
  verify_clean(f, file, len, &r);
  assert_int_equal(r.escrow_keys, 3); /* Anna, Bo, and Cleo added later */
  assert_int_equal(r.escrow_regrants, 0);
  audit_result_free(&r);
  assert_int_equal(count_kind(file, len, MLPROTO_KIND_ESCROW_KEY), 3);
  seen s;
  assert_int_equal(decrypt(file, len, &k, f->c1, &s, NULL), 0);
  assert_non_null(strstr(s.text, "NAME-ESCROW-ONE"));
  assert_non_null(strstr(s.text, "NOTE-BEFORE the citizen's debts"));
  assert_int_equal(s.no_key, 0);
  assert_int_equal(decrypt(file, len, &k, f->c2, &s, NULL), 0);
  assert_non_null(strstr(s.text, "NAME-ESCROW-TWO|+4522222222"));
  assert_non_null(strstr(s.text, "NOTE-AFTER a job interview on Monday"));
  {
    /* the same through the command, as an auditor runs it */
    char vkey[400], args[1024], cli[16384], c2[33];
    const char *lk[] = {"log-key", NULL};
    assert_int_equal(sa_admin(f->dir, vkey, sizeof vkey, lk), 0);
    mlproto_hex_encode(c2, f->c2, 16);
    snprintf(args, sizeof args, "decrypt '%s/export-%u.mlaudit' --escrow-key '%s' --case %s --log-key '%s' --json",
             f->dir, f->files, f->key_path, c2, vkey);
    assert_int_equal(audit_cli(cli, sizeof cli, args), 0);
    assert_non_null(strstr(cli, "\"value\":\"NOTE-AFTER a job interview on Monday\""));
    assert_non_null(strstr(cli, "\"value\":\"NAME-ESCROW-TWO\""));
    /* a key file others may read is refused */
    chmod(f->key_path, 0644);
    assert_int_equal(audit_cli(cli, sizeof cli, args), 1);
    chmod(f->key_path, 0600);
    /* a file that does not verify is refused, nothing is printed */
    char tampered[160];
    snprintf(tampered, sizeof tampered, "%s/tampered.mlaudit", f->dir);
    file[len - 200] ^= 1;
    write_file(tampered, file, len);
    file[len - 200] ^= 1;
    snprintf(args, sizeof args, "decrypt '%s' --escrow-key '%s' --case %s --log-key '%s'", tampered, f->key_path, c2, vkey);
    assert_int_equal(audit_cli(cli, sizeof cli, args), 1);
    assert_null(strstr(cli, "NOTE-AFTER"));
  }
  /* another escrow key (its secret half) opens nothing */
  char other_path[128], other_pub[MLPROTO_ESCROW_PUB_LEN + 1];
  snprintf(other_path, sizeof other_path, "%s/other.key", f->dir);
  assert_int_equal(ae_key_create(other_path, other_pub), 0);
  ae_key other;
  assert_int_equal(ae_key_load(other_path, &other), 0);
  assert_int_equal(decrypt(file, len, &other, f->c1, &s, NULL), MLPROTO_ERR_NO_CASE_KEY);
  assert_int_equal(s.opened, 0);
  uint8_t nocase[16] = {9};
  assert_int_equal(decrypt(file, len, &k, nocase, &s, NULL), MLPROTO_ERR_NOT_FOUND);
  free(file);

  /* Anna loses her phone: revoked; a new device reads nothing */
  char a1_id[33];
  device_hex(f->a1, a1_id);
  const char *rv[] = {"device", "revoke", a1_id, NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, rv), 0);
  char dir[128];
  snprintf(dir, sizeof dir, "%s/a3", f->dir);
  mentorlog *a3 = sa_device(f->app, f->dir, dir, "a3", f->anna, &f->now, NULL);
  mentorlog_note *nv;
  size_t nn;
  assert_int_equal(mentorlog_notes(a3, f->c1, &nv, &nn), 0);
  assert_int_equal(nn, 1);
  assert_true(nv[0].locked);
  mentorlog_notes_free(nv, nn);
  char a3_id[33];
  uint8_t a3_bin[16];
  device_hex(a3, a3_id);
  assert_int_equal(mlproto_hex_decode(a3_bin, 16, a3_id, 32), 0);

  /* the escrow re-grants from a fresh copy of the log */
  file = export_log(f, &len);
  mlproto_buf g;
  mlproto_buf_init(&g, 16u << 20);
  ae_regrant_info info;
  uint8_t a1_bin[16];
  assert_int_equal(mlproto_hex_decode(a1_bin, 16, a1_id, 32), 0);
  assert_int_equal(ae_regrant(file, len, &k, a1_bin, NULL, 0, (uint64_t)f->now, &g, &info),
                   MLPROTO_ERR_DEVICE_REVOKED);
  assert_int_equal(ae_regrant(file, len, &other, a3_bin, NULL, 0, (uint64_t)f->now, &g, &info),
                   MLPROTO_ERR_NO_ESCROW_KEY);
  assert_int_equal(g.len, 0);
  assert_int_equal(ae_regrant(file, len, &k, a3_bin, NULL, 0, (uint64_t)f->now, &g, &info), 0);
  assert_int_equal(info.cases, 2);
  assert_int_equal(info.grants, 2);
  assert_int_equal(info.first_seq, 1);
  free(file);
  mlproto_buf_free(&g);
  /* as the auditor runs it: the command writes the file the admin imports */
  {
    char vkey[400], args[1024], cli[4096], grants[160];
    const char *lk[] = {"log-key", NULL};
    assert_int_equal(sa_admin(f->dir, vkey, sizeof vkey, lk), 0);
    snprintf(grants, sizeof grants, "%s/regrant.grants", f->dir);
    snprintf(args, sizeof args, "regrant '%s/export-%u.mlaudit' --escrow-key '%s' --device %s --out '%s' --log-key '%s'",
             f->dir, f->files, f->key_path, a3_id, grants, vkey);
    assert_int_equal(audit_cli(cli, sizeof cli, args), 0);
    assert_non_null(strstr(cli, "2 KEY_GRANTs of 2 cases"));
    struct stat gs;
    assert_int_equal(stat(grants, &gs), 0);
    assert_int_equal(gs.st_mode & 0777, 0600);
    assert_int_equal(audit_cli(cli, sizeof cli, args), 1); /* --out exists: never replaced */
    size_t gl;
    uint8_t *gb = (uint8_t *)tu_read_file(grants, &gl);
    assert_non_null(gb);
    assert_int_equal(import(f, gb, gl, out, sizeof out), 0);
    assert_non_null(strstr(out, "imported 2 re-grants"));
    /* the same grants again: the escrow's chain is past them */
    assert_int_equal(import(f, gb, gl, out, sizeof out), 1);
    free(gb);
  }

  assert_int_equal(sync_dev(f, a3), 0);
  assert_int_equal(mentorlog_notes(a3, f->c1, &nv, &nn), 0);
  assert_int_equal(nn, 1);
  assert_false(nv[0].locked);
  assert_string_equal(nv[0].text, "NOTE-BEFORE the citizen's debts");
  mentorlog_notes_free(nv, nn);
  mentorlog_case *cv;
  size_t nc;
  assert_int_equal(mentorlog_cases(a3, &cv, &nc), 0);
  assert_int_equal(nc, 2);
  for (size_t i = 0; i < nc; i++) {
    assert_false(cv[i].locked);
    assert_non_null(strstr(cv[i].name, "NAME-ESCROW-"));
  }
  mentorlog_cases_free(cv, nc);
  mentorlog_sync_info in;
  memset(&in, 0, sizeof in);
  in.version = MENTORLOG_SYNC_INFO_VERSION;
  assert_int_equal(mentorlog_sync_status(a3, &in), 0);
  assert_true(in.approved); /* granted by the escrow */
  note(a3, f->c1, "NOTE-NEW written on the new phone");
  assert_int_equal(sync_dev(f, a3), 0);

  file = export_log(f, &len);
  verify_clean(f, file, len, &r);
  assert_int_equal(r.escrow_regrants, 2);
  audit_result_free(&r);
  assert_int_equal(decrypt(file, len, &k, f->c1, &s, NULL), 0);
  assert_non_null(strstr(s.text, "NOTE-NEW written on the new phone"));
  free(file);

  /* erasure: nothing of case 2 decrypts any more, and the log verifies */
  assert_int_equal(mentorlog_case_erase(a3, f->c2), 0);
  assert_int_equal(sync_dev(f, a3), 0);
  file = export_log(f, &len);
  verify_clean(f, file, len, &r);
  assert_true(r.n_erased > 0);
  for (size_t i = 0; i < r.n_erased; i++) assert_true(r.erased[i].accounted);
  audit_result_free(&r);
  ae_case_keys found;
  assert_int_equal(decrypt(file, len, &k, f->c2, &s, &found), MLPROTO_ERR_NO_CASE_KEY);
  assert_int_equal(s.opened, 0);
  assert_true(found.grants > 0);
  assert_int_equal(found.grants, found.grants_erased);
  assert_int_equal(decrypt(file, len, &k, f->c1, &s, NULL), 0);
  assert_non_null(strstr(s.text, "NAME-ESCROW-ONE"));
  /* a re-grant of an erased case is refused */
  mlproto_buf_init(&g, 16u << 20);
  assert_int_equal(ae_regrant(file, len, &k, a3_bin, (const uint8_t(*)[16])f->c2, 1, (uint64_t)f->now, &g, &info),
                   MLPROTO_ERR_CASE_ERASED);
  mlproto_buf_free(&g);
  free(file);
  mentorlog_close(a3);
  ae_key_free(&other);
  ae_key_free(&k);
}

/* A KEY_GRANT of case_id by signer (seq, prev) to recipient, or another
 * kind; the envelope in out. */
static void forge(const ae_key *signer, const uint8_t case_id[16], uint64_t seq, const uint8_t prev[32],
                  const uint8_t recipient[32], mlproto_kind kind, mlproto_buf *out) {
  uint8_t sealed[MLPROTO_CASE_KEY_SEALEDBYTES];
  mlproto_key *ck = NULL;
  assert_int_equal(mlproto_key_generate(&ck, MLPROTO_KEY_CASE), 0);
  assert_int_equal(mlproto_case_key_seal(sealed, ck, recipient), 0);
  mlproto_key_free(ck);
  Mentorlog__V1__SealedKey sk = MENTORLOG__V1__SEALED_KEY__INIT, *skp = &sk;
  sk.recipient = (ProtobufCBinaryData){32, (uint8_t *)recipient};
  sk.sealed_key = (ProtobufCBinaryData){sizeof sealed, sealed};
  Mentorlog__V1__KeyGrantDisclosed kg = MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
  kg.n_keys = 1;
  kg.keys = &skp;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT;
  d.key_grant = &kg;
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, case_id, 16);
  p.seq = seq;
  if (prev) memcpy(p.prev, prev, 32);
  p.hlc = (uint64_t)time(NULL) * 1000 << 16;
  p.kind = kind;
  uint8_t *env = NULL;
  size_t n = 0;
  assert_int_equal(mlproto_record_build(&env, &n, NULL, &p, kind == MLPROTO_KIND_KEY_GRANT ? &d : NULL, NULL,
                                        NULL, signer->sign),
                   0);
  mlproto_buf_reset(out);
  assert_int_equal(mlproto_escrow_grants_begin(out), 0);
  assert_int_equal(mlproto_escrow_grants_add(out, env, n), 0);
  mlproto_free(env);
}

static void import_refusals(void **state) {
  fx *f = *state;
  char out[512];
  ae_key k, other;
  char other_path[128], other_pub[MLPROTO_ESCROW_PUB_LEN + 1];
  snprintf(other_path, sizeof other_path, "%s/other2.key", f->dir);
  assert_int_equal(ae_key_create(other_path, other_pub), 0);
  assert_int_equal(ae_key_load(other_path, &other), 0);
  assert_int_equal(ae_key_load(f->key_path, &k), 0);
  const char *set[] = {"escrow-key", "set", f->pub, NULL};
  assert_int_equal(sa_admin(f->dir, out, sizeof out, set), 0);
  /* Bo's device: a recipient of another mentor */
  char dir[128];
  snprintf(dir, sizeof dir, "%s/b1", f->dir);
  mentorlog *b1 = sa_device(f->app, f->dir, dir, "b1", f->bo, &f->now, NULL);
  mentorlog_sync_info in;
  memset(&in, 0, sizeof in);
  in.version = MENTORLOG_SYNC_INFO_VERSION;
  assert_int_equal(mentorlog_sync_status(f->a1, &in), 0);
  size_t len;
  uint8_t *file = export_log(f, &len);
  /* box keys of a1 and b1 from the log (their DEVICE_ENROLLED events) */
  uint8_t a1_box[32] = {0}, b1_box[32] = {0};
  uint8_t anna[16], bo[16];
  assert_int_equal(mlproto_hex_decode(anna, 16, f->anna, 32), 0);
  assert_int_equal(mlproto_hex_decode(bo, 16, f->bo, 32), 0);
  {
    mlproto_auditlog_header h;
    size_t used;
    assert_int_equal(mlproto_auditlog_header_decode(&h, file, len, &used), 0);
    for (size_t off = used; off < len; off += used) {
      mlproto_auditlog_item it;
      assert_int_equal(mlproto_auditlog_item_decode(&it, file + off, len - off, &used), 0);
      mlproto_record *r = NULL;
      if (it.tag != MLPROTO_AUDITLOG_ENTRY || mlproto_record_verify(&r, it.envelope, it.envelope_len)) continue;
      if (r->kind == MLPROTO_KIND_DEVICE_ENROLLED) {
        const Mentorlog__V1__DeviceEnrolled *e = r->disclosed->device_enrolled;
        if (memcmp(e->mentor_id.data, anna, 16) == 0) memcpy(a1_box, e->box_pub.data, 32);
        if (memcmp(e->mentor_id.data, bo, 16) == 0) memcpy(b1_box, e->box_pub.data, 32);
      }
      mlproto_record_free(r);
    }
  }
  free(file);
  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  /* a good one first: accepted (then the tip is seq 1) */
  forge(&k, f->c1, 1, NULL, a1_box, MLPROTO_KIND_KEY_GRANT, &b);
  /* tampered: one byte of the envelope */
  b.data[b.len - 10] ^= 1;
  assert_int_equal(import(f, b.data, b.len, out, sizeof out), 1);
  b.data[b.len - 10] ^= 1;
  /* cut short */
  assert_int_equal(import(f, b.data, b.len - 3, out, sizeof out), 1);
  /* by another escrow key */
  mlproto_buf o2;
  mlproto_buf_init(&o2, 1u << 20);
  forge(&other, f->c1, 1, NULL, a1_box, MLPROTO_KIND_KEY_GRANT, &o2);
  assert_int_equal(import(f, o2.data, o2.len, out, sizeof out), 1);
  /* to Bo's device, for Anna's case */
  forge(&k, f->c1, 1, NULL, b1_box, MLPROTO_KIND_KEY_GRANT, &o2);
  assert_int_equal(import(f, o2.data, o2.len, out, sizeof out), 1);
  /* not a KEY_GRANT */
  forge(&k, f->c1, 1, NULL, a1_box, MLPROTO_KIND_CASE_ERASE, &o2);
  assert_int_equal(import(f, o2.data, o2.len, out, sizeof out), 1);
  /* a case the server does not know */
  uint8_t unknown[16] = {7, 7, 7};
  forge(&k, unknown, 1, NULL, a1_box, MLPROTO_KIND_KEY_GRANT, &o2);
  assert_int_equal(import(f, o2.data, o2.len, out, sizeof out), 1);
  /* seq 2 without seq 1 */
  uint8_t prev[32] = {1};
  forge(&k, f->c1, 2, prev, a1_box, MLPROTO_KIND_KEY_GRANT, &o2);
  assert_int_equal(import(f, o2.data, o2.len, out, sizeof out), 1);
  /* nothing was logged by any refusal: the good one still goes in at seq 1 */
  assert_int_equal(import(f, b.data, b.len, out, sizeof out), 0);
  assert_non_null(strstr(out, "imported 1 re-grant"));
  mlproto_buf_free(&o2);
  mlproto_buf_free(&b);
  /* the device pulls it (the escrow's grant verifies, its chain holds)
   * without calling the server a liar */
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, b1), 0);
  file = export_log(f, &len);
  audit_result r;
  verify_clean(f, file, len, &r);
  assert_int_equal(r.escrow_regrants, 1);
  audit_result_free(&r);
  free(file);
  mentorlog_close(b1);
  ae_key_free(&other);
  ae_key_free(&k);
}

static void codecs(void **state) {
  (void)state;
  uint8_t box[32], sign[32], b2[32], s2[32];
  randombytes_buf(box, 32);
  uint8_t sk[64];
  assert_int_equal(crypto_sign_keypair(sign, sk), 0);
  char pub[MLPROTO_ESCROW_PUB_LEN + 1];
  assert_int_equal(mlproto_escrow_pub_format(pub, box, sign), 0);
  assert_int_equal(strlen(pub), MLPROTO_ESCROW_PUB_LEN);
  assert_int_equal(mlproto_escrow_pub_parse(pub, b2, s2), 0);
  assert_memory_equal(b2, box, 32);
  assert_memory_equal(s2, sign, 32);
  char bad[MLPROTO_ESCROW_PUB_LEN + 2];
  strcpy(bad, pub);
  bad[0] = 'M'; /* prefix */
  assert_int_equal(mlproto_escrow_pub_parse(bad, b2, s2), MLPROTO_ERR_BAD_KEY);
  strcpy(bad, pub);
  bad[MLPROTO_ESCROW_PUB_LEN - 1] = bad[MLPROTO_ESCROW_PUB_LEN - 1] == 'A' ? 'B' : 'A'; /* '=' or stray bits */
  assert_int_equal(mlproto_escrow_pub_parse(bad, b2, s2), MLPROTO_ERR_BAD_KEY);
  strcpy(bad, pub);
  strcat(bad, "A");
  assert_int_equal(mlproto_escrow_pub_parse(bad, b2, s2), MLPROTO_ERR_BAD_KEY);
  uint8_t zero[32] = {0};
  assert_int_equal(mlproto_escrow_pub_format(pub, zero, sign), 0);
  assert_int_equal(mlproto_escrow_pub_parse(pub, b2, s2), MLPROTO_ERR_BAD_KEY);
  uint8_t notpoint[32];
  memset(notpoint, 0xff, 32);
  assert_int_equal(mlproto_escrow_pub_format(pub, box, notpoint), 0);
  assert_int_equal(mlproto_escrow_pub_parse(pub, b2, s2), MLPROTO_ERR_BAD_KEY);

  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  size_t off = 0, count = 0, n;
  const uint8_t *env;
  assert_int_equal(mlproto_escrow_grants_begin(&b), 0);
  assert_int_equal(mlproto_escrow_grants_next(b.data, b.len, &off, &count, &env, &n),
                   MLPROTO_ERR_AUDIT_FILE_MALFORMED); /* no grant at all */
  assert_int_equal(mlproto_escrow_grants_add(&b, (const uint8_t *)"abc", 3), 0);
  assert_int_equal(mlproto_escrow_grants_add(&b, NULL, 0), MLPROTO_ERR_FIELD_SIZE);
  off = count = 0;
  assert_int_equal(mlproto_escrow_grants_next(b.data, b.len, &off, &count, &env, &n), 1);
  assert_int_equal(n, 3);
  assert_memory_equal(env, "abc", 3);
  assert_int_equal(mlproto_escrow_grants_next(b.data, b.len, &off, &count, &env, &n), 0);
  off = count = 0;
  assert_int_equal(mlproto_escrow_grants_next(b.data, b.len - 1, &off, &count, &env, &n), MLPROTO_ERR_AUDIT_FILE_TRUNCATED);
  b.data[0] ^= 0x20;
  off = count = 0;
  assert_int_equal(mlproto_escrow_grants_next(b.data, b.len, &off, &count, &env, &n), MLPROTO_ERR_AUDIT_FILE_MALFORMED);
  mlproto_buf_free(&b);
}

int main(void) {
  assert_int_equal(mlproto_crypto_init(), 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(codecs),
      cmocka_unit_test_setup_teardown(escrow_reads_and_regrants, setup, teardown),
      cmocka_unit_test_setup_teardown(import_refusals, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
