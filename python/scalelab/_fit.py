"""Fits: ``scalelab.fit`` and the :class:`Fit` it returns."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _scalelab
from ._errors import InputError
from ._frame import to_table, where_list
from ._progress import adapter

_COLUMN_KEYS = ("params", "tokens", "flops", "loss")


def _columns(columns: Optional[Mapping[str, str]]) -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {f"{k}_col": None for k in _COLUMN_KEYS}
    for k, v in (columns or {}).items():
        if k not in _COLUMN_KEYS:
            raise InputError(
                f"columns: unknown key {k!r} (known: {', '.join(_COLUMN_KEYS)})"
            )
        out[f"{k}_col"] = str(v)
    return out


def _holdout(holdout: Any) -> Tuple[Optional[int], Optional[float]]:
    """(largest K, above flops C) from ``holdout``."""
    if holdout is None:
        return None, None
    if isinstance(holdout, bool):
        raise InputError("holdout must be an int (the K largest runs) or {'above_flops': C}")
    if isinstance(holdout, (int, np.integer)):
        if holdout < 1:
            raise InputError("--holdout-largest must be at least 1")
        return int(holdout), None
    if isinstance(holdout, Mapping):
        if set(holdout) == {"largest"}:
            return _holdout(holdout["largest"])
        if set(holdout) == {"above_flops"}:
            return None, float(holdout["above_flops"])
    raise InputError(
        "holdout must be an int (the K largest runs), {'largest': K} or {'above_flops': C}"
    )


class Fit:
    """A fitted scaling law: the ``scalelab.fit/1`` object of
    ``scalelab fit --json``, with methods.

    Attributes (read-only views of the object):

    - ``law``: the law's name, ``formula``: the law in words;
    - ``params``: the natural parameters by name (Chinchilla: ``E``, ``A``,
      ``B``, ``alpha``, ``beta``), ``derived``: derived quantities
      (Chinchilla: the compute-optimal exponents ``a``, ``b``);
    - ``se`` and ``ci95``: bootstrap standard errors and 95% percentile
      intervals by parameter (empty dicts without a bootstrap);
    - ``objective``, ``converged``, ``warnings`` (a list of messages),
      ``notes``.

    >>> fit = scalelab.fit(runs, bootstrap=200, seed=1)       # doctest: +SKIP
    >>> fit.params["alpha"], fit.ci95["alpha"]                  # doctest: +SKIP
    (0.3478, (0.31, 0.39))
    >>> fit.predict([1e9, 7e10], [2e10, 1.4e12])               # doctest: +SKIP
    array([2.58, 1.94])
    >>> fit.save("fit.json"); scalelab.Fit.load("fit.json")    # doctest: +SKIP
    """

    def __init__(self, json_text: str):
        self._json = json_text
        self._d = json.loads(json_text)
        self._path: Optional[str] = None

    # -- the object -------------------------------------------------------
    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Fit":
        """Reads a fit file (``scalelab fit --out``); checks it."""
        f = cls(_scalelab.read_fit(os.fspath(path)))
        f._path = os.fspath(path)
        return f

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the fit file ``scalelab fit --out`` writes (atomically),
        for ``scalelab plan --fit``."""
        _scalelab.write_fit(self._json, os.fspath(path))

    def to_dict(self) -> Dict[str, Any]:
        """The ``scalelab.fit/1`` object as a dict (a copy)."""
        return json.loads(self._json)

    def to_json(self) -> str:
        """The ``scalelab.fit/1`` object as ``scalelab fit --json`` prints it."""
        return self._json

    # -- views --------------------------------------------------------------
    @property
    def law(self) -> str:
        return self._d["law"]

    @property
    def formula(self) -> str:
        return self._d.get("formula", "")

    @property
    def params(self) -> Dict[str, float]:
        return dict(self._d["params"])

    @property
    def derived(self) -> Dict[str, float]:
        return dict(self._d.get("derived", {}))

    @property
    def objective(self) -> float:
        return self._d["objective"]

    @property
    def converged(self) -> bool:
        return bool(self._d["converged"])

    @property
    def warnings(self) -> list:
        return list(self._d.get("warnings", []))

    @property
    def notes(self) -> list:
        return list(self._d.get("notes", []))

    @property
    def bootstrap(self) -> Optional[Dict[str, Any]]:
        """The bootstrap section (``n``, ``seed``, ``se``, ``ci95``,
        ``median``, ``draws``), or None."""
        b = self._d.get("bootstrap")
        return None if b is None else dict(b)

    @property
    def se(self) -> Dict[str, float]:
        b = self._d.get("bootstrap") or {}
        return dict(b.get("se", {}))

    @property
    def ci95(self) -> Dict[str, Tuple[float, float]]:
        b = self._d.get("bootstrap") or {}
        return {k: (v[0], v[1]) for k, v in b.get("ci95", {}).items()}

    @property
    def holdout(self) -> Optional[Dict[str, Any]]:
        h = self._d.get("holdout")
        return None if h is None else dict(h)

    @property
    def rollout(self) -> Optional[Dict[str, Any]]:
        """The rollout backtest (``budgets``, ``cuts``, ``by_distance``,
        ``points``, prediction-interval coverage), or None."""
        r = self._d.get("rollout")
        return None if r is None else dict(r)

    @property
    def conditioning(self) -> Optional[Dict[str, Any]]:
        """The condition number and bootstrap correlations of the
        parameters (centred variables), or None."""
        c = self._d.get("conditioning")
        return None if c is None else dict(c)

    # -- uses -----------------------------------------------------------------
    def predict(self, N: Any, D: Any) -> np.ndarray:
        """The predicted loss at parameter counts ``N`` and token counts
        ``D`` (scalars or arrays, broadcast); numpy in, numpy out."""
        n, d = np.broadcast_arrays(np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64))
        out = _scalelab.predict(self._json, n.ravel().tolist(), d.ravel().tolist())
        return np.asarray(out, dtype=np.float64).reshape(n.shape)

    def plan(self, flops: Any, **kwargs: Any):
        """The compute-optimal plan at ``flops`` (one budget or several):
        ``scalelab.plan(self, flops=flops, **kwargs)``."""
        from ._plan import plan

        return plan(self, flops=flops, **kwargs)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self._d["params"].items())
        return f"Fit(law={self.law!r}, {ps}, objective={self.objective:.6g})"


