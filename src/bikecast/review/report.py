"""The pull-request report: what a reviewer of a model change reads, in about a minute.

Markdown for a PR comment (`cml comment update` uploads the PNGs it references by
relative path): the gate verdict first, then champion vs challenger vs baselines on the
same window, what changed (params, data window, drift, feature importance), two plots,
and the rest in a collapsed <details> block. The numbers come from `compare`
(metrics/compare.json), reused when it is for the same base and model, rerun otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bikecast import io, paths
from bikecast.review import compare, gitrev

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("reports/pr_report.md")
DRIFT_METRICS = getattr(paths, "DRIFT_METRICS", Path("metrics/drift.json"))
DRIFT_REPORT = getattr(paths, "DRIFT_REPORT", Path("reports/drift.html"))
MODEL_LABELS = {
    "champion": "Champion",
    "challenger": "Challenger",
    "seasonal_naive": "Seasonal naive",
    "hour_workingday_mean": "Hour × working-day mean",
}
METRIC_LABELS = {"rmsle": "RMSLE (gate)", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "bias": "Bias"}
BADGE = {compare.PASS: "✅ PASS", compare.FAIL: "❌ FAIL", compare.NO_BASE: "🆕 NO BASE"}


@dataclass(frozen=True)
class Context:
    """Everything besides compare.json that the report shows; each part may be missing."""

    params_diff: dict[str, dict[str, Any]] | None = None  # {"train.max_depth": {old, new}}
    as_of: tuple[str | None, str | None] = (None, None)  # (base, current)
    hours: tuple[int | None, int | None] = (None, None)  # valid hours ingested (base, current)
    drift: dict[str, Any] | None = None
    drift_link: str | None = None
    images: dict[str, str] = field(default_factory=dict)  # {"pred_vs_actual": "x.png", ...}


# --- pieces of text (pure) -----------------------------------------------------------------


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".replace("-", "−")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _short(sha: str | None) -> str:
    return sha[:7] if sha else "?"


def _when(iso: str | None) -> str:
    if not iso:
        return "?"
    return pd.Timestamp(iso).tz_convert("UTC").strftime("%Y-%m-%d %H:%M")


def verdict_line(result: dict) -> str:
    return f"### {BADGE.get(result['verdict'], result['verdict'])}: {result['reason']}"


def metrics_table(result: dict) -> str:
    models = [m for m in MODEL_LABELS if m in result["models"]]
    has_delta = bool(result.get("deltas"))
    heads = [m for m in models if m not in compare.BASELINES]
    header = ["", *(MODEL_LABELS[m] for m in heads)]
    if has_delta:
        header.append("Δ challenger − champion")
    header += [MODEL_LABELS[m] for m in models if m in compare.BASELINES]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for metric, label in METRIC_LABELS.items():
        row = [label, *(_num(result["models"][m][metric]) for m in heads)]
        if has_delta:
            delta = result["deltas"]["absolute"][metric]
            rel = result["deltas"]["relative"].get(metric)
            text = f"{delta:+.4f}".replace("-", "−")
            row.append(f"{text} ({rel:+.1%})".replace("-", "−") if rel is not None else text)
        row += [_num(result["models"][m][metric]) for m in models if m in compare.BASELINES]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def params_lines(diff: dict[str, dict[str, Any]] | None, result: dict) -> list[str]:
    if diff is None:
        return ["- Params: `dvc params diff` was not available"]
    if not diff:
        return ["- Params: unchanged"]
    changes = ", ".join(
        f"`{k}` {_num(v.get('old'))} → {_num(v.get('new'))}" for k, v in sorted(diff.items())
    )
    lines = [f"- Params: {changes}"]
    gate = result.get("gate", {})
    if gate.get("base_tolerance") is not None and gate["base_tolerance"] != gate.get("tolerance"):
        lines.append(
            f"- ⚠️ This change moves the gate itself: `gate.tolerance` "
            f"{gate['base_tolerance']} → {gate['tolerance']} (the verdict uses the new value)"
        )
    return lines


def window_line(
    as_of: tuple[str | None, str | None], hours: tuple[int | None, int | None], result: dict
) -> str:
    old, new = as_of
    if old == new:
        text = f"- Data window: unchanged, `ingest.as_of` {new}"
    else:
        text = f"- Data window: `ingest.as_of` {old or '—'} → {new}"
    if hours[0] is not None and hours[1] is not None:
        added = hours[1] - hours[0]
        text += f"; {hours[1]:,} hours ingested ({f'{added:+,}' if added else 'none new'})"
    elif hours[1] is not None:
        text += f"; {hours[1]:,} hours ingested"
    base_rows, cur_rows = result["base"].get("train_rows"), result["current"].get("train_rows")
    if base_rows is not None and cur_rows is not None:
        text += f"; train rows {base_rows:,} → {cur_rows:,}"
    return text


def drift_line(drift: dict | None, link: str | None) -> str:
    if not drift:
        return "- Drift: not computed for this revision (no metrics/drift.json)"
    recommended = drift.get("retrain_recommended")
    flag = "**retrain recommended**" if recommended else "no retrain needed"
    reason = drift.get("reason")
    if reason:  # the drift stage's own sentence already counts the drifted features
        text = f"{flag}: {reason}" if recommended else reason
    else:
        features = drift.get("features") or {}
        parts = []
        if "drifted" in features and "tested" in features:
            share = features.get("share")
            parts.append(
                f"{features['drifted']} of {features['tested']} input features drifted"
                + (f" ({share:.0%})" if isinstance(share, int | float) else "")
            )
        if recommended is not None:
            parts.append(flag)
        text = "; ".join(parts) or "summary present"
    return f"- Drift: {text}" + (f". [Full drift report]({link})" if link else "")


def importance_changes(
    result: dict, top: int = 5
) -> list[tuple[str, float | None, float, float | None]]:
    """(feature, champion share, challenger share, change) by size of change, largest first."""
    shares = result.get("importance") or {}
    challenger = shares.get("challenger") or {}
    champion = shares.get("champion")
    if champion is None:
        ranked = sorted(challenger.items(), key=lambda kv: -kv[1])
        return [(name, None, share, None) for name, share in ranked[:top]]
    names = sorted(set(champion) | set(challenger))
    rows = [
        (
            n,
            champion.get(n, 0.0),
            challenger.get(n, 0.0),
            challenger.get(n, 0.0) - champion.get(n, 0.0),
        )
        for n in names
    ]
    rows.sort(key=lambda r: (-abs(r[3]), r[0]))
    return rows[:top]


def _pp(value: float) -> str:
    return f"{value * 100:+.1f} pp".replace("-", "−")


def importance_line(result: dict) -> str:
    rows = [r for r in importance_changes(result, top=3) if r[3] is not None]
    if not rows:
        return ""
    return "- Feature importance (gain share), biggest shifts: " + ", ".join(
        f"`{name}` {_pp(change)}" for name, _, _, change in rows
    )


def importance_table(result: dict) -> str:
    rows = importance_changes(result)
    if not rows:
        return "No feature importance recorded."
    lines = ["| Feature | Champion | Challenger | Change |", "|---|---:|---:|---:|"]
    for name, old, new, change in rows:
        old_text = "—" if old is None else f"{old:.1%}"
        change_text = "—" if change is None else _pp(change)
        lines.append(f"| `{name}` | {old_text} | {new:.1%} | {change_text} |")
    return "\n".join(lines)


def details_block(result: dict) -> str:
    base, cur, gate, window = result["base"], result["current"], result["gate"], result["window"]
    lines = [
        "<details><summary>Details: gate, revisions, fairness, feature importance</summary>",
        "",
        f"- Gate: challenger {gate['metric'].upper()} ≤ champion × (1 + {gate['tolerance']})"
        + (f" = {gate['limit']}" if "limit" in gate else ""),
        f"- Window: {window['rows']} hours, {window['start']} → {window['end']}",
    ]
    if base.get("model_version"):
        seen = base.get("window_rows_seen_in_training")
        fair = "never saw this window" if seen == 0 else f"⚠️ trained on {seen} of these hours"
        lines += [
            f"- Champion: model `{base['model_version']}` from `{base['rev']}` @ `{base['sha']}`, "
            f"as_of {base.get('as_of')}, {base.get('rounds')} rounds, {fair}; scored by that "
            f"revision's own code ({len(base.get('feature_columns') or [])} features)",
        ]
    else:
        lines.append(f"- Champion: none at `{base['rev']}` @ `{base['sha']}`")
    seen = cur.get("window_rows_seen_in_training")
    fair = "never saw this window" if seen == 0 else f"⚠️ trained on {seen} of these hours"
    lines += [
        f"- Challenger: model `{cur['model_version']}` at `{cur.get('sha')}`"
        + (" with uncommitted changes" if cur.get("dirty") else "")
        + f", as_of {cur.get('as_of')}, {cur.get('rounds')} rounds, {fair}",
        "",
        "Feature importance (share of total gain), largest changes:",
        "",
        importance_table(result),
        "",
        f"Reproduce: `bikecast compare --base {base['rev']}` then "
        f"`bikecast report --base {base['rev']}`.",
        "",
        "</details>",
    ]
    return "\n".join(lines)


def render(result: dict, context: Context) -> str:
    """The whole Markdown report."""
    base, cur, window = result["base"], result["current"], result["window"]
    if base.get("model_version"):
        who = (
            f"Champion `{base['model_version']}` (`{base['rev']}` @ `{_short(base['sha'])}`) "
            f"vs challenger `{cur['model_version']}` (`{_short(cur.get('sha'))}`"
            + (" + uncommitted changes" if cur.get("dirty") else "")
            + ")"
        )
    else:
        who = f"Challenger `{cur['model_version']}` vs the baselines (no model at `{base['rev']}`)"
    parts = [
        verdict_line(result),
        "",
        f"{who}, on the same {window['rows']} test hours "
        f"{_when(window['start'])} → {_when(window['end'])} UTC.",
        "",
        metrics_table(result),
        "",
        "**What changed**",
        "",
        *params_lines(context.params_diff, result),
        window_line(context.as_of, context.hours, result),
        drift_line(context.drift, context.drift_link),
    ]
    line = importance_line(result)
    if line:
        parts.append(line)
    parts.append("")
    if "pred_vs_actual" in context.images:
        parts += [
            f"![Predicted vs actual over the test window]({context.images['pred_vs_actual']})",
            "",
        ]
    if "error_by_hour" in context.images:
        parts += [f"![Mean absolute error by hour of day]({context.images['error_by_hour']})", ""]
    parts.append(details_block(result))
    return "\n".join(parts) + "\n"


# --- plots ---------------------------------------------------------------------------------


def plot(predictions: pd.DataFrame, out_dir: Path, stem: str) -> dict[str, str]:
    """Two PNGs beside the report; returns their names relative to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "station_id" in predictions:  # station rows: plot the city's totals per hour
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


