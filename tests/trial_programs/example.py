import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("--learning_rate", type=float, default=0.01)
p.add_argument("--arch")  # path of the arch JSON (unused here)
args, _ = p.parse_known_args()  # ignore hyperparameters this program does not know
with open(os.environ["NAS_METRICS_FILE"], "a") as f:
    for epoch in range(1, 4):
        loss = 1.0 / (epoch * (1 + args.learning_rate))  # your training epoch here
        f.write(json.dumps({"metric": "val_loss", "value": loss, "step": epoch}) + "\n"); f.flush()
    f.write(json.dumps({"metric": "accuracy", "value": 1 - loss}) + "\n")
