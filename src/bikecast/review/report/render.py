"""The report's Markdown (pure): verdict, metrics table, what changed, plots, details."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bikecast.review import compare
from bikecast.review.report.context import Context

MODEL_LABELS = {
    "champion": "Champion",
    "challenger": "Challenger",
    "seasonal_naive": "Seasonal naive",
    "hour_workingday_mean": "Hour × working-day mean",
}
METRIC_LABELS = {"rmsle": "RMSLE (gate)", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "bias": "Bias"}
BADGE = {compare.PASS: "✅ PASS", compare.FAIL: "❌ FAIL", compare.NO_BASE: "🆕 NO BASE"}


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


def backtest_block(backtest: dict | None) -> str:
    """What each recipe would have served over the last months (only when the recipe
    changed: a data-only retrain has one recipe)."""
    if not backtest:
        return ""
    changed = ", ".join(f"`{c}`" for c in backtest["changes"])
    lines = [f"**Backtest: the recipe changed** ({changed})", ""]
    if backtest.get("error"):
        return "\n".join([*lines, f"- ⚠️ Not run, the test window decides: {backtest['error']}", ""])
    span = backtest["span"]
    lines += [
        f"Each recipe refitted as the loop would at {span['origins']} weekly origins "
        f"{_when(span['start'])} → {_when(span['end'])} and scored on the following "
        f"{span['step']}, on the same rows:",
        "",
        "| recipe | RMSLE | RMSE | MAE | bias (share of mean) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in ("champion", "challenger"):
        row = backtest[name]
        if row:
            lines.append(
                f"| {name} | {_num(row['rmsle'])} | {_num(row['rmse'], 2)} | "
                f"{_num(row['mae'], 2)} | {_num(row['bias'], 2)} "
                f"({row['bias_share_of_mean']:+.1%}) |"
            )
    if backtest.get("steps"):
        steps = backtest["steps"]
        lines += ["", f"The challenger's recipe is better at {steps['challenger_better']} of "
                  f"{steps['origins']} origins; the gate weighs them all."]  # fmt: skip
    return "\n".join([*lines, ""])


def details_block(result: dict) -> str:
    base, cur, gate, window = result["base"], result["current"], result["gate"], result["window"]
    lines = [
        "<details><summary>Details: gate, revisions, fairness, feature importance</summary>",
        "",
        f"- Gate: challenger {gate['metric'].upper()} ≤ champion × (1 + {gate['tolerance']})"
        + (f" = {gate['limit']}" if "limit" in gate else "")
        + (", on the backtest's origins" if gate.get("basis") == "backtest" else ""),
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
    if result.get("backtest"):
        parts.append(backtest_block(result["backtest"]))
    if "pred_vs_actual" in context.images:
        parts += [
            f"![Predicted vs actual over the test window]({context.images['pred_vs_actual']})",
            "",
        ]
    if "error_by_hour" in context.images:
        parts += [f"![Mean absolute error by hour of day]({context.images['error_by_hour']})", ""]
    parts.append(details_block(result))
    return "\n".join(parts) + "\n"
