/* result.json's inputs (train/provenance.h): each file's digest is the file's as it is now. A file read again
 * unchanged gives the same entry (the process remembers digests: a matrix group hashes its weights once); a file
 * rewritten with other bytes of the same size gets its new digest, not the remembered one. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/fsutil.h"
#include "io/json_file.h"
#include "testlib.h"
#include "train/provenance.h"

static const char *weights_sha(const Config *cfg, const JobModel *jm, const Dataset *d, char out[65]) {
    cJSON *o = run_inputs_json(cfg, jm, d, d);
    snprintf(out, 65, "%s", json_get_string(cJSON_GetObjectItemCaseSensitive(o, "weights"), "sha256", ""));
    cJSON_Delete(o);
    return out;
}

static void test_digest_follows_the_file(void) {
    Config cfg;
    config_defaults(&cfg);
    JobModel jm;
    memset(&jm, 0, sizeof jm);
    Dataset d;
    memset(&d, 0, sizeof d);
    Err err;
    snprintf(cfg.weights, sizeof cfg.weights, "%s/w.bin", test_tmpdir());
    snprintf(d.source, sizeof d.source, "%s/split.csv", test_tmpdir());
    EXPECT(fs_write_atomic(d.source, "1,1\n", 4, &err) == 0, "%s", err.msg);
    EXPECT(fs_write_atomic(cfg.weights, "abc", 3, &err) == 0, "%s", err.msg);
    char a[65], b[65], c[65];
    weights_sha(&cfg, &jm, &d, a);
    EXPECT(!strcmp(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256 of abc: %s", a);
    weights_sha(&cfg, &jm, &d, b);
    EXPECT(!strcmp(a, b), "read again unchanged: the same digest");
    /* other bytes, the same size, a later modification time (a new file: another inode too) */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    EXPECT(fs_write_atomic(cfg.weights, "abd", 3, &err) == 0, "%s", err.msg);
    weights_sha(&cfg, &jm, &d, c);
    EXPECT(strcmp(c, a) != 0 && strlen(c) == 64, "rewritten: a new digest (%s)", c);
}

int main(void) {
    TEST_RUN(test_digest_follows_the_file);
    return test_summary();
}
