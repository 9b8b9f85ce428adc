/* The event loop: epoll for fds, a binary min-heap for timers, and a mutex-
   protected FIFO of tasks woken through an eventfd. Kept small on purpose (in
   the spirit of Redis' ae.c): everything else is built on these three things. */
#include "aio/loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "utils/clock.h"
#include "utils/err.h"

#define SP_LOOP_BATCH 64

static struct {
    pthread_mutex_t lock;    /* protects timers, tasks, the running state */
    int running;
    pthread_t thread;
    int epfd;
    int wakefd;
    bool stopping;
    bool polling;            /* the loop is in (or about to enter) epoll_wait */
    bool woken;              /* the wake-up fd was written since then */
    /* timer heap */
    struct sp_timer **heap;
    size_t nheap;
    size_t capheap;
    /* Timers armed while the heap could not grow (out of memory): a list,
       searched on every round while it is not empty. A timer that fails to
       fire would leave a connection in its handshake or a connector
       waiting forever. */
    struct sp_timer *overflow;
    /* task FIFO */
    struct sp_task *task_head;
    struct sp_task *task_tail;
    size_t ntasks;
    /* the batch being dispatched (loop thread only) */
    struct epoll_event batch[SP_LOOP_BATCH];
    int nbatch;
    int ibatch;
} loop = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .wakefd = -1};

static SP_THREAD_LOCAL bool in_loop_thread;

bool sp_loop_in_thread(void)
{
    return in_loop_thread;
}

static void loop_wake(void)
{
    uint64_t one = 1;
    ssize_t rc = write(loop.wakefd, &one, sizeof one);
    (void) rc; /* EAGAIN means the counter is already non-zero: woken anyway */
}

/* ---- timers (heap under loop.lock) ---- */

static void heap_swap(size_t a, size_t b)
{
    struct sp_timer *t = loop.heap[a];
    loop.heap[a] = loop.heap[b];
    loop.heap[b] = t;
    loop.heap[a]->idx = a + 1;
    loop.heap[b]->idx = b + 1;
}

static void heap_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (loop.heap[p]->due <= loop.heap[i]->due)
            break;
        heap_swap(i, p);
        i = p;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop.nheap && loop.heap[l]->due < loop.heap[m]->due)
            m = l;
        if (r < loop.nheap && loop.heap[r]->due < loop.heap[m]->due)
            m = r;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
}

/* idx of a timer in the overflow list */
#define IDX_OVERFLOW SIZE_MAX

static void overflow_remove(struct sp_timer *t)
{
    struct sp_timer **pp = &loop.overflow;
    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (*pp)
        *pp = t->next;
    t->next = NULL;
    t->idx = 0;
}

static void heap_remove(struct sp_timer *t)
{
    if (t->idx == IDX_OVERFLOW) {
        overflow_remove(t);
        return;
    }
    size_t i = t->idx - 1;
    size_t last = loop.nheap - 1;
    if (i != last) {
        heap_swap(i, last);
        loop.nheap--;
        heap_down(i);
        heap_up(i);
    } else {
        loop.nheap--;
    }
    t->idx = 0;
}

void sp_timer_init(struct sp_timer *t, void (*cb)(struct sp_timer *))
{
    t->due = 0;
    t->idx = 0;
    t->next = NULL;
    t->cb = cb;
}

void sp_timer_start(struct sp_timer *t, uint64_t delay_ms)
{
    pthread_mutex_lock(&loop.lock);
    if (t->idx)
        heap_remove(t);
    t->due = sp_clock_ms() + delay_ms;
    if (loop.nheap == loop.capheap) {
        size_t cap = loop.capheap ? loop.capheap * 2 : 64;
        struct sp_timer **h = realloc(loop.heap, cap * sizeof *h);
        if (!h) {
            t->idx = IDX_OVERFLOW;
            t->next = loop.overflow;
            loop.overflow = t;
            pthread_mutex_unlock(&loop.lock);
            if (!in_loop_thread)
                loop_wake();
            return;
        }
        loop.heap = h;
        loop.capheap = cap;
    }
    loop.heap[loop.nheap++] = t;
    t->idx = loop.nheap;
    heap_up(loop.nheap - 1);
    bool earliest = loop.heap[0] == t;
    pthread_mutex_unlock(&loop.lock);
    if (earliest && !in_loop_thread)
        loop_wake();
}

void sp_timer_stop(struct sp_timer *t)
{
    pthread_mutex_lock(&loop.lock);
    if (t->idx)
        heap_remove(t);
    pthread_mutex_unlock(&loop.lock);
}

