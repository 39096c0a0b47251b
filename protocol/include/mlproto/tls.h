/*
 * mlproto/tls.h — TLS as a memory-only engine (mbedTLS 3.6 underneath).
 *
 * Nothing here opens a socket or reads a clock of ours: the caller feeds the
 * ciphertext it received with mlproto_tls_feed(), drives the engine
 * (mlproto_tls_handshake / _read / _write / _close_notify) and sends whatever
 * mlproto_tls_take_output() hands back. The same engine serves the server's
 * libuv loop, the CLI's blocking client (tools/netclient) and the unit tests,
 * which wire a client and a server together through two byte queues.
 * (mbedTLS itself reads the system time to check certificate validity and to
 * rotate ticket keys; that is the only clock involved.)
 *
 * Policy (DESIGN §8), fixed, not configurable beyond what is below:
 *   - TLS 1.3 preferred; TLS 1.2 allowed, but only with ECDHE + AEAD suites:
 *     ECDHE-ECDSA/ECDHE-RSA with AES-128/256-GCM and CHACHA20-POLY1305.
 *     TLS 1.3 suites: AES-128/256-GCM, CHACHA20-POLY1305.
 *   - key-exchange groups exactly X25519, secp256r1 (in that order);
 *   - renegotiation refused (TLS 1.2; TLS 1.3 has none);
 *   - server: session tickets (AES-256-GCM, key rotated every lifetime,
 *     default 24 h; random keys per configuration, or keys derived from a
 *     shared ticket secret so that every server holding it accepts the
 *     tickets of the others, see ticket_secret below); client: resumption
 *     with a saved session
 *     (mlproto_tls_get_resume / mlproto_tls_set_resume);
 *   - client: certificate verification REQUIRED, hostname always set (SNI and
 *     name check), trust either a pinned CA (PEM) or a pinned SHA-256
 *     fingerprint of the server's leaf certificate, or both (both must hold).
 *     With a pin and no CA, mbedTLS 3.6 refuses VERIFY_REQUIRED (it wants a
 *     CA chain), so that mode runs VERIFY_OPTIONAL with a verify callback
 *     whose fatal return aborts the handshake on a pin, name or date failure,
 *     and any key-usage flag is refused before the handshake reports success:
 *     as strict as REQUIRED, with the pin as the trust anchor;
 *   - TLS 1.3 resumption uses psk_dhe_ke only (forward secrecy kept; costs
 *     an X25519 exchange per resumed handshake).
 *
 * Return convention: MLPROTO_OK (0), MLPROTO_TLS_AGAIN (positive: no progress
 * possible until the caller does something, see each function), or a negative
 * MLPROTO_ERR_* code:
 *   MLPROTO_ERR_TLS_PIN     the server's leaf does not match the pin;
 *   MLPROTO_ERR_TLS_CERT    the chain, name or validity dates do not verify;
 *   MLPROTO_ERR_TLS_CLOSED  the peer closed cleanly (close_notify);
 *   MLPROTO_ERR_TLS         any other protocol failure (alert, bad record,
 *                           no common suite/version, renegotiation attempt);
 *   MLPROTO_ERR_TOO_LARGE   more ciphertext fed than the inbound cap allows;
 *   MLPROTO_ERR_OUT_OF_MEMORY, MLPROTO_ERR_INVALID_ARGUMENT.
 * A negative code from a session is sticky: the session is dead (see
 * mlproto_tls_error()); take_output() may still hold an alert worth sending.
 * Error codes and messages never contain key material or peer data.
 *
 * Threads: mlproto_tls_global_init() is thread-safe and idempotent (called
 * implicitly by every constructor). A config is immutable after creation and
 * may be shared by sessions on any number of threads; free it only after all
 * its sessions. A session is single-threaded: one thread at a time.
 *
 * Memory: every allocation of ours goes through mlproto/alloc.h. mbedTLS
 * allocates its own (two 16.6 KiB record buffers, transform, session):
 * an established idle server session measured 44 KB (TLS 1.3) / 37 KB
 * (TLS 1.2) of heap in all. The session keeps inbound ciphertext only up to its cap and frees
 * the buffer whenever it is empty; outbound ciphertext belongs to the caller
 * once taken.
 */
#ifndef MLPROTO_TLS_H
#define MLPROTO_TLS_H

