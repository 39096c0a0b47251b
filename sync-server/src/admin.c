/* admin.c — the admin subcommands (see admin.h). */
#include "admin.h"
#include "datadir.h"
#include "erase.h"
#include "escrow.h"
#include "log.h"
#include "store.h"

#include "mlproto/civiltime.h"
#include "mlproto/compliance.h"
#include "mlproto/cosignature.h"
#include "mlproto/errors.h"
#include "mlproto/escrow.h"
#include "mlproto/json.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define TTL_DEFAULT_MS (24ull * 3600ull * 1000ull)
#define TTL_MAX_MS (30ull * 24ull * 3600ull * 1000ull)

typedef struct admin {
  mls_datadir dd;
  mls_store *st;
  mls_log *log;
  uint8_t *sk;
  uint8_t pk[32];
} admin;

static const char USAGE[] =
    "usage: mentorlog-server admin --data DIR COMMAND ...\n"
    "\n"
    "  init [--log-name NAME]               create the server's store and log key in DIR;\n"
    "                                       NAME: the log's name (checkpoint origin),\n"
    "                                       stored in DIR/log.name, never changed\n"
    "                                       (`serve` does this on its first start; every\n"
    "                                       other command refuses a DIR without a store)\n"
    "  mentor add NAME                      add a mentor; prints the mentor id\n"
    "  enroll-code MENTOR [--ttl 24h]       one-time enrolment code for a new device of\n"
    "                                       MENTOR (id); --ttl: 90s, 30m, 24h, 7d (max 30d),\n"
    "                                       default 24h; the code's id goes to stderr\n"
    "  enroll-code list [--all] [--json]    codes that can still enrol a device: id, mentor,\n"
    "                                       created, expires (never the code itself); --all:\n"
    "                                       also used, expired and revoked ones, with status\n"
    "  enroll-code revoke ID                a code that must never enrol a device; ID from\n"
    "                                       enroll-code list (or its first 4+ hex digits)\n"
    "  device list [--json]                 every device: id, mentor, status, label\n"
    "  device revoke DEVICE                 revoke a device (id, 32 hex digits); logged\n"
    "                                       as a DEVICE_REVOKED server event\n"
    "  token add --role jobcentre --jobcentre ID\n"
    "  token add --role auditor             new bearer token for a jobcentre, an auditor\n"
    "  token add --role witness             (reads the whole log) or a witness (may only\n"
    "                                       post cosignatures); printed once, only its\n"
    "                                       hash is stored\n"
    "  fingerprint [--cert F]               SHA-256 of the server certificate\n"
    "                                       (default DIR/tls/cert.pem), 64 hex digits\n"
    "  log-key                              the log's verifier key in the C2SP signed-note\n"
    "                                       form NAME+KEYID+BASE64, what witnesses and\n"
    "                                       auditors configure to check its checkpoints\n"
    "  retention purge --before YYYY-MM-DD [--dry-run]\n"
    "                                       erase every case all of whose grants ended\n"
    "                                       (end, or close day when closed early) before\n"
    "                                       the date: the disclosed and sealed parts of its\n"
    "                                       records are dropped (headers, signatures and\n"
    "                                       the log stay), one RETENTION_PURGE server event\n"
    "                                       per case; prints the case ids and counts, never\n"
    "                                       a name. A case without any grant is never\n"
    "                                       purged. --dry-run: list them, change nothing\n"
    "  witness add NAME VKEY                a witness of the log (C2SP tlog-witness): VKEY\n"
    "                                       its cosignature/v1 verifier key NAME+KEYID+BASE64\n"
    "                                       (mentorlog-audit witness-keygen prints it); the\n"
    "                                       server then accepts its cosignatures\n"
    "  witness list [--json]                the witnesses: name, verifier key, added\n"
    "  escrow-key set PUBLIC_KEY            the organisation's escrow key (the line\n"
    "                                       `mentorlog-audit escrow-keygen` printed): one\n"
    "                                       ESCROW_KEY server event per mentor (and for\n"
    "                                       every mentor added later); devices then seal\n"
    "                                       every case key to it, existing ones at their\n"
    "                                       next sync. The secret half never comes here\n"
    "  escrow-key show                      the configured escrow key\n"
    "  escrow-key import FILE               append the escrow's re-grants (the file\n"
    "                                       `mentorlog-audit regrant` wrote): all or none\n"
    "  export-log --out FILE [--size N]     the whole log, up to its latest checkpoint (or\n"
    "                                       that of size N), into the new file FILE (0600)\n"
    "                                       in the audit log format: the same bytes as\n"
    "                                       `mentorlog-audit fetch` of that checkpoint\n"
    "\n"
    "Works while the server runs. Exit status: 0 ok, 1 failure, 2 usage.\n";

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int usage(const char *why) {
  if (why) fprintf(stderr, "mentorlog-server admin: %s\n", why);
  fputs(USAGE, stderr);
  return EXIT_USAGE;
}

