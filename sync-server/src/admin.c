/* admin.c — the admin command table, the shared helpers (admin_int.h), and
 * the small commands (init, mentor, device, token, fingerprint, log-key,
 * export-log); the larger features each have their own admin_*.c. */
#include "admin_int.h"
#include "witnessed.h"
#include "datadir.h"
#include "escrow.h"
#include "log.h"
#include "store.h"

#include "mlproto/errors.h"
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

#define TTL_MAX_MS (30ull * 24ull * 3600ull * 1000ull)


static const char USAGE[] =
    "usage: mentorlog-server admin --data DIR [--store URI] COMMAND ...\n"
    "\n"
    "  --store URI: the store `serve` uses (sqlite:DIR, the default, or\n"
    "  postgresql://...; see `mentorlog-server serve --help`)\n"
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
    "  migrate --to URI                     copy DIR's SQLite store (server.db) whole into\n"
    "                                       the EMPTY PostgreSQL store URI (postgresql://...\n"
    "                                       or postgresql:KEY=VALUE ...; passwords only in\n"
    "                                       PGPASSFILE): one transaction, verified before it\n"
    "                                       commits (row counts, log size, checkpoint, every\n"
    "                                       tree hash); STORE_NOT_EMPTY, STORE_IN_USE (a\n"
    "                                       server runs on DIR: stop it), MIGRATE_MISMATCH.\n"
    "                                       Then serve with --store URI, never server.db\n"
    "                                       again (docs/operator.md, Migrating)\n"
    "\n"
    "Works while the server runs (but migrate). Exit status: 0 ok, 1 failure, 2 usage.\n";

uint64_t adm_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int adm_usage(const char *why) {
  if (why) fprintf(stderr, "mentorlog-server admin: %s\n", why);
  fputs(USAGE, stderr);
  return EXIT_USAGE;
}

int adm_failure(const char *what, int rc) {
  fprintf(stderr, "mentorlog-server admin: %s: %s (%s)\n", what, mlproto_strerror(rc),
          mlproto_errname(rc));
  return EXIT_RUNTIME;
}

/* --json documents are built whole in memory (a list of every device or
 * code), then written; nothing is written when building failed. */
#define JSON_CAP ((size_t)64 << 20)

/* A writer of a new document into b. */
void adm_json_begin(mlproto_json *j, mlproto_buf *b) {
  mlproto_buf_init(b, JSON_CAP);
  mlproto_json_init(j, b);
}

/* Finish j's document and write it on stdout; its buffer is freed. rc: the
 * listing's own status (the document is then dropped). Returns 0 or the
 * failure's exit status (printed). */
int adm_json_emit(mlproto_json *j, int rc, const char *what) {
  if (!rc) rc = mlproto_json_finish(j);
  if (!rc && fwrite(j->out->data, 1, j->out->len, stdout) != j->out->len) rc = MLPROTO_ERR_IO;
  mlproto_buf_free(j->out);
  return rc ? adm_failure(what, rc) : 0;
}

/* "2026-01-01T00:00:00Z" (UTC, 21 bytes with the NUL) */
const char *adm_utc_time(char out[24], uint64_t ms) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(out, 24, "%" PRIu64, ms);
  return out;
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

void adm_close(admin *a) {
  mls_log_close(a->log);
  mls_store_close(a->st);
  mls_datadir_key_free(a->sk);
  memset(a, 0, sizeof *a);
}

/* create: only for `init`. Otherwise a directory without a server store is
 * refused: a typo in --data must not quietly start a second server with a
 * new log key. guard: refuse a store older than a witnessed checkpoint
 * (witnessed.h); export-log alone may read one, to investigate. */
int adm_open(admin *a, const char *dir, const char *uri, int create, const char *log_name,
             int guard) {
  memset(a, 0, sizeof *a);
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  int rc;
  if ((rc = mlproto_crypto_init()) || (rc = mls_datadir_init(&a->dd, dir))) return rc;
  int sqlite = strcmp(mls_store_uri_backend(uri), "sqlite") == 0;
  if (!create && ((sqlite && access(a->dd.db, F_OK) != 0) || access(a->dd.key, F_OK) != 0))
    return MLPROTO_ERR_NOT_FOUND;
  mls_store_options so = {.version = MLS_STORE_OPTIONS_VERSION, .create = create,
                          .busy_timeout_ms = 10000, .connections = 4};
  if ((rc = mls_datadir_prepare(&a->dd, create)) ||
      (rc = mls_datadir_key_load(&a->dd, create, &a->sk, a->pk)) ||
      (rc = mls_store_open(&a->st, uri, &so)) ||
      (rc = mls_log_name_load(a->dd.root, log_name, a->pk, origin)) ||
      (rc = mls_log_open(&a->log, a->st, a->sk, a->pk, origin)) ||
      (guard && (rc = mls_witnessed_check(a->log, a->st, a->dd.root, NULL)))) {
    adm_close(a);
    return rc;
  }
  return MLPROTO_OK;
}

