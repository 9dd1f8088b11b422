"""Fair champion/challenger comparison: the base revision's model vs the current one.

The champion (the model at the base revision, normally main) and the challenger (the model
in the working tree) are scored on the same rows: the current test window, which the
champion never trained on (models are fitted on the train split only). The champion is
scored by the base revision's OWN code, run from a temporary git worktree with
PYTHONPATH=<worktree>/src, so a pull request that changes the features is compared
against what production really does, not against today's code applied to an old model.

Outputs: metrics/compare.json (metrics per model, deltas, window, revisions, verdict) and
metrics/compare_predictions.csv (per hour, for the report's plots).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bikecast import io, paths
from bikecast.data.schema import WEATHER_COLUMNS, DataError
from bikecast.errors import BikecastError
from bikecast.ml import baselines
from bikecast.ml.metrics import METRIC_NAMES, regression_metrics
from bikecast.review import gitrev

log = logging.getLogger(__name__)

COMPARE_METRICS = Path("metrics/compare.json")
COMPARE_PREDICTIONS = Path("metrics/compare_predictions.csv")
DVC_LOCK = Path("dvc.lock")
DVC_YAML = Path("dvc.yaml")

# Exit status of `bikecast compare`, so CI can gate on it (2 is click's usage error).
EXIT_OK = 0  # pass or no_base
EXIT_ERROR = 1  # could not compare: the message says why
EXIT_FAIL = 3  # the gate failed: the challenger is worse than tolerance allows
PASS, FAIL, NO_BASE = "pass", "fail", "no_base"
GATE_METRIC = "rmsle"
BASELINES = ("seasonal_naive", "hour_workingday_mean")

# Files compare reads from the working tree: they must be what dvc.lock says.
READS = (paths.INTERIM, paths.FEATURES, paths.TRAIN, paths.TEST, paths.MODEL, paths.MODEL_META)


class CompareError(BikecastError, RuntimeError):
    """The comparison cannot be made; the message names the revision and the file."""


# --- the gate (pure) -----------------------------------------------------------------------


def gate(champion: float, challenger: float, tolerance: float) -> tuple[str, dict[str, float]]:
    """pass when challenger RMSLE <= champion RMSLE x (1 + tolerance), else fail."""
    limit = champion * (1 + tolerance)
    verdict = PASS if challenger <= limit + 1e-12 else FAIL
    relative = (
        (challenger - champion) / champion
        if champion > 0
        else (0.0 if challenger == 0 else math.inf)
    )
    detail = {
        "champion": champion,
        "challenger": challenger,
        "limit": round(limit, 6),
        "relative_change": round(relative, 6) if math.isfinite(relative) else None,
    }
    return verdict, detail


def deltas(champion: dict[str, float], challenger: dict[str, float]) -> dict[str, dict]:
    """Challenger minus champion per metric, and relative to the champion where it means one."""
    absolute = {m: round(challenger[m] - champion[m], 4) for m in METRIC_NAMES}
    relative = {
        m: round((challenger[m] - champion[m]) / champion[m], 4)
        for m in ("rmse", "mae", "rmsle")
        if champion[m] > 0
    }
    return {"absolute": absolute, "relative": relative}


def importance_shares(gains: dict[str, float]) -> dict[str, float]:
    """XGBoost gain per feature as a share of the total, so two models can be compared."""
    total = sum(gains.values())
    if total <= 0:
        return {}
    return {name: round(value / total, 4) for name, value in sorted(gains.items())}


def overlap_rows(card: dict, window: pd.Series) -> int | None:
    """Hours of the window at or before the model's last training hour (0 = fair)."""
    train_end = (card.get("data_window") or {}).get("train_end")
    if not train_end:
        return None
    return int((window <= pd.Timestamp(train_end)).sum())


# --- the base revision's model in dvc.yaml / dvc.lock (pure) --------------------------------


