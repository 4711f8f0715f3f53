"""scalelab.fit against `scalelab fit --json`, and bad input."""

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalelab
from conftest import EPOCH_COLUMNS, EPOCH_FLAGS, EPOCH_WHERE


def comparable(d):
    """The fit object without what differs between runs (timing, the
    input's name) and the source line of the worst residual (a DataFrame's
    rows are its index labels, a CSV's its line numbers)."""
    d = json.loads(json.dumps(d))
    d.pop("timing", None)
    d.get("input", {}).pop("path", None)
    d.get("residuals", {}).pop("max_abs_line", None)
    return d


@pytest.mark.parametrize("method", ["varpro", "grid"])
def test_epoch_fit_from_a_dataframe_equals_the_cli(cli, epoch_csv, method):
    df = pd.read_csv(epoch_csv)
    fit = scalelab.fit(df, method=method, where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
    want = cli("fit", epoch_csv, *EPOCH_FLAGS, "--method", method, "--json")
    got = fit.to_dict()
    # every printed digit: the JSON texts of the numbers are equal
    assert json.dumps(got["params"]) == json.dumps(want["params"])
    assert json.dumps(got["derived"]) == json.dumps(want["derived"])
    assert repr(fit.objective) == repr(want["objective"])
    assert comparable(got) == comparable(want)
    assert fit.converged and fit.law == "chinchilla"
    assert 0.3 < fit.params["alpha"] < 0.4


def test_a_path_and_a_dict_of_arrays_give_the_same_fit(epoch_csv):
    df = pd.read_csv(epoch_csv)
    a = scalelab.fit(epoch_csv, where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
    cols = {c: df[c].to_numpy() for c in ["Model Size", "Training FLOP", "loss"]}
    b = scalelab.fit(cols, where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
    assert a.params == b.params


def test_bootstrap_is_identical_for_the_same_seed_and_equals_the_cli(cli, epoch_csv):
    df = pd.read_csv(epoch_csv)
    kw = dict(where=EPOCH_WHERE, columns=EPOCH_COLUMNS, bootstrap=24, seed=7)
    a = scalelab.fit(df, **kw)
    b = scalelab.fit(df, **kw)
    assert a.bootstrap == b.bootstrap
    assert a.ci95 == b.ci95 and a.se == b.se
    assert set(a.ci95) >= {"E", "A", "B", "alpha", "beta"}
    lo, hi = a.ci95["alpha"]
    assert lo < a.params["alpha"] < hi
    want = cli("fit", epoch_csv, *EPOCH_FLAGS, "--bootstrap", "24", "--seed", "7", "--quiet", "--json")
    assert json.dumps(a.to_dict()["bootstrap"]) == json.dumps(want["bootstrap"])
    c = scalelab.fit(df, **{**kw, "seed": 8})
    assert c.ci95 != a.ci95


def test_predict_and_plan_agree_with_the_cli(cli, epoch_csv, tmp_path):
    fit = scalelab.fit(epoch_csv, where=EPOCH_WHERE, columns=EPOCH_COLUMNS, bootstrap=16, seed=1)
    path = tmp_path / "fit.json"
    fit.save(path)
    assert scalelab.Fit.load(path).to_json() == fit.to_json()
    want = cli("plan", "--fit", path, "--flops", "1e21,1e23", "--loss-at", "7e10:1.4e12",
               "--loss-at", "1e9:2e10", "--json")
    p = fit.plan([1e21, 1e23], loss_at=[(7e10, 1.4e12), (1e9, 2e10)])
    got = p.to_dict()
    got.pop("fit"), want.pop("fit")
    assert got == want
    pred = fit.predict(np.array([7e10, 1e9]), np.array([1.4e12, 2e10]))
    assert isinstance(pred, np.ndarray) and pred.shape == (2,)
    assert pred.tolist() == [pt["loss_pred"] for pt in want["points"]]
    # a plan from the file is the same plan
    q = scalelab.plan(str(path), flops=[1e21, 1e23], loss_at=[(7e10, 1.4e12), (1e9, 2e10)])
    assert q.plans == p.plans
    frame = p.to_pandas()
    assert list(frame["flops"]) == [1e21, 1e23]
    assert {"n_opt", "d_opt", "loss_pred", "ci95.n_opt_lo", "ci95.n_opt_hi"} <= set(frame.columns)


def test_predict_broadcasts_and_keeps_shape(epoch_csv):
    fit = scalelab.fit(epoch_csv, where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
    n = np.array([[1e8, 1e9], [1e10, 1e11]])
    out = fit.predict(n, 2e10)
    assert out.shape == (2, 2)
    assert out[0, 1] == fit.predict(1e9, 2e10)


def small():
    n = np.array([1e7, 3e7, 1e8, 3e8, 1e9, 3e9] * 2)
    d = np.array([2e8] * 6 + [2e9] * 6)
    loss = 1.7 + 400 / n**0.34 + 400 / d**0.28
    return pd.DataFrame({"params": n, "tokens": d, "loss": loss})


def test_a_nan_is_a_clear_error_naming_the_row_and_column():
    df = small()
    df.loc[3, "loss"] = float("nan")
    with pytest.raises(ValueError) as e:
        scalelab.fit(df)
    assert isinstance(e.value, scalelab.TableError)
    assert "row 3" in str(e.value) and "'loss'" in str(e.value) and "NaN" in str(e.value)
    assert e.value.line == 3 and e.value.column_name == "loss"


def test_a_missing_column_is_a_clear_error():
    with pytest.raises(scalelab.InputError, match="no column named 'loss'.*--loss-col"):
        scalelab.fit(small().drop(columns="loss"))
    with pytest.raises(scalelab.InputError, match="--loss-col val_loss"):
        scalelab.fit(small(), columns={"loss": "val_loss"})


def test_a_negative_parameter_count_is_a_clear_error():
    df = small()
    df.loc[5, "params"] = -1e8
    with pytest.raises(ValueError, match=r"row 5, column 1 \('params'\): value -100000000 must be a positive finite number"):
        scalelab.fit(df)


def test_bad_arguments_raise_value_errors_with_the_cli_messages():
    with pytest.raises(ValueError, match="--law: unknown law `nope`"):
        scalelab.fit(small(), law="nope")
    with pytest.raises(ValueError, match="--holdout-largest must be at least 1"):
        scalelab.fit(small(), holdout=0)
    with pytest.raises(ValueError, match="--where 'loss <'"):
        scalelab.fit(small(), where="loss <")
    with pytest.raises(ValueError, match="runs must be"):
        scalelab.fit(42)
    with pytest.raises(scalelab.Error):
        scalelab.fit("/no/such/file.csv")


def test_holdout_and_warnings_come_back():
    fit = scalelab.fit(small(), holdout=2)
    h = fit.holdout
    assert h["n_test"] == 2 and h["n_train"] == 10
    assert isinstance(fit.warnings, list)


def test_the_progress_callback_is_called():
    events = []
    scalelab.fit(small(), bootstrap=5, seed=0, progress=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert events[0].label == "bootstrap" and events[0].total == 5
    assert max(e.done or 0 for e in events) == 5


def test_an_exception_in_the_callback_reaches_the_caller():
    def boom(e):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        scalelab.fit(small(), bootstrap=3, progress=boom)


def test_read_runs_gives_a_dataframe(epoch_csv):
    df = scalelab.read_runs(epoch_csv, where=EPOCH_WHERE)
    assert len(df) == 240
    assert df["Model Size"].dtype == np.float64
    assert df["color"].dtype == object or str(df["color"].dtype).startswith("str")
    assert math.isclose(df["loss"].max(), df["loss"].max())
