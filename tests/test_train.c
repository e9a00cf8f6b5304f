/*
 * test_train.c - stand-alone training (evaluator/train.h) on real data: a
 * small CNN trained on 3000 Fashion-MNIST images reaches a stated accuracy,
 * twice with the same numbers; the weights it writes score the same through
 * nas_eval_run; hyperparameters in the arch are applied and bad ones named,
 * and those the trainer does not use are named in a warning (also by
 * `nas train`).
 * Skipped (said so) where Debian's dataset-fashion-mnist is not installed.
 */
#define _GNU_SOURCE
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evaluator/data.h"
#include "evaluator/train.h"
#include "nas/core/fileio.h"
#include "test.h"

/* conv3x3(16) BN ReLU maxpool2 conv3x3(32) BN ReLU maxpool2 GAP fc(10) */
static nas_arch *small_cnn(void) {
    nas_error err;
    nas_arch *a = nas_arch_create(1, 28, 28, 10);
    int x = 0;
    for (int i = 0; i < 2; i++) {
        nas_node conv = nas_node_make(NAS_OP_CONV);
        conv.out = i ? 32 : 16;
        conv.kernel = 3;
        x = nas_arch_chain(a, conv, x, &err);
        x = nas_arch_chain(a, nas_node_make(NAS_OP_BN), x, &err);
        x = nas_arch_chain(a, nas_node_make(NAS_OP_RELU), x, &err);
        nas_node pool = nas_node_make(NAS_OP_MAXPOOL);
        pool.kernel = 2;
        pool.stride = 2;
        x = nas_arch_chain(a, pool, x, &err);
    }
    x = nas_arch_chain(a, nas_node_make(NAS_OP_GAP), x, &err);
    nas_node fc = nas_node_make(NAS_OP_FC);
    fc.out = 10;
    fc.bias = 1;
    x = nas_arch_chain(a, fc, x, &err);
    return x < 0 ? NULL : a;
}

