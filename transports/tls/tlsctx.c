/* mbedTLS configuration and the per-connection TLS byte layer. */
#include "tls/tlsctx.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/cipher.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include <nanomsg/tls.h>

#include "core/ep.h"
#include "tls/tlsopts.h"
#include "tls/tlssession.h"
#include "utils/listener.h"

#define SP_TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt" /* Debian's ca-certificates */
#define SP_TLS_SYSTEM_DIR "/etc/ssl/certs"
#define SP_TLS_STAGE 16384 /* one TLS record of plaintext */

struct sp_tlsctx {
    atomic_int refs;
    bool server;
    mbedtls_ssl_config conf;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    pthread_mutex_t rng_lock; /* handshakes and records may draw at once */
    mbedtls_x509_crt ca;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    char *server_name;
    mbedtls_ssl_ticket_context ticket;            /* server: its session tickets' keys */
    uint8_t session_key[SP_TLS_SESSION_KEY]; /* client: its sessions in the cache */
};

/* ---- the key-exchange curves ----

   mbedTLS 2.x lists its curves largest first, and a server takes the first
   of its own list that the client offers: two mbedTLS peers left to their
   defaults do every ECDHE on secp521r1, whose arithmetic costs about ten
   times that of x25519 and makes the handshake, not the network, the limit
   on how fast connections come up. Offer and prefer x25519 and secp256r1
   (as OpenSSL, browsers and TLS 1.3 do), then every other curve mbedTLS
   has in its own order, so that a peer, or a certificate, limited to one
   of them still works. Built once; mbedtls_ssl_conf_curves keeps the
   pointer. */

static mbedtls_ecp_group_id curve_order[32]; /* more than mbedTLS has curves */
static pthread_once_t curve_order_once = PTHREAD_ONCE_INIT;

static void curve_order_make(void)
{
    static const mbedtls_ecp_group_id fast[] = {MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1};
    const mbedtls_ecp_group_id *all = mbedtls_ecp_grp_id_list();
    size_t n = 0;
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
        for (const mbedtls_ecp_group_id *g = all; *g != MBEDTLS_ECP_DP_NONE; g++)
            if (*g == fast[i])
                curve_order[n++] = *g;
    for (const mbedtls_ecp_group_id *g = all; *g != MBEDTLS_ECP_DP_NONE && n + 1 < sizeof curve_order / sizeof curve_order[0]; g++) {
        bool seen = false;
        for (size_t i = 0; i < n; i++)
            seen = seen || curve_order[i] == *g;
        if (!seen)
            curve_order[n++] = *g;
    }
    curve_order[n] = MBEDTLS_ECP_DP_NONE;
}

static int locked_rng(void *p, unsigned char *out, size_t len)
{
    struct sp_tlsctx *c = p;
    pthread_mutex_lock(&c->rng_lock);
    int rc = mbedtls_ctr_drbg_random(&c->drbg, out, len);
    pthread_mutex_unlock(&c->rng_lock);
    return rc;
}

static int load_crt(mbedtls_x509_crt *chain, const char *pem, const char *file)
{
    errno = 0; /* see tls_errno */
    if (pem)
        return mbedtls_x509_crt_parse(chain, (const unsigned char *) pem, strlen(pem) + 1);
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
        return mbedtls_x509_crt_parse_path(chain, file) < 0 ? -1 : 0;
    return mbedtls_x509_crt_parse_file(chain, file);
}

/* ---- the environment (nn_env(7)) ----

   Programs built for libnanomsg cannot set NN_TLS options. For them the
   TLS material comes from the environment, the way OpenSSL-based programs
   take theirs, read here, that is once per endpoint at nn_bind/nn_connect,
   and only for what the program did not set with nn_setsockopt. */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* What a failed mbedTLS call means for nn_bind/nn_connect: ENOMEM when it
   ran out of memory (its own allocations, or reading a file: fopen
   allocates), else EINVAL (the material cannot be used). Its error codes
   add a high-level module's code (bits 7-15) to a low-level one (0-6); but
   parsing a key reports a failed allocation as an invalid key, so a failed
   allocation is also recognised by malloc's errno, which the caller clears
   before each call. */
