/*
    The raw baseline's plumbing: plain blocking sockets (tcp with
    TCP_NODELAY, or AF_UNIX for ipc:// URLs) and pipes between two threads,
    carrying messages with the SP stream framing (an 8-byte big-endian
    length, then the body). It is what the kernel allows a simple program:
    one writev per message, reads through a 64 KiB buffer.
*/

#ifndef RAW_UTIL_H
#define RAW_UTIL_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "perf_util.h"

/*  A parsed tcp:// or ipc:// URL. */
struct raw_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int is_tcp;
};

static inline void raw_parse(const char *url, int for_bind, struct raw_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (strncmp(url, "ipc://", 6) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *) &a->ss;
        const char *path = url + 6;
        if (strlen(path) >= sizeof(sun->sun_path)) {
            fprintf(stderr, "ipc path too long: %s\n", path);
            exit(1);
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, path);
        a->len = sizeof(*sun);
        a->is_tcp = 0;
        return;
    }
    if (strncmp(url, "tcp://", 6) == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &a->ss;
        const char *hostport = url + 6;
        const char *colon = strrchr(hostport, ':');
        char host[256];
        if (colon == NULL || (size_t) (colon - hostport) >= sizeof(host)) {
            fprintf(stderr, "bad tcp url: %s\n", url);
            exit(1);
        }
        memcpy(host, hostport, (size_t) (colon - hostport));
        host[colon - hostport] = '\0';
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t) atoi(colon + 1));
        if (for_bind && (strcmp(host, "*") == 0 || host[0] == '\0')) {
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            struct addrinfo hints, *res;
            memset(&hints, 0, sizeof(hints));
            hints.ai_family = AF_INET;
            if (getaddrinfo(host, NULL, &hints, &res) != 0) {
                fprintf(stderr, "cannot resolve %s\n", host);
                exit(1);
            }
            sin->sin_addr = ((struct sockaddr_in *) res->ai_addr)->sin_addr;
            freeaddrinfo(res);
        }
        a->len = sizeof(*sin);
        a->is_tcp = 1;
        return;
    }
    fprintf(stderr, "raw baseline supports tcp:// and ipc:// only: %s\n", url);
    exit(1);
}

static inline void raw_nodelay(int fd, const struct raw_addr *a)
{
    int one = 1;
    if (a->is_tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*  Binds, listens, accepts one connection and returns it. */
static inline int raw_accept_one(const char *url)
{
    struct raw_addr a;
    int l, fd, one = 1;

    raw_parse(url, 1, &a);
    l = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    PERF_CHECK(l >= 0, "socket");
    if (a.is_tcp)
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    else
        unlink(((struct sockaddr_un *) &a.ss)->sun_path);
    PERF_CHECK(bind(l, (struct sockaddr *) &a.ss, a.len) == 0, "bind");
    PERF_CHECK(listen(l, 16) == 0, "listen");
    fd = accept(l, NULL, NULL);
    PERF_CHECK(fd >= 0, "accept");
    raw_nodelay(fd, &a);
    close(l);
    if (!a.is_tcp)
        unlink(((struct sockaddr_un *) &a.ss)->sun_path);
    return fd;
}

/*  Connects, retrying every millisecond for up to 10 s while the peer is
    not listening yet. */
static inline int raw_connect(const char *url)
{
    struct raw_addr a;
    int fd, tries;

    raw_parse(url, 0, &a);
    for (tries = 0; tries < 10000; tries++) {
        fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        PERF_CHECK(fd >= 0, "socket");
        if (connect(fd, (struct sockaddr *) &a.ss, a.len) == 0) {
            raw_nodelay(fd, &a);
            return fd;
        }
        close(fd);
        perf_pause_ms(1);
    }
    PERF_CHECK(0, "connect");
    return -1;
}

/*  Sends one framed message with a single writev. */
static inline void raw_send(int fd, const void *body, size_t len)
{
    unsigned char hdr[8];
    size_t total = 8 + len, done = 0;
    int i;

    for (i = 0; i < 8; i++)
        hdr[i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
    while (done < total) {
        struct iovec v[2];
        int n = 0;
        ssize_t w;
        if (done < 8) {
            v[n].iov_base = hdr + done;
            v[n++].iov_len = 8 - done;
            v[n].iov_base = (void *) body;
            v[n++].iov_len = len;
        } else {
            v[n].iov_base = (char *) body + (done - 8);
            v[n++].iov_len = total - done;
        }
        w = writev(fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        PERF_CHECK(w > 0, "writev");
        done += (size_t) w;
    }
}

/*  A buffered reader of framed messages. */
struct raw_reader {
    int fd;
    size_t pos, end;
    unsigned char buf[65536];
};

static inline void raw_reader_init(struct raw_reader *r, int fd)
{
    r->fd = fd;
    r->pos = r->end = 0;
}

/*  Copies the next len bytes of the stream to dst. */
static inline void raw_read_exact(struct raw_reader *r, void *dst, size_t len)
{
    unsigned char *d = dst;
    while (len > 0) {
        ssize_t n;
        if (r->pos < r->end) {
            size_t k = r->end - r->pos;
            if (k > len)
                k = len;
            memcpy(d, r->buf + r->pos, k);
            r->pos += k;
            d += k;
            len -= k;
            continue;
        }
        /*  Big remainders go straight to the destination. */
        if (len >= sizeof(r->buf))
            n = read(r->fd, d, len);
        else
            n = read(r->fd, r->buf, sizeof(r->buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ECONNRESET;
        PERF_CHECK(n > 0, "read");
        if (len >= sizeof(r->buf)) {
            d += n;
            len -= (size_t) n;
        } else {
            r->pos = 0;
            r->end = (size_t) n;
        }
    }
}

/*  Receives one framed message into dst (capacity cap); returns its
    length. A longer message is a test failure. */
static inline size_t raw_recv(struct raw_reader *r, void *dst, size_t cap)
{
    unsigned char hdr[8];
    uint64_t len = 0;
    int i;

    raw_read_exact(r, hdr, 8);
    for (i = 0; i < 8; i++)
        len = (len << 8) | hdr[i];
    if (len > cap) {
        fprintf(stderr, "raw_recv: message of %llu bytes, expected at most %zu\n",
            (unsigned long long) len, cap);
        exit(2);
    }
    raw_read_exact(r, dst, (size_t) len);
    return (size_t) len;
}

#endif
