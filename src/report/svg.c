#include "report/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/xml.h"

/* Fonts the browser has locally; nothing is fetched. */
#define SVG_FONT "font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\" font-size=\"12\""
#define AXIS_COLOUR "#444444"
#define GRID_COLOUR "#e6e6e6"
#define TEXT_COLOUR "#222222"

/* ---- scales, colours, text ------------------------------------------------------------------ */

int svg_plottable(double v) { return isfinite(v) && fabs(v) <= SVG_PLOTTABLE_MAX; }

/* How many of n values are left out of a plot as too large: NaN is "no data", not counted. */
static int count_left_out(const double *v, int n) {
    int left_out = 0;
    for (int i = 0; i < n; i++) left_out += !isnan(v[i]) && !svg_plottable(v[i]);
    return left_out;
}

/* A "nice" number near x: 1, 2 or 5 (or 10) times a power of ten; rounded to
 * the nearest, or the smallest at least x (Heckbert's labelling scheme). */
static double nice_number(double x, int round_to_nearest) {
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_to_nearest) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

SvgTicks svg_ticks(double lo, double hi, int target_count, int integer) {
    SvgTicks t;
    /* past SVG_PLOTTABLE_MAX, hi - lo can overflow to infinity: NaN ticks, and their count cast out of range */
    if (!svg_plottable(lo) || !svg_plottable(hi)) lo = 0, hi = 1;
    if (hi < lo) {
        double s = lo;
        lo = hi, hi = s;
    }
    if (hi - lo < 1e-12 * fmax(1, fabs(hi))) { /* one value: a range around it */
        double pad = integer ? 1 : fmax(fabs(lo) * 0.1, 1e-3);
        lo -= pad, hi += pad;
    }
    if (target_count < 2) target_count = 2;
    double step = nice_number(nice_number(hi - lo, 0) / (target_count - 1), 1);
    if (integer && step < 1) step = 1;
    t.step = step;
    t.lo = floor(lo / step + 1e-9) * step;
    t.hi = ceil(hi / step - 1e-9) * step;
    t.n = (int)lround((t.hi - t.lo) / step) + 1;
    t.decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    return t;
}

const char *svg_series_colour(int i) {
    static const char *k[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"};
    return k[(i % 8 + 8) % 8];
}

void svg_heat_colour(double t, char hex[8]) {
    /* ColorBrewer's sequential "Blues" ramp: light for 0, dark for 1, monotone in lightness */
    static const unsigned char ramp[9][3] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239},
                                             {158, 202, 225}, {107, 174, 214}, {66, 146, 198},
                                             {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
    if (!isfinite(t) || t < 0) t = 0;
    if (t > 1) t = 1;
    double pos = t * 8;
    int i = (int)pos;
    if (i > 7) i = 7;
    double f = pos - i;
    int c[3];
    for (int k = 0; k < 3; k++) c[k] = (int)lround(ramp[i][k] + f * (ramp[i + 1][k] - ramp[i][k]));
    snprintf(hex, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* Without font metrics, a width estimate for margins: 0.62 em per character
 * (UTF-8 continuation bytes do not count). */
static double text_width(const char *s, double font_size) {
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) chars += (*p & 0xC0) != 0x80;
    return chars * font_size * 0.62;
}

static void svg_open(FILE *out, double w, double h, const char *cls, const char *title) {
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart %s\" width=\"%.0f\" height=\"%.0f\" "
                 "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", cls, w, h, w, h);
    xml_escape(out, title);
    fprintf(out, "\" " SVG_FONT " fill=\"" TEXT_COLOUR "\">\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            w, h);
    if (title) {
        fprintf(out, "<text class=\"title\" x=\"%.1f\" y=\"17\" text-anchor=\"middle\" font-size=\"13\" "
                     "font-weight=\"bold\">", w / 2);
        xml_escape(out, title);
        fputs("</text>\n", out);
    }
}

/* <text> with escaped content; attrs is a literal attribute string. */
static void text_at(FILE *out, double x, double y, const char *anchor, const char *attrs, const char *s) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, attrs ? " " : "",
            attrs ? attrs : "");
    xml_escape(out, s);
    fputs("</text>\n", out);
}

