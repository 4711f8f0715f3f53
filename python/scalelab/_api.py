"""The workflows: thin wrappers that turn Python values into the
extension's arguments and its reports into Python objects."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Union

from . import _scalelab
from ._frame import frame, to_table, where_list

PathLike = Union[str, "os.PathLike[str]"]


def read_runs(path: Any, where: Union[str, Sequence[str], None] = None):
    """Reads a run table into a pandas DataFrame.

    ``path`` is a .csv, .tsv, .jsonl or .parquet file, or a sweep directory
    (its ``runs.csv``). ``where`` keeps the rows matching an expression (or
    all of several), in the CLI's ``--where`` grammar: ``"loss < 3.4469"``,
    ``'`Model Size` >= 1e8 and status == "done"'``. Columns whose values
    are all numbers come back as floats, the others as strings.

    >>> runs = scalelab.read_runs("runs/pilot")             # doctest: +SKIP
    >>> runs = scalelab.read_runs("runs.csv", where="loss < 3.4469")  # doctest: +SKIP
    """
    return frame(_scalelab.read_runs(to_table(path), where_list(where)))


def report(inputs: Any, out: Any = "report.html", *, command: str = "scalelab.report (Python)") -> Dict[str, Any]:
    """Writes the self-contained HTML report, as ``scalelab report``.

    ``inputs``: a study or sweep directory, or files (runs tables, fit
    files, IsoFLOP and emergence reports), one path or a list. Returns
    ``{"out": path, "figures": n, "bytes": n}``.

    >>> scalelab.report("runs/pilot", "report.html")          # doctest: +SKIP
    """
    import json

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return json.loads(
        _scalelab.report([os.fspath(p) for p in inputs], os.fspath(out), command=str(command))
    )
