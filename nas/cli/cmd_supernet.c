/*
 * cmd_supernet.c - `nas supernet train|score|rank`: train a weight-sharing
 * supernet over a space (resumable), score candidates with inherited weights
 * (and extract them as stand-alone arch + weights), and measure how well the
 * supernet ranks candidates against stand-alone training (Kendall tau,
 * Spearman rho). The supernet itself is evaluator/supernet.h.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "evaluator/cost.h"
#include "evaluator/data.h"
#include "evaluator/supernet.h"
#include "evaluator/train.h"
#include "nas/cli/cli.h"
#include "nas/core/arch.h"
#include "nas/core/fileio.h"
#include "searchspace/space.h"

static const char *USAGE =
    "usage: nas supernet <train|score|rank> SPACE.nas [options]\n"
    "\n"
    "A weight-sharing supernet (one-shot NAS, docs/supernet.md): every point of\n"
    "SPACE.nas inherits its weights from one set of shared tensors.\n"
    "\n"
    "  train SPACE.nas --out DIR [...]          train (or resume) the supernet in DIR\n"
    "  score SPACE.nas --supernet DIR (--arch A.json | --sample N) [--extract OUT]\n"
    "                                           validation accuracy with inherited weights\n"
    "  rank SPACE.nas --supernet DIR [--archs N] [--train-epochs E]\n"
    "                                           supernet ranking vs stand-alone training\n"
    "\n"
    "`nas supernet <subcommand> --help` describes one. Exit status: 0 success,\n"
    "1 error, 2 usage error.\n";

static const char *HELP_TRAIN =
    "usage: nas supernet train SPACE.nas --out DIR [options]\n"
    "\n"
    "Trains the supernet of SPACE.nas on a proxy task: every step samples one\n"
    "sub-network uniformly (SPOS), or with --sandwich the largest, the smallest\n"
    "and a random one. A checkpoint (DIR/supernet.ckpt, DIR/supernet.json) is\n"
    "written after every epoch; running the command again with the same DIR\n"
    "resumes from the last one with the stored settings (only --epochs may raise\n"
    "the target, --threads may change).\n"
    "\n"
    "  --data SPEC          fashion-mnist (default) | idx:DIR | cifar10:DIR\n"
    "  --epochs E           epochs (default 10)\n"
    "  --fraction F         keep this share of the training split (default 1)\n"
    "  --val-fraction F     share of the training set held out for scoring (default 0.1)\n"
    "  --batch B            batch size (default 64)\n"
    "  --lr LR              base learning rate, cosine to 0 (default 0.05)\n"
    "  --optimizer NAME     sgd (momentum 0.9, Nesterov; default) | adam | adamw\n"
    "  --weight-decay WD    (default 5e-5 with sgd and adam; adamw 0.01)\n"
    "  --warmup EPOCHS      linear warm-up (default 0)\n"
    "  --sandwich           largest + smallest + random path per step\n"
    "  --distill            with --sandwich: in-place distillation, the smaller paths\n"
    "                       learn from the largest path's outputs (BigNAS)\n"
    "  --fair               strict fairness (FairNAS): per step as many paths as the\n"
    "                       largest choice has options, every option of every choice\n"
    "                       in one of them (excludes --sandwich)\n"
    "  --kernel-transform   a smaller kernel is the centre of the larger one times a\n"
    "                       learned matrix per layer and size (Once-for-All); default:\n"
    "                       the centre alone\n"
    "  --path-steps K       train each sampled path for K consecutive steps (default 1:\n"
    "                       a new path every step, SPOS); K > 1 amortizes building\n"
    "                       the path's network\n"
    "  --cache-nets N       networks kept between steps (default 1; each holds its\n"
    "                       batch's activations, up to ~1.6 GB at batch 64 in\n"
    "                       spaces/mobilenet.nas)\n"
    "  --seed S             init, sampling, shuffling, data split (default 0)\n"
    "  --threads T          OpenMP threads (default: all cores)\n"
    "  --out DIR            where the checkpoint goes (required)\n";

static const char *HELP_SCORE =
    "usage: nas supernet score SPACE.nas --supernet DIR (--arch A.json | --sample N) [options]\n"
    "\n"
    "Scores candidates with the supernet's weights: BatchNorm statistics are\n"
    "recalibrated on --recal-batches training batches, then loss and accuracy\n"
    "are measured on the validation split the supernet held out (the data set,\n"
    "split seed and fractions are read from DIR). Never the test split.\n"
    "\n"
    "  --arch A.json        score this arch (a point of SPACE.nas)\n"
    "  --sample N           score N random points (--seed picks them)\n"
    "  --seed S             (default 0)\n"
    "  --batch B            evaluation and recalibration batch (default 64)\n"
    "  --recal-batches R    training batches for BatchNorm recalibration (default 40)\n"
    "  --val-images N       score on a fixed stratified subset of N validation images\n"
    "                       (default: the whole split; a subset is faster but noisier,\n"
    "                       and `nas eval` then scores the whole split instead)\n"
    "  --finetune-steps N   first train the candidate alone from its inherited weights\n"
    "                       for N batches (the supernet's batch, optimizer and\n"
    "                       augmentation; the supernet is not changed; default 0)\n"
    "  --finetune-lr LR     the fine-tuning's lr, cosine to 0 (default 0.01)\n"
    "  --extract OUT        also write OUT/arch.json + OUT/weights.nasw (with --sample:\n"
    "                       OUT/cand_000/ ...), which `nas eval --split val` scores\n"
    "                       identically and `nas train --weights` fine-tunes\n"
    "  --threads T          OpenMP threads\n"
    "  --json               one JSON object per candidate on stdout\n";

static const char *HELP_RANK =
    "usage: nas supernet rank SPACE.nas --supernet DIR [options]\n"
    "\n"
    "Samples N distinct archs, scores each with the supernet, trains each\n"
    "stand-alone from scratch for E epochs (nas train's defaults: SGD Nesterov,\n"
    "lr 0.05 cosine, weight decay 5e-4) on the supernet's data and split, and\n"
    "prints both rankings by validation accuracy with Kendall's tau-b and\n"
    "Spearman's rho between them (with the 95% bootstrap interval of tau over\n"
    "the archs), and the tau of MACs and of parameters as the score (what size\n"
    "alone ranks).\n"
    "\n"
    "  --archs N            candidates (default 20)\n"
    "  --train-epochs E     stand-alone epochs per candidate (default 3)\n"
    "  --train-batch B      stand-alone batch (default 128)\n"
    "  --train-seeds K      train each candidate K times (seeds S..S+K-1) and rank by\n"
    "                       the mean; also prints how well the seeds agree (default 1)\n"
    "  --standalone FILE    keep the stand-alone accuracies in FILE: when it exists\n"
    "                       (an earlier `rank --json` or FILE of the same space,\n"
    "                       validation split, --seed and --archs) its runs are reused,\n"
    "                       and only the missing ones train (on the supernet's data,\n"
    "                       which must be FILE's), seed by seed, FILE rewritten after\n"
    "                       each: a killed ranking resumes, and other supernets rank\n"
    "                       against the same ground truth without training\n"
    "  --train-jobs J       train J stand-alone runs at once, one thread each (default\n"
    "                       1: one run at a time on --threads threads); small networks\n"
    "                       use cores better side by side (2 jobs on 2 cores: about\n"
    "                       1.28x the runs per hour); each arch's seeds still enter\n"
    "                       FILE in order\n"
    "  --seed S             picks the candidates and seeds training (default 0)\n"
    "  --batch B            scoring batch (default 64)\n"
    "  --recal-batches R    (default 40)\n"
    "  --val-images N       score on N validation images (default: all)\n"
    "  --finetune-steps N   fine-tune each candidate alone from its inherited weights\n"
    "                       for N batches before scoring (default 0)\n"
    "  --finetune-lr LR     (default 0.01)\n"
    "  --threads T          OpenMP threads\n"
    "  --json               the result as one JSON object\n";

enum {
    O_DATA = 1000, O_EPOCHS, O_FRACTION, O_VALFRAC, O_BATCH, O_LR, O_OPTIMIZER, O_WD, O_WARMUP, O_SANDWICH, O_DISTILL, O_FAIR, O_KTRANS,
    O_SEED, O_THREADS, O_OUT, O_SUPERNET, O_ARCH, O_SAMPLE, O_RECAL, O_EXTRACT, O_JSON, O_ARCHS, O_TEPOCHS,
    O_TBATCH, O_PATHSTEPS, O_CACHENETS, O_VALIMAGES, O_TSEEDS, O_STANDALONE, O_FTSTEPS, O_FTLR, O_TJOBS, O_HELP
};

static const struct option OPTS[] = {
    {"data", required_argument, 0, O_DATA},           {"epochs", required_argument, 0, O_EPOCHS},
    {"fraction", required_argument, 0, O_FRACTION},   {"val-fraction", required_argument, 0, O_VALFRAC},
    {"batch", required_argument, 0, O_BATCH},         {"lr", required_argument, 0, O_LR},
    {"optimizer", required_argument, 0, O_OPTIMIZER}, {"weight-decay", required_argument, 0, O_WD},
    {"warmup", required_argument, 0, O_WARMUP},       {"sandwich", no_argument, 0, O_SANDWICH},
    {"kernel-transform", no_argument, 0, O_KTRANS}, {"fair", no_argument, 0, O_FAIR},
    {"distill", no_argument, 0, O_DISTILL},
    {"seed", required_argument, 0, O_SEED},           {"threads", required_argument, 0, O_THREADS},
    {"out", required_argument, 0, O_OUT},             {"supernet", required_argument, 0, O_SUPERNET},
    {"arch", required_argument, 0, O_ARCH},           {"sample", required_argument, 0, O_SAMPLE},
    {"recal-batches", required_argument, 0, O_RECAL}, {"extract", required_argument, 0, O_EXTRACT},
    {"json", no_argument, 0, O_JSON},                 {"archs", required_argument, 0, O_ARCHS},
    {"train-epochs", required_argument, 0, O_TEPOCHS}, {"train-batch", required_argument, 0, O_TBATCH},
    {"path-steps", required_argument, 0, O_PATHSTEPS}, {"cache-nets", required_argument, 0, O_CACHENETS},
    {"val-images", required_argument, 0, O_VALIMAGES}, {"help", no_argument, 0, O_HELP},
    {"train-seeds", required_argument, 0, O_TSEEDS},  {"standalone", required_argument, 0, O_STANDALONE},
    {"finetune-steps", required_argument, 0, O_FTSTEPS}, {"finetune-lr", required_argument, 0, O_FTLR},
    {"train-jobs", required_argument, 0, O_TJOBS},
    {0, 0, 0, 0},
};

typedef struct sn_flags {
    const char *space, *data, *optimizer, *out, *supernet, *arch, *extract, *standalone;
    long epochs, batch, seed, threads, sample, recal, archs, tepochs, tbatch, path_steps, cache_nets, val_images;
    long tseeds, ft_steps, tjobs;
    double fraction, val_fraction, lr, wd, warmup, ft_lr;
    int sandwich, distill, fair, ktrans, json, n_settings; /* n_settings: training settings given */
} sn_flags;

