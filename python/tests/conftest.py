"""Shared fixtures: the CLI binary to compare with, and the Epoch data."""

import os
import pathlib
import shutil
import subprocess
import json

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _bin():
    b = os.environ.get("SCALELAB_BIN")
    if b:
        return b
    for p in [REPO / "target" / "debug" / "scalelab", REPO / "target" / "release" / "scalelab"]:
        if p.exists():
            return str(p)
    return shutil.which("scalelab")


@pytest.fixture(scope="session")
def cli():
    """Runs the `scalelab` binary; returns its parsed JSON (or stdout)."""
    b = _bin()
    if not b:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no scalelab binary (set SCALELAB_BIN)")
        pytest.skip("no scalelab binary (set SCALELAB_BIN)")

    def run(*args, parse=True):
        out = subprocess.run([b, *map(str, args)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if parse else out.stdout

    return run


def dataset(*parts):
    """A data set the repository carries in data/ (it never skips)."""
    p = REPO.joinpath("data", *parts)
    assert p.exists(), f"{p} is missing (the repository carries it)"
    return str(p)


@pytest.fixture(scope="session")
def epoch_csv():
    """The Epoch AI re-extraction of the Chinchilla points."""
    return dataset("chinchilla_epoch_svg", "svg_extracted_data.csv")


EPOCH_COLUMNS = {"params": "Model Size", "flops": "Training FLOP"}
EPOCH_WHERE = "loss < 3.4469"
EPOCH_FLAGS = ["--params-col", "Model Size", "--flops-col", "Training FLOP", "--where", EPOCH_WHERE]
