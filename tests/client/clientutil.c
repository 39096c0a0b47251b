/* Helpers shared by the client-core tests (clientutil.h). */
#include "clientutil.h"

#include "records_int.h" /* the record store, to read what is stored */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char tmpl[256];

const char *newdir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/mlclient-XXXXXX", t && *t ? t : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  static char prof[300];
  snprintf(prof, sizeof prof, "%s/p", tmpl);
  return prof;
}

void rmtree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

mentorlog_open_options pass(const char *p) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = p;
  o.passphrase_len = strlen(p);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  return o;
}

mentorlog *create(const char *dir) {
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  assert_non_null(h);
  return h;
}

mentorlog_date D(const char *s) {
  mentorlog_date d;
  assert_int_equal(mentorlog_parse_date(&d, s), 0);
  return d;
}

int64_t T(const char *s) {
  int64_t t;
  assert_int_equal(mentorlog_parse_local_time(&t, s), 0);
  return t;
}

void cu_needle_add(cu_needles *ns, const void *b, size_t n, const char *what) {
  if (ns->n == ns->cap) {
    ns->cap = ns->cap ? ns->cap * 2 : 64;
    ns->v = realloc(ns->v, ns->cap * sizeof *ns->v);
    assert_non_null(ns->v);
  }
  cu_needle *x = &ns->v[ns->n++];
  x->b = malloc(n);
  assert_non_null(x->b);
  memcpy(x->b, b, n);
  x->n = n;
  snprintf(x->what, sizeof x->what, "%s", what);
}

void cu_needle_str(cu_needles *ns, const char *s, const char *what) {
  if (s && strlen(s) >= 4)
    cu_needle_add(ns, s, strlen(s), what);
}

void cu_needles_free(cu_needles *ns) {
  for (size_t i = 0; i < ns->n; i++)
    free(ns->v[i].b);
  free(ns->v);
  memset(ns, 0, sizeof *ns);
}

static void needle_varint(cu_needles *ns, uint64_t v, const char *what) {
  uint8_t b[10];
  size_t n = 0;
  do {
    b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  if (n >= 4)
    cu_needle_add(ns, b, n, what);
}

/* Offset and length of Envelope field 3 (disclosed) in a plaintext envelope. */
static int disclosed_part(const uint8_t *e, size_t len, size_t *off, size_t *n) {
  size_t i = 0;
  while (i < len) {
    uint64_t key = 0, l = 0;
    for (int s = 0; i < len; s += 7) {
      key |= (uint64_t)(e[i] & 0x7f) << s;
      if (!(e[i++] & 0x80))
        break;
    }
    if ((key & 7) == 0) { /* erased bits */
      while (i < len && (e[i++] & 0x80))
        ;
      continue;
    }
    for (int s = 0; i < len; s += 7) {
      l |= (uint64_t)(e[i] & 0x7f) << s;
      if (!(e[i++] & 0x80))
        break;
    }
    if ((key >> 3) == 3) {
      *off = i;
      *n = (size_t)l;
      return 1;
    }
    i += (size_t)l;
  }
  return 0;
}

size_t cu_needles_of_profile(mentorlog *h, cu_needles *ns) {
  sqlite3_stmt *st;
  assert_int_equal(ml__prepare(h, &st, "SELECT record_id, envelope, hash FROM records ORDER BY rid"), 0);
  size_t rows = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows++;
    const uint8_t *env;
    size_t len;
    assert_int_equal(ml__env_open(h, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
                                  sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1), &env, &len),
                     0);
    size_t off, n;
    if (disclosed_part(env, len, &off, &n)) {
      cu_needle_add(ns, env + off, n, "serialized disclosed part");
      if (n >= 16 + 4)
        cu_needle_add(ns, env + off + 16, n - 16, "disclosed protobuf without its salt");
    }
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, env, len);
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify_stored(&r, copy, len, sqlite3_column_blob(st, 2)), 0);
    free(copy);
    const mlproto_disclosed *d = r->disclosed;
    const Mentorlog__V1__GrantDisclosed *g =
        !d ? NULL : d->payload_case == MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_OPEN ? d->grant_open
                  : d->payload_case == MENTORLOG__V1__DISCLOSED__PAYLOAD_GRANT_UPDATE ? d->grant_update
                                                                                      : NULL;
    if (g) {
      cu_needle_str(ns, g->jobcentre_id, "jobcentre");
      cu_needle_str(ns, g->case_ref, "municipal reference");
      cu_needle_str(ns, g->legal_basis, "legal basis");
    }
    if (d && d->payload_case == MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT)
      needle_varint(ns, d->contact->start_ms, "contact start");
    if (d && d->payload_case == MENTORLOG__V1__DISCLOSED__PAYLOAD_ABSENCE) {
      cu_needle_str(ns, d->absence->approval_ref, "approval reference");
      cu_needle_str(ns, mentorlog_absence_kind_name((int)d->absence->kind), "absence kind");
    }
    mlproto_record_free(r);
  }
  sqlite3_finalize(st);
  return rows;
}

