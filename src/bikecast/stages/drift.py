"""drift: has the world moved since the data the model learned from? → reports/ + metrics/.

Evidently (0.7 API) scores every compared column; bikecast.drift chooses the like-with-like
reference and turns the scores into metrics/drift.json with a retrain recommendation.
Evidently is imported only inside `evidently_scores`, so nothing else pays its ~8 s import.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bikecast import io, paths
from bikecast.config import DriftParams, Params
from bikecast.drift import Prepared, Score, banner_html, prepare, summarise, with_banner
from bikecast.features import city_totals
from bikecast.model import load_model, predict_features

log = logging.getLogger(__name__)
EMPTY_PAGE = "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body></body></html>"


@dataclass(frozen=True)
class DriftResult:
    summary: dict  # the content of metrics/drift.json
    html: str  # the self-contained report
    prepared: Prepared


def evidently_scores(prepared: Prepared) -> tuple[list[Score], Any]:
    """Run one Evidently report (a ValueDrift per tested column) → scores and the snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    tested = prepared.tested
    columns = [p.column for p in tested]
    definition = DataDefinition(
        numerical_columns=[p.column for p in tested if p.kind == "numerical"],
        categorical_columns=[p.column for p in tested if p.kind == "categorical"],
    )
    features = [p for p in tested if p.role == "feature"]
    metrics: list = []
    if features:
        metrics.append(
            DriftedColumnsCount(
                columns=[p.column for p in features],
                per_column_method={p.column: p.method for p in features},
                per_column_threshold={p.column: p.threshold for p in features},
            )
        )
    metrics += [ValueDrift(column=p.column, method=p.method, threshold=p.threshold) for p in tested]
    with warnings.catch_warnings():
        # numpy's "invalid value in divide" from Evidently's plots of a constant column: the
        # scores are right and the constant column is documented, so keep the log readable
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        snapshot = Report(metrics, include_tests=True).run(
            current_data=Dataset.from_pandas(prepared.current[columns], data_definition=definition),
            reference_data=Dataset.from_pandas(
                prepared.reference[columns], data_definition=definition
            ),
        )
    values = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith(":ValueDrift"):
            values[config["column"]] = float(metric["value"])
    verdicts = {}
    for test in snapshot.tests_results:
        column = test.metric_config.params.get("column")
        if column in values:
            verdicts[column] = test.status.value == "FAIL"
    scores = [Score(c, values[c], verdicts[c]) for c in columns if c in values and c in verdicts]
    return scores, snapshot


def compare(
    train: pd.DataFrame,
    current: pd.DataFrame,
    params: DriftParams,
    booster=None,
) -> DriftResult:
    """Drift of `current` against a like-with-like reference from `train` (both feature tables).

    Tables with a `predicted` column (city totals of a station model) bring their own
    predictions; otherwise the booster, if given, predicts.
    """
    if "predicted" in current.columns:
        predict = lambda frame: frame["predicted"].to_numpy()  # noqa: E731
    elif booster is not None:
        predict = lambda frame: predict_features(booster, frame)  # noqa: E731
    else:
        predict = None
    prepared = prepare(train, current, params, predict)
    if prepared.tested:
        scores, snapshot = evidently_scores(prepared)
        report_html = snapshot.get_html_str(as_iframe=False)
    else:
        scores, report_html = [], EMPTY_PAGE  # nothing to score: the banner says why
    summary = summarise(prepared, scores, params)
    return DriftResult(
        summary, with_banner(report_html, banner_html(summary, prepared.notes)), prepared
    )


def run(params: Params) -> dict:
    train, test = pd.read_parquet(paths.TRAIN), pd.read_parquet(paths.TEST)
    booster, _ = load_model(paths.MODEL, paths.MODEL_META)
    if params.grain == "station":  # the city's weather, calendar, demand and forecast
        train = city_totals(train, predict_features(booster, train))
        test = city_totals(test, predict_features(booster, test))
    result = compare(train, test, params.drift, booster)
    io.write_text(result.html, paths.DRIFT_REPORT)
    io.write_json(result.summary, paths.DRIFT_METRICS)
    features = result.summary["features"]
    log.info(
        "drift: %d of %d features drifted vs %s; retrain_recommended=%s: %s",
        features["drifted"],
        features["tested"],
        result.summary["reference"]["kind"],
        result.summary["retrain_recommended"],
        result.summary["reason"],
    )
    return result.summary