static int failure(const char *what, int rc) {
  fprintf(stderr, "mentorlog-server admin: %s: %s (%s)\n", what, mlproto_strerror(rc),
          mlproto_errname(rc));
  return EXIT_RUNTIME;
}

/* --json documents are built whole in memory (a list of every device or
 * code), then written; nothing is written when building failed. */
#define JSON_CAP ((size_t)64 << 20)

/* A writer of a new document into b. */
static void json_begin(mlproto_json *j, mlproto_buf *b) {
  mlproto_buf_init(b, JSON_CAP);
  mlproto_json_init(j, b);
}

/* Finish j's document and write it on stdout; its buffer is freed. rc: the
 * listing's own status (the document is then dropped). Returns 0 or the
 * failure's exit status (printed). */
static int json_emit(mlproto_json *j, int rc, const char *what) {
  if (!rc) rc = mlproto_json_finish(j);
  if (!rc && fwrite(j->out->data, 1, j->out->len, stdout) != j->out->len) rc = MLPROTO_ERR_IO;
  mlproto_buf_free(j->out);
  return rc ? failure(what, rc) : 0;
}

int mls_admin_parse_ttl(const char *s, uint64_t *ms) {
  if (!s || !*s) return -1;
  uint64_t v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (v > 1000000) return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (p == s || p[0] == 0 || p[1] != 0) return -1;
  uint64_t unit;
  switch (*p) {
  case 's': unit = 1000; break;
  case 'm': unit = 60 * 1000; break;
  case 'h': unit = 3600 * 1000; break;
  case 'd': unit = 24ull * 3600 * 1000; break;
  default: return -1;
  }
  uint64_t r = v * unit;
  if (v == 0 || r > TTL_MAX_MS) return -1;
  *ms = r;
  return 0;
}

static void admin_close(admin *a) {
  mls_log_close(a->log);
  mls_store_close(a->st);
  mls_datadir_key_free(a->sk);
}

/* create: only for `init`. Otherwise a directory without a server store is
 * refused: a typo in --data must not quietly start a second server with a
 * new log key. */
static int admin_open(admin *a, const char *dir, int create, const char *log_name) {
  memset(a, 0, sizeof *a);
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  int rc;
  if ((rc = mlproto_crypto_init()) || (rc = mls_datadir_init(&a->dd, dir))) return rc;
  if (!create && (access(a->dd.db, F_OK) != 0 || access(a->dd.key, F_OK) != 0))
    return MLPROTO_ERR_NOT_FOUND;
  if ((rc = mls_datadir_prepare(&a->dd, create)) ||
      (rc = mls_datadir_key_load(&a->dd, create, &a->sk, a->pk)) ||
      (rc = mls_store_open_sqlite(&a->st, a->dd.db, create, 10000)) ||
      (rc = mls_log_name_load(a->dd.root, log_name, a->pk, origin)) ||
      (rc = mls_log_open(&a->log, a->st, a->sk, a->pk, origin))) {
    admin_close(a);
    return rc;
  }
  return MLPROTO_OK;
}

static int parse_id(uint8_t *out, size_t n, const char *hex) {
  return mlproto_hex_decode(out, n, hex, strlen(hex));
}

/* --- mentor add NAME --- */
static int cmd_mentor(admin *a, int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "add") != 0) return usage("mentor add NAME");
  const char *name = argv[2];
  size_t len = strlen(name);
  if (len == 0 || len > MLS_NAME_MAX) return usage("NAME: 1..128 bytes");
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return usage("NAME: no control characters");
  mls_mentor m;
  memset(&m, 0, sizeof m);
  randombytes_buf(m.id, sizeof m.id);
  memcpy(m.name, name, len);
  m.created_ms = now_ms();
  /* in the log's transaction: a mentor added after the escrow key was set
   * gets its ESCROW_KEY event with it (escrow.h) */
  mls_txn *tx;
  int rc = mls_log_begin(a->log, &tx);
  if (!rc) {
    rc = MLS_TX(tx, mentor_add, &m);
    if (!rc) rc = mls_escrow_announce(a->log, tx, m.id, m.created_ms, NULL);
    if (rc) mls_log_abort(a->log, tx);
    else rc = mls_log_commit(a->log, tx, m.created_ms, NULL);
  }
  if (rc) return failure("mentor add", rc);
  char hex[33];
  mlproto_hex_encode(hex, m.id, 16);
  printf("%s\n", hex);
  return 0;
}

/* Crockford's base32 without I, L, O, U: unambiguous when read aloud. */
static const char CODE_ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* --- enroll-code MENTOR [--ttl D] --- */
static int cmd_code_list(admin *a, int argc, char **argv);
static int cmd_code_revoke(admin *a, int argc, char **argv);

