/* Reading the device facts from their providers. See facts.h. Commands run
 * through posix_spawnp with an argument vector, never through a shell, so a
 * value from the config cannot smuggle in redirections or a second command. */
#include "facts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "file.h"

extern char **environ;

#define FACT_FILE_MAX  (64 * 1024) /* bytes read from a key=value file */
#define FACT_CMD_MAX   4096        /* bytes of a command's output */
#define FACT_MMCLI_MAX (64 * 1024) /* mmcli prints every modem property */
#define FACT_ARGV_MAX  16

static char *slot(struct agent_facts *f, enum agent_fact_id id)
{
    switch (id) {
    case AGENT_FACT_IMEI: return f->imei;
    case AGENT_FACT_BRAND: return f->brand;
    case AGENT_FACT_MODEL: return f->model;
    case AGENT_FACT_SW: return f->sw;
    case AGENT_FACT_COUNTRY:
    case AGENT_FACT_COUNT: break;
    }
    return f->country;
}

const char *agent_facts_get(const struct agent_facts *f, enum agent_fact_id id)
{
    return slot((struct agent_facts *)f, id);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Trims blanks and line ends at both ends, in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Stores value (trimmed) into out, refusing an empty or over-long one. */
static enum sts_err put_value(char *value, char out[static AGENT_FACT_MAX + 1], char *why,
                              size_t why_size, const char *source)
{
    char *v = trim(value);
    size_t n = strlen(v);
    if (n == 0) {
        snprintf(why, why_size, "%s: empty value", source);
        return STS_EIO;
    }
    if (strchr(v, '\n') != NULL) {
        snprintf(why, why_size, "%s: more than one line", source);
        return STS_EIO;
    }
    if (n > AGENT_FACT_MAX) {
        snprintf(why, why_size, "%s: longer than %d characters", source, AGENT_FACT_MAX);
        return STS_ETOOBIG;
    }
    memcpy(out, v, n + 1);
    return STS_OK;
}

/* Finds key in text made of `KEY=VALUE` lines (blanks around both ignored,
 * one pair of matching quotes around the value removed, `#` comment lines
 * skipped); text is changed in place. Returns the value or NULL. */
static char *find_key(char *text, const char *key)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *s = trim(line);
        if (s[0] == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        if (strcmp(trim(s), key) != 0)
            continue;
        char *v = trim(eq + 1);
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        return v;
    }
    return NULL;
}

static enum sts_err read_text(const char *path, size_t max, char **text, char *why, size_t why_size)
{
    size_t len = 0;
    enum sts_err rc = agent_file_read(path, max, text, &len);
    if (rc == STS_OK && strlen(*text) != len) {
        free(*text);
        *text = NULL;
        snprintf(why, why_size, "%s: contains a NUL byte", path);
        return STS_EIO;
    }
    if (rc != STS_OK)
        snprintf(why, why_size, "%s: %s", path,
                 rc == STS_ENOENT    ? "no such file"
                 : rc == STS_ETOOBIG ? "too large"
                                     : strerror(errno));
    return rc == STS_OK ? STS_OK : STS_EIO;
}

static enum sts_err from_kv_file(const char *path, const char *const keys[], size_t nkeys,
                                 char out[static AGENT_FACT_MAX + 1], char *why, size_t why_size)
{
    char *text = NULL;
    enum sts_err rc = read_text(path, FACT_FILE_MAX, &text, why, why_size);
    if (rc != STS_OK)
        return rc;
    char source[320];
    rc = STS_EIO;
    for (size_t i = 0; i < nkeys; i++) {
        /* find_key cuts the text up: search a fresh copy for each key. */
        char *copy = strdup(text);
        if (copy == NULL) {
            rc = STS_ENOMEM;
            break;
        }
        char *v = find_key(copy, keys[i]);
        if (v != NULL) {
            snprintf(source, sizeof source, "%s#%s", path, keys[i]);
            rc = put_value(v, out, why, why_size, source);
            free(copy);
            goto out;
        }
        free(copy);
    }
    if (rc == STS_EIO)
        snprintf(why, why_size, "%s: no %s%s line", path, keys[0],
                 nkeys > 1 ? " (nor the alternatives)" : "");
out:
    free(text);
    return rc;
}

