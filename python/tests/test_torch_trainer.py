"""trainers/torch_gpt.py, the PyTorch trainer, against the engine's definitions.

Accounting and schedule against the Rust formulas (and the CLI), the model
and AdamW against the engine's PyTorch fixture, then real runs on a tiny
model: metrics and summary, kill-and-resume, divergence, bad data and
torchrun data parallelism. Skips only when torch is not importable.
"""

import importlib.util
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch numpy)")

from conftest import REPO  # noqa: E402

TRAINER = REPO / "trainers" / "torch_gpt.py"
FIXTURE = REPO / "crates" / "engine" / "tests" / "data" / "gpt_fixture.safetensors"
MUP_FIXTURE = REPO / "crates" / "engine" / "tests" / "data" / "gpt_mup_fixture.safetensors"
SHAPE = dict(n_layer=1, d_model=16, n_head=2, d_ff=64, context=16, batch=4, vocab=32)
STEPS = 40

spec = importlib.util.spec_from_file_location("torch_gpt", TRAINER)
tg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tg)


def write_shard(path, docs, vocab, width=2):
    """An SLTOKENS shard: 64-byte header, tokens, per-document end offsets."""
    toks = np.concatenate([np.asarray(d) for d in docs]).astype("<u2" if width == 2 else "<u4")
    ends = np.cumsum([len(d) for d in docs]).astype("<u8")
    header = b"SLTOKENS" + struct.pack("<4I3Q", 1, width, vocab, 64, len(toks), len(docs), 0) + bytes(16)
    path.write_bytes(header + toks.tobytes() + ends.tobytes())


def markov_rows(n, length, vocab, seed):
    """Rows from a sparse random Markov chain (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    cdf = rng.dirichlet(np.full(vocab, 0.1), size=vocab).cumsum(1)
    rows = np.zeros((n, length), dtype=np.int64)
    rows[:, 0] = rng.integers(0, vocab, n)
    for t in range(1, length):
        rows[:, t] = np.minimum((cdf[rows[:, t - 1]] < rng.random(n)[:, None]).sum(1), vocab - 1)
    return rows


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    rows = markov_rows(STEPS * SHAPE["batch"] + 8 * SHAPE["batch"], SHAPE["context"] + 1, SHAPE["vocab"], 0)
    write_shard(d / "train.bin", rows[: STEPS * SHAPE["batch"]], SHAPE["vocab"])
    write_shard(d / "val.bin", rows[STEPS * SHAPE["batch"]:], SHAPE["vocab"])
    return d


def run_json(shards, run_dir, **over):
    """A run.json as scalelab's sweep writes it (schema scalelab.run/1)."""
    c = tg.Config(**SHAPE)
    params, total = tg.param_counts(c)
    cfg = dict(schema="scalelab.run/1", name="tiny", run_dir=str(run_dir), metrics=str(run_dir / "metrics.jsonl"),
               summary=str(run_dir / "summary.json"), checkpoint=str(run_dir / "checkpoint.pt"), resume=None,
               train_data=str(shards / "train.bin"), val_data=str(shards / "val.bin"), data="test rows",
               **SHAPE, steps=STEPS, tokens=STEPS * 64, lr=1e-2, min_lr_ratio=0.1, warmup_steps=2,
               weight_decay=0.1, beta1=0.9, beta2=0.95, eps=1e-8, grad_clip=1.0, seed=3, threads=1,
               eval_every=10, eval_batches=8, checkpoint_every=10, divergence_factor=3.0,
               params=params, params_total=total, flops_budget=None)
    cfg.update(over)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(cfg))
    return run_dir / "run.json"


