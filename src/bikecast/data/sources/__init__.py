"""Data sources: each turns something outside the repository into canonical hourly rows.

`ingest.source` names one of SOURCES; each is imported only when chosen (the live source
needs requests and tqdm, which replay does not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bikecast.data.schema import DataError

if TYPE_CHECKING:
    import pandas as pd

    from bikecast.config import IngestParams

SOURCES = ("replay", "capital_bikeshare")


def load_source(params: IngestParams, grain: str = "city") -> pd.DataFrame:
    if params.source == "replay":
        from bikecast.data.sources.replay import replay

        return replay(params, grain)
    if params.source == "capital_bikeshare":
        from bikecast.data.sources.capital_bikeshare import fetch

        return fetch(params, grain=grain)
    raise DataError(f"unknown ingest.source {params.source!r}")  # config rejects it first
