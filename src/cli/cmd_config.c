/* dfer config: shows the resolved configuration or the key reference. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "train/config.h"

static void usage(void) {
    printf("usage: dfer config [--config FILE]... [--set section.key=value]... [--origins] | --markdown\n\n"
           "Prints the configuration a run would use (defaults, then each FILE, then each --set), as INI,\n"
           "or with --markdown the reference of every key (docs/config.md is generated from it). Exit 1\n"
           "(after the print) where training would refuse the settings, the reason on stderr, with\n"
           "where each value it names was set.\n\n"
           "  --origins   after each value a file or --set gave (the default's value or not), where\n"
           "              it came from as a comment (\"epochs = 3  ; c.ini:7\", \"; --set\"); a key no file\n"
           "              or option set has none; the output still reads as a config file\n");
}

int cli_config_files(int argc, char **argv, const char *optstring, const struct option *opts, Config *cfg) {
    int saved_opterr = opterr, c, rc = 0;
    opterr = 0; /* the command's own pass reports unknown options */
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        Err err;
        if (c == 'c' && config_load_file(cfg, optarg, &err) != 0) rc = cli_fail(&err);
    }
    opterr = saved_opterr;
    optind = 1;
    return rc;
}

int cmd_config(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
                                         {"markdown", no_argument, 0, 'm'}, {"origins", no_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    Config cfg;
    config_defaults(&cfg);
    Err err;
    if (cli_config_files(argc, argv, ":h", opts, &cfg) != 0) return 1;
    int c, markdown = 0, origins = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': break;
        case 's':
            if (config_set(&cfg, optarg, &err) != 0) return cli_fail(&err);
            break;
        case 'm': markdown = 1; break; /* after every option is read: a bad one after it is still an error */
        case 'o': origins = 1; break;
        case 'h': usage(); return 0;
        default: return cli_option_error("config", c, argv, opts);
        }
    }
    if (optind < argc) return cli_usage_error("config", "unexpected argument '%s'", argv[optind]);
    if (markdown) {
        config_write_markdown(stdout);
        return 0;
    }
    config_write_origins(&cfg, origins, stdout);
    /* printed either way (to see what was set); exit 1 where training would refuse the settings (paths aside:
     * model.weights and data.root are for the run to give) */
    if (config_validate_settings(&cfg, &err) != 0) return cli_fail(&err);
    return 0;
}
