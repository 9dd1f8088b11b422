"""The champion: the base revision's model, fetched through DVC and scored by that
revision's own code (the program in base_scorer.py, in a subprocess)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from bikecast import paths
from bikecast.errors import CompareError
from bikecast.gitops.lockcheck import file_md5
from bikecast.ml.card import ModelCard, ModelError
from bikecast.review.compare.lockfile import BaseLocation
from bikecast.review.compare.scored import Scored

log = logging.getLogger(__name__)

SCORER = Path(__file__).with_name("base_scorer.py")


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


def _fetch_and_checkout(
    tree: Path, root: Path, cache_dir: str, label: str, location: BaseLocation
) -> None:
    """`dvc fetch` + `dvc checkout` of the model outputs in the worktree, into the user's cache.

    The remote is the one the base revision configures, with the user's
    .dvc/config.local (credentials, url overrides) applied on top.
    """
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    targets = [str(tree / location.model_path), str(tree / location.card_path)]
    log.info("compare: base model not in the local DVC cache, fetching it from the remote")
    _share_cache(tree, root, cache_dir)
    missing = (
        f"{label}: {location.model_path} and {location.card_path} are neither in the local "
        "DVC cache nor on the DVC remote"
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

    wanted = {location.model_path: location.model_md5, location.card_path: location.card_md5}
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
            _fetch_and_checkout(tree, root, cache_dir, label, location)
    except DvcException as exc:
        raise CompareError(
            f"{label}: DVC cannot provide {location.model_path} ({_one_line(exc)})"
        ) from exc
    for rel, md5 in wanted.items():
        if not (tree / rel).is_file() or file_md5(tree / rel) != md5:
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

    def __init__(
        self,
        tree: Path,
        inputs: pd.DataFrame,
        label: str,
        model: Path = paths.MODEL,
        card: Path = paths.MODEL_META,
    ) -> None:
        self.tree, self.inputs, self.label = tree, inputs, label
        self.model, self.card = model, card  # in the worktree: where materialise put them
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
        args = [self.inputs_path, self.tree / self.model, self.tree / self.card]
        args += [self.out_path, self.result_path]
        # -c with the program's text: run as a script, nothing of today's package on sys.path
        program = SCORER.read_text()
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", program, *map(str, args)],
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
                f"{self.label}: cannot score its model {self.model} with its own code: {detail}"
            )
        module = Path(result["module"]).resolve()
        if not module.is_relative_to(self.src.resolve()):
            raise CompareError(
                f"{self.label}: scoring imported bikecast from {module}, not from that revision"
            )
        try:
            card = ModelCard.parse(result["card"], f"{self.label}: {self.card}")
        except ModelError as exc:
            raise CompareError(str(exc)) from None
        predicted = pd.read_parquet(self.out_path)["predicted"].to_numpy(dtype="float64")
        if len(predicted) != len(self.inputs) or not np.isfinite(predicted).all():
            raise CompareError(
                f"{self.label}: its code returned {len(predicted)} finite predictions for "
                f"{len(self.inputs)} rows"
            )
        log.debug("compare: %s scored with %s", self.label, result.get("layout"))
        return Scored(
            predicted=np.clip(predicted, 0, None),
            card=card,
            gain=result["gain"],
            code=str(module.parent),
        )
