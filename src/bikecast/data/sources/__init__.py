"""Data sources: each turns something outside the repository into canonical hourly rows.

`ingest.source` names one of SOURCES; each is imported only when chosen (the live source
needs requests and tqdm, which replay does not). Rows that end well before `ingest.as_of`
are logged as a warning here, at ingest, not two stages later as an empty test window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bikecast.data.schema import DataError, parse_timestamps
from bikecast.grain import Grain

if TYPE_CHECKING:
    import pandas as pd

    from bikecast.config import IngestParams

log = logging.getLogger(__name__)

SOURCES = ("replay", "capital_bikeshare")
SHORT_OF_AS_OF_HOURS = 24  # rows ending further than this before ingest.as_of get a warning


def load_source(params: IngestParams, grain: Grain = Grain.CITY) -> pd.DataFrame:
    if params.source == "replay":
        from bikecast.data.sources.replay import replay

        frame = replay(params, grain)
        warn_if_short(frame, params, lambda end, p: f"{p.path} has no later rows")
        return frame
    if params.source == "capital_bikeshare":
        from bikecast.data.sources.capital_bikeshare import fetch
        from bikecast.data.sources.capital_bikeshare.source import coverage_hint

        frame = fetch(params, grain=grain)
        warn_if_short(frame, params, coverage_hint)
        return frame
    raise DataError(f"unknown ingest.source {params.source!r}")  # config rejects it first


def warn_if_short(
    frame: pd.DataFrame,
    params: IngestParams,
    hint: Callable[[pd.Timestamp, IngestParams], str],
) -> None:
    """One WARNING line when the rows end more than a day before `ingest.as_of`: how far, and
    what to check (`hint(end, params)`)."""
    import pandas as pd

    stamps = frame["timestamp"]
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = parse_timestamps(stamps)
    end = stamps.max()
    if pd.isna(end):
        return
    hours = int((params.as_of_utc - end) / pd.Timedelta(hours=1))
    if hours <= SHORT_OF_AS_OF_HOURS:
        return
    log.warning(
        "%s: the rows end at %s, %d h (%.1f days) before ingest.as_of %s; %s. "
        "Later stages see nothing after that (a test window there has no rows)",
        params.source,
        end.strftime("%Y-%m-%dT%H:%MZ"),
        hours,
        hours / 24,
        params.as_of,
        hint(end, params),
    )
