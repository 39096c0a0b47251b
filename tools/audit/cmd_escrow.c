/* mentorlog-audit escrow-keygen | decrypt | regrant: the escrow holder's
 * commands (escrow.h, docs/escrow.md). */
#include "audit.h"
#include "escrow_holder.h"
#include "verified.h"

#include "mlproto/errors.h"
#include "mlproto/json.h"
#include "mlproto/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static int key_fail(const char *cmd, const char *path, int rc) {
  if (rc == MLPROTO_ERR_FORBIDDEN)
    return audit_fail(cmd, "%s: others may read or write this secret key file (chmod 600 it)", path);
  if (rc == MLPROTO_ERR_BAD_KEY) return audit_fail(cmd, "%s: not an escrow secret key file", path);
  if (rc == MLPROTO_ERR_NOT_FOUND) return audit_fail(cmd, "%s: no such file", path);
  return audit_fail(cmd, "%s: %s", path, rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
}

/* ------------------------------------------------------- escrow-keygen */

static const char usage_keygen[] =
    "Usage: mentorlog-audit escrow-keygen --out SECRET_FILE\n"
    "\n"
    "Creates the organisation's escrow key: a new file SECRET_FILE (mode 0600, never\n"
    "replaced) holding its two secret keys, and prints its public key, the line the\n"
    "server's administrator configures with `mentorlog-server admin escrow-key set`.\n"
    "From then on every device seals every case key to it as well: whoever holds\n"
    "SECRET_FILE can read every note of the organisation. Keep it offline (an\n"
    "encrypted medium in a safe, with a copy), never on the server, and give it only\n"
    "to an audit mandate. docs/escrow.md describes the key and its use.\n"
    "Exit status: 0 created, 1 failure (FILE exists: nothing is written), 2 usage.\n";

int cmd_escrow_keygen(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_keygen, stdout);
    return AUDIT_EXIT_OK;
  }
  if (argc != 3 || strcmp(argv[1], "--out") != 0) return audit_usage(usage_keygen, "escrow-keygen needs --out SECRET_FILE");
  char pub[MLPROTO_ESCROW_PUB_LEN + 1];
  int rc = ae_key_create(argv[2], pub);
  if (rc == MLPROTO_ERR_ALREADY_EXISTS)
    return audit_fail("escrow-keygen", "%s exists: an escrow key is never overwritten", argv[2]);
  if (rc) return audit_fail("escrow-keygen", "%s: %s", argv[2], rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
  printf("%s\n", pub);
  fprintf(stderr, AUDIT_PROG ": escrow key written to %s; configure the line above on the server "
                  "(mentorlog-server admin escrow-key set)\n", argv[2]);
  return AUDIT_EXIT_OK;
}

/* ------------------------------------------------------------- decrypt */

static const char usage_decrypt[] =
    "Usage: mentorlog-audit decrypt FILE --escrow-key SECRET_FILE --case CASE\n"
    "                               (--log-key VKEY | --state DIR) [--json]\n"
    "\n"
    "Reads, under an audit mandate, what the mentors' devices sealed in one case of\n"
    "the audit log file FILE: the citizen's name, phone and address, the grants'\n"
    "purposes, every contact's note, topics and next steps, the notes and the\n"
    "absences, each with its log index, kind, author and receipt time. The case keys\n"
    "come from the KEY_GRANTs the devices sealed to the escrow key.\n"
    "FILE is verified first as `verify` does (--log-key, --state as there); a file with\n"
    "any finding is refused. Records whose sealed part was erased (case erasure,\n"
    "retention) are listed as erased: nothing of them can be read.\n"
    "\n"
    "  --case CASE   the case id, 32 hex digits\n"
    "  --json        one JSON document instead of text\n"
    "\n"
    "The output is special-category personal data in clear: send it to a file on an\n"
    "encrypted disk or read it on screen; it is written nowhere else.\n"
    "Exit status: 0 read; 1 failure (no such case, no key of the case sealed to this\n"
    "escrow key, every key erased, FILE does not verify); 2 usage.\n";

/* The sealed fields of a payload as (name, value) pairs. */
typedef void (*field_fn)(void *ud, const char *name, const char *value);

