/* The real `mentorlog` binary (spawned with fork/exec), crash consistency
 * under SIGKILL, and a full disk (a small tmpfs, or RLIMIT_FSIZE). */
#include "testutil.h"

#include "mentorlog/mentorlog.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BIN ML_BINARY_DIR "/tools/mentorlog/mentorlog"

static char base[256], prof[400], passfile[300];
static char errpath[300]; /* when set, the child's stderr goes to this file */

/* The passphrase file, mode 0600 (the command refuses a looser one). */
static void set_passfile(const char *content) {
  int fd = open(passfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  assert_int_equal(fchmod(fd, 0600), 0);
  close(fd);
}

static void setup_dirs(void) {
  const char *t = getenv("TMPDIR");
  snprintf(base, sizeof base, "%s/mlproc-XXXXXX", t && *t ? t : "/tmp");
  assert_non_null(mkdtemp(base));
  snprintf(prof, sizeof prof, "%s/p", base);
  snprintf(passfile, sizeof passfile, "%s/pass", base);
  set_passfile("blue kettle winter harbour\n");
  setenv("MENTORLOG_PASSPHRASE_FILE", passfile, 1);
  setenv("MENTORLOG_KDF", "fast", 1);
}

static void cleanup_dirs(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
  assert_int_equal(system(cmd), 0);
}

/* Run the binary with args; stdout into out (NUL-terminated), stdin from in. */
static int run(char *out, size_t cap, const char *in, const char *const *args) {
  int po[2], pi[2];
  assert_int_equal(pipe(po), 0);
  assert_int_equal(pipe(pi), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(po[1], 1);
    dup2(pi[0], 0);
    int devnull = open("/dev/null", O_WRONLY);
    if (*errpath)
      dup2(open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600), 2);
    else if (!getenv("ML_TEST_VERBOSE"))
      dup2(devnull, 2);
    close(po[0]);
    close(pi[1]);
    const char *argv[32] = {BIN, "--profile", prof};
    int n = 3;
    for (int i = 0; args[i]; i++)
      argv[n++] = args[i];
    argv[n] = NULL;
    execv(BIN, (char *const *)argv);
    _exit(127);
  }
  close(po[1]);
  close(pi[0]);
  if (in)
    assert_int_equal(write(pi[1], in, strlen(in)), (ssize_t)strlen(in));
  close(pi[1]);
  size_t len = 0;
  ssize_t r;
  while ((r = read(po[0], out + len, cap - 1 - len)) > 0)
    len += (size_t)r;
  out[len] = 0;
  close(po[0]);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
}
#define RUN(out, in, ...) run(out, sizeof out, in, (const char *const[]){__VA_ARGS__, NULL})

static void chomp(char *s) { s[strcspn(s, "\n")] = 0; }

/* As RUN, with the child's stderr into err (NUL-terminated). */
static int run_err(char *out, size_t cap, char *err, size_t errcap, const char *in, const char *const *args) {
  snprintf(errpath, sizeof errpath, "%s/stderr", base);
  int rc = run(out, cap, in, args);
  FILE *f = fopen(errpath, "r");
  assert_non_null(f);
  size_t n = fread(err, 1, errcap - 1, f);
  err[n] = 0;
  fclose(f);
  errpath[0] = 0;
  return rc;
}
#define RUN_ERR(out, err, in, ...) \
  run_err(out, sizeof out, err, sizeof err, in, (const char *const[]){__VA_ARGS__, NULL})

