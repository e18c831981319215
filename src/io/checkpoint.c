#include "io/checkpoint.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "core/fsutil.h"
#include "io/safetensors.h"
#include "io/torch_pt.h"

static int load_file(const char *path, TensorMap *out, Err *err) {
    /* a .json name is conclusive: a sharded index is JSON, and one that starts {"meta":{ has the '{' at byte 8 that
     * marks a safetensors header, so sniffing first misread it */
    size_t len = strlen(path);
    if (len > 5 && !strcmp(path + len - 5, ".json")) return safetensors_read_index(path, out, err);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[9] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got >= 4 && head[0] == 'P' && head[1] == 'K') return torch_pt_read(path, out, err);
    if (got >= 9 && head[8] == '{') return safetensors_read(path, out, err);
    return err_set(err, "%s: neither a safetensors file nor a PyTorch zip (%zu bytes read)", path, got);
}

int ckpt_resolve(const char *path, char *file, size_t n, Err *err) {
    if (!fs_is_dir(path)) {
        snprintf(file, n, "%s", path);
        return 0;
    }
    static const char *names[] = {"model.safetensors.index.json", "model.safetensors", "open_clip_model.safetensors",
                                  "pytorch_model.bin", "open_clip_pytorch_model.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(file, n, "%s/%s", path, names[i]);
        if (fs_exists(file)) return 0;
    }
    /* otherwise the only .pt or .safetensors file in the directory */
    DIR *d = opendir(path);
    if (!d) return err_set(err, "%s: cannot open directory", path);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if ((len > 3 && !strcmp(e->d_name + len - 3, ".pt")) ||
            (len > 12 && !strcmp(e->d_name + len - 12, ".safetensors"))) {
            if (found++) {
                closedir(d);
                return err_set(err, "%s: several checkpoint files; name the one to use", path);
            }
            snprintf(file, n, "%s/%s", path, e->d_name);
        }
    }
    closedir(d);
    if (!found) return err_set(err, "%s: no checkpoint file (model.safetensors, *.pt, ...) in this directory", path);
    return 0;
}

int ckpt_load(const char *path, TensorMap *out, Err *err) {
    char file[4096];
    if (ckpt_resolve(path, file, sizeof file, err) != 0) return -1;
    return load_file(file, out, err);
}
