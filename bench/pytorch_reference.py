#!/usr/bin/env python3
"""PyTorch reference for scalelab's training engine (development-time only).

The same GPT as crates/engine (token + learned position embeddings,
pre-LayerNorm blocks with causal multi-head attention and a 4x GELU-tanh MLP,
final LayerNorm, output head tied to the token embedding, no dropout), with
parameters named and shaped as in the engine's flat layout.

Two commands:

  fixture  writes crates/engine/tests/data/gpt_fixture.safetensors: a tiny
           configuration's weights, inputs, logits, loss, every gradient and
           the parameters after one AdamW step (float64), used by the Rust
           test `fixture_matches_pytorch`.
               python3 bench/pytorch_reference.py fixture

  fixture --mup
           writes crates/engine/tests/data/gpt_mup_fixture.safetensors: the
           same under muP (maximal-update parametrisation) at width 16 with
           base width 4 and base head dimension 2, so every muP factor
           (init, output multiplier, attention scale, per-tensor learning
           rates) differs from 1; used by `mup_fixture_matches_pytorch`.
               python3 bench/pytorch_reference.py fixture --mup

  bench    times training steps (forward, backward, clipping, AdamW) and
           prints one JSON line: median tokens/s after warm-up, peak RSS.
               python3 bench/pytorch_reference.py bench --n-layer 2 \
                   --d-model 64 --n-head 4 --context 128 --batch 16 \
                   --vocab 256 --threads 1 --steps 30

Needs torch, numpy and safetensors (`pip install torch numpy safetensors`).
CI does not run it.
"""
import argparse
import json
import math
import os
import resource
import sys
import time


def build(torch, F, n_layer, d_model, n_head, context, vocab, d_ff=None, sdpa=True, mup=None):
    """mup: None (standard) or dict(base_width=, base_head_dim=): logits
    times base_width/d_model, attention scores times sqrt(base_head_dim)/hs
    instead of 1/sqrt(hs)."""
    nn = torch.nn
    d_ff = d_ff or 4 * d_model
    out_mult = 1.0 if mup is None else mup["base_width"] / d_model
    hs0 = d_model // n_head
    if mup is None or mup["base_head_dim"] == hs0:
        att_scale = 1.0 / math.sqrt(hs0)
    else:
        att_scale = math.sqrt(mup["base_head_dim"]) / hs0

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.ln2 = nn.LayerNorm(d_model)
            self.fc = nn.Linear(d_model, d_ff)
            self.fc_proj = nn.Linear(d_ff, d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            hs = C // n_head
            q = q.view(B, T, n_head, hs).transpose(1, 2)
            k = k.view(B, T, n_head, hs).transpose(1, 2)
            v = v.view(B, T, n_head, hs).transpose(1, 2)
            if sdpa:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=att_scale)
            else:
                att = (q @ k.transpose(-2, -1)) * att_scale
                mask = torch.ones(T, T, dtype=torch.bool).tril()
                att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
                y = att @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            x = x + self.proj(y)
            x = x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
            return x

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, d_model)
            self.wpe = nn.Embedding(context, d_model)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layer)])
            self.lnf = nn.LayerNorm(d_model)

        def forward(self, idx, targets):
            B, T = idx.shape
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for b in self.blocks:
                x = b(x)
            logits = self.lnf(x) @ self.wte.weight.t()
            if out_mult != 1.0:
                logits = logits * out_mult
            loss = F.cross_entropy(logits.view(-1, vocab), targets.view(-1))
            return logits, loss

    return GPT()


HIDDEN = ("qkv.weight", "proj.weight", "fc.weight", "fc_proj.weight")


def is_hidden(name):
    """muP's hidden matrices: qkv_w, attn_proj_w, fc_w, fc_proj_w."""
    return name.startswith("blocks.") and name.endswith(HIDDEN)


def init_like_engine(torch, model, n_layer, width_mult=1.0):
    """GPT-2 style init (the engine's distribution, not its random stream);
    under muP (width_mult = d_model / base_width) the hidden matrices' std is
    divided by sqrt(width_mult)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name == "lnf.weight":
                p.fill_(1.0)
            elif p.dim() == 1:
                p.normal_(0.0, 0.02)  # nonzero biases exercise every gradient
            elif name.endswith("proj.weight"):
                p.normal_(0.0, 0.02 / math.sqrt(2 * n_layer) / math.sqrt(width_mult))
            elif is_hidden(name):
                p.normal_(0.0, 0.02 / math.sqrt(width_mult))
            else:
                p.normal_(0.0, 0.02)


def engine_tensors(torch, model, grads=False):
    """Parameters (or gradients) in the engine's names and stacked shapes."""
    get = (lambda p: p.grad) if grads else (lambda p: p.data)
    bl = model.blocks
    stack = lambda f: torch.stack([get(f(b)) for b in bl]).contiguous()
    return {
        "wte": get(model.wte.weight).contiguous(),
        "wpe": get(model.wpe.weight).contiguous(),
        "ln1_w": stack(lambda b: b.ln1.weight),
        "ln1_b": stack(lambda b: b.ln1.bias),
        "qkv_w": stack(lambda b: b.qkv.weight),
        "qkv_b": stack(lambda b: b.qkv.bias),
        "attn_proj_w": stack(lambda b: b.proj.weight),
        "attn_proj_b": stack(lambda b: b.proj.bias),
        "ln2_w": stack(lambda b: b.ln2.weight),
        "ln2_b": stack(lambda b: b.ln2.bias),
        "fc_w": stack(lambda b: b.fc.weight),
        "fc_b": stack(lambda b: b.fc.bias),
        "fc_proj_w": stack(lambda b: b.fc_proj.weight),
        "fc_proj_b": stack(lambda b: b.fc_proj.bias),
        "lnf_w": get(model.lnf.weight).contiguous(),
        "lnf_b": get(model.lnf.bias).contiguous(),
    }


