"""monitor.json as Markdown: the verdict first, then the tables a reviewer scans."""

from __future__ import annotations


def _table(rows: dict[str, dict], key: str) -> list[str]:
    out = [f"| {key} | forecasts | RMSLE | MAE | bias |", "|---|---:|---:|---:|---:|"]
    out += [
        f"| {name} | {r['n']} | {r['rmsle']:.4f} | {r['mae']:.1f} | {r['bias']:+.1f} |"
        for name, r in rows.items()
    ]
    return out


def markdown(summary: dict) -> str:
    verdict = "Retrain recommended" if summary["retrain_recommended"] else "No retrain needed"
    window, log, errors = summary["window"], summary["log"], summary["errors"]
    lines = [
        f"## bikecast monitor: {verdict}",
        "",
        f"Requests of {window['start']} .. {window['end']} (UTC days) from `{log['destination']}`:"
        f" {errors['forecasts']} forecasts in {log['files']} files, {errors['scored']} scored "
        f"against the actual rentals (known through {summary['actuals_through']}), "
        f"{errors['pending']} pending.",
        "",
    ]
    lines += [f"- **{reason}**" for reason in summary["reasons"]]
    lines += [f"- {note}" for note in summary["notes"]]
    if log["unreadable"]:
        lines.append(
            f"- {len(log['unreadable'])} unreadable log files skipped: {log['unreadable']}"
        )
    if errors.get("overall"):
        baseline = summary.get("baseline")
        if baseline:
            lines += [
                "",
                f"Test RMSLE of {baseline['model_version']} (metrics/evaluate.json): "
                f"{baseline['test_rmsle']}.",
            ]
        lines += ["", "### By model version", "", *_table(errors["by_model_version"], "version")]
        lines += ["", "### By day (Washington DC)", "", *_table(errors["by_day"], "day")]
        if "by_station" in errors:
            worst = sorted(errors["by_station"].items(), key=lambda kv: -kv[1]["rmsle"])[:10]
            lines += ["", "### Worst stations", "", *_table(dict(worst), "station")]
    ranges = summary["out_of_range"]
    lines += [
        "",
        "### Inputs outside the training ranges",
        "",
        f"{ranges['forecasts']} forecasts ({ranges['share']:.1%}): {ranges['by_input'] or 'none'}.",
    ]
    drift = summary.get("drift")
    lines += ["", "### Drift of the live hours", ""]
    if drift is None:
        lines.append(f"Not tested: {summary.get('drift_skipped')}.")
    else:
        lines.append(drift["reason"] + ".")
    return "\n".join(lines) + "\n"