/* Parses argv (argv[0] = the subcommand); -1 to continue, else an exit status. */
static int parse(const char *cmd, int argc, char **argv, const char *help, sn_flags *f) {
    memset(f, 0, sizeof *f);
    f->epochs = f->batch = f->seed = f->threads = f->sample = f->recal = f->archs = f->tepochs = f->tbatch = CLI_UNSET;
    f->path_steps = f->cache_nets = f->val_images = f->tseeds = f->ft_steps = f->tjobs = CLI_UNSET;
    f->fraction = f->val_fraction = f->lr = f->wd = f->warmup = f->ft_lr = CLI_UNSET_NUM;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case O_DATA: f->data = optarg, f->n_settings++; break;
        case O_EPOCHS: ok = cli_parse_long(cmd, "--epochs", optarg, &f->epochs); break;
        case O_FRACTION: ok = cli_parse_double(cmd, "--fraction", optarg, &f->fraction), f->n_settings++; break;
        case O_VALFRAC: ok = cli_parse_double(cmd, "--val-fraction", optarg, &f->val_fraction), f->n_settings++; break;
        case O_BATCH: ok = cli_parse_long(cmd, "--batch", optarg, &f->batch), f->n_settings++; break;
        case O_LR: ok = cli_parse_double(cmd, "--lr", optarg, &f->lr), f->n_settings++; break;
        case O_OPTIMIZER: f->optimizer = optarg, f->n_settings++; break;
        case O_WD: ok = cli_parse_double(cmd, "--weight-decay", optarg, &f->wd), f->n_settings++; break;
        case O_WARMUP: ok = cli_parse_double(cmd, "--warmup", optarg, &f->warmup), f->n_settings++; break;
        case O_SANDWICH: f->sandwich = 1, f->n_settings++; break;
        case O_FAIR: f->fair = 1, f->n_settings++; break;
        case O_DISTILL: f->distill = 1, f->n_settings++; break;
        case O_KTRANS: f->ktrans = 1, f->n_settings++; break;
        case O_SEED: ok = cli_parse_seed(cmd, "--seed", optarg, &f->seed), f->n_settings++; break;
        case O_THREADS: ok = cli_parse_long(cmd, "--threads", optarg, &f->threads); break;
        case O_OUT: f->out = optarg; break;
        case O_SUPERNET: f->supernet = optarg; break;
        case O_ARCH: f->arch = optarg; break;
        case O_SAMPLE: ok = cli_parse_long(cmd, "--sample", optarg, &f->sample); break;
        case O_RECAL: ok = cli_parse_long(cmd, "--recal-batches", optarg, &f->recal); break;
        case O_EXTRACT: f->extract = optarg; break;
        case O_JSON: f->json = 1; break;
        case O_ARCHS: ok = cli_parse_long(cmd, "--archs", optarg, &f->archs); break;
        case O_TEPOCHS: ok = cli_parse_long(cmd, "--train-epochs", optarg, &f->tepochs); break;
        case O_TBATCH: ok = cli_parse_long(cmd, "--train-batch", optarg, &f->tbatch); break;
        case O_PATHSTEPS: ok = cli_parse_long(cmd, "--path-steps", optarg, &f->path_steps), f->n_settings++; break;
        case O_CACHENETS: ok = cli_parse_long(cmd, "--cache-nets", optarg, &f->cache_nets); break;
        case O_VALIMAGES: ok = cli_parse_long(cmd, "--val-images", optarg, &f->val_images); break;
        case O_TSEEDS: ok = cli_parse_long(cmd, "--train-seeds", optarg, &f->tseeds); break;
        case O_STANDALONE: f->standalone = optarg; break;
        case O_FTSTEPS: ok = cli_parse_long(cmd, "--finetune-steps", optarg, &f->ft_steps); break;
        case O_FTLR: ok = cli_parse_double(cmd, "--finetune-lr", optarg, &f->ft_lr); break;
        case O_TJOBS: ok = cli_parse_long(cmd, "--train-jobs", optarg, &f->tjobs); break;
        case 'h':
        case O_HELP: fputs(help, stdout); return CLI_EXIT_OK;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (!ok) return CLI_EXIT_USAGE;
    }
    if (optind >= argc) return cli_usage_error(cmd, "SPACE.nas is required");
    f->space = argv[optind++];
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    /* upper bounds keep every value inside the int it is stored in */
    if (f->epochs != CLI_UNSET && (f->epochs < 1 || f->epochs > 1000000))
        return cli_usage_error(cmd, "--epochs must be in 1..1000000");
    if (f->batch != CLI_UNSET && (f->batch < 1 || f->batch > 65536)) return cli_usage_error(cmd, "--batch must be in 1..65536");
    if (f->tbatch != CLI_UNSET && (f->tbatch < 1 || f->tbatch > 65536))
        return cli_usage_error(cmd, "--train-batch must be in 1..65536");
    if (f->threads != CLI_UNSET && (f->threads < 1 || f->threads > 1024)) return cli_usage_error(cmd, "--threads must be in 1..1024");
    if (f->sample != CLI_UNSET && f->sample < 1) return cli_usage_error(cmd, "--sample must be >= 1");
    if (f->recal != CLI_UNSET && (f->recal < 1 || f->recal > 1000000))
        return cli_usage_error(cmd, "--recal-batches must be in 1..1000000");
    if (f->archs != CLI_UNSET && (f->archs < 2 || f->archs > 100000))
        return cli_usage_error(cmd, "--archs must be in 2..100000");
    if (f->tepochs != CLI_UNSET && (f->tepochs < 1 || f->tepochs > 1000000))
        return cli_usage_error(cmd, "--train-epochs must be in 1..1000000");
    if (f->path_steps != CLI_UNSET && (f->path_steps < 1 || f->path_steps > 1000000))
        return cli_usage_error(cmd, "--path-steps must be >= 1");
    if (f->cache_nets != CLI_UNSET && (f->cache_nets < 1 || f->cache_nets > 64))
        return cli_usage_error(cmd, "--cache-nets must be in 1..64");
    if (f->val_images != CLI_UNSET && f->val_images < 1) return cli_usage_error(cmd, "--val-images must be >= 1");
    if (f->tseeds != CLI_UNSET && (f->tseeds < 1 || f->tseeds > 100))
        return cli_usage_error(cmd, "--train-seeds must be in 1..100");
    if (f->ft_steps != CLI_UNSET && (f->ft_steps < 0 || f->ft_steps > 10000000))
        return cli_usage_error(cmd, "--finetune-steps must be in 0..10000000");
    if (f->tjobs != CLI_UNSET && (f->tjobs < 1 || f->tjobs > 64))
        return cli_usage_error(cmd, "--train-jobs must be in 1..64");
    /* the bounds nas train (and an arch's hyperparameters) use for the same settings */
    if (!cli_check_hparam(cmd, "--lr", "lr", f->lr) || !cli_check_hparam(cmd, "--finetune-lr", "lr", f->ft_lr) ||
        !cli_check_hparam(cmd, "--weight-decay", "weight_decay", f->wd) ||
        !cli_check_hparam(cmd, "--warmup", "warmup_epochs", f->warmup))
        return CLI_EXIT_USAGE;
    if (cli_num_given(f->fraction) && !(f->fraction > 0 && f->fraction <= 1))
        return cli_usage_error(cmd, "--fraction must be in (0, 1]");
    if (cli_num_given(f->val_fraction) && !(f->val_fraction > 0 && f->val_fraction < 1))
        return cli_usage_error(cmd, "--val-fraction must be in (0, 1)");
    if (f->threads > 0) omp_set_num_threads((int)f->threads);
    return -1;
}

