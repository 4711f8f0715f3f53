"""Hyperparameter scaling laws: the learning rate (and batch size) that
minimise the loss at each compute budget, and power laws of them."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _scalelab
from ._errors import InputError
from ._frame import to_table, where_list
from ._isoflop import _Report


class Hparams(_Report):
    """A ``scalelab.hparams/1`` object (``scalelab hparams --json``).

    ``budgets`` (one dict per compute budget, ascending: its runs, best
    run, near-optimal band and smooth-fit optimum ``lr_opt``;
    :meth:`to_pandas`), ``lr_law`` (η_opt(C) = coef·C^exponent with 95%
    intervals), ``batch_law`` (B_opt(C), or None when the batch does not
    vary), ``lr_rule`` (``{base, ref_flops, exponent}``: a sweep file's
    ``[schedule] lr_rule``), ``holdout`` (with ``holdout_largest``: the
    prediction at the largest budget and whether it lies in its
    near-optimal band), ``notes`` and ``warnings``.

    >>> hp = scalelab.hparams("data/hparams/runs.csv", holdout_largest=True)  # doctest: +SKIP
    >>> hp.lr_law["exponent"], hp.holdout["within_tol"]                # doctest: +SKIP
    >>> hp.save("hparams.json")        # for `scalelab report` and a sweep's lr_rule  # doctest: +SKIP
    """

    budgets = property(lambda self: list(self._d["budgets"]))
    lr_law = property(lambda self: dict(self._d["lr_law"]))
    batch_law = property(lambda self: self._d.get("batch_law"))
    lr_rule = property(lambda self: dict(self._d["lr_rule"]))
    holdout = property(lambda self: self._d.get("holdout"))
    notes = property(lambda self: list(self._d.get("notes", [])))
    table = property(lambda self: self._d["table"])

    def lr_at(self, flops: Any) -> Any:
        """η_opt(C) = coef·C^exponent of ``lr_law`` at ``flops`` (a number
        or an array)."""
        law = self._d["lr_law"]
        c = np.asarray(flops, dtype=np.float64)
        out = law["coef"] * np.power(c, law["exponent"])
        return float(out) if out.ndim == 0 else out

    def to_pandas(self):
        """One row per budget: ``flops``, ``runs``, the best run
        (``best_lr``, ``best_loss``), the smooth-fit optimum (``lr_opt``,
        ``lr_opt_kind``), the near-optimal band (``lr_lo``, ``lr_hi``) and
        ``threshold``; with a batch column also ``best_batch``,
        ``batch_opt`` and ``batch_opt_kind``."""
        import pandas as pd

        rows = []
        batch = self._d.get("batch_column") is not None
        for b in self._d["budgets"]:
            r = {
                "flops": b["flops"],
                "runs": len(b["points"]),
                "best_lr": b["best"]["lr"],
                "best_loss": b["best"]["loss"],
                "lr_opt": b["lr_opt"],
                "lr_opt_kind": b["lr_opt_kind"],
                "lr_lo": b["lr_band"][0],
                "lr_hi": b["lr_band"][1],
                "threshold": b["threshold"],
            }
            if batch:
                r["best_batch"] = b["best"].get("batch")
                r["batch_opt"] = b.get("batch_opt")
                r["batch_opt_kind"] = b.get("batch_opt_kind")
            rows.append(r)
        return pd.DataFrame(rows)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the file ``scalelab hparams --out`` writes (atomically):
        ``scalelab report`` draws its figures, and its ``lr_rule`` goes in
        the next sweep file's ``[schedule]``."""
        _scalelab.write_hparams(self._json, os.fspath(path))

    def __repr__(self) -> str:
        law = self._d["lr_law"]
        return (
            f"Hparams(lr_opt ∝ C^{law['exponent']:.4g}, lr_opt={law['at_ref']:.4g} "
            f"at C={law['ref_flops']:.3g}, budgets={len(self._d['budgets'])})"
        )


def hparams(
    runs: Any,
    *,
    where: Union[str, Sequence[str], None] = None,
    loss_col: str = "loss",
    lr_col: str = "lr",
    batch_col: Optional[str] = None,
    budget_col: Optional[str] = None,
    tol: float = 0.01,
    fit_points: int = 5,
    bootstrap: int = 1000,
    seed: int = 0,
    holdout_largest: bool = False,
) -> Hparams:
    """Hyperparameter scaling laws, as ``scalelab hparams``: per compute
    budget the best run, the near-optimal runs (loss ≤ (1 + ``tol``)·best)
    and the vertex ``lr_opt`` of a quadratic of loss in ln lr through the
    ``fit_points`` learning rates nearest the best run; then η_opt(C) =
    coef·C^exponent (and B_opt(C) with several batch sizes) with
    ``bootstrap`` resamples for 95% intervals.

    ``runs``: a DataFrame, dict of columns or path (a sweep's runs.csv or
    directory). Budgets come from ``budget_col``, by default
    ``flops_budget`` when every row has one, else ``flops``; the batch
    from ``batch_col``, by default ``batch`` when the table has it.
    ``holdout_largest`` fits on every budget but the largest and checks the
    prediction there.

    >>> hp = scalelab.hparams(pd.read_csv("data/hparams/runs.csv"), holdout_largest=True)  # doctest: +SKIP
    >>> hp.lr_rule, hp.to_pandas()                                # doctest: +SKIP
    """
    if int(bootstrap) < 0 or int(seed) < 0:
        raise InputError("bootstrap and seed must be 0 or more")
    if int(fit_points) < 0:
        e = InputError(f"--fit-points must be at least 3, got {int(fit_points)}")
        e.flag = "--fit-points"
        raise e
    text = _scalelab.hparams(
        to_table(runs),
        where=where_list(where),
        loss_col=str(loss_col),
        lr_col=str(lr_col),
        batch_col=None if batch_col is None else str(batch_col),
        budget_col=None if budget_col is None else str(budget_col),
        tol=float(tol),
        fit_points=int(fit_points),
        bootstrap=int(bootstrap),
        seed=int(seed),
        holdout_largest=bool(holdout_largest),
    )
    return Hparams(text)