enum sts_err agent_fact_command(char *const argv[], long timeout_ms, char *out, size_t cap,
                                char *why, size_t why_size)
{
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    size_t used = 0;
    bool too_big = false, timed_out = false;
    int status = 0;

    out[0] = '\0';
    if (pipe(pipefd) != 0 || fcntl(pipefd[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(pipefd[1], F_SETFD, FD_CLOEXEC) != 0) {
        /* pipe() failed, or both ends exist and must be closed. */
        if (fcntl(pipefd[0], F_GETFD) >= 0) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        snprintf(why, why_size, "%s: cannot make a pipe: %s", argv[0], strerror(errno));
        return STS_EIO;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (e != 0) {
        close(pipefd[0]);
        snprintf(why, why_size, "%s: cannot run: %s", argv[0], strerror(e));
        return STS_EIO;
    }

    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            timed_out = r == 0;
            break;
        }
        char buf[1024];
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n;
        if (take > cap - 1 - used) {
            take = cap - 1 - used;
            too_big = true;
        }
        memcpy(out + used, buf, take);
        used += take;
        out[used] = '\0';
        if (too_big)
            break;
    }
    close(pipefd[0]);
    /* Output done (or given up): the command gets what is left of its time
     * to exit, then it is killed. */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (timed_out || too_big || mono_ms() >= deadline) {
            timed_out = timed_out || !too_big;
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (too_big) {
        snprintf(why, why_size, "%s: more than %zu bytes of output", argv[0], cap - 1);
        return STS_ETOOBIG;
    }
    if (timed_out) {
        snprintf(why, why_size, "%s: no answer within %ld ms (fact_timeout_ms); killed", argv[0],
                 timeout_ms);
        return STS_EIO;
    }
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 127)
            snprintf(why, why_size, "%s: not found", argv[0]);
        else if (status != -1 && WIFEXITED(status))
            snprintf(why, why_size, "%s: exited with status %d", argv[0], WEXITSTATUS(status));
        else
            snprintf(why, why_size, "%s: killed by a signal", argv[0]);
        return STS_EIO;
    }
    return STS_OK;
}

/* Splits line on blanks into argv (no quoting, no globbing, no variables). */
static size_t split_words(char *line, char *argv[], size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t", &save); w != NULL && n + 1 < max;
         w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    argv[n] = NULL;
    return n;
}

static enum sts_err from_command(char *const argv[], long timeout_ms,
                                 char out[static AGENT_FACT_MAX + 1], char *why, size_t why_size)
{
    char text[FACT_CMD_MAX + 1];
    enum sts_err rc = agent_fact_command(argv, timeout_ms, text, sizeof text, why, why_size);
    if (rc != STS_OK)
        return rc;
    return put_value(text, out, why, why_size, argv[0]);
}

/* The modem's equipment identifier (its IMEI) from ModemManager. Only the
 * line "modem.generic.equipment-identifier : VALUE" is looked at. */
static enum sts_err from_mmcli(long timeout_ms, char out[static AGENT_FACT_MAX + 1], char *why,
                               size_t why_size)
{
    static const char key[] = "modem.generic.equipment-identifier";
    char *argv[] = {"mmcli", "-m", "any", "--output-keyvalue", NULL};
    char *text = malloc(FACT_MMCLI_MAX + 1);
    if (text == NULL)
        return STS_ENOMEM;
    enum sts_err rc = agent_fact_command(argv, timeout_ms, text, FACT_MMCLI_MAX + 1, why, why_size);
    if (rc == STS_OK) {
        char *save = NULL;
        rc = STS_EIO;
        snprintf(why, why_size, "mmcli: no %s in its output (no modem?)", key);
        for (char *line = strtok_r(text, "\n", &save); line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            char *s = trim(line);
            if (strncmp(s, key, sizeof key - 1) != 0)
                continue;
            char *v = trim(s + sizeof key - 1);
            if (*v != ':')
                continue;
            v = trim(v + 1);
            if (strcmp(v, "--") == 0) /* mmcli's "no value" */
                break;
            rc = put_value(v, out, why, why_size, "mmcli");
            break;
        }
    }
    free(text);
    return rc;
}