static void sealed_fields(const mlproto_sealed *s, field_fn f, void *ud) {
  switch (s->payload_case) {
  case MENTORLOG__V1__SEALED__PAYLOAD_CASE_OPEN:
    f(ud, "citizen_name", s->case_open->citizen_name);
    f(ud, "phone", s->case_open->phone);
    f(ud, "address", s->case_open->address);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_OPEN:
    f(ud, "purpose", s->grant_open->purpose);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_UPDATE:
    f(ud, "purpose", s->grant_update->purpose);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_GRANT_CLOSE:
    f(ud, "reason", s->grant_close->reason);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_CONTACT:
    f(ud, "note", s->contact->note);
    for (size_t i = 0; i < s->contact->n_topics; i++) f(ud, "topic", s->contact->topics[i]);
    f(ud, "next_steps", s->contact->next_steps);
    f(ud, "void_reason", s->contact->void_reason);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_NOTE:
    f(ud, "text", s->note->text);
    break;
  case MENTORLOG__V1__SEALED__PAYLOAD_ABSENCE:
    f(ud, "reason", s->absence->reason);
    break;
  default:
    break;
  }
}

static const char *state_name(int state) {
  return state == AE_OPENED ? "opened" : state == AE_ERASED ? "erased" : state == AE_NO_KEY ? "no_key" : "none";
}

typedef struct dec_out {
  int json;
  mlproto_json j;
  uint64_t opened, erased, no_key;
} dec_out;

static void text_field(void *ud, const char *name, const char *value) {
  (void)ud;
  if (!value || !*value) return;
  printf("  %s: ", name);
  for (const char *p = value; *p; p++) { /* continuation lines indented */
    putchar(*p);
    if (*p == '\n') fputs("    ", stdout);
  }
  putchar('\n');
}

static void json_field(void *ud, const char *name, const char *value) {
  mlproto_json *j = ud;
  if (!value || !*value) return;
  mlproto_json_obj(j);
  mlproto_json_kstr(j, "field", name);
  mlproto_json_kstr(j, "value", value);
  mlproto_json_end(j);
}

static int dec_print(void *ud, const ae_opened *o) {
  dec_out *d = ud;
  d->opened += o->state == AE_OPENED;
  d->erased += o->state == AE_ERASED;
  d->no_key += o->state == AE_NO_KEY;
  char author[17];
  mlproto_hex_encode(author, o->r->author, 8);
  if (d->json) {
    mlproto_json *j = &d->j;
    mlproto_json_obj(j);
    mlproto_json_ku64(j, "index", o->index);
    mlproto_json_ktime_ms(j, "received", o->received_ms);
    mlproto_json_kstr(j, "kind", mlproto_kind_name(o->r->kind));
    mlproto_json_khex(j, "record_id", o->r->record_id, 16);
    mlproto_json_khex(j, "author", o->r->author, 32);
    mlproto_json_kstr(j, "sealed", state_name(o->state));
    mlproto_json_key(j, "fields");
    mlproto_json_arr(j);
    if (o->sealed) sealed_fields(o->sealed, json_field, j);
    mlproto_json_end(j);
    mlproto_json_end(j);
    return j->err;
  }
  time_t t = (time_t)(o->received_ms / 1000);
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  printf("index %" PRIu64 "  %s  author %s  received %s", o->index, mlproto_kind_name(o->r->kind), author, when);
  if (o->state == AE_ERASED) printf("  [sealed part erased]");
  else if (o->state == AE_NO_KEY) printf("  [sealed part: no key of the escrow opens it]");
  putchar('\n');
  if (o->sealed) sealed_fields(o->sealed, text_field, NULL);
  return 0;
}