/* Needles sorted by their first 4 bytes: one pass over a file, a binary
 * search per position (the profile files reach megabytes, the needles
 * thousands). */
struct pre {
  uint32_t key;
  size_t i;
};

static uint32_t key4(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static int pre_cmp(const void *a, const void *b) {
  uint32_t x = ((const struct pre *)a)->key, y = ((const struct pre *)b)->key;
  return x < y ? -1 : x > y;
}

size_t cu_hits(const char *dir, const cu_needles *ns) {
  struct pre *ix = calloc(ns->n ? ns->n : 1, sizeof *ix);
  assert_non_null(ix);
  size_t m = 0;
  for (size_t k = 0; k < ns->n; k++) {
    assert_true(ns->v[k].n >= 4);
    ix[m++] = (struct pre){key4(ns->v[k].b), k};
  }
  qsort(ix, m, sizeof *ix, pre_cmp);
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t hits = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    size_t len;
    uint8_t *b = (uint8_t *)tu_read_file(p, &len);
    if (!b)
      continue;
    for (size_t i = 0; m && i + 4 <= len; i++) {
      uint32_t k = key4(b + i);
      size_t lo = 0, hi = m;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ix[mid].key < k)
          lo = mid + 1;
        else
          hi = mid;
      }
      for (; lo < m && ix[lo].key == k; lo++) {
        const cu_needle *x = &ns->v[ix[lo].i];
        if (i + x->n <= len && memcmp(b + i, x->b, x->n) == 0) {
          if (hits++ < 20)
            print_message("at rest: %s (%zu bytes) found in %s at %zu\n", x->what, x->n, e->d_name, i);
        }
      }
    }
    free(b);
  }
  closedir(d);
  free(ix);
  return hits;
}

size_t cu_hits_str(const char *dir, const char *s) {
  cu_needles ns = {0};
  cu_needle_add(&ns, s, strlen(s), s);
  size_t n = cu_hits(dir, &ns);
  cu_needles_free(&ns);
  return n;
}

