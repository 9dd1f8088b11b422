"""dvc.yaml and dvc.lock for compare: where the base revision keeps its model (pure), and
whether the working tree is what the current dvc.lock says (`stale_inputs`, through the
one staleness check in bikecast.gitops.lockcheck)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bikecast import paths
from bikecast.errors import CompareError
from bikecast.gitops import lockcheck

DVC_LOCK = Path("dvc.lock")
DVC_YAML = Path("dvc.yaml")

# Files compare reads from the working tree: they must be what dvc.lock says.
READS = (paths.INTERIM, paths.FEATURES, paths.TRAIN, paths.TEST, paths.EVAL_MODEL, paths.EVAL_META)


@dataclass(frozen=True)
class BaseLocation:
    """Where the base revision keeps its model, or why it has none."""

    model_md5: str | None
    card_md5: str | None
    no_base_reason: str | None = None
    # its evaluation fit (models/eval.*) where it has one; older revisions served and
    # evaluated one fit, models/model.*
    model_path: Path = paths.MODEL
    card_path: Path = paths.MODEL_META


def _out_paths(outs: Any) -> set[str]:
    found: set[str] = set()
    for out in outs or []:
        if isinstance(out, str):
            found.add(out)
        elif isinstance(out, dict):
            found.update(str(k) for k in out if k != "path")
            if "path" in out:
                found.add(str(out["path"]))
    return found


def locate_base_model(dvc_yaml: str | None, dvc_lock: str | None, label: str) -> BaseLocation:
    """Find the md5 of the base's evaluation fit (or of its one model) in its dvc.lock.

    No dvc.yaml, or a dvc.yaml without a model output, means the base has no model yet
    (no_base, not a failure). A dvc.yaml that declares the model while dvc.lock is
    missing or lacks it is an error: the model exists in name only and cannot be fetched.
    """
    model, card = str(paths.MODEL), str(paths.MODEL_META)
    if dvc_yaml is None:
        return BaseLocation(None, None, f"{label} has no dvc.yaml: no pipeline, so no model yet")
    try:
        pipeline = yaml.safe_load(dvc_yaml) or {}
    except yaml.YAMLError as exc:
        raise CompareError(f"{label}: dvc.yaml is not valid YAML ({exc})") from exc
    stages = pipeline.get("stages") or {}
    declared = any(
        model in _out_paths((stage or {}).get("outs"))
        for stage in stages.values()
        if isinstance(stage, dict)
    )
    if not declared:
        return BaseLocation(
            None, None, f"{label}: dvc.yaml declares no {model} output: no model yet"
        )
    if dvc_lock is None:
        raise CompareError(
            f"{label}: dvc.lock is missing although dvc.yaml declares {model}, so the base "
            "model cannot be found; run `dvc repro` on that revision and commit dvc.lock, "
            "or choose another --base"
        )
    try:
        lock = yaml.safe_load(dvc_lock) or {}
    except yaml.YAMLError as exc:
        raise CompareError(f"{label}: dvc.lock is not valid YAML ({exc})") from exc
    md5 = {
        out.get("path"): out.get("md5")
        for stage in (lock.get("stages") or {}).values()
        for out in (stage or {}).get("outs") or []
        if isinstance(out, dict)
    }
    if md5.get(str(paths.EVAL_MODEL)) and md5.get(str(paths.EVAL_META)):
        evaluation = (str(paths.EVAL_MODEL), str(paths.EVAL_META))
        return BaseLocation(
            md5[evaluation[0]], md5[evaluation[1]], None, paths.EVAL_MODEL, paths.EVAL_META
        )
    missing = [p for p in (model, card) if not md5.get(p)]
    if missing:
        raise CompareError(
            f"{label}: dvc.lock has no entry for {', '.join(missing)}: the train stage was "
            "never reproduced and committed on that revision"
        )
    return BaseLocation(md5[model], md5[card])


def stale_inputs(lock: dict, root: Path) -> list[str]:
    """Files and params behind what compare reads (READS) that differ from dvc.lock."""
    return lockcheck.stale_inputs(lock, root, READS)


def read_lock(root: Path) -> dict:
    """The working tree's dvc.lock; compare cannot label the challenger without it."""
    path = root / DVC_LOCK
    if not path.is_file():
        raise CompareError(f"{DVC_LOCK} not found in {root}: run `dvc repro` first")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CompareError(f"{DVC_LOCK} is not valid YAML ({exc})") from exc