static int compile_space(const char *path, ss_space **s) {
    nas_error err = {0};
    if (ss_space_compile_file(path, stderr, s, &err)) return cli_fail(&err);
    return -1;
}

static nas_status load_data(const nas_supernet_config *cfg, nas_data **data, nas_error *err) {
    nas_data_options opt;
    nas_supernet_data_options(cfg, &opt);
    return nas_data_load(cfg->data_spec, &opt, data, err);
}

static int sn_cmd_train(int argc, char **argv, const nas_logger *lg) {
    sn_flags f;
    int rc = parse("supernet train", argc, argv, HELP_TRAIN, &f);
    if (rc >= 0) return rc;
    if (!f.out) return cli_usage_error("supernet train", "--out DIR is required");
    ss_space *space = NULL;
    if ((rc = compile_space(f.space, &space)) >= 0) return rc;
    nas_error err = {0};
    nas_supernet *sn = NULL;
    nas_data *data = NULL;
    nas_supernet_config cfg;
    nas_supernet_config_default(&cfg);
    cfg.lg = lg;
    cfg.progress = lg->level <= NAS_LOG_INFO;
    /* where the checkpoints go is made (and tried) before the first epoch;
       one made here is removed again if the run fails before a checkpoint */
    int made_out = 0;
    if (nas_dir_prepare(f.out, &made_out, &err)) goto fail;
    if (nas_supernet_exists(f.out)) {
        if (nas_supernet_load(space, f.out, &cfg, &sn, &err)) goto fail;
        if (f.n_settings)
            NAS_WARN(lg, "%s holds a supernet: resuming it with its stored settings (the training flags are ignored)",
                     f.out);
        if (f.epochs > 0) nas_supernet_set_epochs(sn, (int)f.epochs);
        const nas_supernet_config *c = nas_supernet_get_config(sn);
        NAS_INFO(lg, "resuming %s after epoch %d of %d", f.out, nas_supernet_epoch(sn), c->epochs);
    } else {
        if (f.data) snprintf(cfg.data_spec, sizeof cfg.data_spec, "%s", f.data);
        if (f.epochs > 0) cfg.epochs = (int)f.epochs;
        if (f.batch > 0) cfg.batch = (int)f.batch;
        if (cli_num_given(f.lr)) cfg.lr.base_lr = f.lr;
        if (f.optimizer) {
            nas_optim_kind kind;
            if (nas_optim_kind_parse(f.optimizer, &kind, &err)) {
                ss_space_destroy(space);
                return cli_usage_error("supernet train", "--optimizer: %s", err.msg);
            }
            if (kind != cfg.optim.kind) {
                nas_optim_config_default(&cfg.optim, kind);
                if (kind == NAS_OPTIM_ADAM) cfg.optim.weight_decay = 5e-5;
            }
        }
        if (cli_num_given(f.wd)) cfg.optim.weight_decay = f.wd;
        if (cli_num_given(f.warmup)) cfg.warmup_epochs = f.warmup;
        if (cli_num_given(f.fraction)) cfg.train_fraction = f.fraction;
        if (cli_num_given(f.val_fraction)) cfg.val_fraction = f.val_fraction;
        if (f.seed >= 0) cfg.seed = cfg.data_seed = (uint64_t)f.seed;
        cfg.sandwich = f.sandwich;
        cfg.fair = f.fair;
        cfg.distill = f.distill;
        cfg.kernel_transform = f.ktrans;
        if (f.path_steps > 0) cfg.path_steps = (int)f.path_steps;
        if (f.cache_nets > 0) cfg.cache_nets = (int)f.cache_nets;
        if (nas_supernet_create(space, &cfg, &sn, &err)) goto fail;
    }
    const nas_supernet_config *c = nas_supernet_get_config(sn);
    if (load_data(c, &data, &err)) goto fail;
    NAS_INFO(lg, "supernet of %s on %s: %zu train / %zu val images, %d epochs, batch %d, %s lr %g%s, %d threads",
             space->name, data->name, data->train.n, data->val.n, c->epochs, c->batch, nas_optim_kind_name(c->optim.kind),
             c->lr.base_lr, c->distill ? ", sandwich rule with distillation" : c->sandwich ? ", sandwich rule" : c->fair ? ", fair sampling" : "", omp_get_max_threads());
    nas_supernet_result res;
    if (nas_supernet_train(sn, data, f.out, &res, &err)) goto fail;
    if (isnan(res.train_loss)) {
        printf("the supernet in %s is already trained to epoch %d/%d (--epochs raises the target)\n", f.out,
               res.epochs_done, c->epochs);
    } else {
        printf("supernet trained to epoch %d/%d in %.1f s (median step %.3f s), last epoch loss %.4f acc %.2f%%\n",
               res.epochs_done, c->epochs, res.seconds, res.step_seconds, res.train_loss, 100 * res.train_acc);
        printf("wrote %s/supernet.ckpt, supernet.json\n", f.out);
    }
    nas_data_destroy(data);
    nas_supernet_destroy(sn);
    ss_space_destroy(space);
    return CLI_EXIT_OK;
fail:
    if (made_out) rmdir(f.out); /* only when still empty */
    nas_data_destroy(data);
    nas_supernet_destroy(sn);
    ss_space_destroy(space);
    return cli_fail(&err);
}