/* "2026-01-01T00:00:00Z" (UTC, 21 bytes with the NUL) */
static const char *utc_time(char out[24], uint64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 24, "%" PRIu64, ms);
  return out;
}

static int cmd_enroll_code(admin *a, int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "list") == 0) return cmd_code_list(a, argc, argv);
  if (argc >= 2 && strcmp(argv[1], "revoke") == 0) return cmd_code_revoke(a, argc, argv);
  const char *mentor = NULL;
  uint64_t ttl = TTL_DEFAULT_MS;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--ttl") == 0) {
      if (++i == argc || mls_admin_parse_ttl(argv[i], &ttl))
        return usage("--ttl: a number and s, m, h or d (at most 30d)");
    } else if (!mentor && argv[i][0] != '-') {
      mentor = argv[i];
    } else {
      return usage("enroll-code MENTOR [--ttl 24h] | enroll-code list [--all] [--json] |"
                   " enroll-code revoke ID");
    }
  }
  uint8_t mid[16];
  if (!mentor || parse_id(mid, 16, mentor)) return usage("MENTOR: a mentor id (32 hex digits)");
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
  uint64_t now = now_ms();
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
    return failure(rc == MLPROTO_ERR_NOT_FOUND ? "no such mentor" : "enroll-code", rc);
  }
  printf("%s\n", code);
  sodium_memzero(code, sizeof code);
  /* stdout is the code alone (scripts read it); the id is for revoking */
  char idhex[2 * MLS_CODE_ID_LEN + 1], exp[24];
  mlproto_hex_encode(idhex, id, sizeof id);
  fprintf(stderr, "mentorlog-server admin: code id %s, expires %s\n", idhex,
          utc_time(exp, now + ttl));
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
  utc_time(created, c->created_ms);
  utc_time(expires, c->expires_ms);
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
    else return usage("enroll-code list [--all] [--json]");
  }
  l.now = now_ms();
  mls_txn *tx;
  int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
  if (rc) return failure("enroll-code list", rc);
  mlproto_json j;
  mlproto_buf b;
  if (json) {
    json_begin(&j, &b);
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
    return json_emit(&j, rc, "enroll-code list");
  }
  return rc ? failure("enroll-code list", rc) : 0;
}

static int cmd_code_revoke(admin *a, int argc, char **argv) {
  if (argc != 3) return usage("enroll-code revoke ID");
  const char *p = argv[2];
  size_t n = strlen(p);
  if (n < 4 || n > 2 * MLS_CODE_ID_LEN || strspn(p, "0123456789abcdefABCDEF") != n)
    return usage("ID: a code id from enroll-code list (4 to 16 hex digits)");
  code_ctx l;
  memset(&l, 0, sizeof l);
  l.prefix = p;
  uint64_t now = now_ms();
  mls_txn *tx;
  int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
  if (rc) return failure("enroll-code revoke", rc);
  uint8_t full[MLS_CODE_ID_LEN];
  if (n == 2 * MLS_CODE_ID_LEN && !parse_id(full, sizeof full, p)) {
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
    return failure(what, rc);
  }
  rc = mls_store_commit(tx);
  if (rc) return failure("enroll-code revoke", rc);
  char id[2 * MLS_CODE_ID_LEN + 1];
  mlproto_hex_encode(id, l.found.id, sizeof l.found.id);
  printf("revoked code %s%s\n", id, l.found.expires_ms <= now ? " (it had expired already)" : "");
  return 0;
}

/* --- device list / revoke --- */
typedef struct list_ctx {
  mlproto_json *j; /* --json: the document, else NULL (text) */
} list_ctx;

static int list_one(void *ud, const mls_device *d) {
  list_ctx *l = ud;
  char id[33], mentor[33], pub[65];
  mlproto_hex_encode(id, d->id, 16);
  mlproto_hex_encode(mentor, d->mentor_id, 16);
  mlproto_hex_encode(pub, d->pub, 32);
  if (l->j) {
    mlproto_json *j = l->j;
    mlproto_json_obj(j);
    mlproto_json_kstr(j, "id", id);
    mlproto_json_kstr(j, "mentor", mentor);
    mlproto_json_kstr(j, "public_key", pub);
    mlproto_json_kstr(j, "label", d->label);
    mlproto_json_ku64(j, "enrolled_ms", d->enrolled_ms);
    mlproto_json_kstr(j, "status", d->revoked_ms ? "revoked" : "active");
    mlproto_json_ku64(j, "revoked_ms", d->revoked_ms);
    mlproto_json_end(j);
    return j->err; /* a failed document stops the listing */
  }
  printf("%s  %s  %-7s  %s\n", id, mentor, d->revoked_ms ? "revoked" : "active", d->label);
  return 0;
}

