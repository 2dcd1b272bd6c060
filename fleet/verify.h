/* The oracle: fetches the collector's released sales figures (GET
 * /v1/stats/sales by month, with the statistics token) and judges them
 * against the fleet's ground truth over the closed months only (the answer's
 * "release.through_month"). Released figures are noisy, so the oracle checks
 * what the release promises instead of equality: accuracy targets,
 * calibration of the 95 % intervals, and that nothing is shown whose truth is
 * zero or whose period is still open. See docs/fleet.md. */
#ifndef FLEET_VERIFY_H
#define FLEET_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "sim.h"
#include "sts/err.h"

/* Calibration of one kind of figure: how many true values were compared with
 * a published 95 % interval, and how many fell inside. */
struct fleet_calib {
    long n, inside;
};

/* The acceptance band of a calibration: the share inside must lie in
 * [*lo, *hi] (see fleet_calib_ok). */
void fleet_calib_band(long n, double *lo, double *hi);

/* Whether c is inside its band; an empty calibration passes (nothing to
 * judge) and is reported as such by the caller. */
bool fleet_calib_ok(const struct fleet_calib *c);

/* Prints "  what: inside/n = share (band lo..hi) ok|OUT OF BAND" to out. */
void fleet_calib_print(FILE *out, const char *what, const struct fleet_calib *c);

/* What the sales oracle judges and what it found. */
struct fleet_sales_check {
    long min_cell;     /* accuracy over month x model cells of at least this truth (50) */
    double median_tol; /* their median relative error must not exceed this (0.02) */
    double cal_factor; /* calibration counts cells whose truth (each part's, for a
                          sum of released cells) is at least this times the threshold */
};

struct fleet_sales_result {
    struct fleet_calib cal; /* over the calibrated cells */
    double median_rel;      /* month x model cells >= min_cell; -1 if none */
    long accuracy_cells;    /* how many */
    long shown_zero;        /* shown cells whose truth is 0 */
    long shown_open;        /* shown cells of a period not closed */
    bool ok;                /* accuracy and sanity hold (calibration judged apart) */
};

/* The defaults above. */
void fleet_sales_check_defaults(struct fleet_sales_check *c);

/* Judges one sales answer (body, NUL-terminated, of GET
 * /v1/stats/sales?by=BY&period=month with BY "model", "brand,model" or
 * "country") against the truth and prints a line per figure to out. Results
 * are added into *res (res->ok is and-ed: set it true first). Pure apart from
 * the printing, so tests can feed it answers.
 * Errors: STS_ECORRUPT (the answer is not the expected JSON; msg says why),
 * STS_EINVAL (an unknown by), STS_ENOMEM. */
enum sts_err fleet_compare(const struct fleet *f, const char *by, const char *body,
                           const struct fleet_sales_check *chk, FILE *out,
                           struct fleet_sales_result *res, char *msg, size_t msg_size);

/* Fetches the sales answers by model, by brand and model and by country,
 * monthly, from collector with token and judges each (see fleet_compare).
 * Errors: STS_ENET (no or unexpected HTTP answer; msg says which),
 * STS_ECORRUPT, STS_ENOMEM. */
enum sts_err fleet_verify(const struct fleet *f, const char *collector, const char *token,
                          long timeout_ms, const struct fleet_sales_check *chk, FILE *out,
                          struct fleet_sales_result *res, char *msg, size_t msg_size);

#endif