@dataclass(frozen=True)
class BaseLocation:
    """Where the base revision keeps its model, or why it has none."""

    model_md5: str | None
    card_md5: str | None
    no_base_reason: str | None = None


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
    """Find the model's md5 in the base's dvc.lock.

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
    missing = [p for p in (model, card) if not md5.get(p)]
    if missing:
        raise CompareError(
            f"{label}: dvc.lock has no entry for {', '.join(missing)}: the train stage was "
            "never reproduced and committed on that revision"
        )
    return BaseLocation(md5[model], md5[card])


# --- the working tree must be what dvc.lock says (dirty when it matters) ---------------------


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # DVC's content hash, not for security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return KeyError
        tree = tree[part]
    return tree


def stale_inputs(lock: dict, root: Path) -> list[str]:
    """Files and params behind what compare reads that differ from dvc.lock.

    Walks upstream from the files compare reads (data, split, model) through dvc.lock and
    compares every file's md5 and every param value. Uncommitted but reproduced changes
    are fine (the comparison is then of the working tree); stale outputs are not.
    """
    stages = {name: stage or {} for name, stage in (lock.get("stages") or {}).items()}
    producer = {
        out.get("path"): name for name, st in stages.items() for out in st.get("outs") or []
    }
    todo = [producer[str(p)] for p in READS if str(p) in producer]
    seen: set[str] = set()
    problems: list[str] = []
    params_cache: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        stage = stages[name]
        for entry in [*(stage.get("deps") or []), *(stage.get("outs") or [])]:
            rel, md5 = entry.get("path"), str(entry.get("md5") or "")
            if rel in producer and producer[rel] != name:
                todo.append(producer[rel])
            if not rel or not md5 or md5.endswith(".dir"):
                continue  # directories: DVC's tree hash; not worth re-deriving here
            path = root / rel
            if not path.is_file():
                problems.append(f"{rel} is missing (stage {name}; run `dvc pull` or `dvc repro`)")
            elif _md5(path) != md5:
                problems.append(f"{rel} differs from dvc.lock (stage {name})")
        for file, values in (stage.get("params") or {}).items():
            if file not in params_cache:
                try:
                    params_cache[file] = yaml.safe_load((root / file).read_text()) or {}
                except (OSError, yaml.YAMLError):
                    params_cache[file] = {}
            for key, locked in (values or {}).items():
                if _lookup(params_cache[file], key) != locked:
                    problems.append(f"{file}: {key} differs from dvc.lock (stage {name})")
    return sorted(set(problems))


# --- rows of the current test window --------------------------------------------------------


@dataclass(frozen=True)
class Window:
    inputs: pd.DataFrame  # timestamp + weather: what a caller of the model provides
    test: pd.DataFrame  # the current test split (targets + current features)
    train: pd.DataFrame
    history: pd.DataFrame  # every observed hour, for the seasonal naive baseline

    @property
    def actual(self) -> np.ndarray:
        return self.test["rentals"].to_numpy(dtype="float64")

    @property
    def by(self) -> tuple[str, ...]:
        """Baseline keys besides the hour: each station has its own at station grain."""
        return ("station_id",) if "station_id" in self.test.columns else ()

    def describe(self) -> dict[str, Any]:
        stamps = self.test["timestamp"]
        return {
            "start": stamps.min().isoformat(),
            "end": stamps.max().isoformat(),
            "rows": len(stamps),
        }


def load_window(root: Path) -> Window:
    """The current test hours (station-hours at station grain) with their raw inputs joined
    from data/interim/."""
    test = pd.read_parquet(root / paths.TEST)
    if test.empty:
        raise DataError(f"{paths.TEST}: the test window has no rows")
    keys = ["timestamp", "station_id"] if "station_id" in test.columns else ["timestamp"]
    interim = pd.read_parquet(root / paths.INTERIM, columns=[*keys, *WEATHER_COLUMNS])
    inputs = test[keys].merge(interim, on=keys, how="left", validate="one_to_one")
    if inputs[list(WEATHER_COLUMNS)].isna().any().any():
        missing = inputs.loc[inputs[list(WEATHER_COLUMNS)].isna().any(axis=1), "timestamp"]
        raise DataError(
            f"{paths.INTERIM}: {len(missing)} test hours of {paths.TEST} have no weather "
            f"(first {missing.iloc[0].isoformat()}); run `dvc repro`"
        )
    return Window(
        inputs=inputs,
        test=test,
        train=pd.read_parquet(root / paths.TRAIN),
        history=pd.read_parquet(root / paths.FEATURES, columns=[*keys, "rentals"]),
    )


# --- the champion, scored by the base revision's own code -----------------------------------

# Runs under the BASE revision's code. It only uses the long-standing contract
# bikecast.ml.model.load_model / predict, so bases older than this module work too; a station
# model is scored with the station history in its own card (what it would serve).
_BASE_SCORER = r"""
import json, sys

