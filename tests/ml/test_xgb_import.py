"""bikecast imports XGBoost without scikit-learn, and scikit-learn still imports afterwards."""

import subprocess
import sys


def run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_stage_loading_xgboost_does_not_import_scikit_learn():
    out = run(
        "import sys\n"
        "from bikecast.ml.xgb import xgboost\n"
        "xgb = xgboost()\n"
        "assert xgb.DMatrix is not None and xgboost() is xgb\n"
        "print('sklearn' in sys.modules, 'sklearn' in repr(sys.modules.get('sklearn')))\n"
    )
    assert out == "False False"


def test_scikit_learn_imports_normally_after_xgboost():
    out = run(
        "from bikecast.ml.xgb import xgboost\n"
        "xgboost()\n"
        "import sklearn.base\n"
        "print(sklearn.base.BaseEstimator.__module__)\n"
    )
    assert out == "sklearn.base"


def test_xgboost_already_imported_is_returned_as_is():
    out = run(
        "import xgboost, sys\n"
        "from bikecast.ml.xgb import xgboost as get\n"
        "print(get() is xgboost, 'sklearn' in sys.modules)\n"
    )
    assert out == "True True"