#include "mlproto/common.h"
#include "mlproto/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Positive status: "nothing more can happen now" (see each function). */
#define MLPROTO_TLS_AGAIN 1

/* Protocol versions for the options below. */
#define MLPROTO_TLS_V12 0x0303
#define MLPROTO_TLS_V13 0x0304

/* SHA-256 fingerprint as text: 64 lower-case hex digits + NUL. */
#define MLPROTO_TLS_FINGERPRINT_HEX_LEN 65

/* Defaults of the size caps. The inbound cap must hold at least one full
 * TLS record (16 KiB + 2 KiB of header/expansion): smaller values are raised
 * to MLPROTO_TLS_MIN_INBOUND. */
#define MLPROTO_TLS_DEFAULT_MAX_INBOUND (40u * 1024u)
#define MLPROTO_TLS_MIN_INBOUND (18u * 1024u + 512u)
#define MLPROTO_TLS_DEFAULT_MAX_OUTBOUND (256u * 1024u)
#define MLPROTO_TLS_DEFAULT_TICKET_LIFETIME_S 86400u
/* Caps on configuration inputs. */
#define MLPROTO_TLS_MAX_PEM (256u * 1024u)
#define MLPROTO_TLS_MAX_HOSTNAME 253u
#define MLPROTO_TLS_MAX_RESUME (16u * 1024u)

/* --------------------------------------------------------------- init ---- */

/* psa_crypto_init() and sodium_init(), once per process. Thread-safe and
 * idempotent; every constructor below calls it, so calling it is optional.
 * MLPROTO_ERR_TLS when the crypto library cannot initialise. */
MLPROTO_EXTERN int mlproto_tls_global_init(void);

/* ------------------------------------------------------------- config ---- */

typedef struct mlproto_tls_config mlproto_tls_config;

/* 2 added mlproto_tls_server_options.ticket_secret; 1 is still accepted
 * (both option structs; a version-1 server has random ticket keys). */
#define MLPROTO_TLS_OPTIONS_VERSION 2
#define MLPROTO_TLS_TICKET_SECRET_LEN 32

typedef struct mlproto_tls_server_options {
  unsigned version;       /* MLPROTO_TLS_OPTIONS_VERSION */
  const char *cert_pem;   /* certificate chain, leaf first (PEM) */
  size_t cert_pem_len;    /* bytes, without or with a trailing NUL */
  const char *key_pem;    /* the leaf's private key (PEM, unencrypted) */
  size_t key_pem_len;
  unsigned min_version;   /* 0 or MLPROTO_TLS_V12: 1.2 and 1.3;
                             MLPROTO_TLS_V13: 1.3 only */
  uint32_t ticket_lifetime_s; /* 0: MLPROTO_TLS_DEFAULT_TICKET_LIFETIME_S */
  int no_tickets;         /* 1: issue no session tickets */
  size_t max_inbound;     /* 0: MLPROTO_TLS_DEFAULT_MAX_INBOUND */
  size_t max_outbound;    /* 0: MLPROTO_TLS_DEFAULT_MAX_OUTBOUND */
  /* Version 2. NULL: the ticket keys are random, this configuration's own
   * (a ticket resumes only here). Else MLPROTO_TLS_TICKET_SECRET_LEN secret
   * bytes (copied; wiped at free) from which the ticket keys derive: time
   * is cut into epochs of ticket_lifetime_s seconds (the system clock,
   * epoch e = unix time / lifetime), the key of epoch e and its 4-byte name
   * are BLAKE2b-512 keyed with the secret over "mentorlog/tls-ticket/v1"
   * 0x00 || u64be(e) (name: bytes 0..4, key: bytes 32..64), and a server
   * seals new tickets under the current epoch's key and opens those of the
   * current and the previous epoch. It seals them itself (not mbedTLS's
   * ticket module): name || 24-byte nonce || XChaCha20-Poly1305 (AD: the
   * name) of u64be(creation, Unix ms) || the mbedTLS session, so that a
   * ticket's age is wall-clock time, the same on every machine (mbedTLS
   * keeps it on CLOCK_BOOTTIME, which differs from machine to machine). Servers that share the secret (several
   * instances behind a load balancer) so resume each other's sessions; a
   * ticket is accepted for at most ticket_lifetime_s after its session
   * began, and at an epoch boundary clocks a few seconds apart cost some
   * full handshakes, nothing else. The secret is as sensitive as the
   * certificate's key: whoever holds it can open captured tickets and
   * answer a resumption as the server (recorded traffic stays protected:
   * a TLS 1.3 resumption always runs a fresh X25519 exchange, psk_dhe_ke,
   * and a TLS 1.2 session gets no ticket under a shared secret, since its
   * ticket would carry the master secret). */
  const uint8_t *ticket_secret;
} mlproto_tls_server_options;
#define MLPROTO_TLS_SERVER_OPTIONS_INIT {MLPROTO_TLS_OPTIONS_VERSION, NULL, 0, NULL, 0, 0, 0, 0, 0, 0, NULL}

