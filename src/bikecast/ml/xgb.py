"""XGBoost without scikit-learn: `import xgboost` pulls in scikit-learn (~3 s of a stage's
start on 2 cores) only to offer its estimator wrappers, which bikecast never uses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def sklearn_hidden() -> Iterator[None]:
    """Imports in this block see no scikit-learn and take their fallback without it; it is
    hidden only for the block, so code that imports it later gets the real one."""
    hidden = "sklearn" not in sys.modules
    if hidden:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # import → ImportError
    try:
        yield
    finally:
        if hidden:
            del sys.modules["sklearn"]


def xgboost() -> ModuleType:
    """The xgboost module, imported (once) with scikit-learn hidden from it."""
    if sys.modules.get("xgboost") is not None:
        return sys.modules["xgboost"]
    with sklearn_hidden():
        import xgboost
    return xgboost


def xgboost_dask() -> ModuleType:
    """xgboost.dask, on top of the same scikit-learn-free import."""
    xgboost()
    from xgboost import dask

    return dask


def onnx_converter() -> ModuleType:
    """onnxmltools' XGBoost converter, on the same import (it needs no scikit-learn either)."""
    xgboost()
    with sklearn_hidden():
        from onnxmltools.convert import xgboost as converter
    return converter