def main(inputs, model_path, card_path, out):
    import pandas as pd
    import bikecast
    try:
        from bikecast.ml.model import load_model, predict
    except ImportError as exc:
        return {"error": f"its code has no bikecast.ml.model.load_model/predict ({exc})"}
    try:
        booster, card = load_model(model_path, card_path)
        if card.get("grain", "city") == "station":
            from bikecast.ml.model import stations_of
            predicted = predict(booster, pd.read_parquet(inputs), stations_of(card))
        else:
            predicted = predict(booster, pd.read_parquet(inputs))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    pd.DataFrame({"predicted": [float(v) for v in predicted]}).to_parquet(out, index=False)
    return {
        "module": bikecast.__file__,
        "card": card,
        "gain": {k: float(v) for k, v in booster.get_score(importance_type="gain").items()},
    }

result = main(*sys.argv[1:5])
with open(sys.argv[5], "w") as fh:
    json.dump(result, fh)
sys.exit(4 if "error" in result else 0)
"""


@dataclass(frozen=True)
class Scored:
    predicted: np.ndarray
    card: dict
    gain: dict[str, float]
    code: str  # the file the `bikecast` package was imported from


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _share_cache(tree: Path, root: Path, cache_dir: str) -> None:
    """Point the worktree's DVC at the user's cache, with the user's local remote settings."""
    from configobj import ConfigObj

    local = root / ".dvc" / "config.local"
    conf = ConfigObj(str(local)) if local.is_file() else ConfigObj()
    conf.filename = str(tree / ".dvc" / "config.local")
    conf.setdefault("cache", {})["dir"] = cache_dir
    # DVC's per-repo site cache (index, locks) would otherwise pile up under /var/tmp.
    conf.setdefault("core", {})["site_cache_dir"] = str(tree.parent / "dvc-site")
    (tree / ".dvc").mkdir(exist_ok=True)
    conf.write()


def _fetch_and_checkout(tree: Path, root: Path, cache_dir: str, label: str) -> None:
    """`dvc fetch` + `dvc checkout` of the model outputs in the worktree, into the user's cache.

    The remote is the one the base revision configures, with the user's
    .dvc/config.local (credentials, url overrides) applied on top.
    """
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    targets = [str(tree / paths.MODEL), str(tree / paths.MODEL_META)]
    log.info("compare: base model not in the local DVC cache, fetching it from the remote")
    _share_cache(tree, root, cache_dir)
    missing = (
        f"{label}: {paths.MODEL} and {paths.MODEL_META} are neither in the local DVC cache "
        "nor on the DVC remote"
    )
    hint = "push them from that revision (`dvc push`) or check the remote settings"
    with Repo(str(tree)) as repo:
        try:
            repo.fetch(targets=targets)
        except DvcException as exc:
            raise CompareError(f"{missing} ({_one_line(exc)}); {hint}") from exc
        try:
            repo.checkout(targets=targets)
        except CheckoutError as exc:  # fetch found nothing to download
            raise CompareError(f"{missing}; {hint}") from exc


