/*
 * tls_cert.c — self-signed ECDSA P-256 certificates (mlproto_tls_selfsigned).
 */
#include "mlproto/tls.h"

#include "mlproto/alloc.h"
#include "wire_int.h"

#include <mbedtls/asn1.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int rng(void *ctx, unsigned char *out, size_t len) {
  (void)ctx;
  randombytes_buf(out, len);
  return 0;
}

/* The CN goes into a DN string that mbedTLS parses: refuse the characters
 * that DN syntax gives a meaning to instead of escaping them. */
static int cn_ok(const char *cn) {
  size_t n = strlen(cn);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)cn[i];
    if (c < 0x21 || c > 0x7e || strchr(",=+\"\\<>;", c))
      return 0;
  }
  return 1;
}

/* X.509 wants "YYYYMMDDhhmmss"; mbedTLS accepts years 0000..9999. */
static int validity_string(char out[15], int64_t t) {
  mlproto__utc u;
  mlproto__utc_from_unix(&u, t);
  if (u.year < 1950 || u.year > 9999)
    return MLPROTO_ERR_OUT_OF_RANGE;
  snprintf(out, 15, "%04d%02d%02d%02d%02d%02d", (int)u.year, u.month, u.day, u.hour, u.min,
           u.sec);
  return MLPROTO_OK;
}

static char *dup_pem(const unsigned char *buf) {
  return mlproto_strdup((const char *)buf);
}

void mlproto_tls_pem_free(char *pem) {
  if (!pem)
    return;
  sodium_memzero(pem, strlen(pem));
  mlproto_free(pem);
}

/* A DNS name as RFC 1123 writes it (labels of letters, digits and '-'),
 * optionally with a leading "*." wildcard label. */
static int dns_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 253)
    return 0;
  const char *p = name;
  if (n > 2 && p[0] == '*' && p[1] == '.')
    p += 2;
  size_t label = 0;
  for (; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '.') {
      if (label == 0)
        return 0;
      label = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
      return 0;
    if (++label > 63)
      return 0;
  }
  return label > 0;
}

int mlproto_tls_selfsigned(char **cert_pem, char **key_pem, const char *cn, int64_t not_before,
                           int64_t not_after) {
  const char *dns[1] = {cn};
  return mlproto_tls_selfsigned_san(cert_pem, key_pem, cn, dns, 1, NULL, 0, not_before,
                                    not_after);
}

int mlproto_tls_selfsigned_san(char **cert_pem, char **key_pem, const char *cn,
                               const char *const *dns, size_t n_dns, const mlproto_tls_ip *ips,
                               size_t n_ips, int64_t not_before, int64_t not_after) {
  if (!cert_pem || !key_pem)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *cert_pem = *key_pem = NULL;
  if (!cn || !cn_ok(cn) || not_after <= not_before)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (n_dns + n_ips == 0 || n_dns > MLPROTO_TLS_MAX_SAN || n_ips > MLPROTO_TLS_MAX_SAN ||
      n_dns + n_ips > MLPROTO_TLS_MAX_SAN || (n_dns && !dns) || (n_ips && !ips))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n_dns; i++)
    if (!dns_ok(dns[i]))
      return MLPROTO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < n_ips; i++)
    if (ips[i].len != 4 && ips[i].len != 16)
      return MLPROTO_ERR_INVALID_ARGUMENT;
  char nb[15], na[15];
  if (validity_string(nb, not_before) || validity_string(na, not_after))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = mlproto_tls_global_init();
  if (rc)
    return rc;

  enum { PEM_MAX = 16384 };
  unsigned char *buf = sodium_malloc(PEM_MAX); /* holds the key PEM too */
  if (!buf)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  mbedtls_pk_context key;
  mbedtls_x509write_cert w;
  mbedtls_pk_init(&key);
  mbedtls_x509write_crt_init(&w);
  char dn[80];
  snprintf(dn, sizeof dn, "CN=%s", cn);

  rc = MLPROTO_ERR_TLS;
  if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), rng, NULL) != 0)
    goto done;

  /* a positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 octets) */
  unsigned char serial[16];
  randombytes_buf(serial, sizeof serial);
  serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);

  mbedtls_asn1_sequence eku = {{MBEDTLS_ASN1_OID, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH),
                                (unsigned char *)MBEDTLS_OID_SERVER_AUTH},
                               NULL};
  mbedtls_x509_san_list san[MLPROTO_TLS_MAX_SAN];
  memset(san, 0, sizeof san);
  size_t n_san = 0;
  for (size_t i = 0; i < n_dns; i++, n_san++) {
    san[n_san].node.type = MBEDTLS_X509_SAN_DNS_NAME;
    san[n_san].node.san.unstructured_name.tag =
        MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME;
    san[n_san].node.san.unstructured_name.p = (unsigned char *)dns[i];
    san[n_san].node.san.unstructured_name.len = strlen(dns[i]);
  }
  for (size_t i = 0; i < n_ips; i++, n_san++) {
    san[n_san].node.type = MBEDTLS_X509_SAN_IP_ADDRESS;
    san[n_san].node.san.unstructured_name.tag =
        MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS;
    san[n_san].node.san.unstructured_name.p = (unsigned char *)ips[i].addr;
    san[n_san].node.san.unstructured_name.len = ips[i].len;
  }
  for (size_t i = 0; i + 1 < n_san; i++)
    san[i].next = &san[i + 1];

  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&w, &key);
  mbedtls_x509write_crt_set_issuer_key(&w, &key);
  if (mbedtls_x509write_crt_set_serial_raw(&w, serial, sizeof serial) != 0 ||
      mbedtls_x509write_crt_set_subject_name(&w, dn) != 0 ||
      mbedtls_x509write_crt_set_issuer_name(&w, dn) != 0 ||
      mbedtls_x509write_crt_set_validity(&w, nb, na) != 0 ||
      mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
      mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
      mbedtls_x509write_crt_set_ext_key_usage(&w, &eku) != 0 ||
      mbedtls_x509write_crt_set_subject_alternative_name(&w, san) != 0)
    goto done;

  if (mbedtls_x509write_crt_pem(&w, buf, PEM_MAX, rng, NULL) != 0)
    goto done;
  char *cert = dup_pem(buf);
  if (!cert) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
    goto done;
  }
  if (mbedtls_pk_write_key_pem(&key, buf, PEM_MAX) != 0) {
    mlproto_tls_pem_free(cert);
    goto done;
  }
  char *kp = dup_pem(buf);
  if (!kp) {
    mlproto_tls_pem_free(cert);
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
    goto done;
  }
  *cert_pem = cert;
  *key_pem = kp;
  rc = MLPROTO_OK;
done:
  mbedtls_x509write_crt_free(&w);
  mbedtls_pk_free(&key);
  sodium_free(buf); /* sodium_free wipes */
  return rc;
}
