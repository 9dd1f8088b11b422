import numpy as np
import pandas as pd
import pytest
from tests.conftest import make_canonical

from bikecast.config import TrainParams
from bikecast.data.schema import DataError
from bikecast.ml import baselines
from bikecast.ml.evaluation import plot_tables, score
from bikecast.ml.metrics import regression_metrics, skill
from bikecast.ml.split import split_by_time
from bikecast.ml.training import fit, hour_counts, threads, train_window
from bikecast.stages.features import feature_table


@pytest.fixture(scope="module")
def table():
    return feature_table(make_canonical(hours=24 * 42, start="2011-05-01T04:00Z", seed=3))


def test_split_is_by_time_and_inclusive_of_as_of(table):
    as_of = table["timestamp"].iloc[-25]
    train, test = split_by_time(table, as_of, test_days=7)
    assert test["timestamp"].max() == as_of
    assert len(test) == 7 * 24
    assert train["timestamp"].max() < test["timestamp"].min()
    assert len(train) + len(test) == len(table) - 24


def test_split_errors_are_clear(table):
    with pytest.raises(DataError, match="no rows before"):
        split_by_time(table, table["timestamp"].iloc[-1], test_days=100)
    with pytest.raises(DataError, match="no rows in the test window"):
        split_by_time(table, table["timestamp"].iloc[0] - pd.Timedelta(days=30), test_days=7)


def small_params(**kw):
    return TrainParams(n_estimators=60, early_stopping_rounds=10, valid_days=7, **kw)


def test_training_is_deterministic_to_the_byte(table):
    train, _ = split_by_time(table, table["timestamp"].iloc[-1], test_days=7)
    a = fit(train, small_params()).booster.save_raw("ubj")
    b = fit(train, small_params()).booster.save_raw("ubj")
    assert a == b
    c = fit(train, small_params(seed=7)).booster.save_raw("ubj")
    assert c != a


def test_the_model_is_the_same_whatever_the_thread_count(table, monkeypatch):
    """OMP_NUM_THREADS only sets how fast: the tests run one thread per process (conftest)."""
    train, _ = split_by_time(table, table["timestamp"].iloc[-1], test_days=7)
    models = []
    for count in ("1", "2", "3"):
        monkeypatch.setenv("OMP_NUM_THREADS", count)
        assert threads() == int(count)
        models.append(fit(train, small_params()).booster.save_raw("ubj"))
    assert models[0] == models[1] == models[2]
    for unset in ("", "0", "two"):
        monkeypatch.setenv("OMP_NUM_THREADS", unset)
        assert threads() == 2


def test_training_needs_rows_before_and_inside_the_validation_days(table):
    train, _ = split_by_time(table, table["timestamp"].iloc[-1], test_days=7)
    days = (train["timestamp"].max() - train["timestamp"].min()).days
    with pytest.raises(DataError, match=r"lower train\.valid_days"):
        fit(train, TrainParams(n_estimators=5, valid_days=days + 1))
    with pytest.raises(DataError, match="no rows"):
        fit(train.iloc[:0], small_params())


def test_train_window_from_hour_counts(table):
    counts = hour_counts(table["timestamp"])
    assert train_window(counts) == {
        "train_start": table["timestamp"].min().isoformat(),
        "train_end": table["timestamp"].max().isoformat(),
        "train_rows": len(table),
    }


def test_training_learns_the_daily_rhythm(table):
    train, test = split_by_time(table, table["timestamp"].iloc[-1], test_days=7)
    fitted = fit(train, small_params())
    predicted = np.expm1(fitted.booster.inplace_predict(test[list(fitted.booster.feature_names)]))
    metrics = score(test, train, table, np.clip(predicted, 0, None))
    assert metrics["model"]["rmsle"] < metrics["baselines"]["seasonal_naive"]["rmsle"]
    assert set(metrics) == {"model", "baselines", "skill", "test_window"}
    assert metrics["test_window"]["rows"] == len(test)
    assert 0 < fitted.rounds <= 60
    assert fitted.window["train_rows"] == len(train)
    assert len(fitted.curves["valid"]) >= fitted.rounds


def test_metrics_and_skill():
    m = regression_metrics([0, 10, 20], [0, 10, 20])
    assert m == {"rmse": 0.0, "mae": 0.0, "rmsle": 0.0, "r2": 1.0, "bias": 0.0}
    m = regression_metrics([10, 10], [12, 14])
    assert m["bias"] == 3.0 and m["mae"] == 3.0
    assert skill(0.3, 0.6) == 0.5
    with pytest.raises(ValueError):
        regression_metrics([1, 2], [1])


def test_baselines():
    stamps = pd.date_range("2011-06-01", periods=24 * 14, freq="h", tz="UTC")
    history = pd.DataFrame(
        {
            "timestamp": stamps,
            "rentals": np.arange(len(stamps)),
            "hour": stamps.hour,
            "working_day": 1,
        }
    )
    train, target = history.iloc[: 24 * 7], history.iloc[24 * 7 :]
    naive = baselines.seasonal_naive(history, target, train)
    assert (naive == target["rentals"].to_numpy() - 168).all()
    mean = baselines.hour_workingday_mean(train, target)
    assert mean[0] == train[train["hour"] == 0]["rentals"].mean()
    # a week-ago hour missing from history falls back to the hour x working-day mean
    gappy = history.drop(index=[0])
    assert baselines.seasonal_naive(gappy, target, train)[0] == mean[0]


def test_plot_tables(table):
    _, test = split_by_time(table, table["timestamp"].iloc[-1], test_days=2)
    predictions, by_hour = plot_tables(test, test["rentals"].to_numpy() + 1.0)
    assert list(predictions.columns) == ["timestamp", "actual", "predicted"]
    assert len(by_hour) == 24
    assert (by_hour["mean_residual"] == 1.0).all()