def materialise_base_model(tree: Path, root: Path, location: BaseLocation, label: str) -> None:
    """Put the base model and its card into the worktree, verified against the base dvc.lock.

    Warm cache: DVC's cache lookup of the two objects dvc.lock names, copied in (no index
    of the base's whole pipeline is built, which costs seconds). Otherwise `dvc fetch` and
    `dvc checkout` of just those outputs. The user's cache is only ever added to.
    """
    import shutil

    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    wanted = {paths.MODEL: location.model_md5, paths.MODEL_META: location.card_md5}
    try:
        with Repo(str(root)) as user_repo:
            cache_dir = str(user_repo.cache.local_cache_dir)
            cached = {
                rel: Path(user_repo.cache.local.oid_to_path(md5)) for rel, md5 in wanted.items()
            }
        if all(path.is_file() for path in cached.values()):
            for rel, path in cached.items():
                (tree / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, tree / rel)
        else:
            _fetch_and_checkout(tree, root, cache_dir, label)
    except DvcException as exc:
        raise CompareError(f"{label}: DVC cannot provide {paths.MODEL} ({_one_line(exc)})") from exc
    for rel, md5 in wanted.items():
        if not (tree / rel).is_file() or _md5(tree / rel) != md5:
            raise CompareError(
                f"{label}: {rel} from the DVC cache ({cached[rel]}) does not match its md5 "
                f"{md5} in dvc.lock: the cached model is corrupt; delete that file and run "
                "compare again to fetch it from the remote"
            )


class BaseScorer:
    """Scores the worktree's model with the worktree's own `bikecast` code, in a subprocess.

    `start()` launches it and returns at once, so the current model is scored in this
    process meanwhile (two imports of xgboost in parallel on two cores); `result()` waits.
    Used as a context manager, it never outlives the worktree it runs in.
    """

    def __init__(self, tree: Path, inputs: pd.DataFrame, label: str) -> None:
        self.tree, self.inputs, self.label = tree, inputs, label
        self.src = tree / "src"
        scratch = tree.parent
        self.inputs_path = scratch / "inputs.parquet"
        self.out_path = scratch / "pred.parquet"
        self.result_path = scratch / "result.json"
        self.stderr_path = scratch / "stderr.txt"
        self.proc: subprocess.Popen | None = None

    def start(self) -> BaseScorer:
        if not (self.src / "bikecast").is_dir():
            raise CompareError(
                f"{self.label}: no src/bikecast package in that revision to score its model with"
            )
        self.inputs.to_parquet(self.inputs_path, index=False)
        env = {
            **os.environ,
            "PYTHONPATH": str(self.src),  # the base's code, ahead of the installed package
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
        }
        args = [self.inputs_path, self.tree / paths.MODEL, self.tree / paths.MODEL_META]
        args += [self.out_path, self.result_path]
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _BASE_SCORER, *map(str, args)],
                cwd=self.tree,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self

    def __enter__(self) -> BaseScorer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def result(self) -> Scored:
        assert self.proc is not None, "start() first"
        code = self.proc.wait()
        try:
            result = json.loads(self.result_path.read_text())
        except (OSError, json.JSONDecodeError):
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
            raise CompareError(
                f"{self.label}: scoring its model with its own code crashed (exit {code}): "
                f"{lines[-1] if lines else 'no output'}"
            ) from None
        if "error" in result:
            detail = result["error"].replace(f"{self.tree}{os.sep}", "")  # paths as in the repo
            raise CompareError(
                f"{self.label}: cannot score its model {paths.MODEL} with its own code: {detail}"
            )
        module = Path(result["module"]).resolve()
        if not module.is_relative_to(self.src.resolve()):
            raise CompareError(
                f"{self.label}: scoring imported bikecast from {module}, not from that revision"
            )
        predicted = pd.read_parquet(self.out_path)["predicted"].to_numpy(dtype="float64")
        if len(predicted) != len(self.inputs) or not np.isfinite(predicted).all():
            raise CompareError(
                f"{self.label}: its code returned {len(predicted)} finite predictions for "
                f"{len(self.inputs)} rows"
            )
        return Scored(
            predicted=np.clip(predicted, 0, None),
            card=result["card"],
            gain=result["gain"],
            code=str(module.parent),
        )


