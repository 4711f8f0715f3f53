"""Progress callbacks.

Long work (a bootstrap, an IsoFLOP bootstrap, a sweep) reports progress as
events. Pass ``progress=`` a callable taking one :class:`ProgressEvent`; it
is called from the worker threads (one at a time, holding the GIL) while the
work runs without the GIL. If it raises (or Ctrl-C is pressed), it is not
called again and the exception is raised to the caller when the work
returns; the work itself runs to its end (a sweep's runs stay resumable).
``progress=True`` prints a simple line per task to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class ProgressEvent:
    """One progress event.

    ``kind`` is ``"begin"`` (a task starts: ``label``, ``total`` units of
    ``unit``, total ``None`` when unknown), ``"advance"`` (``done`` units
    finished, ``message`` may say more), ``"note"`` (a line worth showing,
    in ``message``) or ``"end"``. ``id`` tells concurrent tasks apart.
    """

    kind: str
    id: int
    label: Optional[str] = None
    total: Optional[int] = None
    unit: Optional[str] = None
    done: Optional[int] = None
    message: Optional[str] = None


class _Printer:
    """``progress=True``: task starts, notes and ends as lines on stderr."""

    def __init__(self) -> None:
        self.labels: dict = {}

    def __call__(self, e: ProgressEvent) -> None:
        if e.kind == "begin":
            self.labels[e.id] = e.label
            total = f" ({e.total} {e.unit})" if e.total is not None else ""
            print(f"{e.label}{total} ...", file=sys.stderr)
        elif e.kind == "note":
            print(e.message, file=sys.stderr)
        elif e.kind == "end":
            label = self.labels.pop(e.id, None)
            if label:
                print(f"{label}: done", file=sys.stderr)


def adapter(progress: Any) -> Optional[Callable[[dict], None]]:
    """The callable the extension calls with event dicts, or None."""
    if progress is None or progress is False:
        return None
    if progress is True:
        progress = _Printer()
    if not callable(progress):
        from ._errors import InputError

        raise InputError("progress must be a callable taking a ProgressEvent, True or None")

    def call(d: dict) -> None:
        progress(ProgressEvent(**d))

    return call
