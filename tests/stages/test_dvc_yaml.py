"""dvc.yaml and src/bikecast/paths.py name the same files; every stage imports are deps."""

import ast
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


def module_file(name: str) -> Path | None:
    """The source file of a bikecast module or package, None if there is none."""
    base = ROOT / "src" / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def direct_imports(module: str) -> set[str]:
    """bikecast modules a module imports anywhere in its body (also inside functions), from
    its syntax tree: `import a.b`, `from a import b, c` (b a module or a name in a),
    `from a.b import (x, y)`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module_file(module).read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if module_file(sub) else node.module)
    return {name for name in found if name.startswith("bikecast") and module_file(name)}


def imported_modules(module: str, seen: set[str] | None = None) -> set[str]:
    """bikecast modules a module imports, transitively."""
    seen = set() if seen is None else seen
    for name in direct_imports(module) - seen:
        seen.add(name)
        imported_modules(name, seen)
    return seen


def test_import_walk_sees_every_import_form(tmp_path, monkeypatch):
    """The walk must not miss the forms a regex missed: names from a module, several
    names, parenthesised lists, imports inside functions."""
    assert {"bikecast.ml.training", "bikecast.ml.model"} <= direct_imports("bikecast.stages.train")
    assert "bikecast.data.sources.replay" in direct_imports("bikecast.data.sources")
    assert "bikecast.compute" in direct_imports("bikecast.stages.train")  # inside run()


PLUMBING = {"bikecast", "bikecast.io", "bikecast.paths", "bikecast.config", "bikecast.errors"}


def test_shared_modules_are_deps_where_imported():
    """A stage reruns when any code it runs changes (io, paths, config, errors: plumbing)."""
    for name in PIPELINE:
        deps = declared(name, "deps")
        for module in imported_modules(f"bikecast.stages.{name}") - PLUMBING:
            path = str(module_file(module).relative_to(ROOT))
            assert path in deps or any(path.startswith(d + "/") for d in deps), (name, path)


def test_no_stage_declares_code_it_does_not_run():
    """A declared module the stage never imports reruns it for nothing."""
    for name in PIPELINE:
        ran = {
            str(module_file(m).relative_to(ROOT))
            for m in imported_modules(f"bikecast.stages.{name}") | {f"bikecast.stages.{name}"}
        }
        for dep in declared(name, "deps"):
            if dep.startswith("src/"):
                assert dep in ran or any(path.startswith(dep + "/") for path in ran), (name, dep)
