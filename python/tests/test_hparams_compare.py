"""hparams and compare against the CLI: the same JSON for the same input,
a DataFrame giving the numbers of its file, the saved file that `scalelab
report` reads, and bad input as InputError naming the column or flag."""

import json
import math

import pandas as pd
import pytest

import scalelab
from conftest import dataset

PORIAN_A = "rw|base|short|chinchilla|standard|val"
PORIAN_B = "rw|base|short|kaplan|standard|val"


@pytest.fixture(scope="module")
def hp_csv():
    return dataset("hparams", "runs.csv")


@pytest.fixture(scope="module")
def porian():
    return dataset("porian2024_isoflop", "isoflop_points.csv")


def read(path):
    return pd.read_csv(path)


def ladder(path, shift, lo=1e17, hi=1e20, seed=1):
    """The integration test's IsoFLOP-like ladder: per budget three sizes
    whose best loss follows L = 1.8 + 2000·(C/shift)^-0.2 (0.2% noise)."""
    k, rows, n = seed, ["flops,loss,param_count"], 10
    for i in range(n):
        c = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1))
        k = (k * 6364136223846793005 + 1442695040888963407) % 2**64
        noise = ((k >> 11) / 2**53 * 2 - 1) * 0.002
        best = (1.8 + 2000 * (c / shift) ** -0.2) * (1 + noise)
        rows += [f"{c!r},{best * w!r},standard" for w in (1.04, 1.0, 1.02)]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


# -- hparams -----------------------------------------------------------------


@pytest.mark.parametrize("holdout", [False, True])
def test_hparams_equals_the_cli(cli, hp_csv, holdout):
    flags = ["--holdout-largest"] if holdout else []
    want = cli("hparams", hp_csv, "--bootstrap", "200", "--seed", "3", *flags, "--json")
    hp = scalelab.hparams(hp_csv, bootstrap=200, seed=3, holdout_largest=holdout)
    assert hp.to_dict() == want
    assert json.loads(hp.to_json()) == want
    assert hp.lr_law == want["lr_law"] and hp.lr_rule == want["lr_rule"]
    assert hp.batch_law == want["batch_law"] and hp.warnings == want["warnings"]
    assert (hp.holdout is not None) == holdout
    if holdout:
        assert hp.holdout == want["holdout"]
        assert len(hp.holdout["fitted_on"]) == len(want["budgets"]) - 1
    df = hp.to_pandas()
    assert list(df["flops"]) == [b["flops"] for b in want["budgets"]]
    assert list(df["lr_opt"]) == [b["lr_opt"] for b in want["budgets"]]
    assert list(df["best_loss"]) == [b["best"]["loss"] for b in want["budgets"]]
    assert list(df["lr_lo"]) == [b["lr_band"][0] for b in want["budgets"]]
    assert list(df["lr_opt_kind"]) == [b["lr_opt_kind"] for b in want["budgets"]]
    assert hp.lr_at(hp.lr_law["ref_flops"]) == pytest.approx(hp.lr_law["at_ref"], rel=1e-9)
    assert repr(hp).startswith("Hparams(lr_opt ∝ C^")


def test_hparams_of_a_dataframe_gives_the_numbers_of_its_file(hp_csv):
    from_file = scalelab.hparams(hp_csv, bootstrap=100, where="lr < 0.03").to_dict()
    hp = scalelab.hparams(read(hp_csv), bootstrap=100, where="lr < 0.03")
    got = hp.to_dict()
    assert got.pop("table") == "<DataFrame>"
    from_file.pop("table")
    assert got == from_file
    assert got["budget_column"] == "flops_budget" and got["batch_column"] == "batch"
    # renamed columns, named by the options
    df = read(hp_csv).rename(columns={"lr": "peak_lr", "loss": "val"})
    renamed = scalelab.hparams(df, lr_col="peak_lr", loss_col="val", bootstrap=100,
                               where="peak_lr < 0.03").to_dict()
    renamed.pop("table")
    assert renamed["lr_law"] == got["lr_law"] and renamed["budgets"] == got["budgets"]


