"""Writes the fixtures of `scalelab import` (committed beside this script).

    python -m pip install tensorboard && python crates/lab/tests/data/import/make_fixtures.py

(with a directory as argument it writes there instead).

TensorBoard event files are written with the real `tensorboard` package
(its EventFileWriter and Event/Summary protos), in both styles a scalar
takes: `simple_value` (torch.utils.tensorboard, tensorboardX) and a
one-element tensor (TF2's tf.summary.scalar: `float_val` as
`tensorboard.summary.v2`'s scalar_pb writes it, `tensor_content` as TF's C++
writer does, int64 and double tensors), plus a histogram and a text summary
that an import must skip. The CSV exports and lm-eval results files are
written in the layouts those tools produce. Every loss is a multiple of
1/1024 (exact in float32), so tests compare exact values.

The values are the formulas below; the Rust tests and
python/tests/test_import_tensorboard.py repeat them.
"""

import csv
import json
import math
import pathlib
import shutil
import sys
import types

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.proto import types_pb2
from tensorboard.summary.writer import event_file_writer
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.plugins.histogram import metadata as hist_metadata
from tensorboard.plugins.text import metadata as text_metadata

HERE = pathlib.Path(__file__).resolve().parent
WALL0 = 1_700_000_000.0


# ---- TensorBoard ----------------------------------------------------------

def small_val(s):
    return 5.5 - s / 128


def small_train(s):
    return 6.0 - s / 64


def medium_val(s):
    return 5.0 - s / 128


def medium_train(s):
    return 5.5 - s / 64


def large_val(s):
    return 4.5 - s / 128


def large_train(s):
    return 5.0 - s / 64


def simple(tag, value):
    return summary_pb2.Summary.Value(tag=tag, simple_value=value)


def tensor_float_content(tag, value):
    """A scalar as TF2's C++ summary writer stores it: DT_FLOAT in tensor_content."""
    import struct

    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                               tensor_content=struct.pack("<f", value))
    return summary_pb2.Summary.Value(tag=tag, tensor=t)


def tensor_int64(tag, value):
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                               int64_val=[value])
    return summary_pb2.Summary.Value(tag=tag, tensor=t)


def tensor_double(tag, value):
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                               double_val=[value])
    return summary_pb2.Summary.Value(tag=tag, tensor=t)


def histogram(tag, values):
    """A histogram as TF2 writes it: a k×3 tensor with the histograms plugin."""
    k = len(values)
    t = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_DOUBLE,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=k),
                 tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
        double_val=[x for i, v in enumerate(values) for x in (i, i + 1, v)])
    md = hist_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary.Value(tag=tag, tensor=t, metadata=md)


def text(tag, s):
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                               string_val=[s.encode()])
    md = text_metadata.create_summary_metadata(display_name=tag, description="")
    return summary_pb2.Summary.Value(tag=tag, tensor=t, metadata=md)


def write_events(logdir, name_time, events):
    """One event file of `events` [(step, [Summary.Value])], with a fixed
    wall clock and a fixed file name."""
    logdir = pathlib.Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    real = event_file_writer.time
    event_file_writer.time = types.SimpleNamespace(time=lambda: float(name_time))
    try:
        before = set(logdir.iterdir())
        w = event_file_writer.EventFileWriter(str(logdir))
        for step, values in events:
            ev = event_pb2.Event(wall_time=WALL0 + step, step=step,
                                 summary=summary_pb2.Summary(value=values))
            w.add_event(ev)
        w.close()
    finally:
        event_file_writer.time = real
    (new,) = set(logdir.iterdir()) - before
    new.rename(logdir / f"events.out.tfevents.{int(name_time)}.fixture.1.0")


