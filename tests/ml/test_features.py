import pandas as pd
import pytest

from bikecast.ml.features import FEATURE_COLUMNS, build_features


def frame(stamps, weather="clear"):
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(stamps, utc=True),
            "temp_c": 10.0,
            "feels_like_c": 9.0,
            "humidity_pct": 50.0,
            "wind_kmh": 5.0,
            "weather": weather,
        }
    )


def test_calendar_is_in_washington_local_time_across_dst():
    # 2011-03-13 06:00Z = 01:00 EST; 07:00Z = 03:00 EDT (02:00 does not exist locally)
    # 2011-11-06 05:00Z = 01:00 EDT; 06:00Z = 01:00 EST (the repeated hour)
    out = build_features(
        frame(["2011-03-13T06:00Z", "2011-03-13T07:00Z", "2011-11-06T05:00Z", "2011-11-06T06:00Z"])
    )
    assert out["hour"].tolist() == [1, 3, 1, 1]
    assert out["weekday"].tolist() == [6, 6, 6, 6]  # Sundays


def test_holidays_and_working_days():
    out = build_features(
        frame(
            [
                "2011-07-04T16:00Z",  # Independence Day, a Monday
                "2011-04-15T16:00Z",  # Emancipation Day (DC), observed Friday 15 April 2011
                "2011-12-26T16:00Z",  # Christmas observed (25th is a Sunday)
                "2011-07-05T16:00Z",  # ordinary Tuesday
                "2011-07-09T16:00Z",  # Saturday
                "2011-07-05T03:00Z",  # 23:00 on Monday 4 July local time: still the holiday
            ]
        )
    )
    assert out["is_holiday"].tolist() == [1, 1, 1, 0, 0, 1]
    assert out["working_day"].tolist() == [0, 0, 0, 1, 0, 0]


def test_weather_is_ordinal_and_columns_are_fixed():
    out = build_features(
        frame(["2011-07-05T16:00Z"] * 4).assign(
            weather=["clear", "mist", "light_precip", "heavy_precip"]
        )
    )
    assert tuple(out.columns) == FEATURE_COLUMNS
    assert out["weather_code"].tolist() == [0, 1, 2, 3]
    assert (out.dtypes == "float32").all()


def test_unknown_weather_and_naive_timestamps_are_rejected():
    with pytest.raises(ValueError, match="unknown weather labels"):
        build_features(frame(["2011-07-05T16:00Z"], weather="sunny"))
    naive = frame(["2011-07-05T16:00Z"])
    naive["timestamp"] = naive["timestamp"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_features(naive)


def test_one_row_matches_the_same_row_in_a_batch(canonical):
    batch = build_features(canonical)
    single = build_features(canonical.iloc[[17]])
    pd.testing.assert_frame_equal(single, batch.iloc[[17]])


def test_days_to_the_nearest_holiday_across_new_year():
    out = build_features(
        frame(["2011-12-23T17:00Z", "2011-12-30T17:00Z", "2012-01-03T17:00Z", "2011-08-10T17:00Z"])
    )
    # holidays: 25 Dec 2011 (a Sunday) observed 26 Dec; 1 Jan 2012 (a Sunday) observed 2 Jan
    assert out["days_to_holiday"].tolist() == [2, 2, 1, 7]
