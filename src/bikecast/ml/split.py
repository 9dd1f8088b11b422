"""The split rule: by time, the last `split.test_days` days up to `as_of` are the test window.
Used by the split stage and by the backtest at every origin."""

from __future__ import annotations

import pandas as pd

from bikecast.data.schema import DataError


def last_train_hour(as_of: pd.Timestamp, test_days: int) -> pd.Timestamp:
    """The last train hour: everything after it, up to as_of, is the test window."""
    return as_of - pd.Timedelta(days=test_days)


def split_by_time(
    table: pd.DataFrame, as_of: pd.Timestamp, test_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows in (as_of - test_days, as_of] are test; everything earlier is train."""
    cutoff = last_train_hour(as_of, test_days)
    in_window = table["timestamp"] <= as_of
    train = table[in_window & (table["timestamp"] <= cutoff)].reset_index(drop=True)
    test = table[in_window & (table["timestamp"] > cutoff)].reset_index(drop=True)
    check_sizes(len(train), len(test), as_of, test_days)
    return train, test


def check_sizes(train_rows: int, test_rows: int, as_of: pd.Timestamp, test_days: int) -> None:
    cutoff = last_train_hour(as_of, test_days)
    if not test_rows:
        raise DataError(
            f"split: no rows in the test window ({cutoff.isoformat()}, {as_of.isoformat()}]; "
            "is ingest.as_of after the end of the data?"
        )
    if not train_rows:
        raise DataError(
            f"split: no rows before {cutoff.isoformat()} to train on; lower split.test_days "
            f"({test_days}) or move ingest.as_of later"
        )
