"""`LiveSource`: both services behind a cache kept by month, so a re-run downloads nothing."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bikecast import io
from bikecast.config import CapitalBikeshareParams
from bikecast.data.schema import DataError
from bikecast.data.sources import weather as wx
from bikecast.data.sources.capital_bikeshare.hours import HOUR, first_hour, last_hour, month_of
from bikecast.data.sources.capital_bikeshare.layouts import trips_file, verify_trips_zip
from bikecast.data.sources.http import Http, one_line, shown_url

log = logging.getLogger(__name__)

ENV_TRIPS_URL = "BIKECAST_TRIPS_URL"
ENV_WEATHER_URL = "BIKECAST_WEATHER_URL"


@dataclass
class LiveSource:
    """Cached, retried access to the two services for one configuration."""

    cfg: CapitalBikeshareParams
    now: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    http: Http | None = None

    def __post_init__(self) -> None:
        if self.http is None:
            self.http = Http(self.cfg.timeout_s, self.cfg.retries, self.cfg.backoff_s)
        self.trips_url = os.environ.get(ENV_TRIPS_URL) or self.cfg.trips_url
        self.weather_url = os.environ.get(ENV_WEATHER_URL) or self.cfg.weather_url
        self.weather_where = shown_url(self.weather_url)  # for messages: no query string
        self.cache = Path(self.cfg.cache_dir)

    @property
    def last_complete_hour(self) -> pd.Timestamp:
        """The hour before the current one: the newest that can be over."""
        return self.now.tz_convert("UTC").floor("h") - HOUR

    def trips_zip(self, month: pd.Period) -> Path | None:
        """The month's zip from the cache, else downloaded into it; None when not published."""
        name = trips_file(month)
        target = self.cache / "trips" / name
        if target.exists():
            log.debug("cache hit: %s", target)
            return target
        url = f"{self.trips_url.rstrip('/')}/{name}"
        log.info("fetching %s", url)
        if not self.http.download(url, target, lambda tmp: verify_trips_zip(tmp, url)):
            log.info("%s: not published yet (HTTP 404); the window ends before %s", url, month)
            return None
        return target

    def published(self, first: pd.Period, last: pd.Period) -> list[tuple[pd.Period, Path]]:
        """Trip zips for months first..last, stopping at the first one not published."""
        found = []
        month = first
        while month <= last:
            path = self.trips_zip(month)
            if path is None:
                break
            found.append((month, path))
            month += 1
        return found

    def weather(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Hourly weather for [start, end] (UTC), short gaps filled; may end early."""
        frames = []
        for month in pd.period_range(month_of(start), month_of(end), freq="M"):
            frames.append(self._weather_month(month, min(end, last_hour(month))))
        hours = pd.date_range(start, end, freq="h", tz="UTC").astype("datetime64[ns, UTC]")
        frame = (
            pd.concat(frames)
            .drop_duplicates("timestamp", keep="last")
            .set_index("timestamp")
            .reindex(hours)
            .rename_axis("timestamp")
            .reset_index()
        )
        return wx.fill_short_gaps(frame, self.cfg.max_weather_gap_hours)

    def _weather_month(self, month: pd.Period, needed: pd.Timestamp) -> pd.DataFrame:
        key = f"{self.cfg.latitude:.4f}_{self.cfg.longitude:.4f}"
        target = self.cache / "weather" / key / f"{month.strftime('%Y%m')}.json"
        if target.exists():
            try:
                frame = wx.parse_archive(json.loads(target.read_text()), str(target))
            except (ValueError, DataError) as exc:
                problem = f"unreadable cached weather ({one_line(exc)}); delete it"
                raise DataError(f"{target}: {problem}") from exc
            done = wx.last_complete_hour(frame)
            if done is not None and done >= needed:
                log.debug("cache hit: %s", target)
                return frame
        today = self.now.tz_convert("UTC").normalize()
        first_day = first_hour(month).normalize()
        last_day = min(last_hour(month).normalize(), today)
        days = first_day.strftime("%Y-%m-%d"), last_day.strftime("%Y-%m-%d")
        query = wx.request_params(self.cfg.latitude, self.cfg.longitude, *days)
        where = f"{self.weather_where} ({days[0]}..{days[1]})"
        log.info("downloading weather for %s from %s", month, where)
        payload = self.http.get_json(self.weather_url, query, where)
        frame = wx.parse_archive(payload, where)
        io.write_json(payload, target)
        return frame