def score_current(root: Path, inputs: pd.DataFrame) -> Scored:
    """The working tree's model, scored in this process by the current code."""
    import bikecast
    from bikecast.ml.model import load_model, predict, stations_of

    booster, card = load_model(root / paths.MODEL, root / paths.MODEL_META)
    gain = {k: float(v) for k, v in booster.get_score(importance_type="gain").items()}
    predicted = predict(booster, inputs, stations_of(card))
    return Scored(predicted, card, gain, str(Path(bikecast.__file__).parent))


def check_same_grain(challenger: Scored, champion: Scored, label: str) -> None:
    """A city model and a station model forecast different things: no gate can rank them."""
    grains = [scored.card.get("grain", "city") for scored in (champion, challenger)]
    if grains[0] != grains[1]:
        raise CompareError(
            f"{label} has a {grains[0]}-grain model and the working tree a {grains[1]}-grain "
            "one: they forecast different series, so the gate cannot compare them. Review the "
            "change by hand (at station grain, metrics/evaluate.json `aggregate` compares the "
            "summed station forecasts with a city model on the same hours)"
        )


# --- the whole comparison -------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    result: dict[str, Any]
    predictions: pd.DataFrame

    @property
    def verdict(self) -> str:
        return self.result["verdict"]

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.verdict == FAIL else EXIT_OK