def test_hparams_save_writes_the_cli_file_that_report_reads(cli, hp_csv, tmp_path):
    cli_out = tmp_path / "cli.json"
    cli("hparams", hp_csv, "--bootstrap", "50", "--holdout-largest", "-o", cli_out, parse=False)
    hp = scalelab.hparams(hp_csv, bootstrap=50, holdout_largest=True)
    saved = tmp_path / "hparams.json"
    hp.save(saved)
    assert saved.read_bytes() == cli_out.read_bytes()
    w = cli("report", saved, "-o", tmp_path / "report.html", "--json")
    assert w["figures"] >= 2
    assert "Hyperparameters across scale" in (tmp_path / "report.html").read_text()
    with pytest.raises(scalelab.InputError, match="scalelab.hparams/1"):
        scalelab._scalelab.write_hparams('{"schema": "x"}', str(tmp_path / "bad.json"))


def test_hparams_bad_input_names_the_column_or_flag(hp_csv):
    df = read(hp_csv)
    with pytest.raises(scalelab.TableError, match="'nope'") as e:
        scalelab.hparams(df, lr_col="nope", bootstrap=0)
    assert isinstance(e.value, scalelab.InputError) and e.value.path == "<DataFrame>"
    with pytest.raises(scalelab.InputError, match="--tol") as e:
        scalelab.hparams(df, tol=-0.1)
    assert e.value.flag == "--tol"
    with pytest.raises(scalelab.InputError, match="--fit-points must be at least 3") as e:
        scalelab.hparams(df, fit_points=2)
    assert e.value.flag == "--fit-points"
    with pytest.raises(scalelab.InputError, match="--where"):
        scalelab.hparams(df, where="lr < 0")
    bad = df.copy()
    bad.loc[5, "loss"] = float("nan")
    with pytest.raises(scalelab.TableError, match="loss") as e:
        scalelab.hparams(bad, bootstrap=0)
    assert e.value.line == 5


# -- compare -----------------------------------------------------------------


def test_compare_two_ladders_equals_the_cli(cli, tmp_path):
    a = ladder(tmp_path / "a.csv", 1.0, seed=1)
    b = ladder(tmp_path / "b.csv", 2.0, seed=2)
    want = cli("compare", a, b, "--bootstrap", "40", "--at", "1e19", "--at", "3e19", "--json")
    c = scalelab.compare(a, b, bootstrap=40, at=[1e19, 3e19])
    assert c.to_dict() == want
    assert c.geo_mean == want["geo_mean"] and abs(c.geo_mean / 2 - 1) < 0.1
    assert c.geo_mean_ci95 == want["geo_mean_ci95"]
    assert c.crossover == want["crossover"] and c.overlap == want["overlap"]
    assert c.multipliers == [p["multiplier"] for p in want["points"]]
    df = c.to_pandas()
    assert len(df) == len(want["points"]) and df["requested"].sum() == 2
    assert list(df["multiplier"]) == c.multipliers
    assert list(df["ci95_lo"]) == [p["ci95"][0] for p in want["points"]]
    assert "geo_mean=" in repr(c) and "'a.csv'" in repr(c)
    # DataFrames (either side) give the numbers of the files
    for x, y in [(read(a), read(b)), (read(a), b)]:
        got = scalelab.compare(x, y, bootstrap=40, at=[1e19, 3e19]).to_dict()
        assert got["a"].pop("path") == "<DataFrame A>" and got["a"].pop("label") == "<DataFrame A>"
        exp = json.loads(c.to_json())
        for side in ("a", "b"):
            exp[side].pop("path"), exp[side].pop("label")
        if isinstance(y, str):
            got["b"].pop("path"), got["b"].pop("label")
        else:
            assert got["b"].pop("path") == "<DataFrame B>"
            got["b"].pop("label")
        assert got == exp
    # a shared E, without the bootstrap
    want = cli("compare", a, b, "--bootstrap", "0", "--shared-e", "--json")
    c = scalelab.compare(a, b, bootstrap=0, shared_e=True)
    assert c.to_dict() == want and c.shared_e and c.bootstrap is None
    assert c.a["fit"]["E"] == c.b["fit"]["E"]


