/* Table and CSV renderings of the statistics' JSON documents, so that every
 * format shows the same released figures. CSV (RFC 4180) keeps apart what a
 * reader must not confuse: a value that is not published is an empty field,
 * the owners who gave no country are "-", and every figure has its 95 %
 * interval in the two columns after it (_low, _high). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "stats_impl.h"

/* RFC 4180: quote a field only if it needs it. */
void stats_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void stats_print_aligned(FILE *out, const char *const *cells, size_t nrows, size_t ncol,
                         const bool *numeric, size_t footer)
{
    size_t *width = calloc(ncol ? ncol : 1, sizeof *width), line = 0;
    if (!width)
        return;
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncol; c++)
            if (strlen(cells[r * ncol + c]) > width[c])
                width[c] = strlen(cells[r * ncol + c]);
    for (size_t c = 0; c < ncol; c++)
        line += width[c] + (c ? 2 : 0);
    for (size_t r = 0; r < nrows; r++) {
        if (r == 1 || (footer && r == nrows - footer)) {
            for (size_t i = 0; i < line; i++)
                fputc('-', out);
            fputc('\n', out);
        }
        for (size_t c = 0; c < ncol; c++) {
            const char *s = cells[r * ncol + c];
            if (c + 1 == ncol && !numeric[c])
                fprintf(out, "%s%s", c ? "  " : "", s); /* no trailing blanks */
            else
                fprintf(out, "%s%*s", c ? "  " : "", numeric[c] ? (int)width[c] : -(int)width[c],
                        s);
        }
        fputc('\n', out);
    }
    free(width);
}

/* A column of a flat row: its JSON key and how it is written. */
enum kind { TEXT, DIM, COUNT, SHARE, NUMBER };
struct col {
    const char *key;
    enum kind kind;
    bool ci; /* the row has key_ci = [low, high] */
};