static void tick_label(char *buf, size_t n, double v, int decimals) {
    if (fabs(v) < 1e-12) v = 0; /* no "-0" */
    snprintf(buf, n, "%.*f", decimals, v);
}

/* The y axis of a plot area [x0, x1] x [y0 (top), y1 (bottom)]: grid lines, ticks, labels, title. */
static void y_axis(FILE *out, const SvgTicks *t, double x0, double x1, double y0, double y1, const char *label) {
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        double v = t->lo + i * t->step, y = y1 - (v - t->lo) / (t->hi - t->lo) * (y1 - y0);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID_COLOUR "\"/>\n", x0, y, x1,
                y);
        tick_label(buf, sizeof buf, v, t->decimals);
        text_at(out, x0 - 5, y + 4, "end", "font-size=\"11\"", buf);
    }
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" AXIS_COLOUR "\"/>\n", x0, y0, x0,
            y1);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" AXIS_COLOUR "\"/>\n", x0, y1, x1,
            y1);
    if (label) {
        char attrs[96];
        snprintf(attrs, sizeof attrs, "transform=\"rotate(-90 %.1f %.1f)\"", 14.0, (y0 + y1) / 2);
        text_at(out, 14, (y0 + y1) / 2, "middle", attrs, label);
    }
}

/* One row of legend entries (a swatch and a name each), centred at y. */
static void legend(FILE *out, double x_centre, double y, const char *const *names, int n, int as_dots) {
    double total = 0;
    for (int i = 0; i < n; i++) total += 22 + text_width(names[i], 11) + 12;
    double x = x_centre - total / 2;
    fputs("<g class=\"legend\">\n", out);
    for (int i = 0; i < n; i++) {
        if (as_dots)
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x + 9, y - 4, svg_series_colour(i));
        else
            fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"/>\n",
                    x, y - 4, x + 18, y - 4, svg_series_colour(i));
        text_at(out, x + 22, y, "start", "font-size=\"11\"", names[i]);
        x += 22 + text_width(names[i], 11) + 12;
    }
    fputs("</g>\n", out);
}

static void no_data(FILE *out, double x, double y) { text_at(out, x, y, "middle", "fill=\"#888888\"", "no data"); }

/* The note of values too large to plot (svg_plottable), left out of the chart: the reader learns they exist. */
static void left_out_note(FILE *out, double x, double y, int left_out) {
    if (!left_out) return;
    char note[96];
    snprintf(note, sizeof note, "%d value%s too large to plot left out", left_out, left_out > 1 ? "s" : "");
    text_at(out, x, y, "start", "class=\"left-out\" font-size=\"10\" fill=\"#888888\"", note);
}

/* ---- line chart ---------------------------------------------------------------------------- */