# --- gathering the context (I/O) -----------------------------------------------------------


def params_diff(root: Path, sha: str) -> dict[str, dict[str, Any]] | None:
    """`dvc params diff <sha>` against the working tree, through the DVC API."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            diff = repo.params.diff(a_rev=sha, b_rev="workspace")
    except DvcException as exc:
        log.warning("report: dvc params diff failed: %s", exc)
        return None
    return {
        key: change
        for changes in (diff.get("diff") or {}).values()
        for key, change in changes.items()
    }


def _yaml_at(text: str | None) -> dict:
    try:
        loaded = yaml.safe_load(text or "")
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _valid_rows(text: str | None) -> int | None:
    try:
        value = json.loads(text or "null")
    except json.JSONDecodeError:
        return None
    rows = value.get("valid_rows") if isinstance(value, dict) else None
    return rows if isinstance(rows, int) else None


def gather(root: Path, result: dict, out: Path, images: dict[str, str]) -> Context:
    sha = result["base"]["sha"]
    old_params = _yaml_at(gitrev.show(sha, str(paths.PARAMS), root))
    new_params = _yaml_at((root / paths.PARAMS).read_text())
    validate_now = root / paths.VALIDATE_METRICS
    drift_path = root / DRIFT_METRICS
    drift = None
    if drift_path.is_file():
        try:
            drift = json.loads(drift_path.read_text())
        except json.JSONDecodeError:
            log.warning("report: %s is not valid JSON; drift left out", DRIFT_METRICS)
    link = None
    if drift is not None and (root / DRIFT_REPORT).is_file():
        link = os.path.relpath(root / DRIFT_REPORT, out.parent.resolve())
    return Context(
        params_diff=params_diff(root, sha),
        as_of=(
            (old_params.get("ingest") or {}).get("as_of"),
            (new_params.get("ingest") or {}).get("as_of"),
        ),
        hours=(
            _valid_rows(gitrev.show(sha, str(paths.VALIDATE_METRICS), root)),
            _valid_rows(validate_now.read_text() if validate_now.is_file() else None),
        ),
        drift=drift,
        drift_link=link,
        images=images,
    )


def load_or_compare(base: str | None, root: Path, allow_stale: bool) -> tuple[dict, pd.DataFrame]:
    """compare's outputs when they are for this base, HEAD and model; otherwise compare now."""
    from bikecast.ml.model import load_card

    rev = base or gitrev.default_base(root)
    sha = gitrev.resolve(rev, root)
    result_path, table_path = root / compare.COMPARE_METRICS, root / compare.COMPARE_PREDICTIONS
    if result_path.is_file() and table_path.is_file():
        try:
            result = json.loads(result_path.read_text())
            same = (
                result["base"]["sha"] == sha
                and result["current"]["sha"] == gitrev.head(root)
                and result["current"]["model_version"]
                == load_card(root / paths.MODEL_META).get("version")
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            same = False
        if same:
            log.info("report: reusing %s (same base, HEAD and model)", compare.COMPARE_METRICS)
            return result, pd.read_csv(table_path)
    comparison = compare.run(rev, root, allow_stale=allow_stale)
    return comparison.result, comparison.predictions


def run(
    base: str | None = None,
    out: Path = DEFAULT_OUT,
    root: Path = Path("."),
    allow_stale: bool = False,
) -> dict:
    """Write the Markdown report and its PNGs; return compare's result."""
    root = root.resolve()
    out = out if out.is_absolute() else root / out
    result, predictions = load_or_compare(base, root, allow_stale)
    images = plot(predictions, out.parent, out.stem)
    text = render(result, gather(root, result, out, images))
    io.write_text(text, out)
    log.info("report: %s (%s) → %s", result["verdict"], result["reason"], out)
    return result