typedef struct mlproto_tls_client_options {
  unsigned version;       /* MLPROTO_TLS_OPTIONS_VERSION */
  const char *hostname;   /* required: sent as SNI and checked against the
                             certificate's subjectAltName/CN */
  const char *ca_pem;     /* optional: trusted CA certificate(s), PEM */
  size_t ca_pem_len;
  const char *pin_sha256; /* optional: SHA-256 of the server's leaf
                             certificate (DER), 64 hex digits, either case,
                             colons allowed ("AB:CD:..." as openssl prints) */
  unsigned max_version;   /* 0 or MLPROTO_TLS_V13: offer 1.3 and 1.2;
                             MLPROTO_TLS_V12: TLS 1.2 only */
  size_t max_inbound;     /* 0: MLPROTO_TLS_DEFAULT_MAX_INBOUND */
  size_t max_outbound;    /* 0: MLPROTO_TLS_DEFAULT_MAX_OUTBOUND */
} mlproto_tls_client_options;
#define MLPROTO_TLS_CLIENT_OPTIONS_INIT {MLPROTO_TLS_OPTIONS_VERSION, NULL, NULL, 0, NULL, 0, 0, 0}

/* Server configuration. *out is NULL on failure, and nothing leaks.
 * Errors: INVALID_ARGUMENT (missing field, unknown version, PEM over
 * MLPROTO_TLS_MAX_PEM), TLS_CERT (certificate or key does not parse, or the
 * key does not match the leaf), OUT_OF_MEMORY, TLS. The PEM buffers are
 * copied; the caller may wipe them afterwards (the key copy is wiped here). */
MLPROTO_EXTERN int mlproto_tls_config_server(mlproto_tls_config **out,
                                             const mlproto_tls_server_options *opts)
    MLPROTO_WARN_UNUSED;

/* Client configuration. At least one of ca_pem and pin_sha256 is required.
 * Errors: INVALID_ARGUMENT (no hostname / no trust anchor / bad pin text),
 * TLS_CERT (CA PEM does not parse), OUT_OF_MEMORY, TLS. */
MLPROTO_EXTERN int mlproto_tls_config_client(mlproto_tls_config **out,
                                             const mlproto_tls_client_options *opts)
    MLPROTO_WARN_UNUSED;

/* Frees a config (NULL: no-op). All sessions made from it must be freed
 * first. Key material is wiped. */
MLPROTO_EXTERN void mlproto_tls_config_free(mlproto_tls_config *cfg);

/* ------------------------------------------------------------ session ---- */

typedef struct mlproto_tls mlproto_tls;

/* A session (one connection) of cfg's role. cfg must outlive it.
 * *out NULL on failure: OUT_OF_MEMORY, TLS. */
MLPROTO_EXTERN int mlproto_tls_new(mlproto_tls **out, const mlproto_tls_config *cfg)
    MLPROTO_WARN_UNUSED;
/* Frees the session (NULL: no-op); wipes buffered plaintext state. Does not
 * send close_notify: call mlproto_tls_close_notify() first for a clean end. */
MLPROTO_EXTERN void mlproto_tls_free(mlproto_tls *t);

/* How many more ciphertext bytes mlproto_tls_feed() accepts now
 * (inbound cap minus what is buffered). A loop sizes its read buffer with it. */
MLPROTO_EXTERN size_t mlproto_tls_inbound_space(const mlproto_tls *t);
/* Appends received ciphertext (copied). All or nothing: TOO_LARGE when len
 * exceeds mlproto_tls_inbound_space() (the peer floods: close the connection).
 * Feeding never runs the protocol; call handshake/read afterwards. */
