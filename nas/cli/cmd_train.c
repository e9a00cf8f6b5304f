/*
 * cmd_train.c - `nas train` (stand-alone training of an arch) and `nas eval`
 * (scoring saved weights on a split).
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluator/data.h"
#include "evaluator/train.h"
#include "nas/cli/cli.h"
#include "nas/core/arch.h"
#include "nas/core/fileio.h"

static void train_usage(FILE *out) {
    fprintf(out,
            "usage: nas train --arch A.json [options]\n"
            "\n"
            "Trains the network of A.json from scratch (or from --weights) and writes\n"
            "weights.nasw, arch.json and metrics.json to --out. Hyperparameters stored\n"
            "in the arch (lr, batch_size, epochs, optimizer, momentum, weight_decay,\n"
            "warmup_epochs) are used unless a flag overrides them; any other is named\n"
            "in a warning and ignored.\n"
            "\n"
            "  --data SPEC          fashion-mnist (default) | idx:DIR | cifar10:DIR\n"
            "  --epochs E           epochs (default 10)\n"
            "  --batch B            batch size (default 128)\n"
            "  --lr LR              base learning rate (default 0.05)\n"
            "  --optimizer NAME     sgd (momentum 0.9, Nesterov) | adam | adamw\n"
            "  --momentum M         SGD momentum\n"
            "  --weight-decay WD    weight decay (default 5e-4 with sgd; adam 0, adamw 0.01)\n"
            "  --schedule NAME      cosine (default) | step | constant\n"
            "  --warmup EPOCHS      linear warm-up length in epochs (default 0)\n"
            "  --fraction F         keep this share of the training split (proxy task)\n"
            "  --val-fraction F     share of the training set held out (default 0.1)\n"
            "  --augment on|off     random crop + flip (default: off for IDX, on for CIFAR-10)\n"
            "  --weights W          start from these weights (fine-tuning)\n"
            "  --threads T          OpenMP threads (default: all cores)\n"
            "  --seed S             seeds init, split, shuffling, augmentation (default 0)\n"
            "  --out DIR            output directory (default: none, nothing written)\n"
            "  --no-test            skip the test split at the end\n"
            "  --json               print the result as JSON on stdout\n"
            "\n"
            "Same seed and threads, same numbers.\n");
}

static void eval_usage(FILE *out) {
    fprintf(out,
            "usage: nas eval --arch A.json --weights W [options]\n"
            "\n"
            "Loss and accuracy of saved weights on one split, in inference mode.\n"
            "\n"
            "  --data SPEC          fashion-mnist (default) | idx:DIR | cifar10:DIR\n"
            "  --split val|test     (default test); val needs the --seed and\n"
            "                       --val-fraction used in training\n"
            "  --batch B            evaluation batch (default 256)\n"
            "  --val-fraction F     (default 0.1)\n"
            "  --seed S             seed of the validation split (default 0)\n"
            "  --threads T          OpenMP threads\n"
            "  --json               print the result as JSON\n");
}

enum {
    OPT_ARCH = 1000, OPT_DATA, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_OPTIMIZER, OPT_MOMENTUM, OPT_WD,
    OPT_SCHEDULE, OPT_WARMUP, OPT_FRACTION, OPT_VALFRAC, OPT_AUGMENT, OPT_WEIGHTS, OPT_THREADS,
    OPT_SEED, OPT_OUT, OPT_NOTEST, OPT_JSON, OPT_SPLIT, OPT_HELP
};

static const struct option LONG_OPTS[] = {
    {"arch", required_argument, 0, OPT_ARCH},         {"data", required_argument, 0, OPT_DATA},
    {"epochs", required_argument, 0, OPT_EPOCHS},     {"batch", required_argument, 0, OPT_BATCH},
    {"lr", required_argument, 0, OPT_LR},             {"optimizer", required_argument, 0, OPT_OPTIMIZER},
    {"momentum", required_argument, 0, OPT_MOMENTUM}, {"weight-decay", required_argument, 0, OPT_WD},
    {"schedule", required_argument, 0, OPT_SCHEDULE}, {"warmup", required_argument, 0, OPT_WARMUP},
    {"fraction", required_argument, 0, OPT_FRACTION}, {"val-fraction", required_argument, 0, OPT_VALFRAC},
    {"augment", required_argument, 0, OPT_AUGMENT},   {"weights", required_argument, 0, OPT_WEIGHTS},
    {"threads", required_argument, 0, OPT_THREADS},   {"seed", required_argument, 0, OPT_SEED},
    {"out", required_argument, 0, OPT_OUT},           {"no-test", no_argument, 0, OPT_NOTEST},
    {"json", no_argument, 0, OPT_JSON},               {"split", required_argument, 0, OPT_SPLIT},
    {"help", no_argument, 0, OPT_HELP},               {0, 0, 0, 0},
};

typedef struct train_flags {
    const char *arch, *data, *optimizer, *schedule, *augment, *weights, *out, *split;
    long epochs, batch, threads, seed;
    double lr, momentum, wd, warmup, fraction, val_fraction;
    int no_test, json;
} train_flags;

/* Parses argv into f; returns -1 to continue, else the exit status. */
static int parse_flags(const char *cmd, int argc, char **argv, train_flags *f, void (*usage)(FILE *)) {
    memset(f, 0, sizeof *f);
    f->epochs = f->batch = f->threads = f->seed = CLI_UNSET;
    f->lr = f->momentum = f->wd = f->warmup = f->fraction = f->val_fraction = CLI_UNSET_NUM;
    f->data = "fashion-mnist";
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", LONG_OPTS, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case OPT_ARCH: f->arch = optarg; break;
        case OPT_DATA: f->data = optarg; break;
        case OPT_EPOCHS: ok = cli_parse_long(cmd, "--epochs", optarg, &f->epochs); break;
        case OPT_BATCH: ok = cli_parse_long(cmd, "--batch", optarg, &f->batch); break;
        case OPT_LR: ok = cli_parse_double(cmd, "--lr", optarg, &f->lr); break;
        case OPT_OPTIMIZER: f->optimizer = optarg; break;
        case OPT_MOMENTUM: ok = cli_parse_double(cmd, "--momentum", optarg, &f->momentum); break;
        case OPT_WD: ok = cli_parse_double(cmd, "--weight-decay", optarg, &f->wd); break;
        case OPT_SCHEDULE: f->schedule = optarg; break;
        case OPT_WARMUP: ok = cli_parse_double(cmd, "--warmup", optarg, &f->warmup); break;
        case OPT_FRACTION: ok = cli_parse_double(cmd, "--fraction", optarg, &f->fraction); break;
        case OPT_VALFRAC: ok = cli_parse_double(cmd, "--val-fraction", optarg, &f->val_fraction); break;
        case OPT_AUGMENT: f->augment = optarg; break;
        case OPT_WEIGHTS: f->weights = optarg; break;
        case OPT_THREADS: ok = cli_parse_long(cmd, "--threads", optarg, &f->threads); break;
        case OPT_SEED: ok = cli_parse_seed(cmd, "--seed", optarg, &f->seed); break;
        case OPT_OUT: f->out = optarg; break;
        case OPT_NOTEST: f->no_test = 1; break;
        case OPT_JSON: f->json = 1; break;
        case OPT_SPLIT: f->split = optarg; break;
        case 'h':
        case OPT_HELP: usage(stdout); return CLI_EXIT_OK;
        default:
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (!ok) return CLI_EXIT_USAGE;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!f->arch) return cli_usage_error(cmd, "--arch is required");
    if ((f->epochs != CLI_UNSET && !cli_check_hparam(cmd, "--epochs", "epochs", (double)f->epochs)) ||
        (f->batch != CLI_UNSET && !cli_check_hparam(cmd, "--batch", "batch_size", (double)f->batch)))
        return CLI_EXIT_USAGE;
    if (f->threads != CLI_UNSET && (f->threads < 1 || f->threads > 1024)) return cli_usage_error(cmd, "--threads must be in 1..1024");
    /* the bounds of the same settings given as arch hyperparameters */
    if (!cli_check_hparam(cmd, "--lr", "lr", f->lr) || !cli_check_hparam(cmd, "--momentum", "momentum", f->momentum) ||
        !cli_check_hparam(cmd, "--weight-decay", "weight_decay", f->wd) ||
        !cli_check_hparam(cmd, "--warmup", "warmup_epochs", f->warmup))
        return CLI_EXIT_USAGE;
    if (cli_num_given(f->fraction) && !(f->fraction > 0 && f->fraction <= 1))
        return cli_usage_error(cmd, "--fraction must be in (0, 1]");
    if (cli_num_given(f->val_fraction) && !(f->val_fraction >= 0 && f->val_fraction < 1))
        return cli_usage_error(cmd, "--val-fraction must be in [0, 1)");
    if (f->augment && strcmp(f->augment, "on") && strcmp(f->augment, "off"))
        return cli_usage_error(cmd, "--augment must be on or off");
    if (f->split && strcmp(f->split, "val") && strcmp(f->split, "test"))
        return cli_usage_error(cmd, "--split must be val or test");
    if (f->threads > 0) omp_set_num_threads((int)f->threads);
    return -1;
}

