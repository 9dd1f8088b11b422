"""Drift logic without Evidently: pick a like-with-like reference, shape the summary, decide.

Bike demand and weather move every season, so comparing a December test window with the
whole year of training data flags everything and means nothing. The reference is therefore
the same calendar window a year earlier when the training data holds it, else the most
recent weeks before the window; calendar features whose drift is by construction (month,
day of year) are left out; the target and the model's prediction are compared on the
log1p scale the model is fitted on. Evidently computes the scores and draws the page
(bikecast.ml.drift_report); this module prepares its inputs and turns its scores into
drift.json, so it imports fast and is tested without Evidently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bikecast.config import ConfigError, DriftParams
from bikecast.data.schema import WEATHER, DataError
from bikecast.ml.features import FEATURE_COLUMNS

log = logging.getLogger(__name__)

YEAR = pd.Timedelta(days=364)  # 52 weeks: the same weekdays a year earlier
# few distinct values: compared as categories (bounded distance, no zero-variance blow-up)
CATEGORICAL_FEATURES = (
    "hour", "weekday", "is_holiday", "days_to_holiday", "working_day", "weather_code"
)  # fmt: skip
TARGET = "log1p_rentals"
PREDICTION = "log1p_prediction"
# Evidently methods whose score is a p-value (drift when below the threshold); every other
# method returns a distance or divergence (drift when at or above the threshold).
P_VALUE_METHODS = frozenset(
    {"ks", "anderson", "cramer_von_mises", "mannw", "t_test", "es", "empirical_mmd",
     "chisquare", "z", "g_test", "fisher_exact", "TVD"}
)  # fmt: skip


@dataclass(frozen=True)
class Window:
    """Which rows were compared: `kind` says how the reference was chosen."""

    kind: str  # same_window_last_year | recent_weeks | train_split | current
    start: str
    end: str
    rows: int
    note: str = ""

    @classmethod
    def of(cls, frame: pd.DataFrame, kind: str, note: str = "") -> Window:
        stamps = frame["timestamp"]
        return cls(kind, stamps.min().isoformat(), stamps.max().isoformat(), len(frame), note)

    def as_dict(self) -> dict:
        out = {"start": self.start, "end": self.end, "rows": self.rows}
        if self.kind != "current":
            out = {"kind": self.kind, **out}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is compared (or why it is not)."""

    column: str
    kind: str  # numerical | categorical
    role: str  # feature | target | prediction
    method: str
    threshold: float
    status: str = "tested"  # tested | all_missing_in_current | all_missing_in_reference
    unseen: tuple[str, ...] = ()  # categories in current never seen in reference


@dataclass(frozen=True)
class Score:
    """One Evidently result: the score and Evidently's own drift verdict."""

    column: str
    score: float
    drifted: bool


@dataclass(frozen=True)
class Prepared:
    reference: pd.DataFrame
    current: pd.DataFrame
    plans: list[ColumnPlan]
    reference_window: Window
    current_window: Window
    excluded: tuple[str, ...]
    notes: list[str] = field(default_factory=list)

    @property
    def tested(self) -> list[ColumnPlan]:
        return [p for p in self.plans if p.status == "tested"]


def check_params(params: DriftParams) -> None:
    unknown = sorted(set(params.exclude) - set(FEATURE_COLUMNS))
    if unknown:
        raise ConfigError(
            f"params.yaml drift.exclude: {unknown} are not model features; "
            f"choose from {list(FEATURE_COLUMNS)}"
        )


