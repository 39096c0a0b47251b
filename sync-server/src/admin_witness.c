/* admin_witness.c — `admin witness add | list` (docs/witness.md). */
#include "admin_int.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlproto/cosignature.h"

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
  printf("%s  %s  %s\n", w->name, adm_utc_time(when, w->added_ms), w->vkey);
  return 0;
}

int adm_cmd_witness(admin *a, int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "add") == 0) {
    const char *name = argv[2], *vkey = argv[3];
    mlproto_note_verifier v;
    mlproto_note_verifier lv;
    if (mlproto_cosig_vkey_parse(&v, vkey, strlen(vkey)) != MLPROTO_OK) {
      if (mlproto_note_vkey_parse(&lv, vkey, strlen(vkey)) == MLPROTO_OK)
        return adm_usage("VKEY is a log key (type 0x01); a witness key is of type 0x04 "
                     "(cosignature/v1, from mentorlog-audit witness-keygen)");
      return adm_usage("VKEY: a cosignature/v1 verifier key NAME+KEYID+BASE64");
    }
    if (strcmp(v.name, name) != 0) return adm_usage("NAME must be the name inside VKEY");
    if (strcmp(name, mls_log_origin(a->log)) == 0)
      return adm_usage("NAME is the log's own name; a witness needs a name of its own");
    mls_witness w;
    memset(&w, 0, sizeof w);
    memcpy(w.name, name, strlen(name) + 1);
    memcpy(w.vkey, vkey, strlen(vkey) + 1);
    w.added_ms = adm_now_ms();
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
    if (!rc) {
      rc = MLS_TX(tx, witness_add, &w);
      if (rc) mls_store_rollback(tx);
      else rc = mls_store_commit(tx);
    }
    if (rc == MLPROTO_ERR_ALREADY_EXISTS)
      return adm_failure("a witness of this name exists (its key never changes)", rc);
    if (rc) return adm_failure("witness add", rc);
    char kid[9];
    mlproto_hex_encode(kid, v.key_id, 4);
    printf("witness %s added (key ID %s)\n", name, kid);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "list") == 0) {
    int json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (!json && argc != 2) return adm_usage("witness list [--json]");
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return adm_failure("witness list", rc);
    mlproto_json j;
    mlproto_buf b;
    if (json) {
      adm_json_begin(&j, &b);
      mlproto_json_arr(&j);
    }
    rc = MLS_TX(tx, witness_list, witness_one, json ? &j : NULL);
    mls_store_rollback(tx);
    if (json) {
      mlproto_json_end(&j);
      return adm_json_emit(&j, rc, "witness list");
    }
    return rc ? adm_failure("witness list", rc) : 0;
  }
  return adm_usage("witness add NAME VKEY | witness list [--json]");
}

