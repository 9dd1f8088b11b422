"""validate: schema, range, duplicate and continuity checks → data/interim/.

Bad rows are not dropped silently: each goes to data/quarantine/rejected.csv with the
reasons it failed. The stage fails when the bad fraction exceeds
`validate.max_bad_fraction` or too many hours are missing (`validate.max_missing_fraction`).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bikecast.config import ValidateParams
from bikecast.data.schema import (
    COUNT_COLUMNS,
    DataError,
    canonical_schema,
    columns,
    parse_timestamps,
)

log = logging.getLogger(__name__)
FLOAT_COLUMNS = ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")


@dataclass(frozen=True)
class Validated:
    valid: pd.DataFrame  # typed canonical rows, sorted by timestamp
    quarantine: pd.DataFrame  # the original values of rejected rows + a `reason` column
    report: dict


Reasons = dict[int, list[tuple[str, object]]]  # row → [(column: problem, offending value)]


def _coerce(raw: pd.DataFrame, grain: str) -> tuple[pd.DataFrame, Reasons]:
    """Type every column; values that cannot be typed become reasons, not exceptions."""
    reasons: Reasons = {}

    def flag(column: str, mask: pd.Series, problem: str) -> None:
        for idx in mask[mask].index:
            reasons.setdefault(idx, []).append((f"{column}: {problem}", raw.at[idx, column]))

    typed = pd.DataFrame(index=raw.index)
    typed["timestamp"] = parse_timestamps(raw["timestamp"])
    flag("timestamp", typed["timestamp"].isna(), "not ISO-8601 with a UTC offset")
    if grain == "station":
        station = raw["station_id"].astype("string").str.strip()
        flag("station_id", station.isna() | (station == ""), "empty")
        typed["station_id"] = station.astype(object)
        for column in ("latitude", "longitude"):  # may be empty: the old trip layout has none
            text = raw[column].astype("string").str.strip()
            values = pd.to_numeric(text, errors="coerce").astype("float64")
            flag(column, text.notna() & (text != "") & ~np.isfinite(values), "not a number")
            typed[column] = values.where(np.isfinite(values))
    for column in COUNT_COLUMNS:
        values = pd.to_numeric(raw[column], errors="coerce").astype("float64")
        flag(column, values.isna(), "not a number")
        fractional = values.notna() & (values != np.round(values))
        flag(column, fractional, "not a whole number")
        typed[column] = values.where(~fractional)
    for column in FLOAT_COLUMNS:
        values = pd.to_numeric(raw[column], errors="coerce").astype("float64")
        flag(column, ~np.isfinite(values), "not a finite number")
        typed[column] = values.where(np.isfinite(values))
    typed["weather"] = raw["weather"].astype("string").str.strip().astype(object)
    return typed, reasons


def _schema_reasons(typed: pd.DataFrame, grain: str) -> Reasons:
    """Run the pandera schema lazily and turn every failure case into a row reason."""
    import pandera.errors

    typed = typed.astype({c: "int64" for c in COUNT_COLUMNS})
    try:
        canonical_schema(grain).validate(typed, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        reasons: Reasons = {}
        cases = exc.failure_cases
        for case in cases.itertuples(index=False):
            if pd.isna(case.index):
                raise DataError(f"schema check failed for the whole frame: {case.check}") from exc
            row = reasons.setdefault(int(case.index), [])
            if case.schema_context == "DataFrameSchema":  # a check across columns
                kind, value = f"row: {case.check}", typed.at[int(case.index), "timestamp"]
            else:
                kind, value = f"{case.column}: {case.check}", case.failure_case
            if (kind, value) not in row:
                row.append((kind, value))
        return reasons
    return {}


def _continuity(valid: pd.DataFrame, grain: str) -> dict:
    """Missing hours between the first and last row (of each station, at station grain)."""
    if valid.empty:
        return {"missing_hours": 0, "missing_fraction": 0.0, "longest_gap_hours": 0}
    series = valid.groupby("station_id")["timestamp"] if grain == "station" else valid["timestamp"]
    hour = pd.Timedelta(hours=1)
    first, last = series.min(), series.max()
    expected = (
        int(((last - first) / hour + 1).sum())
        if grain == "station"
        else int((last - first) / hour + 1)
    )
    steps = series.diff().dropna() / hour
    return {
        "missing_hours": expected - len(valid),
        "missing_fraction": round((expected - len(valid)) / expected, 6),
        "longest_gap_hours": int(max(steps.max() - 1, 0)) if len(steps) else 0,
    }


def validate_frame(raw: pd.DataFrame, grain: str = "city") -> Validated:
    """Split raw rows into valid typed rows and quarantined rows with reasons."""
    raw = raw.reset_index(drop=True)
    typed, reasons = _coerce(raw, grain)
    clean = typed.drop(index=list(reasons))
    for idx, why in _schema_reasons(clean, grain).items():
        reasons.setdefault(idx, []).extend(why)
    keys = ["timestamp", "station_id"] if grain == "station" else ["timestamp"]
    dupes = typed["timestamp"].notna() & typed.duplicated(keys, keep=False)
    what = "station-hour" if grain == "station" else "hour"
    for idx in dupes[dupes].index:
        reasons.setdefault(idx, []).append(
            (f"timestamp: duplicated {what}, every copy rejected", raw.at[idx, "timestamp"])
        )

    bad = sorted(reasons)
    valid = (
        typed.drop(index=bad)
        .astype({c: "int64" for c in COUNT_COLUMNS})
        .sort_values(keys, ignore_index=True)[list(columns(grain))]
    )
    quarantine = raw.loc[bad].assign(
        reason=["; ".join(f"{kind} (got {value!r})" for kind, value in reasons[i]) for i in bad]
    )
    kinds = Counter(kind for i in bad for kind, _ in reasons[i])
    report = {
        "rows": len(raw),
        "valid_rows": len(valid),
        "quarantined_rows": len(bad),
        "bad_fraction": round(len(bad) / len(raw), 6) if len(raw) else 0.0,
        "reasons": dict(kinds.most_common()),
        "first": valid["timestamp"].iloc[0].isoformat() if len(valid) else None,
        "last": valid["timestamp"].iloc[-1].isoformat() if len(valid) else None,
        **_continuity(valid, grain),
        **({"stations": int(valid["station_id"].nunique())} if grain == "station" else {}),
    }
    return Validated(valid=valid, quarantine=quarantine, report=report)


def check_thresholds(result: Validated, params: ValidateParams, where: str) -> None:
    report = result.report
    if report["valid_rows"] == 0:
        raise DataError(f"{where}: no valid rows ({report['rows']} rejected): {report['reasons']}")
    if report["bad_fraction"] > params.max_bad_fraction:
        examples = "\n".join(
            f"  row {i}: {r}" for i, r in result.quarantine["reason"].head(5).items()
        )
        raise DataError(
            f"{where}: {report['quarantined_rows']} of {report['rows']} rows are bad "
            f"({report['bad_fraction']:.2%} > validate.max_bad_fraction "
            f"{params.max_bad_fraction:.2%}). Reasons: {report['reasons']}\n{examples}"
        )
    if report["missing_fraction"] > params.max_missing_fraction:
        raise DataError(
            f"{where}: {report['missing_hours']} hours are missing between {report['first']} "
            f"and {report['last']} ({report['missing_fraction']:.2%} > "
            f"validate.max_missing_fraction {params.max_missing_fraction:.2%}; longest gap "
            f"{report['longest_gap_hours']} h)"
        )