def _tolerance(params_text: str | None) -> float | None:
    try:
        value = (yaml.safe_load(params_text or "") or {}).get("gate", {}).get("tolerance")
    except (yaml.YAMLError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def _model_info(scored: Scored | None, window: pd.Series) -> dict[str, Any] | None:
    if scored is None:
        return None
    card = scored.card
    overlap = overlap_rows(card, window)
    return {
        "model_version": card.get("version"),
        "as_of": (card.get("data_window") or {}).get("as_of"),
        "train_end": (card.get("data_window") or {}).get("train_end"),
        "train_rows": (card.get("data_window") or {}).get("train_rows"),
        "feature_columns": card.get("feature_columns"),
        "rounds": card.get("rounds"),
        "window_rows_seen_in_training": overlap,
        "code": scored.code,
    }


def build_result(
    *,
    window: Window,
    challenger: Scored,
    champion: Scored | None,
    base_rev: str,
    base_sha: str,
    no_base_reason: str | None,
    tolerance: float,
    base_tolerance: float | None,
    current_sha: str | None,
    dirty: bool,
) -> Comparison:
    """Metrics of every model on the window, deltas, fairness and the verdict."""
    actual = window.actual
    predictions = {
        "challenger": challenger.predicted,
        "seasonal_naive": baselines.seasonal_naive(
            window.history, window.test, window.train, window.by
        ),
        "hour_workingday_mean": baselines.hour_workingday_mean(
            window.train, window.test, window.by
        ),
    }
    if champion is not None:
        predictions = {"champion": champion.predicted, **predictions}
    models = {name: regression_metrics(actual, pred) for name, pred in predictions.items()}
    stamps = window.test["timestamp"]
    gate_detail: dict[str, Any] = {
        "metric": GATE_METRIC,
        "tolerance": tolerance,
        "base_tolerance": base_tolerance,
    }
    if champion is None:
        verdict, reason, delta = NO_BASE, no_base_reason, None
    else:
        verdict, detail = gate(
            models["champion"][GATE_METRIC], models["challenger"][GATE_METRIC], tolerance
        )
        gate_detail.update(detail)
        delta = deltas(models["champion"], models["challenger"])
        change = detail["relative_change"]
        change_text = f"{change:+.1%}" if change is not None else "from 0"
        word = "within" if verdict == PASS else "worse than"
        reason = (
            f"challenger RMSLE {detail['challenger']:.4f} vs champion {detail['champion']:.4f} "
            f"({change_text}): {word} the {tolerance:.1%} tolerance"
        )
    base_info = _model_info(champion, stamps) or {}
    result = {
        "verdict": verdict,
        "reason": reason,
        "gate": gate_detail,
        "window": window.describe(),
        "base": {"rev": base_rev, "sha": base_sha, **base_info},
        "current": {"sha": current_sha, "dirty": dirty, **(_model_info(challenger, stamps) or {})},
        "models": models,
        "deltas": delta,
        "importance": {
            "champion": importance_shares(champion.gain) if champion else None,
            "challenger": importance_shares(challenger.gain),
        },
    }
    table = pd.DataFrame(
        {
            "timestamp": stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **{key: window.test[key].astype(str) for key in window.by},
            "hour": window.test["hour"].astype(int) if "hour" in window.test else stamps.dt.hour,
            "actual": actual,
            **{name: np.round(pred, 3) for name, pred in predictions.items()},
        }
    )
    return Comparison(result=result, predictions=table)


def run(base: str | None = None, root: Path = Path("."), allow_stale: bool = False) -> Comparison:
    """Compare the working tree's model with the model at `base`; write the two outputs."""
    from bikecast.config import load_params

    root = root.resolve()
    top = gitrev.toplevel(root)
    if top.resolve() != root:
        raise CompareError(f"run compare from the repository root {top}, not from {root}")
    rev = base or gitrev.default_base(root)
    sha = gitrev.resolve(rev, root)
    label = f"base {rev} ({sha[:12]})"
    params = load_params(root / paths.PARAMS)
    lock_path = root / DVC_LOCK
    if not lock_path.is_file():
        raise CompareError(f"{DVC_LOCK} not found in {root}: run `dvc repro` first")
    problems = stale_inputs(yaml.safe_load(lock_path.read_text()) or {}, root)
    if problems and not allow_stale:
        raise CompareError(
            "the working tree is not what dvc.lock describes, so the challenger would be "
            "mislabelled: " + "; ".join(problems) + ". Run `dvc repro` (or `dvc checkout`), "
            "or pass --allow-stale"
        )
    for problem in problems:
        log.warning("compare: %s", problem)
    window = load_window(root)
    location = locate_base_model(
        gitrev.show(sha, str(DVC_YAML), root), gitrev.show(sha, str(DVC_LOCK), root), label
    )
    champion = None
    if location.no_base_reason is None:
        with gitrev.temporary_worktree(sha, root) as tree:
            materialise_base_model(tree, root, location, label)
            with BaseScorer(tree, window.inputs, label) as base_scorer:
                challenger = score_current(root, window.inputs)
                champion = base_scorer.result()
        check_same_grain(challenger, champion, label)
    else:
        challenger = score_current(root, window.inputs)
    comparison = build_result(
        window=window,
        challenger=challenger,
        champion=champion,
        base_rev=rev,
        base_sha=sha,
        no_base_reason=location.no_base_reason,
        tolerance=params.gate.tolerance,
        base_tolerance=_tolerance(gitrev.show(sha, str(paths.PARAMS), root)),
        current_sha=gitrev.head(root),
        dirty=gitrev.is_dirty(root),
    )
    io.write_csv(comparison.predictions, root / COMPARE_PREDICTIONS)
    io.write_json(comparison.result, root / COMPARE_METRICS)
    log.info("compare: %s (%s)", comparison.verdict, comparison.result["reason"])
    return comparison
