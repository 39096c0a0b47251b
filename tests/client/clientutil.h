/* Helpers shared by the client-core tests: temporary profiles, dates and
 * times, and a look under the store (the plaintext of every stored
 * envelope, through the library's own record store) for the at-rest checks. */
#ifndef ML_TEST_CLIENTUTIL_H
#define ML_TEST_CLIENTUTIL_H

#include "mentorlog/mentorlog.h"

#include <stddef.h>
#include <stdint.h>

/* The directory of the last newdir() (remove it with rmtree(tmpl)). */
extern char tmpl[256];
/* A fresh $TMPDIR/mlclient-XXXXXX; returns its profile path "<dir>/p". */
const char *newdir(void);
void rmtree(const char *dir);
/* Open options with passphrase p and the fast test KDF. */
mentorlog_open_options pass(const char *p);
/* A new profile in dir with passphrase "correct horse". */
mentorlog *create(const char *dir);
mentorlog_date D(const char *s);
int64_t T(const char *s); /* local Copenhagen "YYYY-MM-DD HH:MM" */

/* A byte string looked for in the profile's files. */
typedef struct cu_needle {
  uint8_t *b;
  size_t n;
  char what[64];
} cu_needle;
typedef struct cu_needles {
  cu_needle *v;
  size_t n, cap;
} cu_needles;
void cu_needle_add(cu_needles *ns, const void *b, size_t n, const char *what);
void cu_needle_str(cu_needles *ns, const char *s, const char *what); /* when >= 4 bytes */
void cu_needles_free(cu_needles *ns);
/* Every needle that disclosed data of every record stored in h's profile
 * gives: the exact serialized disclosed part, its protobuf without the
 * salt, each string field (jobcentre, municipal reference, legal basis,
 * approval reference), the absence kind's name, and the varint encodings of
 * contact start, grant and absence dates that are >= 4 bytes. Returns the
 * number of records read. */
size_t cu_needles_of_profile(mentorlog *h, cu_needles *ns);
/* Occurrences of any needle in any file of dir (the database, -wal, -shm,
 * journals: everything in the directory); prints each one found. */
size_t cu_hits(const char *dir, const cu_needles *ns);
/* cu_hits for one string of at least 4 bytes. */
size_t cu_hits_str(const char *dir, const char *s);

/* The plaintext envelope and hash of one stored record (*env malloc'd). */
void cu_plain_get(mentorlog *h, const uint8_t rid[16], uint8_t **env, size_t *len, uint8_t hash[32]);
/* Store env (sealed at rest as the library does) for rid, and hash when
 * not NULL: what someone holding the profile's keys could write. */
void cu_plain_put(mentorlog *h, const uint8_t rid[16], const uint8_t *env, size_t len, const uint8_t *hash);
/* The stored (sealed) blob of rid, malloc'd; and its raw replacement. */
uint8_t *cu_blob_get(mentorlog *h, const uint8_t rid[16], size_t *len);
void cu_blob_put(mentorlog *h, const uint8_t rid[16], const uint8_t *blob, size_t len, const uint8_t *hash);
/* Turn h's profile into an exact schema-version-1 file: an hlc column,
 * UNIQUE hash, the full item index, and every envelope in plaintext. */
void cu_make_v1_profile(mentorlog *h);

#endif
