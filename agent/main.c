/* sts-agent: the command line. Parses arguments, loads the configuration and
 * hands over to run.c (run) or owner.c (status, preview, consent). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "messages.h"
#include "owner.h"
#include "run.h"
#include "sts/clock.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: sts-agent COMMAND [OPTIONS]\n"
                 "\n"
                 "The STS device agent: sends this device's activation report once, keeps\n"
                 "retrying until the collector holds it, sends at most one anonymous lifetime\n"
                 "ping a month if the owner consents, and shows the owner what was sent.\n"
                 "\n"
                 "Commands:\n"
                 "  run [--once]             send what is due; without --once keep running,\n"
                 "                           sleeping until the next due time, and exit once\n"
                 "                           nothing is left to do (or on SIGTERM/SIGINT)\n"
                 "  status [--json]          consents, every report sent (time, exact payload,\n"
                 "                           answer), pending reports and next attempt, errors\n"
                 "  preview                  the exact JSON that would be sent next\n"
                 "  consent show             the owner's consents\n"
                 "  consent country on|off   send the country or not (not retroactive)\n"
                 "  consent lifetime on|off  monthly anonymous lifetime pings; off deletes\n"
                 "                           pending pings at once and sends nothing\n"
                 "  retry                    send again, unchanged (same report_id), a report\n"
                 "                           the collector refused\n"
                 "\n"
                 "Options:\n"
                 "  --config FILE            configuration file (default " AGENT_CONFIG_DEFAULT_PATH
                 ")\n"
                 "  --help                   this text\n"
                 "  --version                the version\n"
                 "\n"
                 "Exit status: 0 success, 1 runtime failure, 2 usage error.\n"
                 "Configuration keys: see docs/agent.md (transport = direct | ohttp sends\n"
                 "through an Oblivious HTTP relay, so the collector never sees the address).\n");
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "sts-agent: %s%s%s\nTry 'sts-agent --help'.\n", what, arg ? ": " : "",
            arg ? arg : "");
    return 2;
}

int main(int argc, char **argv)
{
    const char *config_path = AGENT_CONFIG_DEFAULT_PATH;
    const char *command = NULL;
    char *args[4];
    int nargs = 0;
    bool once = false, json = false;
    char why[160];

    /* Test clocks are read here, once, before any thread starts. */
    if (sts_clock_init(why, sizeof why) != STS_OK) {
        fprintf(stderr, "sts-agent: %s\n", why);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("sts-agent %s\n", STS_VERSION);
            return 0;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return usage_error("--config needs a FILE", NULL);
            config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strcmp(a, "--once") == 0) {
            once = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-') {
            return usage_error("unknown option", a);
        } else if (command == NULL) {
            command = a;
        } else if (nargs < (int)(sizeof args / sizeof args[0])) {
            args[nargs++] = argv[i];
        } else {
            return usage_error("too many arguments", a);
        }
    }
    if (command == NULL)
        return usage_error("a command is needed (run, status, preview, consent, retry)", NULL);

    bool is_run = strcmp(command, "run") == 0;
    bool is_status = strcmp(command, "status") == 0;
    bool is_preview = strcmp(command, "preview") == 0;
    bool is_consent = strcmp(command, "consent") == 0;
    bool is_retry = strcmp(command, "retry") == 0;
    if (!is_run && !is_status && !is_preview && !is_consent && !is_retry)
        return usage_error("unknown command", command);
    if (once && !is_run)
        return usage_error("--once goes with 'run'", NULL);
    if (json && !is_status)
        return usage_error("--json goes with 'status'", NULL);
    if (nargs > 0 && !is_consent)
        return usage_error("unexpected argument", args[0]);
    if (is_consent && nargs == 0)
        return usage_error("consent needs 'show', 'country on|off' or 'lifetime on|off'", NULL);

    agent_msg_set_lang(agent_msg_lang_from_env());
    struct agent_config cfg;
    char msg[512];
    agent_config_init(&cfg);
    if (agent_config_load(config_path, &cfg, msg, sizeof msg) != STS_OK) {
        fprintf(stderr, "sts-agent: %s\n", msg);
        return 1;
    }

    int status;
    if (is_run) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal; /* no SA_RESTART: sleeps end at once */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        status = agent_run(&cfg, once, &stop_requested);
    } else if (is_status) {
        status = agent_owner_status(&cfg, json);
    } else if (is_preview) {
        status = agent_owner_preview(&cfg);
    } else if (is_retry) {
        status = agent_owner_retry(&cfg);
    } else {
        status = agent_owner_consent(&cfg, nargs, args);
    }
    agent_config_cleanup(&cfg);
    return status;
}