static nas_status load_data(const train_flags *f, nas_data **data, nas_error *err) {
    nas_data_options dopt;
    nas_data_options_default(&dopt);
    if (cli_num_given(f->val_fraction)) dopt.val_fraction = f->val_fraction;
    if (cli_num_given(f->fraction)) dopt.train_fraction = f->fraction;
    if (f->seed >= 0) dopt.seed = (uint64_t)f->seed;
    return nas_data_load(f->data, &dopt, data, err);
}

/* When run as a trial program (NAS_METRICS_FILE set, docs/trial-protocol.md),
 * the validation accuracy and loss of every epoch are reported as
 * intermediate values and the final numbers without a step. */
static void report_metric(FILE *f, const char *name, double value, int step) {
    if (!f || !isfinite(value)) return;
    if (step > 0)
        fprintf(f, "{\"metric\": \"%s\", \"value\": %.17g, \"step\": %d}\n", name, value, step);
    else
        fprintf(f, "{\"metric\": \"%s\", \"value\": %.17g}\n", name, value);
    fflush(f);
}

static int report_epoch(void *user, const nas_epoch_report *r) {
    report_metric(user, "accuracy", r->val_acc, r->epoch);
    report_metric(user, "val_loss", r->val_loss, r->epoch);
    return 0;
}