bool sp_timer_armed(struct sp_timer *t)
{
    pthread_mutex_lock(&loop.lock);
    bool armed = t->idx != 0;
    pthread_mutex_unlock(&loop.lock);
    return armed;
}

/* ---- tasks ---- */

void sp_task_init(struct sp_task *t, void (*cb)(struct sp_task *))
{
    t->cb = cb;
    t->next = NULL;
    t->queued = false;
}

void sp_loop_post(struct sp_task *t)
{
    pthread_mutex_lock(&loop.lock);
    if (t->queued) {
        pthread_mutex_unlock(&loop.lock);
        return;
    }
    t->queued = true;
    t->next = NULL;
    if (loop.task_tail)
        loop.task_tail->next = t;
    else
        loop.task_head = t;
    loop.task_tail = t;
    loop.ntasks++;
    /* A loop that is not sleeping runs the task on its next round anyway:
       the wake-up syscall is only for one in (or entering) epoll_wait. */
    bool wake = loop.polling && !loop.woken && !in_loop_thread;
    if (wake)
        loop.woken = true;
    pthread_mutex_unlock(&loop.lock);
    if (wake)
        loop_wake();
}

void sp_loop_cancel(struct sp_task *t)
{
    pthread_mutex_lock(&loop.lock);
    if (t->queued) {
        struct sp_task **pp = &loop.task_head, *prev = NULL;
        while (*pp && *pp != t) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = t->next;
            if (loop.task_tail == t)
                loop.task_tail = prev;
            loop.ntasks--;
        }
        t->queued = false;
        t->next = NULL;
    }
    pthread_mutex_unlock(&loop.lock);
}

struct sync_task {
    struct sp_task task;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool done;
};

static void sync_cb(struct sp_task *t)
{
    struct sync_task *st = (struct sync_task *) t;
    pthread_mutex_lock(&st->lock);
    st->done = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->lock);
}

void sp_loop_sync(void)
{
    if (in_loop_thread)
        return;
    pthread_mutex_lock(&loop.lock);
    bool running = loop.running && !loop.stopping;
    pthread_mutex_unlock(&loop.lock);
    if (!running)
        return;
    struct sync_task st;
    sp_task_init(&st.task, sync_cb);
    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.cv, NULL);
    st.done = false;
    sp_loop_post(&st.task);
    pthread_mutex_lock(&st.lock);
    while (!st.done)
        pthread_cond_wait(&st.cv, &st.lock);
    pthread_mutex_unlock(&st.lock);
    pthread_cond_destroy(&st.cv);
    pthread_mutex_destroy(&st.lock);
}

/* ---- fds ---- */

int sp_io_add(struct sp_io *io, int fd, uint32_t events, void (*cb)(struct sp_io *, uint32_t))
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    ev.events = events;
    ev.data.ptr = io;
    if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -errno;
    return 0;
}

