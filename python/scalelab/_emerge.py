"""Abilities across scale: ``scalelab.emerge``."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from . import _scalelab
from ._errors import InputError
from ._frame import where_list
from ._isoflop import _fit_path, _Report
from ._progress import adapter


class Emerge(_Report):
    """A ``scalelab.emerge/1`` object (``scalelab emerge --json``): one entry
    per task in ``tasks`` (verdict, the discrete and continuous metrics'
    fits, points, two-stage prediction). :meth:`to_pandas` gives one row
    per task."""

    tasks = property(lambda self: list(self._d["tasks"]))

    def to_pandas(self, points: bool = False):
        """One row per task (``task``, ``verdict``, ``discrete_sharp``,
        ``continuous_smooth``, ...); with ``points=True``, the discrete
        metric's points, one row per (task, scale)."""
        import pandas as pd

        if points:
            return pd.DataFrame(
                [{"task": t["task"], **p} for t in self.tasks for p in t.get("points", [])]
            )
        keep = ["task", "task_name", "chance", "verdict", "verdict_text", "discrete_sharp",
                "continuous_smooth", "continuous_share_at_jump", "p_l_gap", "threshold_ci_method"]
        return pd.DataFrame([{k: t.get(k) for k in keep} for t in self.tasks])

    def __repr__(self) -> str:
        return f"Emerge({len(self.tasks)} tasks)"


def emerge(
    evals: Any,
    *,
    scale_col: str = "params",
    task_col: str = "task",
    metric_col: str = "metric",
    value_col: str = "value",
    stderr_col: str = "stderr",
    group_by: Union[str, Sequence[str], None] = None,
    where: Union[str, Sequence[str], None] = None,
    discrete: str = "acc",
    continuous: str = "ppl",
    answer_length: float = 1.0,
    chance: Optional[Mapping[str, float]] = None,
    sharp_decades: float = 1.5,
    smooth_rmse: float = 0.05,
    max_jump_share: float = 0.5,
    items: Any = None,
    bootstrap: int = 400,
    seed: int = 0,
    runs: Any = None,
    fit: Any = None,
    predict_flops: Optional[float] = None,
    progress: Any = None,
) -> Emerge:
    """Abilities across scale, as ``scalelab emerge``: for each task, is
    the discrete metric's rise sharp, and does the continuous metric of the
    same outputs change smoothly? With ``runs`` (the sweep's runs table),
    ``fit`` and ``predict_flops``, the two-stage prediction of the metric
    at a planned budget.

    ``evals`` is a long table (one row per model, task and metric): a path,
    or a DataFrame (written to a temporary CSV with full precision).

    >>> em = scalelab.emerge("pythia_v1_zero_shot_tidy.csv",
    ...                      scale_col="params_nonembedding",
    ...                      where="step == 143000 and deduped == 0")  # doctest: +SKIP
    >>> em.to_pandas()[["task", "verdict"]]                   # doctest: +SKIP
    """
    stack: list = []
    path = _table_path(evals, stack)
    runs_path = None if runs is None else _table_path(runs, stack)
    if isinstance(group_by, str):
        group_by = [group_by]
    text = _scalelab.emerge(
        path,
        scale_col=scale_col,
        task_col=task_col,
        metric_col=metric_col,
        value_col=value_col,
        stderr_col=stderr_col,
        group_by=list(group_by or []),
        where=where_list(where),
        discrete=discrete,
        continuous=continuous,
        answer_length=float(answer_length),
        chance=[(str(k), float(v)) for k, v in (chance or {}).items()],
        sharp_decades=float(sharp_decades),
        smooth_rmse=float(smooth_rmse),
        max_jump_share=float(max_jump_share),
        items=None if items is None else os.fspath(items),
        bootstrap=int(bootstrap),
        seed=int(seed),
        runs=runs_path,
        fit=_fit_path(fit, stack),
        predict_flops=None if predict_flops is None else float(predict_flops),
        progress=adapter(progress),
    )
    return Emerge(text)


def _table_path(t: Any, stack: list) -> str:
    if isinstance(t, (str, os.PathLike)):
        return os.fspath(t)
    if hasattr(t, "to_csv") and hasattr(t, "columns"):
        d = tempfile.TemporaryDirectory()
        stack.append(d)
        p = os.path.join(d.name, "table.csv")
        t.to_csv(p, index=False, float_format="%.17g")
        return p
    raise InputError("a table must be a pandas DataFrame or a path")
