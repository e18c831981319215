/* Development aid while subcommands are being written in parallel: weak
 * placeholders that the real definitions override. Removed once every
 * listed command exists. */
#include <stdio.h>
#include "cli/cli.h"

__attribute__((weak)) int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer tokenize: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_convert(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer convert: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_info(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer info: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_init(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer init: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_embed(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer embed: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_synth(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer synth: not built yet\n"); return 1; }
__attribute__((weak)) int cmd_data(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "dfer data: not built yet\n"); return 1; }