/* Opens the space, the supernet in f->supernet and its data. -1 on success. */
static int open_all(const char *cmd, const sn_flags *f, const nas_logger *lg, ss_space **space, nas_supernet **sn,
                    nas_data **data) {
    if (!f->supernet) return cli_usage_error(cmd, "--supernet DIR is required");
    int rc = compile_space(f->space, space);
    if (rc >= 0) return rc;
    nas_error err = {0};
    nas_supernet_config rt;
    nas_supernet_config_default(&rt);
    rt.lg = lg;
    if (nas_supernet_load(*space, f->supernet, &rt, sn, &err) || load_data(nas_supernet_get_config(*sn), data, &err))
        return cli_fail(&err);
    return -1;
}

static void score_options(const sn_flags *f, nas_supernet_score_options *so) {
    nas_supernet_score_options_default(so);
    if (f->batch > 0) so->batch = (int)f->batch;
    if (f->recal > 0) so->recal_batches = (int)f->recal;
    if (f->val_images > 0) so->val_images = (size_t)f->val_images;
    if (f->ft_steps >= 0) so->finetune_steps = (int)f->ft_steps;
    if (cli_num_given(f->ft_lr)) so->finetune_lr = f->ft_lr;
}

static void print_eval_hint(const char *dir, const nas_supernet_config *c, int batch) {
    printf("  check: nas eval --arch %s/arch.json --weights %s/weights.nasw --split val --data %s "
           "--seed %llu --val-fraction %g --fraction %g --batch %d\n",
           dir, dir, c->data_spec, (unsigned long long)c->data_seed, c->val_fraction, c->train_fraction, batch);
}