static int have_data(void) {
    return nas_path_exists(NAS_DATA_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz");
}

static nas_data *load_small(void) {
    nas_data_options o;
    nas_data_options_default(&o);
    o.val_count = 1000;
    o.train_fraction = 3000.0 / 59000.0;
    o.seed = 5;
    nas_data *d = NULL;
    nas_error err;
    if (nas_data_load("fashion-mnist", &o, &d, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    return d;
}

static void test_short_training_reaches_accuracy(void) {
    if (!have_data()) {
        printf("     skipped: %s not installed (dataset-fashion-mnist)\n", NAS_DATA_FASHION_MNIST_DIR);
        return;
    }
    nas_data *d = load_small();
    ASSERT_TRUE(d != NULL);
    ASSERT_EQ_INT(d->train.n, 3000);
    ASSERT_EQ_INT(d->val.n, 1000);
    nas_arch *a = small_cnn();
    ASSERT_TRUE(a != NULL);
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    cfg.epochs = 4;
    cfg.batch = 32;
    cfg.lr.base_lr = 0.05;
    cfg.eval_test = 0;
    cfg.seed = 11;
    char dir[] = "/tmp/nas-test-train-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    nas_train_result r1, r2;
    nas_error err;
    ASSERT_OK(nas_train_run(a, d, &cfg, dir, &r1, &err), &err);
    printf("     3000 images, 4 epochs: val accuracy %.2f%%, loss %.4f, %.0f images/s\n", 100 * r1.val_acc,
           r1.val_loss, r1.images_per_s);
    /* chance is 10%; the threshold was fixed before the first run */
    ASSERT_LE(0.70, r1.val_acc);
    ASSERT_OK(nas_train_run(a, d, &cfg, NULL, &r2, &err), &err);
    ASSERT_NEAR(r1.val_acc, r2.val_acc, 0);
    ASSERT_NEAR(r1.val_loss, r2.val_loss, 0);
    ASSERT_NEAR(r1.train_loss, r2.train_loss, 0);
    /* the written weights score the same through nas eval's path */
    char weights[128];
    snprintf(weights, sizeof weights, "%s/weights.nasw", dir);
    double loss, acc;
    ASSERT_OK(nas_eval_run(a, d, weights, NAS_SPLIT_VAL, 64, &loss, &acc, &err), &err);
    ASSERT_NEAR(acc, r1.val_acc, 1e-9);
    ASSERT_NEAR(loss, r1.val_loss, 1e-4);
    /* another batch size pads the last batch: the same accuracy */
    ASSERT_OK(nas_eval_run(a, d, weights, NAS_SPLIT_VAL, 300, &loss, &acc, &err), &err);
    ASSERT_NEAR(acc, r1.val_acc, 1e-9);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ASSERT_EQ_INT(system(cmd), 0);
    nas_arch_destroy(a);
    nas_data_destroy(d);
}

static void test_hparams_applied_and_checked(void) {
    nas_arch *a = small_cnn();
    nas_error err;
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    ASSERT_OK(nas_arch_set_hparam_num(a, "learning_rate", 0.02, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_num(a, "batch_size", 32, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_str(a, "optimizer", "adamw", &err), &err);
    ASSERT_OK(nas_train_config_from_hparams(&cfg, a, &err), &err);
    ASSERT_NEAR(cfg.lr.base_lr, 0.02, 0);
    ASSERT_EQ_INT(cfg.batch, 32);
    ASSERT_EQ_INT(cfg.optim.kind, NAS_OPTIM_ADAMW);
    ASSERT_OK(nas_arch_set_hparam_num(a, "batch_size", 12.5, &err), &err);
    ASSERT_EQ_INT(nas_train_config_from_hparams(&cfg, a, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "hyperparameter batch_size: expected an integer in 1..65536");
    ASSERT_OK(nas_arch_set_hparam_num(a, "batch_size", 32, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_num(a, "optimizer", 3, &err), &err);
    ASSERT_EQ_INT(nas_train_config_from_hparams(&cfg, a, &err), NAS_ERR_INVALID);
    ASSERT_CONTAINS(err.msg, "hyperparameter optimizer");
    nas_arch_destroy(a);
}

/* nas_train_hparam_range gives the bounds nas_train_config_from_hparams
 * applies: each end accepted, just outside refused, for every numeric name
 * (aliases alike); names that are not numbers have no range. */
static void test_hparam_ranges(void) {
    static const char *const NUMERIC[] = {"lr", "learning_rate", "batch_size", "batch", "epochs",
                                          "momentum", "nesterov", "weight_decay", "warmup_epochs"};
    double lo = -7, hi = -7;
    ASSERT_EQ_INT(nas_train_hparam_range("optimizer", &lo, &hi), 0);
    ASSERT_EQ_INT(nas_train_hparam_range("dropout_rate", &lo, &hi), 0);
    ASSERT_TRUE(lo == -7 && hi == -7);
    ASSERT_EQ_INT(nas_train_hparam_range("momentum", &lo, &hi), 1);
    ASSERT_TRUE(lo == 0 && hi == 0.9999);
    ASSERT_EQ_INT(nas_train_hparam_range("learning_rate", &lo, &hi), 1);
    ASSERT_TRUE(lo == 1e-12 && hi == 100);
    nas_error err;
    for (size_t i = 0; i < sizeof NUMERIC / sizeof NUMERIC[0]; i++) {
        ASSERT_EQ_INT(nas_train_hparam_range(NUMERIC[i], &lo, &hi), 1);
        ASSERT_TRUE(lo <= hi);
        const double ok[] = {lo, hi}, bad[] = {lo - fmax(1e-13, fabs(lo) * 1e-3), hi + fmax(1, hi) * 1e-3};
        for (int k = 0; k < 2; k++) {
            nas_train_config cfg;
            nas_train_config_default(&cfg);
            nas_arch *a = small_cnn();
            ASSERT_OK(nas_arch_set_hparam_num(a, NUMERIC[i], ok[k], &err), &err);
            ASSERT_OK(nas_train_config_from_hparams(&cfg, a, &err), &err);
            ASSERT_OK(nas_arch_set_hparam_num(a, NUMERIC[i], bad[k], &err), &err);
            ASSERT_EQ_INT(nas_train_config_from_hparams(&cfg, a, &err), NAS_ERR_INVALID);
            ASSERT_CONTAINS(err.msg, NUMERIC[i]);
            nas_arch_destroy(a);
        }
    }
}

/* The one list of applied names: what nas_train_hparam_applies accepts is
 * what the warning leaves out and names as applied. */
static void test_unused_hparams_named(void) {
    static const char *const APPLIED[] = {"lr", "learning_rate", "batch_size", "batch", "epochs", "optimizer",
                                          "momentum", "nesterov", "weight_decay", "warmup_epochs"};
    for (size_t i = 0; i < sizeof APPLIED / sizeof APPLIED[0]; i++) ASSERT_TRUE(nas_train_hparam_applies(APPLIED[i]));
    ASSERT_TRUE(!nas_train_hparam_applies("loss"));
    ASSERT_TRUE(!nas_train_hparam_applies("LR"));
    char msg[1024];
    ASSERT_EQ_INT(nas_train_unused_hparams(APPLIED, 10, msg, sizeof msg), 0);
    ASSERT_STR_EQ(msg, "");
    const char *names[] = {"lr", "steps_per_epoch", "epochs", "loss"};
    ASSERT_EQ_INT(nas_train_unused_hparams(names, 4, msg, sizeof msg), 2);
    ASSERT_STR_EQ(msg, "hyperparameters steps_per_epoch, loss are not used by the built-in trainer, which "
                       "applies only lr, learning_rate, batch_size, batch, epochs, optimizer, momentum, "
                       "nesterov, weight_decay and warmup_epochs; to train your own model with them, run a "
                       "trial program (nas search --trial-cmd)");
    const char *one[] = {"dropout_rate"};
    ASSERT_EQ_INT(nas_train_unused_hparams(one, 1, msg, sizeof msg), 1);
    ASSERT_CONTAINS(msg, "hyperparameter dropout_rate is not used by the built-in trainer");
    ASSERT_CONTAINS(msg, "with it, run a trial program");
    /* a short buffer truncates, the count stays right */
    char tiny[16];
    ASSERT_EQ_INT(nas_train_unused_hparams(names, 4, tiny, sizeof tiny), 2);
    ASSERT_EQ_INT(strlen(tiny), sizeof tiny - 1);
}

/* `nas train --arch A.json` names the arch's hyperparameters it ignores
 * (a warning: the run goes on, here to fail on the missing data). */
static void test_train_cli_warns(void) {
    char dir[] = "/tmp/nas-test-train-XXXXXX";
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    char arch[64], errlog[64], cmd[512];
    snprintf(arch, sizeof arch, "%s/a.json", dir);
    snprintf(errlog, sizeof errlog, "%s/err.txt", dir);
    nas_arch *a = small_cnn();
    nas_error err;
    ASSERT_OK(nas_arch_set_hparam_num(a, "lr", 0.01, &err), &err);
    ASSERT_OK(nas_arch_set_hparam_str(a, "loss", "mse", &err), &err);
    ASSERT_OK(nas_arch_set_hparam_num(a, "steps_per_epoch", 100, &err), &err);
    ASSERT_OK(nas_arch_save(a, arch, &err), &err);
    nas_arch_destroy(a);
    snprintf(cmd, sizeof cmd, "'%s' -q train --arch '%s' --data idx:/nonexistent-nas-data 2>'%s'", NAS_BINARY,
             arch, errlog);
    ASSERT_TRUE(system(cmd) != 0);
    char *text;
    size_t len;
    ASSERT_OK(nas_file_read(errlog, &text, &len, &err), &err);
    char want[256];
    snprintf(want, sizeof want, "nas: warning: %s: hyperparameters loss, steps_per_epoch are not used by the "
                                "built-in trainer",
             arch);
    ASSERT_CONTAINS(text, want);
    free(text);
    /* -1 is a value like any other: refused, not read as "not given" */
    /* --epochs and --batch take the hyperparameters' bounds; a seed must
       survive a JSON number (2^53); leading space is not a number */
    const char *bad[][2] = {{"--epochs 4294967297", "--epochs must be in [1, 100000] (as the hyperparameter epochs)"},
                            {"--epochs 100001", "--epochs must be in [1, 100000]"},
                            {"--batch 65537", "--batch must be in [1, 65536] (as the hyperparameter batch_size)"},
                            {"--seed -1", "--seed must be in 0..9007199254740992 (2^53), got -1"},
                            {"--seed 9007199254740993", "--seed must be in 0..9007199254740992 (2^53)"},
                            {"--epochs ' 3'", "--epochs: expected an integer, got ' 3'"},
                            {"--lr ' 0.1'", "--lr: expected a number, got ' 0.1'"},
                            {"--epochs -99999999999999999999", "--epochs: -99999999999999999999 is out of range"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "'%s' -q train --arch '%s' %s 2>'%s'", NAS_BINARY, arch, bad[i][0], errlog);
        ASSERT_EQ_INT(WEXITSTATUS(system(cmd)), 2);
        ASSERT_OK(nas_file_read(errlog, &text, &len, &err), &err);
        ASSERT_CONTAINS(text, bad[i][1]);
        free(text);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

/* A CLI test's directory (dir: a mkdtemp template) with small_cnn saved as
 * dir/a.json (arch) and the path dir/err.txt for stderr (errlog), 64 bytes each. */
static void cli_fixture(char *dir, char *arch, char *errlog) {
    ASSERT_TRUE(mkdtemp(dir) != NULL);
    snprintf(arch, 64, "%s/a.json", dir);
    snprintf(errlog, 64, "%s/err.txt", dir);
    nas_arch *a = small_cnn();
    nas_error err;
    ASSERT_OK(nas_arch_save(a, arch, &err), &err);
    nas_arch_destroy(a);
}

/* Runs `nas -q ARGS` with stderr to errlog: asserts the exit status and
 * that stderr holds want. */
static void cli_expect(const char *args, const char *errlog, int status, const char *want) {
    char cmd[1024], *text;
    size_t len;
    nas_error err;
    snprintf(cmd, sizeof cmd, "'%s' -q %s 2>'%s'", NAS_BINARY, args, errlog);
    int st = system(cmd);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) != status) fprintf(stderr, "  %s\n", cmd);
    ASSERT_EQ_INT(WEXITSTATUS(st), status);
    ASSERT_OK(nas_file_read(errlog, &text, &len, &err), &err);
    if (!strstr(text, want)) fprintf(stderr, "  %s\n", cmd);
    ASSERT_CONTAINS(text, want);
    free(text);
}

/* Every number flag of `nas train` and `nas eval` refuses NaN, infinities
 * and trailing characters with a usage error naming the flag, before any
 * data is read (the data here does not exist: a value that got through
 * would fail on it with status 1). */
static void test_train_cli_numbers(void) {
    char dir[] = "/tmp/nas-test-train-XXXXXX", arch[64], errlog[64], args[512];
    cli_fixture(dir, arch, errlog);
    static const char *const flags[] = {"--lr", "--momentum", "--weight-decay", "--warmup", "--fraction",
                                        "--val-fraction"};
    static const char *const bad[] = {"nan", "NAN", "-nan", "inf", "-inf", "infinity", "1e999", "0.5x", "0.5 ", ""};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
            char want[64];
            snprintf(want, sizeof want, "nas train: %s", flags[i]);
            snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data %s '%s'", arch,
                     flags[i], bad[j]);
            cli_expect(args, errlog, 2, want);
        }
    snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --lr nan", arch);
    cli_expect(args, errlog, 2, "--lr: expected a number, got 'nan'");
    snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --warmup inf", arch);
    cli_expect(args, errlog, 2, "--warmup: expected a finite number, got 'inf'");
    snprintf(args, sizeof args, "eval --arch '%s' --weights w.nasw --data idx:/nonexistent-nas-data --val-fraction nan",
             arch);
    cli_expect(args, errlog, 2, "nas eval: --val-fraction");
    /* good values get through to the (missing) data */
    snprintf(args, sizeof args,
             "train --arch '%s' --data idx:/nonexistent-nas-data --lr 0.1 --momentum 0.5 --weight-decay 0 "
             "--warmup 1.5 --fraction 1e-2 --val-fraction 0",
             arch);
    cli_expect(args, errlog, 1, "nonexistent-nas-data");
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(args), 0);
}

/* `nas train` checks --lr, --momentum, --weight-decay and --warmup against
 * the bounds of the same arch hyperparameters (nas_train_hparam_range),
 * before any data is read, with a usage error naming the flag. */
static void test_train_cli_ranges(void) {
    char dir[] = "/tmp/nas-test-train-XXXXXX", arch[64], errlog[64], args[512], want[160];
    cli_fixture(dir, arch, errlog);
    static const struct {
        const char *flag, *hparam, *bad[3], *edge[2];
    } CASES[] = {
        {"--lr", "lr", {"0", "-0.1", "1e6"}, {"1e-12", "100"}},
        {"--momentum", "momentum", {"-1", "5", "0.99995"}, {"0", "0.9999"}},
        {"--weight-decay", "weight_decay", {"-1", "-1e-9", "1.5"}, {"0", "1"}},
        {"--warmup", "warmup_epochs", {"-1", "-0.5", "1001"}, {"0", "1000"}},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        double lo, hi;
        ASSERT_EQ_INT(nas_train_hparam_range(CASES[i].hparam, &lo, &hi), 1);
        for (int j = 0; j < 3; j++) {
            snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data %s %s", arch,
                     CASES[i].flag, CASES[i].bad[j]);
            snprintf(want, sizeof want, "nas train: %s must be in [%g, %g] (as the hyperparameter %s), got %g",
                     CASES[i].flag, lo, hi, CASES[i].hparam, atof(CASES[i].bad[j]));
            cli_expect(args, errlog, 2, want);
        }
        for (int j = 0; j < 2; j++) {
            snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data %s %s", arch,
                     CASES[i].flag, CASES[i].edge[j]);
            cli_expect(args, errlog, 1, "nonexistent-nas-data");
        }
    }
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(args), 0);
}

/* `nas train --out` makes its directory before any data is read (the data
 * here does not exist, so a directory checked only after the training
 * would fail on the data first); what is stored at the path stays. */
static void test_train_cli_out_checked_first(void) {
    char dir[] = "/tmp/nas-test-train-XXXXXX", arch[64], errlog[64], file[64], args[512], want[256], *text;
    size_t len;
    nas_error err;
    cli_fixture(dir, arch, errlog);
    snprintf(file, sizeof file, "%s/afile", dir);
    ASSERT_OK(nas_file_write_atomic(file, "stored", 6, &err), &err);
    snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --out '%s'", arch, file);
    snprintf(want, sizeof want, "nas: error: %s: not a directory", file);
    cli_expect(args, errlog, 1, want);
    ASSERT_OK(nas_file_read(file, &text, &len, &err), &err);
    ASSERT_STR_EQ(text, "stored");
    free(text);
    snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --out '%s/sub'", arch, file);
    snprintf(want, sizeof want, "nas: error: %s/sub: cannot create directory: Not a directory", file);
    cli_expect(args, errlog, 1, want);
    if (nas_path_exists("/proc/self")) {
        snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --out /proc/nas-test-x", arch);
        cli_expect(args, errlog, 1, "nas: error: /proc/nas-test-x: cannot create directory");
    }
    /* a good directory gets through to the (missing) data; made for the run,
       it is removed again when the run fails before writing to it, and one
       that existed stays */
    snprintf(args, sizeof args, "train --arch '%s' --data idx:/nonexistent-nas-data --out '%s/out/run'", arch, dir);
    cli_expect(args, errlog, 1, "nonexistent-nas-data");
    snprintf(file, sizeof file, "%s/out/run", dir);
    ASSERT_TRUE(!nas_path_exists(file));
    ASSERT_EQ_INT(mkdir(file, 0755), 0);
    cli_expect(args, errlog, 1, "nonexistent-nas-data");
    ASSERT_TRUE(nas_path_exists(file));
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(args), 0);
}

