"""Type stubs of the compiled extension `scalelab._scalelab` (crates/py).

The public API is the pure-Python package (`scalelab.fit`, `scalelab.plan`,
...); these functions take what it prepares: a path string or a table dict
`{"label", "columns", "data", "rows"}`, and return JSON texts of the
`scalelab.*/1` schemas."""

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__version__: str

_Table = Union[str, Dict[str, Any]]
_Callback = Optional[Callable[[Dict[str, Any]], None]]

def read_runs(runs: _Table, where: List[str] = ...) -> Dict[str, List[Any]]: ...
def fit(
    runs: _Table,
    law: str = ...,
    method: str = ...,
    bootstrap: int = ...,
    seed: int = ...,
    where: List[str] = ...,
    holdout_largest: Optional[int] = ...,
    holdout_above_flops: Optional[float] = ...,
    params_col: Optional[str] = ...,
    tokens_col: Optional[str] = ...,
    flops_col: Optional[str] = ...,
    loss_col: Optional[str] = ...,
    huber_delta: float = ...,
    least_squares: bool = ...,
    threads: Optional[int] = ...,
    progress: _Callback = ...,
) -> str: ...
def predict(fit: str, n: List[float], d: List[float]) -> List[float]: ...
def read_fit(path: str) -> str: ...
def write_fit(fit: str, path: str) -> None: ...
def plan(
    fit: str,
    source: str = ...,
    flops: List[float] = ...,
    target_loss: List[float] = ...,
    loss_at: List[Tuple[float, float]] = ...,
    convention: str = ...,
    compare_conventions: bool = ...,
    context: int = ...,
    vocab: int = ...,
    accelerator: Optional[str] = ...,
    count: int = ...,
    mfu: float = ...,
    micro_batch: int = ...,
    inference_tokens: Optional[float] = ...,
    unique_tokens: Optional[float] = ...,
) -> str: ...
def sweep(
    out: str,
    spec_path: Optional[str] = ...,
    spec_text: Optional[str] = ...,
    spec_json: Optional[str] = ...,
    jobs: Optional[int] = ...,
    retry_failed: bool = ...,
    step_limit: Optional[int] = ...,
    progress: _Callback = ...,
) -> str: ...
def study(
    out: str,
    study_path: Optional[str] = ...,
    study_text: Optional[str] = ...,
    jobs: Optional[int] = ...,
    progress: _Callback = ...,
) -> Tuple[str, str, str]: ...

DEFAULT_STUDY: str

def report(inputs: List[str], out: str, command: str = ...) -> str: ...
def isoflop(
    runs: _Table,
    where: List[str] = ...,
    group_by: Optional[str] = ...,
    params_col: Optional[str] = ...,
    tokens_col: Optional[str] = ...,
    flops_col: Optional[str] = ...,
    loss_col: Optional[str] = ...,
    run_col: Optional[str] = ...,
    window: float = ...,
    bootstrap: int = ...,
    seed: int = ...,
    fit: Optional[str] = ...,
    progress: _Callback = ...,
) -> str: ...
def design(
    pilot_flops: float,
    budgets: int = ...,
    decades: float = ...,
    sizes: int = ...,
    spread: float = ...,
    tokens_per_param: float = ...,
    fit: Optional[str] = ...,
    context: int = ...,
    vocab: int = ...,
    out: Optional[str] = ...,
) -> str: ...
def emerge(
    table: str,
    scale_col: str = ...,
    task_col: str = ...,
    metric_col: str = ...,
    value_col: str = ...,
    stderr_col: str = ...,
    group_by: List[str] = ...,
    where: List[str] = ...,
    discrete: str = ...,
    continuous: str = ...,
    answer_length: float = ...,
    chance: List[Tuple[str, float]] = ...,
    sharp_decades: float = ...,
    smooth_rmse: float = ...,
    max_jump_share: float = ...,
    items: Optional[str] = ...,
    bootstrap: int = ...,
    seed: int = ...,
    runs: Optional[str] = ...,
    fit: Optional[str] = ...,
    predict_flops: Optional[float] = ...,
    progress: _Callback = ...,
) -> str: ...
def hparams(
    runs: _Table,
    where: List[str] = ...,
    loss_col: str = ...,
    lr_col: str = ...,
    batch_col: Optional[str] = ...,
    budget_col: Optional[str] = ...,
    tol: float = ...,
    fit_points: int = ...,
    bootstrap: int = ...,
    seed: int = ...,
    holdout_largest: bool = ...,
) -> str: ...
def write_hparams(report: str, path: str) -> None: ...
def compare(
    a: _Table,
    b: Optional[_Table] = ...,
    group_by: List[str] = ...,
    group_a: Optional[str] = ...,
    group_b: Optional[str] = ...,
    where: List[str] = ...,
    flops_col: Optional[str] = ...,
    params_col: Optional[str] = ...,
    tokens_col: Optional[str] = ...,
    loss_col: Optional[str] = ...,
    convention_col: str = ...,
    no_convention_check: bool = ...,
    shared_e: bool = ...,
    bootstrap: int = ...,
    seed: int = ...,
    at: List[float] = ...,
    huber_delta: float = ...,
    threads: Optional[int] = ...,
) -> str: ...
def write_compare(report: str, path: str) -> None: ...