MLPROTO_EXTERN int mlproto_tls_feed(mlproto_tls *t, const void *data, size_t len)
    MLPROTO_WARN_UNUSED;

/* Drives the handshake as far as the fed bytes allow. MLPROTO_OK when it is
 * complete (also on later calls); MLPROTO_TLS_AGAIN when it needs more input
 * (send the output first); negative on failure (sticky). */
MLPROTO_EXTERN int mlproto_tls_handshake(mlproto_tls *t) MLPROTO_WARN_UNUSED;

/* Reads decrypted application data into buf (runs the handshake first if it
 * is not complete). MLPROTO_OK with 1 <= *nread <= cap; MLPROTO_TLS_AGAIN
 * with *nread = 0 when no whole record is buffered (feed more); TLS_CLOSED
 * once the peer sent close_notify; other negatives on failure. Call it until
 * AGAIN: a record may hold more than cap bytes. Post-handshake messages
 * (TLS 1.3 NewSessionTicket) are absorbed here: the client keeps the newest
 * ticket for mlproto_tls_get_resume(). */
MLPROTO_EXTERN int mlproto_tls_read(mlproto_tls *t, void *buf, size_t cap, size_t *nread)
    MLPROTO_WARN_UNUSED;

/* Encrypts application data into the output (runs the handshake first if it
 * is not complete). MLPROTO_OK when all len bytes were taken (*nwritten =
 * len); MLPROTO_TLS_AGAIN when the output holds max_outbound bytes or the
 * handshake waits for input: *nwritten (maybe 0) says how much was taken;
 * take and send the output (or feed input), then call again with the REST
 * (buf + *nwritten). A record mbedTLS had started is completed internally
 * with the same length, so the rest must be the same bytes. */
MLPROTO_EXTERN int mlproto_tls_write(mlproto_tls *t, const void *buf, size_t len,
                                     size_t *nwritten) MLPROTO_WARN_UNUSED;

/* Queues a close_notify alert (idempotent). MLPROTO_OK or a negative code.
 * The caller takes the output, sends it, then frees the session. */
MLPROTO_EXTERN int mlproto_tls_close_notify(mlproto_tls *t);

/* Bytes of ciphertext waiting to be sent. */
MLPROTO_EXTERN size_t mlproto_tls_output_pending(const mlproto_tls *t);
/* Hands ownership of all pending ciphertext to the caller: *data (free with
 * mlproto_tls_output_free) and *len; *data NULL and *len 0 when none.
 * Never fails (the buffer is moved, not copied). */
MLPROTO_EXTERN void mlproto_tls_take_output(mlproto_tls *t, uint8_t **data, size_t *len);
MLPROTO_EXTERN void mlproto_tls_output_free(uint8_t *data);

/* ------------------------------------------------------------- queries ---- */

/* 1 when the handshake completed. */
MLPROTO_EXTERN int mlproto_tls_handshake_done(const mlproto_tls *t);
/* 1 when the last handshake/read/write stopped for lack of input. */
MLPROTO_EXTERN int mlproto_tls_want_read(const mlproto_tls *t);
/* 1 when close_notify was received or sent, or the session failed. */
MLPROTO_EXTERN int mlproto_tls_is_closed(const mlproto_tls *t);
/* The sticky error (negative), MLPROTO_ERR_TLS_CLOSED after a clean close by
 * the peer, or MLPROTO_OK. */
MLPROTO_EXTERN int mlproto_tls_error(const mlproto_tls *t);
/* 1 when the completed handshake resumed an earlier session (ticket):
 * client: mbedTLS ran the handshake without a server Certificate message;
 * server: mbedTLS accepted a ticket we issued. 0 otherwise. */
MLPROTO_EXTERN int mlproto_tls_resumed(const mlproto_tls *t);
/* Negotiated version (MLPROTO_TLS_V12/V13) or 0 before the handshake. */
MLPROTO_EXTERN unsigned mlproto_tls_version(const mlproto_tls *t);
/* IANA-ish suite name from mbedTLS ("TLS1-3-AES-128-GCM-SHA256"), static,
 * or "" before the handshake. */
MLPROTO_EXTERN const char *mlproto_tls_ciphersuite(const mlproto_tls *t);
/* SHA-256 of the peer's leaf certificate (DER), MLPROTO_TLS_FINGERPRINT_HEX_LEN
 * bytes of lower-case hex. NOT_FOUND when the peer sent none (a server's
 * view of a client; a resumed client session may also lack it). */