static int cmd_device(admin *a, int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "list") == 0) {
    int json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (!json && argc != 2) return usage("device list [--json]");
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return failure("device list", rc);
    list_ctx l = {NULL};
    mlproto_json j;
    mlproto_buf b;
    if (json) {
      json_begin(&j, &b);
      l.j = &j;
      mlproto_json_arr(&j);
    } else {
      printf("%-32s  %-32s  %-7s  %s\n", "DEVICE", "MENTOR", "STATUS", "LABEL");
    }
    rc = MLS_TX(tx, device_list, list_one, &l);
    mls_store_rollback(tx);
    if (json) {
      mlproto_json_end(&j);
      return json_emit(&j, rc, "device list");
    }
    return rc ? failure("device list", rc) : 0;
  }
  if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
    uint8_t id[16];
    if (parse_id(id, 16, argv[2])) return usage("DEVICE: a device id (32 hex digits)");
    uint64_t now = now_ms();
    mls_txn *tx;
    int rc = mls_log_begin(a->log, &tx);
    if (rc) return failure("device revoke", rc);
    mls_device d;
    rc = MLS_TX(tx, device_get_by_id, id, &d);
    if (!rc) rc = MLS_TX(tx, device_revoke, d.pub, now);
    if (!rc) {
      Mentorlog__V1__DeviceRevoked dr = MENTORLOG__V1__DEVICE_REVOKED__INIT;
      dr.device_pub.data = d.pub;
      dr.device_pub.len = 32;
      mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
      disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_REVOKED;
      disc.device_revoked = &dr;
      rc = mls_log_append_event(a->log, tx, &disc, d.mentor_id, now, NULL);
    }
    if (rc) {
      mls_log_abort(a->log, tx);
      return failure(rc == MLPROTO_ERR_NOT_FOUND ? "no such active device" : "device revoke", rc);
    }
    mlproto_sth sth;
    rc = mls_log_commit(a->log, tx, now, &sth);
    if (rc) return failure("device revoke", rc);
    printf("revoked %s (log size %" PRIu64 ")\n", argv[2], sth.size);
    return 0;
  }
  return usage("device list [--json] | device revoke DEVICE");
}

/* --- escrow-key set PUBLIC_KEY | show | import FILE --- */
static int escrow_import(admin *a, const char *path) {
  uint8_t *file = NULL;
  size_t len = 0;
  int rc = mls_read_file(path, 16u * 1024u * 1024u, &file, &len);
  if (rc) return failure(path, rc);
  uint64_t now = now_ms();
  mls_txn *tx;
  mls_escrow_import_info info;
  memset(&info, 0, sizeof info);
  rc = mls_log_begin(a->log, &tx);
  if (!rc) {
    rc = mls_escrow_import(a->log, tx, file, len, now, &info);
    if (rc) mls_log_abort(a->log, tx);
  }
  free(file);
  if (rc) {
    if (info.why[0] && info.failed_item)
      fprintf(stderr, "mentorlog-server admin: escrow-key import: grant %zu: %s (%s); nothing imported\n",
              info.failed_item, info.why, mlproto_errname(rc));
    else if (info.why[0])
      fprintf(stderr, "mentorlog-server admin: escrow-key import: %s (%s); nothing imported\n", info.why,
              mlproto_errname(rc));
    else
      return failure("escrow-key import", rc);
    return EXIT_RUNTIME;
  }
  mlproto_sth sth;
  if ((rc = mls_log_commit(a->log, tx, now, &sth))) return failure("escrow-key import", rc);
  printf("imported %zu re-grant%s (log size %" PRIu64 ")\n", info.grants, info.grants == 1 ? "" : "s",
         sth.size);
  return 0;
}

