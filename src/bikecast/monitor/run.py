"""`bikecast monitor`: read the log of a window, join the rentals that came true, score,
test drift the way the drift stage does, decide, and write monitor.json and the reports.

The actual rentals come from the pipeline's own source (`ingest` in params.yaml), asked for
what it has at `now` (the live source: what both services publish; replay: its clock), so
an hour counts as soon as the same data a retrain would use holds it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from bikecast import paths
from bikecast.config import Params
from bikecast.data.schema import TIMEZONE
from bikecast.monitor.decision import decide
from bikecast.monitor.report import markdown
from bikecast.monitor.scoring import join_actuals, out_of_range, score
from bikecast.prediction_log.destinations import destination
from bikecast.prediction_log.reader import read_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorResult:
    summary: dict
    markdown: str
    drift_html: str | None


def actuals(params: Params, hours: pd.Series, now: pd.Timestamp) -> tuple[pd.DataFrame, str]:
    """The source's rows for the logged hours that it has at `now`, and how far that is.
    The source is asked from the first logged hour on (the live source: only its months)."""
    from bikecast.data.sources import load_source
    from bikecast.gitops.advance import format_as_of, next_as_of

    first = hours.min()
    window = params.ingest.model_copy(update={"as_of": format_as_of(first - pd.Timedelta("1h"))})
    if params.ingest.source == "capital_bikeshare":
        month = first.tz_convert(TIMEZONE).strftime("%Y-%m")
        window = window.model_copy(
            update={
                "capital_bikeshare": window.capital_bikeshare.model_copy(update={"start": month})
            }
        )
    through = next_as_of(params.model_copy(update={"ingest": window}), now).new
    last = min(hours.max(), through)
    if first > last:
        return pd.DataFrame(columns=["timestamp", "rentals", "station_id"]), format_as_of(through)
    frame = load_source(window.model_copy(update={"as_of": format_as_of(last)}), params.grain)
    frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))
    return frame[frame["timestamp"] >= first], format_as_of(through)


def live_hours(joined: pd.DataFrame) -> pd.DataFrame:
    """One row per scored forecast hour (its last logged inputs and the actual rentals),
    with the model's features from the one feature function: the drift stage's `current`."""
    from bikecast.ml.features import INPUT_COLUMNS, build_features

    scored = joined.dropna(subset=["actual"]).sort_values("request_time")
    hours = scored.drop_duplicates("forecast_hour", keep="last").sort_values("forecast_hour")
    inputs = hours[["forecast_hour", *INPUT_COLUMNS[1:]]].rename(
        columns={"forecast_hour": "timestamp"}
    )
    return pd.concat([inputs[["timestamp"]], build_features(inputs)], axis=1).assign(
        rentals=hours["actual"]
    )


def live_drift(
    joined: pd.DataFrame, reference_path: Path, params: Params
) -> tuple[dict | None, str | None, str]:
    """(drift summary, its page, why not tested) of the live hours against the training
    data, with the drift stage's reference choice, methods and thresholds."""
    if params.grain.is_station:
        return None, None, "station grain: the live log holds the stations asked for, not the city"
    hours = joined.dropna(subset=["actual"])["forecast_hour"].nunique()
    if hours < params.monitor.min_drift_hours:
        needed = params.monitor.min_drift_hours
        return None, None, f"{hours} distinct scored hours (monitor.min_drift_hours {needed})"
    current = live_hours(joined)
    try:
        reference = pd.read_parquet(reference_path)
    except (OSError, ValueError) as exc:
        return None, None, f"no training data to compare with ({reference_path}: {exc})"
    reference = reference[reference["timestamp"] < current["timestamp"].min()]
    if reference.empty:
        return None, None, f"{reference_path} has no hour before the live window"
    from bikecast.ml.drift_report import measure

    result = measure(reference, current, params.drift)
    return result.summary, result.html, ""


def baseline(evaluate_path: Path) -> dict | None:
    try:
        metrics = json.loads(Path(evaluate_path).read_text())
        return {"model_version": metrics["model_version"], "test_rmsle": metrics["model"]["rmsle"]}
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("monitor: %s unreadable: no test RMSLE to compare with", evaluate_path)
        return None


def window(until: date, days: int) -> tuple[date, date]:
    return until - timedelta(days=days - 1), until


def run(
    params: Params,
    log_url: str,
    until: date | None = None,
    now: datetime | None = None,
    reference_path: Path = paths.FEATURES,
    evaluate_path: Path = paths.EVALUATE_METRICS,
) -> MonitorResult:
    """`until`: the last UTC day of requests (default today: the log is dated by the real
    clock); `now`: the source's clock, what it has published (default the real clock)."""
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    start, end = window(until or datetime.now(UTC).date(), params.monitor.window_days)
    dest = destination(log_url)
    logged = read_window(dest, start, end)
    station = params.grain.is_station
    summary: dict = {
        "retrain_recommended": False,
        "reasons": [],
        "notes": [],
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "log": {
            "destination": dest.url,
            "files": logged.files,
            "unreadable": logged.unreadable,
            "duplicate_lines": logged.duplicates,
        },
        "baseline": baseline(evaluate_path),
    }
    frame = logged.frame
    if frame.empty:
        summary["notes"].append(f"no forecasts logged in {dest.url} for {start}..{end}")
        joined, through = frame.assign(actual=pd.Series(dtype="float64")), None
    else:
        truth, through = actuals(params, frame["forecast_hour"], now_ts)
        joined = join_actuals(frame, truth, station)
    drift, drift_html, skipped = live_drift(joined, reference_path, params)
    summary |= {
        "actuals_through": through,
        "errors": score(joined, station),
        "out_of_range": out_of_range(joined),
        "drift": drift,
    }
    if drift is None:
        summary["drift_skipped"] = skipped
    recommended, reasons, notes = decide(summary, params.monitor)
    summary["retrain_recommended"], summary["reasons"] = recommended, reasons
    summary["notes"] += notes
    return MonitorResult(summary, markdown(summary), drift_html)