MLPROTO_EXTERN int mlproto_tls_peer_fingerprint(const mlproto_tls *t,
                                                char out[MLPROTO_TLS_FINGERPRINT_HEX_LEN]);

/* --------------------------------------------------------- resumption ---- */

/* Client: exports the newest resumable session (with TLS 1.3 it arrives
 * after the handshake, absorbed by mlproto_tls_read; with TLS 1.2 during it)
 * as an opaque blob for mlproto_tls_set_resume() on a later session of the
 * same config. The blob holds a resumption secret: keep it in memory only,
 * free it with mlproto_tls_resume_free() (which wipes it). A TLS 1.3 ticket
 * is handed out once. NOT_FOUND when there is none (yet), INVALID_ARGUMENT
 * on a server session, OUT_OF_MEMORY, TLS. */
MLPROTO_EXTERN int mlproto_tls_get_resume(mlproto_tls *t, uint8_t **blob, size_t *len)
    MLPROTO_WARN_UNUSED;
/* Client, before the first handshake call: offer the saved session. A blob
 * that does not load (corrupt, other version) gives INVALID_ARGUMENT and the
 * session stays usable for a full handshake. The blob is not retained. */
MLPROTO_EXTERN int mlproto_tls_set_resume(mlproto_tls *t, const uint8_t *blob, size_t len)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_tls_resume_free(uint8_t *blob, size_t len);

/* ------------------------------------------------------- certificates ---- */

/* A self-signed ECDSA P-256 certificate for cn (also its subjectAltName
 * dNSName), valid from not_before to not_after (Unix seconds, UTC; the
 * caller passes its clock), as PEM strings. *cert_pem and *key_pem are
 * NUL-terminated; free both with mlproto_tls_pem_free (wipes). The key PEM
 * is a secret: never log it. cn: 1..64 printable characters without ',' '='
 * '+' '"' '\\' '<' '>' ';'. Errors: INVALID_ARGUMENT, OUT_OF_MEMORY, TLS. */
MLPROTO_EXTERN int mlproto_tls_selfsigned(char **cert_pem, char **key_pem, const char *cn,
                                          int64_t not_before, int64_t not_after)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_tls_pem_free(char *pem);

/* An IP address for a certificate's subjectAltName: 4 (IPv4) or 16 (IPv6)
 * bytes in network order. */
typedef struct mlproto_tls_ip {
  uint8_t addr[16];
  size_t len;
} mlproto_tls_ip;

#define MLPROTO_TLS_MAX_SAN 32 /* dNSNames + iPAddresses together */

/* As mlproto_tls_selfsigned, with a subjectAltName of every name in
 * dns[0..n_dns) (dNSName; each 1..253 characters of [A-Za-z0-9.-], or a
 * leading "*." wildcard label) and every address in ips[0..n_ips)
 * (iPAddress); cn is the subject's CN (it is not added to the SAN unless it
 * is also in dns). At least one name or address; at most MLPROTO_TLS_MAX_SAN
 * in all. TLS clients match hostnames against the SAN, not the CN (RFC 6125),
 * so list every name and address clients use. Errors: INVALID_ARGUMENT (also
 * for a bad name or address length), OUT_OF_MEMORY, TLS. */
MLPROTO_EXTERN int mlproto_tls_selfsigned_san(char **cert_pem, char **key_pem, const char *cn,
                                              const char *const *dns, size_t n_dns,
                                              const mlproto_tls_ip *ips, size_t n_ips,
                                              int64_t not_before, int64_t not_after)
    MLPROTO_WARN_UNUSED;

/* SHA-256 fingerprint of the first certificate in pem (PEM or DER), over its
 * DER encoding: the digits of `openssl x509 -noout -fingerprint -sha256`,
 * lower case, without colons (64 hex digits + NUL). Errors: INVALID_ARGUMENT
 * (empty or larger than MLPROTO_TLS_MAX_PEM), TLS_CERT (does not parse). */
MLPROTO_EXTERN int mlproto_tls_cert_fingerprint(char out[MLPROTO_TLS_FINGERPRINT_HEX_LEN],
                                                const char *pem, size_t pem_len)
    MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
