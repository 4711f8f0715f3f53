"""Studies: ``scalelab.study`` runs the whole loop in one call."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

from . import _scalelab
from ._errors import InputError
from ._progress import adapter

#: The embedded default study file's text (``scalelab study --print-default``):
#: a starting point for a study file of your own.
DEFAULT_STUDY: str = _scalelab.DEFAULT_STUDY


class Study:
    """A finished study (``scalelab study``): the ``scalelab.study/1``
    object (``study.json``, what ``scalelab study --json`` prints), with
    views.

    - ``name``, ``runs`` (pilot runs planned), ``runs_done``,
      ``runs_failed`` (dicts with ``run`` and ``reason``), ``pilot_flops``;
    - ``plan``: the compute-optimal plan for the study's target budget
      (a dict: ``flops``, ``n_opt``, ``d_opt``, ``tokens_per_param``,
      ``loss_pred``, ``ci95``, ``convention``);
    - ``fit``: the Chinchilla fit as a :class:`scalelab.Fit` (read from
      the study's ``fit.json``), ``power_laws``, ``isoflop``, ``backtest``,
      ``truth`` (the fitted E against the synthetic language's known
      floor, or ``None``), ``warnings`` (messages);
    - ``verification``: with ``verify = true`` in ``[study]``, the
      recommended model (and N*/2, 2N*) trained at the verification budget,
      predicted against measured loss with the verdict (a dict, see
      docs/sweep.md), else ``None``;
    - ``summary``: the text ``scalelab study`` prints; ``report_html``:
      the HTML report's path; ``out``: the study directory.

    :meth:`to_pandas` reads the pilot runs' table (``runs.csv``).
    """

    def __init__(self, json_text: str, summary: str, report_html: str, out: str):
        self._json = json_text
        self._d = json.loads(json_text)
        self.summary = summary
        self.report_html = report_html
        self.out = out
        self._fit: Any = None

    name = property(lambda self: self._d["name"])
    runs = property(lambda self: self._d["runs"])
    runs_done = property(lambda self: self._d["runs_done"])
    runs_failed = property(lambda self: [dict(f) for f in self._d["runs_failed"]])
    pilot_flops = property(lambda self: self._d["pilot_flops"])
    seconds = property(lambda self: self._d["seconds"])
    plan = property(lambda self: json.loads(json.dumps(self._d["plan"])))
    power_laws = property(lambda self: json.loads(json.dumps(self._d["power_laws"])))
    isoflop = property(lambda self: json.loads(json.dumps(self._d["isoflop"])))
    backtest = property(lambda self: json.loads(json.dumps(self._d["backtest"])))
    truth = property(lambda self: json.loads(json.dumps(self._d["truth"])))
    warnings = property(lambda self: list(self._d["warnings"]))
    verification = property(lambda self: json.loads(json.dumps(self._d.get("verification"))))

    @property
    def fit(self):
        """The study's Chinchilla fit (``fit.json`` in the study directory),
        a :class:`scalelab.Fit`: ``study.fit.plan(1e20)``, ``.predict``."""
        if self._fit is None:
            from ._fit import Fit

            self._fit = Fit.load(os.path.join(self.out, "fit.json"))
        return self._fit

    def to_pandas(self):
        """The pilot runs' table (``runs.csv``) as a DataFrame."""
        from ._api import read_runs

        return read_runs(self.out)

    def to_dict(self) -> Dict[str, Any]:
        """The ``scalelab.study/1`` object as a dict (a copy)."""
        return json.loads(self._json)

    def to_json(self) -> str:
        """The ``scalelab.study/1`` object as ``scalelab study --json``
        prints it."""
        return self._json

    def __repr__(self) -> str:
        p = self._d["plan"]
        return (
            f"Study(name={self.name!r}, out={self.out!r}, runs_done={self.runs_done}/{self.runs}, "
            f"plan: N={p['n_opt']:.3g} D={p['d_opt']:.3g} at C={p['flops']:.3g})"
        )


def study(
    study: Any = None,
    out: Any = "study",
    *,
    jobs: Optional[int] = None,
    progress: Any = None,
) -> Study:
    """Runs a study, as ``scalelab study``: design (or the given runs) →
    pilot sweep → Chinchilla and power-law fits → IsoFLOP analysis → plan
    for the target budget → backtest → summary, every file in ``out``.

    ``study`` is a study file's path, its TOML text, or ``None`` for the
    embedded default study (:data:`scalelab.DEFAULT_STUDY`, about 4.5
    minutes on 2 cores). A study file is a sweep file with a ``[study]``
    table (see ``scalelab study --help``); TOML text is written to
    ``out/study.toml`` and studied from there. Calling it again on the same
    ``out`` resumes: done runs are not trained again. ``jobs``: runs at a
    time (default: one per core). The GIL is released while the work runs;
    ``progress`` receives its events (a task per run, notes).

    >>> s = scalelab.study("my_study.toml", out="runs/study1", jobs=2)  # doctest: +SKIP
    >>> print(s.summary)                                                  # doctest: +SKIP
    >>> s.plan["n_opt"], s.fit.params["E"]                                # doctest: +SKIP
    >>> s.to_pandas()                     # the pilot runs                # doctest: +SKIP
    """
    out = os.fspath(out)
    kw: Dict[str, Any] = {}
    if study is None:
        pass
    elif isinstance(study, os.PathLike) or (isinstance(study, str) and "\n" not in study and "=" not in study):
        kw["study_path"] = os.fspath(study)
    elif isinstance(study, str):
        kw["study_text"] = study
    else:
        raise InputError("study must be a study file's path, its TOML text or None (the default study)")
    text, summary, html = _scalelab.study(
        out,
        jobs=None if jobs is None else int(jobs),
        progress=adapter(progress),
        **kw,
    )
    return Study(text, summary, html, out)
