"""Fair champion/challenger comparison: the base revision's model vs the current one.

The champion (the model at the base revision, normally main) and the challenger (the model
in the working tree) are scored on the same rows: the current test window, which the
champion never trained on (models are fitted on the train split only). The champion is
scored by the base revision's OWN code, run from a temporary git worktree with
PYTHONPATH=<worktree>/src, so a pull request that changes the features is compared
against what production really does, not against today's code applied to an old model.

Outputs: metrics/compare.json (metrics per model, deltas, window, revisions, verdict) and
metrics/compare_predictions.csv (per hour, for the report's plots).

Modules: `gate` (verdict, deltas, fairness; pure), `lockfile` (the base's dvc.yaml and
dvc.lock, and the staleness of the working tree), `window` (the rows scored), `scored`
(a scored model; the current one), `champion` (the base model through DVC, scored by
`base_scorer`, a program run under the base revision's code) and `comparison` (the
result and `run`). The names below are the package's interface.
"""

from bikecast.errors import EXIT_ERROR, EXIT_NO, EXIT_OK, CompareError
from bikecast.review.compare.champion import BaseScorer, materialise_base_model
from bikecast.review.compare.comparison import (
    COMPARE_METRICS,
    COMPARE_PREDICTIONS,
    Comparison,
    build_result,
    run,
)
from bikecast.review.compare.gate import (
    BASELINES,
    FAIL,
    GATE_METRIC,
    NO_BASE,
    PASS,
    deltas,
    gate,
    importance_shares,
    overlap_rows,
)
from bikecast.review.compare.lockfile import (
    DVC_LOCK,
    DVC_YAML,
    READS,
    BaseLocation,
    locate_base_model,
    stale_inputs,
)
from bikecast.review.compare.scored import Scored, check_same_grain, score_current
from bikecast.review.compare.window import Window, load_window

__all__ = [
    "BASELINES",
    "COMPARE_METRICS",
    "COMPARE_PREDICTIONS",
    "DVC_LOCK",
    "DVC_YAML",
    "EXIT_ERROR",
    "EXIT_NO",
    "EXIT_OK",
    "FAIL",
    "GATE_METRIC",
    "NO_BASE",
    "PASS",
    "READS",
    "BaseLocation",
    "BaseScorer",
    "CompareError",
    "Comparison",
    "Scored",
    "Window",
    "build_result",
    "check_same_grain",
    "deltas",
    "gate",
    "importance_shares",
    "load_window",
    "locate_base_model",
    "materialise_base_model",
    "overlap_rows",
    "run",
    "score_current",
    "stale_inputs",
]
