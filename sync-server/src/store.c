/* store.c — backend-independent helpers of store.h. */
#include "store.h"

#include "mlproto/crypto.h"

#include <sodium.h>
#include <string.h>

void mls_device_id(uint8_t id[16], const uint8_t pub[32]) { mlproto_device_id(id, pub); }