static int sn_cmd_score(int argc, char **argv, const nas_logger *lg) {
    sn_flags f;
    int rc = parse("supernet score", argc, argv, HELP_SCORE, &f);
    if (rc >= 0) return rc;
    if (!f.arch == (f.sample < 0)) return cli_usage_error("supernet score", "give exactly one of --arch or --sample");
    ss_space *space = NULL;
    nas_supernet *sn = NULL;
    nas_data *data = NULL;
    nas_arch *a = NULL;
    nas_error err = {0};
    /* OUT is made (and tried) before any scoring; one made here is removed
       again if scoring fails before writing to it */
    int made_out = 0;
    if (f.extract && nas_dir_prepare(f.extract, &made_out, &err)) goto fail;
    if ((rc = open_all("supernet score", &f, lg, &space, &sn, &data)) >= 0) goto out;
    nas_supernet_score_options so;
    score_options(&f, &so);
    const nas_supernet_config *c = nas_supernet_get_config(sn);
    pcg32 rng;
    pcg32_seed(&rng, f.seed > 0 ? (uint64_t)f.seed : 0, 21);
    long n = f.arch ? 1 : f.sample;
    for (long i = 0; i < n; i++) {
        if (f.arch ? nas_arch_load(f.arch, &a, &err) : nas_supernet_sample(sn, &rng, NULL, &a, &err)) goto fail;
        nas_supernet_score sc;
        char dir[4096] = "";
        if (f.extract) {
            if (f.arch) snprintf(dir, sizeof dir, "%s", f.extract);
            else snprintf(dir, sizeof dir, "%s/cand_%03ld", f.extract, i);
        }
        if (f.extract ? nas_supernet_extract(sn, a, data, &so, dir, &sc, &err)
                      : nas_supernet_score_arch(sn, a, data, &so, &sc, &err)) {
            if (f.arch) nas_error_prefix(&err, "%s", f.arch); /* e.g. an arch of another space */
            goto fail;
        }
        if (f.json) {
            printf("{\"index\": %ld, \"arch_hash\": \"%016llx\", \"val_loss\": %.6f, \"val_accuracy\": %.6f, "
                   "\"images\": %zu, \"seconds\": %.3f, \"point\": %s%s%s%s}\n",
                   i, (unsigned long long)nas_arch_hash(a), sc.val_loss, sc.val_acc, sc.images, sc.seconds,
                   a->point_json ? a->point_json : "null", dir[0] ? ", \"extracted\": \"" : "", dir,
                   dir[0] ? "\"" : "");
        } else {
            printf("candidate %ld (arch %016llx): val accuracy %.2f%%, loss %.4f on %zu images (%.2f s)\n", i,
                   (unsigned long long)nas_arch_hash(a), 100 * sc.val_acc, sc.val_loss, sc.images, sc.seconds);
            if (dir[0]) {
                printf("  wrote %s/arch.json, weights.nasw\n", dir);
                print_eval_hint(dir, c, so.batch);
            }
        }
        fflush(stdout);
        nas_arch_destroy(a);
        a = NULL;
    }
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(&err);
out:
    if (rc != CLI_EXIT_OK && made_out) rmdir(f.extract); /* only when still empty */
    nas_arch_destroy(a);
    nas_data_destroy(data);
    nas_supernet_destroy(sn);
    ss_space_destroy(space);
    return rc;
}

/* Ranks (1 = best) of v descending, ties averaged. */
static void rank_desc(const double *v, double *r, int n) {
    for (int i = 0; i < n; i++) {
        int more = 0, eq = 0;
        for (int j = 0; j < n; j++) more += v[j] > v[i], eq += v[j] == v[i];
        r[i] = more + (eq + 1) / 2.0;
    }
}

/* s as a JSON string literal (quoted, escaped), malloc'd; NULL when out of memory. */
static char *json_string(const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *t = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return t;
}

/* Mean Kendall tau over the pairs of seeds of acc (n archs x k seeds,
 * arch-major); NAN with one seed. col: room for 2 n. */
static double seed_agreement(const double *acc, int n, int k, double *col) {
    double sum = 0;
    int pairs = 0;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) {
            for (int i = 0; i < n; i++) col[i] = acc[i * k + a], col[n + i] = acc[i * k + b];
            sum += nas_supernet_kendall_tau(col, col + n, n);
            pairs++;
        }
    return pairs ? sum / pairs : NAN;
}

/* Kendall tau of score[] against each seed's accuracies alone (k of them). */
static void per_seed_tau(const double *score, const double *acc, int n, int k, double *col, double *out) {
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < n; i++) col[i] = acc[i * k + j];
        out[j] = nas_supernet_kendall_tau(score, col, n);
    }
}

/* `"name": value, ` with null for a statistic that is not defined (a tau
 * of constant scores is NaN, which JSON cannot hold). */
static void json_stat(const char *name, double v) {
    if (isfinite(v))
        printf("\"%s\": %.6f, ", name, v);
    else
        printf("\"%s\": null, ", name);
}

/* The stand-alone runs a ranking still lacks (its ground truth). */
typedef struct gt_job {
    nas_arch *const *archs;
    const nas_data *data;
    const nas_train_config *tdef;
    nas_supernet_truth *gt;
    const nas_supernet_config *cfg;
    const char *file;   /* --standalone FILE, or NULL */
    const double *sacc; /* the supernet's scores, for the log */
    int n;
    uint64_t seed;
    const nas_logger *lg;
} gt_job;

enum { RUN_WAITING, RUN_TRAINED, RUN_RECORDED };