static int tls_errno(int mbed_rc)
{
    if (mbed_rc >= 0)
        return -EINVAL;
    if (errno == ENOMEM)
        return -ENOMEM;
    int high = -mbed_rc & 0xFF80, low = -mbed_rc & 0x7F;
    switch (high) {
    case -MBEDTLS_ERR_SSL_ALLOC_FAILED:
    case -MBEDTLS_ERR_PEM_ALLOC_FAILED:
    case -MBEDTLS_ERR_ECP_ALLOC_FAILED:
    case -MBEDTLS_ERR_PK_ALLOC_FAILED:
    case -MBEDTLS_ERR_X509_ALLOC_FAILED:
    case -MBEDTLS_ERR_CIPHER_ALLOC_FAILED:
    case -MBEDTLS_ERR_MD_ALLOC_FAILED:
        return -ENOMEM;
    }
    if (low == -MBEDTLS_ERR_MPI_ALLOC_FAILED || low == -MBEDTLS_ERR_ASN1_ALLOC_FAILED)
        return -ENOMEM;
    return -EINVAL;
}

/* Says why an endpoint's TLS configuration failed (under NN_PRINT_ERRORS),
   with mbedTLS's reason when mbed_rc is one of its errors; returns the
   -errno nn_bind/nn_connect fails with. */
static int config_error(struct sp_ep *ep, int mbed_rc, const char *fmt, ...)
{
    char msg[512], mbed[160] = "";
    int err = tls_errno(mbed_rc);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (mbed_rc < 0 && n >= 0 && (size_t) n < sizeof msg) {
        mbedtls_strerror(mbed_rc, mbed, sizeof mbed);
        snprintf(msg + n, sizeof msg - (size_t) n, " (%s)", mbed);
    }
    sp_ep_report(ep, -err, msg);
    return err;
}

/* A CA bundle named by the environment: as OpenSSL does, certificates that
   mbedTLS cannot parse are skipped (a positive count), as long as one was
   read; a bundle such as the system's must not fail every connection for
   one exotic root. */
static int load_ca_bundle(mbedtls_x509_crt *ca, const char *file)
{
    int rc = load_crt(ca, NULL, file);
    return rc > 0 ? 0 : rc;
}

/* The trusted CAs when the program set none: $NN_TLS_CA_FILE, else
   $SSL_CERT_FILE and the directories of $SSL_CERT_DIR, else the system's. */
static int load_default_ca(struct sp_ep *ep, mbedtls_x509_crt *ca)
{
    const char *file = env("NN_TLS_CA_FILE");
    if (file) {
        int rc = load_ca_bundle(ca, file);
        if (rc != 0)
            config_error(ep, rc, "TLS: cannot load the CA certificates in NN_TLS_CA_FILE=%s", file);
        return rc;
    }
    file = env("SSL_CERT_FILE");
    const char *dirs = env("SSL_CERT_DIR");
    if (!file && !dirs) {
        int rc = load_crt(ca, NULL, SP_TLS_SYSTEM_CA);
        if (rc < 0 && tls_errno(rc) != -ENOMEM)
            rc = mbedtls_x509_crt_parse_path(ca, SP_TLS_SYSTEM_DIR); /* best effort: no CA, no peer */
        /* Out of memory is no reason to trust nobody for good: the
           nn_connect fails instead. */
        return rc < 0 && tls_errno(rc) == -ENOMEM ? rc : 0;
    }
    if (file) {
        int rc = load_ca_bundle(ca, file);
        if (rc != 0) {
            config_error(ep, rc, "TLS: cannot load the CA certificates in SSL_CERT_FILE=%s", file);
            return rc;
        }
    }
    /* A list of directories, separated by ':' as OpenSSL's. */
    for (const char *d = dirs; d && *d;) {
        size_t len = strcspn(d, ":");
        char dir[4096];
        if (len > 0 && len < sizeof dir) {
            memcpy(dir, d, len);
            dir[len] = 0;
            int rc = mbedtls_x509_crt_parse_path(ca, dir);
            if (rc < 0) {
                config_error(ep, rc, "TLS: cannot read the CA directory %s of SSL_CERT_DIR", dir);
                return rc;
            }
        }
        d += len + (d[len] == ':');
    }
    return 0;
}