/* `nas train --json` writes valid JSON: a figure not measured (no
 * validation split, --no-test) is null, as in metrics.json (it printed nan
 * and -1); `nas eval` on an empty split is an error, not a NaN. */
static void test_train_cli_json_unmeasured(void) {
    if (!have_data()) {
        printf("     skipped: %s not installed (dataset-fashion-mnist)\n", NAS_DATA_FASHION_MNIST_DIR);
        return;
    }
    char dir[] = "/tmp/nas-test-train-XXXXXX", arch[64], out[64], errlog[64], args[512];
    nas_error err;
    cli_fixture(dir, arch, errlog);
    snprintf(out, sizeof out, "%s/out.json", dir);
    char cmd[768];
    snprintf(cmd, sizeof cmd,
             "'%s' -q train --arch '%s' --epochs 1 --fraction 0.01 --val-fraction 0 --no-test --threads 1 "
             "--json --out '%s/run' >'%s'",
             NAS_BINARY, arch, dir, out);
    ASSERT_EQ_INT(system(cmd), 0);
    char *text;
    size_t len;
    ASSERT_OK(nas_file_read(out, &text, &len, &err), &err);
    cJSON *j = cJSON_Parse(text);
    if (!j) TEST_FAIL_("not JSON: %s", text);
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, "val_loss")));
    ASSERT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(j, "test_accuracy")));
    ASSERT_TRUE(cJSON_IsNumber(cJSON_GetObjectItem(j, "train_loss")));
    cJSON_Delete(j);
    free(text);
    snprintf(args, sizeof args, "eval --arch '%s' --weights '%s/run/weights.nasw' --split val --val-fraction 0",
             arch, dir);
    cli_expect(args, errlog, 1, "the val split of fashion-mnist has no images");
    /* a training flag given to eval is refused, not ignored */
    snprintf(args, sizeof args, "eval --arch '%s' --weights '%s/run/weights.nasw' --lr 0.1", arch, dir);
    cli_expect(args, errlog, 2, "--lr is a flag of `nas train` (eval trains nothing)");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ_INT(system(cmd), 0);
}

