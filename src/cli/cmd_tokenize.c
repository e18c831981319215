/* dfer tokenize: CLIP BPE token ids of texts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/strbuf.h"
#include "text/tokenizer.h"

static void usage(void) {
    printf("usage: dfer tokenize [--vocab PATH] [--context N [--truncate]] [--] TEXT...\n\n"
           "Prints, for each TEXT, one line of space-separated CLIP token ids including the start (49406)\n"
           "and end (49407) tokens, without padding. `--` ends the options, so a text may start with '-'.\n\n"
           "  --vocab PATH   the CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz); default $DFER_VOCAB\n"
           "  --context N    check each text fits N ids (77 for CLIP, 248 for Long-CLIP): a longer text is\n"
           "                 an error naming the text; ids are still printed without padding\n"
           "  --truncate     with --context: cut a longer text to its first N ids, the last set to 49407\n\n"
           "Exit status: 0 ok; 1 unreadable vocabulary, invalid UTF-8 or a text over the context;\n"
           "2 usage error (also when neither --vocab nor DFER_VOCAB names a vocabulary).\n\n"
           "The tokenizer follows OpenAI's simple_tokenizer byte for byte, except ftfy's text repairs,\n"
           "which have no C equivalent: text that ftfy would change (mojibake, ligatures such as \"fi\"\n"
           "written as one character, full-width letters, curly quotes) can tokenize differently.\n");
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option opts[] = {{"vocab", required_argument, 0, 'v'}, {"context", required_argument, 0, 'c'},
                                         {"truncate", no_argument, 0, 't'}, {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *vocab = NULL;
    int context = 0, truncate = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case 'v': vocab = optarg; break;
        case 'c':
            if (cli_int_option("tokenize", "--context", optarg, 2, 1 << 20, &context)) return 2;
            break;
        case 't': truncate = 1; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("tokenize", c, argv, opts);
        }
    }
    if (!vocab) vocab = getenv("DFER_VOCAB");
    if (!vocab || !*vocab) /* an empty DFER_VOCAB counts as unset */
        return cli_usage_error("tokenize",
                               "no vocabulary: pass --vocab PATH (bpe_simple_vocab_16e6.txt.gz) or set DFER_VOCAB");
    if (optind >= argc) return cli_usage_error("tokenize", "give at least one TEXT");
    if (truncate && !context) return cli_usage_error("tokenize", "--truncate cuts to --context N: give --context too");
    Err err;
    ClipTokenizer *tok;
    if (clip_tokenizer_load(vocab, &tok, &err) != 0) return cli_fail(&err);
    int status = 0;
    for (int i = optind; i < argc; i++) {
        int32_t *ids;
        int n;
        if (clip_tokenize(tok, argv[i], &ids, &n, &err) != 0) {
            err_prefix(&err, "text %d: ", i - optind + 1);
            status = cli_fail(&err);
            break;
        }
        if (context && n > context) {
            if (!truncate) {
                size_t quoted = utf8_prefix(argv[i], 60);
                err_set(&err,
                        "text %d (\"%.*s%s\") has %d tokens, more than the context of %d (use --truncate to cut it)",
                        i - optind + 1, (int)quoted, argv[i], argv[i][quoted] ? "..." : "", n, context);
                free(ids);
                status = cli_fail(&err);
                break;
            }
            ids[context - 1] = CLIP_EOT;
            n = context;
        }
        for (int k = 0; k < n; k++) printf("%s%d", k ? " " : "", ids[k]);
        printf("\n");
        free(ids);
    }
    clip_tokenizer_free(tok);
    return status;
}
