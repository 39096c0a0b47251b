/* admin_escrow.c — `admin escrow-key set | show | import` (escrow.h, docs/escrow.md). */
#include "admin_int.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escrow.h"

#include "mlproto/escrow.h"

/* --- escrow-key set PUBLIC_KEY | show | import FILE --- */
static int escrow_import(admin *a, const char *path) {
  uint8_t *file = NULL;
  size_t len = 0;
  int rc = mls_read_file(path, 16u * 1024u * 1024u, &file, &len);
  if (rc) return adm_failure(path, rc);
  uint64_t now = adm_now_ms();
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
      return adm_failure("escrow-key import", rc);
    return EXIT_RUNTIME;
  }
  mlproto_sth sth;
  if ((rc = mls_log_commit(a->log, tx, now, &sth))) return adm_failure("escrow-key import", rc);
  printf("imported %zu re-grant%s (log size %" PRIu64 ")\n", info.grants, info.grants == 1 ? "" : "s",
         sth.size);
  return 0;
}

int adm_cmd_escrow_key(admin *a, int argc, char **argv) {
  static const char U[] = "escrow-key set PUBLIC_KEY | escrow-key show | escrow-key import FILE";
  if (argc == 2 && strcmp(argv[1], "show") == 0) {
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_READ, &tx);
    if (rc) return adm_failure("escrow-key show", rc);
    uint8_t box[32], sign[32];
    rc = mls_escrow_get(tx, box, sign);
    mls_store_rollback(tx);
    if (rc == MLPROTO_ERR_NOT_FOUND) {
      fprintf(stderr, "mentorlog-server admin: no escrow key is configured\n");
      return EXIT_RUNTIME;
    }
    if (rc) return adm_failure("escrow-key show", rc);
    char pub[MLPROTO_ESCROW_PUB_LEN + 1];
    if ((rc = mlproto_escrow_pub_format(pub, box, sign))) return adm_failure("escrow-key show", rc);
    printf("%s\n", pub);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "import") == 0) return escrow_import(a, argv[2]);
  if (argc != 3 || strcmp(argv[1], "set") != 0) return adm_usage(U);
  uint8_t box[32], sign[32];
  if (mlproto_escrow_pub_parse(argv[2], box, sign))
    return adm_usage("PUBLIC_KEY: the line `mentorlog-audit escrow-keygen` printed (" MLPROTO_ESCROW_PUB_PREFIX "...)");
  uint64_t now = adm_now_ms(), mentors = 0;
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
  if (rc) return adm_failure("escrow-key set", rc);
  mlproto_sth sth;
  if ((rc = mls_log_commit(a->log, tx, now, &sth))) return adm_failure("escrow-key set", rc);
  printf("escrow key set: %" PRIu64 " ESCROW_KEY event%s, one per mentor (log size %" PRIu64 ")\n",
         mentors, mentors == 1 ? "" : "s", sth.size);
  return 0;
}

