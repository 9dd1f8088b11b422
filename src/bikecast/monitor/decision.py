"""retrain_recommended, from params.yaml `monitor` and the drift stage's own decision.

Three signals, each with its reason: the served version's live error against its own test
error (metrics/evaluate.json), the share of forecasts asked outside the training ranges, and
drift of the live hours against a like-with-like reference (bikecast.ml.drift). A signal
with too little data gives no verdict and says so in `notes`, never a silent pass.
"""

from __future__ import annotations

from bikecast.config import MonitorParams


def decide(summary: dict, params: MonitorParams) -> tuple[bool, list[str], list[str]]:
    """(retrain_recommended, reasons, notes)."""
    reasons: list[str] = []
    notes: list[str] = []
    baseline = summary.get("baseline")
    by_version = summary["errors"].get("by_model_version", {})
    if baseline is None:
        notes.append("no test RMSLE to compare with (metrics/evaluate.json absent)")
    elif (live := by_version.get(baseline["model_version"])) is None:
        notes.append(
            f"no scored forecast of model {baseline['model_version']} (the one evaluate.json "
            f"scored) in the window; versions scored: {sorted(by_version) or 'none'}"
        )
    elif live["n"] < params.min_scored:
        notes.append(
            f"only {live['n']} scored forecasts of {baseline['model_version']} "
            f"(monitor.min_scored {params.min_scored}): no verdict on the live error"
        )
    else:
        ratio = live["rmsle"] / baseline["test_rmsle"] if baseline["test_rmsle"] else float("inf")
        line = (
            f"live RMSLE of {baseline['model_version']} is {live['rmsle']} over {live['n']} "
            f"forecasts, {ratio:.2f}x its test RMSLE {baseline['test_rmsle']}"
        )
        if ratio > params.max_rmsle_ratio:
            reasons.append(f"{line} (> monitor.max_rmsle_ratio {params.max_rmsle_ratio})")
        else:
            notes.append(f"{line} (within {params.max_rmsle_ratio}x)")
    ranges = summary["out_of_range"]
    if ranges["share"] > params.max_out_of_range_share:
        inputs = ", ".join(f"{k} {v}" for k, v in sorted(ranges["by_input"].items()))
        reasons.append(
            f"{ranges['share']:.1%} of forecasts had inputs outside the training ranges "
            f"({inputs}; > monitor.max_out_of_range_share {params.max_out_of_range_share:.0%})"
        )
    drift = summary.get("drift")
    if drift is None:
        notes.append(f"drift not tested: {summary.get('drift_skipped', 'no data')}")
    elif drift["retrain_recommended"]:
        reasons.append(f"live inputs drifted: {drift['reason']}")
    return bool(reasons), reasons, notes
