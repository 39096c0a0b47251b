/*
 * store_backend.h — how mls_store_open() (store.c) reaches the backends.
 * Only store.c and the backends include this.
 *
 * Each backend's open function gets the part of the URI after its scheme
 * ("sqlite:" → the file name; a PostgreSQL URI is passed whole, since libpq
 * parses it) and options already defaulted (busy_timeout_ms and connections
 * non-zero). *out is NULL on failure.
 */
#ifndef MLS_STORE_BACKEND_H
#define MLS_STORE_BACKEND_H

#include "store.h"

int mls_store_sqlite_open(mls_store **out, const char *path, const mls_store_options *opt);

#ifdef MLS_HAVE_POSTGRESQL
int mls_store_pg_open(mls_store **out, const char *conninfo, const mls_store_options *opt);
#endif

#endif