void svg_line_chart(FILE *out, const SvgLineChart *c) {
    const double W = 460, H = 300, x0 = 60, x1 = W - 16, y0 = 50, y1 = H - 42;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int left_out = 0;
    for (int s = 0; s < c->n_series; s++)
        for (int i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!svg_plottable(x) || !svg_plottable(y)) {
                left_out += !isnan(x) && !isnan(y); /* NaN is no data, not a value left out */
                continue;
            }
            xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    svg_open(out, W, H, "line-chart", c->title);
    const char *names[16];
    int nn = c->n_series < 16 ? c->n_series : 16;
    for (int s = 0; s < nn; s++) names[s] = c->series[s].name;
    legend(out, W / 2, 36, names, nn, 0);
    int have = isfinite(xmin);
    if (!isnan(c->y_min)) ymin = c->y_min;
    if (!isnan(c->y_max)) ymax = c->y_max;
    SvgTicks xt = svg_ticks(have ? xmin : 0, have ? xmax : 1, 6, c->x_integer);
    SvgTicks yt = svg_ticks(isfinite(ymin) ? ymin : 0, isfinite(ymax) ? ymax : 1, 6, 0);
    y_axis(out, &yt, x0, x1, y0, y1, c->y_label);
    char buf[64];
    for (int i = 0; i < xt.n; i++) {
        double v = xt.lo + i * xt.step, x = x0 + (v - xt.lo) / (xt.hi - xt.lo) * (x1 - x0);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" AXIS_COLOUR "\"/>\n", x, y1, x,
                y1 + 4);
        tick_label(buf, sizeof buf, v, xt.decimals);
        text_at(out, x, y1 + 16, "middle", "font-size=\"11\"", buf);
    }
    if (c->x_label) text_at(out, (x0 + x1) / 2, H - 8, "middle", NULL, c->x_label);
    left_out_note(out, x0 + 4, y1 - 6, left_out);
    if (!have) {
        no_data(out, (x0 + x1) / 2, (y0 + y1) / 2);
        fputs("</svg>\n", out);
        return;
    }
#define PX(v) (x0 + ((v) - xt.lo) / (xt.hi - xt.lo) * (x1 - x0))
#define PY(v) (y1 - ((v) - yt.lo) / (yt.hi - yt.lo) * (y1 - y0))
    if (isfinite(c->mark_x) && c->mark_x >= xt.lo && c->mark_x <= xt.hi) {
        double x = PX(c->mark_x);
        fprintf(out, "<line class=\"mark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
                     "stroke-dasharray=\"4 3\"/>\n", x, y0, x, y1);
        /* the label on the side with room: a mark at the last epoch would push it out of the chart */
        int right = x > (x0 + x1) / 2;
        if (c->mark_label)
            text_at(out, right ? x - 3 : x + 3, y0 + 11, right ? "end" : "start", "font-size=\"10\" fill=\"#666666\"",
                    c->mark_label);
    }
    for (int s = 0; s < c->n_series; s++) {
        const SvgSeries *se = &c->series[s];
        const char *colour = svg_series_colour(s);
        fprintf(out, "<g class=\"series\" fill=\"%s\">\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" d=\"",
                colour, colour);
        int pen = 0;
        for (int i = 0; i < se->n; i++) {
            if (!svg_plottable(se->x[i]) || !svg_plottable(se->y[i])) {
                pen = 0;
                continue;
            }
            double y = fmin(fmax(se->y[i], yt.lo), yt.hi); /* a fixed range clips, never draws outside */
            fprintf(out, "%s%.1f %.1f ", pen ? "L" : "M", PX(se->x[i]), PY(y));
            pen = 1;
        }
        fputs("\"/>\n", out);
        for (int i = 0; i < se->n; i++) {
            if (!svg_plottable(se->x[i]) || !svg_plottable(se->y[i])) continue;
            double y = fmin(fmax(se->y[i], yt.lo), yt.hi);
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.8\"><title>", PX(se->x[i]), PY(y));
            xml_escape(out, se->name);
            fprintf(out, " at %g: %.4g</title></circle>\n", se->x[i], se->y[i]);
        }
        fputs("</g>\n", out);
    }
#undef PX
#undef PY
    fputs("</svg>\n", out);
}

/* ---- heat map ---------------------------------------------------------------------------------- */

