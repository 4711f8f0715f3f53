"""scalelab: the scaling-law laboratory, in Python.

Fit scaling laws to your runs (a pandas DataFrame, a dict of numpy arrays,
or a file), plan compute-optimal model sizes and token counts, design and
run pilot sweeps, find how the best learning rate scales with compute,
compare two recipes by their effective-compute multiplier, and write the
HTML report: the same engine, numbers and messages as the ``scalelab``
command line.

>>> import scalelab, pandas as pd
>>> runs = pd.DataFrame({"params": [...], "tokens": [...], "loss": [...]})
>>> fit = scalelab.fit(runs, law="chinchilla", bootstrap=200)   # doctest: +SKIP
>>> fit.params                                                   # doctest: +SKIP
{'E': 1.82, 'A': 482.0, 'B': 2085.4, 'alpha': 0.3478, 'beta': 0.3658}
>>> fit.plan(1e23).to_pandas()                                   # doctest: +SKIP

Or the whole loop, pilot runs to plan, in one call:

>>> s = scalelab.study(out="study")     # the embedded default study  # doctest: +SKIP
>>> print(s.summary)                                                  # doctest: +SKIP

See docs/python.md for a walk from a DataFrame to a plan and a report.
"""

from __future__ import annotations

from . import _scalelab
from ._api import read_runs, report
from ._fit import Fit, fit
from ._plan import Plan, plan
from ._emerge import Emerge, emerge
from ._isoflop import Design, Isoflop, design, isoflop
from ._hparams import Hparams, hparams
from ._compare import Compare, compare
from ._sweep import SweepResult, sweep
from ._study import DEFAULT_STUDY, Study, study
from ._errors import (
    ComputationError,
    EngineError,
    Error,
    InputError,
    InternalError,
    IoError,
    TableError,
)
from ._progress import ProgressEvent

__version__ = _scalelab.__version__

__all__ = [
    "fit",
    "Fit",
    "plan",
    "Plan",
    "isoflop",
    "Isoflop",
    "design",
    "Design",
    "hparams",
    "Hparams",
    "compare",
    "Compare",
    "emerge",
    "Emerge",
    "sweep",
    "SweepResult",
    "study",
    "Study",
    "DEFAULT_STUDY",
    "read_runs",
    "report",
    "ProgressEvent",
    "Error",
    "InputError",
    "TableError",
    "IoError",
    "ComputationError",
    "EngineError",
    "InternalError",
]