/* A file under base with the given content; its path into path. */
static void write_file(char *path, size_t cap, const char *name, const char *content, mode_t mode) {
  snprintf(path, cap, "%s/%s", base, name);
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void command_contract(void **state) {
  (void)state;
  setup_dirs();
  char out[65536], cid[64], gid[64], rid[64], rid2[64];
  assert_int_equal(RUN(out, NULL, "--help"), 0);
  assert_non_null(strstr(out, "Exit status"));
  assert_int_equal(RUN(out, NULL, "contact", "--help"), 0);
  assert_non_null(strstr(out, "--outcome"));
  assert_int_equal(RUN(out, NULL, "bogus"), 2);
  assert_int_equal(RUN(out, NULL, "case", "list"), 1); /* no profile yet */
  assert_int_equal(RUN(out, NULL, "init"), 0);
  assert_int_equal(RUN(out, NULL, "init"), 1); /* exists */
  assert_int_equal(RUN(cid, "name: Ole Olsen\nphone: 22334455\n", "case", "open", "--fields", "-"), 0);
  chomp(cid);
  assert_int_equal(strlen(cid), 32);
  char prefix[8];
  snprintf(prefix, sizeof prefix, "%.6s", cid);
  /* example 1 through the command */
  assert_int_equal(RUN(gid, NULL, "grant", "open", prefix, "--jobcentre", "0101", "--ref", "J-77", "--start",
                       "2025-12-29", "--end", "2026-02-28", "--hours-per-week", "1.5"), 0);
  chomp(gid);
  assert_int_equal(strlen(gid), 32);
  assert_int_equal(RUN(rid, "spoke about CV\n", "contact", "add", cid, "--at", "2025-12-29 10:00", "--minutes", "30",
                       "--channel", "phone", "--outcome", "held", "--note-file", "-"), 0);
  chomp(rid);
  assert_int_equal(RUN(out, NULL, "compliance", gid, "--now", "2026-03-31T12:00:00Z", "--json"), 0);
  assert_non_null(strstr(out, "\"weeks\":[\"2026-W01\"],\"status\":\"MET\",\"reason\":null,\"qualifying\":1"));
  assert_non_null(strstr(out, "\"missed\":[\"2026-01-05\""));
  assert_non_null(strstr(out, "\"minutes_granted\":"));
  /* example 22: correct into the next week */
  assert_int_equal(RUN(rid2, NULL, "contact", "correct", rid, "--at", "2026-01-05 10:00"), 0);
  chomp(rid2);
  assert_int_equal(RUN(out, NULL, "compliance", gid, "--now", "2026-03-31T12:00:00Z", "--json"), 0);
  assert_non_null(strstr(out, "\"weeks\":[\"2026-W01\"],\"status\":\"MISSED\""));
  assert_non_null(strstr(out, "\"weeks\":[\"2026-W02\"],\"status\":\"MET\""));
  /* user errors: exit 1 with one line */
  assert_int_equal(RUN(out, NULL, "contact", "add", cid, "--at", "2025-03-30 02:30", "--minutes", "30",
                       "--channel", "phone", "--outcome", "held"), 1);
  assert_int_equal(RUN(out, NULL, "contact", "add", cid, "--at", "2025-10-26 02:30", "--minutes", "30",
                       "--channel", "phone", "--outcome", "held"), 1);
  assert_int_equal(RUN(out, NULL, "contact", "add", cid, "--at", "2025-10-26 02:30+02:00", "--minutes", "30",
                       "--channel", "phone", "--outcome", "held"), 0);
  assert_int_equal(RUN(out, NULL, "grant", "open", cid, "--jobcentre", "1", "--ref", "R", "--start", "2026-02-30",
                       "--end", "2026-03-01"), 1);
  assert_int_equal(RUN(out, NULL, "case", "erase", "ffffff"), 1);
  assert_int_equal(RUN(out, NULL, "contact", "add", cid, "--minutes", "3"), 2);
  /* notes from standard input */
  assert_int_equal(RUN(out, "first line\nsecond line\n", "note", "add", cid), 0);
  assert_int_equal(RUN(out, NULL, "note", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "first line\\nsecond line"));
  assert_int_equal(RUN(out, NULL, "absence", "add", cid, "--from", "2026-01-12", "--to", "2026-01-18", "--kind",
                       "hospitalised", "--approved-ref", "APP-1"), 0);
  assert_int_equal(RUN(out, NULL, "week", "--now", "2026-01-21T12:00:00Z"), 0);
  assert_non_null(strstr(out, "Ole Olsen"));
  assert_int_equal(RUN(out, NULL, "export", "--format", "json", "--output", "-"), 0);
  assert_non_null(strstr(out, "spoke about CV"));
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", "-"), 0);
  /* RFC 4180: CRLF rows, a field quoted only when it must be */
  assert_memory_equal(out, "type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,purpose,close_reason\r\n",
                      strlen("type,case,id,date,minutes,channel,outcome,name_or_text,phone_or_ref,purpose,close_reason\r\n"));
  char row[200];
  snprintf(row, sizeof row, "\r\ncase,%s,%s,,,,,Ole Olsen,22334455,,\r\n", cid, cid);
  assert_non_null(strstr(out, row));
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  /* grant update: the options given replace the current values, the rest stay */
  assert_int_equal(RUN(out, NULL, "grant", "--help"), 0);
  assert_non_null(strstr(out, "grant update GRANT"));
  assert_non_null(strstr(out, "--reason-file PATH|-"));
  assert_int_equal(RUN(out, NULL, "grant", "update", gid), 2); /* nothing to change */
  assert_int_equal(RUN(out, NULL, "grant", "update", gid, "--date", "2026-01-01"), 2);
  assert_int_equal(RUN(out, "find a CV course", "grant", "update", gid, "--ref", "J-78", "--late-days", "3",
                       "--purpose-file", "-"), 0);
  chomp(out);
  assert_int_equal(strlen(out), 32);
  assert_int_equal(RUN(out, NULL, "grant", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "\"ref\":\"J-78\""));
  assert_non_null(strstr(out, "\"purpose\":\"find a CV course\""));
  assert_non_null(strstr(out, "\"minutes_per_week\":90")); /* kept from grant open */
  assert_non_null(strstr(out, "\"end\":\"2026-02-28\",\"closed\":false,\"close_reason\":null"));
  assert_int_equal(RUN(out, NULL, "grant", "update", gid, "--end", "2026-13-01"), 1);
  assert_int_equal(RUN(out, NULL, "grant", "update", gid, "--end", "2027-01-01"), 1); /* > 6 months */
  /* grant close with a sealed reason, shown decrypted in listings and export */
  assert_int_equal(RUN(out, "moved to Odense\n", "grant", "close", gid, "--date", "2026-02-13", "--reason-file", "-"),
                   0);
  assert_int_equal(RUN(out, NULL, "grant", "list", "--json"), 0);
  assert_non_null(strstr(out, "\"end\":\"2026-02-13\",\"closed\":true,\"close_reason\":\"moved to Odense\""));
  assert_int_equal(RUN(out, NULL, "grant", "list"), 0);
  assert_non_null(strstr(out, "closed: moved to Odense"));
  assert_int_equal(RUN(out, NULL, "export", "--format", "json", "--output", "-"), 0);
  assert_non_null(strstr(out, "\"close_reason\":\"moved to Odense\""));
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", "-"), 0);
  assert_non_null(strstr(out, ",find a CV course,moved to Odense\r\n"));
  assert_int_equal(RUN(out, NULL, "grant", "update", gid, "--ref", "J-79"), 1); /* closed */
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  /* wrong passphrase: exit 1, nothing changed */
  set_passfile("not it at all, no\n");
  assert_int_equal(RUN(out, NULL, "case", "list"), 1);
  cleanup_dirs();
}

/* ------------------------------------------------------ sealed fields */

/* No sealed field is taken from argv: each is refused (exit 2, before the
 * profile is even opened) with a message saying why and how instead; the
 * file, standard-input and --fields forms round-trip, newlines and UTF-8
 * included. */
static void sealed_fields(void **state) {
  (void)state;
  setup_dirs();
  char out[65536], err[8192], cid[64], gid[64], rid[64], path[400];
  /* Refused before any profile exists: the refusal comes first (exit 2, not
   * the missing profile's 1). */
  const char *const refused[][12] = {
      {"case", "open", "--name", "Secret Name"},
      {"case", "open", "--phone", "+45 99 88 77 66"},
      {"case", "open", "--name=Secret Name"},
      {"contact", "add", "abcdef", "--at", "2026-01-05 10:00", "--minutes", "30", "--channel", "phone",
       "--outcome", "held", "--note"},
      {"contact", "void", "abcdef", "--reason", "Secret reason"},
      {"note", "add", "abcdef", "--text", "Secret note"},
      {"note", "revise", "abcdef", "--text", "Secret note"},
      {"grant", "open", "abcdef", "--jobcentre", "0101", "--ref", "R", "--start", "2026-01-05", "--purpose",
       "Secret purpose"},
      {"grant", "update", "abcdef", "--purpose", "Secret purpose"},
      {"grant", "close", "abcdef", "--date", "2026-01-05", "--reason", "Secret reason"},
      {"absence", "add", "abcdef", "--from", "2026-01-05", "--to", "2026-01-06", "--kind", "other", "--reason"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    const char *args[14] = {0};
    int n = 0;
    for (; n < 12 && refused[i][n]; n++)
      args[n] = refused[i][n];
    if (strcmp(args[n - 1], "--note") == 0 || strcmp(args[n - 1], "--reason") == 0)
      args[n++] = "Secret text";
    assert_int_equal(run_err(out, sizeof out, err, sizeof err, NULL, args), 2);
    assert_non_null(strstr(err, "never taken from the command line"));
    assert_non_null(strstr(err, "process list"));
    assert_non_null(strstr(err, "history"));
    assert_non_null(strstr(err, "-file PATH"));
    assert_null(strstr(err, "Secret")); /* the value itself is not repeated */
  }
  assert_int_equal(RUN(out, NULL, "init"), 0);
  /* several fields from standard input */
  assert_int_equal(RUN(cid, "name: Åse Ørsted-Nielsen\nphone: +45 22 33 44 55\n", "case", "open", "--fields", "-"), 0);
  chomp(cid);
  assert_int_equal(strlen(cid), 32);
  assert_int_equal(RUN(out, NULL, "case", "list", "--json"), 0);
  assert_non_null(strstr(out, "\"name\":\"Åse Ørsted-Nielsen\",\"phone\":\"+45 22 33 44 55\""));
  /* one field from a file, one from standard input; the required name alone
   * is the whole of standard input when nothing else gives it */
  write_file(path, sizeof path, "name", "Bo Berg\n", 0600);
  assert_int_equal(RUN(out, "+45 11\n", "case", "open", "--name-file", path, "--phone-file", "-"), 0);
  assert_int_equal(RUN(out, "Carl Carlsen\n", "case", "open"), 0);
  assert_int_equal(RUN(out, NULL, "case", "list"), 0);
  assert_non_null(strstr(out, "Bo Berg  +45 11\n"));
  assert_non_null(strstr(out, "Carl Carlsen\n"));
  /* refusals of the new forms */
  assert_int_equal(RUN(out, "", "case", "open"), 1);                                    /* empty name */
  assert_int_equal(RUN(out, "two\nlines\n", "case", "open", "--name-file", "-"), 1);  /* one-line field */
  assert_int_equal(RUN(out, "name: A\nname: B\n", "case", "open", "--fields", "-"), 2); /* twice */
  assert_int_equal(RUN(out, "name: A\n", "case", "open", "--fields", "-", "--name-file", path), 2);
  assert_int_equal(RUN(out, "nmae: A\n", "case", "open", "--fields", "-"), 2);           /* unknown KEY */
  assert_int_equal(RUN(out, "name: A\n\nbody\n", "case", "open", "--fields", "-"), 2); /* no body here */
  assert_int_equal(RUN(out, "x", "case", "open", "--fields", "-", "--phone-file", "-"), 2); /* stdin twice */
  assert_int_equal(RUN(out, NULL, "case", "open", "--name-file", "/nonexistent/name"), 1);
  assert_int_equal(RUN(out, NULL, "case", "list", "--name-file", path), 2);
  assert_int_equal(RUN(out, NULL, "note", "add", cid, "--reason-file", path), 2); /* not this command's */
  /* a note with newlines and UTF-8: from a file, from standard input, as the
   * BODY of --fields; revised from a file */
  const char *note1 = "Mødet på jobcentret gik godt.\nNæste gang: CV — og \"praktik\".\n\n\tSidste linje ✓";
  write_file(path, sizeof path, "note1", note1, 0600);
  assert_int_equal(RUN(rid, NULL, "note", "add", cid, "--text-file", path), 0);
  chomp(rid);
  assert_int_equal(RUN(out, "Linje ét\r\nLinje to\n\n\n", "note", "add", cid), 0);
  assert_int_equal(RUN(out, "text: én linje\n", "note", "add", cid, "--fields", "-"), 0);
  assert_int_equal(RUN(out, NULL, "note", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "\"text\":\"Mødet på jobcentret gik godt.\\nNæste gang: CV — og \\\"praktik\\\".\\n\\n"
                              "\\tSidste linje ✓\""));
  assert_non_null(strstr(out, "\"text\":\"Linje ét\\r\\nLinje to\""));
  assert_non_null(strstr(out, "\"text\":\"én linje\""));
  write_file(path, sizeof path, "note2", "Rettet:\nanden version\n", 0600);
  assert_int_equal(RUN(out, NULL, "note", "revise", rid, "--text-file", path), 0);
  assert_int_equal(RUN(out, NULL, "note", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "\"text\":\"Rettet:\\nanden version\""));
  assert_int_equal(RUN(out, "", "note", "add", cid), 1); /* empty text */
  /* a contact's note as the BODY of --fields; correct keeps it; void with a
   * reason from a file */
  assert_int_equal(RUN(rid, "\nFørste linje\nAnden linje æøå\n", "contact", "add", cid, "--at", "2026-01-05 10:00",
                       "--minutes", "30", "--channel", "phone", "--outcome", "held", "--fields", "-"), 0);
  chomp(rid);
  assert_int_equal(RUN(rid, NULL, "contact", "correct", rid, "--minutes", "40"), 0);
  chomp(rid);
  assert_int_equal(RUN(out, NULL, "contact", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "\"minutes\":40"));
  assert_non_null(strstr(out, "\"note\":\"Første linje\\nAnden linje æøå\""));
  assert_int_equal(RUN(out, "", "contact", "void", rid), 1); /* the reason is required */
  write_file(path, sizeof path, "reason", "registreret to gange\n", 0600);
  assert_int_equal(RUN(out, NULL, "contact", "void", rid, "--reason-file", path), 0);
  assert_int_equal(RUN(out, NULL, "contact", "list", cid, "--json"), 0);
  assert_null(strstr(out, "\"minutes\":40"));
  /* a grant's purpose as the BODY, its close reason as a KEY line */
  assert_int_equal(RUN(gid, "\nFind a CV course\nand an internship", "grant", "open", cid, "--jobcentre", "0101",
                       "--ref", "J-1", "--start", "2026-01-05", "--end", "2026-03-01", "--fields", "-"), 0);
  chomp(gid);
  assert_int_equal(RUN(out, "reason: flyttet til Århus\n", "grant", "close", gid, "--date", "2026-02-01", "--fields",
                       "-"), 0);
  assert_int_equal(RUN(out, NULL, "grant", "list", cid, "--json"), 0);
  assert_non_null(strstr(out, "\"purpose\":\"Find a CV course\\nand an internship\""));
  assert_non_null(strstr(out, "\"close_reason\":\"flyttet til Århus\""));
  /* an absence's reason (sealed; not listed) */
  assert_int_equal(RUN(out, "indlagt\n", "absence", "add", cid, "--from", "2026-01-12", "--to", "2026-01-18", "--kind",
                       "hospitalised", "--reason-file", "-"), 0);
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  cleanup_dirs();
}

/* export writes decrypted text only into a new 0600 file, or to standard
 * output when asked with --output -. */
static void export_output(void **state) {
  (void)state;
  setup_dirs();
  char out[65536], err[8192], path[400], link[400], target[400];
  assert_int_equal(RUN(out, NULL, "init"), 0);
  assert_int_equal(RUN(out, "name: Export Person\n", "case", "open", "--fields", "-"), 0);
  /* refused without --output: nothing decrypted on stdout */
  assert_int_equal(RUN_ERR(out, err, NULL, "export", "--format", "json"), 2);
  assert_null(strstr(out, "Export Person"));
  assert_non_null(strstr(err, "--output FILE"));
  assert_non_null(strstr(err, "--output -"));
  /* into a new file, mode exactly 0600 even under umask 0 */
  snprintf(path, sizeof path, "%s/export.json", base);
  mode_t old = umask(0);
  assert_int_equal(RUN(out, NULL, "export", "--format", "json", "--output", path), 0);
  umask(old);
  assert_int_equal(out[0], 0); /* nothing on stdout */
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(out, 1, sizeof out - 1, f);
  out[n] = 0;
  fclose(f);
  assert_non_null(strstr(out, "\"name\":\"Export Person\""));
  /* never overwrites a file, nor follows a symbolic link */
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", path), 1);
  assert_int_equal(stat(path, &st), 0);
  assert_true(st.st_size > 0 && (size_t)st.st_size == n); /* unchanged */
  snprintf(link, sizeof link, "%s/link.csv", base);
  snprintf(target, sizeof target, "%s/target.csv", base);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", link), 1);
  assert_int_equal(access(target, F_OK), -1);
  /* standard output only when asked */
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", "-"), 0);
  assert_non_null(strstr(out, ",,,,Export Person,,,\r\n"));
  /* a text a spreadsheet would run as a formula is quoted and prefixed with
   * '; JSON escapes what could end an HTML element */
  assert_int_equal(RUN(out, "name: =HYPERLINK(\"http://x\";\"a, b\")\nphone: +45 11\n", "case", "open", "--fields", "-"),
                   0);
  assert_int_equal(RUN(out, "name: </script><b>Ann & Bo</b>\n", "case", "open", "--fields", "-"), 0);
  assert_int_equal(RUN(out, NULL, "export", "--format", "csv", "--output", "-"), 0);
  assert_non_null(strstr(out, ",,,,\"'=HYPERLINK(\"\"http://x\"\";\"\"a, b\"\")\",\"'+45 11\",,\r\n"));
  assert_non_null(strstr(out, ",,,,</script><b>Ann & Bo</b>,,,\r\n"));
  assert_int_equal(RUN(out, NULL, "export", "--format", "json", "--output", "-"), 0);
  assert_non_null(strstr(out, "\"name\":\"=HYPERLINK(\\\"http://x\\\";\\\"a, b\\\")\",\"phone\":\"+45 11\""));
  assert_non_null(strstr(out, "\"name\":\"\\u003c/script\\u003e\\u003cb\\u003eAnn \\u0026 Bo\\u003c/b\\u003e\""));
  assert_null(strchr(out, '<'));
  assert_int_equal(RUN(out, NULL, "case", "list", "--json"), 0);
  assert_non_null(strstr(out, "\"name\":\"\\u003c/script\\u003e"));
  cleanup_dirs();
}

/* A new passphrase (init, passphrase change) must be >= 12 characters or
 * >= 4 words and not a common password (libpwquality); the passphrase file
 * must be the user's alone. */
static void passphrase_rules(void **state) {
  (void)state;
  setup_dirs();
  char out[4096], err[8192], path[400];
  const char *weak[] = {"tr0ub4dor&3\n",  /* 11 characters, one word */
                        "Password123!\n", /* a dictionary word with digits and symbols */
                        "password1234\n", "abcdefghijkl\n" /* systematic */, "iloveyou12345\n", "a b c\n"};
  for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++) {
    set_passfile(weak[i]);
    assert_int_equal(RUN_ERR(out, err, NULL, "init"), 1);
    assert_non_null(strstr(err, "12 characters, or 4 or more words"));
    assert_int_equal(access(prof, F_OK), -1); /* nothing created */
  }
  /* four short words (11 characters) are enough */
  set_passfile("ko og ål på\n");
  assert_int_equal(RUN(out, NULL, "init"), 0);
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  /* a passphrase change is held to the same rule; the old one still opens */
  set_passfile("ko og ål på\nPassword123!\n");
  assert_int_equal(RUN_ERR(out, err, NULL, "passphrase"), 1);
  assert_non_null(strstr(err, "too easy to guess"));
  set_passfile("ko og ål på\n");
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  set_passfile("ko og ål på\nrain over the old harbour\n");
  assert_int_equal(RUN(out, NULL, "passphrase"), 0);
  set_passfile("rain over the old harbour\n");
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  /* the passphrase file: group/other permissions, another kind of file */
  const mode_t loose[] = {0644, 0640, 0604, 0620};
  for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
    assert_int_equal(chmod(passfile, loose[i]), 0);
    assert_int_equal(RUN_ERR(out, err, NULL, "verify"), 1);
    assert_non_null(strstr(err, "chmod 600"));
  }
  assert_int_equal(chmod(passfile, 0400), 0); /* stricter than 0600 is fine */
  assert_int_equal(RUN(out, NULL, "verify"), 0);
  assert_int_equal(chmod(passfile, 0600), 0);
  snprintf(path, sizeof path, "%s/dir", base);
  assert_int_equal(mkdir(path, 0700), 0);
  setenv("MENTORLOG_PASSPHRASE_FILE", path, 1);
  assert_int_equal(RUN_ERR(out, err, NULL, "verify"), 1);
  assert_non_null(strstr(err, "not a regular file"));
  setenv("MENTORLOG_PASSPHRASE_FILE", passfile, 1);
  cleanup_dirs();
}

