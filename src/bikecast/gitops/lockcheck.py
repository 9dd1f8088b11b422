"""Is the working tree what dvc.lock says? The one staleness check of bikecast.

Two commands ask it, with different needs, so there is one core (the `Drift` record, the
stage graph of dvc.lock, what counts and how it is said) fed from two sources:

- `bikecast lock-check` (ci.yml, in a fresh clone where nothing is pulled): do the code,
  params and commands still match dvc.lock? Missing outputs are expected there. It asks
  DVC itself (`dvc status`), which also hashes directory deps and compares each stage's
  command with dvc.yaml: things only DVC can answer faithfully.
- `bikecast compare`: are the files it reads (data, split, model) present and exactly
  what dvc.lock names, with the files and params upstream of them unchanged? It needs
  the outputs, so it hashes them itself (`lock_drift`): 0.1 s where `dvc status` costs
  2-3 s on every PR, and `dvc status` calls a present, matching output "not in cache"
  whenever the cache lacks it, which says nothing about the file compare reads.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bikecast.errors import GitopsError

MODIFIED, DELETED = "modified", "deleted"  # DVC's words for a changed or missing path
ALWAYS_CHANGED = "always changed"  # a stage marked always_changed: not staleness


@dataclass(frozen=True)
class Drift:
    """One thing in the working tree that differs from dvc.lock."""

    stage: str
    kind: str  # "dep", "out", "param", "stage" (the whole stage: "changed command"), other
    path: str  # the file or directory; the params file of a "param"; "" for a stage
    state: str  # modified, deleted, new, not in cache, changed command, ...
    key: str = ""  # a param's dotted key

    def line(self) -> str:
        """In DVC's words, as `bikecast lock-check` lists it."""
        if self.kind == "stage":
            return f"{self.stage}: {self.state}"
        if self.kind == "param":
            return f"{self.stage}: param {self.key} {self.state} ({self.path})"
        if self.path:
            return f"{self.stage}: {self.kind} {self.path} {self.state}"
        return f"{self.stage}: {self.kind} {self.state}"

    def sentence(self) -> str:
        """As `bikecast compare` says it: the file first, and what to run when it is missing."""
        if self.kind == "param":
            return f"{self.path}: {self.key} differs from dvc.lock (stage {self.stage})"
        if self.state == DELETED:
            return f"{self.path} is missing (stage {self.stage}; run `dvc pull` or `dvc repro`)"
        return f"{self.path} differs from dvc.lock (stage {self.stage})"


# --- source 1: DVC's own answer (`dvc status`) -----------------------------------------------


def status_drift(status: Mapping[str, Any]) -> list[Drift]:
    """`dvc status --json` as Drift records, stage by stage in name order."""
    found: list[Drift] = []
    for stage, changes in sorted(status.items()):
        for change in changes if isinstance(changes, list) else [changes]:
            if isinstance(change, str):
                found.append(Drift(stage, "stage", "", change))
                continue
            for path, state in sorted(change.get("changed deps", {}).items()):
                if isinstance(state, dict):  # a params file: {key: state}
                    found += [Drift(stage, "param", path, v, k) for k, v in sorted(state.items())]
                else:
                    found.append(Drift(stage, "dep", path, state))
            found += [
                Drift(stage, "out", path, state)
                for path, state in sorted(change.get("changed outs", {}).items())
            ]
            found += [
                Drift(stage, kind, "", str(detail))
                for kind, detail in change.items()
                if kind not in ("changed deps", "changed outs")
            ]
    return found


def dvc_status(cwd: Path = Path(".")) -> dict[str, Any]:
    """`dvc status --json` for the whole pipeline (local only: never touches a remote)."""
    proc = subprocess.run(  # this interpreter's dvc, whether or not the venv is on PATH
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitopsError(f"dvc status failed ({proc.returncode}): {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise GitopsError(f"dvc status printed no JSON: {proc.stdout[:200]!r}") from exc


def lock_problems(status: Mapping[str, Any]) -> list[str]:
    """What in code, params or commands differs from dvc.lock, from `dvc status --json`.

    In a fresh clone nothing is pulled: every output is missing, and so is every dep that
    is another stage's output. Those are expected; a missing or modified source file, a
    changed param or a changed command is not.
    """
    drift = status_drift(status)
    unpulled = {d.path for d in drift if d.kind == "out"}

    def expected(d: Drift) -> bool:
        return (
            d.kind == "out"
            or (d.kind == "stage" and d.state == ALWAYS_CHANGED)
            or (d.kind == "dep" and d.state == DELETED and d.path in unpulled)
        )

    return [d.line() for d in drift if not expected(d)]


# --- source 2: the files themselves, against the md5s in dvc.lock ----------------------------


def file_md5(path: Path) -> str:
    digest = hashlib.md5()  # DVC's content hash, not for security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_ABSENT = object()


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _ABSENT
        tree = tree[part]
    return tree


def upstream_stages(lock: Mapping[str, Any], paths: Iterable[str]) -> Iterator[str]:
    """The stages that produce `paths` and every stage they depend on, through dvc.lock."""
    stages = {name: stage or {} for name, stage in (lock.get("stages") or {}).items()}
    producer = {
        out.get("path"): name for name, st in stages.items() for out in st.get("outs") or []
    }
    todo = [producer[p] for p in paths if p in producer]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        yield name
        todo += [
            producer[dep.get("path")]
            for dep in stages[name].get("deps") or []
            if producer.get(dep.get("path"), name) != name
        ]


def lock_drift(lock: Mapping[str, Any], root: Path, reads: Iterable[str | Path]) -> list[Drift]:
    """Files and params behind `reads` that differ from dvc.lock, found by hashing them.

    Every file dep and out of the stages upstream of `reads` is compared by md5, every
    param by value. Directories (DVC's tree hash) are left to `dvc status`.
    """
    stages = lock.get("stages") or {}
    found: list[Drift] = []
    params_cache: dict[str, Any] = {}
    for name in upstream_stages(lock, [str(p) for p in reads]):
        stage = stages[name] or {}
        entries = [("dep", e) for e in stage.get("deps") or []]
        entries += [("out", e) for e in stage.get("outs") or []]
        for kind, entry in entries:
            rel, md5 = entry.get("path"), str(entry.get("md5") or "")
            if not rel or not md5 or md5.endswith(".dir"):
                continue
            path = root / rel
            if not path.is_file():
                found.append(Drift(name, kind, rel, DELETED))
            elif file_md5(path) != md5:
                found.append(Drift(name, kind, rel, MODIFIED))
        for file, values in (stage.get("params") or {}).items():
            if file not in params_cache:
                params_cache[file] = _read_yaml(root / file)
            for key, locked in (values or {}).items():
                value = _lookup(params_cache[file], key)
                if value != locked:
                    state = DELETED if value is _ABSENT else MODIFIED
                    found.append(Drift(name, "param", file, state, key))
    return found


def stale_inputs(lock: Mapping[str, Any], root: Path, reads: Iterable[str | Path]) -> list[str]:
    """compare's check: what behind the files it reads differs from dvc.lock, one line each.

    Uncommitted but reproduced changes are fine (the comparison is then of the working
    tree); stale or missing outputs are not.
    """
    return sorted({d.sentence() for d in lock_drift(lock, root, reads)})


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
