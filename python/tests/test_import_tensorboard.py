"""`scalelab import tensorboard` on event files written at test time by the
real `tensorboard` package: torch-style simple_value scalars and TF2-style
tensor scalars, checked value by value in the tables the CLI writes."""

import csv
import struct
import subprocess

import pytest

tb = pytest.importorskip("tensorboard", reason="the tensorboard package writes the event files")

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402
from tensorboard.plugins.scalar.summary_v2 import scalar_pb  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402

from conftest import _bin  # noqa: E402


def val_loss(n, step):
    """A loss curve exact in float32 (multiples of 1/1024)."""
    return 2.0 + 4096.0 / n - step / 1024


def write_run(logdir, n, style, steps):
    w = EventFileWriter(str(logdir))
    for s in steps:
        if style == "torch":
            values = [summary_pb2.Summary.Value(tag="val/loss", simple_value=val_loss(n, s)),
                      summary_pb2.Summary.Value(tag="train/loss", simple_value=val_loss(n, s) + 0.5)]
        else:
            # TF2: float_val (tensorboard's scalar_pb) and tensor_content (TF's C++ writer)
            values = list(scalar_pb("train/loss", val_loss(n, s) + 0.5).value)
            t = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                       tensor_content=struct.pack("<f", val_loss(n, s)))
            values.append(summary_pb2.Summary.Value(tag="val/loss", tensor=t))
        w.add_event(event_pb2.Event(wall_time=1.7e9 + s, step=s, summary=summary_pb2.Summary(value=values)))
    w.close()


@pytest.fixture
def logs(tmp_path):
    sizes = {"torch-run": (1024, "torch"), "tf2/run": (2048, "tf2")}
    for name, (n, style) in sizes.items():
        write_run(tmp_path / "logs" / name, n, style, range(0, 501, 100))
    mapping = tmp_path / "map.toml"
    mapping.write_text('loss = "val/loss"\ntokens_per_step = 1000\n'
                       '[runs."torch-run"]\nparams = 1024\n[runs."tf2/run"]\nparams = 2048\n')
    return tmp_path, sizes, mapping


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fresh_event_files_import_with_exact_values(cli, logs):
    root, sizes, mapping = logs
    out = root / "out"
    report = cli("import", "tensorboard", root / "logs", "--map", mapping, "--out", out, "--json")
    assert report["schema"] == "scalelab.import/1"
    assert sorted(r["run"] for r in report["runs"]) == ["tf2/run", "torch-run"]
    assert report["loss"] == "val/loss" and report["train_loss"] == "train/loss"
    assert report["warnings"] == []
    runs = {r["run"]: r for r in read(out / "runs.csv")}
    for name, (n, _) in sizes.items():
        r = runs[name]
        assert float(r["loss"]) == val_loss(n, 500)
        assert float(r["train_loss"]) == val_loss(n, 500) + 0.5
        assert float(r["params"]) == n
        assert float(r["tokens"]) == 500 * 1000
        assert float(r["flops"]) == 6 * n * 500 * 1000
        assert int(float(r["steps"])) == 500
    curves = read(out / "curves.csv")
    tf2 = [(int(float(r["step"])), float(r["loss"])) for r in curves if r["run"] == "tf2/run"]
    # step 0 (no tokens yet) is left out of the curves
    assert tf2 == [(s, val_loss(2048, s)) for s in range(100, 501, 100)]


def test_a_corrupt_record_names_its_file_and_offset(logs):
    root, _, mapping = logs
    b = _bin()
    if not b:
        pytest.skip("no scalelab binary (set SCALELAB_BIN)")
    (f,) = (root / "logs" / "torch-run").iterdir()
    data = bytearray(f.read_bytes())
    # the records: [u64 length][u32 crc][data][u32 crc]
    offsets, o = [], 0
    while o < len(data):
        offsets.append(o)
        o += 16 + struct.unpack("<Q", data[o:o + 8])[0]
    data[offsets[3] + 14] ^= 0x10
    f.write_bytes(bytes(data))
    out = subprocess.run([b, "import", "tensorboard", str(root / "logs"), "--map", str(mapping),
                          "--out", str(root / "out")], capture_output=True, text=True)
    assert out.returncode == 2
    assert f"{f.name}: record 3 at byte {offsets[3]}:" in out.stderr, out.stderr
    # a cut-short last record (a writer still running) is skipped with a warning
    good = bytearray(data)
    good[offsets[3] + 14] ^= 0x10
    f.write_bytes(bytes(good[:-3]))
    out = subprocess.run([b, "import", "tensorboard", str(root / "logs"), "--map", str(mapping),
                          "--out", str(root / "out")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"record {len(offsets) - 1} at byte {offsets[-1]} is cut short" in out.stderr
