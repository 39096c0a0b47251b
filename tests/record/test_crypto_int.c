/* test_crypto_int.c — internal crypto of the record path:
 *  - SHA-256 (SHA-NI when the CPU has it) gives libsodium's bytes: known
 *    answers, every length around the block and padding boundaries, random
 *    splits of random inputs, and the forced libsodium fallback;
 *  - the pooled random bytes never repeat, across threads and across fork. */
#include "testutil.h"

#include "../../protocol/src/crypto_int.h"

#include <pthread.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

static void hex32(char out[65], const uint8_t h[32]) { sodium_bin2hex(out, 65, h, 32); }

static void check_known(void) {
  static const struct { const char *in, *hex; } kat[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
  };
  for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
    uint8_t h[32];
    char hx[65];
    mlproto__sha256(h, (const uint8_t *)kat[i].in, strlen(kat[i].in));
    hex32(hx, h);
    assert_string_equal(hx, kat[i].hex);
    /* The same input split in two at every position. */
    size_t n = strlen(kat[i].in);
    for (size_t cut = 0; cut <= n; cut++) {
      mlproto__sha256_2(h, (const uint8_t *)kat[i].in, cut, (const uint8_t *)kat[i].in + cut,
                        n - cut);
      hex32(hx, h);
      assert_string_equal(hx, kat[i].hex);
    }
  }
}

static void compare_with_libsodium(void) {
  enum { MAX = 4096 + 130 };
  static uint8_t buf[MAX];
  randombytes_buf(buf, sizeof buf);
  uint8_t want[32], got[32];
  /* Every length up to 3 blocks + 1 (padding: 55, 56, 63, 64 ...), then a
   * few long ones. */
  for (size_t len = 0; len <= 193; len++) {
    crypto_hash_sha256(want, buf, len);
    mlproto__sha256(got, buf, len);
    assert_memory_equal(got, want, 32);
  }
  for (size_t len = 1000; len <= MAX; len += 997) {
    crypto_hash_sha256(want, buf, len);
    mlproto__sha256(got, buf, len);
    assert_memory_equal(got, want, 32);
  }
  /* 20,000 random inputs split at random points, from random offsets
   * (unaligned loads). */
  for (int i = 0; i < 20000; i++) {
    uint32_t off = randombytes_uniform(64);
    uint32_t len = randombytes_uniform(MAX - 64);
    uint32_t cut = randombytes_uniform(len + 1);
    if (i % 8 == 0) randombytes_buf(buf, sizeof buf);
    crypto_hash_sha256(want, buf + off, len);
    mlproto__sha256_2(got, buf + off, cut, buf + off + cut, len - cut);
    assert_memory_equal(got, want, 32);
  }
}

static void test_accelerated(void **state) {
  (void)state;
  mlproto__sha256_set_accel(1);
  /* Print which path ran, so a log shows whether SHA-NI was covered. */
  printf("# sha256 accelerated: %d\n", mlproto__sha256_accelerated());
  check_known();
  compare_with_libsodium();
}

static void test_fallback(void **state) {
  (void)state;
  mlproto__sha256_set_accel(0);
  assert_int_equal(mlproto__sha256_accelerated(), 0);
  check_known();
  compare_with_libsodium();
  mlproto__sha256_set_accel(1);
}

/* An accelerated CPU must use the accelerated path (cpuid leaf 7, EBX bit
 * 29): a detection bug would otherwise pass silently on the fallback. */
static void test_detection_matches_cpuinfo(void **state) {
  (void)state;
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) skip();
  char line[4096];
  int flags_seen = 0, sha_ni = 0, sse41 = 0, ssse3 = 0;
  while (!flags_seen && fgets(line, sizeof line, f)) {
    if (strncmp(line, "flags", 5) != 0) continue;
    flags_seen = 1;
    sha_ni = strstr(line, " sha_ni") != NULL;
    sse41 = strstr(line, " sse4_1") != NULL;
    ssse3 = strstr(line, " ssse3") != NULL;
  }
  fclose(f);
  if (!flags_seen) skip();
