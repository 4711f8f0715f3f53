"""Sweeps: ``scalelab.sweep`` runs pilot runs with the built-in engine."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from . import _scalelab
from ._errors import InputError
from ._progress import adapter


class SweepResult:
    """What a sweep invocation did (``scalelab sweep --json``): run names
    ``done`` (trained now), ``skipped`` (done before), ``stopped``
    (interrupted, resumable), ``failed`` (dicts with ``run`` and
    ``reason``); ``out`` is the sweep directory. :meth:`to_pandas` reads
    its ``runs.csv``."""

    def __init__(self, json_text: str, out: str):
        self._json = json_text
        self._d = json.loads(json_text)
        self.out = out

    done = property(lambda self: list(self._d["done"]))
    skipped = property(lambda self: list(self._d["skipped"]))
    stopped = property(lambda self: list(self._d["stopped"]))
    failed = property(lambda self: list(self._d["failed"]))
    seconds = property(lambda self: self._d["seconds"])
    warnings = property(lambda self: list(self._d.get("warnings", [])))

    @property
    def complete(self) -> bool:
        """Whether every run is done or failed (nothing left to resume)."""
        return not self.stopped

    def to_pandas(self):
        """The sweep's runs table (``runs.csv``) as a DataFrame."""
        from ._api import read_runs

        return read_runs(self.out)

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(self._json)

    def __repr__(self) -> str:
        return (
            f"SweepResult(out={self.out!r}, done={len(self.done)}, skipped={len(self.skipped)}, "
            f"stopped={len(self.stopped)}, failed={len(self.failed)})"
        )


def sweep(
    spec: Any,
    out: Any,
    *,
    jobs: Optional[int] = None,
    retry_failed: bool = False,
    step_limit: Optional[int] = None,
    progress: Any = None,
) -> SweepResult:
    """Runs a sweep's pilot runs on this machine, as ``scalelab sweep``.

    ``spec`` is a sweep file's path, its TOML text, or a dict of the same
    structure (``{"train": {...}, "runs": [{"params": 2e4, "tokens":
    1.6e5}, ...]}``). Runs go to ``out`` (one directory per run and
    ``runs.csv``). Calling it again resumes: done runs are skipped,
    interrupted ones continue from their last checkpoint, bit-identically.
    ``step_limit`` stops every run after that many steps in this call (the
    runs stay resumable). The GIL is released while runs train;
    ``progress`` receives a task per run (steps, with the loss) and notes.

    >>> r = scalelab.sweep("sweep.toml", out="runs/pilot", jobs=2)   # doctest: +SKIP
    >>> fit = scalelab.fit(r.out, law="power-n")                     # doctest: +SKIP
    """
    out = os.fspath(out)
    kw: Dict[str, Any] = {}
    if isinstance(spec, dict):
        kw["spec_json"] = json.dumps(spec)
    elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and "=" not in spec):
        kw["spec_path"] = os.fspath(spec)
    elif isinstance(spec, str):
        kw["spec_text"] = spec
    else:
        raise InputError("spec must be a sweep file's path, its TOML text or a dict")
    text = _scalelab.sweep(
        out,
        jobs=None if jobs is None else int(jobs),
        retry_failed=bool(retry_failed),
        step_limit=None if step_limit is None else int(step_limit),
        progress=adapter(progress),
        **kw,
    )
    return SweepResult(text, out)
