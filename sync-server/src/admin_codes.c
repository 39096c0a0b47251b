/* admin_codes.c — `admin enroll-code MENTOR | list | revoke` (admin.h). */
#include "admin_int.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define TTL_DEFAULT_MS (24ull * 3600ull * 1000ull)

/* Crockford's base32 without I, L, O, U: unambiguous when read aloud. */
static const char CODE_ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* --- enroll-code MENTOR [--ttl D] --- */
static int cmd_code_list(admin *a, int argc, char **argv);
static int cmd_code_revoke(admin *a, int argc, char **argv);


int adm_cmd_enroll_code(admin *a, int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "list") == 0) return cmd_code_list(a, argc, argv);
  if (argc >= 2 && strcmp(argv[1], "revoke") == 0) return cmd_code_revoke(a, argc, argv);
  const char *mentor = NULL;
  uint64_t ttl = TTL_DEFAULT_MS;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--ttl") == 0) {
      if (++i == argc || mls_admin_parse_ttl(argv[i], &ttl))
        return adm_usage("--ttl: a number and s, m, h or d (at most 30d)");
    } else if (!mentor && argv[i][0] != '-') {
      mentor = argv[i];
    } else {
      return adm_usage("enroll-code MENTOR [--ttl 24h] | enroll-code list [--all] [--json] |"
                   " enroll-code revoke ID");
    }
  }
  uint8_t mid[16];
  if (!mentor || adm_parse_id(mid, 16, mentor)) return adm_usage("MENTOR: a mentor id (32 hex digits)");
  /* 20 symbols of 5 bits: 100 bits, in four groups of five. */
  uint8_t rnd[20];
  randombytes_buf(rnd, sizeof rnd);
  char code[24];
  size_t n = 0;
  for (int i = 0; i < 20; i++) {
    if (i && i % 5 == 0) code[n++] = '-';
    code[n++] = CODE_ALPHABET[rnd[i] & 31];
  }
  code[n] = 0;
  sodium_memzero(rnd, sizeof rnd);
  uint8_t h[32];
  int rc = mls_app_code_hash(h, code);
  uint8_t id[MLS_CODE_ID_LEN];
  randombytes_buf(id, sizeof id);
  uint64_t now = adm_now_ms();
  mls_txn *tx = NULL;
  if (!rc) rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    mls_mentor m;
    rc = MLS_TX(tx, mentor_get, mid, &m);
    if (!rc) rc = MLS_TX(tx, code_add, h, id, mid, now, now + ttl);
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  sodium_memzero(h, sizeof h);
  if (rc) {
    sodium_memzero(code, sizeof code);
    return adm_failure(rc == MLPROTO_ERR_NOT_FOUND ? "no such mentor" : "enroll-code", rc);
  }
  printf("%s\n", code);
  sodium_memzero(code, sizeof code);
  /* stdout is the code alone (scripts read it); the id is for revoking */
  char idhex[2 * MLS_CODE_ID_LEN + 1], exp[24];
  mlproto_hex_encode(idhex, id, sizeof id);
  fprintf(stderr, "mentorlog-server admin: code id %s, expires %s\n", idhex,
          adm_utc_time(exp, now + ttl));
  return 0;
}

/* --- enroll-code list [--all] [--json] / enroll-code revoke ID --- */
typedef struct code_ctx {
  mlproto_json *j; /* --json: the document, else NULL (text) */
  int all;
  uint64_t now;
  /* revoke: the ID (a prefix of hex digits) and what it matched */
  const char *prefix;
  int matches;
  mls_enroll_code found;
} code_ctx;

static const char *code_status(const mls_enroll_code *c, uint64_t now) {
  if (c->revoked_ms) return "revoked";
  if (c->used_ms) return "used";
  if (c->expires_ms <= now) return "expired";
  return "active";
}

static int code_one(void *ud, const mls_enroll_code *c) {
  code_ctx *l = ud;
  const char *st = code_status(c, l->now);
  if (!l->all && strcmp(st, "active") != 0) return 0;
  char id[2 * MLS_CODE_ID_LEN + 1], mentor[33], created[24], expires[24], dev[33];
  mlproto_hex_encode(id, c->id, sizeof c->id);
  mlproto_hex_encode(mentor, c->mentor_id, 16);
  adm_utc_time(created, c->created_ms);
  adm_utc_time(expires, c->expires_ms);
  static const uint8_t zero[32];
  int by = c->used_ms && sodium_memcmp(c->used_by, zero, 32) != 0;
  if (by) {
    uint8_t did[16];
    mls_device_id(did, c->used_by);
    mlproto_hex_encode(dev, did, 16);
  }
  if (l->j) {
    mlproto_json *j = l->j;
    mlproto_json_obj(j);
    mlproto_json_kstr(j, "id", id);
    mlproto_json_kstr(j, "mentor", mentor);
    mlproto_json_ku64(j, "created_ms", c->created_ms);
    mlproto_json_ku64(j, "expires_ms", c->expires_ms);
    mlproto_json_kstr(j, "status", st);
    mlproto_json_ku64(j, "used_ms", c->used_ms);
    mlproto_json_kstr(j, "used_by", by ? dev : NULL);
    mlproto_json_ku64(j, "revoked_ms", c->revoked_ms);
    mlproto_json_end(j);
    return j->err; /* a failed document stops the listing */
  }
  if (by) printf("%-16s  %-32s  %-20s  %-20s  %-7s  %s\n", id, mentor, created, expires, st, dev);
  else printf("%-16s  %-32s  %-20s  %-20s  %s\n", id, mentor, created, expires, st);
  return 0;
}

