"""When the recipe changes, one test window is not enough: both recipes replayed over months.

A scheduled retrain changes only the data, and the window gate is the right question (is the
new fit as good as main's on hours neither saw?). A change of the recipe (the code of the
features, split and train stages, or their params) is judged by what it would have done in
production: `bikecast backtest` of today's recipe in this process and of the base's recipe
under the base's own code (base_backtest.py, in a subprocess), on the same
validated rows over the same origins, one after the other. The gate then weighs all those
origins.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bikecast import paths
from bikecast.config import Params
from bikecast.errors import BikecastError
from bikecast.ml.backtest import SERVED, default_start, run_backtest

log = logging.getLogger(__name__)

PROGRAM = Path(__file__).with_name("base_backtest.py")
RECIPE_STAGES = ("features", "split", "train")
DATA_PARAMS = ("ingest.",)  # where and how far the data goes: not the recipe


def _recipe(lock: dict[str, Any]) -> dict[str, Any]:
    """The recipe in a parsed dvc.lock, one flat mapping keyed by (stage, what): the md5 of
    each code dependency of the recipe stages ("src/...") and their params ("params <key>")."""
    stages = lock.get("stages") if isinstance(lock, dict) else None
    if not isinstance(stages, dict) or not stages:
        return {}
    recipe = {}
    for name in RECIPE_STAGES:
        stage = stages.get(name) or {}
        for dep in stage.get("deps") or []:
            if str(dep.get("path", "")).startswith("src/"):
                recipe[name, dep["path"]] = dep.get("md5")
        for key, value in ((stage.get("params") or {}).get(str(paths.PARAMS)) or {}).items():
            if not key.startswith(DATA_PARAMS):
                recipe[name, f"params {key}"] = value
    return recipe


def recipe_changes(base_lock: str | None, current_lock: dict[str, Any]) -> list[str]:
    """What differs in the recipe between the base's dvc.lock (its text) and the working
    tree's (parsed); empty: the same recipe, or a lock that cannot say."""
    try:
        base = _recipe(yaml.safe_load(base_lock or "") or {})
    except yaml.YAMLError:
        return []
    current = _recipe(current_lock)
    if not base or not current:
        return []
    differ = {key for key in base.keys() | current.keys() if base.get(key) != current.get(key)}
    return sorted({what for _stage, what in differ})


@dataclass(frozen=True)
class RecipeBacktest:
    """Both recipes' backtests over one span, or why the base's could not be run."""

    changes: list[str]
    challenger: dict[str, Any] | None
    champion: dict[str, Any] | None
    error: str | None = None

    @property
    def weighs(self) -> bool:
        """Both replays ran: the gate weighs their origins instead of the one window."""
        return self.challenger is not None and self.champion is not None

    def summary(self) -> dict[str, Any]:
        def served(result: dict[str, Any] | None) -> dict[str, Any] | None:
            if result is None:
                return None
            return {**result["overall"][SERVED], "bias_share_of_mean": result["bias_share_of_mean"]}

        steps = None
        if self.weighs:
            pairs = zip(self.champion["steps"], self.challenger["steps"], strict=False)
            better = [b[SERVED]["rmsle"] < a[SERVED]["rmsle"] for a, b in pairs]
            steps = {"challenger_better": sum(better), "origins": len(better)}
        return {
            "changes": self.changes,
            "span": self.challenger["span"] if self.challenger else None,
            "challenger": served(self.challenger),
            "champion": served(self.champion),
            "steps": steps,
            "error": self.error,
        }


def run_recipe_backtest(
    tree: Path, root: Path, params: Params, base_params_text: str | None, changes: list[str]
) -> RecipeBacktest:
    """Both recipes over the half year before today's as_of, the base's in its worktree."""
    end = params.ingest.as_of_utc
    start = default_start(end)
    scratch = tree.parent / "backtest"
    (scratch / paths.INTERIM).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / paths.INTERIM, scratch / paths.INTERIM)
    (scratch / paths.PARAMS).write_text(base_params_text or "")
    result_path, stderr_path = scratch / "result.json", scratch / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1"}  # fmt: skip
    args = [start.isoformat(), end.isoformat(), str(result_path)]
    log.info("compare: the recipe changed (%s): backtesting both", ", ".join(changes))
    # One after the other: two 2-thread XGBoost fits on 2 cores wait on each other's
    # threads and take 10x longer together than in turn (bench/RESULTS.md).
    try:
        table = pd.read_parquet(root / paths.FEATURES)
        challenger = run_backtest(table, params, start, end).result
    except (OSError, ValueError, BikecastError) as exc:
        return RecipeBacktest(changes, None, None, f"today's backtest: {exc}")
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.run(
            [sys.executable, "-c", PROGRAM.read_text(), *args],
            cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, check=False,
        )  # fmt: skip
    try:
        outcome = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        lines = stderr_path.read_text(errors="replace").strip().splitlines()
        outcome = {"error": f"crashed (exit {proc.returncode}): {lines[-1] if lines else ''}"}
    if "error" in outcome:
        error = " ".join(str(outcome["error"]).replace(f"{scratch}{os.sep}", "").split())
        return RecipeBacktest(changes, challenger, None, f"the base's backtest: {error}")
    return RecipeBacktest(changes, challenger, outcome["backtest"])
