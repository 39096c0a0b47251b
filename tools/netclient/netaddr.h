/*
 * netaddr.h — how a user names the server and the trust in it on a command
 * line, shared by the command-line tools (mentorlog enroll, mentorlog-audit
 * fetch): the URL "https://HOST[:PORT][/]", a certificate pin, a CA file.
 * Pure parsing but for ml_ca_read, which reads the file; nothing prints.
 */
#ifndef ML_NETADDR_H
#define ML_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/* The name the server's self-signed certificate always carries (its CN and
 * a subjectAltName; sync-server/src/net_serve.c): the TLS name checked when
 * a pin, not a CA, is trusted. */
#define ML_SERVER_TLS_NAME "mentorlog-server"

/* URL as the user typed it ("https://HOST[:PORT][/]", the port 443 when
 * absent; HOST a name, an IPv4 address or an IPv6 address in brackets) into
 * host (cap bytes; an IPv6 address without its brackets) and *port, and its
 * normal form "https://HOST:PORT" into norm (cap_norm bytes; may be NULL).
 * Returns 0, or -1 with why (static text) in *why. */
int ml_parse_url(const char *url, char *host, size_t cap, uint16_t *port, char *norm,
                 size_t cap_norm, const char **why);

/* A pin (64 hex digits, either case, colons allowed as openssl prints them,
 * an optional "sha256:" in front) as "sha256:" + 64 lower-case hex digits
 * into out. Returns 0, or -1 when it is not one. */
int ml_parse_pin(const char *in, char out[7 + 64 + 1]);

/* The whole of the PEM file at path (1..MLPROTO_TLS_MAX_PEM bytes) into a
 * malloc'd buffer *out of *len bytes (free with free()). Returns 0, or
 * MLPROTO_ERR_IO (cannot open or read it: errno says why),
 * MLPROTO_ERR_FIELD_MISSING (empty), MLPROTO_ERR_TOO_LARGE (over the cap),
 * MLPROTO_ERR_OUT_OF_MEMORY; *out is then NULL. */
int ml_ca_read(const char *path, char **out, size_t *len);

#endif