/* The process cannot dump core. Observed from outside, on the running
 * binary (blocked reading a citizen's name from a pipe, after main's first
 * lines): its core size limit is 0 (/proc/PID/limits), and it is not
 * dumpable: proc(5) says the files in /proc/PID are then owned by root
 * instead of the process's user (this kernel keeps the directory itself
 * with the user: the test looks at /proc/PID/status). The child runs as an unprivileged user (nobody when the
 * test runs as root), so that the owner tells the two apart. */
static void no_core_dumps(void **state) {
  (void)state;
  setup_dirs();
  int pi[2];
  assert_int_equal(pipe(pi), 0);
  uid_t uid = geteuid() == 0 ? 65534 : geteuid();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(pi[0], 0);
    close(pi[1]);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    /* Cores allowed as far as the hard limit goes, so that the limit the
     * binary shows is its own doing. */
    struct rlimit core;
    getrlimit(RLIMIT_CORE, &core);
    core.rlim_cur = core.rlim_max;
    setrlimit(RLIMIT_CORE, &core);
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(126);
    execl(BIN, BIN, "--profile", prof, "case", "open", (char *)NULL);
    _exit(127);
  }
  close(pi[0]);
  /* Wait until it is the mentorlog binary, asleep on the read. */
  char path[64], buf[4096];
  bool waiting = false;
  for (int i = 0; i < 500 && !waiting; i++) {
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    const char *st = strstr(buf, "(mentorlog) ");
    waiting = st && st[12] == 'S';
    if (!waiting)
      usleep(10000);
  }
  assert_true(waiting);
  struct stat sb;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  assert_int_equal(stat(path, &sb), 0);
  print_message("no core dumps: child uid %u, /proc/%d/status owned by uid %u\n", (unsigned)uid, (int)pid,
                (unsigned)sb.st_uid);
  assert_int_equal(sb.st_uid, 0); /* not dumpable */
  snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  bool zero = false;
  while (fgets(buf, sizeof buf, f))
    if (strncmp(buf, "Max core file size", 18) == 0) {
      char soft[32], hard[32];
      assert_int_equal(sscanf(buf + 18, "%31s %31s", soft, hard), 2);
      zero = strcmp(soft, "0") == 0 && strcmp(hard, "0") == 0;
    }
  fclose(f);
  assert_true(zero);
  close(pi[1]); /* an empty name: the command ends with exit 1 */
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 1);
  cleanup_dirs();
}

