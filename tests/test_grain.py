import pandas as pd

from bikecast.grain import Grain


def test_grain_is_asked_not_compared():
    assert Grain("city") is Grain.CITY and Grain.CITY == "city"  # params.yaml and cards
    assert Grain.CITY.keys == ("timestamp",) and Grain.CITY.by == ()
    assert Grain.STATION.keys == ("timestamp", "station_id") and Grain.STATION.is_station
    assert Grain.of_frame(pd.DataFrame(columns=["timestamp", "station_id"])) is Grain.STATION
    assert Grain.of_frame(pd.DataFrame(columns=["timestamp"])) is Grain.CITY
