"""A sweep started from Python, interrupted, resumes to the same result."""

import scalelab

SWEEP = """
name = "py-test"
[train]
data = "synth"
context = 32
batch = 8
lr = 3e-3
checkpoint_every = 10
eval_every = 40
[[runs]]
params = 5e3
tokens = 6e4
[[runs]]
n_layer = 2
d_model = 32
n_head = 2
tokens = 5e4
"""


def test_an_interrupted_sweep_resumes_to_the_same_table(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(SWEEP)
    events = []
    whole = scalelab.sweep(spec, out=tmp_path / "a", jobs=1, progress=events.append)
    assert whole.complete and len(whole.done) == 2
    assert any(e.kind == "advance" for e in events), events[:5]

    # interrupted: every run stops after 97 steps and resumes from its last
    # checkpoint in the next call
    b = tmp_path / "b"
    first = scalelab.sweep(SWEEP, out=b, jobs=1, step_limit=97)
    assert not first.complete and first.stopped
    for _ in range(20):
        r = scalelab.sweep(SWEEP, out=b, jobs=1, step_limit=97)
        if r.complete:
            break
    assert r.complete
    again = scalelab.sweep(SWEEP, out=b, jobs=1)
    assert sorted(again.skipped) == sorted(whole.done)

    ta, tb = whole.to_pandas(), again.to_pandas()
    assert list(ta["loss"]) == list(tb["loss"])
    assert len(tb) == 2 and set(tb["status"]) == {"done"}


def test_a_report_of_a_sweep(tmp_path):
    spec = tmp_path / "sweep.toml"
    spec.write_text(SWEEP)
    scalelab.sweep(spec, out=tmp_path / "s", jobs=1)
    w = scalelab.report(tmp_path / "s", tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert w["bytes"] == len(html.encode()) and "<html" in html.lower()


def test_a_bad_sweep_spec_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(scalelab.Error):
        scalelab.sweep(tmp_path / "missing.toml", out=tmp_path / "x")