def fit(
    runs: Any,
    law: str = "chinchilla",
    method: str = "varpro",
    bootstrap: int = 0,
    seed: int = 0,
    where: Union[str, Sequence[str], None] = None,
    holdout: Any = None,
    columns: Optional[Mapping[str, str]] = None,
    progress: Any = None,
    *,
    huber_delta: float = 1e-3,
    least_squares: bool = False,
    threads: Optional[int] = None,
    rollout: bool = False,
) -> Fit:
    """Fits a scaling law to runs, as ``scalelab fit`` does.

    ``runs`` is a pandas DataFrame, a dict of columns (numpy arrays or
    lists), a list of dicts, or a path (.csv, .tsv, .jsonl, .parquet, or a
    sweep directory). Columns default to ``params`` (N), ``tokens`` (D),
    ``flops`` (C) and ``loss``; name others with ``columns={"params":
    "Model Size", "flops": "Training FLOP"}``. With two of N, D, C the third
    follows from C = 6ND.

    - ``law``: ``chinchilla``, ``kaplan``, ``power-n``/``-d``/``-c``,
      ``broken-n``/``-d``/``-c``;
    - ``method``: ``varpro`` (variable projection) or ``grid`` (the law's
      full start grid);
    - ``bootstrap``: resamples for standard errors and 95% intervals
      (identical for the same ``seed``, whatever the thread count);
    - ``where``: row filters in the CLI's ``--where`` grammar;
    - ``holdout``: ``K`` (hold out the K largest-compute runs) or
      ``{"above_flops": C}``, reported in ``fit.holdout``;
    - ``rollout``: the rollout backtest (``scalelab fit --rollout``): for
      every compute budget, fit on the runs at or below it and predict those
      above; reported in ``fit.rollout``;
    - ``progress``: a callable receiving :class:`ProgressEvent` s (the
      bootstrap reports one per resample), or True for lines on stderr.

    Raises :class:`scalelab.InputError` (a ``ValueError``) for bad input,
    with the CLI's message naming the row and column.

    >>> import pandas as pd, scalelab
    >>> df = pd.read_csv("svg_extracted_data.csv")             # doctest: +SKIP
    >>> fit = scalelab.fit(df, columns={"params": "Model Size",
    ...                    "flops": "Training FLOP"},
    ...                    where="loss < 3.4469")               # doctest: +SKIP
    >>> fit.params                                              # doctest: +SKIP
    """
    largest, above = _holdout(holdout)
    if int(bootstrap) < 0:
        raise InputError(f"bootstrap must be 0 or more resamples, got {bootstrap}")
    if int(seed) < 0:
        raise InputError(f"seed must be 0 or more, got {seed}")
    text = _scalelab.fit(
        to_table(runs),
        law=str(law),
        method=str(method),
        bootstrap=int(bootstrap),
        seed=int(seed),
        where=where_list(where),
        holdout_largest=largest,
        holdout_above_flops=above,
        huber_delta=float(huber_delta),
        least_squares=bool(least_squares),
        threads=threads,
        progress=adapter(progress),
        rollout=bool(rollout),
        **_columns(columns),
    )
    return Fit(text)