def trainer(*args, config=None, resume="", timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALELAB_")}
    if config:
        env.update(SCALELAB_CONFIG=str(config), SCALELAB_RESUME=resume)
    return subprocess.run([sys.executable, str(TRAINER), *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- definitions
def test_parameter_and_flop_accounting_follow_the_rust_formulas():
    # crates/core accounting tests: the tiny shape and GPT-2 small
    assert tg.param_counts(tg.Config(n_layer=2, d_model=8, n_head=2, d_ff=32, context=4, vocab=10)) == (1760, 1872)
    gpt2 = tg.Config(n_layer=12, d_model=768, n_head=12, d_ff=3072, context=1024, vocab=50257)
    assert tg.param_counts(gpt2) == (85_056_000, 124_439_808)
    w = 12.0 * (4.0 * 768**2 + 2.0 * 768 * 3072) + 50257.0 * 768
    assert tg.flops_per_token(gpt2) == 3.0 * (2.0 * w + 4.0 * 12 * 1024 * 768)
    # the module holds exactly params_total parameters (the head is tied)
    c = tg.Config(n_layer=3, d_model=24, n_head=3, d_ff=40, context=9, vocab=37)
    model = tg.GPT(c)
    non_emb, total = tg.param_counts(c)
    assert sum(p.numel() for p in model.parameters()) == total
    assert total - non_emb == model.wte.weight.numel() + model.wpe.weight.numel()


def test_accounting_matches_the_cli(cli):
    c = tg.Config(n_layer=3, d_model=48, n_head=4, d_ff=160, context=24, vocab=70)
    out = cli("plan", "--gpt", "layers=3,width=48,heads=4,ff=160,context=24,vocab=70", "--json")
    g = out.get("gpt", out)
    assert (g["params_non_embedding"], g["params_total"]) == tg.param_counts(c)
    assert g["flops_per_token"]["exact"] == tg.flops_per_token(c)


def test_schedule_is_the_engines():
    # LrSchedule's unit test: peak 1e-3, min ratio 0.1, warm-up 10, 110 steps
    c = tg.Config(lr=1e-3, min_lr_ratio=0.1, warmup_steps=10, steps=110)
    assert abs(tg.lr_at(0, c) - 1e-4) < 1e-15 and abs(tg.lr_at(9, c) - 1e-3) < 1e-15
    assert abs(tg.lr_at(10, c) - 1e-3) < 1e-15 and abs(tg.lr_at(109, c) - 1e-4) < 1e-15
    assert all(tg.lr_at(i + 1, c) <= tg.lr_at(i, c) for i in range(10, 109))
    # p = (step - warmup) / (total - warmup - 1): halfway at step 10 + 49.5
    mid = 1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 49 / 99))
    assert math.isclose(tg.lr_at(59, c), mid, rel_tol=1e-14)
    assert tg.lr_at(0, tg.Config(lr=2.0, warmup_steps=1, steps=1)) == 2.0


def test_wsd_schedules_are_the_engines():
    # the engine's WSD unit test: warm-up 10, 110 steps, the last 22 decaying
    for shape, g in [("linear", lambda p: 1 - p), ("cosine", lambda p: 0.5 * (1 + math.cos(math.pi * p))),
                     ("1-sqrt", lambda p: 1 - math.sqrt(p))]:
        c = tg.Config(lr=1e-3, min_lr_ratio=0.1, warmup_steps=10, steps=110, lr_schedule="wsd",
                      decay_fraction=0.2, decay_shape=shape)
        assert tg.wsd_decay_steps(110, 0.2) == 22
        assert all(tg.lr_at(i, c) == 1e-3 for i in range(10, 88)), shape
        assert abs(tg.lr_at(88, c) - 1e-3) < 1e-15 and abs(tg.lr_at(109, c) - 1e-4) < 1e-15, shape
        assert abs(tg.lr_at(93, c) - (1e-4 + 9e-4 * g(5 / 21))) < 1e-15, shape  # p = (step - 88) / 21
        assert all(tg.lr_at(i + 1, c) <= tg.lr_at(i, c) for i in range(10, 109)), shape
    c = tg.Config(lr=1e-3, warmup_steps=10, steps=110, lr_schedule="constant")
    assert tg.lr_at(109, c) == 1e-3
    # Rust rounds half away from zero: 0.25 * 10 = 2.5 -> 3 decay steps
    assert tg.wsd_decay_steps(10, 0.25) == 3


def test_wsd_schedule_matches_the_engines_log(cli, tmp_path):
    # the engine's metrics.jsonl records the lr of every step
    for shape in ["linear", "cosine", "1-sqrt"]:
        cfg = tmp_path / f"{shape}.toml"
        cfg.write_text(f'n_layer = 1\nd_model = 16\nn_head = 2\ncontext = 8\nbatch = 2\nsteps = 37\n'
                       f'data = "random"\nlr = 2e-3\nwarmup_steps = 4\nlr_schedule = "wsd"\n'
                       f'decay_fraction = 0.3\ndecay_shape = "{shape}"\n')
        out = tmp_path / shape
        cli("train", "--config", cfg, "--out", out, "--quiet", "--json")
        c = tg.Config(lr=2e-3, min_lr_ratio=0.1, warmup_steps=4, steps=37, lr_schedule="wsd",
                      decay_fraction=0.3, decay_shape=shape)
        rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 37
        for r in rows:
            assert math.isclose(r["lr"], tg.lr_at(r["step"] - 1, c), rel_tol=1e-14, abs_tol=1e-18), (shape, r)


@pytest.mark.parametrize("fixture", [FIXTURE, MUP_FIXTURE], ids=["standard", "mup"])
def test_model_and_adamw_match_the_engines_fixture(fixture):
    """The fixtures the engine is tested against: weights, loss, every gradient
    and the weights after one clipped AdamW step (float64). The muP one (width
    16, base width 4, base head dimension 2) has every muP factor away from 1:
    logits x 1/4, attention scale sqrt(2)/8, hidden matrices' lr / 4."""
    raw = fixture.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    meta = head.pop("__metadata__")
    dt = {"F64": np.float64, "I32": np.int32}
    t = {k: torch.from_numpy(np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
                                           dt[v["dtype"]]).reshape(v["shape"]).copy()) for k, v in head.items()}
    c = tg.Config(**{k: int(meta[k]) for k in ["n_layer", "d_model", "n_head", "context", "vocab"]},
                  lr=float(meta["lr"]), weight_decay=float(meta["weight_decay"]), eps=float(meta["eps"]),
                  beta1=float(meta["beta1"]), beta2=float(meta["beta2"]))
    c.d_ff = 4 * c.d_model
    if "mup_base_width" in meta:
        c.parametrization = "mup"
        c.mup_base_width = int(meta["mup_base_width"])
        c.mup_base_head_dim = int(meta["mup_base_head_dim"])
        assert tg.width_mult(c) == 4.0 and tg.attn_scale(c) == math.sqrt(2) / 8
    model = tg.GPT(c).double()
    names = {"ln1_w": "ln1.weight", "ln1_b": "ln1.bias", "qkv_w": "qkv.weight", "qkv_b": "qkv.bias",
             "attn_proj_w": "proj.weight", "attn_proj_b": "proj.bias", "ln2_w": "ln2.weight", "ln2_b": "ln2.bias",
             "fc_w": "fc.weight", "fc_b": "fc.bias", "fc_proj_w": "fc_proj.weight", "fc_proj_b": "fc_proj.bias"}

    def ours(prefix):
        m = {"wte": "wte.weight", "wpe": "wpe.weight", "lnf_w": "lnf.weight", "lnf_b": "lnf.bias"}
        out = {m[k]: t[f"{prefix}.{k}"] for k in m}
        for k, v in names.items():
            out.update({f"blocks.{i}.{v}": t[f"{prefix}.{k}"][i] for i in range(c.n_layer)})
        return out

    model.load_state_dict(ours("param"))
    loss = model(t["tokens"].long(), t["targets"].long())
    assert abs(loss.item() - t["loss"].item()) < 1e-12
    loss.backward()
    params = dict(model.named_parameters())
    for k, g in ours("grad").items():
        torch.testing.assert_close(params[k].grad, g, rtol=1e-9, atol=1e-12, msg=k)
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float(meta["grad_clip"]))
    assert abs(norm.item() - t["grad_norm"].item()) < 1e-12
    tg.make_optimizer(model, c).step()
    for k, p in ours("adamw").items():
        torch.testing.assert_close(params[k].detach(), p, rtol=1e-12, atol=1e-14, msg=k)


