"""isoflop and design against the CLI."""

import pandas as pd
import pytest

import scalelab
from conftest import dataset

CONFIG = 'config_id == "rw|base|long|kaplan|kaplan|train"'


@pytest.fixture(scope="module")
def porian():
    return dataset("porian2024_isoflop", "isoflop_points.csv")


def test_isoflop_from_a_dataframe_equals_the_cli(cli, porian):
    want = cli("isoflop", porian, "--params-col", "n", "--tokens-col", "t",
               "--where", CONFIG, "--bootstrap", "50", "--json")
    iso = scalelab.isoflop(pd.read_csv(porian), columns={"params": "n", "tokens": "t"},
                           where=CONFIG, bootstrap=50)
    got = iso.to_dict()
    got.pop("runs"), want.pop("runs")
    assert got == want
    assert iso.a == want["a"] and len(iso.to_pandas()) == len(want["optima"])


def test_design_equals_the_cli_and_writes_a_sweep_file(cli, tmp_path):
    want = cli("design", "--pilot-flops", "1e16", "--budgets", "4", "--json")
    d = scalelab.design(1e16, budgets=4, out=tmp_path / "pilot.toml")
    got = d.to_dict()
    got.pop("sweep_file"), want.pop("sweep_file", None)
    assert got == want
    assert (tmp_path / "pilot.toml").exists()
    assert len(d.to_pandas()) == len(d.runs)
    with pytest.raises(ValueError):
        scalelab.design(-1.0)


def test_emerge_equals_the_cli(cli):
    p = dataset("pythia_evals", "pythia_v1_zero_shot_tidy.csv")
    where = "step == 143000 and deduped == 0"
    want = cli("emerge", p, "--scale-col", "params_nonembedding", "--where", where,
               "--bootstrap", "50", "--json")
    em = scalelab.emerge(str(p), scale_col="params_nonembedding", where=where, bootstrap=50)
    got = em.to_dict()
    assert got == want
    assert len(em.to_pandas()) == len(want["tasks"])