void svg_heatmap(FILE *out, const SvgHeatmap *h) {
    int n = h->n;
    double cell = n <= 8 ? 40 : n <= 12 ? 32 : 26, font = n <= 8 ? 11 : 9, label_w = 0;
    for (int i = 0; i < n; i++) label_w = fmax(label_w, text_width(h->labels[i], 11));
    const double x0 = 30 + label_w + 8, y0 = 32, x1 = x0 + n * cell, y1 = y0 + n * cell;
    /* a count that is no count (negative, or too large to print: 1e300 has 301 digits) is left out of its row */
    int left_out = 0;
    for (int k = 0; k < n * n; k++) left_out += !(h->counts[k] >= 0 && svg_plottable(h->counts[k]));
    const double legend_x = x1 + 16, W = legend_x + 52, note_h = left_out ? 16 : 0;
    const double H = y1 + label_w * 0.72 + 40 + note_h;
    svg_open(out, W, H, "heatmap", h->title);
    for (int r = 0; r < n; r++) {
        double total = 0;
        for (int c = 0; c < n; c++)
            if (h->counts[r * n + c] >= 0 && svg_plottable(h->counts[r * n + c])) total += h->counts[r * n + c];
        for (int c = 0; c < n; c++) {
            double v = h->counts[r * n + c], t = total > 0 ? v / total : 0;
            int counted = v >= 0 && svg_plottable(v);
            if (!counted) t = 0;
            char fill[8];
            svg_heat_colour(t, fill);
            double x = x0 + c * cell, y = y0 + r * cell;
            fprintf(out, "<g><rect class=\"hm-cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                         "stroke=\"#ffffff\"/><title>true ", x, y, cell, cell, fill);
            xml_escape(out, h->labels[r]);
            fputs(", predicted ", out);
            xml_escape(out, h->labels[c]);
            char count[32] = "?";
            if (counted) snprintf(count, sizeof count, "%.0f", v);
            if (counted) fprintf(out, ": %s (%.1f%% of the row)</title>", count, 100 * t);
            else fputs(": not a count, left out</title>", out);
            fprintf(out,
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"%.0f\" fill=\"%s\">%s</text></g>\n",
                    x + cell / 2, y + cell / 2 + font * 0.35, font, t > 0.5 ? "#ffffff" : TEXT_COLOUR, count);
        }
    }
    for (int i = 0; i < n; i++) {
        text_at(out, x0 - 6, y0 + i * cell + cell / 2 + 4, "end", "font-size=\"11\"", h->labels[i]);
        char attrs[96];
        double x = x0 + i * cell + cell / 2 + 4, y = y1 + 8;
        snprintf(attrs, sizeof attrs, "font-size=\"11\" transform=\"rotate(-45 %.1f %.1f)\"", x, y);
        text_at(out, x, y, "end", attrs, h->labels[i]);
    }
    char attrs[96];
    snprintf(attrs, sizeof attrs, "transform=\"rotate(-90 %.1f %.1f)\"", 14.0, (y0 + y1) / 2);
    text_at(out, 14, (y0 + y1) / 2, "middle", attrs, "true class");
    text_at(out, (x0 + x1) / 2, H - 8 - note_h, "middle", NULL, "predicted class");
    left_out_note(out, 4, H - 6, left_out);
    /* the colour scale: ten steps of the row share */
    double step_h = (y1 - y0) / 10;
    for (int k = 0; k < 10; k++) {
        char fill[8];
        svg_heat_colour(1 - (k + 0.5) / 10, fill);
        fprintf(out, "<rect class=\"hm-scale\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"%s\"/>\n",
                legend_x, y0 + k * step_h, step_h + 0.5, fill);
    }
    text_at(out, legend_x + 16, y0 + 9, "start", "font-size=\"10\"", "100%");
    text_at(out, legend_x + 16, y1, "start", "font-size=\"10\"", "0%");
    snprintf(attrs, sizeof attrs, "font-size=\"10\" transform=\"rotate(90 %.1f %.1f)\"", legend_x + 40, (y0 + y1) / 2);
    text_at(out, legend_x + 40, (y0 + y1) / 2, "middle", attrs, "share of the true class");
    fputs("</svg>\n", out);
}

/* ---- bar chart ----------------------------------------------------------------------------------- */