def test_compare_groups_of_one_table_equal_the_cli_and_save_for_report(cli, porian, tmp_path):
    cli_out = tmp_path / "cli.json"
    want = cli("compare", porian, "--group-by", "config_id", "--group-a", PORIAN_A,
               "--group-b", PORIAN_B, "--bootstrap", "20", "--json", "-o", cli_out)
    c = scalelab.compare(porian, group_by="config_id", group_a=PORIAN_A, group_b=PORIAN_B,
                         bootstrap=20)
    assert c.to_dict() == want
    assert c.a["label"] == PORIAN_A and c.a["group"] == ["config_id", PORIAN_A]
    assert 1 < c.geo_mean < 5
    # a DataFrame: the same numbers
    got = scalelab.compare(read(porian), group_by=["config_id"], group_a=PORIAN_A,
                           group_b=PORIAN_B, bootstrap=20).to_dict()
    for side in ("a", "b"):
        assert got[side].pop("path") == "<DataFrame>"
        want[side].pop("path")
    assert got == want
    # the file the CLI writes, which `scalelab report` reads
    saved = tmp_path / "compare.json"
    c.save(saved)
    assert saved.read_bytes() == cli_out.read_bytes()
    w = cli("report", saved, "-o", tmp_path / "report.html", "--json")
    assert w["figures"] >= 2
    assert "Comparing recipes" in (tmp_path / "report.html").read_text()


def test_compare_bad_input_names_the_flag_or_column(porian, tmp_path):
    df = read(porian)
    with pytest.raises(scalelab.InputError, match="different FLOP/parameter conventions") as e:
        scalelab.compare(df, group_by="config_id", group_a="rw|base|long|kaplan|kaplan|train",
                         group_b="rw|base|long|kaplan|standard|val", bootstrap=0)
    assert e.value.flag == "--no-convention-check"
    c = scalelab.compare(df, group_by="config_id", group_a="rw|base|long|kaplan|kaplan|train",
                         group_b="rw|base|long|kaplan|standard|val", bootstrap=0,
                         no_convention_check=True)
    assert len(c.warnings) == 1 and c.to_dict()["convention_check"] is False
    with pytest.raises(scalelab.InputError, match="--group-b: no rows .* `nope`") as e:
        scalelab.compare(df, group_by="config_id", group_a=PORIAN_A, group_b="nope")
    assert e.value.flag == "--group-b"
    with pytest.raises(scalelab.InputError, match="group_by needs both group_a and group_b"):
        scalelab.compare(df, group_by="config_id", group_a=PORIAN_A)
    with pytest.raises(scalelab.InputError, match="compare needs two tables"):
        scalelab.compare(df)
    with pytest.raises(scalelab.InputError, match="a second table"):
        scalelab.compare(df, df, group_by="config_id", group_a=PORIAN_A, group_b=PORIAN_B)
    with pytest.raises(scalelab.InputError, match="at: .*positive"):
        scalelab.compare(df, group_by="config_id", group_a=PORIAN_A, group_b=PORIAN_B, at=-1)
    a = ladder(tmp_path / "a.csv", 1.0)
    with pytest.raises(scalelab.TableError, match="'compute'"):
        scalelab.compare(a, a, flops_col="compute", bootstrap=0)
    # no common compute range
    b = ladder(tmp_path / "b.csv", 1.0, lo=1e21, hi=1e22)
    with pytest.raises(scalelab.ComputationError, match="overlap"):
        scalelab.compare(a, b, bootstrap=0)