static int env_verify(struct sp_ep *ep, int *verify)
{
    const char *v = env("NN_TLS_VERIFY");
    if (!v)
        return 0;
    if (strcmp(v, "none") == 0)
        *verify = NN_TLS_VERIFY_NONE;
    else if (strcmp(v, "optional") == 0)
        *verify = NN_TLS_VERIFY_OPTIONAL;
    else if (strcmp(v, "required") == 0)
        *verify = NN_TLS_VERIFY_REQUIRED;
    else {
        config_error(ep, 0, "TLS: NN_TLS_VERIFY must be none, optional or required, not %s", v);
        return -1;
    }
    return 0;
}

struct sp_tlsctx *sp_tlsctx_new(struct sp_ep *ep, bool server, const char *host, int *err)
{
    const struct sp_tlsopts *o = sp_ep_opts(ep, &sp_tls_optset);
    struct sp_tlsctx *c = calloc(1, sizeof *c);
    if (!c) {
        *err = -ENOMEM;
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->server = server;
    pthread_mutex_init(&c->rng_lock, NULL);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_x509_crt_init(&c->cert);
    mbedtls_pk_init(&c->key);
    mbedtls_ssl_ticket_init(&c->ticket);
    *err = -EINVAL;
    static const char pers[] = "nanosp";
    errno = 0;
    int rc = mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, (const unsigned char *) pers,
                                   sizeof pers - 1);
    if (rc == 0)
        rc = mbedtls_ssl_config_defaults(&c->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        *err = tls_errno(rc);
        goto fail;
    }
    mbedtls_ssl_conf_rng(&c->conf, locked_rng, c);
    mbedtls_ssl_conf_min_version(&c->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    pthread_once(&curve_order_once, curve_order_make);
    mbedtls_ssl_conf_curves(&c->conf, curve_order);

    int verify = o->verify;
    if (verify < 0 && env_verify(ep, &verify) != 0)
        goto fail;
    if (verify < 0)
        verify = server ? NN_TLS_VERIFY_NONE : NN_TLS_VERIFY_REQUIRED;
    mbedtls_ssl_conf_authmode(&c->conf, verify == NN_TLS_VERIFY_NONE       ? MBEDTLS_SSL_VERIFY_NONE
                                        : verify == NN_TLS_VERIFY_OPTIONAL ? MBEDTLS_SSL_VERIFY_OPTIONAL
                                                                           : MBEDTLS_SSL_VERIFY_REQUIRED);
    const char *ca_pem = o->str[SP_TLS_CA_PEM], *ca_file = o->str[SP_TLS_CA_FILE];
    if (ca_pem || ca_file) {
        if ((rc = load_crt(&c->ca, ca_pem, ca_file)) != 0) {
            *err = config_error(ep, rc, "TLS: cannot load the CA certificates of option %s%s",
                                ca_pem ? "NN_TLS_CA_PEM" : "NN_TLS_CA_FILE ", ca_pem ? "" : ca_file);
            goto fail;
        }
    } else if (verify != NN_TLS_VERIFY_NONE && (rc = load_default_ca(ep, &c->ca)) != 0) {
        *err = tls_errno(rc);
        goto fail;
    }
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);