void sp_io_set(struct sp_io *io, uint32_t events)
{
    if (io->events == events || io->fd < 0)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    io->events = events;
    ev.events = events;
    ev.data.ptr = io;
    epoll_ctl(loop.epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void sp_io_del(struct sp_io *io)
{
    SP_ASSERT(in_loop_thread);
    if (io->fd >= 0) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        epoll_ctl(loop.epfd, EPOLL_CTL_DEL, io->fd, &ev);
        io->fd = -1;
    }
    /* Drop events for this io that are still waiting in the current batch. */
    for (int i = loop.ibatch; i < loop.nbatch; i++)
        if (loop.batch[i].data.ptr == io)
            loop.batch[i].data.ptr = NULL;
}

/* ---- the thread ---- */

static int next_timeout(void)
{
    if (loop.task_head)
        return 0;
    if (loop.nheap == 0 && !loop.overflow)
        return -1;
    uint64_t now = sp_clock_ms();
    uint64_t due = loop.nheap ? loop.heap[0]->due : UINT64_MAX;
    for (struct sp_timer *t = loop.overflow; t; t = t->next)
        if (t->due < due)
            due = t->due;
    if (due <= now)
        return 0;
    uint64_t d = due - now;
    return d > 60000 ? 60000 : (int) d;
}

static void run_timers(void)
{
    uint64_t now = sp_clock_ms();
    pthread_mutex_lock(&loop.lock);
    while (loop.nheap > 0 && loop.heap[0]->due <= now) {
        struct sp_timer *t = loop.heap[0];
        heap_remove(t);
        pthread_mutex_unlock(&loop.lock);
        t->cb(t);
        pthread_mutex_lock(&loop.lock);
    }
    for (struct sp_timer *t = loop.overflow; t;) {
        if (t->due > now) {
            t = t->next;
            continue;
        }
        overflow_remove(t);
        pthread_mutex_unlock(&loop.lock);
        t->cb(t);
        pthread_mutex_lock(&loop.lock);
        t = loop.overflow; /* the callback may have changed the list */
    }
    pthread_mutex_unlock(&loop.lock);
}

static void run_tasks(void)
{
    pthread_mutex_lock(&loop.lock);
    /* Run as many tasks as were queued when we started; new ones wait for the
       next round so that a task re-posting itself cannot starve fds. Tasks
       are popped one by one so that sp_loop_cancel works until they run. */
    size_t n = loop.ntasks;
    while (n-- > 0 && loop.task_head) {
        struct sp_task *t = loop.task_head;
        loop.task_head = t->next;
        if (!loop.task_head)
            loop.task_tail = NULL;
        loop.ntasks--;
        t->queued = false;
        t->next = NULL;
        pthread_mutex_unlock(&loop.lock);
        t->cb(t);
        pthread_mutex_lock(&loop.lock);
    }
    pthread_mutex_unlock(&loop.lock);
}

static void *loop_main(void *arg)
{
    (void) arg;
    in_loop_thread = true;
    for (;;) {
        pthread_mutex_lock(&loop.lock);
        bool stop = loop.stopping;
        int timeout = loop.ntasks ? 0 : next_timeout();
        loop.polling = true;
        loop.woken = false;
        pthread_mutex_unlock(&loop.lock);
        if (stop)
            break;
        int n = epoll_wait(loop.epfd, loop.batch, SP_LOOP_BATCH, timeout);
        pthread_mutex_lock(&loop.lock);
        loop.polling = false;
        pthread_mutex_unlock(&loop.lock);
        if (n < 0)
            n = 0; /* EINTR cannot happen (signals blocked) but is harmless */
        loop.nbatch = n;
        for (loop.ibatch = 0; loop.ibatch < loop.nbatch;) {
            struct epoll_event *ev = &loop.batch[loop.ibatch++];
            if (ev->data.ptr == &loop.wakefd) {
                uint64_t v;
                ssize_t rc = read(loop.wakefd, &v, sizeof v);
                (void) rc;
                continue;
            }
            struct sp_io *io = ev->data.ptr;
            if (io && io->fd >= 0)
                io->cb(io, ev->events);
        }
        loop.nbatch = loop.ibatch = 0;
        run_timers();
        run_tasks();
    }
    in_loop_thread = false;
    return NULL;
}

int sp_loop_start(void)
{
    pthread_mutex_lock(&loop.lock);
    if (loop.running) {
        pthread_mutex_unlock(&loop.lock);
        return 0;
    }
    int rc = 0;
    loop.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop.epfd < 0) {
        rc = -errno;
        goto fail;
    }
    loop.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop.wakefd < 0) {
        rc = -errno;
        goto fail;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &loop.wakefd;
    if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &ev) != 0) {
        rc = -errno;
        goto fail;
    }
    loop.stopping = false;
    /* The loop thread must never take the application's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = -pthread_create(&loop.thread, NULL, loop_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        goto fail;
    loop.running = 1;
    pthread_mutex_unlock(&loop.lock);
    return 0;
fail:
    if (loop.wakefd >= 0)
        close(loop.wakefd);
    if (loop.epfd >= 0)
        close(loop.epfd);
    loop.wakefd = loop.epfd = -1;
    pthread_mutex_unlock(&loop.lock);
    return rc;
}

void sp_loop_stop(void)
{
    pthread_mutex_lock(&loop.lock);
    if (!loop.running) {
        pthread_mutex_unlock(&loop.lock);
        return;
    }
    loop.stopping = true;
    pthread_mutex_unlock(&loop.lock);
    loop_wake();
    pthread_join(loop.thread, NULL);
    /* Run what was posted during shutdown so that no object waits forever:
       this thread is the loop thread for it. */
    in_loop_thread = true;
    run_tasks();
    in_loop_thread = false;
    pthread_mutex_lock(&loop.lock);
    close(loop.wakefd);
    close(loop.epfd);
    loop.wakefd = loop.epfd = -1;
    /* Timers still armed are forgotten: they must not think they are in a
       heap that no longer exists. */
    for (size_t i = 0; i < loop.nheap; i++)
        loop.heap[i]->idx = 0;
    while (loop.overflow)
        overflow_remove(loop.overflow);
    free(loop.heap);
    loop.heap = NULL;
    loop.nheap = loop.capheap = 0;
    loop.running = 0;
    pthread_mutex_unlock(&loop.lock);
}
