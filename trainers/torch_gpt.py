#!/usr/bin/env python3
"""torch_gpt.py: scalelab's GPT and training recipe in PyTorch, in one file.

The same model as scalelab's built-in engine (token + learned position
embeddings, pre-LayerNorm blocks with causal multi-head attention through a
fused QKV projection and a 4x GELU-tanh MLP, biases everywhere, a final
LayerNorm, output head tied to the token embedding, no dropout), the same
initialisation, AdamW, global-norm clipping, warm-up + cosine schedule,
evaluation, checkpoint and divergence rules, the same muP option, and the same
parameter and FLOP accounting, so on the same data and configuration it
reaches the same loss.
It runs on CPU, on a GPU (bf16 autocast, flash attention, optional
torch.compile) and data-parallel under torchrun. Copy it and change it.
Needs torch >= 2.1 and numpy.

scalelab's sweep runs it with SCALELAB_CONFIG pointing at the run's run.json
(schema scalelab.run/1: shape, optimiser, data shards, output paths). It
appends one JSON line per step to metrics.jsonl, checkpoints atomically, and
writes summary.json when done. A flag overrides the run.json field of the same
name (--n-layer sets n_layer); unset fields take the engine's defaults (lr
1e-3 to 10% of it, warm-up 5% of the steps, weight decay 0.1, betas 0.9/0.95,
eps 1e-8, clip 1.0, context 128, batch 16, 8 validation batches). Exit status: 0 done, 2 bad arguments or data
(the message names the flag or file), 3 diverged (loss or gradient norm not
finite, or loss above divergence_factor * ln(vocab)).

Data are scalelab token shards (SLTOKENS). A shard whose documents are all
context+1 tokens long is read row by row: row step*batch + b is row b of the
step's batch (validation: row i*batch + b of validation batch i), exactly the
engine's batches. Any other shard, or a directory of *.bin shards
(train_*.bin / val_*.bin when present), gives random windows of context+1
tokens drawn from the seed and the step (validation: from the batch index).

Examples:
  # as scalelab runs it
  SCALELAB_CONFIG=out/sweep/runs/r0/run.json python trainers/torch_gpt.py
  # by hand on CPU
  python trainers/torch_gpt.py --train-data train.bin --val-data val.bin \\
      --n-layer 2 --d-model 64 --n-head 4 --context 128 --batch 16 \\
      --steps 500 --lr 3e-3 --eval-every 100 --out out/torch-run
  # continue it after an interruption (same final losses)
  python trainers/torch_gpt.py ... --out out/torch-run --resume out/torch-run/checkpoint.pt
  # a GPU, compiled, bf16 (the default dtype on CUDA)
  python trainers/torch_gpt.py --config run.json --device cuda --compile
  # 8 GPUs (or CPU processes), the same global batch and loss curve
  torchrun --standalone --nproc_per_node 8 trainers/torch_gpt.py --config run.json
"""
import argparse
import dataclasses
import glob
import json
import math
import os
import re
import resource
import struct
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class UsageError(Exception):
    """Bad arguments or data: exit status 2."""


@dataclass
class Config:
    # model
    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    d_ff: int = 0  # 0: 4 * d_model
    context: int = 128
    vocab: int = 0  # 0: the training shard's
    # run length: steps, else ceil(tokens / (batch * context))
    batch: int = 16
    steps: int = 0
    tokens: int = 0
    # optimiser (the engine's defaults)
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: Optional[int] = None  # None: 5% of the steps, at least 1
    lr_schedule: str = "cosine"  # cosine | wsd | constant (the engine's)
    decay_fraction: float = 0.2  # wsd: the last fraction of the steps decays
    decay_shape: str = "1-sqrt"  # wsd: linear | cosine | 1-sqrt
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    eval_every: int = 0  # 0: only at the end
    eval_batches: int = 8
    checkpoint_every: int = 0  # 0: only at the end
    divergence_factor: float = 3.0
    # standard | mup (the engine's maximal-update parametrisation, relative to
    # a base width; the base head dimension defaults to the model's own)
    parametrization: str = "standard"
    mup_base_width: Optional[int] = None
    mup_base_head_dim: Optional[int] = None
    # data and outputs
    train_data: Optional[str] = None
    val_data: Optional[str] = None
    run_dir: Optional[str] = None
    metrics: Optional[str] = None
    summary: Optional[str] = None
    checkpoint: Optional[str] = None
    resume: Optional[str] = None
    name: str = "torch_gpt"
    data: str = ""


