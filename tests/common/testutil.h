/* Test helpers shared by the suites: a private temporary directory per test
   process, free TCP ports, monotonic time and condition waits with deadlines.
   Nothing here sleeps a fixed time to synchronise: waits poll a condition. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp), created on first call and removed
   with its contents when the process exits. */
const char *tu_tmpdir(void);

/* Writes "ipc://<tmpdir>/<name>" into buf (size len) and returns buf. */
char *tu_ipc_url(char *buf, size_t len, const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago (kernel-chosen, so
   parallel tests do not collide). */
int tu_free_port(void);

/* Writes "tcp://127.0.0.1:<port>" into buf and returns buf. */
char *tu_tcp_url(char *buf, size_t len, int port);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t tu_now_ms(void);

/* Sleeps ms milliseconds: only for pacing a polling loop, never as sync. */
void tu_sleep_ms(int ms);

/* Polls cond(arg) every millisecond until it returns true (-> true) or
   timeout_ms passes (-> false). */
bool tu_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Plain-socket peers (tests that speak the wire by hand). */
/* Sends all len bytes (MSG_NOSIGNAL): false on any error. */
bool tu_write_all(int fd, const void *buf, size_t len);
/* Reads exactly len bytes within timeout_ms: false on EOF, error or timeout. */
bool tu_read_exact(int fd, void *buf, size_t len, int timeout_ms);
/* Discards input until the peer closes the connection (EOF or reset) -> true,
   or timeout_ms passes -> false. */
bool tu_wait_closed(int fd, int timeout_ms);
/* A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY, or to the
   unix socket at path; rcvbuf > 0 sets SO_RCVBUF first (a small receive
   window). The fd, or -1. */
int tu_connect_tcp(int port, int rcvbuf);
int tu_connect_ipc(const char *path, int rcvbuf);
/* Waits until the peer's kernel acknowledged every byte sent on the TCP
   connection fd (its send queue is empty: the bytes sit in the peer's receive
   queue, whether or not the peer read them) -> true, or timeout_ms passes.
   A unix stream socket needs no such wait: send() queues the bytes at the
   peer before it returns. */
bool tu_wait_acked(int fd, int timeout_ms);
/* The 8-byte SP header announcing protocol id proto. */
void tu_sp_header(unsigned char hdr[8], int proto);
/* Writes one SP frame carrying body: the u64 big-endian length, preceded by
   the message type byte 0x01 on ipc. All of it or false. */
bool tu_write_frame(int fd, bool ipc, const void *body, size_t len);

/* True while thread tid of this process sleeps in a system call a blocked
   nn_send/nn_recv waits in: poll, ppoll, futex or epoll_wait (anything, where
   /proc does not say which call it is). With in_poll, only poll or ppoll,
   where a blocked nn_recv that reads its connection itself waits (and
   libnanomsg's calls wait on their readiness fds). */
bool tu_thread_sleeps(int tid, bool in_poll);

/* Missing prerequisites (a program, a library, a feature of the machine). A
   test that cannot run fails and says which Debian package brings what is
   missing (tools/install-deps.sh installs them all), unless the build was
   configured with -Dallow_skip=true (meson then sets NANOSP_ALLOW_SKIP=true
   in the tests' environment): then it skips. tests/common/prereq.sh is the
   same rule for the shell tests. */
bool tu_skip_allowed(void);
/* Prints why (WHY: a sentence) and returns main's exit status: 77 (skipped)
   when skipping is allowed, else 1. */
int tu_unmet(const char *why);
/* The same for WHAT, from the Debian package PACKAGE, not being installed. */
int tu_missing(const char *what, const char *package);

/* Runs fn(arg) in a new thread; tu_thread_join waits for it. */
typedef struct tu_thread { unsigned long handle; } tu_thread;
void tu_thread_start(tu_thread *t, void (*fn)(void *), void *arg);
void tu_thread_join(tu_thread *t);

#endif