# ----------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def whole_run(shards, tmp_path_factory):
    """An uninterrupted 40-step run, configured as scalelab does (run.json)."""
    d = tmp_path_factory.mktemp("whole")
    out = trainer(config=run_json(shards, d))
    assert out.returncode == 0, out.stderr
    return d


def test_a_run_writes_the_metrics_protocol_and_summary(whole_run):
    m = metrics(whole_run)
    assert [r["step"] for r in m] == list(range(1, STEPS + 1))
    assert [r["step"] for r in m if "val_loss" in r] == [10, 20, 30, 40]
    c = tg.Config(**SHAPE, steps=STEPS, lr=1e-2, warmup_steps=2)
    fpt = tg.flops_per_token(c)
    for r in m:
        assert r["tokens"] == r["step"] * 64 and r["flops"] == r["tokens"] * fpt
        assert r["lr"] == tg.lr_at(r["step"] - 1, c)
        assert r["grad_norm"] > 0 and r["tokens_per_second"] > 0
    assert abs(m[0]["train_loss"] - math.log(32)) < 0.05
    assert m[-1]["val_loss"] < math.log(32) - 0.4 and m[-1]["train_loss"] < m[0]["train_loss"] - 0.4
    s = json.loads((whole_run / "summary.json").read_text())
    assert s["completed"] and s["steps"] == STEPS and s["tokens"] == STEPS * 64
    assert (s["params"], s["params_total"]) == tg.param_counts(c)
    assert s["flops"] == STEPS * 64 * fpt and s["flops_per_token"] == fpt
    assert s["val_loss"] == m[-1]["val_loss"] and s["train_loss"] == m[-1]["train_loss"]
    assert s["mfu"] is None and s["device"] == "cpu" and s["world_size"] == 1 and s["dtype"] == "float32"
    assert s["tokens_per_second"] > 0 and s["peak_memory_mb"] > 0 and s["torch_version"] == torch.__version__
    assert (whole_run / "checkpoint.pt").exists()