static void test_mismatched_data_refused(void) {
    nas_dataset tr = {0}, te = {0};
    nas_error err;
    ASSERT_OK(nas_dataset_init(&tr, 200, 3, 8, 8, &err), &err);
    ASSERT_OK(nas_dataset_init(&te, 20, 3, 8, 8, &err), &err);
    for (size_t i = 0; i < 200; i++) tr.y[i] = (uint8_t)(i % 10);
    for (size_t i = 0; i < 20; i++) te.y[i] = (uint8_t)(i % 10);
    nas_data *d = NULL;
    ASSERT_OK(nas_data_from_sets(&tr, &te, NULL, &d, &err), &err);
    nas_arch *a = small_cnn(); /* takes 1x28x28 */
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    nas_train_result r;
    ASSERT_EQ_INT(nas_train_run(a, d, &cfg, NULL, &r, &err), NAS_ERR_MISMATCH);
    ASSERT_STR_EQ(err.msg, "the arch takes 1x28x28 images but the data set has 3x8x8");
    nas_arch_destroy(a);
    nas_data_destroy(d);
}

/* The stage-2 time estimate: positive and finite for a real network, zero
 * training images leave only the inference share, bad settings refused. */
static void test_estimate(void) {
    nas_arch *a = small_cnn();
    nas_train_config cfg;
    nas_train_config_default(&cfg);
    cfg.epochs = 2;
    cfg.batch = 16;
    nas_error err;
    double sec = -1, eval_only = -1;
    ASSERT_OK(nas_train_estimate(a, &cfg, 1000, 300, &sec, &err), &err);
    ASSERT_TRUE(isfinite(sec) && sec > 0);
    ASSERT_OK(nas_train_estimate(a, &cfg, 0, 300, &eval_only, &err), &err);
    ASSERT_TRUE(eval_only > 0 && eval_only < sec);
    cfg.epochs = 0;
    ASSERT_EQ_INT(nas_train_estimate(a, &cfg, 1000, 300, &sec, &err), NAS_ERR_INVALID);
    ASSERT_STR_EQ(err.msg, "estimate: epochs and batch must be >= 1");
    nas_arch_destroy(a);
}