    const char *cert_pem = o->str[SP_TLS_CERT_PEM], *cert_file = o->str[SP_TLS_CERT_FILE];
    const char *key_pem = o->str[SP_TLS_KEY_PEM], *key_file = o->str[SP_TLS_KEY_FILE];
    const char *pass = o->str[SP_TLS_KEY_PASSWORD];
    /* Where they came from, for the error messages. */
    const char *cert_src = cert_pem ? "option NN_TLS_CERT_PEM" : "option NN_TLS_CERT_FILE ";
    const char *key_src = key_pem ? "option NN_TLS_KEY_PEM" : "option NN_TLS_KEY_FILE ";
    if (!cert_pem && !cert_file && (cert_file = env("NN_TLS_CERT_FILE")) != NULL) {
        /* The key may be in the certificate's file, as nngcat allows. */
        key_pem = NULL;
        key_file = env("NN_TLS_KEY_FILE");
        key_src = key_file ? "NN_TLS_KEY_FILE=" : "NN_TLS_CERT_FILE=";
        key_file = key_file ? key_file : cert_file;
        cert_src = "NN_TLS_CERT_FILE=";
    }
    if (cert_pem || cert_file) {
        if ((rc = load_crt(&c->cert, cert_pem, cert_file)) != 0) {
            *err = config_error(ep, rc, "TLS: cannot load the certificate of %s%s", cert_src,
                                cert_pem ? "" : cert_file);
            goto fail;
        }
        if (!key_pem && !key_file) {
            config_error(ep, 0, "TLS: the certificate has no private key (NN_TLS_KEY_FILE)");
            goto fail;
        }
        errno = 0; /* see tls_errno */
        rc = key_pem ? mbedtls_pk_parse_key(&c->key, (const unsigned char *) key_pem, strlen(key_pem) + 1,
                                            (const unsigned char *) pass, pass ? strlen(pass) : 0)
                     : mbedtls_pk_parse_keyfile(&c->key, key_file, pass);
        if (rc != 0) {
            *err = config_error(ep, rc, "TLS: cannot load the private key of %s%s", key_src,
                                key_pem ? "" : key_file);
            goto fail;
        }
        errno = 0;
        if ((rc = mbedtls_pk_check_pair(&c->cert.pk, &c->key)) != 0) {
            *err = config_error(ep, rc, "TLS: the private key of %s%s does not belong to the certificate",
                                key_src, key_pem ? "" : key_file);
            goto fail;
        }
        errno = 0;
        if ((rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->cert, &c->key)) != 0) {
            *err = tls_errno(rc);
            goto fail;
        }
    } else if (server) {
        config_error(ep, 0, "TLS: a server needs a certificate and its key (NN_TLS_CERT_FILE, NN_TLS_KEY_FILE)");
        goto fail;
    }
    if (!server) {
        const char *name = o->str[SP_TLS_SERVER_NAME] ? o->str[SP_TLS_SERVER_NAME]
                           : env("NN_TLS_SERVER_NAME")  ? env("NN_TLS_SERVER_NAME")
                                                        : host;
        if (name && !(c->server_name = strdup(name))) {
            *err = -ENOMEM;
            goto fail;
        }
        sp_tls_session_key(c->session_key, ep->addr, c->server_name, verify, &c->ca, &c->cert);
    } else {
        /* Session tickets (RFC 5077): a client that connects again resumes
           its session, with no key exchange and no certificate to check:
           the handshakes of a reconnecting crowd cost a small part of full
           ones. The ticket is the session, encrypted under a key only this
           endpoint has (made now, rotated every SP_TLS_TICKET_LIFETIME). */
        errno = 0;
        if ((rc = mbedtls_ssl_ticket_setup(&c->ticket, locked_rng, c, MBEDTLS_CIPHER_AES_256_GCM,
                                           SP_TLS_TICKET_LIFETIME)) != 0) {
            *err = tls_errno(rc);
            goto fail;
        }
        mbedtls_ssl_conf_session_tickets_cb(&c->conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &c->ticket);
    }
    *err = 0;
    return c;
fail:
    sp_tlsctx_rele(c);
    return NULL;
}

void sp_tlsctx_rele(struct sp_tlsctx *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_x509_crt_free(&c->cert);
    mbedtls_pk_free(&c->key);
    mbedtls_ssl_ticket_free(&c->ticket);
    pthread_mutex_destroy(&c->rng_lock);
    free(c->server_name);
    free(c);
}

/* ---- the byte layer ---- */

struct tls_bio {
    mbedtls_ssl_context ssl;
    struct sp_tlsctx *ctx;
    pthread_mutex_t lock;  /* one mbedTLS call at a time per connection */
    int fd;
    size_t pending;        /* plaintext offered to a write that said WANT_WRITE */
    ssize_t held;          /* what the next read returns before any bytes (the
                              end of the stream: 0, or -EPROTO) once a read
                              that returned bytes met it; 1: none */
    bool setup;            /* ssl set up (its record buffers made) */
    uint8_t *stage;        /* SP_TLS_STAGE bytes, once the handshake is done */
};

