/* A real application of the library: a Criterion test program. Criterion's runner forks
   a worker per test and the workers report every event (test start, each assertion, the
   end, a crash) to the runner over nanomsg REQ/REP on ipc (libcriterion.so links
   libnanomsg.so.5); this program does not link the library itself. Run with
   LD_LIBRARY_PATH at our build directory, it proves that a real client of the library
   gets its results through OUR REQ/REP: run_app.sh checks that every process loaded our
   libnanomsg.so.5 and that the runner reports exactly the expected verdicts.

   Expected: 6 tests, 5 passing, 1 failing (smoke::fails_on_purpose), 0 crashing. Each
   verdict travels over the ipc connection, so a lost or mangled message shows up as a
   wrong count, a hang or a "crash" of the worker. */

#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether /proc/PID/maps of PID maps a libnanomsg from the directory DIR. */
static int maps_nanomsg_from(const char *pid, const char *dir)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int found = 0;
    size_t n = strlen(dir);
    while (fgets(line, sizeof line, f)) {
        char *p = strchr(line, '/');
        if (p && strstr(p, "/libnanomsg.so") && strncmp(p, dir, n) == 0 && p[n] == '/')
            found = 1;
    }
    fclose(f);
    return found;
}

Test(smoke, passes)
{
    cr_assert_eq(1 + 1, 2);
}

Test(smoke, many_assertions)
{
    /* Every assertion is one more message from the worker to the runner. */
    for (int i = 0; i < 1000; i++)
        cr_expect_eq(i * 2, i + i, "iteration %d", i);
}

Test(smoke, fails_on_purpose)
{
    /* The runner must count this one as failed and print its message whole: 2000 bytes
       that travelled from the worker over the ipc connection. */
    char tail[2001];
    for (int i = 0; i < 2000; i++)
        tail[i] = (char) ('a' + i % 26);
    tail[2000] = '\0';
    cr_assert_eq(1, 2, "expected failure %s", tail);
}

Test(smoke, exit_code, .exit_code = 3)
{
    exit(3);
}

/* A crash the runner must expect. SIGABRT, not SIGSEGV: AddressSanitizer (sanitizer
   builds) turns a SIGSEGV into its own report and exit, but leaves SIGABRT alone. */
Test(smoke, crash_expected, .signal = SIGABRT)
{
    abort();
}

/* The worker and its parent (the runner) both run on the library of the directory
   given in NANOSP_BUILD_DIR, if set. */
Test(smoke, on_our_library)
{
    const char *dir = getenv("NANOSP_BUILD_DIR");
    if (!dir || !*dir)
        cr_skip_test("NANOSP_BUILD_DIR not set");
    char ppid[32];
    snprintf(ppid, sizeof ppid, "%ld", (long) getppid());
    cr_expect(maps_nanomsg_from("self", dir), "the worker does not map %s/libnanomsg.so*", dir);
    cr_expect(maps_nanomsg_from(ppid, dir), "the runner (pid %s) does not map %s/libnanomsg.so*",
        ppid, dir);
}