void svg_bar_chart(FILE *out, const SvgBarChart *b) {
    double label_w = 0, vmax = 0;
    for (int i = 0; i < b->n; i++) {
        label_w = fmax(label_w, text_width(b->labels[i], 11));
        if (svg_plottable(b->values[i])) vmax = fmax(vmax, b->values[i]);
    }
    int left_out = count_left_out(b->values, b->n);
    double band = b->n <= 8 ? 44 : 32;
    const double x0 = 56, y0 = 54, y1 = 260, x1 = x0 + fmax(b->n * band, 200), W = x1 + 16;
    const double H = y1 + label_w * 0.72 + 20;
    svg_open(out, W, H, "bar-chart", b->title);
    SvgTicks yt = svg_ticks(0, isnan(b->y_max) ? (vmax > 0 ? vmax : 1) : b->y_max, 6, 0);
    y_axis(out, &yt, x0, x1, y0, y1, b->y_label);
    band = (x1 - x0) / (b->n > 0 ? b->n : 1);
    for (int i = 0; i < b->n; i++) {
        double xc = x0 + (i + 0.5) * band, v = b->values[i];
        char buf[64];
        if (svg_plottable(v)) {
            double vv = fmin(fmax(v, 0), yt.hi), y = y1 - vv / yt.hi * (y1 - y0);
            fprintf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                    xc - band * 0.35, y, band * 0.7, y1 - y, svg_series_colour(0));
            xml_escape(out, b->labels[i]);
            fprintf(out, ": %.2f</title></rect>\n", v);
            snprintf(buf, sizeof buf, "%.1f", v);
            text_at(out, xc, y - 3, "middle", "font-size=\"10\"", buf);
        } else {
            text_at(out, xc, y1 - 4, "middle", "font-size=\"10\" fill=\"#888888\"", "n/a");
        }
        char attrs[96];
        snprintf(attrs, sizeof attrs, "font-size=\"11\" transform=\"rotate(-45 %.1f %.1f)\"", xc + 4, y1 + 10);
        text_at(out, xc + 4, y1 + 10, "end", attrs, b->labels[i]);
    }
    left_out_note(out, x0 + 4, y0 + 12, left_out);
    if (svg_plottable(b->ref_value) && b->ref_value >= yt.lo && b->ref_value <= yt.hi) {
        double y = y1 - b->ref_value / yt.hi * (y1 - y0);
        fprintf(out, "<line class=\"ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                     "stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n", x0, y, x1, y, svg_series_colour(1));
    }
    if (svg_plottable(b->ref_value) && b->ref_label) { /* named above the plot, where no bar can cover it */
        fprintf(out, "<line x1=\"%.1f\" y1=\"32\" x2=\"%.1f\" y2=\"32\" stroke=\"%s\" stroke-width=\"1.5\" "
                     "stroke-dasharray=\"5 3\"/>\n", W / 2 - 40, W / 2 - 18, svg_series_colour(1));
        text_at(out, W / 2 - 14, 36, "start", "font-size=\"11\"", b->ref_label);
    }
    fputs("</svg>\n", out);
}