static int cmd_escrow_key(admin *a, int argc, char **argv) {
  static const char U[] = "escrow-key set PUBLIC_KEY | escrow-key show | escrow-key import FILE";
  if (argc == 2 && strcmp(argv[1], "show") == 0) {
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return failure("escrow-key show", rc);
    uint8_t box[32], sign[32];
    rc = mls_escrow_get(tx, box, sign);
    mls_store_rollback(tx);
    if (rc == MLPROTO_ERR_NOT_FOUND) {
      fprintf(stderr, "mentorlog-server admin: no escrow key is configured\n");
      return EXIT_RUNTIME;
    }
    if (rc) return failure("escrow-key show", rc);
    char pub[MLPROTO_ESCROW_PUB_LEN + 1];
    if ((rc = mlproto_escrow_pub_format(pub, box, sign))) return failure("escrow-key show", rc);
    printf("%s\n", pub);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "import") == 0) return escrow_import(a, argv[2]);
  if (argc != 3 || strcmp(argv[1], "set") != 0) return usage(U);
  uint8_t box[32], sign[32];
  if (mlproto_escrow_pub_parse(argv[2], box, sign))
    return usage("PUBLIC_KEY: the line `mentorlog-audit escrow-keygen` printed (" MLPROTO_ESCROW_PUB_PREFIX "...)");
  uint64_t now = now_ms(), mentors = 0;
  mls_txn *tx;
  int rc = mls_log_begin(a->log, &tx);
  if (!rc) {
    rc = mls_escrow_set(a->log, tx, box, sign, now, &mentors);
    if (rc) mls_log_abort(a->log, tx);
  }
  if (rc == MLPROTO_ERR_ALREADY_EXISTS) {
    printf("this escrow key is set already (nothing logged)\n");
    return 0;
  }
  if (rc) return failure("escrow-key set", rc);
  mlproto_sth sth;
  if ((rc = mls_log_commit(a->log, tx, now, &sth))) return failure("escrow-key set", rc);
  printf("escrow key set: %" PRIu64 " ESCROW_KEY event%s, one per mentor (log size %" PRIu64 ")\n",
         mentors, mentors == 1 ? "" : "s", sth.size);
  return 0;
}

/* --- token add --- */
static int cmd_token(admin *a, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "add") != 0) return usage("token add --role ...");
  const char *role = NULL, *jc = NULL;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) role = argv[++i];
    else if (strcmp(argv[i], "--jobcentre") == 0 && i + 1 < argc) jc = argv[++i];
    else return usage("token add --role jobcentre --jobcentre ID | --role auditor | --role witness");
  }
  if (!role) return usage("--role is required");
  if (strcmp(role, "jobcentre") == 0) {
    if (!jc || !*jc || strlen(jc) > MLS_JOBCENTRE_MAX) return usage("--jobcentre ID (1..64 bytes)");
    for (const char *p = jc; *p; p++)
      if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-'))
        return usage("--jobcentre ID: letters, digits, '.', '_', '-'");
  } else if (strcmp(role, "auditor") == 0 || strcmp(role, "witness") == 0) {
    if (jc) return usage("--jobcentre goes with --role jobcentre only");
  } else {
    return usage("--role jobcentre | auditor | witness");
  }
  uint8_t raw[32];
  char token[48];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(token, sizeof token, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  uint8_t h[32];
  crypto_hash_sha256(h, (const uint8_t *)token, strlen(token));
  mls_txn *tx;
  int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
  if (!rc) {
    rc = MLS_TX(tx, api_token_add, h, role, jc, now_ms());
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  if (rc) {
    sodium_memzero(token, sizeof token);
    return failure("token add", rc);
  }
  printf("%s\n", token);
  sodium_memzero(token, sizeof token);
  return 0;
}

static int cmd_fingerprint(const char *dir, int argc, char **argv) {
  mls_datadir dd;
  int rc = mls_datadir_init(&dd, dir);
  if (rc) return failure("fingerprint", rc);
  const char *cert = dd.tls_cert;
  if (argc == 3 && strcmp(argv[1], "--cert") == 0) cert = argv[2];
  else if (argc != 1) return usage("fingerprint [--cert F]");
  char hex[65];
  rc = mls_datadir_cert_fingerprint(cert, hex);
  if (rc) return failure(rc == MLPROTO_ERR_NOT_FOUND ? "no certificate (start the server once)"
                                                     : "fingerprint", rc);
  printf("%s\n", hex);
  return 0;
}

/* --- log-key --- */
static int cmd_log_key(admin *a, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return usage("log-key takes no arguments");
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  int rc = mls_log_vkey(a->log, vkey, sizeof vkey);
  if (rc) return failure("log-key", rc);
  printf("%s\n", vkey);
  return 0;
}

/* --- retention purge --before DATE [--dry-run] --- */

/* The claimed cases that are not erased yet. */
typedef struct live_cases {
  uint8_t (*id)[16];
  size_t n, cap;
} live_cases;

static int live_add(void *ud, const uint8_t case_id[16], uint64_t erased_ms) {
  live_cases *l = ud;
  if (erased_ms) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    void *p = realloc(l->id, cap * sizeof *l->id);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    l->id = p;
    l->cap = cap;
  }
  memcpy(l->id[l->n++], case_id, 16);
  return 0;
}

/* One case's device records, verified against their log entries. */
typedef struct case_recs {
  mlproto_record **r;
  size_t n, cap;
} case_recs;