/* ------------------------------------------------- crash consistency */

/* Open options with passphrase p at the cheapest KDF cost. */
static mentorlog_open_options pass(const char *p) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = p;
  o.passphrase_len = strlen(p);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  return o;
}

static void writer(int fd) {
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("crash test passphrase");
  if (mentorlog_open(&h, prof, &o))
    _exit(2);
  uint8_t c[16], r[16];
  if (mentorlog_case_open(h, c, "Crash Test", NULL))
    _exit(3);
  for (int i = 0;; i++) {
    mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION,
                                  .start_ms = 1767261600000LL + (int64_t)i * 60000, .minutes = 30,
                                  .channel = 5, .outcome = 1, .note = "crash note"};
    if (mentorlog_contact_add(h, r, c, &p))
      _exit(4);
    if (write(fd, r, 16) != 16)
      _exit(5);
  }
}

static void crash_consistency(void **state) {
  (void)state;
  setup_dirs();
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("crash test passphrase");
  assert_int_equal(mentorlog_create(&h, prof, &o), 0);
  mentorlog_close(h);
  size_t cap = 1 << 16, n = 0;
  uint8_t(*ids)[16] = malloc(cap * 16);
  srand((unsigned)time(NULL));
  int rounds = getenv("ML_CRASH_ROUNDS") ? atoi(getenv("ML_CRASH_ROUNDS")) : 200;
  size_t total = 0;
  for (int round = 0; round < rounds; round++) {
    /* A fresh profile every 50 kills: each check re-verifies the whole
     * chain, so a profile that only grows makes the test quadratic. */
    if (round > 0 && round % 50 == 0) {
      char cmd[600];
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", prof);
      assert_int_equal(system(cmd), 0);
      assert_int_equal(mentorlog_create(&h, prof, &o), 0);
      mentorlog_close(h);
      total += n;
      n = 0;
    }
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(pfd[0]);
      writer(pfd[1]);
    }
    close(pfd[1]);
    usleep((useconds_t)(40000 + rand() % 100000));
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    uint8_t id[16];
    while (read(pfd[0], id, 16) == 16) {
      if (n == cap)
        ids = realloc(ids, (cap *= 2) * 16);
      memcpy(ids[n++], id, 16);
    }
    close(pfd[0]);
    assert_int_equal(mentorlog_open(&h, prof, &o), 0);
    assert_int_equal(mentorlog_verify(h), 0); /* integrity_check + chain */
    for (size_t i = 0; i < n; i++) {
      int present = 0;
      assert_int_equal(mentorlog_has_record(h, ids[i], &present), 0);
      assert_int_equal(present, 1);
    }
    mentorlog_close(h);
  }
  total += n;
  print_message("crash consistency: %d kills, %zu acknowledged records all present\n", rounds, total);
  assert_true(n > 0);
  free(ids);
  cleanup_dirs();
}