/* Each reported metric names its own field of the result. */
static void test_metric_names(void) {
    nas_train_result r = {.train_loss = 1, .train_acc = 2, .val_loss = 3, .val_acc = 4, .test_loss = 5,
                          .test_acc = 6, .images_per_s = 7};
    static const char *const NAMES[] = NAS_TRAIN_METRICS;
    static const double WANT[] = {4, 3, 1, 6, 5, 7};
    int n = 0;
    for (; NAMES[n]; n++) ASSERT_NEAR(nas_train_metric(&r, NAMES[n]), WANT[n], 0);
    ASSERT_EQ_INT(n, 6);
    ASSERT_TRUE(isnan(nas_train_metric(&r, "latency")));
}

static const test_case TESTS[] = {
    {"metric_names", test_metric_names},
    {"short_training_reaches_accuracy", test_short_training_reaches_accuracy},
    {"hparams_applied_and_checked", test_hparams_applied_and_checked},
    {"mismatched_data_refused", test_mismatched_data_refused},
    {"estimate", test_estimate},
    {"unused_hparams_named", test_unused_hparams_named},
    {"train_cli_warns", test_train_cli_warns},
    {"train_cli_numbers", test_train_cli_numbers},
    {"train_cli_ranges", test_train_cli_ranges},
    {"train_cli_out_checked_first", test_train_cli_out_checked_first},
    {"train_cli_json_unmeasured", test_train_cli_json_unmeasured},
    {"hparam_ranges", test_hparam_ranges},
    {NULL, NULL},
};

int main(int argc, char **argv) { return test_run(argc, argv, TESTS); }