# ---------------------------------------------------------------- accounting
def param_counts(c: Config):
    """(non-embedding, total) parameters, as scalelab's accounting counts them."""
    C, Fd, L = c.d_model, c.d_ff, c.n_layer
    per_layer = 4 * C * C + 2 * C * Fd + 9 * C + Fd  # ln1, qkv, proj, ln2, fc, fc_proj
    non_embedding = L * per_layer + 2 * C  # + final LayerNorm; the head is tied
    return non_embedding, non_embedding + (c.vocab + c.context) * C


def flops_per_token(c: Config) -> float:
    """Training FLOPs per token, scalelab's `exact` convention: 3 x (2 x every
    weight-matrix MAC incl. the head + QK^T and A.V over the full context)."""
    C, Fd, L = float(c.d_model), float(c.d_ff), float(c.n_layer)
    weights = L * (4 * C * C + 2 * C * Fd) + c.vocab * C
    return 3.0 * (2.0 * weights + 4.0 * L * c.context * C)


def wsd_decay_steps(total: int, fraction: float) -> int:
    """Steps of a WSD run's decay: round(fraction * total), within [1, total] (Rust's f64::round)."""
    x = fraction * total
    k = int(math.floor(x + 0.5)) if x >= 0 else int(math.ceil(x - 0.5))
    return min(max(k, 1), max(total, 1))


def decay_factor(shape: str, p: float) -> float:
    """g(p) of a WSD decay: 1 at its start, 0 at its end."""
    p = min(max(p, 0.0), 1.0)
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0 - math.sqrt(p)


def lr_at(step: int, c: Config) -> float:
    """Linear warm-up to lr, then (step from 0) the engine's schedules: cosine to
    min_lr_ratio * lr over the rest; wsd: lr until the last decay_fraction of the
    steps, then decay_shape down to min_lr_ratio * lr; constant: lr."""
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    low = c.lr * c.min_lr_ratio
    if c.lr_schedule == "constant":
        return c.lr
    if c.lr_schedule == "wsd":
        k = wsd_decay_steps(c.steps, c.decay_fraction)
        start = c.steps - k
        if step < start:
            return c.lr
        p = min((step - start) / max(k - 1, 1), 1.0)
        return low + (c.lr - low) * decay_factor(c.decay_shape, p)
    p = min((step - c.warmup_steps) / max(c.steps - c.warmup_steps - 1, 1), 1.0)
    return low + (c.lr - low) * 0.5 * (1.0 + math.cos(math.pi * p))


# ----------------------------------------------------------------------- muP
HIDDEN = ("qkv.weight", "proj.weight", "fc.weight", "fc_proj.weight")


def is_hidden(name: str) -> bool:
    """muP's hidden (width x width) matrices: each block's qkv, proj, fc and fc_proj weights."""
    return name.startswith("blocks.") and name.endswith(HIDDEN)


def width_mult(c: Config) -> float:
    """m = d_model / base_width under muP, 1 under standard parametrisation."""
    return c.d_model / c.mup_base_width if c.parametrization == "mup" else 1.0


def attn_scale(c: Config) -> Optional[float]:
    """The attention-score scale: None (1/sqrt(head_dim), SDPA's default) unless
    muP's base head dimension differs from the head dimension, then
    sqrt(base_head_dim) / head_dim, as the engine."""
    hd = c.d_model // c.n_head
    if c.parametrization == "mup" and c.mup_base_head_dim != hd:
        return math.sqrt(c.mup_base_head_dim) / hd
    return None