static int recs_add(void *ud, const mls_log_entry *e) {
  case_recs *c = ud;
  if (e->type != MLPROTO_LOG_DEVICE_RECORD) return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 32;
    void *p = realloc(c->r, cap * sizeof *c->r);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    c->r = p;
    c->cap = cap;
  }
  mlproto_record *r = NULL;
  int rc = mlproto_record_verify_stored(&r, e->envelope, e->envelope_len, e->record_hash);
  if (rc) {
    fprintf(stderr, "mentorlog-server admin: log entry %" PRIu64 " does not verify (%s)\n",
            e->index, mlproto_errname(rc));
    return MLPROTO_ERR_STORAGE;
  }
  c->r[c->n++] = r;
  return 0;
}

static void recs_free(case_recs *c) {
  for (size_t i = 0; i < c->n; i++) mlproto_record_free(c->r[i]);
  free(c->r);
  memset(c, 0, sizeof *c);
}

/* Whether every grant of the case ended (E' = min(end, close day)) before
 * `before`: *due 1, *grants their number, *last the latest E'. A case
 * without a grant is never due. */
static int case_due(const case_recs *c, mlproto_date before, int *due, size_t *grants,
                    mlproto_date *last) {
  *due = 0;
  *grants = 0;
  *last = MLPROTO_DATE_NONE;
  for (size_t i = 0; i < c->n; i++) {
    if (c->r[i]->kind != MLPROTO_KIND_GRANT_OPEN) continue;
    mlproto_compliance_inputs *in = NULL;
    int rc = mlproto_compliance_inputs_from_records(&in, (const mlproto_record *const *)c->r, c->n,
                                                    c->r[i]->record_id, NULL, 0);
    if (rc) return rc;
    mlproto_date end = in->grant.end;
    if (in->grant.closed != MLPROTO_DATE_NONE && in->grant.closed < end) end = in->grant.closed;
    mlproto_compliance_inputs_free(in);
    if (*last == MLPROTO_DATE_NONE || end > *last) *last = end;
    (*grants)++;
  }
  *due = *grants > 0 && *last < before;
  return MLPROTO_OK;
}

static int cmd_retention(admin *a, int argc, char **argv) {
  static const char use[] = "retention purge --before YYYY-MM-DD [--dry-run]";
  if (argc < 2 || strcmp(argv[1], "purge") != 0) return usage(use);
  const char *date = NULL;
  int dry = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--before") == 0 && i + 1 < argc) date = argv[++i];
    else if (strcmp(argv[i], "--dry-run") == 0) dry = 1;
    else return usage(use);
  }
  mlproto_date before;
  if (!date || strlen(date) != 10 || mlproto_date_parse(&before, date, 10) != MLPROTO_OK)
    return usage("--before YYYY-MM-DD (a valid date) is required");
  uint64_t now = now_ms();
  mls_txn *tx;
  int rc = dry ? mls_store_begin(a->st, MLS_TXN_READ, &tx) : mls_log_begin(a->log, &tx);
  if (rc) return failure("retention purge", rc);
  live_cases live = {0};
  rc = MLS_TX(tx, case_list, live_add, &live);
  size_t purged = 0, kept = 0, no_grant = 0;
  uint64_t records = 0;
  for (size_t i = 0; !rc && i < live.n; i++) {
    case_recs c = {0};
    int due = 0;
    size_t grants = 0;
    mlproto_date last = MLPROTO_DATE_NONE;
    rc = MLS_TX(tx, case_entries, live.id[i], UINT64_MAX, recs_add, &c);
    if (!rc) rc = case_due(&c, before, &due, &grants, &last);
    size_t n_entries = c.n;
    recs_free(&c);
    if (rc) {
      char hex[33];
      mlproto_hex_encode(hex, live.id[i], 16);
      fprintf(stderr, "mentorlog-server admin: case %s: its grants cannot be read (%s)\n", hex,
              mlproto_errname(rc));
      break;
    }
    if (!due) {
      if (grants) kept++;
      else no_grant++;
      continue;
    }
    /* the same count in a dry run and a real one: the case's records; a
     * real run also says how many stored envelopes it rewrote (records
     * erased before, e.g. late ones, are not rewritten; fork evidence is) */
    uint64_t rewritten = 0;
    if (!dry) {
      uint8_t owner[16];
      rc = MLS_TX(tx, case_owner, live.id[i], owner);
      if (!rc) rc = mls_erase_case(tx, live.id[i], now, NULL, &rewritten);
      if (!rc) {
        Mentorlog__V1__RetentionPurge rp = MENTORLOG__V1__RETENTION_PURGE__INIT;
        rp.case_id.data = live.id[i];
        rp.case_id.len = 16;
        mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
        disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_RETENTION_PURGE;
        disc.retention_purge = &rp;
        rc = mls_log_append_event(a->log, tx, &disc, owner, now, NULL);
      }
      if (rc) break;
    }
    char hex[33], end[11];
    mlproto_hex_encode(hex, live.id[i], 16);
    mlproto_date_format(end, last);
    printf("%s case %s: %zu grant%s, last ended %s, %" PRIu64 " record%s",
           dry ? "would purge" : "purged", hex, grants, grants == 1 ? "" : "s", end, (uint64_t)n_entries,
           n_entries == 1 ? "" : "s");
    if (dry) putchar('\n');
    else printf(" (%" PRIu64 " stored envelope%s rewritten)\n", rewritten, rewritten == 1 ? "" : "s");
    purged++;
    records += n_entries;
  }
  free(live.id);
  if (rc) {
    if (dry) mls_store_rollback(tx);
    else mls_log_abort(a->log, tx);
    return failure("retention purge (nothing was changed)", rc);
  }
  if (dry) {
    mls_store_rollback(tx);
    printf("dry run: %zu case%s would be purged (%" PRIu64 " records); %zu kept (a grant ends on"
           " or after %s), %zu without a grant (never purged); nothing was changed\n",
           purged, purged == 1 ? "" : "s", records, kept, date, no_grant);
    return 0;
  }
  uint64_t size = 0;
  if (purged) {
    mlproto_sth sth;
    rc = mls_log_commit(a->log, tx, now, &sth);
    if (rc) return failure("retention purge (nothing was changed)", rc);
    size = sth.size;
    /* best effort: the old page images leave the WAL (else at a later one) */
    int x = mls_store_scrub(a->st);
    if (x)
      fprintf(stderr, "mentorlog-server admin: the store's WAL could not be truncated yet (%s); "
                      "the next erasure or checkpoint overwrites it\n", mlproto_errname(x));
  } else {
    mls_log_abort(a->log, tx);
  }
  printf("purged %zu case%s (%" PRIu64 " records erased); %zu kept (a grant ends on or after %s),"
         " %zu without a grant (never purged)", purged, purged == 1 ? "" : "s", records, kept,
         date, no_grant);
  if (purged) printf("; log size %" PRIu64, size);
  printf("\n");
  return 0;
}

