/* SVG charts for the HTML report: line charts (learning curves), a heat map
 * (confusion matrix), bar charts (per-class recall) and strip/box plots (the
 * spread of a score over folds and seeds). Each call writes one complete
 * <svg> element as text.
 *
 * Why SVG written by a small module rather than gnuplot or PLplot:
 *  - the report must be one self-contained HTML page; inline SVG is vector,
 *    stays sharp at any zoom, carries tooltips (<title>) and is searchable,
 *    where gnuplot or PLplot would need a PNG (base64) or an SVG file read back;
 *  - no process to spawn per chart (a matrix has hundreds of jobs, each with
 *    three charts) and no extra package on the cluster's compute or login nodes;
 *  - the bytes depend only on the data (no version-dependent terminal output,
 *    no fonts probed at run time), so reports diff cleanly and tests can read
 *    the SVG back: every element is plain XML with known classes;
 *  - the four chart types the report needs are simple; what gnuplot would add
 *    (layout engines, many terminals) is not needed here.
 * The price is doing tick placement, escaping and text-width estimates
 * ourselves; they are small and tested through the report's test.
 *
 * Every string is XML-escaped with core/xml.h (also invalid UTF-8 and
 * control characters, which would make the SVG ill-formed). Numbers are
 * written with "%.Nf" in the C locale, so the output is deterministic. NaN values mean "no data": a line
 * breaks, a bar shows "n/a", a strip point is left out. */
#ifndef DFER_REPORT_SVG_H
#define DFER_REPORT_SVG_H

#include <stdio.h>

/* Tick marks from lo to hi covering the data with "nice" steps (1, 2 or 5
 * times a power of ten). integer: steps of at least 1 (epochs). */
typedef struct SvgTicks {
    double lo, hi, step;
    int n;        /* lo, lo + step, ..., hi */
    int decimals; /* digits after the point that the step needs */
} SvgTicks;
SvgTicks svg_ticks(double lo, double hi, int target_count, int integer);

/* Whether a value can be plotted: finite and at most SVG_PLOTTABLE_MAX in magnitude. Past it (a UAR of 1e300 or a
 * loss of 1e308 in a damaged result.json), an axis would need ticks hundreds of digits long and a range could
 * overflow to infinity; such values are left out of a chart, which says how many. A percentage, a loss, an epoch
 * or a clip count lies far inside it. */
#define SVG_PLOTTABLE_MAX 1e15
int svg_plottable(double v);

/* The series colours (Okabe-Ito, distinguishable with colour-vision
 * deficiencies) and the heat map's sequential ramp, t in [0, 1]; "#rrggbb". */
const char *svg_series_colour(int i);
void svg_heat_colour(double t, char hex[8]);

typedef struct SvgSeries {
    const char *name;
    const double *x, *y; /* n points in x order; a NaN y breaks the line */
    int n;
} SvgSeries;

typedef struct SvgLineChart {
    const char *title, *x_label, *y_label;
    const SvgSeries *series;
    int n_series;
    double y_min, y_max; /* a fixed range (percentages), or NAN for the data's */
    int x_integer;       /* ticks on whole numbers only (epochs) */
    double mark_x;       /* a dashed vertical line (the reported epoch), or NAN */
    const char *mark_label;
} SvgLineChart;
void svg_line_chart(FILE *out, const SvgLineChart *c);

/* Confusion matrix: rows are the true class, columns the prediction. The
 * colour of a cell is its share of the row (so rare classes are as readable as
 * frequent ones); the cell shows the count. */
typedef struct SvgHeatmap {
    const char *title;
    const char *const *labels; /* n class names */
    const double *counts;      /* n x n, row-major */
    int n;
} SvgHeatmap;
void svg_heatmap(FILE *out, const SvgHeatmap *h);

typedef struct SvgBarChart {
    const char *title, *y_label;
    const char *const *labels;
    const double *values; /* NaN: no bar, "n/a" */
    int n;
    double y_max;         /* fixed top (100 for percentages), or NAN for the data's */
    double ref_value;     /* a dashed horizontal line (the mean), or NAN */
    const char *ref_label;
} SvgBarChart;
void svg_bar_chart(FILE *out, const SvgBarChart *b);

/* Strip plot with boxes: for each group (a method) and series (UAR, WAR), the
 * individual values as points over a box from the first to the third quartile
 * with the median, whiskers from the minimum to the maximum. */
typedef struct SvgStripPlot {
    const char *title, *y_label;
    const char *const *groups;
    int n_groups;
    const char *const *series;
    int n_series;
    const double *const *values; /* [g * n_series + s]: counts[...] values */
    const int *counts;
    const char *const *const *point_labels; /* same layout, tooltips per value; or NULL */
    double y_min, y_max;                    /* fixed, or NAN for the data's */
} SvgStripPlot;
void svg_strip_plot(FILE *out, const SvgStripPlot *p);

#endif