enum sts_err agent_fact_read(const struct agent_config *cfg, enum agent_fact_id id,
                             char out[static AGENT_FACT_MAX + 1], char *why, size_t why_size)
{
    const struct agent_fact_source *src = &cfg->facts[id];
    const char *name = agent_fact_name(id);
    char path[512];
    out[0] = '\0';
    if (why_size > 0)
        why[0] = '\0';

    switch (src->provider) {
    case AGENT_PROVIDER_NONE:
        snprintf(why, why_size, "not configured: add '%s = ...' to %s", name,
                 cfg->path ? cfg->path : "the config file");
        return STS_ENOENT;
    case AGENT_PROVIDER_LITERAL:
        if (strlen(src->arg) > AGENT_FACT_MAX) {
            snprintf(why, why_size, "longer than %d characters (%s line %u)", AGENT_FACT_MAX,
                     cfg->path ? cfg->path : "config", src->line);
            return STS_ETOOBIG;
        }
        memcpy(out, src->arg, strlen(src->arg) + 1);
        return STS_OK;
    case AGENT_PROVIDER_FILE: {
        const char *keys[] = {src->key};
        return from_kv_file(src->arg, keys, 1, out, why, why_size);
    }
    case AGENT_PROVIDER_OS_RELEASE: {
        static const char *const keys[] = {"VERSION_ID", "BUILD_ID"};
        enum sts_err rc = from_kv_file(src->arg, keys, 2, out, why, why_size);
        /* The standard fallback location, when the default one is missing. */
        if (rc != STS_OK && strcmp(src->arg, "/etc/os-release") == 0 &&
            access("/etc/os-release", F_OK) != 0)
            rc = from_kv_file("/usr/lib/os-release", keys, 2, out, why, why_size);
        return rc;
    }
    case AGENT_PROVIDER_DMI: {
        /* One file per fact, and no other: the DMI table also holds serial
         * numbers and a UUID, which are never read. */
        const char *file = id == AGENT_FACT_BRAND ? "sys_vendor" : "product_name";
        char *text = NULL;
        snprintf(path, sizeof path, "%s/%s", src->arg, file);
        enum sts_err rc = read_text(path, 4096, &text, why, why_size);
        if (rc != STS_OK)
            return rc;
        rc = put_value(text, out, why, why_size, path);
        free(text);
        return rc;
    }
    case AGENT_PROVIDER_CMD: {
        char line[1024];
        char *argv[FACT_ARGV_MAX + 1];
        snprintf(line, sizeof line, "%s", src->arg);
        if (split_words(line, argv, FACT_ARGV_MAX + 1) == 0) {
            snprintf(why, why_size, "cmd: empty command");
            return STS_EIO;
        }
        return from_command(argv, cfg->fact_timeout_ms, out, why, why_size);
    }
    case AGENT_PROVIDER_GETPROP: {
        char *argv[] = {"getprop", src->arg, NULL};
        enum sts_err rc = from_command(argv, cfg->fact_timeout_ms, out, why, why_size);
        if (rc == STS_EIO && strstr(why, "empty value") != NULL)
            snprintf(why, why_size, "getprop %s: property not set", src->arg);
        return rc;
    }
    case AGENT_PROVIDER_MMCLI: return from_mmcli(cfg->fact_timeout_ms, out, why, why_size);
    }
    snprintf(why, why_size, "unknown provider");
    return STS_EIO;
}

enum sts_err agent_facts_gather(const struct agent_config *cfg, unsigned need,
                                struct agent_facts *out, char *problems, size_t problems_size,
                                struct sts_field_error *err)
{
    enum sts_err first = STS_OK;
    size_t used = 0;
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (problems != NULL && problems_size > 0)
        problems[0] = '\0';
    need |= AGENT_NEED(AGENT_FACT_COUNTRY);
    for (int i = 0; i < AGENT_FACT_COUNT; i++) {
        enum agent_fact_id id = (enum agent_fact_id)i;
        char why[sizeof err->detail];
        bool optional = id == AGENT_FACT_COUNTRY;
        if (!(need & AGENT_NEED(id)))
            continue;
        if (optional && cfg->facts[i].provider == AGENT_PROVIDER_NONE)
            continue;
        enum sts_err rc = agent_fact_read(cfg, id, slot(out, id), why, sizeof why);
        if (rc == STS_OK)
            continue;
        slot(out, id)[0] = '\0';
        if (problems != NULL && used < problems_size) {
            int w = snprintf(problems + used, problems_size - used, "%s%s: %s", used ? "; " : "",
                             agent_fact_name(id), why);
            if (w > 0)
                used += (size_t)w;
        }
        if (!optional && first == STS_OK) {
            first = rc;
            snprintf(err->field, sizeof err->field, "%s", agent_fact_name(id));
            snprintf(err->detail, sizeof err->detail, "%s", why);
        }
    }
    return first;
}

enum sts_err agent_facts_collect(const struct agent_config *cfg, struct agent_facts *out,
                                 struct sts_field_error *err)
{
    return agent_facts_gather(cfg, AGENT_NEED_ACTIVATION, out, NULL, 0, err);
}
