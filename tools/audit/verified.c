/* verified.c — the key, the file and its verification (verified.h). */
#include "verified.h"

#include "audit.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>


int audit_verified_open(audit_verified *v, const char *cmd, const char *u, const char *path,
                        const char *vkey, const char *state_dir) {
  memset(v, 0, sizeof *v);
  if (vkey && mlproto_note_vkey_parse(&v->key, vkey, strlen(vkey)) != MLPROTO_OK)
    return audit_usage(u, "--log-key: not a verifier key NAME+KEYID+BASE64 (as "
                          "`mentorlog-server admin log-key` prints it)");
  if (!vkey && !state_dir) return audit_usage(u, "give --log-key VKEY (or a --state DIR that holds it)");
  char why[AUDIT_STATE_PATH_MAX + 64];
  if (state_dir) {
    audit_state *st = &v->st;
    int rc = audit_state_open(st, state_dir, why, sizeof why);
    if (rc)
      return audit_fail(cmd, "--state: %s: %s", why, rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
    if (st->have_key && vkey && (strcmp(st->key.name, v->key.name) != 0 || memcmp(st->key.pk, v->key.pk, 32) != 0))
      return audit_fail(cmd, "--log-key is not the key kept in %s/log-key (%s): this state is of another log",
                  state_dir, st->vkey);
    if (!vkey && !st->have_key) return audit_usage(u, "--state DIR holds no log-key yet: give --log-key VKEY");
    if (!vkey) v->key = st->key;
    rc = audit_state_load_kept(st, &v->key, why, sizeof why);
    if (rc)
      return audit_fail(cmd, "--state: %s: %s (%s): the state is damaged or of another log", why,
                  rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc), mlproto_errname(rc));
  }
  int rc = af_map_open(&v->map, path);
  if (rc) return audit_fail(cmd, "cannot read %s: %s", path, rc == MLPROTO_ERR_NOT_FOUND ? "no such file" : strerror(errno));
  audit_options o = {.key = &v->key, .kept = v->st.kept, .n_kept = v->st.n_kept};
  rc = audit_verify(&v->r, v->map.data, v->map.len, &o);
  if (rc) return audit_fail(cmd, "%s", mlproto_strerror(rc));
  return AUDIT_EXIT_OK;
}

int audit_verified_clean(audit_verified *v, const char *cmd, const char *u, const char *path,
                         const char *vkey, const char *state_dir) {
  int ex = audit_verified_open(v, cmd, u, path, vkey, state_dir);
  if (ex || v->r.findings_total == 0) return ex;
  for (size_t i = 0; i < v->r.n_findings && i < 5; i++) {
    const audit_finding *f = &v->r.findings[i];
    if (f->has_index) fprintf(stderr, AUDIT_PROG ": %s: index %" PRIu64 ": %s: %s\n", cmd, f->index,
                              mlproto_errname(f->code), f->text);
    else fprintf(stderr, AUDIT_PROG ": %s: file: %s: %s\n", cmd, mlproto_errname(f->code), f->text);
  }
  return audit_fail(cmd, "%s does not verify (%" PRIu64 " finding%s; `mentorlog-audit verify %s` lists them): "
              "nothing is read from it", path, v->r.findings_total, v->r.findings_total == 1 ? "" : "s", path);
}

void audit_verified_close(audit_verified *v) {
  audit_result_free(&v->r);
  af_map_close(&v->map);
  audit_state_close(&v->st);
  memset(v, 0, sizeof *v);
}