def make_optimizer(torch, model, lr, weight_decay, width_mult=1.0):
    """AdamW; under muP the hidden matrices' group has lr / width_mult (its
    weight decay stays coupled to its lr, as in PyTorch's per-group AdamW)."""
    named = list(model.named_parameters())
    hidden = [p for n, p in named if p.dim() >= 2 and is_hidden(n)]
    decay = [p for n, p in named if p.dim() >= 2 and not is_hidden(n)]
    no_decay = [p for n, p in named if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0},
              {"params": hidden, "weight_decay": weight_decay, "lr": lr / width_mult}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8)


def save_safetensors(torch, tensors, path, metadata):
    """safetensors.torch.save_file when installed, else the same format
    written here (8-byte little-endian header length, JSON header, data)."""
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(tensors, path, metadata=metadata)
        return
    dtypes = {torch.float64: "F64", torch.float32: "F32", torch.int32: "I32", torch.int64: "I64"}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def fixture(args):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(1234)
    torch.set_default_dtype(torch.float64)
    cfg = dict(n_layer=2, d_model=16, n_head=2, context=72, vocab=50)
    B, T = 2, 72  # T > 64 exercises the engine's blocked causal attention
    lr, wd, clip = 1e-2, 0.1, 0.05
    mup = dict(base_width=4, base_head_dim=2) if args.mup else None
    width_mult = cfg["d_model"] / mup["base_width"] if mup else 1.0
    model = build(torch, F, sdpa=False, mup=mup, **cfg)
    init_like_engine(torch, model, cfg["n_layer"], width_mult)
    tokens = torch.randint(0, cfg["vocab"], (B, T))
    targets = torch.randint(0, cfg["vocab"], (B, T))
    out = {f"param.{k}": v.clone() for k, v in engine_tensors(torch, model).items()}
    logits, loss = model(tokens, targets)
    loss.backward()
    out.update({f"grad.{k}": v.clone() for k, v in engine_tensors(torch, model, grads=True).items()})
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt = make_optimizer(torch, model, lr, wd, width_mult)
    opt.step()
    out.update({f"adamw.{k}": v.clone() for k, v in engine_tensors(torch, model).items()})
    out["tokens"] = tokens.to(torch.int32)
    out["targets"] = targets.to(torch.int32)
    out["logits"] = logits.detach()
    out["loss"] = loss.detach().reshape(1)
    out["grad_norm"] = norm.detach().reshape(1)
    meta = {k: str(v) for k, v in cfg.items()}
    meta.update(batch=str(B), seq=str(T), lr=str(lr), weight_decay=str(wd), grad_clip=str(clip),
                beta1="0.9", beta2="0.95", eps="1e-8", torch=torch.__version__)
    if mup:
        meta.update({f"mup_{k}": str(v) for k, v in mup.items()})
    path = args.out or os.path.join(args.here, "..", "crates", "engine", "tests", "data",
                                    "gpt_mup_fixture.safetensors" if mup else "gpt_fixture.safetensors")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_safetensors(torch, {k: v.contiguous() for k, v in out.items()}, path, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes), loss {loss.item():.6f}")


def bench(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build(torch, F, args.n_layer, args.d_model, args.n_head, args.context, args.vocab, sdpa=not args.no_sdpa)
    init_like_engine(torch, model, args.n_layer)
    opt = make_optimizer(torch, model, 1e-3, 0.1)
    times = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(args.steps):
        x = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen)
        y = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen)
        t0 = time.perf_counter()
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    warm = max(1, args.steps // 5)
    ts = sorted(times[warm:])
    med = ts[len(ts) // 2]
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "sdpa": not args.no_sdpa,
        "threads": args.threads,
        "tokens_per_second": args.batch * args.context / med,
        "step_seconds_median": med,
        "final_loss": loss.item(),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    fx = sub.add_parser("fixture")
    here = os.path.dirname(os.path.abspath(__file__))
    fx.add_argument("--out", help="default: crates/engine/tests/data/gpt_fixture.safetensors (gpt_mup_fixture with --mup)")
    fx.add_argument("--mup", action="store_true", help="the muP fixture (width 16, base width 4, base head dim 2)")
    fx.set_defaults(here=here)
    bn = sub.add_parser("bench")
    for name, default in [("n-layer", 2), ("d-model", 64), ("n-head", 4), ("context", 128),
                          ("batch", 16), ("vocab", 256), ("threads", 1), ("steps", 30)]:
        bn.add_argument(f"--{name}", type=int, default=default)
    bn.add_argument("--no-sdpa", action="store_true", help="explicit attention instead of scaled_dot_product_attention")
    args = ap.parse_args()
    {"fixture": fixture, "bench": bench}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
