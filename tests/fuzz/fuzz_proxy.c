/* fuzz_proxy.c — mlproto_proxy_parse on arbitrary bytes: never reads past
 * the input, a whole header's length never exceeds it or the cap, every
 * proper prefix of an accepted header asks for more, and a refusal leaves
 * the output zeroed. ML_FUZZ_MAX_LEN: 1200 */
#include "mlproto/proxy.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlproto_proxy_header h;
  size_t used = 0;
  int rc = mlproto_proxy_parse(&h, &used, data, size);
  if (rc == MLPROTO_OK && used) {
    if (used > size || used > MLPROTO_PROXY_MAX_HEADER) abort();
    if (!h.local && h.family != 4 && h.family != 6) abort();
    for (size_t i = 0; i < used; i++) {
      mlproto_proxy_header p;
      size_t u = 1;
      if (mlproto_proxy_parse(&p, &u, data, i) != MLPROTO_OK || u != 0) abort();
    }
  } else if (rc == MLPROTO_ERR_PROXY_HEADER) {
    mlproto_proxy_header zero;
    memset(&zero, 0, sizeof zero);
    if (used != 0 || memcmp(&h, &zero, sizeof h) != 0) abort();
  } else if (rc != MLPROTO_OK) {
    abort();
  }
  return 0;
}
