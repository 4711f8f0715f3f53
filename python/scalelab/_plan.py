"""Plans: ``scalelab.plan`` and the :class:`Plan` it returns."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _scalelab
from ._errors import InputError


def _floats(x: Any, name: str) -> list:
    if x is None:
        return []
    arr = np.atleast_1d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 1:
        raise InputError(f"{name} must be a number or a list of numbers")
    return arr.tolist()


def _flatten(prefix: str, v: Any, out: Dict[str, Any]) -> None:
    """Nested dicts as dotted keys; [lo, hi] pairs as key_lo, key_hi."""
    for k, x in v.items():
        key = f"{prefix}{k}"
        if isinstance(x, dict):
            _flatten(f"{key}.", x, out)
        else:
            _put(key, x, out)


def _put(key: str, v: Any, out: Dict[str, Any]) -> None:
    if isinstance(v, list) and len(v) == 2 and all(isinstance(t, (int, float)) for t in v):
        out[f"{key}_lo"], out[f"{key}_hi"] = v
    else:
        out[key] = v


def _rows(items: Sequence[Dict[str, Any]]) -> list:
    rows = []
    for it in items:
        row: Dict[str, Any] = {}
        _flatten("", it, row)
        rows.append(row)
    return rows


class Plan:
    """A ``scalelab.plan/1`` object (``scalelab plan --json``).

    ``plans`` (one per budget: ``flops``, ``n_opt``, ``d_opt``,
    ``tokens_per_param``, ``loss_pred``, ``ci95`` with a bootstrap, …),
    ``targets`` and ``points`` are lists of dicts; :meth:`to_pandas` gives
    the budget plans as a DataFrame (intervals as ``*_lo``/``*_hi``
    columns; nested sections as dotted names).
    """

    def __init__(self, json_text: str):
        self._json = json_text
        self._d = json.loads(json_text)

    @property
    def plans(self) -> list:
        return list(self._d.get("plans") or [])

    @property
    def targets(self) -> list:
        return list(self._d.get("targets") or [])

    @property
    def points(self) -> list:
        return list(self._d.get("points") or [])

    @property
    def warnings(self) -> list:
        return list(self._d.get("warnings", []))

    def to_pandas(self, table: str = "plans"):
        """A table of the plan as a DataFrame: ``"plans"`` (default),
        ``"targets"`` or ``"points"``."""
        import pandas as pd

        if table not in ("plans", "targets", "points"):
            raise InputError("table must be 'plans', 'targets' or 'points'")
        return pd.DataFrame(_rows(self._d.get(table) or []))

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(self._json)

    def to_json(self) -> str:
        """As ``scalelab plan --json`` prints it."""
        return self._json

    def __repr__(self) -> str:
        ps = "; ".join(
            f"C={p['flops']:.3g}: N={p['n_opt']:.3g}, D={p['d_opt']:.3g}" for p in self.plans
        )
        return f"Plan({ps})"


def plan(
    fit: Any,
    flops: Union[float, Sequence[float], None] = None,
    *,
    target_loss: Union[float, Sequence[float], None] = None,
    loss_at: Optional[Sequence[Tuple[float, float]]] = None,
    convention: str = "6n",
    compare_conventions: bool = False,
    context: int = 2048,
    vocab: int = 32000,
    accelerator: Optional[str] = None,
    count: int = 8,
    mfu: float = 0.4,
    micro_batch: int = 1,
    inference_tokens: Optional[float] = None,
    unique_tokens: Optional[float] = None,
) -> Plan:
    """Compute-optimal N and D for budgets, as ``scalelab plan`` does.

    ``fit`` is a :class:`Fit` or the path of a fit file. ``flops``: one
    budget or several; ``target_loss``: the smallest budget reaching each
    loss; ``loss_at``: the loss of each model ``(N, D)``. With a bootstrap
    in the fit, every number gets a 95% interval. ``convention``: ``6n``,
    ``kaplan``, ``hoffmann`` or ``exact``; ``accelerator`` (``"H100"`` or
    peak FLOP/s), ``count``, ``mfu``: a hardware translation;
    ``inference_tokens``, ``unique_tokens``: inference-aware and
    data-constrained plans.

    >>> p = scalelab.plan(fit, flops=[1e21, 1e23])            # doctest: +SKIP
    >>> p.to_pandas()[["flops", "n_opt", "d_opt", "loss_pred"]]  # doctest: +SKIP
    """
    from ._fit import Fit

    source = "<Fit>"
    if not isinstance(fit, Fit):
        import os

        if isinstance(fit, (str, os.PathLike)):
            source = os.fspath(fit)
            fit = Fit.load(fit)
        else:
            raise InputError("fit must be a scalelab.Fit or the path of a fit file")
    else:
        source = getattr(fit, "_path", None) or source
    pairs = [(float(n), float(d)) for n, d in (loss_at or [])]
    text = _scalelab.plan(
        fit.to_json(),
        source=source,
        flops=_floats(flops, "flops"),
        target_loss=_floats(target_loss, "target_loss"),
        loss_at=pairs,
        convention=str(convention),
        compare_conventions=bool(compare_conventions),
        context=int(context),
        vocab=int(vocab),
        accelerator=None if accelerator is None else str(accelerator),
        count=int(count),
        mfu=float(mfu),
        micro_batch=int(micro_batch),
        inference_tokens=None if inference_tokens is None else float(inference_tokens),
        unique_tokens=None if unique_tokens is None else float(unique_tokens),
    )
    return Plan(text)
