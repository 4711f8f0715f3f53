"""Compare two recipes: the effective-compute multiplier between two
ladders of runs."""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Union

from . import _scalelab
from ._errors import InputError
from ._frame import to_table, where_list
from ._isoflop import _Report


class Compare(_Report):
    """A ``scalelab.compare/1`` object (``scalelab compare --json``).

    ``geo_mean`` (the geometric-mean multiplier over the common compute
    range: how many times the compute recipe B needs to reach recipe A's
    loss; > 1: A is more compute-efficient) and ``geo_mean_ci95``,
    ``points`` (the multiplier at A's frontier points inside the overlap,
    then at each ``at``; :meth:`to_pandas`), ``crossover`` (the compute
    where the fitted curves cross, or None) and ``crossover_ci95``,
    ``overlap`` (``[lo, hi]`` FLOPs), ``a`` and ``b`` (each ladder: label,
    frontier and ``fit`` ``{E, A, alpha, objective, converged}``),
    ``shared_e``, ``bootstrap``, ``notes`` and ``warnings``.

    >>> c = scalelab.compare("a.csv", "b.csv", at=[1e21])        # doctest: +SKIP
    >>> c.geo_mean, c.geo_mean_ci95, c.crossover                # doctest: +SKIP
    >>> c.save("compare.json")             # for `scalelab report`  # doctest: +SKIP
    """

    geo_mean = property(lambda self: self._d.get("geo_mean"))
    geo_mean_ci95 = property(lambda self: self._d.get("geo_mean_ci95"))
    geo_mean_undefined = property(lambda self: self._d.get("geo_mean_undefined"))
    crossover = property(lambda self: self._d.get("crossover"))
    crossover_ci95 = property(lambda self: self._d.get("crossover_ci95"))
    overlap = property(lambda self: list(self._d["overlap"]))
    points = property(lambda self: list(self._d["points"]))
    a = property(lambda self: dict(self._d["a"]))
    b = property(lambda self: dict(self._d["b"]))
    shared_e = property(lambda self: self._d["shared_e"])
    bootstrap = property(lambda self: self._d.get("bootstrap"))
    notes = property(lambda self: list(self._d.get("notes", [])))

    @property
    def multipliers(self) -> List[Optional[float]]:
        """The multiplier at each of ``points`` (None where undefined)."""
        return [p.get("multiplier") for p in self._d["points"]]

    def to_pandas(self):
        """The multiplier against compute: one row per point, with
        ``compute`` (recipe A's FLOPs), ``loss_a``, ``compute_b``,
        ``multiplier``, its 95% interval (``ci95_lo``, ``ci95_hi``),
        ``requested`` (asked for with ``at``) and ``reason`` (why it is
        undefined)."""
        import pandas as pd

        rows = []
        for p in self._d["points"]:
            ci = p.get("ci95") or [None, None]
            rows.append(
                {
                    "compute": p["compute"],
                    "loss_a": p["loss_a"],
                    "compute_b": p.get("compute_b"),
                    "multiplier": p.get("multiplier"),
                    "ci95_lo": ci[0],
                    "ci95_hi": ci[1],
                    "requested": p["requested"],
                    "reason": p.get("reason"),
                }
            )
        return pd.DataFrame(rows)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the file ``scalelab compare --out`` writes (atomically),
        for ``scalelab report`` and ``scalelab plot compare-loss``."""
        _scalelab.write_compare(self._json, os.fspath(path))

    def __repr__(self) -> str:
        gm = self.geo_mean
        gm = "undefined" if gm is None else f"{gm:.4g}"
        cross = self.crossover
        cross = "None" if cross is None else f"{cross:.3g}"
        return (
            f"Compare(A={self._d['a']['label']!r}, B={self._d['b']['label']!r}, "
            f"geo_mean={gm}, crossover={cross})"
        )


def _columns_list(v: Union[str, Sequence[str], None]) -> List[str]:
    """Columns given as ``"a,b"`` or ``["a", "b"]``, as the CLI's
    comma-separated or repeated flag."""
    if v is None:
        return []
    items = [v] if isinstance(v, str) else [str(x) for x in v]
    return [c.strip() for s in items for c in s.split(",") if c.strip()]


def _computes(at: Any) -> List[float]:
    if at is None:
        return []
    if isinstance(at, (int, float)):
        return [float(at)]
    return [float(x) for x in at]


def _labelled(table: Any, side: str) -> Any:
    """A table dict named for its side (``<DataFrame A>``), so that two
    in-memory ladders are told apart in the report and in messages."""
    if isinstance(table, dict):
        label = str(table["label"])
        if label.startswith("<") and label.endswith(">"):
            label = label[1:-1]
        table = {**table, "label": f"<{label} {side}>"}
    return table


def compare(
    a: Any,
    b: Any = None,
    *,
    group_by: Union[str, Sequence[str], None] = None,
    group_a: Optional[str] = None,
    group_b: Optional[str] = None,
    where: Union[str, Sequence[str], None] = None,
    flops_col: Optional[str] = None,
    params_col: Optional[str] = None,
    tokens_col: Optional[str] = None,
    loss_col: Optional[str] = None,
    convention_col: str = "param_count",
    no_convention_check: bool = False,
    shared_e: bool = False,
    bootstrap: int = 200,
    seed: int = 0,
    at: Union[float, Sequence[float], None] = None,
    huber_delta: float = 1e-3,
    threads: Optional[int] = None,
) -> Compare:
    """The effective-compute multiplier between two recipes, as ``scalelab
    compare``: each ladder's compute frontier is fitted with L(C) = E +
    A·C^-α; at a compute C of recipe A, recipe B needs m(C)·C to reach the
    same loss. Reported: m at A's frontier points in the common range (and
    at each of ``at``), its geometric mean, the crossover, with
    ``bootstrap`` resamples for 95% intervals.

    ``a`` and ``b``: two run tables (DataFrames, dicts of columns or
    paths); or ``a`` alone with ``group_by`` (a column, or several) and
    the values ``group_a`` and ``group_b`` of the two recipes. Compute is
    ``flops_col`` (default ``flops``; 6ND from ``params_col`` and
    ``tokens_col`` without it). Ladders whose ``convention_col`` values
    differ are refused unless ``no_convention_check``; ``shared_e`` fits
    one irreducible loss for both.

    >>> c = scalelab.compare(pd.read_csv("data/porian2024_isoflop/isoflop_points.csv"),
    ...                      group_by="config_id",
    ...                      group_a="rw|base|short|chinchilla|standard|val",
    ...                      group_b="rw|base|short|kaplan|standard|val")  # doctest: +SKIP
    >>> c.geo_mean, c.to_pandas()                                 # doctest: +SKIP
    """
    if int(bootstrap) < 0 or int(seed) < 0:
        raise InputError("bootstrap and seed must be 0 or more")
    if threads is not None and int(threads) < 1:
        e = InputError("--threads must be at least 1")
        e.flag = "--threads"
        raise e
    ta = to_table(a)
    tb = None if b is None else to_table(b)
    if tb is not None:
        ta, tb = _labelled(ta, "A"), _labelled(tb, "B")
    text = _scalelab.compare(
        ta,
        tb,
        group_by=_columns_list(group_by),
        group_a=None if group_a is None else str(group_a),
        group_b=None if group_b is None else str(group_b),
        where=where_list(where),
        flops_col=flops_col,
        params_col=params_col,
        tokens_col=tokens_col,
        loss_col=loss_col,
        convention_col=str(convention_col),
        no_convention_check=bool(no_convention_check),
        shared_e=bool(shared_e),
        bootstrap=int(bootstrap),
        seed=int(seed),
        at=_computes(at),
        huber_delta=float(huber_delta),
        threads=None if threads is None else int(threads),
    )
    return Compare(text)