#if defined(__x86_64__)
  mlproto__sha256_set_accel(1);
  assert_int_equal(mlproto__sha256_accelerated(), sha_ni && sse41 && ssse3);
#else
  assert_int_equal(mlproto__sha256_accelerated(), 0);
#endif
}

/* 64 draws of 16 bytes on two threads and in the parent: all distinct. */
enum { DRAWS = 64 };
static uint8_t drawn[3][DRAWS][16];

static void *draw_thread(void *arg) {
  uint8_t (*out)[16] = arg;
  for (int i = 0; i < DRAWS; i++) mlproto__random(out[i], 16);
  return NULL;
}

static void test_random_distinct(void **state) {
  (void)state;
  pthread_t t1, t2;
  assert_int_equal(pthread_create(&t1, NULL, draw_thread, drawn[0]), 0);
  assert_int_equal(pthread_create(&t2, NULL, draw_thread, drawn[1]), 0);
  draw_thread(drawn[2]);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  uint8_t(*all)[16] = (uint8_t(*)[16])drawn;
  for (int i = 0; i < 3 * DRAWS; i++)
    for (int j = i + 1; j < 3 * DRAWS; j++) assert_memory_not_equal(all[i], all[j], 16);
  /* Requests over the pool's limit take the direct path. */
  uint8_t big[2][200];
  mlproto__random(big[0], sizeof big[0]);
  mlproto__random(big[1], sizeof big[1]);
  assert_memory_not_equal(big[0], big[1], sizeof big[0]);
}

/* A forked child must not hand out the bytes its parent's pool still
 * holds: the child's next draw differs from the parent's next draw. */
static void test_random_fork(void **state) {
  (void)state;
  uint8_t warm[16];
  mlproto__random(warm, sizeof warm); /* the pool is now full of unused bytes */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    uint8_t c[32];
    mlproto__random(c, sizeof c);
    _exit(write(fds[1], c, sizeof c) == (ssize_t)sizeof c ? 0 : 1);
  }
  uint8_t mine[32], child[32];
  mlproto__random(mine, sizeof mine);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_int_equal(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
  close(fds[0]);
  close(fds[1]);
  assert_memory_not_equal(mine, child, sizeof mine);
}

/* An application's own randombytes implementation sees every request as
 * it is made (golden vectors depend on it): nothing comes from the pool. */
static unsigned custom_calls;
static size_t custom_last;
static const char *custom_name(void) { return "test-counting"; }
static uint32_t custom_random(void) { return 0x5a5a5a5a; }
static void custom_buf(void *const buf, const size_t size) {
  custom_calls++;
  custom_last = size;
  memset(buf, 0xa5, size);
}

static void test_random_custom_implementation(void **state) {
  (void)state;
  uint8_t warm[16];
  mlproto__random(warm, sizeof warm); /* the pool holds unused bytes */
  static randombytes_implementation impl = {custom_name, custom_random, NULL, NULL, custom_buf,
                                            NULL};
  assert_int_equal(randombytes_set_implementation(&impl), 0);
  uint8_t got[24], want[24];
  memset(want, 0xa5, sizeof want);
  mlproto__random(got, sizeof got);
  assert_int_equal(custom_calls, 1);
  assert_int_equal(custom_last, sizeof got);
  assert_memory_equal(got, want, sizeof got);
  assert_int_equal(randombytes_set_implementation(&randombytes_sysrandom_implementation), 0);
  mlproto__random(got, sizeof got);
  assert_int_equal(custom_calls, 1);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accelerated),
      cmocka_unit_test(test_fallback),
      cmocka_unit_test(test_detection_matches_cpuinfo),
      cmocka_unit_test(test_random_distinct),
      cmocka_unit_test(test_random_fork),
      cmocka_unit_test(test_random_custom_implementation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
