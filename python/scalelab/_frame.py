"""Run tables from what a notebook has: a pandas DataFrame, a dict of
columns (numpy arrays or lists), a list of records, or a path."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ._errors import InputError


def _cells(values: Any) -> list:
    """A column as a list of Python floats, ints, strings, bools or None."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"a column must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "fiu":
        return arr.astype(np.float64).tolist()
    if arr.dtype.kind == "b":
        return arr.tolist()
    out = []
    for v in arr.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, (bool, int, float, str)):
            out.append(v)
        else:
            # pandas.NA, NaT and other scalars
            try:
                import pandas as pd

                if pd.isna(v):
                    out.append(None)
                    continue
            except (ImportError, TypeError, ValueError):
                pass
            out.append(str(v))
    return out


def _from_dataframe(df: Any) -> dict:
    columns = [str(c) for c in df.columns]
    data = []
    for c in df.columns:
        col = df[c]
        if col.dtype.kind in "fiu":
            data.append(col.to_numpy(dtype=np.float64, na_value=np.nan).tolist())
        else:
            data.append(_cells(col.to_numpy(dtype=object)))
    idx = df.index
    if idx.dtype.kind in "iu" and (len(idx) == 0 or idx.min() >= 0):
        rows = [int(i) for i in idx]
    else:
        rows = list(range(len(df)))
    return {"label": "<DataFrame>", "columns": columns, "data": data, "rows": rows}


def _from_mapping(m: Any) -> dict:
    columns = [str(k) for k in m.keys()]
    data = [_cells(v) for v in m.values()]
    n = {len(d) for d in data}
    if len(n) > 1:
        lens = ", ".join(f"'{c}': {len(d)}" for c, d in zip(columns, data))
        raise InputError(f"the columns have different lengths ({lens})")
    rows = list(range(n.pop() if n else 0))
    return {"label": "<dict>", "columns": columns, "data": data, "rows": rows}


def to_table(runs: Any) -> Any:
    """What the extension takes: a path string, or a table dict."""
    if isinstance(runs, (str, os.PathLike)):
        return os.fspath(runs)
    if hasattr(runs, "columns") and hasattr(runs, "index") and hasattr(runs, "dtypes"):
        return _from_dataframe(runs)
    if isinstance(runs, dict):
        return _from_mapping(runs)
    if isinstance(runs, (list, tuple)) and runs and all(isinstance(r, dict) for r in runs):
        import pandas as pd

        return _from_dataframe(pd.DataFrame.from_records(runs))
    raise InputError(
        "runs must be a pandas DataFrame, a dict of columns (arrays or lists), "
        f"a list of dicts, or a path; got {type(runs).__name__}"
    )


def where_list(where: Any) -> list:
    """`where` as a list of expressions (None, one string, or several)."""
    if where is None:
        return []
    if isinstance(where, str):
        return [where]
    return [str(w) for w in where]


def frame(columns: dict) -> Any:
    """A DataFrame from `{column: [values]}`."""
    import pandas as pd

    return pd.DataFrame(columns)