void cu_plain_get(mentorlog *h, const uint8_t rid[16], uint8_t **env, size_t *len, uint8_t hash[32]) {
  sqlite3_stmt *st;
  assert_int_equal(ml__prepare(h, &st, "SELECT record_id, envelope, hash FROM records WHERE record_id = ?"), 0);
  sqlite3_bind_blob(st, 1, rid, 16, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  const uint8_t *e;
  assert_int_equal(ml__env_open(h, sqlite3_column_blob(st, 0), 16, sqlite3_column_blob(st, 1),
                                sqlite3_column_bytes(st, 1), &e, len),
                   0);
  *env = malloc(*len);
  assert_non_null(*env);
  memcpy(*env, e, *len);
  assert_int_equal(sqlite3_column_bytes(st, 2), 32);
  memcpy(hash, sqlite3_column_blob(st, 2), 32);
  sqlite3_finalize(st);
}

void cu_plain_put(mentorlog *h, const uint8_t rid[16], const uint8_t *env, size_t len, const uint8_t *hash) {
  uint8_t *blob;
  size_t blen;
  assert_int_equal(ml__env_seal(h, rid, env, len, &blob, &blen), 0);
  cu_blob_put(h, rid, blob, blen, hash);
  mlproto_free(blob);
}

void cu_blob_put(mentorlog *h, const uint8_t rid[16], const uint8_t *blob, size_t len, const uint8_t *hash) {
  sqlite3_stmt *st;
  assert_int_equal(ml__prepare(h, &st, hash ? "UPDATE records SET envelope = ?1, hash = ?3 WHERE record_id = ?2"
                                            : "UPDATE records SET envelope = ?1 WHERE record_id = ?2"),
                   0);
  sqlite3_bind_blob(st, 1, blob, (int)len, SQLITE_TRANSIENT);
  sqlite3_bind_blob(st, 2, rid, 16, SQLITE_TRANSIENT);
  if (hash)
    sqlite3_bind_blob(st, 3, hash, 32, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  assert_int_equal(sqlite3_changes(h->db), 1);
  sqlite3_finalize(st);
}

uint8_t *cu_blob_get(mentorlog *h, const uint8_t rid[16], size_t *len) {
  sqlite3_stmt *st;
  assert_int_equal(ml__prepare(h, &st, "SELECT envelope FROM records WHERE record_id = ?"), 0);
  sqlite3_bind_blob(st, 1, rid, 16, SQLITE_TRANSIENT);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  *len = (size_t)sqlite3_column_bytes(st, 0);
  uint8_t *b = malloc(*len);
  assert_non_null(b);
  memcpy(b, sqlite3_column_blob(st, 0), *len);
  sqlite3_finalize(st);
  return b;
}

/* Schema v1 exactly: records with an hlc column, UNIQUE hash, a full item
 * index, no kind index, and every envelope in plaintext. */
void cu_make_v1_profile(mentorlog *h) {
  assert_int_equal(ml__exec(h, "BEGIN IMMEDIATE;"
                               "CREATE TABLE r1(rid INTEGER PRIMARY KEY,"
                               "  record_id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL, item_id BLOB NOT NULL,"
                               "  author BLOB NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,"
                               "  hlc INTEGER NOT NULL, hash BLOB NOT NULL UNIQUE, envelope BLOB NOT NULL,"
                               "  UNIQUE (author, seq));"),
                   0);
  sqlite3_stmt *st, *ins;
  assert_int_equal(ml__prepare(h, &st, "SELECT rid, record_id, case_id, item_id, author, seq, kind, hash,"
                                       " envelope FROM records ORDER BY rid"),
                   0);
  assert_int_equal(ml__prepare(h, &ins, "INSERT INTO r1 VALUES (?,?,?,?,?,?,?,?,?,?)"), 0);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const uint8_t *e;
    size_t len;
    assert_int_equal(ml__env_open(h, sqlite3_column_blob(st, 1), 16, sqlite3_column_blob(st, 8),
                                  sqlite3_column_bytes(st, 8), &e, &len),
                     0);
    uint8_t *plain = malloc(len);
    assert_non_null(plain);
    memcpy(plain, e, len);
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify_stored(&r, plain, len, sqlite3_column_blob(st, 7)), 0);
    for (int c = 0; c < 7; c++)
      sqlite3_bind_value(ins, c + 1, sqlite3_column_value(st, c));
    sqlite3_bind_int64(ins, 8, (sqlite3_int64)r->hlc);
    sqlite3_bind_value(ins, 9, sqlite3_column_value(st, 7));
    sqlite3_bind_blob(ins, 10, plain, (int)len, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
    mlproto_record_free(r);
    free(plain);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(ins);
  assert_int_equal(ml__exec(h, "DROP TABLE records; ALTER TABLE r1 RENAME TO records; DROP TABLE maintenance;"
                               "CREATE INDEX records_case ON records(case_id, kind);"
                               "CREATE INDEX records_item ON records(item_id);"
                               /* v1's sync tables (v5 replaced them) */
                               "DROP TABLE sync; DROP TABLE receipts; DROP TABLE grants;"
                               "DROP INDEX outbox_record;"
                               "CREATE TABLE ck1(case_id BLOB PRIMARY KEY, wrapped BLOB NOT NULL) WITHOUT ROWID;"
                               "INSERT INTO ck1 SELECT case_id, wrapped FROM case_keys WHERE gen = 0;"
                               "DROP TABLE case_keys; ALTER TABLE ck1 RENAME TO case_keys;"
                               "CREATE TABLE sync_state(id INTEGER PRIMARY KEY CHECK (id = 1),"
                               "  pull_cursor INTEGER NOT NULL, sth BLOB);"
                               "INSERT INTO sync_state VALUES (1, 0, NULL);"
                               "CREATE TABLE receipts(record_id BLOB PRIMARY KEY, log_index INTEGER NOT NULL,"
                               "  received_ms INTEGER NOT NULL) WITHOUT ROWID;"
                               "CREATE TABLE server_events(log_index INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
                               "  envelope BLOB NOT NULL);"
                               "PRAGMA user_version=1; COMMIT;"),
                   0);
}