def select_reference(
    train: pd.DataFrame, current: pd.DataFrame, params: DriftParams
) -> tuple[pd.DataFrame, Window]:
    """The reference rows for `current`, taken from the train split (never from current).

    auto: the same calendar window 52 weeks earlier when the train split covers at least
    `min_coverage` of its hours, else the last `reference_days` of the train split.
    """
    if current.empty:
        raise DataError("drift: the current window (test split) has no rows; nothing to compare")
    if train.empty:
        raise DataError("drift: the train split has no rows; no reference to compare with")
    start, end = current["timestamp"].min(), current["timestamp"].max()
    year_ago = train[(train["timestamp"] >= start - YEAR) & (train["timestamp"] <= end - YEAR)]
    coverage = len(year_ago) / len(current)
    if params.reference in ("auto", "year_ago") and coverage >= params.min_coverage:
        return year_ago.reset_index(drop=True), Window.of(
            year_ago, "same_window_last_year", "52 weeks before the current window"
        )
    if params.reference == "year_ago":
        raise DataError(
            f"drift: drift.reference is year_ago but the train split covers only "
            f"{coverage:.0%} of the hours 52 weeks before {start.isoformat()} "
            f"(drift.min_coverage {params.min_coverage:.0%}); use reference: auto"
        )
    if params.reference == "train":
        return train.reset_index(drop=True), Window.of(train, "train_split", "whole train split")
    last = train["timestamp"].max()
    recent = train[train["timestamp"] > last - pd.Timedelta(days=params.reference_days)]
    note = f"last {params.reference_days} days of the train split"
    if params.reference == "auto":
        note += f" (a year earlier is {coverage:.0%} covered, below {params.min_coverage:.0%})"
    return recent.reset_index(drop=True), Window.of(recent, "recent_weeks", note)


def _categorical(values: pd.Series, column: str) -> pd.Series:
    """Readable categories for the report: weather labels, whole numbers for the rest."""
    if column == "weather_code":
        labels = dict(enumerate(WEATHER))
        return values.map(lambda v: labels.get(int(v), f"code {v:g}") if pd.notna(v) else None)
    return values.map(lambda v: str(int(v)) if pd.notna(v) else None)


def compared_frame(frame: pd.DataFrame, features: list[str], predicted) -> pd.DataFrame:
    """The columns Evidently compares: features as the model sees them, log1p target/prediction."""
    out = pd.DataFrame(index=frame.index)
    for column in features:
        values = frame[column].astype("float64")
        out[column] = _categorical(values, column) if column in CATEGORICAL_FEATURES else values
    out[TARGET] = np.log1p(frame["rentals"].astype("float64").clip(lower=0))
    if predicted is not None:
        out[PREDICTION] = np.log1p(np.asarray(predicted, dtype="float64"))
    return out.reset_index(drop=True)


def prepare(
    train: pd.DataFrame,
    current: pd.DataFrame,
    params: DriftParams,
    predict=None,
) -> Prepared:
    """Choose the reference, build both frames and a plan per column; raise on no data.

    `predict(frame) -> array` adds prediction drift (None leaves it out). A column that is
    all missing on either side is not given to Evidently (it cannot compare nothing); it is
    reported as drifted with its status, which is what a monitor should say about it.
    """
    check_params(params)
    for name, frame in (("current window", current), ("train split", train)):
        missing = [c for c in ("timestamp", "rentals", *FEATURE_COLUMNS) if c not in frame.columns]
        if missing:
            raise DataError(f"drift: the {name} lacks columns {missing}")
    reference, ref_window = select_reference(train, current, params)  # never empty
    features = [c for c in FEATURE_COLUMNS if c not in params.exclude]
    ref = compared_frame(reference, features, predict(reference) if predict else None)
    cur = compared_frame(current, features, predict(current) if predict else None)

    plans: list[ColumnPlan] = []
    notes: list[str] = []
    for column in ref.columns:
        role = {TARGET: "target", PREDICTION: "prediction"}.get(column, "feature")
        categorical = column in CATEGORICAL_FEATURES
        if role == "feature":
            method = params.cat_method if categorical else params.num_method
            threshold = params.cat_threshold if categorical else params.num_threshold
        else:
            method, threshold = params.target_method, params.target_threshold
        status, unseen = "tested", ()
        if cur[column].isna().all():
            status = "all_missing_in_current"
        elif ref[column].isna().all():
            status = "all_missing_in_reference"
        elif categorical:
            unseen = tuple(sorted(set(cur[column].dropna()) - set(ref[column].dropna())))
        if status != "tested":
            notes.append(f"{column} is all missing in the {status.rsplit('_', 1)[1]} window")
        if unseen:
            notes.append(f"{column}: {list(unseen)} never seen in the reference window")
        kind = "categorical" if categorical else "numerical"
        plans.append(ColumnPlan(column, kind, role, method, threshold, status, unseen))
    for note in notes:
        log.warning("drift: %s", note)
    return Prepared(
        reference=ref,
        current=cur,
        plans=plans,
        reference_window=ref_window,
        current_window=Window.of(current, "current"),
        excluded=tuple(c for c in FEATURE_COLUMNS if c in params.exclude),
        notes=notes,
    )


