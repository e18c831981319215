/* Driver for fuzz targets without libFuzzer: runs every file of the given
 * corpus folders, then random mutations of them for --seconds S. Used by ctest
 * (with ASan in the sanitizer build) so parsers stay crash-free in CI; long
 * coverage-guided runs use scripts/fuzz with clang's libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *data;
    size_t size;
} Input;

static Input *g_inputs;
static size_t g_count, g_cap;

static void add_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) n = 0;
    uint8_t *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (g_count == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 64;
        g_inputs = realloc(g_inputs, g_cap * sizeof *g_inputs);
    }
    g_inputs[g_count++] = (Input){buf, got};
}

static void add_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        add_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        add_path(p);
    }
    closedir(d);
}

static uint64_t g_state = 88172645463325252ull;
static uint64_t rnd(void) {
    g_state ^= g_state << 13;
    g_state ^= g_state >> 7;
    g_state ^= g_state << 17;
    return g_state;
}

int main(int argc, char **argv) {
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else
            add_path(argv[i]);
    }
    for (size_t i = 0; i < g_count; i++) LLVMFuzzerTestOneInput(g_inputs[i].data, g_inputs[i].size);
    printf("replayed %zu corpus inputs\n", g_count);
    if (g_count == 0) add_file("/dev/null");
    size_t runs = 0;
    clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    uint8_t *buf = malloc(1 << 20);
    while (clock() < end) {
        Input *src = &g_inputs[rnd() % (g_count ? g_count : 1)];
        size_t n = src->size < (1 << 20) ? src->size : (1 << 20);
        memcpy(buf, src->data, n);
        int edits = 1 + (int)(rnd() % 8);
        for (int k = 0; k < edits; k++) {
            switch (rnd() % 5) {
            case 0: if (n) buf[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 1: if (n) buf[rnd() % n] = (uint8_t)rnd(); break;
            case 2: if (n) n = rnd() % n; break; /* truncate */
            case 3: if (n < (1 << 20) - 8) { size_t at = n ? rnd() % n : 0; memmove(buf + at + 4, buf + at, n - at); for (int j = 0; j < 4; j++) buf[at + j] = (uint8_t)rnd(); n += 4; } break;
            case 4: if (n > 8) { size_t a = rnd() % (n - 4), b = rnd() % (n - 4); memcpy(buf + a, buf + b, 4); } break;
            }
        }
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
        runs++;
    }
    free(buf);
    printf("ran %zu mutated inputs in %.0f s without a crash\n", runs, seconds);
    return 0;
}
