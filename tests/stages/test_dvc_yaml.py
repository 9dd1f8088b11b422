"""dvc.yaml and src/bikecast/paths.py name the same files; every stage imports are deps; every
param a stage reads is declared for it."""

import ast
from collections import defaultdict
from pathlib import Path

import yaml
from pydantic import BaseModel

from bikecast import paths
from bikecast.config import ComputeParams, Params

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
    assert {str(paths.EVAL_MODEL), str(paths.EVAL_META)} <= outs["train"]
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


# --- params: every key a stage reads is declared for it ---------------------------------------


def join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def sections(model: type[BaseModel] = Params, key: str = "") -> dict[str, tuple[type, str]]:
    """Each typed params class by name, with its key in params.yaml (Params: "")."""
    out = {model.__name__: (model, key)}
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out |= sections(field.annotation, join(key, field.alias or name))
    return out


SECTIONS = sections()  # TrainParams: train, CapitalBikeshareParams: ingest.capital_bikeshare, ...
PROPERTIES = {"as_of_utc": "as_of", "validate_params": "validate_", "uses_level": "level"}
# (a property: the field it reads; uses_level also reads grain, which every stage declares)
# where the work runs, not what it computes: not DVC params by design (README "Running on Dask")
WHERE_IT_RUNS = {f"compute.{name}" for name in ComputeParams.model_fields} - {"compute.engine"}
Roots = dict[tuple[str, ...], tuple[type, str]]  # ("params",) or ("self", "cfg"): its section


def section_of(annotation: ast.expr | None) -> tuple[type, str] | None:
    """The params section an annotation names (`Params`, `TrainParams | None`, ...)."""
    for node in ast.walk(annotation) if annotation else ():
        if isinstance(node, ast.Name) and node.id in SECTIONS:
            return SECTIONS[node.id]
    return None


def key_of(model: type[BaseModel], key: str, attrs: list[str]) -> str | None:
    """The dotted key `attrs` read from a `model` found at `key`; None for a whole section
    handed on (the function it goes to says, by its annotation, what it reads)."""
    for attr in attrs:
        name = PROPERTIES.get(attr, attr)
        field = model.model_fields.get(name)
        if field is None:  # a method such as model_dump(): the whole section
            return key
        key = join(key, field.alias or name)
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return key
        model = field.annotation
    return None


def reads(fn: ast.FunctionDef, roots: Roots) -> set[str]:
    """Keys read by the attribute chains (`params.train.seed`) on the function's roots."""
    roots = roots | {(a.arg,): section_of(a.annotation) for a in ast.walk(fn.args)
                     if isinstance(a, ast.arg) and section_of(a.annotation)}  # fmt: skip
    inner = {id(n.value) for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
    found = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue  # only whole chains
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain, node = [node.attr, *chain], node.value
        chain = [node.id, *chain] if isinstance(node, ast.Name) else []
        for root, (model, key) in roots.items():
            if tuple(chain[: len(root)]) == root:
                found.add(key_of(model, key, chain[len(root) :]))
    return found - {None}


def params_read(sources: list[str], entry: str = "run") -> set[str]:
    """Keys read by `entry` and every function or class it names, transitively (by name)."""
    units: defaultdict[str, list[tuple[ast.FunctionDef, Roots]]] = defaultdict(list)
    for tree in map(ast.parse, sources):
        methods = set()
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            fields = {("self", s.target.id): section_of(s.annotation) for s in cls.body
                      if isinstance(s, ast.AnnAssign) and section_of(s.annotation)}  # fmt: skip
            for method in (m for m in cls.body if isinstance(m, ast.FunctionDef)):
                units[cls.name].append((method, fields))  # a class reaches its methods
                units[method.name].append((method, fields))
                methods.add(id(method))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and id(fn) not in methods:
                units[fn.name].append((fn, {}))
    todo, seen, found = [entry], set(), set()
    while todo:
        if (name := todo.pop()) in seen:
            continue
        seen.add(name)
        for fn, roots in units.get(name, []):
            found |= reads(fn, roots)
            names = [n for n in ast.walk(fn) if isinstance(n, ast.Name | ast.Attribute)]
            todo += [n.id if isinstance(n, ast.Name) else n.attr for n in names]
    return found


def undeclared(read: set[str], declared: set[str]) -> set[str]:
    return {k for k in read if not any(k == d or k.startswith(d + ".") for d in declared)}


def test_params_walk_reports_an_undeclared_read():
    source = """
def run(params: Params):
    fit(params.train, params.grain.is_station)  # the section is read by fit
    return Source(params.ingest).load(), params.validate_params.max_bad_fraction

def fit(train: TrainParams, station: bool):
    return train.seed, [train.model_dump() for _ in range(2)]

def unused(params: Params):
    return params.drift.reference  # never reached from run

class Source:
    cfg: IngestParams

    def load(self):
        return self.cfg.as_of_utc, self.cfg.capital_bikeshare.retries
"""
    read = params_read([source])
    assert read == {"grain", "train.seed", "train", "validate.max_bad_fraction", "ingest.as_of",
                    "ingest.capital_bikeshare.retries"}  # fmt: skip
    declared = {"grain", "train.seed", "ingest"}
    assert undeclared(read, declared) == {"train", "validate.max_bad_fraction"}


def test_every_param_a_stage_reads_is_declared_for_it():
    """A stage reruns when a param it reads changes; one it does not declare would be missed."""
    for name in PIPELINE:
        # not bikecast.config: its validators check the whole of params.yaml, for every stage
        modules = imported_modules(f"bikecast.stages.{name}") - {"bikecast.config"}
        sources = [module_file(m).read_text() for m in [f"bikecast.stages.{name}", *modules]]
        read = params_read(sources)
        assert undeclared(read, declared(name, "params")) - WHERE_IT_RUNS == set(), name
