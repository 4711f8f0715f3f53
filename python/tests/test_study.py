"""A study run from Python is the study the CLI reports on the same
directory; a bad study file is an InputError that names the file."""

import pytest

import scalelab

# The default study (scalelab.DEFAULT_STUDY) shrunk to nine tiny runs on a
# grid (one-layer models, 2e4..1.8e5 tokens, a 20-resample bootstrap): a few
# seconds on one core. The fit is barely constrained (it warns so); the test
# is about the binding, not the science.
TINY = """
name = "py-tiny-study"

[train]
data = "synth"
context = 16
batch = 4
seed = 0
threads = 1
eval_batches = 4

[schedule]
evals = 2
checkpoints = 1
lr_rule = { base = 3e-3, ref_params = 1e5, exponent = -0.3 }

[grid]
params = [3.3e3, 1.28e4, 2.84e4]
tokens = [2e4, 6e4, 1.8e5]

[study]
target_factor = 100
bootstrap = 20
"""

# wall-clock fields differ between two runs of the same study (at any depth:
# every fit in it has its own "timing")
TIMING = ("seconds", "sweep_seconds", "timing")


def _untimed(v):
    if isinstance(v, dict):
        return {k: _untimed(x) for k, x in v.items() if k not in TIMING}
    if isinstance(v, list):
        return [_untimed(x) for x in v]
    return v


def test_the_default_study_is_the_cli_s():
    assert "[study]" in scalelab.DEFAULT_STUDY and "[design]" in scalelab.DEFAULT_STUDY
    assert "verify = true" in scalelab.DEFAULT_STUDY


def test_a_study_from_python_is_the_cli_s_study(tmp_path, cli):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    out = tmp_path / "study"
    events = []
    s = scalelab.study(spec, out=out, jobs=1, progress=events.append)
    assert events and any(e.kind == "advance" for e in events), events[:5]
    assert any(e.kind == "note" and "py-tiny-study" in (e.message or "") for e in events)

    d = s.to_dict()
    assert d["schema"] == "scalelab.study/1" and d["name"] == "py-tiny-study"
    assert s.runs == s.runs_done == 9 and not s.runs_failed
    assert s.plan["flops"] == pytest.approx(100 * s.pilot_flops)
    # a study file verifies only when it asks to
    assert s.verification is None and "verification" not in d
    assert s.summary.startswith("study py-tiny-study: 9 pilot runs")
    assert s.report_html.endswith("report.html") and "<html" in open(s.report_html).read().lower()
    assert s.fit.law == "chinchilla" and s.fit.params == d["fit"]["params"]
    runs = s.to_pandas()
    assert len(runs) == 9 and set(runs["status"]) == {"done"}

    # the CLI, resumed on the same directory, trains nothing and reports the
    # same study
    again = cli("study", spec, "--out", out, "--json", "--quiet")
    assert _untimed(again) == _untimed(d)
    assert list(scalelab.read_runs(out)["loss"]) == list(runs["loss"])

    # so does Python, given the file's text instead of its path
    text = scalelab.study(TINY, out=out, jobs=1)
    assert _untimed(text.to_dict()) == _untimed(d)
    assert (out / "study.toml").read_text() == TINY


def test_a_bad_study_file_is_an_input_error_naming_it(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY.replace("bootstrap = 20", "bootstrap = 20\nresamples = 3"))
    with pytest.raises(scalelab.InputError) as e:
        scalelab.study(spec, out=tmp_path / "study")
    assert "bad.toml" in str(e.value) and "[study]" in str(e.value)
    assert e.value.path == str(spec)

    spec.write_text(TINY.replace("batch = 4", "batch = 4\nlearning_rate = 1"))
    with pytest.raises(scalelab.InputError) as e:
        scalelab.study(spec, out=tmp_path / "study2")
    assert "bad.toml" in str(e.value) and "learning_rate" in str(e.value)
    assert e.value.path == str(spec) and e.value.line == 8


def test_study_takes_a_path_text_or_none(tmp_path):
    with pytest.raises(scalelab.InputError):
        scalelab.study(42, out=tmp_path / "x")
    with pytest.raises(scalelab.InputError):
        scalelab.study(tmp_path / "tiny.toml", out=tmp_path / "x", jobs=0)