def test_a_stopped_run_resumes_to_the_same_losses(shards, whole_run, tmp_path):
    """Stop after step 17 (checkpoint), resume: every later line is
    bit-identical to the uninterrupted run's (tolerance 0 on CPU)."""
    cfg = run_json(shards, tmp_path)
    assert tg.main(["--config", str(cfg), "--stop-at", "17"]) == 0  # in this process: saves a start-up
    assert not (tmp_path / "summary.json").exists() and len(metrics(tmp_path)) == 17
    out = trainer(config=cfg, resume=str(tmp_path / "checkpoint.pt"))
    assert out.returncode == 0, out.stderr
    key = lambda r: (r["step"], r["train_loss"], r.get("val_loss"), r["lr"], r["grad_norm"])
    assert [key(r) for r in metrics(tmp_path)] == [key(r) for r in metrics(whole_run)]
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole_run, tmp_path))
    assert a["val_loss"] == b["val_loss"] and a["train_loss"] == b["train_loss"]


def test_torchrun_data_parallel_matches_one_process(shards, whole_run, tmp_path):
    """Two gloo processes, two rows each: the same global batch, so the same
    losses as one process up to float summation order (1e-5)."""
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(TRAINER)], env={**os.environ, "SCALELAB_CONFIG": str(run_json(shards, tmp_path))},
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    one, two = metrics(whole_run), metrics(tmp_path)
    assert [r["step"] for r in two] == list(range(1, STEPS + 1))
    for a, b in zip(one, two):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5, (a, b)
        assert abs(a.get("val_loss", 0) - b.get("val_loss", 0)) < 1e-5, (a, b)
    assert json.loads((tmp_path / "summary.json").read_text())["world_size"] == 2


