/* Table 3's rows per kind of captions where the matrix names them: a matrix with zeroshot:mafw->dfew and
 * zeroshot:mafw->dfew/descriptions (train/matrix.h) lists both jobs in jobs.json, the second with "captions"; each
 * job counts in its own kind's row only, finished or not, and FineCLIPER Table 3's published row of that kind stands
 * under it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "testlib.h"
#include "train/table.h"

static void put_file(const char *dir, const char *job, const char *file, const char *text) {
    char path[800];
    Err err;
    snprintf(path, sizeof path, "%s%s%s", dir, job ? "/" : "", job ? job : "");
    EXPECT(fs_mkdirs(path, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s%s%s/%s", dir, job ? "/" : "", job ? job : "", file);
    EXPECT(fs_write_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

static char *markdown(const ResultSet *rs, int paper) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    EXPECT(f != NULL, "open_memstream");
    if (!f) return calloc(1, 1);
    tables_write(rs, TABLE_MARKDOWN, paper, f);
    EXPECT(fclose(f) == 0, "the tables composed in memory");
    return buf;
}

#define ZS_JOB(id, eval, captions)                                                                                   \
    "{\"job\":\"" id "\",\"method\":\"finecliper\",\"variant\":\"low\",\"dataset\":\"mafw\",\"eval_dataset\":\"" eval \
    "\",\"fold\":1,\"backbone\":\"b16\",\"seed\":1,\"setting\":\"zeroshot\"" captions

static void test_rows_by_setting_captions(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/results-setting-captions", test_tmpdir());
    /* jobs.json as the runner writes it: "captions" only where the setting names them */
    put_file(dir, NULL, "jobs.json",
             "[" ZS_JOB("finecliper-low__zs-mafw-dfew__b16__s1", "dfew", "}") ","
             ZS_JOB("finecliper-low__zs-mafw-dfew-descriptions__b16__s1", "dfew", ",\"captions\":\"descriptions\"}") ","
             ZS_JOB("finecliper-low__zs-mafw-ferv39k-descriptions__b16__s1", "ferv39k",
                    ",\"captions\":\"descriptions\"}") "]");
    /* the first two finished (result.json: the identity, the kind used, the scores); the third has not run */
    put_file(dir, "finecliper-low__zs-mafw-dfew__b16__s1", "result.json",
             ZS_JOB("finecliper-low__zs-mafw-dfew__b16__s1", "dfew",
                    ",\"status\":\"done\",\"uar\":30,\"war\":40,\"captions\":\"dataset\",\"clip_arch\":\"ViT-B/16\"}"));
    put_file(dir, "finecliper-low__zs-mafw-dfew-descriptions__b16__s1", "result.json",
             ZS_JOB("finecliper-low__zs-mafw-dfew-descriptions__b16__s1", "dfew",
                    ",\"status\":\"done\",\"uar\":31,\"war\":41,\"captions\":\"descriptions\","
                    "\"clip_arch\":\"ViT-B/16\"}"));
    ResultSet *rs;
    Err err;
    EXPECT(results_load(dir, &rs, &err) == 0, "%s", err.msg);
    if (!rs) return;
    char *plain = markdown(rs, 0), *with = markdown(rs, 1);
    /* each finished job is its row's one job of one (not "(1/2)"); the unrun descriptions job is missing in its
     * kind's row alone (the video captions' row has no FERV39k job) */
    EXPECT(strstr(plain, "| finecliper (low), trained on MAFW (video captions) | 30.00 | 40.00 | — | — |\n"
                         "| finecliper (low), trained on MAFW (descriptions) | 31.00 | 41.00 | missing (0/1) | "
                         "missing (0/1) |\n"),
           "Table 3's two MAFW rows: %s", plain);
    EXPECT(strstr(with, "| finecliper (low), trained on MAFW (video captions) | 30.00 | 40.00 | — | — |\n"
                        "| FineCLIPER†, paper (ViT-B/16) | 47.52 | 57.12 | 34.59 | 42.28 |\n"
                        "| finecliper (low), trained on MAFW (descriptions) | 31.00 | 41.00 | missing (0/1) | "
                        "missing (0/1) |\n"
                        "| FineCLIPER†, paper (ViT-B/16) | 52.26 | 62.03 | 39.72 | 46.01 |\n"),
           "each row with the paper's row of its kind: %s", with);
    free(plain);
    free(with);
    results_free(rs);
}

int main(void) {
    TEST_RUN(test_rows_by_setting_captions);
    return test_summary();
}
