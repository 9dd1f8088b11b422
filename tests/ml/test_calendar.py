"""The numpy DC clock agrees with pandas' tz_convert everywhere, DST changes included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bikecast.data.schema import TIMEZONE
from bikecast.ml.calendar import local_day, local_ns, utc_ns


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_the_wall_clock_matches_pandas_over_three_decades(unit):
    stamps = pd.Series(pd.date_range("2000-01-01", "2031-01-01", freq="17min", tz="UTC"))
    stamps = stamps.astype(f"datetime64[{unit}, UTC]")
    expected = pd.DatetimeIndex(stamps).tz_convert(TIMEZONE).tz_localize(None)
    np.testing.assert_array_equal(local_ns(utc_ns(stamps)), expected.as_unit("ns").asi8)


def test_the_hours_around_a_dst_change_and_other_offsets():
    # 2011-03-13 02:00 EST does not exist; 2011-11-06 01:00 happens twice
    text = ["2011-03-13T06:59:59Z", "2011-03-13T07:00:00Z", "2011-11-06T05:30:00Z",
            "2011-11-06T06:30:00Z", "2011-11-06T01:30:00-05:00"]  # fmt: skip
    stamps = pd.Series(pd.to_datetime(text, utc=True, format="ISO8601"))
    clock = local_ns(utc_ns(stamps)).astype("datetime64[ns]").astype(str)
    assert [c[11:19] for c in clock] == ["01:59:59", "03:00:00", "01:30:00", "01:30:00", "01:30:00"]
    assert (local_day(stamps) == np.datetime64("2011-03-13", "D").astype("int64")).sum() == 2


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_ns(pd.Series(pd.to_datetime(["2011-01-01 00:00"])))
    assert local_ns(np.array([], dtype="int64")).size == 0