typedef struct gt_run {
    int i, j;  /* arch, seed */
    int state; /* RUN_* */
    double acc, seconds;
} gt_run;

/* Run r's result into the ground truth, and FILE rewritten after every run
 * (a killed ranking resumes). */
static nas_status commit_run(const gt_job *g, const gt_run *r, nas_error *err) {
    nas_supernet_truth *gt = g->gt;
    int i = r->i, j = r->j, k = gt->seeds;
    gt->seed_acc[i * k + j] = r->acc;
    gt->acc[i] = (gt->acc[i] * j + r->acc) / (j + 1);
    gt->have[i] = j + 1;
    NAS_INFO(g->lg, "trained %d/%d (seed %d of %d): stand-alone val accuracy %.2f%% (supernet %.2f%%, %.0f s)", i + 1,
             g->n, j + 1, k, 100 * r->acc, 100 * g->sacc[i], r->seconds);
    return g->file ? nas_supernet_truth_write(g->file, gt, g->cfg, g->archs, g->n, err) : NAS_OK;
}

/* Trains the missing runs seed by seed (every arch's first seed, then the
 * second...), so that a ranking stopped early holds whole seeds first. With
 * jobs > 1 that many runs train at once, one thread each (omp_set_num_threads
 * (1) in each: their own OpenMP regions get one thread, and oneDNN runs
 * sequentially inside a parallel region), so a run gives the numbers of the
 * same run with --threads 1, also when a resumed ranking has one run left.
 * A finished run is recorded at once unless its arch's previous seed is
 * still training (FILE holds each arch's first seeds); it then waits. After
 * a failed run no new run starts, those under way finish and are recorded,
 * and the first failure is returned. */
static nas_status train_missing(const gt_job *g, int missing, int jobs, nas_error *err) {
    nas_supernet_truth *gt = g->gt;
    int k = gt->seeds, m = 0, one_thread = jobs > 1, saved = omp_get_max_threads();
    gt_run *runs = calloc((size_t)missing, sizeof *runs);
    if (!runs) return NAS_FAIL(err, NAS_ERR_NOMEM, "out of memory");
    for (int j = 0; j < k; j++)
        for (int i = 0; i < g->n; i++)
            if (gt->have[i] <= j) runs[m++] = (gt_run){.i = i, .j = j};
    if (jobs > m) jobs = m;
    int next = 0, under_way = 0;
    nas_status st = NAS_OK, wst = NAS_OK; /* the first failure; a FILE write's */
#pragma omp parallel num_threads(jobs) if (jobs > 1)
    {
        if (one_thread) omp_set_num_threads(1);
        nas_error e = {0};
        for (;;) {
            int r = -1;
#pragma omp critical(gt_runs)
            if (st == NAS_OK && next < m) r = next++, under_way++;
            if (r < 0) break;
            nas_train_config tc = *g->tdef;
            tc.epochs = gt->epochs;
            tc.batch = gt->train_batch;
            tc.eval_test = 0;
            tc.seed = g->seed + (uint64_t)runs[r].j;
            nas_train_result tr;
            nas_status s = nas_train_run(g->archs[runs[r].i], g->data, &tc, NULL, &tr, &e);
#pragma omp critical(gt_runs)
            {
                under_way--;
                if (s) {
                    nas_error_prefix(&e, "stand-alone run of arch %d, seed %d", runs[r].i + 1, runs[r].j + 1);
                    if (st == NAS_OK) st = s, *err = e;
                    if (under_way)
                        NAS_WARN(g->lg, "%s; no new run starts, waiting for the %d under way", e.msg, under_way);
                } else {
                    runs[r].acc = tr.val_acc, runs[r].seconds = tr.seconds, runs[r].state = RUN_TRAINED;
                    /* every finished run whose arch has its earlier seeds */
                    for (int more = 1; more && wst == NAS_OK;) {
                        more = 0;
                        for (int q = 0; q < next && wst == NAS_OK; q++)
                            if (runs[q].state == RUN_TRAINED && gt->have[runs[q].i] == runs[q].j) {
                                nas_error we = {0};
                                if ((wst = commit_run(g, &runs[q], &we)) && st == NAS_OK) st = wst, *err = we;
                                runs[q].state = RUN_RECORDED, more = 1;
                            }
                    }
                }
            }
        }
    }
    if (one_thread) omp_set_num_threads(saved);
    free(runs);
    return st;
}

