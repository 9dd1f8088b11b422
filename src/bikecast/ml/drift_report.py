"""The drift report: Evidently's scores of the prepared columns, and the self-contained page
(bikecast's summary banner on top of Evidently's report) with stable element ids.

Evidently is imported only inside `evidently_scores` (~8 s), so nothing else pays for it.
Evidently's page names its elements with random ids; `stable_ids` makes them a function of
the page, so the same inputs write the same bytes (and a rerun leaves dvc.lock unchanged).
"""

from __future__ import annotations

import hashlib
import html
import re
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bikecast.config import DriftParams
from bikecast.ml.drift import Prepared, Score, prepare, summarise
from bikecast.ml.model import predict_features


def banner_html(summary: dict, notes: list[str]) -> str:
    """A plain HTML block (no scripts) put at the top of the Evidently report."""
    verdict = "Retrain recommended" if summary["retrain_recommended"] else "No retrain needed"
    colour = "#b3261e" if summary["retrain_recommended"] else "#1b6e20"
    ref, cur = summary["reference"], summary["current"]
    rows = [
        f"<b>Reference</b>: {ref['kind']} {ref['start']} .. {ref['end']} ({ref['rows']} rows)"
        + (f" — {html.escape(ref['note'])}" if ref.get("note") else ""),
        f"<b>Current</b>: {cur['start']} .. {cur['end']} ({cur['rows']} rows)",
        f"<b>Not compared</b> (drift by construction): {', '.join(summary['features']['excluded'])}"
        if summary["features"]["excluded"]
        else "",
        "<b>Target and prediction</b> are compared as log1p, the scale the model is fitted on.",
        *[f"<b>Note</b>: {html.escape(note)}" for note in notes],
    ]
    items = "".join(f"<li>{row}</li>" for row in rows if row)
    return (
        '<section id="bikecast-drift-summary" style="font-family:sans-serif;margin:16px 24px;'
        f'padding:12px 16px;border-left:6px solid {colour};background:#f6f6f6">'
        f'<h2 style="margin:0 0 8px;color:{colour}">bikecast drift: {verdict}</h2>'
        f"<p>{html.escape(summary['reason'])}</p><ul>{items}</ul></section>"
    )


# Evidently 0.7 names the page's elements with random ids: the dashboard `metric_` + uuid4 hex
# (a JS variable, `root_` div and `drawDashboard` argument) and a uuid7 per widget, tab and
# graph. Only those two shapes: the embedded JS library holds constant UUIDs of its own.
RANDOM_IDS = re.compile(
    r"(?<=metric_)[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def stable_ids(page: str) -> str:
    """The page with each random id replaced by a stable one, the same everywhere it occurs.

    A new id is a digest of the page with its ids blanked (another report gets other ids) and
    a counter in order of first occurrence (ids stay unique within the page), in the shape of
    the id it replaces: the same inputs give a byte-identical report, so DVC sees no change.
    """
    digest = hashlib.sha256(RANDOM_IDS.sub("", page).encode()).hexdigest()
    new: dict[str, str] = {}

    def shaped(version: int, n: int) -> str:
        d = digest
        return f"{d[:8]}-{d[8:12]}-{version}{d[12:15]}-8{d[15:18]}-{n:012x}"

    def replace(match: re.Match) -> str:
        old = match[0]
        if old not in new:
            n = len(new) + 1
            new[old] = shaped(7, n) if "-" in old else shaped(4, n).replace("-", "")
        return new[old]

    return RANDOM_IDS.sub(replace, page)


def with_banner(report_html: str, banner: str) -> str:
    """Insert `banner` right after <body>; fail loudly if Evidently's HTML changed shape."""
    marker = report_html.find("<body")
    close = report_html.find(">", marker)
    if marker < 0 or close < 0:
        raise RuntimeError("drift: Evidently's HTML has no <body> tag to put the summary in")
    return report_html[: close + 1] + banner + report_html[close + 1 :]


# --- scoring through Evidently ---------------------------------------------------------------

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


def measure(
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
        report_html = stable_ids(snapshot.get_html_str(as_iframe=False))
    else:
        scores, report_html = [], EMPTY_PAGE  # nothing to score: the banner says why
    summary = summarise(prepared, scores, params)
    return DriftResult(
        summary, with_banner(report_html, banner_html(summary, prepared.notes)), prepared
    )
