"""The pull-request report: what a reviewer of a model change reads, in about a minute.

Markdown for a PR comment (`cml comment update` uploads the PNGs it references by
relative path): the gate verdict first, then champion vs challenger vs baselines on the
same window, what changed (params, data window, drift, feature importance), two plots,
and the rest in a collapsed <details> block. The numbers come from `compare`
(metrics/compare.json), reused when it is for the same base and model, rerun otherwise.

Modules: `render` (the Markdown text, pure), `plots` (the PNGs) and `context` (git, DVC
and working-tree facts, and the reuse of compare.json); `run` wires them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bikecast import io
from bikecast.review.report.context import Context, gather, load_or_compare, params_diff
from bikecast.review.report.plots import plot
from bikecast.review.report.render import (
    BADGE,
    METRIC_LABELS,
    MODEL_LABELS,
    details_block,
    drift_line,
    importance_changes,
    importance_line,
    importance_table,
    metrics_table,
    params_lines,
    render,
    verdict_line,
    window_line,
)

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("reports/pr_report.md")

__all__ = [
    "BADGE",
    "DEFAULT_OUT",
    "METRIC_LABELS",
    "MODEL_LABELS",
    "Context",
    "details_block",
    "drift_line",
    "gather",
    "importance_changes",
    "importance_line",
    "importance_table",
    "load_or_compare",
    "metrics_table",
    "params_diff",
    "params_lines",
    "plot",
    "render",
    "run",
    "verdict_line",
    "window_line",
]


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