/* --- witness add / list --- */
_Static_assert(MLS_VKEY_MAX + 1 == MLPROTO_NOTE_VKEY_MAX, "a stored vkey holds any vkey");
_Static_assert(MLS_WITNESS_NAME_MAX == MLPROTO_CHECKPOINT_ORIGIN_MAX, "a witness name is a key name");

static int witness_one(void *ud, const mls_witness *w) {
  mlproto_json *j = ud;
  char when[24];
  if (j) {
    mlproto_json_obj(j);
    mlproto_json_kstr(j, "name", w->name);
    mlproto_json_kstr(j, "vkey", w->vkey);
    mlproto_json_ku64(j, "added_ms", w->added_ms);
    mlproto_json_end(j);
    return j->err;
  }
  printf("%s  %s  %s\n", w->name, utc_time(when, w->added_ms), w->vkey);
  return 0;
}

static int cmd_witness(admin *a, int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "add") == 0) {
    const char *name = argv[2], *vkey = argv[3];
    mlproto_note_verifier v;
    mlproto_note_verifier lv;
    if (mlproto_cosig_vkey_parse(&v, vkey, strlen(vkey)) != MLPROTO_OK) {
      if (mlproto_note_vkey_parse(&lv, vkey, strlen(vkey)) == MLPROTO_OK)
        return usage("VKEY is a log key (type 0x01); a witness key is of type 0x04 "
                     "(cosignature/v1, from mentorlog-audit witness-keygen)");
      return usage("VKEY: a cosignature/v1 verifier key NAME+KEYID+BASE64");
    }
    if (strcmp(v.name, name) != 0) return usage("NAME must be the name inside VKEY");
    if (strcmp(name, mls_log_origin(a->log)) == 0)
      return usage("NAME is the log's own name; a witness needs a name of its own");
    mls_witness w;
    memset(&w, 0, sizeof w);
    memcpy(w.name, name, strlen(name) + 1);
    memcpy(w.vkey, vkey, strlen(vkey) + 1);
    w.added_ms = now_ms();
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
    if (!rc) {
      rc = MLS_TX(tx, witness_add, &w);
      if (rc) mls_store_rollback(tx);
      else rc = mls_store_commit(tx);
    }
    if (rc == MLPROTO_ERR_ALREADY_EXISTS)
      return failure("a witness of this name exists (its key never changes)", rc);
    if (rc) return failure("witness add", rc);
    char kid[9];
    mlproto_hex_encode(kid, v.key_id, 4);
    printf("witness %s added (key ID %s)\n", name, kid);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "list") == 0) {
    int json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (!json && argc != 2) return usage("witness list [--json]");
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return failure("witness list", rc);
    mlproto_json j;
    mlproto_buf b;
    if (json) {
      json_begin(&j, &b);
      mlproto_json_arr(&j);
    }
    rc = MLS_TX(tx, witness_list, witness_one, json ? &j : NULL);
    mls_store_rollback(tx);
    if (json) {
      mlproto_json_end(&j);
      return json_emit(&j, rc, "witness list");
    }
    return rc ? failure("witness list", rc) : 0;
  }
  return usage("witness add NAME VKEY | witness list [--json]");
}