/* ---------------------------------------------------------- disk full */

static void disk_full(void **state) {
  (void)state;
  setup_dirs();
  char mnt[320];
  snprintf(mnt, sizeof mnt, "%s/small", base);
  assert_int_equal(mkdir(mnt, 0700), 0);
  bool tmpfs = mount("tmpfs", mnt, "tmpfs", 0, "size=512k") == 0;
  snprintf(prof, sizeof prof, "%s/p", mnt);
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("full disk passphrase");
  assert_int_equal(mentorlog_create(&h, prof, &o), 0);
  uint8_t c[16], r[16];
  assert_int_equal(mentorlog_case_open(h, c, "Full Disk", NULL), 0);
  struct rlimit old;
  getrlimit(RLIMIT_FSIZE, &old);
  if (!tmpfs) {
    /* No mount allowed: a file-size limit gives the same ENOSPC-like failure. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {512 * 1024, old.rlim_max};
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  char note[4000];
  memset(note, 'n', sizeof note - 1);
  note[sizeof note - 1] = 0;
  size_t ok = 0;
  int err = 0;
  for (int i = 0; i < 10000 && !err; i++) {
    mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = 1767261600000LL,
                                  .minutes = 30, .channel = 5, .outcome = 1, .note = note};
    err = mentorlog_contact_add(h, r, c, &p);
    if (!err)
      ok++;
  }
  assert_int_equal(err, -10); /* DISK_FULL */
  assert_true(strlen(mentorlog_errmsg(h)) > 0);
  mentorlog_close(h);
  if (!tmpfs)
    setrlimit(RLIMIT_FSIZE, &old);
  /* nothing lost: every acknowledged record is there and the chain verifies */
  assert_int_equal(mentorlog_open(&h, prof, &o), 0);
  assert_int_equal(mentorlog_verify(h), 0);
  uint64_t recs = 0;
  assert_int_equal(mentorlog_counts(h, &recs, NULL), 0);
  assert_int_equal(recs, 2 + ok); /* KEY_GRANT + CASE_OPEN + contacts */
  mentorlog_close(h);
  if (tmpfs)
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
  print_message("disk full after %zu contacts (%s)\n", ok, tmpfs ? "tmpfs" : "RLIMIT_FSIZE");
  cleanup_dirs();
}

/* A profile made with the test-only fast KDF is weaker than Argon2id
 * INTERACTIVE: every open warns, naming the way out; after 'mentorlog
 * passphrase' (default KDF) the warning is gone and the profile opens. */
static void weak_kdf_warning(void **state) {
  (void)state;
  setup_dirs();
  char out[4096], err[4096];
  assert_int_equal(RUN_ERR(out, err, NULL, "init"), 0);
  assert_int_equal(RUN_ERR(out, err, NULL, "case", "list"), 0);
  assert_non_null(strstr(err, "weak Argon2id parameters"));
  assert_non_null(strstr(err, "mentorlog passphrase"));
  unsetenv("MENTORLOG_KDF");
  set_passfile("blue kettle winter harbour\nblue kettle winter harbour\n");
  assert_int_equal(RUN_ERR(out, err, NULL, "passphrase"), 0);
  set_passfile("blue kettle winter harbour\n");
  assert_int_equal(RUN_ERR(out, err, NULL, "case", "list"), 0);
  assert_null(strstr(err, "weak"));
  cleanup_dirs();
}

int main(void) {
  /* ML_TEST_FILTER=name runs one test (cmocka's glob pattern). */
  if (getenv("ML_TEST_FILTER"))
    cmocka_set_test_filter(getenv("ML_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(command_contract),
      cmocka_unit_test(sealed_fields),
      cmocka_unit_test(export_output),
      cmocka_unit_test(passphrase_rules),
      cmocka_unit_test(no_core_dumps),
      cmocka_unit_test(weak_kdf_warning),
      cmocka_unit_test(crash_consistency),
      cmocka_unit_test(disk_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