/* ---- strip plot with boxes ---------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile by linear interpolation between order statistics (sorted v, n >= 1). */
static double quantile(const double *v, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

void svg_strip_plot(FILE *out, const SvgStripPlot *p) {
    double lo = INFINITY, hi = -INFINITY, band = fmax(90, 36.0 * p->n_series + 30);
    int left_out = 0;
    for (int g = 0; g < p->n_groups; g++) band = fmax(band, text_width(p->groups[g], 11) + 12);
    for (int k = 0; k < p->n_groups * p->n_series; k++) {
        left_out += count_left_out(p->values[k], p->counts[k]);
        for (int i = 0; i < p->counts[k]; i++)
            if (svg_plottable(p->values[k][i])) lo = fmin(lo, p->values[k][i]), hi = fmax(hi, p->values[k][i]);
    }
    int have = isfinite(lo);
    if (!isnan(p->y_min)) lo = p->y_min;
    if (!isnan(p->y_max)) hi = p->y_max;
    if (have && isnan(p->y_min) && isnan(p->y_max)) lo -= 0.5, hi += 0.5; /* room around the extreme points */
    const double x0 = 60, y0 = 50, y1 = 262, x1 = x0 + fmax(band * p->n_groups, 220), W = x1 + 16, H = y1 + 42;
    svg_open(out, W, H, "strip-plot", p->title);
    legend(out, W / 2, 36, p->series, p->n_series, 1);
    SvgTicks yt = svg_ticks(isfinite(lo) ? lo : 0, isfinite(hi) ? hi : 1, 6, 0);
    y_axis(out, &yt, x0, x1, y0, y1, p->y_label);
    if (!have) no_data(out, (x0 + x1) / 2, (y0 + y1) / 2);
    left_out_note(out, x0 + 4, y1 - 6, left_out);
    band = (x1 - x0) / (p->n_groups > 0 ? p->n_groups : 1);
    double sub = (band - 20) / (p->n_series > 0 ? p->n_series : 1);
#define PY(v) (y1 - (fmin(fmax((v), yt.lo), yt.hi) - yt.lo) / (yt.hi - yt.lo) * (y1 - y0))
    for (int g = 0; g < p->n_groups; g++) {
        double gx = x0 + g * band;
        text_at(out, gx + band / 2, y1 + 18, "middle", "font-size=\"11\"", p->groups[g]);
        for (int s = 0; s < p->n_series; s++) {
            int k = g * p->n_series + s, n = 0;
            double xc = gx + 10 + (s + 0.5) * sub, half = fmin(14, sub * 0.35);
            const char *colour = svg_series_colour(s);
            double *v = xmalloc(sizeof(double) * (size_t)(p->counts[k] > 0 ? p->counts[k] : 1));
            for (int i = 0; i < p->counts[k]; i++)
                if (svg_plottable(p->values[k][i])) v[n++] = p->values[k][i];
            fprintf(out, "<g class=\"strip\" fill=\"%s\" stroke=\"%s\">\n", colour, colour);
            if (n) {
                qsort(v, (size_t)n, sizeof *v, cmp_double);
                double q1 = quantile(v, n, 0.25), med = quantile(v, n, 0.5), q3 = quantile(v, n, 0.75), mean = 0,
                       ss = 0;
                for (int i = 0; i < n; i++) mean += v[i];
                mean /= n;
                for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
                fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", xc, PY(v[0]), xc,
                        PY(v[n - 1]));
                fprintf(out, "<rect class=\"box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                             "fill-opacity=\"0.15\"><title>", xc - half, PY(q3), 2 * half, fmax(PY(q1) - PY(q3), 1));
                xml_escape(out, p->groups[g]);
                fputs(", ", out);
                xml_escape(out, p->series[s]);
                fprintf(out, ": mean %.2f, sd %.2f, median %.2f, min %.2f, max %.2f, n %d</title></rect>\n", mean,
                        n > 1 ? sqrt(ss / (n - 1)) : 0.0, med, v[0], v[n - 1], n);
                fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"2\"/>\n", xc - half,
                        PY(med), xc + half, PY(med));
            }
            /* the points in their original order, spread sideways so equal values stay visible */
            double spread = p->counts[k] > 1 ? fmin(5, half * 1.6 / (p->counts[k] - 1)) : 0;
            for (int i = 0, shown = 0; i < p->counts[k]; i++) {
                double y = p->values[k][i];
                if (!svg_plottable(y)) continue;
                double x = xc + (shown++ - (n - 1) / 2.0) * spread;
                fprintf(out, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" stroke=\"#ffffff\"><title>", x,
                        PY(y));
                if (p->point_labels && p->point_labels[k]) {
                    xml_escape(out, p->point_labels[k][i]);
                    fputs(": ", out);
                }
                fprintf(out, "%.2f</title></circle>\n", y);
            }
            fputs("</g>\n", out);
            free(v);
        }
    }
#undef PY
    fputs("</svg>\n", out);
}
