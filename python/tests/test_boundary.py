"""The boundary: messages as the CLI prints them, the GIL released while
Rust works, and no panic crossing into Python."""

import subprocess
import threading
import time

import pytest

import scalelab
from conftest import EPOCH_COLUMNS, EPOCH_WHERE, _bin


def cli_error(*args):
    b = _bin()
    if not b:
        pytest.skip("no scalelab binary (set SCALELAB_BIN)")
    out = subprocess.run([b, *map(str, args)], capture_output=True, text=True)
    assert out.returncode != 0
    line = [l for l in out.stderr.splitlines() if l.startswith("error: ")][0]
    return line[len("error: "):]


@pytest.mark.parametrize(
    "args,kwargs",
    [
        (["/no/such/file.csv"], {}),
        (["{tmp}/t.csv"], {}),
        (["{tmp}/t.csv", "--law", "power-n", "--where", "loss <"], {"law": "power-n", "where": "loss <"}),
        (["{tmp}/t.csv", "--holdout-largest", "0"], {"holdout": 0}),
    ],
)
def test_messages_are_the_clis(tmp_path, args, kwargs):
    (tmp_path / "t.csv").write_text("params,tokens,loss\n1e7,2e8,3.9\n-3e7,2e8,3.6\n1e8,2e8,x\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    want = cli_error("fit", *args)
    with pytest.raises(scalelab.Error) as e:
        scalelab.fit(args[0], **kwargs)
    assert str(e.value) == want


def test_an_unwritable_fit_file_is_an_io_error_naming_it(tmp_path, epoch_csv):
    fit = scalelab.fit(epoch_csv, where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
    with pytest.raises(scalelab.IoError) as e:
        fit.save(tmp_path)  # a directory
    assert str(tmp_path) in str(e.value)
    assert isinstance(e.value, OSError)


def test_the_gil_is_released_while_a_fit_runs(epoch_csv):
    ticks = []
    done = threading.Event()

    def work():
        scalelab.fit(epoch_csv, method="grid", where=EPOCH_WHERE, columns=EPOCH_COLUMNS)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    # the main thread kept running while Rust fitted (hundreds of ms)
    assert len(ticks) > 20
