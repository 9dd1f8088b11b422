"""validate: schema, range, duplicate and continuity checks → data/interim/.

Bad rows are not dropped silently: each goes to data/quarantine/rejected.csv with the
reasons it failed. The stage fails when the bad fraction exceeds
`validate.max_bad_fraction` or too many hours are missing (`validate.max_missing_fraction`).
"""

from __future__ import annotations

import ast
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

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
from bikecast.grain import Grain

log = logging.getLogger(__name__)
FLOAT_COLUMNS = ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")
WEATHER_GAP = "weather gap: "  # a weather value the source did not have (archive gap)
SHOWN_KINDS = 3  # reasons counted in a threshold error; the rest are summed up
SHOWN_ROWS = 2  # example rows in a threshold error
SHOWN_CHARS = 40  # of an offending text value; the quarantine CSV keeps the whole row


@dataclass(frozen=True)
class Validated:
    valid: pd.DataFrame  # typed canonical rows, sorted by timestamp
    quarantine: pd.DataFrame  # the original values of rejected rows + a `reason` column
    report: dict
    # row → its reasons in order: (kind, the offending value as shown, None when missing)
    reasons: dict[int, list[tuple[str, str | None]]] = field(default_factory=dict)


class _Missing:
    """The value of a reason about a missing value: there is nothing to show."""


MISSING = _Missing()
Reasons = dict[int, list[tuple[str, object]]]  # row → [(column: problem, offending value)]


def _missing(column: str) -> str:
    if column in FLOAT_COLUMNS or column == "weather":
        return f"{WEATHER_GAP}{column} missing"
    return f"{column}: missing"


def _plain_check(check: str) -> str:
    """A pandera check name in plain words: in_range(0, 100) → outside 0..100."""
    if match := re.fullmatch(r"in_range\((.+), (.+)\)", check):
        return f"outside {match[1]}..{match[2]}"
    if match := re.fullmatch(r"greater_than_or_equal_to\((.+)\)", check):
        return f"below {match[1]}"
    if match := re.fullmatch(r"str_length\((.+), (.+)\)", check):
        return f"length not in {match[1]}..{match[2]}"
    if match := re.fullmatch(r"isin\((.+)\)", check):
        try:
            allowed = ast.literal_eval(match[1])
        except (ValueError, SyntaxError):
            return check
        return f"not one of {', '.join(str(a) for a in allowed)}"
    return check


def _shown(value: object) -> str:
    """An offending value as a person reads it: 150.0, 'sunny', 2011-06-01T05:30:00+00:00."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _Plain) or not isinstance(value, str):
        return str(value)
    return repr(value) if len(value) <= SHOWN_CHARS else f"{value[:SHOWN_CHARS]!r}..."


class _Plain(str):
    """A value already in words (several columns of a row): shown without quotes."""


def _row_values(typed: pd.DataFrame, row: int, check: str) -> object:
    """What a check across columns saw: the counts for the sum check, else the timestamp."""
    if "rentals" in check:
        counts = typed.loc[row, list(COUNT_COLUMNS)].astype("int64").tolist()
        return _Plain("rentals {} vs casual {} + registered {}".format(*counts))
    return typed.at[row, "timestamp"]


def _describe(kind: str, shown: str | None) -> str:
    return kind if shown is None else f"{kind} (got {shown})"


def _example(kind: str, shown: str | None) -> str:
    """A reason as an example after its count: `temp_c missing`, `humidity_pct 150.0`."""
    subject, _, problem = kind.partition(": ")
    if shown is None:
        return problem if subject == WEATHER_GAP.removesuffix(": ") else kind
    return shown if subject == "row" else f"{subject} {shown}"


def _merge_weather_gaps(why: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """A row's missing weather values as one reason: `weather gap: temp_c, wind_kmh missing`."""
    gaps = [k for k, _ in why if k.startswith(WEATHER_GAP)]
    if len(gaps) < 2:
        return why
    columns = ", ".join(k.removeprefix(WEATHER_GAP).removesuffix(" missing") for k in gaps)
    merged = []
    for kind, value in why:
        if kind == gaps[0]:
            merged.append((f"{WEATHER_GAP}{columns} missing", MISSING))
        elif not kind.startswith(WEATHER_GAP):
            merged.append((kind, value))
    return merged


def _coerce(raw: pd.DataFrame, grain: Grain) -> tuple[pd.DataFrame, Reasons]:
    """Type every column; values that cannot be typed become reasons, not exceptions."""
    reasons: Reasons = {}

    def flag(column: str, mask: pd.Series, problem: str) -> None:
        for idx in mask[mask].index:
            value = raw.at[idx, column]
            if pd.isna(value):
                reasons.setdefault(idx, []).append((_missing(column), MISSING))
            else:
                reasons.setdefault(idx, []).append((f"{column}: {problem}", value))

    typed = pd.DataFrame(index=raw.index)
    typed["timestamp"] = parse_timestamps(raw["timestamp"])
    flag("timestamp", typed["timestamp"].isna(), "not ISO-8601 with a UTC offset")
    if grain.is_station:
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


