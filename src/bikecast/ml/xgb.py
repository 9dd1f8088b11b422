"""XGBoost without scikit-learn: `import xgboost` pulls in scikit-learn (~3 s of a stage's
start on 2 cores) only to offer its estimator wrappers, which bikecast never uses."""

from __future__ import annotations

import sys
from types import ModuleType


def xgboost() -> ModuleType:
    """The xgboost module, imported (once) with scikit-learn hidden from it.

    xgboost's own fallback for a machine without scikit-learn takes over; scikit-learn is
    hidden only while xgboost imports, so code that imports it later gets the real one.
    """
    if "xgboost" in sys.modules:
        return sys.modules["xgboost"]
    hidden = "sklearn" not in sys.modules
    if hidden:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # import → ImportError
    try:
        import xgboost
    finally:
        if hidden:
            del sys.modules["sklearn"]
    return xgboost


def xgboost_dask() -> ModuleType:
    """xgboost.dask, on top of the same scikit-learn-free import."""
    xgboost()
    from xgboost import dask

    return dask