int adm_open_failure(int rc, const char *dir, int init, const char *log_name) {
  if (rc == MLPROTO_ERR_NOT_FOUND && !init) {
    fprintf(stderr,
            "mentorlog-server admin: no Mentorlog server data in %s; start "
            "`mentorlog-server serve --data %s` once to create it (or run "
            "`mentorlog-server admin --data %s init`)\n",
            dir, dir, dir);
    return EXIT_RUNTIME;
  }
  if (rc == MLPROTO_ERR_ALREADY_EXISTS && log_name)
    return adm_failure("--log-name: this log already has another name (DIR/log.name); a log's "
                       "name never changes", rc);
  if (rc == MLPROTO_ERR_INVALID_ARGUMENT && log_name)
    return adm_failure("--log-name: not a valid log name (1..255 bytes, no spaces, no '+')", rc);
  if (rc == MLPROTO_ERR_STORE_ROLLED_BACK)
    return adm_failure("the store's log is older than a checkpoint a witness cosigned "
                       "(DIR/witnessed): it was restored from an old backup or lost "
                       "acknowledged entries; see docs/operator.md, Restoring", rc);
  if (rc == MLPROTO_ERR_STORE_MIGRATED)
    return adm_failure("this store was copied to another one by `admin migrate` and its log "
                       "continues there: give that one with --store (docs/operator.md, "
                       "Migrating)", rc);
  if (rc == MLPROTO_ERR_STORE_OTHER_LOG)
    return adm_failure("the store holds another log than this data directory (its server.key "
                       "or log.name differs)", rc);
  return adm_failure("cannot open the data directory", rc);
}

int adm_parse_id(uint8_t *out, size_t n, const char *hex) {
  return mlproto_hex_decode(out, n, hex, strlen(hex));
}

/* --- mentor add NAME --- */
static int cmd_mentor(admin *a, int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "add") != 0) return adm_usage("mentor add NAME");
  const char *name = argv[2];
  size_t len = strlen(name);
  if (len == 0 || len > MLS_NAME_MAX) return adm_usage("NAME: 1..128 bytes");
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) return adm_usage("NAME: no control characters");
  mls_mentor m;
  memset(&m, 0, sizeof m);
  randombytes_buf(m.id, sizeof m.id);
  memcpy(m.name, name, len);
  m.created_ms = adm_now_ms();
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
  if (rc) return adm_failure("mentor add", rc);
  char hex[33];
  mlproto_hex_encode(hex, m.id, 16);
  printf("%s\n", hex);
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
    if (!json && argc != 2) return adm_usage("device list [--json]");
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return adm_failure("device list", rc);
    list_ctx l = {NULL};
    mlproto_json j;
    mlproto_buf b;
    if (json) {
      adm_json_begin(&j, &b);
      l.j = &j;
      mlproto_json_arr(&j);
    } else {
      printf("%-32s  %-32s  %-7s  %s\n", "DEVICE", "MENTOR", "STATUS", "LABEL");
    }
    rc = MLS_TX(tx, device_list, list_one, &l);
    mls_store_rollback(tx);
    if (json) {
      mlproto_json_end(&j);
      return adm_json_emit(&j, rc, "device list");
    }
    return rc ? adm_failure("device list", rc) : 0;
  }
  if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
    uint8_t id[16];
    if (adm_parse_id(id, 16, argv[2])) return adm_usage("DEVICE: a device id (32 hex digits)");
    uint64_t now = adm_now_ms();
    mls_txn *tx;
    int rc = mls_log_begin(a->log, &tx);
    if (rc) return adm_failure("device revoke", rc);
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
      return adm_failure(rc == MLPROTO_ERR_NOT_FOUND ? "no such active device" : "device revoke", rc);
    }
    mlproto_sth sth;
    rc = mls_log_commit(a->log, tx, now, &sth);
    if (rc) return adm_failure("device revoke", rc);
    printf("revoked %s (log size %" PRIu64 ")\n", argv[2], sth.size);
    return 0;
  }
  return adm_usage("device list [--json] | device revoke DEVICE");
}

