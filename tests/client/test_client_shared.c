/* A binding's view: a plain program linked against libmentorlog.so (not the
 * static library) creates, opens and queries a profile through it, using
 * only what a Swift/Kotlin binding can call (functions, no macros). Exit 0
 * on success; a message and 1 on the first failure. */
#define _GNU_SOURCE
#include "mentorlog/mentorlog.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "test_client_shared: %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

int main(void) {
  /* the API really comes from the shared object */
  Dl_info info;
  CHECK(dladdr((void *)mentorlog_open, &info) != 0 && info.dli_fname);
  CHECK(strstr(info.dli_fname, "libmentorlog.so") != NULL);
  /* internals stay hidden */
  CHECK(dlsym(RTLD_DEFAULT, "ml__append") == NULL);
  CHECK(dlsym(RTLD_DEFAULT, "mlproto_record_build") == NULL);

  CHECK(strcmp(mentorlog_version(), "") != 0);
  CHECK(mentorlog_id_bytes() == 16 && mentorlog_key_bytes() == 32);
  CHECK(strcmp(mentorlog_errname(-300), "WRONG_PASSPHRASE") == 0);

  char tmpl[512];
  const char *t = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/mlshared-XXXXXX", t && *t ? t : "/tmp");
  CHECK(mkdtemp(tmpl) != NULL);
  char dir[600];
  snprintf(dir, sizeof dir, "%s/p", tmpl);

  uint8_t key[32];
  for (size_t i = 0; i < sizeof key; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  mentorlog_open_options o;
  mentorlog_open_options_init(&o);
  o.key = key;
  mentorlog *h = NULL;
  CHECK(mentorlog_create(&h, dir, &o) == 0 && h);
  uint8_t c[16], g[16], r[16];
  CHECK(mentorlog_case_open(h, c, "Shared Library", "12345678") == 0);
  mentorlog_grant_params gp;
  mentorlog_grant_params_init(&gp);
  gp.jobcentre = "0101";
  gp.reference = "SO-1";
  CHECK(mentorlog_parse_date(&gp.start, "2026-03-02") == 0 && mentorlog_parse_date(&gp.end, "2026-05-31") == 0);
  CHECK(mentorlog_grant_open(h, g, c, &gp) == 0);
  mentorlog_contact_params cp;
  mentorlog_contact_params_init(&cp);
  CHECK(mentorlog_parse_local_time(&cp.start_ms, "2026-03-03 10:00") == 0);
  cp.minutes = 30;
  cp.channel = mentorlog_channel_parse("phone");
  cp.outcome = mentorlog_outcome_parse("held");
  CHECK(mentorlog_contact_add(h, r, c, &cp) == 0);
  mentorlog_close(h);

  /* a wrong key: specific error, no handle, a detail for the caller */
  uint8_t bad[32] = {0};
  mentorlog_open_options ob;
  mentorlog_open_options_init(&ob);
  ob.key = bad;
  h = NULL;
  CHECK(mentorlog_open(&h, dir, &ob) == -300 && h == NULL);
  CHECK(strcmp(mentorlog_open_errmsg(), "") != 0);

  CHECK(mentorlog_open(&h, dir, &o) == 0 && h);
  mentorlog_case *cs = NULL;
  size_t n = 0;
  CHECK(mentorlog_cases(h, &cs, &n) == 0 && n == 1 && strcmp(cs[0].name, "Shared Library") == 0);
  mentorlog_cases_free(cs, n);
  mentorlog_compliance *cc = NULL;
  int64_t now;
  CHECK(mentorlog_parse_local_time(&now, "2026-07-01 12:00") == 0);
  CHECK(mentorlog_grant_compliance(h, g, now, &cc) == 0);
  CHECK(cc->nperiods == 13 && cc->periods[0].status == MENTORLOG_MET && cc->met == 1);
  mentorlog_compliance_free(cc);
  CHECK(mentorlog_verify(h) == 0);
  mentorlog_close(h);

  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  CHECK(system(cmd) == 0);
  return 0;
}