int cmd_decrypt(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_decrypt, stdout);
    return AUDIT_EXIT_OK;
  }
  const char *path = NULL, *keyfile = NULL, *cs = NULL, *vkey = NULL, *state_dir = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--escrow-key") == 0 && i + 1 < argc && !keyfile) keyfile = argv[++i];
    else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc && !cs) cs = argv[++i];
    else if (strcmp(argv[i], "--log-key") == 0 && i + 1 < argc && !vkey) vkey = argv[++i];
    else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc && !state_dir) state_dir = argv[++i];
    else if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else return audit_usage(usage_decrypt, "unknown option, missing value or extra argument");
  }
  uint8_t case_id[16];
  if (!path || !keyfile || !cs) return audit_usage(usage_decrypt, "decrypt needs FILE, --escrow-key and --case");
  if (strlen(cs) != 32 || mlproto_hex_decode(case_id, 16, cs, 32) != MLPROTO_OK)
    return audit_usage(usage_decrypt, "--case: a case id, 32 hex digits");
  ae_key k;
  int rc = ae_key_load(keyfile, &k);
  if (rc) return key_fail("decrypt", keyfile, rc);
  audit_verified v;
  int ex = audit_verified_clean(&v, "decrypt", usage_decrypt, path, vkey, state_dir);
  dec_out d;
  memset(&d, 0, sizeof d);
  d.json = json;
  mlproto_buf b;
  mlproto_buf_init(&b, 256u << 20);
  ae_case_keys found;
  memset(&found, 0, sizeof found);
  if (!ex) {
    if (json) {
      mlproto_json_init(&d.j, &b);
      mlproto_json_obj(&d.j);
      mlproto_json_khex(&d.j, "case", case_id, 16);
      mlproto_json_key(&d.j, "records");
      mlproto_json_arr(&d.j);
    } else {
      printf("case %s of log %s\n", cs, v.r.header.origin);
    }
    rc = ae_decrypt(v.map.data, v.map.len, &k, case_id, dec_print, &d, &found);
    if (rc == MLPROTO_ERR_NOT_FOUND)
      ex = audit_fail("decrypt", "no record of case %s is in %s", cs, path);
    else if (rc == MLPROTO_ERR_NO_CASE_KEY && found.grants && found.grants == found.grants_erased)
      ex = audit_fail("decrypt", "case %s was erased: every KEY_GRANT of it is erased, so nothing of it can be "
                "read (crypto-shredding)", cs);
    else if (rc == MLPROTO_ERR_NO_CASE_KEY)
      ex = audit_fail("decrypt", "no key of case %s is sealed to this escrow key (%" PRIu64 " KEY_GRANTs of the "
                "case, %" PRIu64 " erased): another escrow key, or the devices have not synced since "
                "the key was set", cs, found.grants, found.grants_erased);
    else if (rc)
      ex = audit_fail("decrypt", "%s (%s)", mlproto_strerror(rc), mlproto_errname(rc));
  }
  if (!ex && json) {
    mlproto_json_end(&d.j);
    mlproto_json_ku64(&d.j, "opened", d.opened);
    mlproto_json_ku64(&d.j, "erased", d.erased);
    mlproto_json_ku64(&d.j, "no_key", d.no_key);
    mlproto_json_end(&d.j);
    rc = mlproto_json_finish(&d.j);
    if (!rc && (fwrite(b.data, 1, b.len, stdout) != b.len || putchar('\n') == EOF)) rc = MLPROTO_ERR_IO;
    if (rc) ex = audit_fail("decrypt", "cannot write the document: %s", mlproto_strerror(rc));
  } else if (!ex) {
    printf("%" PRIu64 " sealed parts read, %" PRIu64 " erased, %" PRIu64 " that no key of the escrow opens\n",
           d.opened, d.erased, d.no_key);
  }
  if (!ex && fflush(stdout) != 0) ex = audit_fail("decrypt", "cannot write: %s", strerror(errno));
  if (b.data) sodium_memzero(b.data, b.len);
  mlproto_buf_free(&b);
  audit_verified_close(&v);
  ae_key_free(&k);
  return ex;
}

/* ------------------------------------------------------------- regrant */

static const char usage_regrant[] =
    "Usage: mentorlog-audit regrant FILE --escrow-key SECRET_FILE --device DEVICE\n"
    "                               [--case CASE]... --out GRANTS\n"
    "                               (--log-key VKEY | --state DIR)\n"
    "\n"
    "For a mentor who lost every device: re-grants the case keys the devices sealed\n"
    "to the escrow to the mentor's new device DEVICE (its id, 32 hex digits, as\n"
    "`mentorlog-server admin device list` and the device show it). Writes the new file\n"
    "GRANTS (mode 0600): one KEY_GRANT per key of every case of the device's mentor\n"
    "(or of each --case), sealed to DEVICE only and signed by the escrow key, chained\n"
    "after the escrow's last record in FILE. The server's administrator appends them\n"
    "with `mentorlog-server admin escrow-key import GRANTS`; at its next sync the device\n"
    "takes them and reads the old cases. Erased cases are skipped.\n"
    "FILE must be a fresh copy of the log (fetch it just before): it is verified first\n"
    "as `verify` does, and the server refuses grants made from an older copy.\n"
    "Revoke the lost devices first (`admin device revoke`): a revoked DEVICE is refused.\n"
    "Exit status: 0 written; 1 failure (nothing written); 2 usage.\n";

#define MAX_CASES 1024

static int write_new(const char *path, const uint8_t *p, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno == EEXIST ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  int rc = af_write_all(fd, p, n);
  if (!rc && fsync(fd) != 0) rc = MLPROTO_ERR_IO;
  if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
  if (!rc) rc = af_fsync_dir(path);
  if (rc) unlink(path);
  return rc;
}

