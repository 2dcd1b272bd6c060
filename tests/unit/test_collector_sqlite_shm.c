/* The SIGBUS guard of sqlite_shm.h, in forked children: a fault in a mapped
 * file named *-shm that was truncated exits 75 with its line on stderr; a
 * fault in any other file's mapping, or a SIGBUS sent by kill, ends the
 * process as it would without the guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlite_shm.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sts-shm-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* In a child: maps 32 KiB of the file name (in dir), truncates it to 0,
 * reads a page past the end. Returns the child's wait status; its stderr
 * goes to dir/err. */
static int fault_in(const char *name, bool guard)
{
    char path[128], err[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(err, sizeof err, "%s/err", dir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL); /* not cmocka's handler, which would go on testing here */
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (e < 0 || fd < 0 || dup2(e, STDERR_FILENO) < 0 || ftruncate(fd, 32768) != 0)
            _exit(90);
        volatile unsigned char *p = mmap(NULL, 32768, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            _exit(91);
        p[4096] = 1; /* mapped and backed */
        if (guard && sqlite_shm_guard() != STS_OK)
            _exit(92);
        if (ftruncate(fd, 0) != 0)
            _exit(93);
        unsigned char c = p[8192]; /* past the end now */
        _exit(c == 0 ? 94 : 95);   /* reached: no fault happened */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void read_err(char *out, size_t cap)
{
    char err[128];
    snprintf(err, sizeof err, "%s/err", dir);
    FILE *f = fopen(err, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    fclose(f);
}

static void shm_fault_exits_75(void **state)
{
    (void)state;
    int status = fault_in("store.db-shm", true);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), SQLITE_SHM_EXIT);
    char msg[1024], want[256];
    read_err(msg, sizeof msg);
    snprintf(want, sizeof want,
             "sts-collector: SIGBUS in SQLite's wal-index %s/store.db-shm: ", dir);
    assert_non_null(strstr(msg, want));
    assert_non_null(strstr(msg, "rebuilds it from the WAL"));
}

/* A fault elsewhere ends as it does without the guard (killed by SIGBUS;
 * under a sanitizer, its report and exit status). */
static void other_faults_keep_their_action(void **state)
{
    (void)state;
    int unguarded = fault_in("store.db-shmx", false);
    assert_false(WIFEXITED(unguarded) && WEXITSTATUS(unguarded) >= 90);
    static const char *const names[] = {"store.db-shmx", "store.db", "shm", "x-wal"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int status = fault_in(names[i], true);
        assert_int_equal(status, unguarded);
        char msg[1024];
        read_err(msg, sizeof msg);
        assert_null(strstr(msg, "SIGBUS in SQLite"));
    }
}

/* raise(SIGBUS) in a child, with or without the guard: its wait status. */
static int raised(bool guard)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        if (guard && sqlite_shm_guard() != STS_OK)
            _exit(92);
        raise(SIGBUS);
        _exit(94);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void sent_sigbus_keeps_its_action(void **state)
{
    (void)state;
    int unguarded = raised(false);
    assert_false(WIFEXITED(unguarded) && WEXITSTATUS(unguarded) >= 90);
    assert_int_equal(raised(true), unguarded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(shm_fault_exits_75, setup, teardown),
        cmocka_unit_test_setup_teardown(other_faults_keep_their_action, setup, teardown),
        cmocka_unit_test_setup_teardown(sent_sigbus_keeps_its_action, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
