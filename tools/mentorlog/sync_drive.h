/* sync_drive.h — the CLI's side of the sync engine (internal to
 * tools/mentorlog): the server's address and pin as the user gives them at
 * `enroll` and as the profile keeps them, the connection they describe
 * (tools/netclient: pinning, keep-alive, TLS resumption, the retry policy of
 * transport.h), and the loop that carries the engine's actions over it
 * (mentorlog/sync.h: step, send, deliver, wait).
 *
 * What the profile keeps (mentorlog_sync_options.server_url/server_pin,
 * read back with mentorlog_sync_status):
 *   server_url  "https://HOST:PORT" (HOST a name, an IPv4 address or an
 *               IPv6 address in brackets);
 *   server_pin  "sha256:HEX" — the SHA-256 of the server's certificate (64
 *               lower-case hex digits, docs/wire-protocol.md §1.1); the TLS
 *               name checked is "mentorlog-server", the name every
 *               self-signed server certificate carries;
 *               "ca:PATH" — trust the CA certificate(s) in the PEM file PATH
 *               (absolute), read again at every sync; the name checked is
 *               the URL's HOST.
 *
 * Every function that can fail prints one line on stderr ("mentorlog: ...")
 * and returns an exit status (cli.h), as the rest of the CLI does. */
#ifndef MENTORLOG_SYNC_DRIVE_H
#define MENTORLOG_SYNC_DRIVE_H

#include "mentorlog/sync.h"
#include "netaddr.h"
#include "netclient.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The URL, the pin and the CA file as the user gives them: netaddr.h
 * (ml_parse_url, ml_parse_pin, ml_ca_read, ML_SERVER_TLS_NAME). */

/* A client for the server at url trusted by pin (both in the forms kept by
 * the profile, above). The CA file of a "ca:" pin is read and parsed here;
 * nothing is sent (the first request connects). Returns 0 with *out, or an
 * exit status (printed; what names the command: "sync") with *out NULL. */
int sync_connect(const char *what, const char *url, const char *pin, ml_netclient **out);

/* Why a request got no answer (an MLPROTO_ERR_* of the transport), in
 * words: "connection refused, reset or closed" for IO, ... Static. */
const char *sync_net_reason(int err);

/* How a run ended. */
struct sync_outcome {
  int error;            /* the engine's MENTORLOG_ERR_* (its FAIL), or 0:
                           DONE; -1 when net_error stopped the run */
  int net_error;        /* a transport error that is never retried (TLS_PIN,
                           TLS_CERT, TLS): the run stopped at it, nothing of
                           that request was delivered; else 0 */
  int last_net_error;   /* the last request's MLPROTO_ERR_* when it got no
                           answer (why the server was unreachable), else 0 */
  int last_status;      /* the HTTP status of the last answer, 0 for none */
  mentorlog_sync_progress progress; /* the engine's counts at the end */
};

/* Runs the engine s until DONE or FAIL (or a transport error that must not
 * be retried) over c. Times given to the engine are the wall clock
 * (CLOCK_REALTIME, Unix ms). With progress, one line on stderr is rewritten
 * after each answer and before each wait, and cleared at the end. Prints
 * nothing else. */
void sync_drive(mentorlog_sync *s, ml_netclient *c, bool progress, struct sync_outcome *out);

#endif