static int code_match(void *ud, const mls_enroll_code *c) {
  code_ctx *l = ud;
  char id[2 * MLS_CODE_ID_LEN + 1];
  mlproto_hex_encode(id, c->id, sizeof c->id);
  size_t n = strlen(l->prefix);
  for (size_t i = 0; i < n; i++) {
    char ch = l->prefix[i];
    if (ch >= 'A' && ch <= 'F') ch = (char)(ch - 'A' + 'a');
    if (ch != id[i]) return 0;
  }
  if (l->matches++ == 0) l->found = *c;
  return 0;
}

static int cmd_code_list(admin *a, int argc, char **argv) {
  code_ctx l;
  memset(&l, 0, sizeof l);
  int json = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (strcmp(argv[i], "--all") == 0) l.all = 1;
    else return adm_usage("enroll-code list [--all] [--json]");
  }
  l.now = adm_now_ms();
  mls_txn *tx;
  int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
  if (rc) return adm_failure("enroll-code list", rc);
  mlproto_json j;
  mlproto_buf b;
  if (json) {
    adm_json_begin(&j, &b);
    l.j = &j;
    mlproto_json_arr(&j);
  } else {
    printf("%-16s  %-32s  %-20s  %-20s  %s\n", "CODE ID", "MENTOR", "CREATED", "EXPIRES",
           l.all ? "STATUS   USED BY" : "STATUS");
  }
  rc = MLS_TX(tx, code_list, code_one, &l);
  mls_store_rollback(tx);
  if (json) {
    mlproto_json_end(&j);
    return adm_json_emit(&j, rc, "enroll-code list");
  }
  return rc ? adm_failure("enroll-code list", rc) : 0;
}

static int cmd_code_revoke(admin *a, int argc, char **argv) {
  if (argc != 3) return adm_usage("enroll-code revoke ID");
  const char *p = argv[2];
  size_t n = strlen(p);
  if (n < 4 || n > 2 * MLS_CODE_ID_LEN || strspn(p, "0123456789abcdefABCDEF") != n)
    return adm_usage("ID: a code id from enroll-code list (4 to 16 hex digits)");
  code_ctx l;
  memset(&l, 0, sizeof l);
  l.prefix = p;
  uint64_t now = adm_now_ms();
  mls_txn *tx;
  int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
  if (rc) return adm_failure("enroll-code revoke", rc);
  uint8_t full[MLS_CODE_ID_LEN];
  if (n == 2 * MLS_CODE_ID_LEN && !adm_parse_id(full, sizeof full, p)) {
    /* the whole id: one lookup */
    rc = MLS_TX(tx, code_get, full, &l.found);
    if (!rc) l.matches = 1;
    else if (rc == MLPROTO_ERR_NOT_FOUND) rc = MLPROTO_OK;
  } else {
    rc = MLS_TX(tx, code_list, code_match, &l);
  }
  const char *what = "enroll-code revoke";
  if (!rc && l.matches == 0) {
    rc = MLPROTO_ERR_NOT_FOUND;
    what = "no such enrolment code";
  } else if (!rc && l.matches > 1) {
    rc = MLPROTO_ERR_AMBIGUOUS_PREFIX;
    what = "ID matches more than one code; give more digits";
  } else if (!rc && l.found.used_ms) {
    /* too late: the device it enrolled is what to revoke */
    rc = MLPROTO_ERR_NOT_FOUND;
    what = "code already used; revoke the device it enrolled instead (enroll-code list"
           " --all shows it, then device revoke DEVICE)";
  } else if (!rc && l.found.revoked_ms) {
    rc = MLPROTO_ERR_NOT_FOUND;
    what = "code already revoked";
  }
  if (!rc) rc = MLS_TX(tx, code_revoke, l.found.id, now);
  if (rc) {
    mls_store_rollback(tx);
    return adm_failure(what, rc);
  }
  rc = mls_store_commit(tx);
  if (rc) return adm_failure("enroll-code revoke", rc);
  char id[2 * MLS_CODE_ID_LEN + 1];
  mlproto_hex_encode(id, l.found.id, sizeof l.found.id);
  printf("revoked code %s%s\n", id, l.found.expires_ms <= now ? " (it had expired already)" : "");
  return 0;
}

