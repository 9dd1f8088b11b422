"""Calibrate the drift thresholds on the seed: what is flagged between ordinary neighbours?

For every pair of adjacent weeks (and of adjacent 4-week blocks) of 2011, and for winter vs
summer, run bikecast's drift comparison (features + target, no model) twice: with
params.yaml's thresholds and with Evidently's defaults (0.1 for every distance). A useful
monitor flags winter vs summer and almost none of the ordinary neighbours.
    uv run python bench/drift_calibration.py
Writes bench/out/drift_calibration.csv (one row per pair and setting).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from bikecast.config import load_params
from bikecast.data.schema import TIMEZONE, read_canonical
from bikecast.data.validation import validate_frame
from bikecast.ml.drift_report import measure
from bikecast.stages.features import feature_table

ROOT = Path(__file__).resolve().parents[1]


def window(table: pd.DataFrame, start: pd.Timestamp, days: int) -> pd.DataFrame:
    keep = (table["timestamp"] >= start) & (table["timestamp"] < start + pd.Timedelta(days=days))
    return table[keep].reset_index(drop=True)


def main() -> None:
    logging.disable(logging.WARNING)  # unseen-category notes would flood the output
    table = feature_table(
        validate_frame(read_canonical(ROOT / "data/seed/bikeshare_dc_2011.csv.gz")).valid
    )
    ours = load_params(ROOT / "params.yaml").drift.model_copy(update={"reference": "train"})
    settings = {
        "params.yaml": ours,
        "evidently_defaults": ours.model_copy(
            update={"num_threshold": 0.1, "cat_threshold": 0.1, "target_threshold": 0.1}
        ),
    }
    first = pd.Timestamp("2011-01-03", tz=TIMEZONE).tz_convert("UTC")  # a Monday
    pairs = []
    for days, count in ((7, 48), (28, 12)):
        for i in range(count):
            start = first + pd.Timedelta(days=days * i)
            pairs.append(
                (f"adjacent_{days}d", start.date(), start, start + pd.Timedelta(days=days), days)
            )
    summer = pd.Timestamp("2011-07-04", tz=TIMEZONE).tz_convert("UTC")
    pairs += [
        ("winter_vs_summer", first.date(), first, summer, 28),
        ("summer_vs_winter", summer.date(), summer, first, 28),
    ]
    rows = []
    for kind, label, ref_start, cur_start, days in pairs:
        reference, current = window(table, ref_start, days), window(table, cur_start, days)
        if len(reference) < 24 or len(current) < 24:
            continue
        for name, params in settings.items():
            summary = measure(reference, current, params).summary
            rows.append(
                {
                    "pair": kind,
                    "reference_start": label,
                    "setting": name,
                    "retrain_recommended": summary["retrain_recommended"],
                    "features_drifted": summary["features"]["drifted"],
                    "target_distance": summary["target"]["distance"],
                    "drifted_columns": " ".join(summary["features"]["drifted_columns"]),
                }
            )
    frame = pd.DataFrame(rows)
    out = ROOT / "bench" / "out" / "drift_calibration.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    grouped = frame.groupby(["pair", "setting"]).agg(
        pairs=("retrain_recommended", "size"),
        retrain_flagged=("retrain_recommended", "sum"),
        any_feature_drifted=("features_drifted", lambda s: int((s > 0).sum())),
        mean_features_drifted=("features_drifted", "mean"),
    )
    print(grouped.round(2).to_string())
    print(f"→ {out}")


if __name__ == "__main__":
    main()
