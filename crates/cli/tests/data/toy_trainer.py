#!/usr/bin/env python3
"""A toy external trainer for scalelab's tests: it speaks the metrics
protocol of docs/trainers.md without training anything.

Its "loss" follows a Chinchilla law of the run's size and tokens seen,
L = 1.8 + 300 / N**0.4 + 400 / D**0.35, so a sweep of it can be fitted. It
reads the run from $SCALELAB_CONFIG (run.json), checkpoints its step to
{checkpoint} every checkpoint_every steps and resumes from $SCALELAB_RESUME.

The run's name picks a misbehaviour: `fail-*` exits 1 half way, `hang-*`
sleeps forever, `garbage-*` writes a line that is not JSON, `nan-*` reports
a NaN loss, `unfinished-*` exits 0 without a summary, `nosummary-*` ends
with a `"done": true` line instead of summary.json, `counts-*` reports its
own parameter and FLOP counts. $TOY_SLEEP (seconds) slows each step.
"""
import json
import os
import sys
import time

cfg = json.load(open(os.environ["SCALELAB_CONFIG"]))
name = cfg["name"]
steps = cfg["steps"]
tokens_per_step = cfg["batch"] * cfg["context"]
n = cfg["params"]
sleep = float(os.environ.get("TOY_SLEEP", "0"))


def loss(step):
    d = step * tokens_per_step
    return 1.8 + 300.0 / n ** 0.4 + 400.0 / d ** 0.35


start = 0
resume = os.environ.get("SCALELAB_RESUME", "")
if resume:
    start = json.load(open(resume))["step"]
    print(f"resuming {name} from step {start}")
print(f"training {name}: {steps} steps, N={n}")
sys.stdout.flush()

with open(cfg["metrics"], "a") as m:
    for s in range(start + 1, steps + 1):
        if name.startswith("fail-") and s > steps // 2:
            print("CUDA error: out of memory (toy)", file=sys.stderr)
            sys.exit(1)
        if name.startswith("hang-") and s > steps // 2:
            time.sleep(3600)
        line = {"step": s, "tokens": s * tokens_per_step, "train_loss": loss(s) + 0.01, "lr": 1e-3}
        if s % cfg["eval_every"] == 0 or s == steps:
            line["val_loss"] = loss(s)
        text = json.dumps(line)
        if name.startswith("nan-") and s > steps // 2:
            text = json.dumps(dict(line, train_loss=float("nan")))
        if name.startswith("garbage-") and s > steps // 2:
            text = "step=%d loss=%f" % (s, loss(s))
        m.write(text + "\n")
        m.flush()
        if s % cfg["checkpoint_every"] == 0 or s == steps:
            tmp = cfg["checkpoint"] + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"step": s}, f)
            os.replace(tmp, cfg["checkpoint"])
        if sleep:
            time.sleep(sleep)
    if name.startswith("unfinished-"):
        sys.exit(0)
    if name.startswith("nosummary-"):
        m.write(json.dumps({"step": steps, "done": True, "val_loss": loss(steps)}) + "\n")
        sys.exit(0)

summary = {"completed": True, "steps": steps, "tokens": steps * tokens_per_step, "val_loss": loss(steps)}
if name.startswith("counts-"):
    summary["params"] = 12345
    summary["flops"] = 6.0 * 12345 * steps * tokens_per_step
tmp = cfg["summary"] + ".tmp"
with open(tmp, "w") as f:
    json.dump(summary, f)
os.replace(tmp, cfg["summary"])
