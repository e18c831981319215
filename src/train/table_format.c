#include "train/table_format.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/xml.h"
#include "io/csv.h"

/* jobs the matrix has behind a cell: the expected ones, or more where more finished (results of a changed matrix) */
static int cell_expected(const Cell *c) { return c->expected > c->n + c->failed ? c->expected : c->n + c->failed; }

/* "62.00 ± 2.83 (3)"; one job: its value alone (a spread of one value is not zero but undefined);
 * jobs short of the matrix's: "(2/3)", with the failed ones counted; none: failed or missing. */
static void cell_text(const Cell *c, char *buf, size_t n) {
    int expected = cell_expected(c);
    int missing = expected - c->n - c->failed;
    if (c->n == 0) {
        if (c->failed && missing) snprintf(buf, n, "failed (%d), missing (%d/%d)", c->failed, missing, expected);
        else if (c->failed) snprintf(buf, n, "failed (%d)", c->failed);
        else snprintf(buf, n, expected ? "missing (0/%d)" : "—", expected);
        return;
    }
    int len = c->n == 1 ? snprintf(buf, n, "%.2f", c->mean) : snprintf(buf, n, "%.2f ± %.2f", c->mean, c->std);
    if (len < 0 || (size_t)len >= n) return;
    if (c->n == expected) {
        if (c->n > 1) snprintf(buf + len, n - (size_t)len, " (%d)", c->n);
    } else if (c->failed) {
        snprintf(buf + len, n - (size_t)len, " (%d/%d, %d failed)", c->n, expected, c->failed);
    } else {
        snprintf(buf + len, n - (size_t)len, " (%d/%d)", c->n, expected);
    }
}

void table_set_stat(Table *t, int row, int col, const Cell *c, int mean_only) {
    if (mean_only) snprintf(t->cell[row][col], CELL, c->n ? "%.2f" : "—", c->mean);
    else cell_text(c, t->cell[row][col], CELL);
    t->stat[row][col] = *c;
    t->stat_set[row][col] = 1;
}

/* Text in a LaTeX table: every character LaTeX would read as markup escaped (method variants and
 * backbone names are the user's: "no {parsing}", "b16~long"), an invalid UTF-8 byte U+FFFD (core/strbuf.h's rule
 * for every writer: pdflatex with inputenc utf8 stops at it). */
static void print_latex_text(FILE *out, const char *text) {
    char *valid = utf8_valid_copy(text);
    for (const char *s = valid; *s; s++) {
        /* a control character is a space: "\n\n" in a name is a paragraph break, which ends \caption with an error,
         * and LaTeX refuses most others as invalid characters */
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            fputc(' ', out);
            continue;
        }
        if (strchr("_%&#{}$", *s)) {
            fputc('\\', out);
            fputc(*s, out);
            continue;
        }
        const char *word = *s == '~'    ? "\\textasciitilde{}"
                           : *s == '^'  ? "\\textasciicircum{}"
                           : *s == '\\' ? "\\textbackslash{}"
                           : *s == '<'  ? "\\textless{}"
                           : *s == '>'  ? "\\textgreater{}"
                           : *s == '|'  ? "\\textbar{}"
                                        : NULL;
        if (word) {
            fputs(word, out);
            continue;
        }
        if (!strncmp(s, "±", strlen("±"))) {
            fputs("$\\pm$", out);
            s += strlen("±") - 1;
            continue;
        }
        if (!strncmp(s, "—", strlen("—"))) {
            fputs("--", out);
            s += strlen("—") - 1;
            continue;
        }
        fputc(*s, out);
    }
    free(valid);
}

/* Text of a CSV comment line ("# title"): a newline or CR in a name (the backbone's, in a title) ended the comment
 * and made the rest of the name a data row; every control character is a space. */
static void print_comment_text(FILE *out, const char *text) {
    char *valid = utf8_valid_copy(text); /* an invalid UTF-8 byte U+FFFD, as in every writer (core/strbuf.h) */
    for (const char *s = valid; *s; s++) fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
    free(valid);
}

/* A CSV field of the tables: an invalid UTF-8 byte U+FFFD, as in every writer (core/strbuf.h). Only tables.csv:
 * predictions.csv (io/csv.h's other user) keeps a clip id as its split file has it, to be matched back. */
static void print_csv_field(FILE *out, const char *text) {
    char *valid = utf8_valid_copy(text);
    csv_print_field(out, valid);
    free(valid);
}

/* Text in a Markdown table: GitHub renders inline HTML there, so a method "mid & <high>" lost "<high>" (an unknown
 * tag is dropped) and "&lt;" in a name would show as "<": & < > go as entities, then markdown_escape takes '|',
 * control characters and invalid UTF-8. Only tables.md: LaTeX, CSV and HTML escape in their own way. */
static void print_markdown_text(FILE *out, const char *s) {
    char *entities = xmalloc(5 * strlen(s) + 1); /* each byte at most "&amp;" */
    size_t used = 0;
    for (; *s; s++) {
        const char *entity = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        if (entity) {
            memcpy(entities + used, entity, strlen(entity));
            used += strlen(entity);
        } else {
            entities[used++] = *s;
        }
    }
    entities[used] = '\0';
    markdown_escape(out, entities);
    free(entities);
}