def _column_record(plan: ColumnPlan, score: Score | None) -> dict:
    record: dict = {"kind": plan.kind, "method": plan.method}
    if score is None:
        record.update({"status": plan.status, "threshold": plan.threshold, "drifted": True})
        return record
    value = round(float(score.score), 4) if np.isfinite(score.score) else None
    record["p_value" if plan.method in P_VALUE_METHODS else "distance"] = value
    record.update({"threshold": plan.threshold, "drifted": bool(score.drifted)})
    if plan.unseen:
        record["unseen_categories"] = list(plan.unseen)
    return record


def summarise(prepared: Prepared, scores: list[Score], params: DriftParams) -> dict:
    """drift.json: small and stable, so `dvc metrics diff` and the PR report can show it."""
    by_column = {s.column: s for s in scores}
    absent = [p.column for p in prepared.tested if p.column not in by_column]
    if absent:
        raise RuntimeError(f"drift: Evidently returned no score for {absent}")
    records = {p.column: _column_record(p, by_column.get(p.column)) for p in prepared.plans}
    features = [p.column for p in prepared.plans if p.role == "feature"]
    drifted = [c for c in features if records[c]["drifted"]]
    share = round(len(drifted) / len(features), 4) if features else 0.0
    summary = {
        "retrain_recommended": False,
        "reason": "",
        "reference": prepared.reference_window.as_dict(),
        "current": prepared.current_window.as_dict(),
        "features": {
            "tested": len(features),
            "drifted": len(drifted),
            "share": share,
            "drift_share": params.drift_share,
            "drifted_columns": drifted,
            "excluded": list(prepared.excluded),
        },
        "target": {"column": "rentals", "scale": "log1p", **records.get(TARGET, {})},
        "prediction": (
            {"scale": "log1p", **records[PREDICTION]} if PREDICTION in records else None
        ),
        "columns": {c: records[c] for c in features},
    }
    summary["retrain_recommended"], summary["reason"] = decide(summary)
    return summary


def _describe(name: str, record: dict) -> str:
    if "status" in record:
        return f"{name} is {record['status'].replace('_', ' ')}"
    if "p_value" in record:
        return f"{name} ({record['method']} p={record['p_value']} < {record['threshold']})"
    return f"{name} ({record['method']} {record['distance']} >= {record['threshold']})"


def decide(summary: dict) -> tuple[bool, str]:
    """Retrain when demand itself moved, when the model's output moved, or when at least
    `drift_share` of the input features moved. Prediction drift is feature drift weighted by
    what the model actually uses, so a drifting feature the model ignores does not count."""
    reasons = []
    target, prediction, features = summary["target"], summary["prediction"], summary["features"]
    if target.get("drifted"):
        reasons.append("demand moved: " + _describe("log1p(rentals)", target))
    if prediction and prediction.get("drifted"):
        reasons.append("model output moved: " + _describe("log1p(prediction)", prediction))
    columns = summary["columns"]
    listed = ", ".join(_describe(c, columns[c]) for c in features["drifted_columns"])
    if features["tested"] and features["share"] >= features["drift_share"]:
        reasons.append(
            f"{features['drifted']} of {features['tested']} input features drifted "
            f"(share {features['share']} >= {features['drift_share']}): {listed}"
        )
    elif reasons and listed:
        reasons.append(f"input features drifted: {listed}")
    ref = summary["reference"]
    against = f"against {ref['kind'].replace('_', ' ')} ({ref['start'][:10]}..{ref['end'][:10]})"
    if reasons:
        return True, "; ".join(reasons) + f"; {against}"
    quiet = f"{features['drifted']} of {features['tested']} input features drifted"
    if features["drifted"]:
        quiet += f" ({listed}; share below {features['drift_share']})"
    checked = "target" + (" and prediction" if prediction else "")
    return False, f"no retrain needed: {checked} stable, {quiet}; {against}"
