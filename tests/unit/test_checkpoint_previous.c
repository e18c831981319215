/* save_checkpoint keeps the checkpoint before the newest as CHECKPOINT_PREVIOUS (a hard link), for a resume that
 * finds the newest damaged. The newest is read back before it becomes the previous:
 *  - three checkpoints in a row: the previous is always the one before the newest (positions read back);
 *  - a newest one damaged on disk between two checkpoints (a flipped byte) does not become the previous: the
 *    previous stays the whole one before it, and a resume whose newest is then damaged too goes back to it;
 *  - a resume from whole files reads the newest.
 * FineCLIPER on the tiny CLIP, F64, CPU, in a folder of the test's own. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "io/safetensors.h"
#include "model/clip_init.h"
#include "testlib.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/job_model.h"
#include "train/optim.h"

static JobModel g_model;
static Optimizer g_opt;
static char g_dir[600];

static void build(void) {
    Config c;
    config_defaults(&c);
    snprintf(c.vocab, sizeof c.vocab, "%s/clip/bpe_simple_vocab_16e6.txt.gz", test_shared_dir());
    Err err;
    EXPECT(config_set(&c, "model.dtype=f64", &err) == 0 && config_set(&c, "train.device=cpu", &err) == 0 &&
               config_set(&c, "data.frames=2", &err) == 0 && config_set(&c, "train.threads=1", &err) == 0,
           "%s", err.msg);
    ClipConfig cc;
    EXPECT(clip_config_preset("tiny", &cc, &err) == 0, "%s", err.msg);
    TensorMap hf;
    EXPECT(clip_init_random(&cc, 5, &hf, &err) == 0, "%s", err.msg);
    EXPECT(job_model_create_from_map(&c, 7, NULL, &hf, &cc, &g_model, &err) == 0, "model: %s", err.msg);
    tmap_free(&hf);
    OptimizerConfig oc;
    job_model_optimizer_config(&c, &g_model, &oc);
    EXPECT(optimizer_create(g_model.params, &oc, &g_opt, &err) == 0, "optimizer: %s", err.msg);
    snprintf(g_dir, sizeof g_dir, "%s/run", test_tmpdir());
    EXPECT(mkdir(g_dir, 0755) == 0, "mkdir %s", g_dir);
}

static void save_at(int step) {
    Position pos;
    memset(&pos, 0, sizeof pos);
    pos.step = step;
    Err err;
    EXPECT(save_checkpoint(g_dir, &g_model, &g_opt, &pos, &err) == 0, "checkpoint at step %d: %s", step, err.msg);
}

/* The step of a checkpoint file's position; -1 when it does not read (damaged), -2 when it is missing. */
static int step_of(const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    if (!fs_exists(path)) return -2;
    TensorMap m;
    Err err;
    if (safetensors_read(path, &m, &err) != 0) return -1;
    const char *position = tmap_metadata(&m, "position"), *at = position ? strstr(position, "\"step\":") : NULL;
    int step = at ? atoi(at + 7) : -3;
    tmap_free(&m);
    return step;
}

/* Flips one bit in the middle of a file, in place (the same inode: as the disk would). */
static void damage(const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "r+b");
    EXPECT(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long at = ftell(f) / 2;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static void test_previous_is_the_one_before(void) {
    save_at(1);
    EXPECT(step_of("checkpoint.safetensors") == 1 && step_of(CHECKPOINT_PREVIOUS) == -2,
           "first checkpoint: newest at %d, previous %d", step_of("checkpoint.safetensors"),
           step_of(CHECKPOINT_PREVIOUS));
    save_at(2);
    save_at(3);
    EXPECT(step_of("checkpoint.safetensors") == 3 && step_of(CHECKPOINT_PREVIOUS) == 2,
           "after three: newest at %d, previous at %d", step_of("checkpoint.safetensors"),
           step_of(CHECKPOINT_PREVIOUS));
}

static void test_damaged_newest_does_not_become_previous(void) {
    damage("checkpoint.safetensors"); /* step 3's, after it was written */
    EXPECT(step_of("checkpoint.safetensors") == -1, "the flipped bit is found");
    save_at(4);
    EXPECT(step_of("checkpoint.safetensors") == 4 && step_of(CHECKPOINT_PREVIOUS) == 2,
           "a damaged newest checkpoint became the previous: newest at %d, previous at %d (want 4 and 2)",
           step_of("checkpoint.safetensors"), step_of(CHECKPOINT_PREVIOUS));
    /* the newest goes bad too: the resume goes back to step 2, the whole one */
    damage("checkpoint.safetensors");
    Position pos;
    char fell_back[1024];
    Err err;
    EXPECT(load_checkpoint(g_dir, &g_model, &g_opt, &pos, fell_back, sizeof fell_back, &err) == 0,
           "resume: %s", err.msg);
    EXPECT(pos.step == 2 && strstr(fell_back, "damaged"), "resumed at step %d (want 2), fell back because: %s",
           pos.step, fell_back);
    printf("  a newest checkpoint damaged between checkpoints stays out of %s; the resume went back to step %d "
           "(%.80s...)\n", CHECKPOINT_PREVIOUS, pos.step, fell_back);
}

static void test_whole_files_resume_from_the_newest(void) {
    save_at(5);
    save_at(6);
    Position pos;
    char fell_back[1024];
    Err err;
    EXPECT(load_checkpoint(g_dir, &g_model, &g_opt, &pos, fell_back, sizeof fell_back, &err) == 0 &&
               pos.step == 6 && !fell_back[0],
           "resume: step %d, fell back '%s' (%s)", pos.step, fell_back, err.msg);
    EXPECT(step_of(CHECKPOINT_PREVIOUS) == 5, "previous at %d, not 5", step_of(CHECKPOINT_PREVIOUS));
}

int main(void) {
    build();
    TEST_RUN(test_previous_is_the_one_before);
    TEST_RUN(test_damaged_newest_does_not_become_previous);
    TEST_RUN(test_whole_files_resume_from_the_newest);
    optimizer_free(&g_opt);
    job_model_free(&g_model);
    return test_summary();
}
