/* admin_int.h — what the admin commands' files share (admin.c holds the
 * table and the helpers; one file per feature: admin_codes.c enrolment
 * codes, admin_escrow.c the escrow key, admin_retention.c retention purge,
 * admin_witness.c witnesses, admin_export.c the log export, admin_migrate.c
 * the copy of an SQLite store into PostgreSQL). */
#ifndef MLS_ADMIN_INT_H
#define MLS_ADMIN_INT_H

#include "admin.h"
#include "datadir.h"
#include "log.h"
#include "store.h"

#include "mlproto/json.h"

#include <stddef.h>
#include <stdint.h>

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

typedef struct admin {
  mls_datadir dd;
  mls_store *st;
  mls_log *log;
  uint8_t *sk;
  uint8_t pk[32];
} admin;

/* Opens DIR and its store (uri) into *a: the log key, the store, the log
 * (whose identity is checked against the key and DIR/log.name). create:
 * `init` only (otherwise NOT_FOUND for a DIR without a server store).
 * guard: also refuse a store older than a witnessed checkpoint
 * (STORE_ROLLED_BACK). On failure *a holds nothing to close. */
int adm_open(admin *a, const char *dir, const char *uri, int create, const char *log_name,
             int guard);
/* Closes what adm_open opened (a zeroed admin: nothing). */
void adm_close(admin *a);
/* adm_open's failure rc explained on stderr (init, log_name: adm_open's
 * arguments); EXIT_RUNTIME. */
int adm_open_failure(int rc, const char *dir, int init, const char *log_name);

uint64_t adm_now_ms(void);
/* The usage on stderr after why (may be NULL); EXIT_USAGE. */
int adm_usage(const char *why);
/* "mentorlog-server admin: what: message (NAME)" on stderr; EXIT_RUNTIME. */
int adm_failure(const char *what, int rc);
/* A --json document built whole into b, then written by adm_json_emit
 * (0, or the failure's exit status, printed; rc: the listing's own). */
void adm_json_begin(mlproto_json *j, mlproto_buf *b);
int adm_json_emit(mlproto_json *j, int rc, const char *what);
int adm_parse_id(uint8_t *out, size_t n, const char *hex);
/* "2026-01-01T00:00:00Z" (UTC) into out. */
const char *adm_utc_time(char out[24], uint64_t ms);

int adm_cmd_enroll_code(admin *a, int argc, char **argv); /* admin_codes.c */
int adm_cmd_escrow_key(admin *a, int argc, char **argv);  /* admin_escrow.c */
int adm_cmd_retention(admin *a, int argc, char **argv);   /* admin_retention.c */
int adm_cmd_witness(admin *a, int argc, char **argv);     /* admin_witness.c */
/* admin_migrate.c: opens what it needs itself (DIR's SQLite store, then the
 * target); uri is the store --data/--store named. */
int adm_cmd_migrate(const char *dir, const char *uri, int argc, char **argv);

#endif
