/* The fleet's lifetime law: how long each simulated device stays in use, and
 * the anonymous monthly lifetime pings it sends while it does.
 *
 * Each device retires after a lifetime drawn from a Weibull(shape, scale)
 * law of its model (months). Its owner allows lifetime pings with a given
 * probability, some of them only some months after the activation (late
 * consent). Every month the device is in use and has consent it pings at a
 * random moment of the month; some months it misses: the ping is then either
 * sent late (after the month, within the grace window, still naming its
 * month) or lost. The ping of the month the device joined the panel carries
 * first=true (if that one is lost, no ping does). Software versions
 * roll out over the simulated months, so later pings name newer versions.
 *
 * Time is simulated: everything up to today is computed at once and sent as
 * fast as the collector takes it. Everything is a pure function of the seed
 * and the device, so the ground truth is computed from the very same draws.
 * Thread-safe: read-only after fleet_life_init. */
#ifndef FLEET_LIFE_H
#define FLEET_LIFE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "drive.h"
#include "sim.h"
#include "sts/err.h"
#include "verify.h"

#define FLEET_LIFE_MAX_MODELS 16
#define FLEET_LIFE_MAX_AGE    240

struct fleet_life_law {
    char model[STS_TEXT_MAX + 1];
    double shape, scale; /* Weibull; scale in months */
};

struct fleet_life {
    uint64_t seed;
    int32_t today;    /* day */
    double consent;   /* share of owners allowing lifetime pings */
    double late;      /* share of those who allow them only later */
    int late_max;     /* months after activation, 1..late_max */
    double miss;      /* chance a month's ping is not sent on time */
    double late_ping; /* share of the missed ones sent late */
    int grace_days;   /* late pings arrive within this many days */
    struct fleet_life_law law[FLEET_LIFE_MAX_MODELS];
    size_t nlaw;
};

/* Defaults: consent 0.7, late 0.2 within 6 months, miss 0.05 of which half
 * are sent late within 7 days, and a Weibull law per model of the catalogue. */
void fleet_life_defaults(struct fleet_life *l, uint64_t seed, int32_t today);

/* Parses "MODEL:SHAPE:SCALE[,MODEL:SHAPE:SCALE...]" and sets those laws.
 * Errors: STS_EINVAL (unknown model or bad numbers). */
enum sts_err fleet_life_set_laws(struct fleet_life *l, const char *spec);

/* One ping of one device. */
struct fleet_ping {
    int32_t period; /* month */
    bool first;
    const char *sw; /* static storage */
};

/* What one device does: its cohort, whether it is in use at the ping moment of
 * each month from its activation month to today's month (alive[age]), and
 * the pings it sends (period order). */
struct fleet_life_dev {
    int32_t cohort;
    int nages; /* ages 0..nages-1 of alive[] are up to today */
    bool alive[FLEET_LIFE_MAX_AGE + 1];
    struct fleet_ping ping[FLEET_LIFE_MAX_AGE + 1];
    int npings;
    double lifetime; /* months */
};

/* Computes device i of f. */
void fleet_life_device(const struct fleet_life *l, const struct fleet *f, size_t i,
                       struct fleet_life_dev *out);

/* Sends every device's pings with the agent's sender and retry policy.
 * Errors: STS_ENOMEM, STS_ENET (no sender thread could start). */
enum sts_err fleet_life_drive(const struct fleet_life *l, const struct fleet *f,
                              const struct fleet_drive_opts *opts, struct fleet_counts *counts);

/* How the oracle judges the released lifetime and version figures (closed
 * months only): survival within tol of the fleet's truth at every age at
 * least min_n devices of the model reached, the median within median_tol
 * (relative) there; version shares within share_tol in every (month, model)
 * group of at least min_group pings. Calibration: survival values and
 * medians against the panel's exact curve (the collector's estimator on the
 * noise-free counts: the intervals cover the release's noise, not the
 * sampling of who consents) at ages whose panel holds at least cal_min_panel
 * pings; version shares of the (month, model) groups whose versions each
 * have no ping or at least cal_factor x the table's threshold. */
struct fleet_life_check {
    double tol, median_tol;
    long min_n;
    double share_tol;
    long min_group;
    long cal_min_panel;
    double cal_factor;
};

/* tol 0.03, median_tol 0.05, min_n 1000, share_tol 0.02, min_group 50,
 * cal_min_panel 200, cal_factor 2. */
void fleet_life_check_defaults(struct fleet_life_check *c);

/* What the lifetime oracle found; fields are added to (ok is and-ed). */
struct fleet_life_result {
    struct fleet_calib survival, medians, shares;
    double survival_worst, share_worst;
    long medians_checked, share_checked, share_out;
    long shown_zero, shown_open;
    bool ok; /* accuracy and sanity (calibration judged apart) */
};

/* Judges the collector's lifetime answer (GET /v1/stats/lifetime?by=model,
 * body) and versions answer (GET /v1/stats/versions) against the truth,
 * printing every figure checked. Errors: STS_ECORRUPT (msg says why),
 * STS_ENOMEM. */
enum sts_err fleet_life_compare(const struct fleet_life *l, const struct fleet *f,
                                const struct fleet_life_check *chk, const char *life_body,
                                const char *versions_body, FILE *out, struct fleet_life_result *res,
                                char *msg, size_t msg_size);

/* Fetches both answers with token and judges them. Errors: STS_ENET,
 * STS_ECORRUPT, STS_ENOMEM. */
enum sts_err fleet_life_verify(const struct fleet_life *l, const struct fleet *f,
                               const struct fleet_life_check *chk, const char *collector,
                               const char *token, long timeout_ms, FILE *out,
                               struct fleet_life_result *res, char *msg, size_t msg_size);

#endif