/* Hyperparameters of the arch that the trainer ignores are named, not
 * silently dropped (they may be tags, so this is a warning). */
static void warn_unused_hparams(const char *path, const nas_arch *a, const nas_logger *lg) {
    const char **names = a->n_hparams ? malloc((size_t)a->n_hparams * sizeof *names) : NULL;
    if (!names) return;
    for (int i = 0; i < a->n_hparams; i++) names[i] = a->hparams[i].name;
    char msg[1024];
    if (nas_train_unused_hparams(names, a->n_hparams, msg, sizeof msg)) nas_log(lg, NAS_LOG_WARN, "%s: %s", path, msg);
    free(names);
}

int cmd_train(int argc, char **argv, const nas_logger *lg) {
    train_flags f;
    int rc = parse_flags("train", argc, argv, &f, train_usage);
    if (rc >= 0) return rc;
    if (f.split) return cli_usage_error("train", "--split is a flag of `nas eval`");

    nas_error err = {0};
    nas_arch *a = NULL;
    nas_data *data = NULL;
    int made_out = 0;
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    if (nas_arch_load(f.arch, &a, &err)) return cli_fail(&err);
    if (nas_train_config_from_hparams(&cfg, a, &err)) goto fail;
    warn_unused_hparams(f.arch, a, lg);
    if (f.epochs > 0) cfg.epochs = (int)f.epochs;
    if (f.batch > 0) cfg.batch = (int)f.batch;
    if (cli_num_given(f.lr)) cfg.lr.base_lr = f.lr;
    if (f.optimizer) {
        nas_optim_kind kind;
        if (nas_optim_kind_parse(f.optimizer, &kind, &err)) {
            nas_arch_destroy(a);
            return cli_usage_error("train", "--optimizer: %s", err.msg);
        }
        if (kind != cfg.optim.kind) nas_optim_config_default(&cfg.optim, kind);
    }
    if (cli_num_given(f.momentum)) cfg.optim.momentum = f.momentum;
    if (cli_num_given(f.wd)) cfg.optim.weight_decay = f.wd;
    if (cli_num_given(f.warmup)) cfg.warmup_epochs = f.warmup;
    if (f.schedule) {
        if (!strcmp(f.schedule, "cosine")) cfg.lr.kind = NAS_LR_COSINE;
        else if (!strcmp(f.schedule, "constant")) cfg.lr.kind = NAS_LR_CONSTANT;
        else if (!strcmp(f.schedule, "step")) {
            cfg.lr.kind = NAS_LR_STEP;
            cfg.lr.gamma = 0.1;
        } else {
            nas_arch_destroy(a);
            return cli_usage_error("train", "--schedule must be cosine, step or constant");
        }
    }
    if (f.seed >= 0) cfg.seed = (uint64_t)f.seed;
    cfg.init_weights = f.weights;
    cfg.eval_test = !f.no_test;
    cfg.lg = lg;
    cfg.progress = lg->level <= NAS_LOG_INFO;

    /* the output directory is made (and tried) before the work, not after;
       one made here is removed again if the run fails before writing to it */
    if (f.out && nas_dir_prepare(f.out, &made_out, &err)) goto fail;
    if (load_data(&f, &data, &err)) goto fail;
    if (f.augment) {
        int on = !strcmp(f.augment, "on");
        cfg.augment_pad = on ? (data->augment_pad > 0 ? data->augment_pad : 2) : 0;
        cfg.augment_flip = on ? 1 : 0;
    }
    if (cfg.lr.kind == NAS_LR_STEP && cfg.lr.step_size == 0) {
        size_t per_epoch = data->train.n / (size_t)cfg.batch;
        cfg.lr.step_size = (per_epoch ? per_epoch : 1) * (uint64_t)(cfg.epochs > 3 ? cfg.epochs / 3 : 1);
    }
    nas_log(lg, NAS_LOG_INFO, "training %s on %s: %zu train / %zu val / %zu test images, %d epochs, batch %d, %s lr %g, %d threads",
            f.arch, data->name, data->train.n, data->val.n, data->test.n, cfg.epochs, cfg.batch,
            nas_optim_kind_name(cfg.optim.kind), cfg.lr.base_lr, omp_get_max_threads());
    const char *metrics_path = getenv("NAS_METRICS_FILE");
    FILE *metrics = NULL;
    if (metrics_path && *metrics_path) {
        if (!(metrics = fopen(metrics_path, "a"))) {
            NAS_FAIL(&err, NAS_ERR_IO, "%s: cannot open the metrics file (NAS_METRICS_FILE)", metrics_path);
            goto fail;
        }
        cfg.on_epoch = report_epoch;
        cfg.user = metrics;
    }
    nas_train_result res;
    if (nas_train_run(a, data, &cfg, f.out, &res, &err)) {
        if (metrics) fclose(metrics);
        goto fail;
    }
    if (metrics) {
        static const char *const NAMES[] = NAS_TRAIN_METRICS;
        for (int i = 0; NAMES[i]; i++) report_metric(metrics, NAMES[i], nas_train_metric(&res, NAMES[i]), 0);
        fclose(metrics);
    }
    if (f.json) { /* a figure not measured (no validation or test split) is null, as in metrics.json */
        cJSON *o = cJSON_CreateObject();
        const struct {
            const char *name;
            double v;
        } F[] = {{"epochs", res.epochs_done},       {"train_loss", res.train_loss}, {"train_accuracy", res.train_acc},
                 {"val_loss", res.val_loss},        {"val_accuracy", res.val_acc},  {"test_loss", res.test_loss},
                 {"test_accuracy", res.test_acc},   {"images_per_s", res.images_per_s}, {"seconds", res.seconds}};
        int ok = o != NULL;
        for (size_t i = 0; ok && i < sizeof F / sizeof F[0]; i++)
            ok = (isnan(F[i].v) ? cJSON_AddNullToObject(o, F[i].name) : cJSON_AddNumberToObject(o, F[i].name, F[i].v)) != NULL;
        char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!text) {
            NAS_FAIL(&err, NAS_ERR_NOMEM, "out of memory printing the result");
            goto fail;
        }
        printf("%s\n", text);
        cJSON_free(text);
    } else {
        printf("trained %d epochs in %.1f s (%.0f images/s): ", res.epochs_done, res.seconds, res.images_per_s);
        if (isnan(res.val_acc)) printf("no validation split");
        else printf("val accuracy %.2f%%", 100 * res.val_acc);
        if (!isnan(res.test_acc)) printf(", test accuracy %.2f%%", 100 * res.test_acc);
        printf("\n");
        if (f.out) printf("wrote %s/weights.nasw, arch.json, metrics.json\n", f.out);
    }
    nas_data_destroy(data);
    nas_arch_destroy(a);
    return CLI_EXIT_OK;