# --------------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.n_head = c.n_head
        self.scale = attn_scale(c)
        self.ln1 = nn.LayerNorm(c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model)  # columns [q | k | v]
        self.proj = nn.Linear(c.d_model, c.d_model)
        self.ln2 = nn.LayerNorm(c.d_model)
        self.fc = nn.Linear(c.d_model, c.d_ff)
        self.fc_proj = nn.Linear(c.d_ff, c.d_model)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.qkv(self.ln1(x)).view(B, T, 3, self.n_head, C // self.n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, head_dim)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        self.wte = nn.Embedding(c.vocab, c.d_model)
        self.wpe = nn.Embedding(c.context, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.lnf = nn.LayerNorm(c.d_model)
        # GPT-2 init as the engine: matrices and embeddings N(0, 0.02), the two
        # residual output projections N(0, 0.02/sqrt(2L)), biases 0, LN gains 1;
        # under muP the hidden matrices' std is divided by sqrt(m) and the
        # logits are multiplied by 1/m (m = d_model / base_width).
        resid_std = 0.02 / math.sqrt(2 * c.n_layer)
        m = width_mult(c)
        self.out_mult = 1.0 / m
        for name, p in self.named_parameters():
            if isinstance(self.get_submodule(name.rsplit(".", 1)[0]), nn.LayerNorm):
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
            else:  # wte, wpe, qkv and fc weights; proj and fc_proj are the residual outputs
                std = resid_std if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std / math.sqrt(m) if is_hidden(name) else std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.lnf(x), self.wte.weight)  # tied head, no bias
        if self.out_mult != 1.0:
            logits = logits * self.out_mult
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def make_optimizer(model, c: Config, fused=False):
    """The engine's AdamW, which is torch's: p *= 1 - lr*wd, then the Adam step
    with bias correction and eps added after sqrt(v_hat); weight decay on the
    matrices and embeddings, not on biases and LayerNorms. Each group's
    "lr_mult" scales the schedule's lr: 1/m for muP's hidden matrices (their
    decay stays coupled to their lr, as the engine's), 1 otherwise."""
    named = list(model.named_parameters())
    m = width_mult(c)
    apart = lambda n: m != 1.0 and is_hidden(n)  # a group of their own only when their lr differs
    groups = [{"params": [p for n, p in named if p.dim() >= 2 and not apart(n)], "weight_decay": c.weight_decay,
               "lr_mult": 1.0},
              {"params": [p for n, p in named if p.dim() < 2], "weight_decay": 0.0, "lr_mult": 1.0}]
    if m != 1.0:
        groups.append({"params": [p for n, p in named if p.dim() >= 2 and apart(n)],
                       "weight_decay": c.weight_decay, "lr_mult": 1.0 / m})
    for g in groups:
        g["lr"] = c.lr * g["lr_mult"]
    return torch.optim.AdamW(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, fused=fused)


# ---------------------------------------------------------------------- data
def read_shard(path):
    """(tokens, document ends, vocab) of an SLTOKENS shard, memory-mapped."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            h = f.read(64)
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})")
    if len(h) < 64 or h[:8] != b"SLTOKENS":
        raise UsageError(f"{path}: not a scalelab token shard (bad magic or header)")
    version, width, vocab, header_len = struct.unpack_from("<4I", h, 8)
    n_tok, n_doc = struct.unpack_from("<2Q", h, 24)
    if version != 1 or width not in (2, 4) or header_len != 64:
        raise UsageError(f"{path}: bad shard header (version {version}, width {width}, header {header_len})")
    if 64 + n_tok * width + 8 * n_doc != size:
        raise UsageError(f"{path}: header says {n_tok} tokens and {n_doc} documents "
                         f"but the file has {size} bytes (truncated or corrupt)")
    mm = lambda dt, off, n: np.memmap(path, dt, "r", off, (n,)) if n else np.zeros(0, dt)
    return mm("<u2" if width == 2 else "<u4", 64, n_tok), mm("<u8", 64 + n_tok * width, n_doc), vocab


class Batches:
    """Global batches (batch, context+1) from a shard or a directory of shards."""

    def __init__(self, path, split, c: Config, n_batches, stream):
        if os.path.isdir(path):  # a prepared corpus: its train_*.bin or val_*.bin, else every *.bin
            files = [sorted(glob.glob(os.path.join(path, pat))) for pat in (f"{split}_*.bin", "*.bin")]
            files = files[0] or files[1]
            if not files:
                raise UsageError(f"{path}: no *.bin token shards in this directory")
        else:
            files = [path]
        shards = [(f, *read_shard(f)) for f in files]
        self.seed, self.stream, self.width = c.seed, stream, c.context + 1
        self.vocab = max(s[3] for s in shards)
        for f, _, _, vocab in shards:
            if c.vocab and vocab > c.vocab:
                raise UsageError(f"{f}: the shard's vocabulary ({vocab}) exceeds the model's vocab ({c.vocab})")
        f, toks, ends, _ = shards[0]
        n, w = len(ends), self.width
        self.rows = None
        if len(shards) == 1 and n and len(toks) == n * w and np.array_equal(ends, np.arange(1, n + 1, dtype=np.uint64) * w):
            self.rows = toks.reshape(n, w)  # one row per document, in training order
            if n < n_batches * c.batch:
                raise UsageError(f"{f}: {n} rows of {w} tokens, but {n_batches} batches "
                                 f"of {c.batch} need {n_batches * c.batch}")
            return
        self.toks = [s[1] for s in shards if len(s[1]) >= w]
        self.starts = np.array([len(t) - w + 1 for t in self.toks], dtype=np.int64)
        if not self.toks:
            raise UsageError(f"{path}: no shard holds a window of context+1 = {w} tokens")
        self.cum = np.cumsum(self.starts)

    def get(self, index, batch):
        """Global batch `index` as an int64 array (batch, context+1)."""
        if self.rows is not None:
            return np.asarray(self.rows[index * batch:(index + 1) * batch], dtype=np.int64)
        rng = np.random.default_rng([self.seed, self.stream, index])  # a pure function of the index
        u = rng.integers(0, self.cum[-1], size=batch)
        s = np.searchsorted(self.cum, u, side="right")
        off = u - (self.cum[s] - self.starts[s])
        return np.stack([np.asarray(self.toks[i][o:o + self.width], dtype=np.int64) for i, o in zip(s, off)])


# --------------------------------------------------------------------- setup
PEAK_BF16 = [(r"H100|H200|GH200", 989e12), (r"A100", 312e12), (r"L40S", 362e12), (r"\bL4\b", 121e12),
             (r"\bA10\b", 125e12), (r"V100", 125e12), (r"4090", 165e12)]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", metavar="PATH", help="run.json written by scalelab (default: $SCALELAB_CONFIG)")
    for f in ["n-layer", "d-model", "n-head", "d-ff", "context", "batch", "vocab", "steps", "tokens", "warmup-steps",
              "seed", "threads", "eval-every", "eval-batches", "checkpoint-every", "mup-base-width",
              "mup-base-head-dim"]:
        ap.add_argument(f"--{f}", type=int, metavar="N")
    for f in ["lr", "min-lr-ratio", "weight-decay", "grad-clip", "decay-fraction"]:
        ap.add_argument(f"--{f}", type=float, metavar="X")
    ap.add_argument("--lr-schedule", choices=["cosine", "wsd", "constant"], help="the schedule after the warm-up")
    ap.add_argument("--decay-shape", choices=["linear", "cosine", "1-sqrt"], help="the WSD decay's shape")
    ap.add_argument("--parametrization", choices=["standard", "mup"],
                    help="mup: the engine's maximal-update parametrisation (needs --mup-base-width)")
    ap.add_argument("--train-data", metavar="PATH", help="SLTOKENS shard, or a directory of *.bin shards")
    ap.add_argument("--val-data", metavar="PATH", help="SLTOKENS shard or directory for validation")
    ap.add_argument("--out", metavar="DIR", help="run directory: metrics.jsonl, summary.json, checkpoint.pt")
    ap.add_argument("--resume", metavar="PATH", help="checkpoint to continue from")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="autocast dtype (auto: bfloat16 on CUDA, float32 on CPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--peak-tflops", type=float, metavar="X",
                    help="device peak for MFU (default: known GPUs' bf16 dense peak)")
    ap.add_argument("--stop-at", type=int, metavar="STEP",
                    help="checkpoint and stop after this step, without a summary (time-limited jobs; resume later)")
    return ap.parse_args(argv)


def load_config(args) -> Config:
    fields = {f.name for f in dataclasses.fields(Config)}
    d, expected = {}, None
    path = args.config or os.environ.get("SCALELAB_CONFIG")
    if path:
        try:
            with open(path) as f:
                raw = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: cannot read the run config ({e})")
        if not isinstance(raw, dict):
            raise UsageError(f"{path}: the run config is not a JSON object")
        d = {k: v for k, v in raw.items() if k in fields}
        expected = raw.get("params")
    env = {"run_dir": "RUN_DIR", "metrics": "METRICS", "summary": "SUMMARY", "checkpoint": "CHECKPOINT",
           "resume": "RESUME", "train_data": "TRAIN_DATA", "val_data": "VAL_DATA", "name": "RUN_NAME"}
    for k, e in env.items():
        if not d.get(k) and os.environ.get("SCALELAB_" + e):
            d[k] = os.environ["SCALELAB_" + e]
    resume = args.resume or d.get("resume")
    if resume:  # a checkpoint's own configuration is the base a config file and flags override
        d = {**load_checkpoint(resume)["config"], **{k: v for k, v in d.items() if v is not None}, "resume": resume}
    flags = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "tokens" in flags and "steps" not in flags:
        d["steps"] = 0
    d.update(flags)
    if args.out:
        out = os.path.abspath(args.out)
        d.update(run_dir=out, metrics=os.path.join(out, "metrics.jsonl"),
                 summary=os.path.join(out, "summary.json"), checkpoint=os.path.join(out, "checkpoint.pt"))
    c = Config(**d)
    if not c.run_dir:
        raise UsageError("no run directory: give --out DIR or --config run.json")
    c.metrics = c.metrics or os.path.join(c.run_dir, "metrics.jsonl")
    c.summary = c.summary or os.path.join(c.run_dir, "summary.json")
    c.checkpoint = c.checkpoint or os.path.join(c.run_dir, "checkpoint.pt")
    c.d_ff = c.d_ff or 4 * c.d_model
    if not c.train_data:
        raise UsageError("no training data: give --train-data, or train_data in the config "
                         "(in a sweep: export_data = true in [trainer])")
    if not c.val_data:
        print("torch_gpt: warning: no validation data (--val-data): no val_loss is reported", file=sys.stderr)
    if expected and c.vocab and param_counts(c)[0] != expected:
        print(f"torch_gpt: warning: {param_counts(c)[0]} non-embedding parameters, the config says {expected}",
              file=sys.stderr)
    return c


def validate(c: Config):
    for k in ["n_layer", "d_model", "n_head", "d_ff", "context", "vocab", "batch", "threads", "eval_batches"]:
        if getattr(c, k) < 1:
            raise UsageError(f"--{k.replace('_', '-')} must be at least 1, got {getattr(c, k)}")
    if c.d_model % c.n_head:
        raise UsageError(f"--n-head {c.n_head} does not divide --d-model {c.d_model}")
    if not c.steps:
        c.steps = -(-c.tokens // (c.batch * c.context))
    if c.steps < 1:
        raise UsageError("give --steps (or --tokens) of at least one step")
    if c.warmup_steps is None:
        c.warmup_steps = max(1, math.ceil(c.steps * 0.05))
    if c.warmup_steps >= c.steps > 1 or c.warmup_steps < 0:
        raise UsageError(f"--warmup-steps {c.warmup_steps} must be below the number of steps ({c.steps})")
    if c.lr_schedule not in ("cosine", "wsd", "constant"):
        raise UsageError(f"--lr-schedule must be cosine, wsd or constant, got {c.lr_schedule!r}")
    if c.decay_shape not in ("linear", "cosine", "1-sqrt"):
        raise UsageError(f"--decay-shape must be linear, cosine or 1-sqrt, got {c.decay_shape!r}")
    if not 0 < c.decay_fraction <= 1:
        raise UsageError(f"--decay-fraction must be in (0, 1], got {c.decay_fraction}")
    if c.lr_schedule == "wsd" and c.steps > 1 and c.warmup_steps > c.steps - wsd_decay_steps(c.steps, c.decay_fraction):
        raise UsageError(f"--warmup-steps {c.warmup_steps} must end before the WSD decay starts "
                         f"(step {c.steps - wsd_decay_steps(c.steps, c.decay_fraction)} of {c.steps})")
    if not (c.lr > 0 and math.isfinite(c.lr)):
        raise UsageError(f"--lr must be positive, got {c.lr}")
    if not 0 <= c.min_lr_ratio <= 1:
        raise UsageError(f"--min-lr-ratio must be in [0, 1], got {c.min_lr_ratio}")
    if not (0 <= c.beta1 < 1 and 0 <= c.beta2 < 1 and c.eps > 0 and c.weight_decay >= 0 and c.grad_clip >= 0):
        raise UsageError("beta1, beta2 must be in [0, 1), eps > 0, weight_decay and grad_clip >= 0")
    if not c.divergence_factor > 1:
        raise UsageError("divergence_factor must be above 1")
    if c.parametrization == "standard":
        if c.mup_base_width is not None or c.mup_base_head_dim is not None:
            raise UsageError("--mup-base-width and --mup-base-head-dim need --parametrization mup")
    elif c.parametrization == "mup":
        if c.mup_base_width is None:
            raise UsageError("--parametrization mup needs --mup-base-width (the width at which muP equals "
                             "standard parametrisation)")
        if c.mup_base_head_dim is None:
            c.mup_base_head_dim = c.d_model // c.n_head
        if c.mup_base_width < 1 or c.mup_base_head_dim < 1:
            raise UsageError("--mup-base-width and --mup-base-head-dim must be at least 1")
    else:
        raise UsageError(f"--parametrization must be standard or mup, got {c.parametrization!r}")


def load_checkpoint(path, device="cpu"):
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no checkpoint to resume from")
    return torch.load(path, map_location=device, weights_only=True, mmap=True)


def save_atomic(path, write):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def write_json(path, obj):
    def w(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    save_atomic(path, w)


# --------------------------------------------------------------------- train
def train(args, c: Config):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if c.batch % world:
        raise UsageError(f"--batch {c.batch} is not divisible by the {world} processes (WORLD_SIZE)")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available")
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if use_cuda else "float32")
    if world > 1:
        import torch.distributed as dist
        if use_cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    torch.set_num_threads(max(1, c.threads // (1 if use_cuda else world)))  # CPU processes share `threads`
    if not use_cuda:
        torch.use_deterministic_algorithms(True, warn_only=True)
    master = rank == 0
    r0, r1 = rank * c.batch // world, (rank + 1) * c.batch // world  # this process's rows

    train_data = Batches(c.train_data, "train", c, c.steps, stream=0)
    val_data = Batches(c.val_data, "val", c, c.eval_batches, stream=1) if c.val_data else None

    torch.manual_seed(c.seed)
    model = GPT(c).to(device)
    opt = make_optimizer(model, c, fused=use_cuda)
    step, train_loss, last_val = 0, float("nan"), None
    if c.resume:
        ck = load_checkpoint(c.resume, device)
        differ = [f"{k} {ck['config'].get(k)} != {getattr(c, k)}" for k in
                  ["n_layer", "d_model", "n_head", "d_ff", "context", "vocab"] if ck["config"].get(k) != getattr(c, k)]
        if differ:
            raise UsageError(f"{c.resume}: the checkpoint's model shape differs from this run's ({', '.join(differ)})")
        was = (ck["config"].get("parametrization", "standard"), ck["config"].get("mup_base_width"),
               ck["config"].get("mup_base_head_dim"))
        if was != (c.parametrization, c.mup_base_width, c.mup_base_head_dim):
            raise UsageError(f"{c.resume}: the checkpoint was trained with parametrization {was[0]} "
                             f"(base width {was[1]}, base head dim {was[2]}), this run asks for {c.parametrization} "
                             f"(base width {c.mup_base_width}, base head dim {c.mup_base_head_dim})")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, train_loss, last_val = ck["step"], ck["train_loss"], ck["val_loss"]
    net = torch.compile(model) if args.compile else model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(net, device_ids=[local_rank] if use_cuda else None)
    fwd = net.module if world > 1 else net  # evaluation needs no gradient synchronisation
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")

    def to_device(rows):
        if rows.max(initial=0) >= c.vocab:
            raise UsageError(f"token {rows.max()} is outside the vocabulary ({c.vocab})")
        t = torch.from_numpy(rows)
        t = t.pin_memory().to(device, non_blocking=True) if use_cuda else t
        return t[:, :-1], t[:, 1:]

    def mean_over_ranks(x):
        if world > 1:
            torch.distributed.all_reduce(x)
            x = x / world
        return x

    def evaluate():
        total = torch.zeros((), device=device)
        with torch.no_grad(), autocast():
            for i in range(c.eval_batches):
                total += fwd(*to_device(val_data.get(i, c.batch)[r0:r1])).float()
        return mean_over_ranks(total / c.eval_batches).item()

    fpt = flops_per_token(c)
    tokens_per_step = c.batch * c.context
    limit = c.divergence_factor * max(math.log(c.vocab), 1.0)
    metrics = open(c.metrics, "a" if c.resume else "w") if master else None
    step_seconds = []
    while step < c.steps:
        t0 = time.perf_counter()
        lr = lr_at(step, c)
        x, y = to_device(train_data.get(step, c.batch)[r0:r1])
        with autocast():
            loss = net(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip if c.grad_clip > 0 else math.inf)
        train_loss, grad_norm = mean_over_ranks(loss.detach().float()).item(), norm.item()
        if not (math.isfinite(train_loss) and math.isfinite(grad_norm) and train_loss <= limit):
            if master:
                print(f"torch_gpt: diverged at step {step + 1}: loss {train_loss}, grad norm {grad_norm} "
                      f"(limit {limit:.4g})", file=sys.stderr)
            sys.exit(3)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        step_seconds.append(time.perf_counter() - t0)
        rec = {"step": step, "tokens": step * tokens_per_step, "train_loss": train_loss}
        if val_data and (step == c.steps or (c.eval_every and step % c.eval_every == 0)):
            rec["val_loss"] = last_val = evaluate()
        rec.update(lr=lr, grad_norm=grad_norm, flops=step * tokens_per_step * fpt,
                   tokens_per_second=tokens_per_step / step_seconds[-1])
        if master:
            metrics.write(json.dumps(rec) + "\n")
            metrics.flush()
        stop = args.stop_at is not None and step >= args.stop_at
        if master and (step == c.steps or stop or (c.checkpoint_every and step % c.checkpoint_every == 0)):
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                     "train_loss": train_loss, "val_loss": last_val, "config": dataclasses.asdict(c)}
            save_atomic(c.checkpoint, lambda tmp: torch.save(state, tmp))
        if stop and step < c.steps:
            if master:
                metrics.close()
                print(f"torch_gpt: stopped after step {step}; resume from {c.checkpoint}", file=sys.stderr)
            if world > 1:
                torch.distributed.barrier()  # see the end of train()
            return
    if last_val is None and val_data:  # resumed from a final checkpoint
        last_val = evaluate()

    if master:
        times = sorted(step_seconds[min(len(step_seconds) // 10, max(len(step_seconds) - 1, 0)):])
        tps = tokens_per_step / times[len(times) // 2] if times else 0.0
        peak, mfu, name = args.peak_tflops and args.peak_tflops * 1e12, None, "cpu"
        if use_cuda:
            name = torch.cuda.get_device_name(device)
            peak = peak or next((p for pat, p in PEAK_BF16 if re.search(pat, name)), None)
            mem = torch.cuda.max_memory_allocated(device) / 2**20
        else:
            mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if use_cuda and peak:
            mfu = tps * fpt / (peak * world)
        params, params_total = param_counts(c)
        write_json(c.summary, {
            "completed": True, "steps": step, "tokens": step * tokens_per_step,
            "train_loss": train_loss, "val_loss": last_val, "params": params, "params_total": params_total,
            "flops": step * tokens_per_step * fpt, "flops_per_token": fpt, "tokens_per_second": tps,
            "gflops_per_second": tps * fpt / 1e9, "mfu": mfu, "peak_memory_mb": mem,
            "device": device.type, "device_name": name, "dtype": dtype, "world_size": world,
            "parametrization": c.parametrization, "mup_base_width": c.mup_base_width,
            "threads": torch.get_num_threads(), "torch_version": torch.__version__})
        metrics.close()
    if world > 1:
        # Every rank reaches this point before any tears the process group
        # down: a rank that destroys it while another still finishes its
        # last collective can abort in gloo ("terminate called without an
        # active exception"), seen once in about ten torchrun test runs.
        torch.distributed.barrier()


def main(argv=None):
    args = parse_args(argv)
    try:
        c = load_config(args)
        # the vocabulary defaults to the training data's
        if not c.vocab:
            c.vocab = Batches(c.train_data, "train", c, 0, 0).vocab
        validate(c)
        os.makedirs(c.run_dir, exist_ok=True)
        train(args, c)
    except UsageError as e:
        print(f"torch_gpt: error: {e}", file=sys.stderr)
        return 2
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