static int bio_send(void *p, const unsigned char *buf, size_t len)
{
    struct tls_bio *b = p;
    ssize_t n = send(b->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        return (int) n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *p, unsigned char *buf, size_t len)
{
    struct tls_bio *b = p;
    ssize_t n = recv(b->fd, buf, len, MSG_DONTWAIT);
    if (n >= 0)
        return (int) n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* mbedtls_ssl_setup: the record buffers (two of 16 KiB, zeroed). 0 or -1
   (ENOMEM). */
static int ssl_setup(struct tls_bio *b)
{
    struct sp_tlsctx *ctx = b->ctx;
    if (mbedtls_ssl_setup(&b->ssl, &ctx->conf) != 0 ||
        (ctx->server_name && mbedtls_ssl_set_hostname(&b->ssl, ctx->server_name) != 0))
        return -1;
    mbedtls_ssl_set_bio(&b->ssl, b, bio_send, bio_recv, NULL);
    if (!ctx->server)
        sp_tls_session_offer(ctx->session_key, &b->ssl);
    b->setup = true;
    return 0;
}

/* A client speaks first and is set up at once; an accepted connection only
   when its client has sent something (tls_handshake): a crowd of clients
   that connect and say nothing (or a port scan) costs no record buffers,
   whose 32 KiB of zeroed pages per connection were most of the work of
   accepting them. */
static int tls_init(struct sp_stream *s)
{
    struct sp_tlsctx *ctx = (struct sp_tlsctx *) s->cfg->bio_arg;
    struct tls_bio *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    mbedtls_ssl_init(&b->ssl);
    b->ctx = ctx;
    b->fd = s->fd;
    b->held = 1;
    if (!ctx->server && ssl_setup(b) != 0) {
        mbedtls_ssl_free(&b->ssl);
        free(b);
        return -ENOMEM;
    }
    atomic_fetch_add(&ctx->refs, 1);
    pthread_mutex_init(&b->lock, NULL);
    s->bio = b;
    return 0;
}

static void tls_term(struct sp_stream *s)
{
    struct tls_bio *b = s->bio;
    mbedtls_ssl_free(&b->ssl);
    sp_tlsctx_rele(b->ctx);
    pthread_mutex_destroy(&b->lock);
    free(b->stage);
    free(b);
    s->bio = NULL;
}

/* The name of a TLS alert, for the ones a refused handshake brings. */
static const char *alert_name(int alert)
{
    switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return "handshake failure";
    case MBEDTLS_SSL_ALERT_MSG_NO_CERT: return "no certificate";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT: return "bad certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT: return "unsupported certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED: return "certificate revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED: return "certificate expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN: return "certificate unknown";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA: return "unknown CA";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return "access denied";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION: return "protocol version";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY: return "insufficient security";
    case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR: return "internal error";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME: return "unrecognized name";
    default: return "alert";
    }
}

/* Why a handshake failed, in words a user can act on (NN_PRINT_ERRORS):
   the certificate problem if there is one, the alert the peer refused us
   with, a peer that does not speak TLS at all (recognised by what it sent
   where a record header should be: an SP header, HTTP), else mbedTLS's
   reason. */
static void handshake_failure(struct tls_bio *b, int rc, uint32_t flags, char *out, size_t cap)
{
    char why[256];
    const char *peer = b->ctx->server ? "client" : "server";
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags) {
        mbedtls_x509_crt_verify_info(why, sizeof why, "", flags);
        why[strcspn(why, "\n")] = 0;
        snprintf(out, cap, "TLS handshake failed: certificate verification failed: %s", why);
        return;
    }
    if (rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && b->ssl.in_msg) {
        int alert = b->ssl.in_msg[1];
        /* Without a certificate of our own, a server's refusal is most
           likely its demand for one. */
        bool nocert = !b->ctx->server && b->ctx->cert.raw.p == NULL &&
                      (alert == MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE || alert == MBEDTLS_SSL_ALERT_MSG_NO_CERT ||
                       alert == MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
        snprintf(out, cap, "TLS handshake failed: the %s refused it: %s (alert %d)%s", peer, alert_name(alert),
                 alert, nocert ? "; it may require a client certificate (NN_TLS_CERT_FILE)" : "");
        return;
    }
    if (b->ssl.in_hdr && b->ssl.in_left >= 4) {
        /* The first bytes the peer sent (mbedTLS keeps a record header
           there): not TLS at all? */
        const unsigned char *h = b->ssl.in_hdr;
        if (h[0] == 0 && h[1] == 'S' && h[2] == 'P' && h[3] == 0) {
            snprintf(out, cap, "TLS handshake failed: the %s speaks SP without TLS (%s)", peer,
                     b->ctx->server ? "it connects to a tcp:// address?" : "a tcp:// address?");
            return;
        }
        if (memcmp(h, "GET ", 4) == 0 || memcmp(h, "HTTP", 4) == 0) {
            snprintf(out, cap, "TLS handshake failed: the %s speaks HTTP without TLS (%s)", peer,
                     b->ctx->server ? "it connects to a ws:// address?" : "a ws:// address?");
            return;
        }
    }
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
        snprintf(out, cap, "TLS handshake failed: the client sent no certificate, and this endpoint requires one");
        return;
    }
    if (rc == MBEDTLS_ERR_SSL_CONN_EOF) {
        snprintf(out, cap, "TLS handshake failed: the %s closed the connection%s", peer,
                 !b->ctx->server && b->ctx->cert.raw.p == NULL
                     ? "; it may require a client certificate (NN_TLS_CERT_FILE)"
                     : "");
        return;
    }
    mbedtls_strerror(rc, why, sizeof why);
    snprintf(out, cap, "TLS handshake failed: %s", why);
}