fail:
    if (made_out) rmdir(f.out); /* only when still empty */
    nas_data_destroy(data);
    nas_arch_destroy(a);
    return cli_fail(&err);
}

int cmd_eval(int argc, char **argv, const nas_logger *lg) {
    (void)lg;
    train_flags f;
    int rc = parse_flags("eval", argc, argv, &f, eval_usage);
    if (rc >= 0) return rc;
    if (!f.weights) return cli_usage_error("eval", "--weights is required");
    /* training flags do nothing here: refused, not ignored */
    const char *train_only = f.epochs != CLI_UNSET           ? "--epochs"
                             : cli_num_given(f.lr)           ? "--lr"
                             : f.optimizer                   ? "--optimizer"
                             : cli_num_given(f.momentum)     ? "--momentum"
                             : cli_num_given(f.wd)           ? "--weight-decay"
                             : f.schedule                    ? "--schedule"
                             : cli_num_given(f.warmup)       ? "--warmup"
                             : f.augment                     ? "--augment"
                             : f.out                         ? "--out"
                             : f.no_test                     ? "--no-test"
                                                             : NULL;
    if (train_only) return cli_usage_error("eval", "%s is a flag of `nas train` (eval trains nothing)", train_only);
    nas_error err = {0};
    nas_arch *a = NULL;
    nas_data *data = NULL;
    if (nas_arch_load(f.arch, &a, &err)) return cli_fail(&err);
    if (load_data(&f, &data, &err)) goto fail;
    nas_split split = f.split && !strcmp(f.split, "val") ? NAS_SPLIT_VAL : NAS_SPLIT_TEST;
    double loss, acc;
    const char *name = split == NAS_SPLIT_VAL ? "val" : "test";
    size_t n = split == NAS_SPLIT_VAL ? data->val.n : data->test.n;
    if (n == 0) {
        NAS_FAIL(&err, NAS_ERR_INVALID, "the %s split of %s has no images%s", name, data->name,
                 split == NAS_SPLIT_VAL ? " (--val-fraction 0?)" : "");
        goto fail;
    }
    if (nas_eval_run(a, data, f.weights, split, f.batch > 0 ? (int)f.batch : 256, &loss, &acc, &err)) goto fail;
    if (f.json)
        printf("{\"split\": \"%s\", \"images\": %zu, \"loss\": %.6f, \"accuracy\": %.6f}\n", name, n, loss, acc);
    else
        printf("%s: %zu images, loss %.4f, accuracy %.2f%%\n", name, n, loss, 100 * acc);
    nas_data_destroy(data);
    nas_arch_destroy(a);
    return CLI_EXIT_OK;
fail:
    nas_data_destroy(data);
    nas_arch_destroy(a);
    return cli_fail(&err);
}
