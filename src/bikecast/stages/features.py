"""features: validated hours → data/features/features.parquet (targets + model features).

At city grain the level table (bikecast.ml.level) is built first from all the data and its
`level` column goes beside the features; train rebuilds it from the same rows for the card.
At station grain the station table (ids, places, daily history) is built first from all the
data and saved beside the features: train puts its latest days in the model card, so serving
computes the same station features. With `compute.engine: dask` the rows are processed
partition by partition on the cluster and written as a parquet dataset (a directory).
"""

from __future__ import annotations

import logging

import pandas as pd

from bikecast import io, paths
from bikecast.config import Params
from bikecast.data.schema import COUNT_COLUMNS
from bikecast.ml.features import model_features
from bikecast.ml.level import LevelTable, level_for
from bikecast.ml.stations import StationTable, daily_history, station_places

log = logging.getLogger(__name__)


def feature_table(
    valid: pd.DataFrame, stations: StationTable | None = None, level: LevelTable | None = None
) -> pd.DataFrame:
    """Timestamp (and station), targets and features (and the level) side by side, one row
    per input row."""
    keys = ["timestamp", "station_id"] if stations is not None else ["timestamp"]
    features = model_features(valid, stations, level)
    return pd.concat([valid[[*keys, *COUNT_COLUMNS]], features], axis=1)


def station_table(valid: pd.DataFrame, params: Params) -> StationTable:
    return StationTable.build(
        daily_history(valid),
        station_places(valid),
        params.station.history_days,
        params.station.history_lag_days,
    )


def _save_stations(stations: StationTable | None) -> None:
    summary = {"grain": "station", **stations.to_dict()} if stations else {"grain": "city"}
    io.write_json(summary, paths.STATIONS)


def run(params: Params) -> None:
    if params.compute.engine == "dask":
        return run_dask(params)
    valid = pd.read_parquet(paths.INTERIM)
    stations = station_table(valid, params) if params.grain.is_station else None
    table = feature_table(valid, stations, level_for(valid, params))
    _save_stations(stations)
    io.write_parquet(table, paths.FEATURES)
    log.info("features: %d rows x %d columns → %s", *table.shape, paths.FEATURES)


def run_dask(params: Params) -> None:
    """The same functions, applied per partition on a Dask cluster."""
    from bikecast.compute import dask_client, read_parquet

    with dask_client(params.compute):
        valid = read_parquet(paths.INTERIM, params.compute)
        stations = None
        if params.grain.is_station:
            daily = valid.map_partitions(daily_history).groupby(["station_id", "day"]).sum()
            places = valid[["station_id", "latitude", "longitude"]].map_partitions(station_places)
            stations = StationTable.build(
                daily.compute().reset_index(),
                places.compute(),
                params.station.history_days,
                params.station.history_lag_days,
            )
        level = level_for(valid, params)
        meta = feature_table(valid.partitions[0].head(1), stations, level).iloc[:0]
        table = valid.map_partitions(feature_table, stations, level, meta=meta)
        _save_stations(stations)
        io.write_parquet_dataset(table, paths.FEATURES)
    log.info("features (dask): %d partitions → %s", table.npartitions, paths.FEATURES)
