"""The year-over-year level: known at forecast time, growth not season, carried to serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SEED
from tests.ml.test_training import small_params

from bikecast.config import LevelParams, Params, TrainParams
from bikecast.data.schema import read_canonical
from bikecast.data.synthetic import grown_city
from bikecast.data.validation import validate_frame
from bikecast.ml.calendar import local_day
from bikecast.ml.features import LEVEL_COLUMN, model_features
from bikecast.ml.level import YEAR_DAYS, LevelTable, level_for
from bikecast.ml.metrics import regression_metrics
from bikecast.ml.model import predict, predict_features
from bikecast.ml.training import fit
from bikecast.stages.features import feature_table

PARAMS = Params(ingest={"source": "replay", "path": "x", "as_of": "2012-12-29T23:00:00Z"})
GROWTH = 1.65


@pytest.fixture(scope="module")
def seed_year() -> pd.DataFrame:
    return validate_frame(read_canonical(SEED)).valid


@pytest.fixture(scope="module")
def two_years(seed_year) -> pd.DataFrame:
    return grown_city(seed_year, GROWTH)


def test_the_first_year_has_no_level_and_the_second_the_growth(seed_year, two_years):
    assert (level_for(seed_year, PARAMS).values == 0).all()  # no year earlier to compare
    table = level_for(two_years, PARAMS)
    level = table.of(two_years["timestamp"])
    start = two_years["timestamp"].min()
    second = two_years["timestamp"] >= start + pd.Timedelta(days=YEAR_DAYS + 56 + 7)
    assert (level[~second][: 24 * 300] == 0).all()
    assert np.exp(level[second]) == pytest.approx(GROWTH, rel=0.05)  # Poisson noise only


def test_no_level_before_the_horizon_sees_a_later_rental(two_years):
    """Every rental from a cutoff on is changed: no hour up to lag_days after the cutoff
    moves, and hours after that do (the check can fail)."""
    cutoff = pd.Timestamp("2012-06-01T04:00Z")
    changed = two_years.copy()
    later = changed["timestamp"] >= cutoff
    changed.loc[later, "rentals"] = changed.loc[later, "rentals"] * 3 + 7
    before = model_features(two_years, level=level_for(two_years, PARAMS))
    after = model_features(changed, level=level_for(changed, PARAMS))
    horizon = local_day(two_years["timestamp"]) <= local_day(pd.Series([cutoff]))[0] + 28
    pd.testing.assert_frame_equal(before[horizon], after[horizon])
    assert not before[LEVEL_COLUMN][~horizon].equals(after[LEVEL_COLUMN][~horizon])


def test_gaps_keep_the_last_known_level_and_extremes_are_clipped(two_years):
    stamps = two_years["timestamp"]
    gap = (stamps >= "2012-05-01") & (stamps < "2012-07-15")  # 10 weeks without data
    table = level_for(two_years[~gap], PARAMS)
    # hours whose window (28 days, ending 28 days before) is mostly in the gap
    inside = table.of(pd.Series(pd.date_range("2012-06-06T16:00Z", "2012-08-10T16:00Z")))
    assert (inside == inside[0]).all() and np.exp(inside[0]) == pytest.approx(GROWTH, rel=0.05)
    boom = two_years.assign(rentals=np.where(stamps.dt.year == 2012, 100_000, 1))
    assert np.exp(level_for(boom, PARAMS).values.max()) == pytest.approx(3.0)


def test_hours_past_the_data_use_the_latest_level_and_the_tail_is_exact(two_years):
    table = level_for(two_years, PARAMS)
    end = two_years["timestamp"].max()
    ahead = pd.Series(pd.date_range(end - pd.Timedelta(days=28), end + pd.Timedelta(days=90),
                                    freq="h"))  # fmt: skip
    tail = LevelTable.from_dict(table.tail(extra_days=28).to_dict())
    np.testing.assert_array_equal(tail.of(ahead), table.of(ahead))  # to the float
    far = pd.Series([end + pd.Timedelta(days=60), end + pd.Timedelta(days=YEAR_DAYS + 56 + 7)])
    assert (table.of(far) == np.float32(table.latest)).all()
    assert table.known_through == str(local_day(pd.Series([end]))[0].astype("datetime64[D]"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"method": "rolling"}, "unknown method"),
        ({"values": []}, "0 values"),
        ({"values": [0.1, None]}, "not finite"),
        ({"days": 0}, "days 0"),
        ({"first_day": "soon"}, "malformed"),
    ],
)
def test_a_malformed_table_is_refused(two_years, change, message):
    good = level_for(two_years, PARAMS).tail().to_dict()
    with pytest.raises(ValueError, match=message):
        LevelTable.from_dict({**good, **change})


def test_a_lag_inside_the_test_window_is_refused():
    with pytest.raises(ValueError, match=r"level.lag_days \(7\) is shorter than split.test_days"):
        Params(**PARAMS.model_dump(by_alias=True) | {"level": {"lag_days": 7}})
    station = {"grain": "station", "level": {"lag_days": 7}, "station": {"history_lag_days": 28}}
    assert not Params(**PARAMS.model_dump(by_alias=True) | station).uses_level


def test_a_growing_city_is_followed_with_the_level_and_not_without(two_years):
    """Fitted through June of the second year, scored on its July-December: the calendar
    alone forecasts last year's level; with the level the bias is small."""
    cutoff = pd.Timestamp("2012-06-29T04:00Z")
    scores = {}
    for method in ("year_over_year", "none"):
        params = PARAMS.model_copy(update={"level": LevelParams(method=method)})
        rows = two_years[two_years["timestamp"] <= cutoff]  # what the model knows
        train = feature_table(rows, level=level_for(rows, params))
        booster = fit(train, TrainParams(n_estimators=200, valid_days=7)).booster
        future = two_years[two_years["timestamp"] > cutoff]
        predicted = predict(booster, future, level=level_for(rows, params))
        scores[method] = regression_metrics(future["rentals"], predicted)
        scores[method]["share"] = scores[method]["bias"] / future["rentals"].mean()
    assert abs(scores["year_over_year"]["share"]) < 0.1, scores
    assert scores["none"]["share"] < -0.25, scores
    assert scores["year_over_year"]["rmsle"] < 0.8 * scores["none"]["rmsle"], scores


def test_the_pipeline_column_and_the_served_features_agree(two_years):
    """A level model predicts the same through the feature table (train, evaluate, compare)
    and from raw inputs with its card's tail (serving), to the float."""
    table = level_for(two_years, PARAMS)
    features = feature_table(two_years, level=table)
    booster = fit(features.iloc[-24 * 120 :], small_params()).booster
    window = two_years.iloc[-24 * 28 :]
    served = predict(booster, window, level=LevelTable.from_dict(table.tail(28).to_dict()))
    np.testing.assert_array_equal(served, predict_features(booster, features.iloc[-24 * 28 :]))
    assert YEAR_DAYS % 7 == 0
