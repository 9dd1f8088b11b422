"""What the report shows besides compare.json, gathered from git, DVC and the working tree;
and compare's own outputs, reused when they are for the same base, HEAD and model."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bikecast import paths
from bikecast.review import compare, gitrev

log = logging.getLogger(__name__)

DRIFT_METRICS = getattr(paths, "DRIFT_METRICS", Path("metrics/drift.json"))
DRIFT_REPORT = getattr(paths, "DRIFT_REPORT", Path("reports/drift.html"))


@dataclass(frozen=True)
class Context:
    """Everything besides compare.json that the report shows; each part may be missing."""

    params_diff: dict[str, dict[str, Any]] | None = None  # {"train.max_depth": {old, new}}
    as_of: tuple[str | None, str | None] = (None, None)  # (base, current)
    hours: tuple[int | None, int | None] = (None, None)  # valid hours ingested (base, current)
    drift: dict[str, Any] | None = None
    drift_link: str | None = None
    images: dict[str, str] = field(default_factory=dict)  # {"pred_vs_actual": "x.png", ...}


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
    from bikecast.ml.card import ModelCard

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
                == ModelCard.read(root / paths.EVAL_META).version
            )
        except (json.JSONDecodeError, KeyError, TypeError):
            same = False
        if same:
            log.info("report: reusing %s (same base, HEAD and model)", compare.COMPARE_METRICS)
            return result, pd.read_csv(table_path)
    comparison = compare.run(rev, root, allow_stale=allow_stale)
    return comparison.result, comparison.predictions