/* --- token add --- */
static int cmd_token(admin *a, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "add") != 0) return adm_usage("token add --role ...");
  const char *role = NULL, *jc = NULL;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) role = argv[++i];
    else if (strcmp(argv[i], "--jobcentre") == 0 && i + 1 < argc) jc = argv[++i];
    else return adm_usage("token add --role jobcentre --jobcentre ID | --role auditor | --role witness");
  }
  if (!role) return adm_usage("--role is required");
  if (strcmp(role, "jobcentre") == 0) {
    if (!jc || !*jc || strlen(jc) > MLS_JOBCENTRE_MAX) return adm_usage("--jobcentre ID (1..64 bytes)");
    for (const char *p = jc; *p; p++)
      if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-'))
        return adm_usage("--jobcentre ID: letters, digits, '.', '_', '-'");
  } else if (strcmp(role, "auditor") == 0 || strcmp(role, "witness") == 0) {
    if (jc) return adm_usage("--jobcentre goes with --role jobcentre only");
  } else {
    return adm_usage("--role jobcentre | auditor | witness");
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
    rc = MLS_TX(tx, api_token_add, h, role, jc, adm_now_ms());
    if (rc) mls_store_rollback(tx);
    else rc = mls_store_commit(tx);
  }
  if (rc) {
    sodium_memzero(token, sizeof token);
    return adm_failure("token add", rc);
  }
  printf("%s\n", token);
  sodium_memzero(token, sizeof token);
  return 0;
}

static int cmd_fingerprint(const char *dir, int argc, char **argv) {
  mls_datadir dd;
  int rc = mls_datadir_init(&dd, dir);
  if (rc) return adm_failure("fingerprint", rc);
  const char *cert = dd.tls_cert;
  if (argc == 3 && strcmp(argv[1], "--cert") == 0) cert = argv[2];
  else if (argc != 1) return adm_usage("fingerprint [--cert F]");
  char hex[65];
  rc = mls_datadir_cert_fingerprint(cert, hex);
  if (rc) return adm_failure(rc == MLPROTO_ERR_NOT_FOUND ? "no certificate (start the server once)"
                                                     : "fingerprint", rc);
  printf("%s\n", hex);
  return 0;
}

/* --- log-key --- */
static int cmd_log_key(admin *a, int argc, char **argv) {
  (void)argv;
  if (argc != 1) return adm_usage("log-key takes no arguments");
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  int rc = mls_log_vkey(a->log, vkey, sizeof vkey);
  if (rc) return adm_failure("log-key", rc);
  printf("%s\n", vkey);
  return 0;
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
        return adm_usage("--size N: a tree size (decimal)");
      latest = 0;
    } else {
      return adm_usage("export-log --out FILE [--size N]");
    }
  }
  if (!out || !*out) return adm_usage("export-log --out FILE [--size N]");
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
    return adm_failure(what, rc);
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
  {"enroll-code", adm_cmd_enroll_code},
  {"device", cmd_device},
  {"token", cmd_token},
  {"log-key", cmd_log_key},
  {"retention", adm_cmd_retention},
  {"witness", adm_cmd_witness},
  {"export-log", cmd_export_log},
  {"escrow-key", adm_cmd_escrow_key},
};

int mls_admin_main(int argc, char **argv) {
  const char *dir = NULL, *store = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(USAGE, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--data") == 0) {
      if (++i == argc) return adm_usage("--data needs a directory");
      dir = argv[i];
      continue;
    }
    if (strcmp(argv[i], "--store") == 0) {
      if (++i == argc) return adm_usage("--store needs a URI");
      store = argv[i];
      continue;
    }
    break;
  }
  char uri[MLS_STORE_URI_MAX + 1];
  const char *why = NULL;
  if (mls_datadir_store_resolve(dir, store, &dir, uri, &why)) return adm_usage(why);
  if (i == argc) return adm_usage("a command is required");
  for (int j = i; j < argc; j++)
    if (strcmp(argv[j], "--help") == 0) { fputs(USAGE, stdout); return 0; }
  if (strcmp(argv[i], "fingerprint") == 0) return cmd_fingerprint(dir, argc - i, argv + i);
  if (strcmp(argv[i], "migrate") == 0) return adm_cmd_migrate(dir, uri, argc - i, argv + i);
  int init = strcmp(argv[i], "init") == 0;
  const char *log_name = NULL;
  if (init && argc - i == 3 && strcmp(argv[i + 1], "--log-name") == 0) log_name = argv[i + 2];
  else if (init && argc - i != 1) return adm_usage("init [--log-name NAME]");
  for (size_t k = 0; init || k < sizeof COMMANDS / sizeof COMMANDS[0]; k++) {
    if (!init && strcmp(argv[i], COMMANDS[k].name) != 0) continue;
    admin a;
    int rc = adm_open(&a, dir, uri, init, log_name, init || strcmp(argv[i], "export-log") != 0);
    if (rc) return adm_open_failure(rc, dir, init, log_name);
    if (init) {
      char pk[65];
      mlproto_hex_encode(pk, a.pk, 32);
      printf("server store ready in %s\nlog public key: %s\nlog name: %s\n", dir, pk,
             mls_log_origin(a.log));
      adm_close(&a);
      return 0;
    }
    int ex = COMMANDS[k].fn(&a, argc - i, argv + i);
    adm_close(&a);
    return ex;
  }
  return adm_usage("unknown command");
}
