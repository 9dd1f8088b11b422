"""dvc.yaml and src/bikecast/paths.py name the same files; every stage imports are deps."""

import re
from pathlib import Path

import yaml

from bikecast import paths

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def declared(stage: str, kind: str) -> set[str]:
    out = set()
    for entry in PIPELINE[stage].get(kind, []):
        out.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return out


def test_stage_outputs_match_paths_module():
    outs = {
        s: declared(s, "outs") | declared(s, "metrics") | declared(s, "plots") for s in PIPELINE
    }
    assert {str(paths.RAW)} <= outs["ingest"]
    assert {str(paths.INTERIM), str(paths.QUARANTINE), str(paths.VALIDATE_METRICS)} <= outs[
        "validate"
    ]
    assert {str(paths.FEATURES)} <= outs["features"]
    assert {str(paths.TRAIN), str(paths.TEST)} <= outs["split"]
    assert {str(paths.MODEL), str(paths.MODEL_META)} <= outs["train"]
    assert {
        str(paths.EVALUATE_METRICS),
        str(paths.PREDICTIONS_PLOT),
        str(paths.RESIDUALS_PLOT),
    } <= outs["evaluate"]


def test_every_stage_runs_its_own_cli_command_and_depends_on_its_module():
    for name, stage in PIPELINE.items():
        assert stage["cmd"].startswith(f"bikecast {name}"), name
        assert f"src/bikecast/stages/{name}.py" in declared(name, "deps"), name


def imported_modules(module: str, seen: set[str] | None = None) -> set[str]:
    """bikecast modules a module imports, transitively (text scan of its import lines)."""
    seen = set() if seen is None else seen
    source = (ROOT / "src" / (module.replace(".", "/") + ".py")).read_text()
    for found in re.findall(r"^\s*from bikecast(?:\.(\w+))? import (\w+)", source, re.M):
        name = f"bikecast.{found[0] or found[1]}"
        if name not in seen and (ROOT / "src" / (name.replace(".", "/") + ".py")).exists():
            seen.add(name)
            imported_modules(name, seen)
    return seen


def test_shared_modules_are_deps_where_imported():
    """A stage reruns when any code it runs changes (io, paths, config, errors: plumbing)."""
    plumbing = {"bikecast.io", "bikecast.paths", "bikecast.config", "bikecast.errors"}
    for name in PIPELINE:
        deps = declared(name, "deps")
        for module in imported_modules(f"bikecast.stages.{name}") - plumbing:
            path = "src/" + module.replace(".", "/") + ".py"
            assert path in deps or any(path.startswith(d + "/") for d in deps), (name, path)
