/* dfer embed: CLIP image and text embeddings and the image-text logits
 * (exp(logit_scale) * cosine) — a zero-shot classifier on the CPU. */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/strbuf.h"
#include "core/timer.h"
#include "data/image.h"
#include "data/preprocess.h"
#include "model/clip.h"
#include "text/tokenizer.h"

static void usage(void) {
    printf("usage: dfer embed --weights FILE [--vocab PATH] [--image IMG]... [--text TEXT]... [--json]\n"
           "                  [--threads N] [--device cpu|auto]\n\n"
           "Encodes images and texts with a CLIP checkpoint and prints the embeddings and the\n"
           "image-text logits exp(logit_scale) * cos(image, text) (rows = images). With both images\n"
           "and texts it is a zero-shot classifier: each image's softmax over the texts is printed too.\n\n"
           "  --weights FILE   CLIP checkpoint: Hugging Face safetensors (file or directory), OpenAI .pt\n"
           "                   (TorchScript) or Long-CLIP .pt\n"
           "  --vocab PATH     CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz); default: the one beside\n"
           "                   the checkpoint, else $DFER_VOCAB\n"
           "  --image IMG      an image file (PNG, JPEG, PPM, ... anything FFmpeg decodes); repeatable.\n"
           "                   Preprocessed as CLIP does: bicubic resize of the short side, centre crop,\n"
           "                   mean/std normalisation\n"
           "  --text TEXT      a text; repeatable. Tokenized to the model's context (77, or 248 for\n"
           "                   Long-CLIP), truncated with a warning when longer\n"
           "  --json           one JSON object {\"image_embeddings\": [[...]], \"text_embeddings\": [[...]],\n"
           "                   \"logits\": [[...]]} (embeddings as the towers output them, not normalised)\n"
           "  --threads N      CPU threads (default: all cores)\n"
           "  --device D       cpu or auto (both the CPU for now: embed has not yet run on a GPU)\n");
}

typedef struct Args {
    const char *weights, *vocab;
    const char **images, **texts;
    int n_images, n_texts, json, threads;
    const char *device;
} Args;

static void print_vector(const float *v, int n) {
    for (int i = 0; i < n; i++) printf("%s%.6g", i ? " " : "", v[i]);
    printf("\n");
}

static cJSON *matrix_json(const float *m, int rows, int cols) {
    cJSON *arr = cJSON_CreateArray();
    for (int r = 0; r < rows; r++) {
        cJSON *row = cJSON_CreateArray();
        for (int c = 0; c < cols; c++) cJSON_AddItemToArray(row, cJSON_CreateNumber(m[(size_t)r * cols + c]));
        cJSON_AddItemToArray(arr, row);
    }
    return arr;
}

static void normalize_rows(float *m, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++) s += (double)m[(size_t)r * cols + c] * m[(size_t)r * cols + c];
        float inv = (float)(1.0 / fmax(sqrt(s), 1e-12));
        for (int c = 0; c < cols; c++) m[(size_t)r * cols + c] *= inv;
    }
}

