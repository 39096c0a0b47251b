/* it_netclient.h — the real client transport (tools/netclient) against a
 * harness server: for the integration tests that read answers as a device
 * or an auditor would. */
#ifndef ML_IT_NETCLIENT_H
#define ML_IT_NETCLIENT_H

#include "harness.h"
#include "netclient.h"

#include <stddef.h>

/* A client pinned to s's certificate (asserts on failure). */
ml_netclient *it_client(ih_server *s);

/* The body of GET /v1/log/checkpoint (the signed note with its
 * cosignatures), NUL-terminated, malloc'd; *len its bytes. Asserts 200. */
char *it_get_checkpoint(ih_server *s, size_t *len);

#endif