def write_tensorboard(root):
    root = pathlib.Path(root)
    # "small": torch-style simple_value scalars, in two files: the run was
    # restarted at step 100, and the second file logs step 100 again (its
    # value replaces the first file's stale one, small_val(100) + 0.25)
    first = []
    for s in range(0, 101, 25):
        vals = [simple("train/loss", small_train(s)), simple("lr", 0.001)]
        if s % 50 == 0:
            vals.append(simple("val/loss", small_val(s) + (0.25 if s == 100 else 0.0)))
        first.append((s, vals))
    write_events(root / "small", 1_700_000_000, first)
    second = []
    for s in range(100, 201, 25):
        vals = [simple("train/loss", small_train(s)), simple("lr", 0.0005)]
        if s % 50 == 0:
            vals.append(simple("val/loss", small_val(s)))
        second.append((s, vals))
    write_events(root / "small", 1_700_000_100, second)

    # "nested/medium": TF2-style tensor scalars
    ev = []
    for s in range(0, 201, 25):
        vals = list(scalar_pb("train/loss", medium_train(s)).value)
        vals.append(tensor_int64("train/tokens", s * 4000))
        vals.append(tensor_double("lr", 0.002))
        if s % 50 == 0:
            vals.append(tensor_float_content("val/loss", medium_val(s)))
        ev.append((s, vals))
    write_events(root / "nested" / "medium", 1_700_000_200, ev)

    # "large": simple_value, with a histogram and a text summary to skip
    ev = [(0, [text("config", "n_layer: 4")])]
    for s in range(0, 301, 50):
        vals = [simple("train/loss", large_train(s)), simple("val/loss", large_val(s)),
                histogram("weights", [1.0, 2.0, float(s)])]
        ev.append((s, vals))
    write_events(root / "large", 1_700_000_300, ev)


# ---- tracker CSV exports -------------------------------------------------

# five runs for a fit: the final validation loss follows L = 1.75 + 96/N^0.25
# at 1000 steps (values rounded to 1/1024)
SIZES = {"gpt-xs": 1e6, "gpt-s": 3e6, "gpt-m": 1e7, "gpt-l": 3e7, "gpt-xl": 1e8}


def q(x):
    return round(x * 1024) / 1024


def wandb_val(n, s):
    return q(1.75 + 96 / n ** 0.25 + 2.0 * (1000 - s) / 1000)


def wandb_train(n, s):
    return q(wandb_val(n, s) - 0.0625)


