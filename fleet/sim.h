/* The simulated fleet: N devices drawn deterministically from a seed — brand,
 * model, software version, country, the owner's country consent, activation
 * day on a sales curve, and a few factory resets (re-activations) — plus the
 * ground truth the collector's figures must match.
 *
 * Same seed, device count, months and today: same fleet, byte for byte (the
 * report_ids excepted, which are drawn fresh when reports are built).
 * Ownership: a struct fleet owns its device array; fleet_cleanup() frees it.
 * Not thread-safe while generating; read-only use afterwards is. */
#ifndef FLEET_SIM_H
#define FLEET_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "facts.h"
#include "sts/err.h"

#define FLEET_MAX_DEVICES 1000000

struct fleet_device {
    struct agent_facts facts;        /* imei, brand, model, sw, country */
    bool consent;                    /* the owner lets the country be sent */
    int32_t day;                     /* activation day */
    int32_t react_day;               /* factory reset: day of the re-activation, 0 if none */
    char react_sw[STS_TEXT_MAX + 1]; /* software after the reset */
};

struct fleet {
    struct fleet_device *dev;
    size_t n;
    size_t reactivations;
    int32_t first_day, last_day;
};

/* A small deterministic generator (splitmix64). */
struct fleet_rng {
    uint64_t s;
};
uint64_t fleet_rng_next(struct fleet_rng *r);
/* Uniform in [0, 1). */
double fleet_rng_unit(struct fleet_rng *r);

/* Draws n devices (1..FLEET_MAX_DEVICES) activated over the `months` months
 * that end on today. Errors: STS_EINVAL (n or months out of range), STS_ENOMEM. */
enum sts_err fleet_generate(uint64_t seed, size_t n, int months, int32_t today, struct fleet *out);

void fleet_cleanup(struct fleet *f);

/* The catalogue: writes up to max model names to out and returns how many
 * models there are. */
size_t fleet_models(const char **out, size_t max);

/* The software versions of model, oldest first: writes up to max of them to
 * out and returns how many there are (0 for an unknown model). The strings
 * are static. */
size_t fleet_model_versions(const char *model, const char **out, size_t max);

/* One cell of the ground truth. key is the model or country; "" stands for
 * "no country" (the owner did not consent). */
struct fleet_cell {
    char key[STS_TEXT_MAX + 1];
    long long activations;
    long long reactivations;
};

enum fleet_dim { FLEET_BY_MODEL, FLEET_BY_COUNTRY };

/* The truth for one dimension: *cells (free()) sorted by key, *count of them.
 * A re-activation counts in the cell of its device. Errors: STS_ENOMEM. */
enum sts_err fleet_truth(const struct fleet *f, enum fleet_dim dim, struct fleet_cell **cells,
                         size_t *count);

#endif
