"""replay: a canonical file on disk, revealed only up to `ingest.as_of` (data arriving, offline)."""

from __future__ import annotations

import pandas as pd

from bikecast.config import IngestParams
from bikecast.data.schema import DataError, parse_timestamps, read_canonical
from bikecast.grain import Grain


def reveal(frame: pd.DataFrame, as_of: pd.Timestamp, where: str) -> pd.DataFrame:
    """Keep rows up to and including `as_of`.

    Rows whose timestamp cannot be parsed are kept so that validate quarantines them with a
    reason instead of them vanishing here.
    """
    stamps = parse_timestamps(frame["timestamp"])
    if stamps.notna().sum() == 0:
        raise DataError(f"{where}: no row has a parseable timestamp")
    first = stamps.min()
    if as_of < first:
        raise DataError(
            f"ingest.as_of {as_of.isoformat()} is before the first row of {where} "
            f"({first.isoformat()}): nothing to ingest"
        )
    keep = stamps.isna() | (stamps <= as_of)
    return frame.loc[keep].reset_index(drop=True)


def replay(params: IngestParams, grain: Grain = Grain.CITY) -> pd.DataFrame:
    """A canonical file on disk, as if it had arrived only up to as_of."""
    return reveal(read_canonical(params.path, grain), params.as_of_utc, params.path)
