"""The whole comparison: both models and the baselines on the window, the gate, the outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bikecast import io, paths
from bikecast.errors import EXIT_NO, EXIT_OK, CompareError
from bikecast.ml import baselines
from bikecast.ml.metrics import regression_metrics
from bikecast.review import gitrev
from bikecast.review.compare.champion import BaseScorer, materialise_base_model
from bikecast.review.compare.gate import (
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
    locate_base_model,
    read_lock,
    stale_inputs,
)
from bikecast.review.compare.recipe import RecipeBacktest, recipe_changes, run_recipe_backtest
from bikecast.review.compare.scored import Scored, check_same_grain, score_current
from bikecast.review.compare.window import Window, load_window

log = logging.getLogger(__name__)

COMPARE_METRICS = Path("metrics/compare.json")
COMPARE_PREDICTIONS = Path("metrics/compare_predictions.csv")


@dataclass(frozen=True)
class Comparison:
    result: dict[str, Any]
    predictions: pd.DataFrame

    @property
    def verdict(self) -> str:
        return self.result["verdict"]

    @property
    def exit_code(self) -> int:
        """EXIT_NO when the gate failed, so CI can gate on it; pass and no_base are EXIT_OK."""
        return EXIT_NO if self.verdict == FAIL else EXIT_OK


def _tolerance(params_text: str | None) -> float | None:
    try:
        value = (yaml.safe_load(params_text or "") or {}).get("gate", {}).get("tolerance")
    except (yaml.YAMLError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _model_info(scored: Scored | None, window: pd.Series) -> dict[str, Any] | None:
    if scored is None:
        return None
    card = scored.card
    return {
        "model_version": card.version,
        "as_of": card.data_window.as_of,
        "train_end": card.data_window.train_end,
        "train_rows": card.data_window.train_rows,
        "feature_columns": list(card.feature_columns),
        "rounds": card.rounds,
        "window_rows_seen_in_training": overlap_rows(card, window),
        "code": scored.code,
    }


def build_result(
    *,
    window: Window,
    challenger: Scored,
    champion: Scored | None,
    base_rev: str,
    base_sha: str,
    no_base_reason: str | None,
    tolerance: float,
    base_tolerance: float | None,
    current_sha: str | None,
    dirty: bool,
    recipe: RecipeBacktest | None = None,
) -> Comparison:
    """Metrics of every model on the window, deltas, fairness and the verdict: on the window,
    or, when the recipe changed and both recipes were replayed, on the backtest's origins."""
    actual = window.actual
    predictions = {
        "challenger": challenger.predicted,
        "seasonal_naive": baselines.seasonal_naive(
            window.history, window.test, window.train, window.by
        ),
        "hour_workingday_mean": baselines.hour_workingday_mean(
            window.train, window.test, window.by
        ),
    }
    if champion is not None:
        predictions = {"champion": champion.predicted, **predictions}
    models = {name: regression_metrics(actual, pred) for name, pred in predictions.items()}
    stamps = window.test["timestamp"]
    gate_detail: dict[str, Any] = {
        "metric": GATE_METRIC,
        "tolerance": tolerance,
        "base_tolerance": base_tolerance,
    }
    if champion is None:
        verdict, reason, delta = NO_BASE, no_base_reason, None
    else:
        verdict, detail = gate(
            models["champion"][GATE_METRIC], models["challenger"][GATE_METRIC], tolerance
        )
        gate_detail.update(detail)
        delta = deltas(models["champion"], models["challenger"])
        change = detail["relative_change"]
        change_text = f"{change:+.1%}" if change is not None else "from 0"
        word = "within" if verdict == PASS else "worse than"
        reason = (
            f"challenger RMSLE {detail['challenger']:.4f} vs champion {detail['champion']:.4f} "
            f"({change_text}): {word} the {tolerance:.1%} tolerance"
        )
        gate_detail["basis"] = "window"
        if recipe is not None and recipe.weighs:
            verdict, reason, gate_detail = _weigh_backtest(recipe, tolerance, gate_detail, reason)
    base_info = _model_info(champion, stamps) or {}
    result = {
        "verdict": verdict,
        "reason": reason,
        "gate": gate_detail,
        "window": window.describe(),
        "base": {"rev": base_rev, "sha": base_sha, **base_info},
        "current": {"sha": current_sha, "dirty": dirty, **(_model_info(challenger, stamps) or {})},
        "models": models,
        "deltas": delta,
        "backtest": recipe.summary() if recipe is not None else None,
        "importance": {
            "champion": importance_shares(champion.gain) if champion else None,
            "challenger": importance_shares(challenger.gain),
        },
    }
    table = pd.DataFrame(
        {
            "timestamp": stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **{key: window.test[key].astype(str) for key in window.by},
            "hour": window.test["hour"].astype(int) if "hour" in window.test else stamps.dt.hour,
            "actual": actual,
            **{name: np.round(pred, 3) for name, pred in predictions.items()},
        }
    )
    return Comparison(result=result, predictions=table)