static int tls_handshake(struct sp_stream *s, uint32_t *want)
{
    struct tls_bio *b = s->bio;
    pthread_mutex_lock(&b->lock);
    if (!b->setup) {
        /* Accepted: nothing to do before the client's first bytes (its
           end of the stream and errors are mbedTLS's to report). */
        char c;
        ssize_t n = recv(b->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            pthread_mutex_unlock(&b->lock);
            *want = EPOLLIN;
            return 0;
        }
        if (ssl_setup(b) != 0) {
            pthread_mutex_unlock(&b->lock);
            sp_ep_set_error(s->ep, ENOMEM);
            return -1;
        }
    }
    int rc = mbedtls_ssl_handshake(&b->ssl);
    uint32_t flags = rc != 0 ? mbedtls_ssl_get_verify_result(&b->ssl) : 0;
    if (rc == 0 && !b->stage && !(b->stage = malloc(SP_TLS_STAGE)))
        rc = MBEDTLS_ERR_SSL_ALLOC_FAILED;
    if (rc == 0 && !b->ctx->server)
        sp_tls_session_keep(b->ctx->session_key, &b->ssl);
    pthread_mutex_unlock(&b->lock);
    if (rc == 0)
        return 1;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
        *want = EPOLLIN;
        return 0;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        *want = EPOLLOUT;
        return 0;
    }
    char detail[340];
    handshake_failure(b, rc, flags, detail, sizeof detail);
    sp_ep_set_error_detail(s->ep, EPROTO, detail);
    return -1;
}

