"""IsoFLOP analysis (Approaches 1–3) and IsoFLOP pilot designs."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from . import _scalelab
from ._errors import InputError
from ._frame import to_table, where_list
from ._progress import adapter


class _Report:
    def __init__(self, json_text: str):
        self._json = json_text
        self._d = json.loads(json_text)

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(self._json)

    def to_json(self) -> str:
        return self._json

    @property
    def warnings(self) -> list:
        return list(self._d.get("warnings", []))


class Isoflop(_Report):
    """A ``scalelab.isoflop/1`` object (``scalelab isoflop --json``).

    Without ``group_by``: ``a``, ``b`` (Approach 2's exponents of N_opt ∝ C^a
    and D_opt ∝ C^b), ``a_ci95``, ``b_ci95``, ``approaches`` (1, 2 and 3
    where computed), ``optima`` (one per budget; :meth:`to_pandas`);
    with ``group_by``: ``groups``, one result per value.
    """

    a = property(lambda self: self._d.get("a"))
    b = property(lambda self: self._d.get("b"))
    a_ci95 = property(lambda self: self._d.get("a_ci95"))
    b_ci95 = property(lambda self: self._d.get("b_ci95"))
    approaches = property(lambda self: self._d.get("approaches"))
    optima = property(lambda self: list(self._d.get("optima") or []))
    groups = property(lambda self: self._d.get("groups"))

    def to_pandas(self):
        """The per-budget optima (Approach 2) as a DataFrame; with
        ``group_by``, every group's, with a ``group`` column."""
        import pandas as pd

        if self._d.get("groups") is not None:
            rows = []
            for g in self._d["groups"]:
                for o in g.get("optima") or []:
                    rows.append({"group": g.get("group"), **o})
            return pd.DataFrame(rows)
        return pd.DataFrame(self.optima)

    def __repr__(self) -> str:
        if self.groups is not None:
            return f"Isoflop({len(self.groups)} groups)"
        return f"Isoflop(a={self.a:.4g}, b={self.b:.4g}, budgets={len(self.optima)})"


def _fit_path(fit: Any, stack: list) -> Optional[str]:
    """A fit file's path for ``fit`` (a Fit is written to a temporary file)."""
    if fit is None:
        return None
    if isinstance(fit, (str, os.PathLike)):
        return os.fspath(fit)
    from ._fit import Fit

    if isinstance(fit, Fit):
        d = tempfile.TemporaryDirectory()
        stack.append(d)
        p = os.path.join(d.name, "fit.json")
        fit.save(p)
        return p
    raise InputError("fit must be a scalelab.Fit or the path of a fit file")


def isoflop(
    runs: Any,
    *,
    where: Union[str, Sequence[str], None] = None,
    group_by: Optional[str] = None,
    columns: Optional[Mapping[str, str]] = None,
    run_col: Optional[str] = None,
    window: float = 4.0,
    bootstrap: int = 1000,
    seed: int = 0,
    fit: Any = None,
    progress: Any = None,
) -> Isoflop:
    """IsoFLOP analysis of runs, as ``scalelab isoflop``: the exponents
    a, b of N_opt ∝ C^a, D_opt ∝ C^b by Approach 2 (a parabola in ln N per
    budget, within ``window`` of the best run), Approach 1 (the lower
    envelope of loss curves, with ``run_col``) and Approach 3 (from
    ``fit``, a :class:`Fit` or fit file), with bootstrap intervals.

    ``runs``: a DataFrame, dict of columns or path, one row per (run,
    budget); ``columns`` maps ``params``/``tokens``/``flops``/``loss`` to
    column names as in :func:`fit`.

    >>> iso = scalelab.isoflop(df, columns={"params": "n", "tokens": "t"},
    ...                        where='config_id == "rw|base|long|kaplan|kaplan|train"')  # doctest: +SKIP
    >>> iso.a, iso.a_ci95, iso.to_pandas()                      # doctest: +SKIP
    """
    from ._fit import _columns

    if int(bootstrap) < 0 or int(seed) < 0:
        raise InputError("bootstrap and seed must be 0 or more")
    stack: list = []
    text = _scalelab.isoflop(
        to_table(runs),
        where=where_list(where),
        group_by=group_by,
        run_col=run_col,
        window=float(window),
        bootstrap=int(bootstrap),
        seed=int(seed),
        fit=_fit_path(fit, stack),
        progress=adapter(progress),
        **_columns(columns),
    )
    return Isoflop(text)


class Design(_Report):
    """A ``scalelab.design/1`` object: ``budgets``, ``runs`` (the pilot
    runs; :meth:`to_pandas`), ``total_flops``, ``prior``, ``sweep_file``
    (with ``out``)."""

    budgets = property(lambda self: list(self._d["budgets"]))
    runs = property(lambda self: list(self._d["runs"]))
    total_flops = property(lambda self: self._d["total_flops"])
    sweep_file = property(lambda self: self._d.get("sweep_file"))

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.runs)

    def __repr__(self) -> str:
        return f"Design({len(self.budgets)} budgets, {len(self.runs)} runs, {self.total_flops:.3g} FLOPs)"


def design(
    pilot_flops: float,
    *,
    budgets: int = 5,
    decades: float = 2.0,
    sizes: int = 7,
    spread: float = 4.0,
    tokens_per_param: float = 20.0,
    fit: Any = None,
    context: int = 128,
    vocab: int = 256,
    out: Any = None,
) -> Design:
    """An IsoFLOP pilot design for a total of ``pilot_flops``, as
    ``scalelab design``: ``budgets`` budgets over ``decades`` decades,
    ``sizes`` model sizes each around the expected optimum (from
    ``tokens_per_param`` or a ``fit``). With ``out``, writes the sweep file
    that :func:`sweep` runs.

    >>> d = scalelab.design(1e17, out="pilot.toml")             # doctest: +SKIP
    >>> scalelab.sweep("pilot.toml", out="runs/pilot")          # doctest: +SKIP
    """
    stack: list = []
    text = _scalelab.design(
        float(pilot_flops),
        budgets=int(budgets),
        decades=float(decades),
        sizes=int(sizes),
        spread=float(spread),
        tokens_per_param=float(tokens_per_param),
        fit=_fit_path(fit, stack),
        context=int(context),
        vocab=int(vocab),
        out=None if out is None else os.fspath(out),
    )
    return Design(text)
