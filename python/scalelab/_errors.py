"""The exceptions scalelab raises.

Every error of the library is a :class:`scalelab.Error`, with the message
the ``scalelab`` command line prints after ``error:``. Bad input (a bad
argument, a table that cannot be used, a file with bad content) is also a
:class:`ValueError`, so ``except ValueError`` works as usual::

    try:
        scalelab.fit(df)
    except scalelab.TableError as e:
        print(e.path, e.line, e.column_name, e)
"""

from __future__ import annotations


class Error(Exception):
    """Any error of scalelab."""


class InputError(Error, ValueError):
    """Bad input: an argument (``flag`` names it as the CLI spells it, e.g.
    ``--holdout-largest``), or a file's content (``path``, ``line``)."""

    flag = None
    path = None
    line = None


class TableError(InputError):
    """A table that cannot be read or used. ``path`` is the file (or
    ``<DataFrame>``), ``line`` the line or row (for a DataFrame: its index
    label), ``column`` the 1-based column number and ``column_name`` its
    name; any of them may be ``None``."""

    column = None
    column_name = None


class IoError(Error, OSError):
    """A file or directory could not be read, written or created."""


class ComputationError(Error):
    """The data do not support what was asked (a fit that cannot be made,
    a plan outside the law's domain); the message says why."""


class EngineError(Error):
    """The training engine stopped (bad configuration, data, checkpoint,
    divergence)."""


class InternalError(Error):
    """A bug in scalelab (please report it with the message)."""


__all__ = [
    "Error",
    "InputError",
    "TableError",
    "IoError",
    "ComputationError",
    "EngineError",
    "InternalError",
]
