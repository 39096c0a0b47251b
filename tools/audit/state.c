/* state.c — the auditor's state directory (state.h). */
#include "state.h"

#include "auditfile.h"

#include "mlproto/errors.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_FILE "log-key"
#define CP_DIR "checkpoints"
#define CP_DIGITS 20

static int mkdir_p(const char *path) {
  if (mkdir(path, 0700) == 0 || errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) != 0) return MLPROTO_ERR_IO;
    if (!S_ISDIR(st.st_mode)) {
      errno = ENOTDIR;
      return MLPROTO_ERR_IO;
    }
    return MLPROTO_OK;
  }
  return MLPROTO_ERR_IO;
}

static int path_of(char *out, size_t cap, const char *dir, const char *name) {
  return (size_t)snprintf(out, cap, "%s/%s", dir, name) < cap ? MLPROTO_OK
                                                              : MLPROTO_ERR_INVALID_ARGUMENT;
}

int audit_state_open(audit_state *s, const char *dir, char *why, size_t cap) {
  memset(s, 0, sizeof *s);
  snprintf(why, cap, "%s", dir);
  char p[AUDIT_STATE_PATH_MAX];
  if (strlen(dir) + 32 >= sizeof s->dir) return MLPROTO_ERR_INVALID_ARGUMENT;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  int rc = mkdir_p(dir);
  if (!rc) rc = path_of(p, sizeof p, dir, CP_DIR);
  if (!rc) {
    snprintf(why, cap, "%s", p);
    rc = mkdir_p(p);
  }
  if (rc) return rc;
  if ((rc = path_of(p, sizeof p, dir, KEY_FILE))) return rc;
  snprintf(why, cap, "%s", p);
  af_map m;
  rc = af_map_open(&m, p);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_OK;
  if (rc) return rc;
  size_t n = m.len;
  while (n && (m.data[n - 1] == '\n' || m.data[n - 1] == '\r')) n--;
  rc = n && n < sizeof s->vkey ? mlproto_note_vkey_parse(&s->key, (const char *)m.data, n)
                               : MLPROTO_ERR_BAD_KEY;
  if (!rc) rc = mlproto_note_vkey_format(s->vkey, sizeof s->vkey, NULL, s->key.name, s->key.pk);
  af_map_close(&m);
  if (rc) return MLPROTO_ERR_BAD_KEY;
  s->have_key = 1;
  return MLPROTO_OK;
}

/* "00000000000000000042.note" -> 42; -1 for any other name. */
static int cp_name(const char *name, uint64_t *size) {
  if (strlen(name) != CP_DIGITS + 5 || strcmp(name + CP_DIGITS, ".note") != 0) return -1;
  uint64_t v = 0;
  for (int i = 0; i < CP_DIGITS; i++) {
    if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *size = v;
  return 0;
}

static int load_one(audit_state *s, const mlproto_note_verifier *key, const char *path,
                    uint64_t size) {
  af_map m;
  int rc = af_map_open(&m, path);
  if (rc) return rc;
  mlproto_checkpoint cp;
  rc = mlproto_checkpoint_open(&cp, m.data, m.len, key);
  af_map_close(&m);
  if (rc) return rc;
  if (cp.size != size) return MLPROTO_ERR_TREE_RANGE;
  mlproto_checkpoint *k = realloc(s->kept, (s->n_kept + 1) * sizeof *k);
  if (!k) return MLPROTO_ERR_OUT_OF_MEMORY;
  s->kept = k;
  s->kept[s->n_kept++] = cp;
  return MLPROTO_OK;
}

int audit_state_load_kept(audit_state *s, const mlproto_note_verifier *key, char *why, size_t cap) {
  char d[AUDIT_STATE_PATH_MAX], p[AUDIT_STATE_PATH_MAX];
  int rc = path_of(d, sizeof d, s->dir, CP_DIR);
  if (rc) return rc;
  snprintf(why, cap, "%s", d);
  DIR *dh = opendir(d);
  if (!dh) return MLPROTO_ERR_IO;
  struct dirent *e;
  while (!rc && (errno = 0, e = readdir(dh))) {
    uint64_t size;
    if (e->d_name[0] == '.' || cp_name(e->d_name, &size)) continue; /* temporary files, others */
    if ((rc = path_of(p, sizeof p, d, e->d_name))) break;
    snprintf(why, cap, "%s", p);
    rc = load_one(s, key, p, size);
  }
  if (!rc && errno) rc = MLPROTO_ERR_IO;
  closedir(dh);
  return rc;
}

int audit_state_save(audit_state *s, const mlproto_note_verifier *key, const uint8_t *note,
                     size_t len, uint64_t size, int *stored) {
  if (stored) *stored = 0;
  char p[AUDIT_STATE_PATH_MAX];
  int rc;
  if (!s->have_key) {
    char line[MLPROTO_NOTE_VKEY_MAX + 1];
    size_t n = 0;
    if ((rc = mlproto_note_vkey_format(line, sizeof line - 1, &n, key->name, key->pk))) return rc;
    line[n++] = '\n';
    if ((rc = path_of(p, sizeof p, s->dir, KEY_FILE)) || (rc = af_replace(p, line, n))) return rc;
    s->have_key = 1;
  }
  char name[64];
  snprintf(name, sizeof name, CP_DIR "/%0*" PRIu64 ".note", CP_DIGITS, size);
  if ((rc = path_of(p, sizeof p, s->dir, name))) return rc;
  struct stat st;
  if (stat(p, &st) == 0) return MLPROTO_OK; /* kept already */
  if ((rc = af_replace(p, note, len))) return rc;
  if (stored) *stored = 1;
  return MLPROTO_OK;
}

void audit_state_close(audit_state *s) {
  free(s->kept);
  memset(s, 0, sizeof *s);
}