def _schema_reasons(typed: pd.DataFrame, grain: Grain) -> Reasons:
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
                kind, value = f"row: {case.check}", _row_values(typed, int(case.index), case.check)
            elif case.check == "not_nullable":
                kind, value = _missing(case.column), MISSING
            else:
                kind, value = f"{case.column}: {_plain_check(case.check)}", case.failure_case
            if (kind, value) not in row:
                row.append((kind, value))
        return reasons
    return {}


def _continuity(valid: pd.DataFrame, grain: Grain) -> dict:
    """Missing hours between the first and last row (of each station, at station grain)."""
    if valid.empty:
        return {"missing_hours": 0, "missing_fraction": 0.0, "longest_gap_hours": 0}
    series = valid.groupby(list(grain.by))["timestamp"] if grain.by else valid["timestamp"]
    hour = pd.Timedelta(hours=1)
    first, last = series.min(), series.max()
    expected = (
        int(((last - first) / hour + 1).sum()) if grain.by else int((last - first) / hour + 1)
    )
    steps = series.diff().dropna() / hour
    return {
        "missing_hours": expected - len(valid),
        "missing_fraction": round((expected - len(valid)) / expected, 6),
        "longest_gap_hours": int(max(steps.max() - 1, 0)) if len(steps) else 0,
    }


def validate_frame(raw: pd.DataFrame, grain: Grain | str = Grain.CITY) -> Validated:
    """Split raw rows into valid typed rows and quarantined rows with reasons."""
    grain = Grain(grain)
    raw = raw.reset_index(drop=True)
    typed, reasons = _coerce(raw, grain)
    clean = typed.drop(index=list(reasons))
    for idx, why in _schema_reasons(clean, grain).items():
        reasons.setdefault(idx, []).extend(why)
    keys = list(grain.keys)
    dupes = typed["timestamp"].notna() & typed.duplicated(keys, keep=False)
    what = "station-hour" if grain.is_station else "hour"
    for idx in dupes[dupes].index:
        reasons.setdefault(idx, []).append(
            (f"timestamp: duplicated {what}, every copy rejected", raw.at[idx, "timestamp"])
        )

    reasons = {idx: _merge_weather_gaps(why) for idx, why in reasons.items()}
    bad = sorted(reasons)
    valid = (
        typed.drop(index=bad)
        .astype({c: "int64" for c in COUNT_COLUMNS})
        .sort_values(keys, ignore_index=True)[list(columns(grain))]
    )
    shown = {i: [(k, None if v is MISSING else _shown(v)) for k, v in reasons[i]] for i in bad}
    quarantine = raw.loc[bad].assign(
        reason=["; ".join(_describe(kind, value) for kind, value in shown[i]) for i in bad]
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
        **({"stations": int(valid["station_id"].nunique())} if grain.is_station else {}),
    }
    return Validated(valid=valid, quarantine=quarantine, report=report, reasons=shown)


def summary(result: Validated) -> str:
    """The reasons on one line: counts of the commonest, then a couple of example rows."""
    kinds = list(result.report["reasons"].items())
    counts = ", ".join(f"{kind} ({n} row{'s' * (n != 1)})" for kind, n in kinds[:SHOWN_KINDS])
    if len(kinds) > SHOWN_KINDS:
        more = len(kinds) - SHOWN_KINDS
        counts += f" and {more} more kind{'s' * (more != 1)}"
    examples = []
    for kind, _ in kinds[:SHOWN_ROWS]:  # the first row of each of the commonest reasons
        for row, why in result.reasons.items():
            hit = next((value for k, value in why if k == kind), False)
            if hit is not False:
                when = _row_time(result.quarantine, row)
                examples.append(f"row {row} ({when}): {_example(kind, hit)}")
                break
    return f"{counts}; e.g. {'; '.join(examples)}" if examples else counts


def _row_time(quarantine: pd.DataFrame, row: int) -> str:
    raw = quarantine.at[row, "timestamp"]
    stamp = parse_timestamps(pd.Series([raw]))[0]
    return _shown(raw) if pd.isna(stamp) else stamp.strftime("%Y-%m-%dT%H:%MZ")


def check_thresholds(result: Validated, params: ValidateParams, where: str) -> None:
    report = result.report
    if report["valid_rows"] == 0:
        raise DataError(f"{where}: no valid rows ({report['rows']} rejected): {summary(result)}")
    if report["bad_fraction"] > params.max_bad_fraction:
        raise DataError(
            f"{where}: {report['quarantined_rows']} of {report['rows']} rows are bad "
            f"({report['bad_fraction']:.2%} > validate.max_bad_fraction "
            f"{params.max_bad_fraction:.2%}): {summary(result)}"
        )
    if report["missing_fraction"] > params.max_missing_fraction:
        raise DataError(
            f"{where}: {report['missing_hours']} hours are missing between {report['first']} "
            f"and {report['last']} ({report['missing_fraction']:.2%} > "
            f"validate.max_missing_fraction {params.max_missing_fraction:.2%}; longest gap "
            f"{report['longest_gap_hours']} h)"
        )