int cmd_regrant(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_regrant, stdout);
    return AUDIT_EXIT_OK;
  }
  const char *path = NULL, *keyfile = NULL, *dev = NULL, *out = NULL, *vkey = NULL, *state_dir = NULL;
  static uint8_t cases[MAX_CASES][16];
  size_t n_cases = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--escrow-key") == 0 && i + 1 < argc && !keyfile) keyfile = argv[++i];
    else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc && !dev) dev = argv[++i];
    else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc && !out) out = argv[++i];
    else if (strcmp(argv[i], "--log-key") == 0 && i + 1 < argc && !vkey) vkey = argv[++i];
    else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc && !state_dir) state_dir = argv[++i];
    else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc) {
      const char *c = argv[++i];
      if (n_cases == MAX_CASES) return audit_usage(usage_regrant, "more than 1024 --case");
      if (strlen(c) != 32 || mlproto_hex_decode(cases[n_cases], 16, c, 32) != MLPROTO_OK)
        return audit_usage(usage_regrant, "--case: a case id, 32 hex digits");
      n_cases++;
    } else if (argv[i][0] != '-' && !path) path = argv[i];
    else return audit_usage(usage_regrant, "unknown option, missing value or extra argument");
  }
  uint8_t device_id[16];
  if (!path || !keyfile || !dev || !out)
    return audit_usage(usage_regrant, "regrant needs FILE, --escrow-key, --device and --out");
  if (strlen(dev) != 32 || mlproto_hex_decode(device_id, 16, dev, 32) != MLPROTO_OK)
    return audit_usage(usage_regrant, "--device: a device id, 32 hex digits");
  if (access(out, F_OK) == 0) return audit_fail("regrant", "%s exists: it is never replaced", out);
  ae_key k;
  int rc = ae_key_load(keyfile, &k);
  if (rc) return key_fail("regrant", keyfile, rc);
  audit_verified v;
  int ex = audit_verified_clean(&v, "regrant", usage_regrant, path, vkey, state_dir);
  mlproto_buf b;
  mlproto_buf_init(&b, 512u << 20);
  ae_regrant_info info;
  memset(&info, 0, sizeof info);
  if (!ex) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    rc = ae_regrant(v.map.data, v.map.len, &k, device_id, (const uint8_t(*)[16])cases, n_cases, now, &b, &info);
    switch (rc) {
    case MLPROTO_OK: break;
    case MLPROTO_ERR_NOT_FOUND:
      ex = audit_fail("regrant", n_cases ? "no such device or case in %s" : "no device %s in the log", n_cases ? path : dev);
      break;
    case MLPROTO_ERR_DEVICE_REVOKED: ex = audit_fail("regrant", "device %s is revoked", dev); break;
    case MLPROTO_ERR_FORBIDDEN: ex = audit_fail("regrant", "a --case is not a case of the device's mentor"); break;
    case MLPROTO_ERR_CASE_ERASED: ex = audit_fail("regrant", "a --case was erased: its keys are gone"); break;
    case MLPROTO_ERR_NO_ESCROW_KEY:
      ex = audit_fail("regrant", "the log's latest ESCROW_KEY event is not this escrow key (or there is none): "
                "the server would refuse its grants");
      break;
    case MLPROTO_ERR_NO_CASE_KEY:
      ex = audit_fail("regrant", "nothing to re-grant: no key of %s case is sealed to this escrow key",
                n_cases ? "the named" : "any of the mentor's");
      break;
    default: ex = audit_fail("regrant", "%s (%s)", mlproto_strerror(rc), mlproto_errname(rc));
    }
  }
  if (!ex) {
    rc = write_new(out, b.data, b.len);
    if (rc) ex = audit_fail("regrant", "%s: %s", out, rc == MLPROTO_ERR_ALREADY_EXISTS ? "exists" : strerror(errno));
  }
  if (!ex) {
    char m[33];
    mlproto_hex_encode(m, info.mentor_id, 16);
    printf("%zu KEY_GRANT%s of %zu case%s to device %s (mentor %s), escrow seq %" PRIu64 "..%" PRIu64
           ", written to %s\n", info.grants, info.grants == 1 ? "" : "s", info.cases, info.cases == 1 ? "" : "s",
           dev, m, info.first_seq, info.first_seq + info.grants - 1, out);
    if (info.cases_without_key)
      printf("%zu case%s of the mentor without a key sealed to this escrow key (not re-granted)\n",
             info.cases_without_key, info.cases_without_key == 1 ? "" : "s");
    if (info.cases_erased) printf("%zu erased case%s skipped\n", info.cases_erased, info.cases_erased == 1 ? "" : "s");
    printf("next: mentorlog-server admin --data DIR escrow-key import %s\n", out);
  }
  mlproto_buf_free(&b);
  audit_verified_close(&v);
  ae_key_free(&k);
  return ex;
}