/* --- export-log --out FILE [--size N] --- */
static int cmd_export_log(admin *a, int argc, char **argv) {
  const char *out = NULL;
  int latest = 1;
  uint64_t size = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && !out) {
      out = argv[++i];
    } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc && latest) {
      const char *v = argv[++i];
      if (!*v || strspn(v, "0123456789") != strlen(v) || (v[0] == '0' && v[1]) ||
          strlen(v) > 19 || (size = strtoull(v, NULL, 10)) > (uint64_t)INT64_MAX)
        return usage("--size N: a tree size (decimal)");
      latest = 0;
    } else {
      return usage("export-log --out FILE [--size N]");
    }
  }
  if (!out || !*out) return usage("export-log --out FILE [--size N]");
  mls_export_info info;
  int rc = mls_admin_export_log(a->st, a->log, out, latest, size, &info);
  if (rc) {
    char what[160];
    if (rc == MLPROTO_ERR_ALREADY_EXISTS)
      snprintf(what, sizeof what, "%s exists already (it is never replaced)", out);
    else if (rc == MLPROTO_ERR_TREE_RANGE)
      snprintf(what, sizeof what, "--size %" PRIu64 " is beyond the log", size);
    else if (info.failed)
      snprintf(what, sizeof what, "export-log: log entry %" PRIu64, info.failed_index);
    else
      snprintf(what, sizeof what, "export-log %s", out);
    return failure(what, rc);
  }
  fprintf(stderr, "mentorlog-server admin: exported %" PRIu64 " entries of the checkpoint of size %"
          PRIu64 " to %s\n", info.entries, info.size, out);
  return 0;
}

typedef struct command {
  const char *name;
  int (*fn)(admin *a, int argc, char **argv);
} command;

static const command COMMANDS[] = {
  {"mentor", cmd_mentor},
  {"enroll-code", cmd_enroll_code},
  {"device", cmd_device},
  {"token", cmd_token},
  {"log-key", cmd_log_key},
  {"retention", cmd_retention},
  {"witness", cmd_witness},
  {"export-log", cmd_export_log},
  {"escrow-key", cmd_escrow_key},
};

int mls_admin_main(int argc, char **argv) {
  const char *dir = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(USAGE, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--data") == 0) {
      if (++i == argc) return usage("--data needs a directory");
      dir = argv[i];
      continue;
    }
    break;
  }
  if (!dir) return usage("--data DIR is required");
  if (i == argc) return usage("a command is required");
  for (int j = i; j < argc; j++)
    if (strcmp(argv[j], "--help") == 0) { fputs(USAGE, stdout); return 0; }
  if (strcmp(argv[i], "fingerprint") == 0) return cmd_fingerprint(dir, argc - i, argv + i);
  int init = strcmp(argv[i], "init") == 0;
  const char *log_name = NULL;
  if (init && argc - i == 3 && strcmp(argv[i + 1], "--log-name") == 0) log_name = argv[i + 2];
  else if (init && argc - i != 1) return usage("init [--log-name NAME]");
  for (size_t k = 0; init || k < sizeof COMMANDS / sizeof COMMANDS[0]; k++) {
    if (!init && strcmp(argv[i], COMMANDS[k].name) != 0) continue;
    admin a;
    int rc = admin_open(&a, dir, init, log_name);
    if (rc == MLPROTO_ERR_NOT_FOUND && !init) {
      fprintf(stderr,
              "mentorlog-server admin: no Mentorlog server data in %s; start "
              "`mentorlog-server serve --data %s` once to create it (or run "
              "`mentorlog-server admin --data %s init`)\n",
              dir, dir, dir);
      return EXIT_RUNTIME;
    }
    if (rc == MLPROTO_ERR_ALREADY_EXISTS && log_name)
      return failure("--log-name: this log already has another name (DIR/log.name); a log's "
                     "name never changes", rc);
    if (rc == MLPROTO_ERR_INVALID_ARGUMENT && log_name)
      return failure("--log-name: not a valid log name (1..255 bytes, no spaces, no '+')", rc);
    if (rc) return failure("cannot open the data directory", rc);
    if (init) {
      char pk[65];
      mlproto_hex_encode(pk, a.pk, 32);
      printf("server store ready in %s\nlog public key: %s\nlog name: %s\n", dir, pk,
             mls_log_origin(a.log));
      admin_close(&a);
      return 0;
    }
    int ex = COMMANDS[k].fn(&a, argc - i, argv + i);
    admin_close(&a);
    return ex;
  }
  return usage("unknown command");
}