static int parse_args(int argc, char **argv, Args *a) {
    static const struct option opts[] = {{"weights", required_argument, 0, 'w'}, {"vocab", required_argument, 0, 'v'},
                                         {"image", required_argument, 0, 'i'},   {"text", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},          {"threads", required_argument, 0, 'n'},
                                         {"device", required_argument, 0, 'd'},  {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    a->images = xcalloc((size_t)argc, sizeof(char *));
    a->texts = xcalloc((size_t)argc, sizeof(char *));
    a->device = "auto";
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case 'v': a->vocab = optarg; break;
        case 'i': a->images[a->n_images++] = optarg; break;
        case 't': a->texts[a->n_texts++] = optarg; break;
        case 'j': a->json = 1; break;
        case 'n':
            if (cli_int_option("embed", "--threads", optarg, 0, 4096, &a->threads)) return 2;
            break;
        case 'd': a->device = optarg; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("embed", c, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("embed", "unexpected argument '%s'", argv[optind]);
    if (!a->weights) return cli_usage_error("embed", "--weights is required");
    if (!a->n_images && !a->n_texts) return cli_usage_error("embed", "give at least one --image or --text");
    if (strcmp(a->device, "cpu") && strcmp(a->device, "auto"))
        return cli_usage_error("embed", "--device must be cpu or auto, not '%s'", a->device);
    return -1; /* continue */
}

/* Decodes and preprocesses every image into host [N, 3, R, R]. */
static int load_images(const Args *a, int res, float *out, Err *err) {
    for (int i = 0; i < a->n_images; i++) {
        ImageU8 img;
        if (image_decode_file(a->images[i], &img, err) != 0) return -1;
        int rc = clip_preprocess(&img, res, out + (size_t)i * 3 * res * res, err);
        image_free(&img);
        if (rc != 0) return err_prefix(err, "%s: ", a->images[i]);
    }
    return 0;
}

static int all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static int tokenize_texts(const Args *a, const ClipConfig *cfg, int32_t *ids, Err *err) {
    char vocab[4096];
    if (clip_vocab_resolve(a->vocab, a->weights, "--vocab", vocab, sizeof vocab, err) != 0) return -1;
    ClipTokenizer *tok;
    if (clip_tokenizer_load(vocab, &tok, err) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < a->n_texts && rc == 0; i++) {
        int32_t *full;
        int n;
        rc = clip_tokenize(tok, a->texts[i], &full, &n, err);
        if (rc != 0) {
            size_t quoted = utf8_prefix(a->texts[i], 40);
            err_prefix(err, "text %d (--text \"%.*s%s\"): ", i, (int)quoted, a->texts[i],
                       a->texts[i][quoted] ? "..." : "");
            break;
        }
        if (n > cfg->context_length) /* numbered as the output numbers them, from 0 */
            fprintf(stderr, "dfer embed: warning: text %d has %d tokens, truncated to the context of %d\n", i, n,
                    cfg->context_length);
        free(full);
        rc = clip_tokenize_padded(tok, a->texts[i], cfg->context_length, 1, ids + (size_t)i * cfg->context_length, err);
    }
    clip_tokenizer_free(tok);
    return rc;
}

int cmd_embed(int argc, char **argv) {
    Args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.images);
        free(a.texts);
        return rc;
    }
    Err err = {{0}};
    Ops *ops = NULL;
    ClipModel model;
    memset(&model, 0, sizeof model);
    float *images = NULL, *img_emb = NULL, *txt_emb = NULL, *logits = NULL;
    int32_t *ids = NULL;
    int status = 1;

    /* auto stays on the CPU: the GPU checks (scripts/gpu_check) do not run embed yet */
    Backend backend = BACKEND_CPU;
    if (ops_create(backend, a.threads, &ops, &err) != 0) goto done;
    double t0 = time_now();
    if (clip_model_load(ops, a.weights, DT_F32, &model, &err) != 0) goto done;
    const ClipConfig *cfg = &model.cfg;
    if (a.n_images && !cfg->has_vision) {
        err_set(&err, "%s has no vision tower, so --image cannot be used", a.weights);
        goto done;
    }
    if (a.n_texts && !cfg->has_text) {
        err_set(&err, "%s has no text tower, so --text cannot be used", a.weights);
        goto done;
    }
    int E = cfg->embed_dim;
    if (a.n_images) {
        int res = cfg->image_size;
        images = xmalloc((size_t)a.n_images * 3 * res * res * sizeof(float));
        if (load_images(&a, res, images, &err) != 0) goto done;
        img_emb = xmalloc((size_t)a.n_images * E * sizeof(float));
        clip_encode_images(&model, images, a.n_images, img_emb);
    }
    if (a.n_texts) {
        ids = xcalloc((size_t)a.n_texts * cfg->context_length, sizeof(int32_t));
        if (tokenize_texts(&a, cfg, ids, &err) != 0) goto done;
        txt_emb = xmalloc((size_t)a.n_texts * E * sizeof(float));
        clip_encode_texts(&model, ids, a.n_texts, txt_emb);
    }
    /* a NaN or infinity in the weights gives NaN embeddings, whose comparisons would pick the first text */
    if ((img_emb && !all_finite(img_emb, (size_t)a.n_images * E)) ||
        (txt_emb && !all_finite(txt_emb, (size_t)a.n_texts * E))) {
        err_set(&err, "%s: the %s embeddings are not finite (a NaN or infinity in the weights? `dfer info` lists them)",
                a.weights, img_emb && !all_finite(img_emb, (size_t)a.n_images * E) ? "image" : "text");
        goto done;
    }
    if (img_emb && txt_emb && !isfinite(model.logit_scale)) {
        err_set(&err, "%s: logit_scale is %g, not a finite number", a.weights, model.logit_scale);
        goto done;
    }
    if (img_emb && txt_emb && !model.logit_scale_read)
        fprintf(stderr, "dfer embed: warning: %s has no logit_scale: the logits use CLIP's trained value, 100\n",
                a.weights);
    if (img_emb && txt_emb) {
        /* logits[i, j] = exp(logit_scale) * <img_i/|img_i|, txt_j/|txt_j|> */
        float *ni = xmalloc((size_t)a.n_images * E * sizeof(float)),
              *nt = xmalloc((size_t)a.n_texts * E * sizeof(float));
        memcpy(ni, img_emb, (size_t)a.n_images * E * sizeof(float));
        memcpy(nt, txt_emb, (size_t)a.n_texts * E * sizeof(float));
        normalize_rows(ni, a.n_images, E);
        normalize_rows(nt, a.n_texts, E);
        logits = xmalloc((size_t)a.n_images * a.n_texts * sizeof(float));
        float scale = expf(model.logit_scale);
        for (int i = 0; i < a.n_images; i++)
            for (int j = 0; j < a.n_texts; j++) {
                double s = 0;
                for (int k = 0; k < E; k++) s += (double)ni[(size_t)i * E + k] * nt[(size_t)j * E + k];
                logits[(size_t)i * a.n_texts + j] = (float)(scale * s);
            }
        free(ni);
        free(nt);
    }
    double seconds = time_now() - t0;

    if (a.json) {
        cJSON *root = cJSON_CreateObject();
        if (img_emb) cJSON_AddItemToObject(root, "image_embeddings", matrix_json(img_emb, a.n_images, E));
        if (txt_emb) cJSON_AddItemToObject(root, "text_embeddings", matrix_json(txt_emb, a.n_texts, E));
        if (logits) cJSON_AddItemToObject(root, "logits", matrix_json(logits, a.n_images, a.n_texts));
        char *s = cJSON_PrintUnformatted(root);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(root);
    } else {
        char desc[160];
        printf("model: %s, %zu parameters, %s (%.2f s)\n", clip_config_describe(cfg, desc, sizeof desc),
               model.param_count, ops_describe(ops), seconds);
        for (int i = 0; i < a.n_images; i++) {
            printf("image %d (%s):\n  ", i, a.images[i]);
            print_vector(img_emb + (size_t)i * E, E);
        }
        for (int j = 0; j < a.n_texts; j++) {
            printf("text %d (\"%s\"):\n  ", j, a.texts[j]);
            print_vector(txt_emb + (size_t)j * E, E);
        }
        if (logits) {
            printf("logits (rows = images, columns = texts) and zero-shot probabilities:\n");
            for (int i = 0; i < a.n_images; i++) {
                const float *row = logits + (size_t)i * a.n_texts;
                float mx = row[0];
                int best = 0;
                for (int j = 1; j < a.n_texts; j++)
                    if (row[j] > mx) mx = row[j], best = j;
                double z = 0;
                for (int j = 0; j < a.n_texts; j++) z += exp(row[j] - mx);
                printf("  image %d:", i);
                for (int j = 0; j < a.n_texts; j++) printf(" %.4f (p=%.3f)", row[j], exp(row[j] - mx) / z);
                printf("  -> \"%s\"\n", a.texts[best]);
            }
        }
    }
    status = 0;
done:
    if (status) cli_fail(&err);
    if (model.params) clip_model_free(&model);
    ops_destroy(ops);
    free(images);
    free(img_emb);
    free(txt_emb);
    free(logits);
    free(ids);
    free(a.images);
    free(a.texts);
    return status;
}