static int sn_cmd_rank(int argc, char **argv, const nas_logger *lg) {
    sn_flags f;
    int rc = parse("supernet rank", argc, argv, HELP_RANK, &f);
    if (rc >= 0) return rc;
    ss_space *space = NULL;
    nas_supernet *sn = NULL;
    nas_data *data = NULL;
    nas_error err = {0};
    int n = f.archs > 0 ? (int)f.archs : 20;
    nas_train_config tdef;
    nas_train_config_default(&tdef);
    nas_supernet_truth gt = {0}; /* the stand-alone accuracies */
    nas_arch **archs = calloc((size_t)n, sizeof *archs);
    double *sacc = calloc((size_t)n, sizeof *sacc), *sloss = calloc((size_t)n, sizeof *sloss),
           *nloss = calloc((size_t)n, sizeof *nloss),
           *r1 = calloc((size_t)n, sizeof *r1), *r2 = calloc((size_t)n, sizeof *r2),
           *col = calloc(2 * (size_t)n, sizeof *col),
           *macs = calloc((size_t)n, sizeof *macs), *params = calloc((size_t)n, sizeof *params);
    uint64_t *seen = calloc((size_t)n, sizeof *seen);
    if (!archs || !sacc || !sloss || !nloss || !r1 || !r2 || !col || !seen || !macs || !params) {
        NAS_FAIL(&err, NAS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* a FILE to create must be writable before any work (one that exists is
     * checked below, when runs are missing: a complete one is only read) */
    if (f.standalone && !nas_path_exists(f.standalone) && nas_file_check_writable(f.standalone, &err)) goto fail;
    if ((rc = open_all("supernet rank", &f, lg, &space, &sn, &data)) >= 0) goto out;
    const nas_supernet_config *cfg = nas_supernet_get_config(sn);
    nas_supernet_score_options so;
    score_options(&f, &so);
    pcg32 rng;
    pcg32_seed(&rng, f.seed > 0 ? (uint64_t)f.seed : 0, 22);
    for (int i = 0, tries = 0; i < n; tries++) {
        if (tries > 100 * n) {
            NAS_FAIL(&err, NAS_ERR_EXHAUSTED, "the space has fewer than %d distinct networks", n);
            goto fail;
        }
        nas_arch *a;
        if (nas_supernet_sample(sn, &rng, NULL, &a, &err)) goto fail;
        uint64_t h = nas_arch_hash(a);
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= seen[j] == h;
        if (dup) {
            nas_arch_destroy(a);
            continue;
        }
        nas_cost cost;
        nas_status cs = nas_cost_compute(a, 1, NAS_COST_OPTIM_SGD, &cost, &err);
        macs[i] = (double)cost.macs, params[i] = (double)cost.params;
        nas_cost_deinit(&cost);
        if (cs) {
            nas_arch_destroy(a);
            goto fail;
        }
        seen[i] = h;
        archs[i++] = a;
    }
    /* the ground truth: what --standalone FILE holds when it exists (a bad
     * file fails before any work), the rest trains below */
    if (f.standalone && nas_path_exists(f.standalone)) {
        char *text = NULL;
        size_t len;
        if (nas_file_read(f.standalone, &text, &len, &err)) goto fail;
        nas_status st = nas_supernet_truth_parse(text, len, f.standalone, cfg, seen, n, &gt, &err);
        free(text);
        if (st) goto fail;
        NAS_INFO(lg, "stand-alone accuracies from %s (%d epochs, %d seed%s)", f.standalone, gt.epochs, gt.seeds,
                 gt.seeds > 1 ? "s" : "");
        if (f.tepochs > 0 && f.tepochs != gt.epochs) {
            NAS_FAIL(&err, NAS_ERR_INVALID, "--train-epochs %ld: %s's runs trained %d epochs", f.tepochs,
                     f.standalone, gt.epochs);
            goto fail;
        }
        if (f.tseeds > 0 && f.tseeds < gt.seeds) {
            NAS_FAIL(&err, NAS_ERR_INVALID, "--train-seeds %ld: %s is a ground truth of %d seeds", f.tseeds,
                     f.standalone, gt.seeds);
            goto fail;
        }
        if (gt.train_batch && f.tbatch > 0 && f.tbatch != gt.train_batch) {
            NAS_FAIL(&err, NAS_ERR_INVALID, "--train-batch %ld: %s's runs used %d", f.tbatch, f.standalone,
                     gt.train_batch);
            goto fail;
        }
        if (!gt.train_batch && f.tbatch > 0) gt.train_batch = (int)f.tbatch;
    } else {
        gt.epochs = f.tepochs > 0 ? (int)f.tepochs : 3;
        gt.train_batch = f.tbatch > 0 ? (int)f.tbatch : tdef.batch;
        gt.train_fraction = cfg->train_fraction;
    }
    /* room for --train-seeds (default: what FILE holds, or 1) */
    if (nas_supernet_truth_reserve(&gt, n, f.tseeds > 0 ? (int)f.tseeds : 1, &err)) goto fail;
    const int k = gt.seeds;
    int missing = 0;
    for (int i = 0; i < n; i++) missing += k - gt.have[i];
    if (missing && gt.train_fraction != cfg->train_fraction) {
        NAS_FAIL(&err, NAS_ERR_INVALID,
                 "%s trained on %g of the training split, the supernet on %g: its %d missing runs would train on "
                 "the supernet's data, another ground truth",
                 f.standalone, gt.train_fraction, cfg->train_fraction, missing);
        goto fail;
    }
    if (missing && f.standalone && nas_file_check_writable(f.standalone, &err)) goto fail;
    if (missing && !gt.train_batch) {
        NAS_FAIL(&err, NAS_ERR_INVALID,
                 "%s: no train_batch (written before the field): give --train-batch with the batch its runs used",
                 f.standalone);
        goto fail;
    }
    double t0 = nas_time_now();
    for (int i = 0; i < n; i++) {
        nas_supernet_score sc;
        if (nas_supernet_score_arch(sn, archs[i], data, &so, &sc, &err)) goto fail;
        sacc[i] = sc.val_acc;
        sloss[i] = sc.val_loss;
        nloss[i] = -sloss[i];
        NAS_INFO(lg, "scored %d/%d: supernet val accuracy %.2f%% (%.2f s)", i + 1, n, 100 * sc.val_acc, sc.seconds);
    }
    double score_time = nas_time_now() - t0;
    t0 = nas_time_now();
    if (missing) {
        gt_job job = {archs, data, &tdef, &gt, cfg, f.standalone, sacc, n, f.seed > 0 ? (uint64_t)f.seed : 0, lg};
        if (train_missing(&job, missing, f.tjobs > 0 ? (int)f.tjobs : 1, &err)) goto fail;
    }
    double train_time = missing ? nas_time_now() - t0 : 0;
    const double *tacc = gt.acc, *seed_acc = gt.seed_acc;
    double tau = nas_supernet_kendall_tau(sacc, tacc, n), rho = nas_supernet_spearman_rho(sacc, tacc, n);
    /* what another draw of n archs could give (20 archs: tau +-0.35); each
       resample costs n^2, so very large rankings get none (null) */
    double tau_lo = NAN, tau_hi = NAN;
    pcg32 boot;
    pcg32_seed(&boot, 0x7a75, 1);
    if (n <= 600) nas_supernet_kendall_tau_interval(sacc, tacc, n, 2000, 0.95, &boot, &tau_lo, &tau_hi);
    double tau_loss = nas_supernet_kendall_tau(nloss, tacc, n), agree = seed_agreement(seed_acc, n, k, col);
    /* the cost-only baselines: how well size alone ranks the same archs */
    double tau_macs = nas_supernet_kendall_tau(macs, tacc, n), tau_params = nas_supernet_kendall_tau(params, tacc, n);
    rank_desc(sacc, r1, n);
    rank_desc(tacc, r2, n);
    double seed_tau[100]; /* k <= 100 (--train-seeds) */
    per_seed_tau(sacc, seed_acc, n, k, col, seed_tau);
    double ceil_one, ceil_mean; /* what a perfect score could reach (NAN with one seed) */
    nas_supernet_tau_ceiling(seed_acc, n, k, &ceil_one, &ceil_mean);
    if (f.json) {
        printf("{\"archs\": %d, ", n);
        json_stat("kendall_tau", tau);
        if (isfinite(tau_lo))
            printf("\"kendall_tau_interval\": [%.6f, %.6f], \"interval\": \"95%% percentile bootstrap over archs, "
                   "2000 resamples\", ",
                   tau_lo, tau_hi);
        else
            printf("\"kendall_tau_interval\": null, ");
        json_stat("spearman_rho", rho);
        json_stat("kendall_tau_loss", tau_loss);
        printf("\"score_seconds\": %.3f, \"train_seconds\": %.3f, \"train_epochs\": %d, \"train_seeds\": %d, ",
               score_time, train_time, gt.epochs, k);
        json_stat("kendall_tau_macs", tau_macs);
        json_stat("kendall_tau_params", tau_params);
        if (k > 1) json_stat("seed_kendall_tau", agree);
        if (isfinite(ceil_one))
            printf("\"tau_ceiling\": {\"one_seed\": %.6f, \"mean\": %.6f, \"model\": \"a perfect score, Gaussian "
                   "model of the seeds' spread\"}, ",
                   ceil_one, ceil_mean);
        else
            printf("\"tau_ceiling\": null, ");
        printf("\"kendall_tau_per_seed\": [");
        for (int j = 0; j < k; j++) printf(isfinite(seed_tau[j]) ? "%s%.6f" : "%snull", j ? ", " : "", seed_tau[j]);
        printf("], ");
        if (gt.train_batch > 0) printf("\"train_batch\": %d, ", gt.train_batch);
        printf("\"scoring\": {\"batch\": %d, \"recal_batches\": %d, \"val_images\": %zu, \"finetune_steps\": %d, "
               "\"finetune_lr\": %.17g}, ",
               so.batch, so.recal_batches, so.val_images, so.finetune_steps, so.finetune_lr);
        char *from = f.standalone ? json_string(f.standalone) : NULL, *spec = json_string(cfg->data_spec);
        if (!spec || (f.standalone && !from)) {
            free(from), free(spec);
            NAS_FAIL(&err, NAS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (from) printf("\"standalone_from\": %s, ", from);
        printf("\"data\": {\"spec\": %s, \"train_fraction\": %.17g, \"val_fraction\": %.17g, \"seed\": %llu}, "
               "\"candidates\": [",
               spec, gt.train_fraction, cfg->val_fraction, (unsigned long long)cfg->data_seed);
        free(from), free(spec);
        for (int i = 0; i < n; i++) {
            printf("%s{\"arch_hash\": \"%016llx\", \"supernet_val_accuracy\": %.6f, \"supernet_val_loss\": %.6f, "
                   "\"macs\": %.0f, \"params\": %.0f, \"standalone_val_accuracy\": %.6f, "
                   "\"standalone_seed_accuracies\": [",
                   i ? ", " : "", (unsigned long long)seen[i], sacc[i], sloss[i], macs[i], params[i], tacc[i]);
            for (int j = 0; j < k; j++) printf("%s%.6f", j ? ", " : "", seed_acc[i * k + j]);
            printf("], \"point\": %s}", archs[i]->point_json ? archs[i]->point_json : "null");
        }
        printf("]}\n");
    } else {
        printf("  #  arch              supernet acc  rank   stand-alone acc  rank\n");
        for (int i = 0; i < n; i++)
            printf("%3d  %016llx   %9.2f%%  %5.1f   %13.2f%%  %5.1f\n", i, (unsigned long long)seen[i], 100 * sacc[i],
                   r1[i], 100 * tacc[i], r2[i]);
        printf("Kendall tau %.3f, Spearman rho %.3f over %d archs (tau with -val loss as the score: %.3f)\n", tau, rho,
               n, tau_loss);
        if (isfinite(tau_lo))
            printf("95%% bootstrap interval of tau over the archs: %.3f..%.3f (another draw of %d archs could "
                   "land anywhere in it)\n",
                   tau_lo, tau_hi, n);
        if (k > 1) {
            printf("against each seed alone: tau");
            for (int j = 0; j < k; j++) printf(" %.3f", seed_tau[j]);
            printf("\n");
        }
        printf("without a supernet: tau %.3f with MACs as the score, %.3f with parameters\n", tau_macs, tau_params);
        printf("stand-alone: %d epochs on %g of the training split, %s%d seed%s", gt.epochs, gt.train_fraction,
               k > 1 ? "mean of " : "", k, k > 1 ? "s" : "");
        if (k > 1) printf("; the seeds rank the archs alike at Kendall tau %.3f (mean over pairs)", agree);
        if (f.standalone) printf("; from %s", f.standalone);
        if (isfinite(ceil_one))
            printf("\na perfect score would reach tau about %.3f against one seed, %.3f against the mean of %d "
                   "(Gaussian model of the seeds' spread)",
                   ceil_one, ceil_mean, k);
        printf("\nscoring %.1f s (%.2f s per arch)", score_time, score_time / n);
        if (so.finetune_steps) printf(" with %d fine-tuning steps at lr %g", so.finetune_steps, so.finetune_lr);
        if (missing) printf(", stand-alone training %.1f s (%d run%s)", train_time, missing, missing > 1 ? "s" : "");
        printf("\n");
    }
    rc = CLI_EXIT_OK;
    goto out;
fail:
    rc = cli_fail(&err);
out:
    for (int i = 0; archs && i < n; i++) nas_arch_destroy(archs[i]);
    free(archs);
    free(sacc), free(sloss), free(nloss), free(r1), free(r2), free(seen), free(col);
    nas_supernet_truth_deinit(&gt);
    free(macs), free(params);
    nas_data_destroy(data);
    nas_supernet_destroy(sn);
    ss_space_destroy(space);
    return rc;
}

int cmd_supernet(int argc, char **argv, const nas_logger *lg) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "train")) return sn_cmd_train(argc - 1, argv + 1, lg);
    if (!strcmp(argv[1], "score")) return sn_cmd_score(argc - 1, argv + 1, lg);
    if (!strcmp(argv[1], "rank")) return sn_cmd_rank(argc - 1, argv + 1, lg);
    fprintf(stderr, "nas supernet: unknown subcommand '%s'\n", argv[1]);
    fputs(USAGE, stderr);
    return CLI_EXIT_USAGE;
}
