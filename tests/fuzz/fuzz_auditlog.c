/* libFuzzer target: the audit log file's framing (mlproto/auditlog.h) on
 * hostile input: the header, then items until the first error.
 * ML_FUZZ_MAX_LEN: 16384
 * Invariants: every code is a documented one; what decodes re-encodes to
 * exactly the bytes it came from (one form only); an item never claims more
 * bytes than it was given. */
#include "mlproto/auditlog.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)   \
  do {             \
    if (!(c))      \
      abort();     \
  } while (0)

static int known(int rc) {
  return rc == MLPROTO_OK || rc == MLPROTO_ERR_AUDIT_FILE_MALFORMED ||
         rc == MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    CHECK(sodium_init() >= 0);
    ready = 1;
  }
  mlproto_auditlog_header h;
  size_t used = 0;
  int rc = mlproto_auditlog_header_decode(&h, data, size, &used);
  CHECK(known(rc));
  if (rc) {
    CHECK(used == 0);
    return 0;
  }
  mlproto_buf b;
  mlproto_buf_init(&b, 1u << 20);
  CHECK(mlproto_auditlog_header_encode(&b, h.vkey, h.size) == MLPROTO_OK);
  CHECK(b.len == used && memcmp(b.data, data, used) == 0);
  size_t off = used;
  for (;;) {
    mlproto_auditlog_item it;
    rc = mlproto_auditlog_item_decode(&it, data + off, size - off, &used);
    CHECK(known(rc));
    if (rc) break;
    CHECK(used <= size - off);
    mlproto_buf_reset(&b);
    if (it.tag == MLPROTO_AUDITLOG_ENTRY)
      rc = mlproto_auditlog_entry_encode(&b, it.index, it.type, it.received_at_ms, it.envelope,
                                         it.envelope_len);
    else
      rc = mlproto_auditlog_checkpoint_encode(&b, it.note, it.note_len);
    CHECK(rc == MLPROTO_OK && b.len == used && memcmp(b.data, data + off, used) == 0);
    off += used;
  }
  mlproto_buf_free(&b);
  return 0;
}
