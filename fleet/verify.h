/* The oracle: fetches the collector's sales figures (GET
 * /v1/stats/sales?by=model and ?by=country, with the statistics token) and
 * compares them with the fleet's ground truth, cell by cell and in total,
 * printing both side by side. Counts the collector hides under its privacy
 * floor k are checked too: every true count under k must be hidden (the floor
 * holds), a hidden count at or above k is taken as complementary suppression,
 * and what is hidden must add up to the total minus what is shown. */
#ifndef FLEET_VERIFY_H
#define FLEET_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "sim.h"
#include "sts/err.h"

/* Compares one dimension given the collector's JSON answer (body, NUL-
 * terminated) and prints the table to out. Sets *equal. Pure apart from the
 * printing, so tests can feed it answers.
 * Errors: STS_ECORRUPT (the answer is not the expected JSON; msg says why),
 * STS_ENOMEM. */
enum sts_err fleet_compare(const struct fleet *f, enum fleet_dim dim, const char *body, FILE *out,
                           bool *equal, char *msg, size_t msg_size);

/* Fetches both dimensions from collector with token and compares them.
 * Errors: STS_ENET (no or unexpected HTTP answer; msg says which),
 * STS_ECORRUPT, STS_ENOMEM. */
enum sts_err fleet_verify(const struct fleet *f, const char *collector, const char *token,
                          long timeout_ms, FILE *out, bool *equal, char *msg, size_t msg_size);

#endif
