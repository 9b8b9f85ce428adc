/* The async-I/O core: one event-loop thread (epoll) that runs every connection
   and endpoint state machine, plus timers and a task queue. It is started on
   first use by a transport that needs it, so a program that only uses inproc
   never starts it, and stopped when the library's last socket closes. */
#ifndef SP_LOOP_H
#define SP_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "utils/err.h"

/* A file descriptor watched by the loop. The callback runs on the loop thread. */
struct sp_io {
    int fd;
    uint32_t events; /* the epoll mask currently registered */
    void (*cb)(struct sp_io *io, uint32_t revents);
};

/* A one-shot timer; the callback runs on the loop thread. */
struct sp_timer {
    uint64_t due;  /* absolute sp_clock_ms() time */
    size_t idx;    /* 1-based position in the heap, 0 when not armed */
    struct sp_timer *next; /* in the overflow list (see sp_timer_start) */
    void (*cb)(struct sp_timer *t);
};

/* A unit of work posted to the loop thread from any thread. */
struct sp_task {
    void (*cb)(struct sp_task *t);
    struct sp_task *next;
    bool queued;
};

/* Starts the loop thread unless it runs already. 0 or -errno. */
int sp_loop_start(void);

/* Stops and joins the loop thread (global teardown; nothing may use it after). */
void sp_loop_stop(void);

/* True when called from the loop thread. */
bool sp_loop_in_thread(void);

/* For functions documented "loop thread": checked in debug builds. */
#define SP_ASSERT_LOOP() SP_DEBUG_ASSERT(sp_loop_in_thread())

/* Registers fd with the given epoll events. Any thread. 0 or -errno. */
int sp_io_add(struct sp_io *io, int fd, uint32_t events, void (*cb)(struct sp_io *, uint32_t));

/* Changes the watched events (no syscall if unchanged). Any thread, but the
   owner serialises every call on one io, sp_io_del included (a stream: on
   the loop thread until its pipe is attached, under the socket lock from
   then on). */
void sp_io_set(struct sp_io *io, uint32_t events);

/* Unregisters; events already fetched for this io are dropped, so the owner may
   free it right after. Loop thread only, serialised with sp_io_set as said
   there. Does not close the fd. */
void sp_io_del(struct sp_io *io);

void sp_timer_init(struct sp_timer *t, void (*cb)(struct sp_timer *));
/* (Re)arms the timer to fire after delay_ms. Any thread. Cannot fail: when
   the heap cannot grow (out of memory) the timer waits in a list of its own. */
void sp_timer_start(struct sp_timer *t, uint64_t delay_ms);
/* Disarms; a callback already running is not waited for. Any thread. */
void sp_timer_stop(struct sp_timer *t);
bool sp_timer_armed(struct sp_timer *t);

void sp_task_init(struct sp_task *t, void (*cb)(struct sp_task *));
/* Queues the task to run on the loop thread; a task already queued is not
   queued twice. Any thread. */
void sp_loop_post(struct sp_task *t);
/* Waits until the loop thread has finished whatever callback it runs now
   (and every one queued before). No-op when the loop is not running or when
   called from the loop thread. */
void sp_loop_sync(void);

/* Removes a queued task (no-op if it is not queued). Any thread; a task that
   already runs is not waited for. */
void sp_loop_cancel(struct sp_task *t);

#endif
