"""The loop replayed over history, on the real seed: each origin's served model forecasts
hours it never saw, with the pipeline's own split and fit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.ml.test_training import small_params

from bikecast.config import IngestParams, Params, SplitParams
from bikecast.data.schema import DataError, read_canonical
from bikecast.data.validation import validate_frame
from bikecast.ml import backtest
from bikecast.ml.features import FEATURE_COLUMNS
from bikecast.ml.training import fit
from bikecast.stages.features import feature_table

SEED = Path(__file__).resolve().parents[2] / "data" / "seed" / "bikeshare_dc_2011.csv.gz"
START = pd.Timestamp("2011-06-01T04:00Z")
END = START + pd.Timedelta(weeks=3)


@pytest.fixture(scope="module")
def table():
    valid = validate_frame(read_canonical(SEED)).valid
    return feature_table(valid[valid["timestamp"] < pd.Timestamp("2011-07-01T04:00Z")])


@pytest.fixture(scope="module")
def params():
    return Params(
        ingest=IngestParams(as_of=END.isoformat(), step="7D"),
        split=SplitParams(test_days=14),
        train=small_params(),
    )


@pytest.fixture(scope="module")
def replayed(table, params):
    seen = []

    def fitter(rows):
        seen.append((rows["timestamp"].max(), len(rows)))
        return fit(rows, params.train, FEATURE_COLUMNS)

    return backtest.run_backtest(table, params, START, END, fitter), seen


def test_origins_step_through_the_span_and_each_served_fit_sees_every_row_to_its_origin(
    replayed,
):
    result, seen = replayed
    assert [s["origin"] for s in result.result["steps"]] == [
        (START + pd.Timedelta(days=7 * i)).isoformat() for i in range(3)
    ]
    for i, (last_fitted, _) in enumerate(seen):
        origin = START + pd.Timedelta(days=7 * i)
        # the served fit, as `dvc repro` at as_of=origin makes it: every row up to as_of
        assert origin - pd.Timedelta(days=1) < last_fitted <= origin
    assert [n for _, n in seen] == sorted(n for _, n in seen)  # the data grows, never shrinks


def test_the_pipeline_fit_takes_its_rounds_from_the_evaluation_fit(table, params):
    rows = table[table["timestamp"] <= START]
    served = backtest.pipeline_fit(rows, params, FEATURE_COLUMNS)
    split = rows[rows["timestamp"] <= START - pd.Timedelta(days=14)]
    assert served.rounds == fit(split, params.train, FEATURE_COLUMNS).rounds
    assert served.window["train_rows"] == len(rows)


def test_every_model_forecasts_the_same_unseen_hours(replayed, table):
    result, _ = replayed
    steps = result.result["steps"]
    assert all(s["rows"] == 7 * 24 for s in steps)
    assert result.result["span"]["hours"] == 3 * 7 * 24
    for step in steps:
        assert set(step) >= set(backtest.MODELS)
    # the model never retrained is the first origin's served model
    assert steps[0]["never_retrained"] == steps[0]["served"]
    assert steps[-1]["never_retrained"] != steps[-1]["served"]
    overall = result.result["overall"]
    assert set(overall) == set(backtest.MODELS)
    assert overall["served"]["rmsle"] < overall["hour_workingday_mean"]["rmsle"]
    share = result.result["bias_share_of_mean"]
    assert share == round(overall["served"]["bias"] / result.result["mean_rentals"], 4)


def test_the_plot_is_a_png(replayed, tmp_path):
    result, _ = replayed
    backtest.plot(result.steps, tmp_path / "backtest.png")
    assert (tmp_path / "backtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_span_outside_the_data_is_one_clear_error(table, params):
    with pytest.raises(DataError, match="no whole 7D step"):
        backtest.run_backtest(table, params, END, END + pd.Timedelta(days=3))
    with pytest.raises(DataError, match="choose a span inside the data"):
        backtest.run_backtest(
            table, params, pd.Timestamp("2012-03-01T05:00Z"), pd.Timestamp("2012-04-01T05:00Z")
        )