static ssize_t tls_read(struct sp_stream *s, void *buf, size_t len)
{
    struct tls_bio *b = s->bio;
    size_t got = 0;
    ssize_t res = 0;
    pthread_mutex_lock(&b->lock);
    if (b->held <= 0) {
        res = b->held;
        pthread_mutex_unlock(&b->lock);
        return res;
    }
    /* Fill the buffer, or read until the kernel has nothing: fewer, larger
       reads for the decoder. A full buffer may leave the rest of a record
       inside mbedTLS: tls_pending tells the stream. */
    while (got < len) {
        int rc = mbedtls_ssl_read(&b->ssl, (unsigned char *) buf + got, len - got);
        if (rc > 0) {
            got += (size_t) rc;
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            res = -EAGAIN;
        else if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            res = 0;
        else
            res = -EPROTO;
        break;
    }
    /* The end of the stream behind the bytes is kept for the next read: the
       peer may have sent its close_notify and nothing after it (no FIN yet),
       and then the fd would not wake us for it. */
    if (got && res != -EAGAIN && got < len)
        b->held = res;
    pthread_mutex_unlock(&b->lock);
    return got ? (ssize_t) got : res;
}

static bool tls_pending(struct sp_stream *s)
{
    struct tls_bio *b = s->bio;
    pthread_mutex_lock(&b->lock);
    /* Decrypted bytes not yet read (or more handshake messages in the
       current record); a record only partly received is not counted: the
       kernel reports its rest when it comes. */
    bool yes = b->held <= 0 || (b->setup && mbedtls_ssl_check_pending(&b->ssl));
    pthread_mutex_unlock(&b->lock);
    return yes;
}

static ssize_t tls_writev(struct sp_stream *s, const struct iovec *iov, int niov)
{
    struct tls_bio *b = s->bio;
    pthread_mutex_lock(&b->lock);
    /* Several queued messages go into one record. After WANT_WRITE mbedTLS
       must be offered exactly the same bytes again. */
    if (!b->stage) { /* only ever written once the handshake is done */
        pthread_mutex_unlock(&b->lock);
        return -EPIPE;
    }
    size_t cap = b->pending ? b->pending : SP_TLS_STAGE;
    size_t n = 0;
    const unsigned char *rec = b->stage;
    if (niov > 0 && iov[0].iov_len >= cap) {
        /* A large body fills the record alone: mbedTLS copies it into its
           record buffer itself, no need to stage it first. */
        rec = iov[0].iov_base;
        n = cap;
    }
    for (int i = 0; rec == b->stage && i < niov && n < cap; i++) {
        size_t k = iov[i].iov_len < cap - n ? iov[i].iov_len : cap - n;
        memcpy(b->stage + n, iov[i].iov_base, k);
        n += k;
    }
    ssize_t res;
    int rc = n ? mbedtls_ssl_write(&b->ssl, rec, n) : 0;
    if (rc >= 0) {
        b->pending = 0;
        res = rc;
    } else if (rc == MBEDTLS_ERR_SSL_WANT_WRITE || rc == MBEDTLS_ERR_SSL_WANT_READ) {
        b->pending = n;
        res = -EAGAIN;
    } else {
        res = -EPIPE;
    }
    pthread_mutex_unlock(&b->lock);
    return res;
}

const struct sp_bio_ops sp_tls_bio_ops = {
    .init = tls_init,
    .term = tls_term,
    .handshake = tls_handshake,
    .read = tls_read,
    .pending = tls_pending,
    .writev = tls_writev,
};

/* ---- TLS over TCP ---- */

/* A bound endpoint's streams' configuration; freed by the listener. */
struct tls_bound {
    struct sp_stream_cfg cfg;
    struct sp_tlsctx *ctx;
};

static void bound_cleanup(struct sp_listener *l)
{
    struct tls_bound *b = l->tpdata;
    sp_tlsctx_rele(b->ctx);
    free(b);
}

int sp_tls_listen(struct sp_ep *ep, const struct sp_stream_cfg *cfg)
{
    struct tls_bound *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int rc;
    if (!(b->ctx = sp_tlsctx_new(ep, true, NULL, &rc))) {
        free(b);
        return rc;
    }
    b->cfg = *cfg;
    b->cfg.bio = &sp_tls_bio_ops;
    b->cfg.bio_arg = b->ctx;
    int fd = sp_tcp_listen(ep, ep->addr, strlen(ep->addr));
    rc = fd;
    if (fd >= 0) {
        rc = sp_listener_start(ep, fd, &b->cfg, SP_TLS_HS_TIMEOUT_MS, bound_cleanup, b);
        if (rc == 0)
            return 0;
        close(fd);
    }
    sp_tlsctx_rele(b->ctx);
    free(b);
    return rc;
}

static void dial_cleanup(struct sp_tcpdial *t)
{
    sp_tlsctx_rele(((struct sp_tlsdial *) t)->ctx);
}

int sp_tlsdial_init(struct sp_tlsdial *d, struct sp_ep *ep, struct sp_stream_cfg *cfg)
{
    int rc;
    char host[NN_SOCKADDR_MAX];
    sp_tcpdial_host(&d->tcp, host);
    if (!(d->ctx = sp_tlsctx_new(ep, false, host, &rc)))
        return rc;
    d->tcp.cleanup = dial_cleanup;
    cfg->bio = &sp_tls_bio_ops;
    cfg->bio_arg = d->ctx;
    return 0;
}

void sp_tls_term(void)
{
    sp_tcpdial_term();
    sp_tls_session_term();
}