def write_wandb(root):
    """W&B panel exports: one file per panel, "Step" and per run
    "<run> - <metric>", "__MIN", "__MAX"; gpt-xs logged no value at step 600."""
    for metric, fn, name in [("val/loss", wandb_val, "wandb_val_loss.csv"),
                             ("train/loss", wandb_train, "wandb_train_loss.csv")]:
        header = ["Step"]
        for run in SIZES:
            header += [f"{run} - {metric}", f"{run} - {metric}__MIN", f"{run} - {metric}__MAX"]
        rows = []
        for s in range(0, 1001, 200):
            row = [str(s)]
            for run, n in SIZES.items():
                if run == "gpt-xs" and s == 600:
                    row += ["", "", ""]
                else:
                    v = repr(fn(n, s))
                    row += [v, v, v]
            rows.append(row)
        with open(root / name, "w", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            w.writerow(header)
            w.writerows(rows)


def long_val(i, s):
    return 4.0 - i * 0.25 - s / 512


def write_long(root):
    """A long history table (one row per run and step), as `wandb.Api()
    .runs(...)[i].history()` frames concatenated and saved: name, _step,
    _runtime, metrics, and a text column."""
    with open(root / "long.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "_step", "_runtime", "group", "train/loss", "val/loss", "tokens"])
        for i, run in enumerate(["lr-1e-3", "lr-3e-3", "lr-1e-2"]):
            for s in range(0, 501, 100):
                w.writerow([run, s, 10.5 * s, "sweep-7", long_val(i, s) + 0.125, long_val(i, s), s * 2048])


def write_per_run(root):
    """W&B run history exports: runs/<run>/history.csv."""
    for i, run in enumerate(["alpha", "beta"]):
        d = root / "per_run" / run
        d.mkdir(parents=True, exist_ok=True)
        with open(d / "history.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["_step", "_runtime", "_timestamp", "train/loss", "val/loss"])
            for s in range(0, 301, 100):
                train = 3.5 - i * 0.5 - s / 256
                # val/loss logged every 100 steps, train every 50 (empty cells)
                w.writerow([s, s * 1.5, 1.7e9 + s, train, train + 0.0625])
                if s < 300:
                    w.writerow([s + 50, s * 1.5 + 0.75, 1.7e9 + s + 50, train - 0.125, ""])


# ---- lm-evaluation-harness results ---------------------------------------

# Final checkpoints (step143000) of Pythia on the standard Pile, from the
# Pythia repository's zero-shot evaluations (data/pythia_evals): value, stderr
PYTHIA = {
    "70m": {"lambada_openai": {"acc": (0.18455268775470599, 0.00540468283118203),
                               "ppl": (142.42891015470678, 6.043810708201551)},
            "piqa": {"acc": (0.5946681175190425, 0.011454816387346764),
                     "acc_norm": (0.5914036996735582, 0.01146924038724515)},
            "arc_easy": {"acc": (0.37373737373737376, 0.009927267058259621),
                         "acc_norm": (0.3501683501683502, 0.009788295410093142)}},
    "160m": {"lambada_openai": {"acc": (0.3283524160683097, 0.006542638265686499),
                                "ppl": (38.064877017771195, 1.4363799633211518)},
             "piqa": {"acc": (0.6273122959738846, 0.01128131833289774),
                      "acc_norm": (0.6164309031556039, 0.01134512873411628)},
             "arc_easy": {"acc": (0.4351851851851852, 0.010173216430370908),
                          "acc_norm": (0.39646464646464646, 0.010037412763064519)}},
    "410m": {"lambada_openai": {"acc": (0.5162041529206287, 0.006962318518940979),
                                "ppl": (10.828202624445215, 0.32326570778646707)},
             "piqa": {"acc": (0.6675734494015234, 0.010991141557445587),
                      "acc_norm": (0.6713819368879217, 0.010959127105167044)},
             "arc_easy": {"acc": (0.5210437710437711, 0.010250692602022562),
                          "acc_norm": (0.45791245791245794, 0.010223371342195902)}},
    "1b": {"lambada_openai": {"acc": (0.5620027168639627, 0.006912211029495663),
                              "ppl": (7.915689653023117, 0.2116655204984578)},
           "piqa": {"acc": (0.7072905331882481, 0.010616044462393092),
                    "acc_norm": (0.6931447225244831, 0.010760295070580385)},
           "arc_easy": {"acc": (0.5694444444444444, 0.010160345396860077),
                        "acc_norm": (0.4903198653198653, 0.010257860554461122)}},
    "1.4b": {"lambada_openai": {"acc": (0.6161459344071415, 0.006775431186581984),
                                "ppl": (6.0857145325729105, 0.1550975255819871)},
             "piqa": {"acc": (0.7089227421109902, 0.010598612490942592),
                      "acc_norm": (0.7105549510337323, 0.010581014740675623)},
             "arc_easy": {"acc": (0.6064814814814815, 0.010024426884292562),
                          "acc_norm": (0.5391414141414141, 0.01022829820076613)}},
    "2.8b": {"lambada_openai": {"acc": (0.6471958082670289, 0.006657279471298494),
                                "ppl": (5.036126385825113, 0.11928530740583779)},
             "piqa": {"acc": (0.7388465723612623, 0.010248738649935576),
                      "acc_norm": (0.733949945593036, 0.010310039263352826)},
             "arc_easy": {"acc": (0.6439393939393939, 0.009825454608416315),
                          "acc_norm": (0.5896464646464646, 0.010093531255765452)}},
}
N_SAMPLES = {"lambada_openai": 5153, "piqa": 1838, "arc_easy": 2376, "gsm8k": 1319, "wikitext": 62}
# illustrative values (not from the Pythia repository) for the tasks with
# filters and with "N/A" standard errors
GSM8K = {"70m": (0.0, 0.0), "160m": (0.0015163002274450341, 0.0010717793485492638),
         "1b": (0.015163002274450341, 0.0033660142445937813),
         "2.8b": (0.026535253980288095, 0.0044294344612432755)}
WIKITEXT = {"70m": 57.06, "160m": 33.44, "1b": 16.45, "2.8b": 12.8}


def results_04(size):
    model = f"EleutherAI/pythia-{size}"
    res = {}
    for task, metrics in PYTHIA[size].items():
        r = {"alias": task}
        for m, (v, se) in metrics.items():
            name = "perplexity" if m == "ppl" else m
            r[f"{name},none"] = v
            r[f"{name}_stderr,none"] = se
        res[task] = r
    em, em_se = GSM8K[size]
    res["gsm8k"] = {"alias": "gsm8k",
                    "exact_match,strict-match": em, "exact_match_stderr,strict-match": em_se,
                    "exact_match,flexible-extract": em + 0.0015163002274450341,
                    "exact_match_stderr,flexible-extract": em_se + 0.0004}
    wp = WIKITEXT[size]
    res["wikitext"] = {"alias": "wikitext", "word_perplexity,none": wp, "word_perplexity_stderr,none": "N/A",
                       "byte_perplexity,none": round(wp ** 0.25, 4), "byte_perplexity_stderr,none": "N/A",
                       "bits_per_byte,none": round(0.25 * math.log2(wp), 4),
                       "bits_per_byte_stderr,none": "N/A"}
    tasks = list(res)
    return {
        "results": res,
        "group_subtasks": {t: [] for t in reversed(tasks)},
        "configs": {t: {"task": t, "num_fewshot": 5 if t == "gsm8k" else 0, "output_type": "loglikelihood",
                        "metadata": {"version": 1.0}} for t in tasks},
        "versions": {t: 1.0 for t in tasks},
        "n-shot": {t: 5 if t == "gsm8k" else 0 for t in tasks},
        "higher_is_better": {t: {} for t in tasks},
        "n-samples": {t: {"original": N_SAMPLES[t], "effective": N_SAMPLES[t]} for t in tasks},
        "config": {"model": "hf", "model_args": f"pretrained={model},revision=step143000,dtype=float16",
                   "model_num_parameters": 0, "model_dtype": "torch.float16", "model_revision": "step143000",
                   "model_sha": "", "batch_size": "16", "batch_sizes": [], "device": "cuda:0",
                   "use_cache": None, "limit": None, "bootstrap_iters": 100000, "gen_kwargs": None,
                   "random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234, "fewshot_seed": 1234},
        "git_hash": "4600d6bf", "date": 1714564800.0, "transformers_version": "4.40.1",
        "upper_git_hash": None, "task_hashes": {}, "model_source": "hf",
        "model_name": model, "model_name_sanitized": model.replace("/", "__"),
        "system_instruction": None, "system_instruction_sha": None, "fewshot_as_multiturn": False,
        "chat_template": None, "chat_template_sha": None,
        "start_time": 123.4, "end_time": 5678.9, "total_evaluation_time_seconds": "5555.5",
    }


def results_03(size):
    res = {}
    for task, metrics in PYTHIA[size].items():
        r = {}
        for m, (v, se) in metrics.items():
            r[m] = v
            r[f"{m}_stderr"] = se
        res[task] = r
    return {
        "results": res,
        "versions": {t: 0 for t in res},
        "config": {"model": "hf-causal",
                   "model_args": f"pretrained=EleutherAI/pythia-{size},revision=step143000",
                   "num_fewshot": 0, "batch_size": 16, "batch_sizes": [], "device": "cuda:0",
                   "no_cache": True, "limit": None, "bootstrap_iters": 100000, "description_dict": {}},
    }


def write_lm_eval(root):
    d = root / "lm_eval"
    for size in ["70m", "160m", "1b", "2.8b"]:
        sub = d / f"EleutherAI__pythia-{size}"
        sub.mkdir(parents=True, exist_ok=True)
        with open(sub / "results_2024-05-01T12-00-00.000000.json", "w") as f:
            json.dump(results_04(size), f, indent=2)
    for size in ["410m", "1.4b"]:
        sub = d / "v0.3" / f"pythia-{size}"
        sub.mkdir(parents=True, exist_ok=True)
        with open(sub / "results.json", "w") as f:
            json.dump(results_03(size), f, indent=2)


def main():
    """Writes the fixtures beside this script, or under the directory given
    as the first argument (what the Rust test that regenerates them uses)."""
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    for sub in ["tb", "per_run", "lm_eval"]:
        shutil.rmtree(out / sub, ignore_errors=True)
    write_tensorboard(out / "tb")
    write_wandb(out)
    write_long(out)
    write_per_run(out)
    write_lm_eval(out)
    print("fixtures written under", out)


if __name__ == "__main__":
    main()
