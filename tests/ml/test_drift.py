"""bikecast.ml.drift (reference choice, summary, retrain rule) and the page helpers of
bikecast.ml.drift_report (banner, stable ids): no Evidently here."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bikecast.config import ConfigError, DriftParams
from bikecast.data.schema import DataError
from bikecast.ml.drift import PREDICTION, TARGET, Score, prepare, select_reference, summarise
from bikecast.ml.drift_report import RANDOM_IDS, banner_html, stable_ids, with_banner
from bikecast.ml.features import FEATURE_COLUMNS

TESTED = [c for c in FEATURE_COLUMNS if c not in DriftParams().exclude]


def hours(start: str, days: int, **values) -> pd.DataFrame:
    """A feature table of `days` of hourly rows, every feature set to a plain value."""
    stamps = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    frame = pd.DataFrame({"timestamp": stamps, "rentals": 100.0})
    for column in FEATURE_COLUMNS:
        frame[column] = 1.0
    frame["hour"] = stamps.hour.astype(float)
    frame["weekday"] = stamps.weekday.astype(float)
    frame["temp_c"] = np.linspace(0, 10, len(frame))
    for column, value in values.items():
        frame[column] = value
    return frame


def test_year_ago_window_is_the_reference_when_train_covers_it():
    train = hours("2011-01-01", 400)
    current = hours("2012-02-06", 28)
    reference, window = select_reference(train, current, DriftParams())
    assert window.kind == "same_window_last_year"
    shift = pd.Timedelta(days=364)
    assert reference["timestamp"].min() == current["timestamp"].min() - shift
    assert reference["timestamp"].max() == current["timestamp"].max() - shift
    # 52 weeks back: the same weekday mix, so weekday cannot drift by construction
    assert (reference["weekday"].to_numpy() == current["weekday"].to_numpy()).all()


def test_recent_weeks_are_the_reference_without_a_year_of_history():
    train = hours("2011-06-01", 100)
    current = hours("2011-09-09", 28)
    reference, window = select_reference(train, current, DriftParams(reference_days=14))
    assert window.kind == "recent_weeks"
    assert len(reference) == 14 * 24
    assert reference["timestamp"].max() == train["timestamp"].max()
    assert "below 90%" in window.note


def test_forced_reference_kinds():
    train, current = hours("2011-06-01", 100), hours("2011-09-09", 28)
    reference, window = select_reference(train, current, DriftParams(reference="train"))
    assert window.kind == "train_split" and len(reference) == len(train)
    with pytest.raises(DataError, match="year_ago but the train split covers only 0%"):
        select_reference(train, current, DriftParams(reference="year_ago"))


def test_empty_windows_are_clear_errors():
    train, current = hours("2011-06-01", 100), hours("2011-09-09", 28)
    with pytest.raises(DataError, match=r"current window .* has no rows"):
        select_reference(train, current.iloc[:0], DriftParams())
    with pytest.raises(DataError, match="train split has no rows"):
        select_reference(train.iloc[:0], current, DriftParams())


def test_missing_columns_are_named():
    train, current = hours("2011-06-01", 60), hours("2011-07-31", 7)
    with pytest.raises(DataError, match=r"current window lacks columns \['temp_c'\]"):
        prepare(train, current.drop(columns="temp_c"), DriftParams())
    with pytest.raises(DataError, match=r"train split lacks columns \['rentals'\]"):
        prepare(train.drop(columns="rentals"), current, DriftParams())


def test_unknown_excluded_column_names_params_yaml():
    with pytest.raises(ConfigError, match=r"drift.exclude: \['moon_phase'\]"):
        prepare(
            hours("2011-06-01", 60), hours("2011-07-31", 7), DriftParams(exclude=("moon_phase",))
        )


def test_prepare_plans_every_column_and_flags_missing_and_unseen():
    train = hours("2011-06-01", 60, weather_code=0.0)
    current = hours("2011-07-31", 7, weather_code=3.0, wind_kmh=np.nan)
    prepared = prepare(train, current, DriftParams(), predict=lambda f: f["rentals"] * 2)
    plans = {p.column: p for p in prepared.plans}
    assert "month" not in plans and "day_of_year" not in plans
    assert prepared.excluded == ("month", "day_of_year", "days_to_holiday")  # the defaults
    assert plans[TARGET].role == "target" and plans[PREDICTION].role == "prediction"
    assert plans["wind_kmh"].status == "all_missing_in_current"
    assert plans["weather_code"].unseen == ("heavy_precip",)
    assert set(prepared.current["weather_code"]) == {"heavy_precip"}  # labels, not codes
    assert prepared.current[TARGET].iloc[0] == pytest.approx(np.log1p(100))
    assert any("wind_kmh is all missing in the current window" in n for n in prepared.notes)
    assert "wind_kmh" not in [p.column for p in prepared.tested]


def _summary(scores: dict[str, tuple[float, bool]], params=None, predict=True) -> dict:
    train, current = hours("2011-06-01", 60), hours("2011-07-31", 7)
    params = params or DriftParams()
    prepared = prepare(
        train, current, params, predict=(lambda f: f["rentals"]) if predict else None
    )
    given = [Score(c, *scores.get(c, (0.01, False))) for c in (p.column for p in prepared.tested)]
    return summarise(prepared, given, params)


def test_quiet_window_is_not_flagged_and_summary_is_strict_json():
    summary = _summary({})
    assert summary["retrain_recommended"] is False
    assert summary["reason"].startswith("no retrain needed: target and prediction stable")
    assert summary["features"] == {
        "tested": len(TESTED),
        "drifted": 0,
        "share": 0.0,
        "drift_share": 0.5,
        "drifted_columns": [],
        "excluded": ["month", "day_of_year", "days_to_holiday"],
    }
    assert summary["target"]["distance"] == 0.01 and summary["target"]["scale"] == "log1p"
    json.dumps(summary, allow_nan=False)


def test_target_drift_alone_recommends_retrain():
    summary = _summary({TARGET: (0.9, True), "temp_c": (3.0, True)})
    assert summary["retrain_recommended"] is True
    assert "demand moved: log1p(rentals) (wasserstein 0.9 >= 0.5)" in summary["reason"]
    assert "input features drifted: temp_c (wasserstein 3.0 >= 1.0)" in summary["reason"]


def test_prediction_drift_recommends_retrain():
    summary = _summary({PREDICTION: (0.7, True)})
    assert summary["retrain_recommended"] is True
    assert "model output moved" in summary["reason"]


def test_feature_share_rule():
    few = {c: (2.0, True) for c in ("temp_c", "feels_like_c")}
    assert _summary(few)["retrain_recommended"] is False
    assert f"2 of {len(TESTED)} input features drifted" in _summary(few)["reason"]
    half = math.ceil(len(TESTED) / 2)
    summary = _summary({c: (2.0, True) for c in TESTED[:half]})
    assert summary["retrain_recommended"] is True
    share = round(half / len(TESTED), 4)
    assert (
        f"{half} of {len(TESTED)} input features drifted (share {share} >= 0.5)"
        in (summary["reason"])
    )


def test_p_value_methods_report_p_values():
    params = DriftParams(num_method="ks", num_threshold=0.05)
    summary = _summary({"temp_c": (0.001, True)}, params=params)
    assert summary["columns"]["temp_c"] == {
        "kind": "numerical",
        "method": "ks",
        "p_value": 0.001,
        "threshold": 0.05,
        "drifted": True,
    }
    assert "distance" in summary["columns"]["hour"]


def test_without_a_model_prediction_is_null():
    summary = _summary({}, predict=False)
    assert summary["prediction"] is None
    assert summary["reason"].startswith("no retrain needed: target stable")


def test_all_missing_column_counts_as_drifted():
    train, current = hours("2011-06-01", 60), hours("2011-07-31", 7, humidity_pct=np.nan)
    prepared = prepare(train, current, DriftParams())
    scores = [Score(p.column, 0.0, False) for p in prepared.tested]
    summary = summarise(prepared, scores, DriftParams())
    assert summary["columns"]["humidity_pct"] == {
        "kind": "numerical",
        "method": "wasserstein",
        "status": "all_missing_in_current",
        "threshold": 1.0,
        "drifted": True,
    }
    assert summary["features"]["drifted_columns"] == ["humidity_pct"]
    assert "humidity_pct is all missing in current" in summary["reason"]


def test_missing_evidently_score_is_an_error_not_a_silent_gap():
    train, current = hours("2011-06-01", 60), hours("2011-07-31", 7)
    prepared = prepare(train, current, DriftParams())
    with pytest.raises(RuntimeError, match="no score for"):
        summarise(prepared, [], DriftParams())


def test_banner_goes_after_body_and_escapes():
    summary = _summary({TARGET: (0.9, True)})
    banner = banner_html(summary, ["weather_code: ['<script>'] never seen"])
    assert "<script>" not in banner and "&lt;script&gt;" in banner
    assert "Retrain recommended" in banner
    page = with_banner(
        "<html><head></head><body class='x'><div id='root'></div></body></html>", banner
    )
    assert page.index("bikecast-drift-summary") < page.index("id='root'")
    assert page.index("<body class='x'>") < page.index("bikecast-drift-summary")
    with pytest.raises(RuntimeError, match="no <body> tag"):
        with_banner("<html></html>", banner)


def evidently_like_page(seed: int) -> str:
    """A page shaped like Evidently's: a uuid4-hex dashboard id used three times, uuid7
    widget ids (one referenced twice), and a library holding constant UUIDs of its own."""
    import uuid

    rng = np.random.default_rng(seed)

    def random_uuid(version: int) -> str:
        text = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        return text[:14] + str(version) + text[15:]

    dashboard = random_uuid(4).replace("-", "")
    widgets = [random_uuid(7) for _ in range(3)]
    library = (
        "NIL='00000000-0000-0000-0000-000000000000';DNS='6ba7b810-9dad-11d1-80b4-00c04fd430c8'"
    )
    data = ", ".join(f'{{"id": "{w}"}}' for w in widgets) + f', {{"graph": "{widgets[0]}"}}'
    return (
        f"<html><head><script>var metric_{dashboard} = [{data}];</script></head><body>"
        f'<div id="root_metric_{dashboard}"></div><script>{library}</script>'
        f"<script>drawDashboard(metric_{dashboard}, 'root_metric_{dashboard}')</script></body>"
    )


def test_stable_ids_make_evidentlys_random_ids_a_function_of_the_page():
    first, second = evidently_like_page(seed=1), evidently_like_page(seed=2)
    assert first != second  # same content, other random ids: two runs of Evidently
    assert stable_ids(first) == stable_ids(second)
    page = stable_ids(first)
    # each id is replaced the same way everywhere: as many distinct ids, each as often
    before, after = RANDOM_IDS.findall(first), RANDOM_IDS.findall(page)
    assert sorted(map(before.count, set(before))) == sorted(map(after.count, set(after)))
    assert len(set(after)) == 4 and not set(before) & set(after)
    assert "NIL='00000000-0000-0000-0000-000000000000'" in page  # the library is untouched
    assert "6ba7b810-9dad-11d1-80b4-00c04fd430c8" in page
    assert stable_ids(page) == page  # the new ids keep the shape of the old ones
    other = first.replace('"graph"', '"chart"')
    assert not set(RANDOM_IDS.findall(stable_ids(other))) & set(after)  # another page


def test_light_modules_do_not_import_evidently():
    """Evidently costs ~8 s to import: the CLI, the model (and so the API) must not pay it."""
    code = (
        "import sys, bikecast.cli, bikecast.ml.model, bikecast.serve, bikecast.config, "
        "bikecast.ml.drift, bikecast.ml.drift_report, bikecast.stages.drift\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'evidently'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
