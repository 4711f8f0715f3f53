#!/usr/bin/env python3
"""Turns a built-in engine checkpoint into one trainers/torch_gpt.py resumes.

The engine and the PyTorch trainer draw their initial weights from different
random streams, so two fresh runs agree only statistically. Started from the
same weights and AdamW moments on the same batches, they agree step by step:
convert an engine checkpoint (checkpoint.safetensors: parameters, adam_m.*,
adam_v.*, step and the run's TrainConfig), then resume the PyTorch trainer
from it on the run's exported shards and compare the two metrics.jsonl.

    python3 bench/engine_checkpoint_to_torch.py RUN/checkpoint.safetensors engine40.pt
    python3 trainers/torch_gpt.py --config TORCH_RUN/run.json --resume engine40.pt --out cmp

Needs torch and numpy. Development-time only; CI does not run it.
"""
import dataclasses
import importlib.util
import json
import math
import pathlib
import struct
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("torch_gpt", HERE.parent / "trainers" / "torch_gpt.py")
tg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tg)

# engine layout name -> the trainer's per-block parameter name
BLOCK = {"ln1_w": "ln1.weight", "ln1_b": "ln1.bias", "qkv_w": "qkv.weight", "qkv_b": "qkv.bias",
         "attn_proj_w": "proj.weight", "attn_proj_b": "proj.bias", "ln2_w": "ln2.weight", "ln2_b": "ln2.bias",
         "fc_w": "fc.weight", "fc_b": "fc.bias", "fc_proj_w": "fc_proj.weight", "fc_proj_b": "fc_proj.bias"}
TOP = {"wte": "wte.weight", "wpe": "wpe.weight", "lnf_w": "lnf.weight", "lnf_b": "lnf.bias"}


def read_safetensors(path):
    raw = pathlib.Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F64": np.float64}
    tensors = {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                                 dtypes[v["dtype"]]).reshape(v["shape"]).copy())
               for k, v in head.items()}
    return tensors, meta


def main(src, dst):
    t, meta = read_safetensors(src)
    e = json.loads(meta["config"])  # the engine's TrainConfig
    c = tg.Config(**{k: v for k, v in e.items() if k in {f.name for f in dataclasses.fields(tg.Config)} and v is not None})
    c.vocab, c.d_ff = t["wte"].shape[0], t["fc_w"].shape[1]
    c.steps = e.get("steps") or math.ceil(e["tokens"] / (c.batch * c.context))
    if c.warmup_steps is None:
        c.warmup_steps = max(1, math.ceil(c.steps * 0.05))

    def ours(prefix):
        out = {v: t[prefix + k] for k, v in TOP.items()}
        for k, v in BLOCK.items():
            out.update({f"blocks.{i}.{v}": t[prefix + k][i] for i in range(c.n_layer)})
        return out

    model = tg.GPT(c)
    model.load_state_dict(ours(""))
    opt = tg.make_optimizer(model, c)
    step = int(meta["step"])
    m, v = ours("adam_m."), ours("adam_v.")
    for name, p in model.named_parameters():
        opt.state[p] = {"step": torch.tensor(float(step)), "exp_avg": m[name].clone(), "exp_avg_sq": v[name].clone()}
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                "train_loss": float("nan"), "val_loss": None, "config": dataclasses.asdict(c)}, dst)
    print(f"wrote {dst}: step {step} of {c.steps}, {c.n_layer} layers x {c.d_model}, vocab {c.vocab}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