static void html_cells(FILE *out, const char *tag, const char (*cells)[CELL], int n) {
    fputs("<tr>", out);
    for (int c = 0; c < n; c++) {
        fprintf(out, "<%s>", tag);
        xml_escape(out, cells[c]);
        fprintf(out, "</%s>", tag);
    }
    fputs("</tr>\n", out);
}

/* The CSV is for reading back (pandas, R, a spreadsheet): a column of aggregated jobs is four, each one number --
 * "X" the mean (empty where no job finished), "X sd" the sample standard deviation (empty under two jobs), "X n" the
 * jobs behind it (Table 2's recall of a class: those whose test split holds it or whose model predicted it), "X
 * expected" the matrix's jobs for it (failed and missing ones included); published rows give "X" alone. Other cells
 * as the table shows them ("—": empty). */
static void table_print_csv(const Table *t, FILE *out) {
    static const char *const suffix[3] = {" sd", " n", " expected"};
    /* a column of aggregated jobs: one with such a cell in any row */
    unsigned char stat_col[MAX_COLS] = {0};
    int any_stat = 0;
    for (int c = 0; c < t->cols; c++) {
        for (int r = 0; r < t->rows && !stat_col[c]; r++) stat_col[c] = t->stat_set[r][c];
        any_stat |= stat_col[c];
    }
    fputs("# ", out);
    print_comment_text(out, t->title);
    fputc('\n', out);
    if (any_stat)
        fputs("# X: mean over the jobs behind the cell; X sd: their sample standard deviation (n - 1); X n: those "
              "jobs; X expected: the matrix's jobs for the cell, failed and missing ones included\n",
              out);
    for (int c = 0; c < t->cols; c++) {
        fprintf(out, "%s", c ? "," : "");
        print_csv_field(out, t->head[c]);
        for (int k = 0; stat_col[c] && k < 3; k++) {
            char head[CELL + 16];
            snprintf(head, sizeof head, "%s%s", t->head[c], suffix[k]);
            fputc(',', out);
            print_csv_field(out, head);
        }
    }
    fprintf(out, "\n");
    for (int r = 0; r < t->rows; r++) {
        for (int c = 0; c < t->cols; c++) {
            fprintf(out, "%s", c ? "," : "");
            if (!t->stat_set[r][c]) {
                print_csv_field(out, strcmp(t->cell[r][c], "—") ? t->cell[r][c] : "");
                if (stat_col[c]) fputs(",,,", out);
                continue;
            }
            const Cell *s = &t->stat[r][c];
            if (s->n) fprintf(out, "%.2f", s->mean);
            if (s->n > 1) fprintf(out, ",%.2f", s->std);
            else fputc(',', out);
            fprintf(out, ",%d,%d", s->n, cell_expected(s));
        }
        fprintf(out, "\n");
    }
}

void table_print(const Table *t, TableFormat f, FILE *out) {
    if (f == TABLE_HTML) {
        fputs("<div class=\"paper-table\"><h3>", out);
        xml_escape(out, t->title);
        fputs("</h3>\n<p class=\"caption\">", out);
        xml_escape(out, t->caption);
        fputs("</p>\n<table>\n<thead>", out);
        html_cells(out, "th", t->head, t->cols);
        fputs("</thead>\n<tbody>\n", out);
        for (int r = 0; r < t->rows; r++) html_cells(out, "td", t->cell[r], t->cols);
        fputs("</tbody>\n</table></div>\n", out);
        return;
    }
    if (f == TABLE_MARKDOWN) { /* names from result.json: a '|' or a newline in one would break the table */
        fputs("\n### ", out);
        print_markdown_text(out, t->title);
        fputs("\n\n", out);
        print_markdown_text(out, t->caption);
        fputs("\n\n|", out);
        for (int c = 0; c < t->cols; c++) {
            fputc(' ', out);
            print_markdown_text(out, t->head[c]);
            fputs(" |", out);
        }
        fprintf(out, "\n|");
        for (int c = 0; c < t->cols; c++) fprintf(out, "---|");
        fprintf(out, "\n");
        for (int r = 0; r < t->rows; r++) {
            fprintf(out, "|");
            for (int c = 0; c < t->cols; c++) {
                fputc(' ', out);
                print_markdown_text(out, t->cell[r][c]);
                fputs(" |", out);
            }
            fprintf(out, "\n");
        }
    } else if (f == TABLE_LATEX) {
        /* the title names the table and its backbone: in the caption, not only in a comment */
        fprintf(out, "\n\\begin{table}[t]\n\\centering\n\\caption{");
        print_latex_text(out, t->title);
        fputs(". ", out);
        print_latex_text(out, t->caption);
        fprintf(out, "}\n\\begin{tabular}{l");
        for (int c = 1; c < t->cols; c++) fprintf(out, "c");
        fprintf(out, "}\n\\hline\n");
        for (int c = 0; c < t->cols; c++) {
            fprintf(out, "%s", c ? " & " : "");
            print_latex_text(out, t->head[c]);
        }
        fprintf(out, " \\\\\n\\hline\n");
        for (int r = 0; r < t->rows; r++) {
            for (int c = 0; c < t->cols; c++) {
                fprintf(out, "%s", c ? " & " : "");
                print_latex_text(out, t->cell[r][c]);
            }
            fprintf(out, " \\\\\n");
        }
        fprintf(out, "\\hline\n\\end{tabular}\n\\end{table}\n");
    } else {
        table_print_csv(t, out);
    }
}