/* Writes one value into buf: table or CSV spelling. */
static void fmt_value(char *buf, size_t cap, json_t *v, enum kind kind, bool csv)
{
    if (kind == DIM && json_is_null(v)) {
        snprintf(buf, cap, "-"); /* no country: the owner did not consent */
    } else if (json_is_string(v)) {
        snprintf(buf, cap, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_number(v)) {
        double x = json_number_value(v);
        if (kind == SHARE && !csv)
            snprintf(buf, cap, "%.1f", 100.0 * x);
        else
            snprintf(buf, cap, kind == SHARE ? "%.4f" : "%.2f", x);
    } else {
        snprintf(buf, cap, "%s", csv ? "" : "*"); /* not published */
    }
}

static void fmt_ci(char *buf, size_t cap, json_t *ci, enum kind kind, bool csv, int side)
{
    if (!json_is_array(ci) || json_array_size(ci) != 2) {
        snprintf(buf, cap, "%s", csv ? "" : "");
        return;
    }
    if (csv) {
        fmt_value(buf, cap, json_array_get(ci, (size_t)side), kind, true);
        return;
    }
    char lo[32], hi[32];
    fmt_value(lo, sizeof lo, json_array_get(ci, 0), kind, false);
    fmt_value(hi, sizeof hi, json_array_get(ci, 1), kind, false);
    snprintf(buf, cap, "%s-%s", lo, hi);
}

/* Renders rows (an array of flat objects) with the given columns; extra is
 * one more row (e.g. the total) or NULL. */
static void render_rows(FILE *out, json_t *rows, json_t *extra, const char *extra_label,
                        const struct col *cols, size_t ncols, bool csv)
{
    size_t nout = 0;
    for (size_t c = 0; c < ncols; c++)
        nout += cols[c].ci ? (csv ? 3 : 2) : 1;
    size_t nrows = json_array_size(rows) + 1 + (extra ? 1 : 0);
    const char **cells = calloc(nrows * nout, sizeof *cells);
    char(*buf)[64] = calloc(nrows * nout, sizeof *buf);
    bool *numeric = calloc(nout, sizeof *numeric);
    if (!cells || !buf || !numeric)
        goto out;
    size_t o = 0;
    for (size_t c = 0; c < ncols; c++) {
        bool num = cols[c].kind >= COUNT;
        snprintf(buf[o], sizeof buf[0], "%s%s", cols[c].key,
                 cols[c].kind == SHARE && !csv ? "%" : "");
        cells[o] = buf[o];
        numeric[o++] = num;
        if (cols[c].ci) {
            if (csv) {
                snprintf(buf[o], sizeof buf[0], "%s_low", cols[c].key);
                cells[o] = buf[o];
                numeric[o++] = true;
                snprintf(buf[o], sizeof buf[0], "%s_high", cols[c].key);
            } else {
                snprintf(buf[o], sizeof buf[0], "95%%");
            }
            cells[o] = buf[o];
            numeric[o++] = true;
        }
    }
    for (size_t r = 1; r < nrows; r++) {
        json_t *row = r <= json_array_size(rows) ? json_array_get(rows, r - 1) : extra;
        o = r * nout;
        for (size_t c = 0; c < ncols; c++) {
            json_t *v = json_object_get(row, cols[c].key);
            if (row == extra && cols[c].kind <= DIM)
                snprintf(buf[o], sizeof buf[0], "%s", c == 0 ? extra_label : "");
            else
                fmt_value(buf[o], sizeof buf[0], v, cols[c].kind, csv);
            cells[o] = buf[o];
            o++;
            if (cols[c].ci) {
                char name[48];
                snprintf(name, sizeof name, "%s_ci", cols[c].key);
                json_t *ci = json_object_get(row, name);
                fmt_ci(buf[o], sizeof buf[0], ci, cols[c].kind, csv, 0);
                cells[o] = buf[o];
                o++;
                if (csv) {
                    fmt_ci(buf[o], sizeof buf[0], ci, cols[c].kind, csv, 1);
                    cells[o] = buf[o];
                    o++;
                }
            }
        }
    }
    if (csv) {
        for (size_t r = 0; r < nrows; r++)
            for (size_t c = 0; c < nout; c++) {
                stats_csv_field(out, cells[r * nout + c]);
                fputs(c + 1 < nout ? "," : "\r\n", out);
            }
    } else {
        stats_print_aligned(out, cells, nrows, nout, numeric, extra ? 1 : 0);
    }
out:
    free(cells);
    free(buf);
    free(numeric);
}

static size_t dim_cols(const json_t *doc, struct col *cols)
{
    size_t n = 0, i;
    json_t *d;
    json_array_foreach(json_object_get(doc, "by"), i, d) cols[n++] =
        (struct col){json_string_value(d), DIM, false};
    return n;
}

static void release_note(FILE *out, const json_t *doc)
{
    json_t *rel = json_object_get(doc, "release");
    fprintf(out,
            "Figures from the differentially private release (rho = %.3g per device and month), "
            "closed periods through %s; only figures of at least %lld are shown. 95%%: the "
            "interval that holds the true figure 19 times out of 20.\n",
            json_number_value(json_object_get(rel, "rho_per_month")),
            json_string_value(json_object_get(rel, "through_day")),
            (long long)json_integer_value(json_object_get(doc, "k")));
}

static void render_sales(const json_t *doc, bool csv, FILE *out)
{
    struct col cols[NDIM + 6];
    size_t n = 0;
    json_t *rows = json_object_get(doc, "rows"), *first = json_array_get(rows, 0);
    bool period = json_is_string(json_object_get(doc, "period"));
    if (period)
        cols[n++] = (struct col){"period", TEXT, false};
    n += dim_cols(doc, cols + n);
    cols[n++] = (struct col){"activations", COUNT, true};
    json_t *total = json_object_get(doc, "total");
    if (json_object_get(total, "reactivations"))
        cols[n++] = (struct col){"reactivations", COUNT, true};
    if (first && json_object_get(first, "cumulative"))
        cols[n++] = (struct col){"cumulative", COUNT, true};
    bool parts = first && json_object_get(first, "parts_not_shown");
    if (parts)
        cols[n++] = (struct col){"parts_not_shown", NUMBER, false};
    if (!csv)
        release_note(out, doc);
    render_rows(out, rows, csv ? NULL : total, "total", cols, n, csv);
    if (!csv && json_is_integer(json_object_get(total, "not_shown")) &&
        json_is_integer(json_object_get(total, "activations")))
        fprintf(out, "%lld of the total are in figures too small to show.\n",
                (long long)json_integer_value(json_object_get(total, "not_shown")));
    if (!csv && parts)
        fputs("parts_not_shown: how many parts of a row (a model's brands, say) are shown in "
              "other periods but too small to show in this one; the row adds up the others.\n",
              out);
}

static void render_versions(const json_t *doc, bool csv, FILE *out)
{
    static const struct col cols[] = {{"period", TEXT, false},
                                      {"model", TEXT, false},
                                      {"sw", TEXT, false},
                                      {"pings", COUNT, true},
                                      {"share", SHARE, true}};
    if (!csv)
        release_note(out, doc);
    render_rows(out, json_object_get(doc, "rows"), NULL, NULL, cols, 5, csv);
    if (csv)
        return;
    static const struct col spread[] = {{"model", TEXT, false},
                                        {"sw", TEXT, false},
                                        {"first_seen", TEXT, false},
                                        {"half_share", TEXT, false},
                                        {"months_to_half", NUMBER, false}};
    fputs("\nHow fast each version spread (months from first seen to half of its model's "
          "pings)\n",
          out);
    render_rows(out, json_object_get(doc, "spread"), NULL, NULL, spread, 5, false);
}

/* Lifetime: one line per group (or cohort) and age, pooled curves as cohort
 * "all"; the table shows the medians and a few ages, the CSV every age. */
static void render_lifetime(const json_t *doc, bool csv, FILE *out)
{
    json_t *lines = json_array(), *groups = json_object_get(doc, "groups"), *g;
    size_t gi;
    struct col cols[NDIM + 8];
    size_t n = dim_cols(doc, cols);
    if (!lines)
        return;
    cols[n++] = (struct col){"cohort", TEXT, false};
    cols[n++] = (struct col){"size", COUNT, true};
    cols[n++] = (struct col){"median", NUMBER, true};
    if (csv) {
        cols[n++] = (struct col){"age", NUMBER, false};
        cols[n++] = (struct col){"survival", SHARE, true};
    } else {
        cols[n++] = (struct col){"6m", SHARE, false};
        cols[n++] = (struct col){"12m", SHARE, false};
        cols[n++] = (struct col){"24m", SHARE, false};
    }
    json_array_foreach(groups, gi, g)
    {
        json_t *src[1 + 1024];
        size_t nsrc = 0, ci;
        json_t *c;
        src[nsrc++] = g;
        json_array_foreach(json_object_get(g, "cohorts"), ci, c) if (nsrc < 1025) src[nsrc++] = c;
        for (size_t s = 0; s < nsrc; s++) {
            json_t *surv = json_object_get(src[s], "survival");
            json_t *sci = json_object_get(src[s], "survival_ci");
            size_t ages = csv ? json_array_size(surv) : 1;
            for (size_t a = 0; a < ages; a++) {
                json_t *line = json_object();
                size_t di;
                json_t *d;
                json_array_foreach(json_object_get(doc, "by"), di, d) json_object_set(
                    line, json_string_value(d), json_object_get(g, json_string_value(d)));
                json_object_set_new(line, "cohort",
                                    s == 0 ? json_string("all")
                                           : json_incref(json_object_get(src[s], "cohort")));
                json_object_set(line, "size", json_object_get(src[s], "size"));
                json_object_set(line, "size_ci", json_object_get(src[s], "size_ci"));
                json_object_set(line, "median", json_object_get(src[s], "median"));
                json_object_set(line, "median_ci", json_object_get(src[s], "median_ci"));
                if (csv) {
                    json_object_set_new(line, "age", json_integer((json_int_t)a));
                    json_object_set(line, "survival", json_array_get(surv, a));
                    json_object_set(line, "survival_ci", json_array_get(sci, a));
                } else {
                    json_object_set(line, "6m", json_array_get(surv, 6));
                    json_object_set(line, "12m", json_array_get(surv, 12));
                    json_object_set(line, "24m", json_array_get(surv, 24));
                }
                json_array_append_new(lines, line);
            }
        }
    }
    if (!csv) {
        release_note(out, doc);
        fprintf(out,
                "Share of devices still in use after N months (%%), median lifetime in months; "
                "complete months through %s\n",
                json_string_value(json_object_get(doc, "through")));
    }
    render_rows(out, lines, NULL, NULL, cols, n, csv);
    if (!csv)
        fputs("size: activations of the cohort month; * not published; a curve stops where the "
              "noise would outweigh the devices still reporting\n",
              out);
    json_decref(lines);
}

void stats_render(const json_t *doc, const char *which, const char *format, FILE *out)
{
    bool csv = strcmp(format, "csv") == 0;
    if (strcmp(which, "lifetime") == 0)
        render_lifetime(doc, csv, out);
    else if (strcmp(which, "versions") == 0)
        render_versions(doc, csv, out);
    else
        render_sales(doc, csv, out);
}