def _weigh_backtest(
    recipe: RecipeBacktest, tolerance: float, window_detail: dict[str, Any], window_reason: str
) -> tuple[str, str, dict[str, Any]]:
    """The gate on the backtest's served RMSLE over all origins; the window's kept beside."""
    summary = recipe.summary()
    champion, challenger = summary["champion"]["rmsle"], summary["challenger"]["rmsle"]
    verdict, detail = gate(champion, challenger, tolerance)
    change = detail["relative_change"]
    word = "within" if verdict == PASS else "worse than"
    origins = summary["span"]["origins"]
    reason = (
        f"the recipe changed ({', '.join(recipe.changes)}): over {origins} backtest origins "
        f"the challenger's recipe serves RMSLE {challenger:.4f} vs the champion's "
        f"{champion:.4f} ({change:+.1%}): {word} the {tolerance:.1%} tolerance; on the test "
        f"window alone: {window_reason}"
    )
    gate_detail = {
        **{k: window_detail[k] for k in ("metric", "tolerance", "base_tolerance")},
        **detail,
        "basis": "backtest",
        "window": {k: window_detail[k] for k in ("champion", "challenger", "limit")},
    }
    return verdict, reason, gate_detail


def run(
    base: str | None = None,
    root: Path = Path("."),
    allow_stale: bool = False,
    backtest: bool = True,
) -> Comparison:
    """Compare the working tree's model with the model at `base`; write the two outputs.
    With `backtest`, a change of the recipe also replays both recipes (recipe.py)."""
    from bikecast.config import load_params

    root = root.resolve()
    top = gitrev.toplevel(root)
    if top.resolve() != root:
        raise CompareError(f"run compare from the repository root {top}, not from {root}")
    rev = base or gitrev.default_base(root)
    sha = gitrev.resolve(rev, root)
    label = f"base {rev} ({sha[:12]})"
    params = load_params(root / paths.PARAMS)
    lock = read_lock(root)
    problems = stale_inputs(lock, root)
    if problems and not allow_stale:
        raise CompareError(
            "the working tree is not what dvc.lock describes, so the challenger would be "
            "mislabelled: " + "; ".join(problems) + ". Run `dvc repro` (or `dvc checkout`), "
            "or pass --allow-stale"
        )
    for problem in problems:
        log.warning("compare: %s", problem)
    window = load_window(root)
    location = locate_base_model(
        gitrev.show(sha, str(DVC_YAML), root), gitrev.show(sha, str(DVC_LOCK), root), label
    )
    champion, recipe = None, None
    base_params = gitrev.show(sha, str(paths.PARAMS), root)
    if location.no_base_reason is None:
        changes = recipe_changes(gitrev.show(sha, str(DVC_LOCK), root), lock)
        with gitrev.temporary_worktree(sha, root) as tree:
            materialise_base_model(tree, root, location, label)
            scorer = BaseScorer(tree, window.inputs, label, location.model_path, location.card_path)
            with scorer as base_scorer:
                challenger = score_current(root, window.inputs)
                champion = base_scorer.result()
            check_same_grain(challenger, champion, label)
            if changes and backtest:
                recipe = run_recipe_backtest(tree, root, params, base_params, changes)
                if recipe.error:
                    log.warning("compare: no backtest gate, the window decides: %s", recipe.error)
    else:
        challenger = score_current(root, window.inputs)
    comparison = build_result(
        window=window,
        challenger=challenger,
        champion=champion,
        base_rev=rev,
        base_sha=sha,
        no_base_reason=location.no_base_reason,
        tolerance=params.gate.tolerance,
        base_tolerance=_tolerance(base_params),
        current_sha=gitrev.head(root),
        dirty=gitrev.is_dirty(root),
        recipe=recipe,
    )
    io.write_csv(comparison.predictions, root / COMPARE_PREDICTIONS)
    io.write_json(comparison.result, root / COMPARE_METRICS)
    log.info("compare: %s (%s)", comparison.verdict, comparison.result["reason"])
    return comparison