def test_divergence_exits_3_without_a_summary(shards, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        tg.main(["--config", str(run_json(shards, tmp_path, lr=1e6))])
    assert e.value.code == 3
    assert "diverged at step" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def test_bad_data_exits_2_naming_the_file(shards, tmp_path, capsys):
    cut = tmp_path / "cut.bin"
    cut.write_bytes((shards / "train.bin").read_bytes()[:100])
    cases = [({"train_data": str(cut)}, [str(cut), "truncated"]),
             ({"vocab": 16}, [str(shards / "train.bin"), "vocabulary (32) exceeds"]),
             ({"steps": 41}, [str(shards / "train.bin"), "160 rows"]),
             ({"batch": 3}, ["--batch 3", "2 processes"])]
    for over, words in cases:
        env = {"WORLD_SIZE": "2"} if over.get("batch") == 3 else {}
        os.environ.update(env)
        try:
            assert tg.main(["--config", str(run_json(shards, tmp_path / "run", **over))]) == 2
        finally:
            for k in env:
                del os.environ[k]
        err = capsys.readouterr().err
        assert all(w in err for w in words), (over, err)


def test_mup_at_its_base_width_is_standard_and_bad_mup_settings_exit_2(shards, whole_run, tmp_path, capsys):
    """muP at base width = d_model and base head dim = head dim: every factor
    is 1, so the same seed gives the same weights, loss and AdamW step. Bad
    settings, and a checkpoint of another parametrisation, exit 2."""
    def one_step(**mup):
        c = tg.Config(**SHAPE, lr=1e-2, steps=STEPS, **mup)
        tg.validate(c)
        torch.manual_seed(0)
        model = tg.GPT(c).double()
        x = torch.randint(0, c.vocab, (2, c.context))
        loss = model(x, x)
        loss.backward()
        tg.make_optimizer(model, c).step()
        return loss.item(), [p.detach().clone() for p in model.parameters()]

    std, mup = one_step(), one_step(parametrization="mup", mup_base_width=SHAPE["d_model"])
    assert std[0] == mup[0]
    assert all(torch.equal(a, b) for a, b in zip(std[1], mup[1]))
    cases = [(["--parametrization", "mup"], "needs --mup-base-width"),
             (["--mup-base-width", "8"], "need --parametrization mup"),
             (["--parametrization", "mup", "--mup-base-width", "0"], "at least 1"),
             (["--parametrization", "mup", "--mup-base-width", "8", "--resume", whole_run / "checkpoint.pt"],
              "trained with parametrization standard")]
    for args, words in cases:
        assert tg.main(["--config", str(run_json(shards, tmp_path / "run")), *map(str, args)]) == 2, args
        err = capsys.readouterr().err
        assert words in err, (args, err)


def test_other_shards_give_seeded_windows(tmp_path):
    """Documents of other lengths, or a directory: windows of context+1
    tokens from one shard each, a pure function of (seed, index)."""
    rng = np.random.default_rng(1)
    docs = {f"train_{i:05}.bin": [rng.integers(0, 50, n) for n in (30, 7, 90)] for i in range(2)}
    docs["val_00000.bin"] = [np.full(40, 7)]
    for name, d in docs.items():
        write_shard(tmp_path / name, d, 50, width=4)
    c = tg.Config(context=16, batch=4, vocab=50, seed=5)
    train = tg.Batches(str(tmp_path), "train", c, 10, stream=0)
    assert train.rows is None
    b = train.get(3, 4)
    assert b.shape == (4, 17) and b.dtype == np.int64 and np.array_equal(b, train.get(3, 4))
    assert not np.array_equal(b, train.get(4, 4))
    streams = [np.concatenate(d) for k, d in sorted(docs.items()) if k.startswith("train")]
    for row in b:
        assert any(any(np.array_equal(row, s[o:o + 17]) for o in range(len(s) - 16)) for s in streams)
    assert (tg.Batches(str(tmp_path), "val", c, 8, stream=1).get(0, 4) == 7).all()
