"""The report's two PNGs (matplotlib, imported only here): predicted vs actual over the
window, and the error by hour of day."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bikecast import io
from bikecast.grain import Grain


def plot(predictions: pd.DataFrame, out_dir: Path, stem: str) -> dict[str, str]:
    """Two PNGs beside the report; returns their names relative to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if Grain.of_frame(predictions).is_station:  # station rows: plot the city's totals per hour
        totals = predictions.drop(columns="station_id").groupby("timestamp", sort=True)
        predictions = totals.sum().assign(hour=totals["hour"].first()).reset_index()
    models = [m for m in ("champion", "challenger") if m in predictions]
    colours = {"champion": "#1f77b4", "challenger": "#ff7f0e", "hour_workingday_mean": "#7f7f7f"}
    stamps = pd.to_datetime(predictions["timestamp"], utc=True).dt.tz_convert("America/New_York")
    names = {
        "pred_vs_actual": f"{stem}_pred_vs_actual.png",
        "error_by_hour": f"{stem}_error_by_hour.png",
    }

    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    ax.plot(stamps, predictions["actual"], color="black", linewidth=0.9, label="actual")
    for m in models:
        ax.plot(stamps, predictions[m], color=colours[m], linewidth=0.9, alpha=0.85, label=m)
    ax.set_ylabel("rentals per hour")
    ax.set_title("Predicted vs actual, test window (DC local time)")
    ax.legend(loc="upper left", ncol=3, fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    io.write_with(out_dir / names["pred_vs_actual"], lambda p: fig.savefig(p, format="png"))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    for m in [*models, "hour_workingday_mean"]:
        if m not in predictions:
            continue
        mae = (predictions[m] - predictions["actual"]).abs().groupby(predictions["hour"]).mean()
        style = "--" if m == "hour_workingday_mean" else "-"
        ax.plot(
            mae.index, mae.to_numpy(), style, marker="o", markersize=3, color=colours[m], label=m
        )
    ax.set_xticks(range(24))
    ax.set_xlabel("hour of day (DC local time)")
    ax.set_ylabel("mean absolute error")
    ax.set_title("Error by hour of day, test window")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    io.write_with(out_dir / names["error_by_hour"], lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
    return names
