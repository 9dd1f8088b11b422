"""compare and report on real git histories with real DVC, in temporary copies.

One module fixture builds the history: commit A holds the session pipeline's model
(the champion), commit B retrains with train.n_estimators=30 (a clearly worse
challenger; one short `dvc repro` of train + evaluate). Each test works on its own copy.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import image_sources, run

pytestmark = pytest.mark.slow
GIT_ID = ["-c", "user.name=t", "-c", "user.email=t@t"]


def own_code(repo: Path) -> dict[str, str]:
    """Run the repository's own code, not the venv's editable install of /work/main: the
    two differ whenever src/ changes after the session's pipeline was reproduced."""
    return {"PYTHONPATH": str(repo / "src")}


def git(repo: Path, *args: str) -> str:
    return run(["git", *GIT_ID, *args], repo).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    """Edit one value in params.yaml in place (keeps the comments)."""
    path = repo / "params.yaml"
    text, count = re.subn(
        rf"(^{section}:\n(?:[ \t]+.*\n|\s*\n)*?[ \t]+{key}:)[ \t]*[^\n#]*",
        rf"\g<1> {value}",
        path.read_text(),
        count=1,
        flags=re.M,
    )
    assert count == 1, f"{section}.{key} not found in params.yaml"
    path.write_text(text)


@pytest.fixture(scope="module")
def history(pipeline_repo, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("compare_history")
    repo = root / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    # a local DVC remote, committed like the S3 one would be (tests override its url locally)
    run(["dvc", "remote", "add", "-d", "-f", "local", str(root / "unused-remote")], repo)
    a = commit(repo, "A: champion")
    set_param(repo, "train", "n_estimators", 30)
    # up to evaluate only: later stages (drift) are not what compare reads, and cost time
    run(["dvc", "repro", "evaluate"], repo, env=own_code(repo))
    b = commit(repo, "B: worse challenger")
    return {"repo": repo, "A": a, "B": b}


@pytest.fixture
def repo(history, tmp_path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(history["repo"], dest, symlinks=True)
    return dest


@pytest.fixture
def scratch(tmp_path) -> Path:
    """TMPDIR for compare: its temporary worktrees must be gone afterwards."""
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def bikecast(repo: Path, scratch: Path, *args: str):
    """B changes the recipe (train.n_estimators), which makes compare replay both recipes;
    the tests of the window gate say --no-backtest, test_a_recipe_change_... does not."""
    if args[0] == "compare" and "--backtest" not in args:
        args = (*args, "--no-backtest")
    return run(
        ["bikecast", *args], repo, check=False, env={"TMPDIR": str(scratch), **own_code(repo)}
    )


def git_state(repo: Path) -> dict:
    """What compare must never change: HEAD, branches, tags, tracked files, worktrees."""
    status = [
        line
        for line in git(repo, "status", "--porcelain", "--untracked-files=all").splitlines()
        if not re.search(r"metrics/compare|reports/", line)
    ]
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic": git(repo, "symbolic-ref", "-q", "HEAD"),
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "status": status,
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "dvc_config": (repo / ".dvc" / "config").read_text(),
    }


def cache_files(repo: Path) -> dict[str, bytes]:
    files = repo / ".dvc" / "cache" / "files"
    return {str(p.relative_to(files)): p.read_bytes() for p in files.rglob("*") if p.is_file()}


def assert_clean_after(repo: Path, scratch: Path, before: dict) -> None:
    assert git_state(repo) == before
    assert list(scratch.iterdir()) == [], "a temporary worktree was left behind"


def lock_md5(repo: Path, sha: str, path: str) -> str:
    lock = yaml.safe_load(git(repo, "show", f"{sha}:dvc.lock"))
    return next(
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == path
    )


def cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def score_file(model_file: Path, card: dict, repo: Path) -> dict:
    """Score a model file directly: xgboost on the test split's stored feature columns."""
    import xgboost as xgb

    from bikecast.ml.metrics import regression_metrics

    test = pd.read_parquet(repo / "data" / "split" / "test.parquet")
    booster = xgb.Booster()
    booster.load_model(bytearray(model_file.read_bytes()))  # cache objects have no suffix
    raw = booster.inplace_predict(test[card["feature_columns"]].to_numpy(dtype="float32"))
    return regression_metrics(test["rentals"], np.clip(np.expm1(raw.astype("float64")), 0, None))


def read_result(repo: Path) -> dict:
    return json.loads((repo / "metrics" / "compare.json").read_text())


# --- the gate on a real history ---------------------------------------------------------------


def test_worse_challenger_fails_with_exit_3_and_numbers_match_direct_scoring(
    repo, history, scratch
):
    before, cache_before = git_state(repo), cache_files(repo)
    proc = bikecast(repo, scratch, "compare", "--base", "HEAD~1")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("fail: challenger RMSLE")
    res = read_result(repo)
    assert res["verdict"] == "fail"
    assert (res["base"]["rev"], res["base"]["sha"]) == ("HEAD~1", history["A"])
    assert res["current"]["sha"] == history["B"] and res["current"]["dirty"] is False

    card_b = json.loads((repo / "models" / "eval.json").read_text())  # evaluation fits rank
    model_a = cache_object(repo, lock_md5(repo, history["A"], "models/eval.ubj"))
    card_a = json.loads(
        cache_object(repo, lock_md5(repo, history["A"], "models/eval.json")).read_text()
    )
    assert res["models"]["champion"] == score_file(model_a, card_a, repo)
    assert res["models"]["challenger"] == score_file(repo / "models" / "eval.ubj", card_b, repo)
    # and they agree with what each revision's own evaluate stage wrote for the same window
    evaluate_a = json.loads(git(repo, "show", f"{history['A']}:metrics/evaluate.json"))
    evaluate_b = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert res["models"]["champion"] == evaluate_a["model"]
    assert res["models"]["challenger"] == evaluate_b["model"]
    for name in ("seasonal_naive", "hour_workingday_mean"):
        assert res["models"][name] == evaluate_b["baselines"][name]
    assert res["window"] == evaluate_b["test_window"]
    assert (res["base"]["model_version"], res["current"]["model_version"]) == (
        card_a["version"],
        card_b["version"],
    )
    assert res["gate"]["challenger"] > res["gate"]["limit"]
    assert res["base"]["window_rows_seen_in_training"] == 0
    predictions = pd.read_csv(repo / "metrics" / "compare_predictions.csv")
    assert len(predictions) == res["window"]["rows"]

    assert_clean_after(repo, scratch, before)
    assert cache_files(repo) == cache_before


def test_a_recipe_change_is_gated_on_both_recipes_backtests(repo, history, scratch):
    """B's recipe (30 trees) against A's (early stopping from 1000), each replayed with its
    own code over the same 26 weekly origins; the gate weighs those, and the report says so."""
    before = git_state(repo)
    proc = bikecast(repo, scratch, "compare", "--base", history["A"], "--backtest")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("fail: the recipe changed (params train): over 26 backtest")
    res = read_result(repo)
    backtest, gate = res["backtest"], res["gate"]
    assert backtest["changes"] == ["params train"] and backtest["error"] is None
    assert backtest["span"]["origins"] == backtest["steps"]["origins"] == 26
    champion, challenger = backtest["champion"], backtest["challenger"]
    assert (gate["basis"], gate["champion"], gate["challenger"]) == (
        "backtest",
        champion["rmsle"],
        challenger["rmsle"],
    )
    assert challenger["rmsle"] > gate["limit"] and backtest["steps"]["challenger_better"] < 13
    assert gate["window"]["champion"] == res["models"]["champion"]["rmsle"]
    proc = bikecast(repo, scratch, "report", "--base", history["A"], "--out", "reports/pr.md")
    assert proc.returncode == 0, proc.stderr
    text = (repo / "reports" / "pr.md").read_text()
    assert "**Backtest: the recipe changed** (`params train`)" in text
    assert f"| champion | {champion['rmsle']:.4f} |" in text
    assert "on the backtest's origins" in text
    assert_clean_after(repo, scratch, before)


def test_better_challenger_passes_and_report_renders(repo, history, scratch):
    git(repo, "revert", "--no-edit", "HEAD")  # back to A's params and model, as a new commit
    run(["dvc", "checkout"], repo)
    before = git_state(repo)
    proc = bikecast(repo, scratch, "compare", "--base", history["B"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pass: ")
    res = read_result(repo)
    assert res["verdict"] == "pass" and res["deltas"]["absolute"]["rmsle"] < 0

    proc = bikecast(repo, scratch, "report", "--base", history["B"], "--out", "reports/pr.md")
    assert proc.returncode == 0, proc.stderr
    assert "reusing metrics/compare.json" in proc.stderr
    text = (repo / "reports" / "pr.md").read_text()
    assert text.splitlines()[0].startswith("### ✅ PASS: challenger RMSLE")
    champion, challenger = res["models"]["champion"], res["models"]["challenger"]
    assert f"| RMSLE (gate) | {champion['rmsle']:.4f} | {challenger['rmsle']:.4f} |" in text
    assert "`train.n_estimators` 30 → 1,000" in text
    assert "Data window: unchanged" in text

    import markdown

    sources = image_sources(markdown.markdown(text, extensions=["tables"]))
    assert len(sources) == 2
    for src in sources:
        assert not Path(src).is_absolute()
        assert (repo / "reports" / src).read_bytes()[:4] == b"\x89PNG"
    assert_clean_after(repo, scratch, before)


# --- where the champion comes from ------------------------------------------------------------


def test_base_model_missing_from_cache_comes_from_the_remote(repo, history, scratch, tmp_path):
    remote, empty = tmp_path / "remote", tmp_path / "empty-remote"
    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], repo)
    git(repo, "tag", "champion", history["A"])  # push A's outputs too (the tag, not -A:
    run(["dvc", "push", "-T", "-r", "local", "-q"], repo)  # the init commit has none)
    objects = [
        cache_object(repo, lock_md5(repo, history["A"], p))
        for p in ("models/eval.ubj", "models/eval.json")
    ]
    contents = [p.read_bytes() for p in objects]
    for path in objects:
        path.unlink()

    run(["dvc", "remote", "modify", "--local", "local", "url", str(empty)], repo)
    before = git_state(repo)
    proc = bikecast(repo, scratch, "compare", "--base", history["A"])
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: base {history['A']} ({history['A'][:12]}): models/eval.ubj")
    assert "neither in the local DVC cache nor on the DVC remote" in error
    assert_clean_after(repo, scratch, before)

    run(["dvc", "remote", "modify", "--local", "local", "url", str(remote)], repo)
    proc = bikecast(repo, scratch, "compare", "--base", history["A"])
    assert proc.returncode == 3, proc.stderr
    assert [p.read_bytes() for p in objects] == contents  # fetched into the user's cache
    evaluate_a = json.loads(git(repo, "show", f"{history['A']}:metrics/evaluate.json"))
    assert read_result(repo)["models"]["champion"] == evaluate_a["model"]
    assert_clean_after(repo, scratch, before)


def test_base_is_scored_with_its_own_code(repo, history, scratch):
    """The base drops a feature: only the base's own features.py can score its model."""
    git(repo, "switch", "-q", "-c", "fewer-features", history["A"])
    run(["dvc", "checkout", "-q"], repo)
    features = repo / "src" / "bikecast" / "ml" / "features.py"
    text = features.read_text()
    assert text.count('"day_of_year"') == 2
    features.write_text("\n".join(x for x in text.splitlines() if '"day_of_year"' not in x) + "\n")
    set_param(repo, "train", "n_estimators", 60)
    run(["dvc", "repro", "-q", "evaluate"], repo, env=own_code(repo))
    base = commit(repo, "X: no day_of_year")
    git(repo, "revert", "--no-edit", "HEAD")
    run(["dvc", "checkout", "-q"], repo)
    before = git_state(repo)

    proc = bikecast(repo, scratch, "compare", "--base", base)
    assert proc.returncode in (0, 3), proc.stderr
    res = read_result(repo)
    assert "day_of_year" not in res["base"]["feature_columns"]
    assert len(res["base"]["feature_columns"]) == len(res["current"]["feature_columns"]) - 1
    assert "bikecast-base-" in res["base"]["code"] and res["base"]["code"].endswith("src/bikecast")
    # X's evaluate stage scored its model with X's code on the same window: same numbers
    evaluate_x = json.loads(git(repo, "show", f"{base}:metrics/evaluate.json"))
    assert res["models"]["champion"] == evaluate_x["model"]
    assert "day_of_year" not in res["importance"]["champion"]
    assert_clean_after(repo, scratch, before)

    # today's code cannot load that model: using it would have been an error, not a score
    from bikecast.ml.model import ModelError, load_model

    model = cache_object(repo, lock_md5(repo, base, "models/eval.ubj"))
    card = cache_object(repo, lock_md5(repo, base, "models/eval.json"))
    with pytest.raises(ModelError, match="model expects features"):
        load_model(model, card)


def test_base_without_a_pipeline_is_no_base(repo, scratch):
    empty_tree = git(repo, "hash-object", "-t", "tree", "/dev/null")
    base = git(repo, "commit-tree", empty_tree, "-m", "before the pipeline")
    before = git_state(repo)
    proc = bikecast(repo, scratch, "compare", "--base", base)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no_base: ")
    res = read_result(repo)
    assert res["verdict"] == "no_base" and "champion" not in res["models"]
    assert "no dvc.yaml" in res["reason"]
    proc = bikecast(repo, scratch, "report", "--base", base, "--out", "reports/pr.md")
    assert proc.returncode == 0, proc.stderr
    assert (repo / "reports" / "pr.md").read_text().startswith("### 🆕 NO BASE")
    assert_clean_after(repo, scratch, before)


# --- bad input --------------------------------------------------------------------------------


def test_bad_input_is_named_and_leaves_everything_as_it_was(repo, history, scratch, monkeypatch):
    import tempfile

    from bikecast.review import compare, gitrev

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before, cache_before = git_state(repo), cache_files(repo)

    proc = bikecast(repo, scratch, "compare", "--base", "no-such-branch")
    assert proc.returncode == 1
    assert "unknown revision 'no-such-branch'" in proc.stderr

    # a base whose dvc.yaml declares the model but which has no dvc.lock
    index = scratch.parent / "index"
    env = {"GIT_INDEX_FILE": str(index)}
    run(["git", "read-tree", history["A"]], repo, env=env)
    run(["git", "update-index", "--force-remove", "dvc.lock"], repo, env=env)
    tree = run(["git", "write-tree"], repo, env=env).stdout.strip()
    index.unlink()
    no_lock = git(repo, "commit-tree", tree, "-p", history["A"], "-m", "lost dvc.lock")
    with pytest.raises(
        compare.CompareError, match=rf"base {no_lock} \({no_lock[:12]}\): dvc.lock is missing"
    ):
        compare.run(no_lock, repo)

    # a corrupt base model in the user's cache: caught, named, and left as it is
    obj = cache_object(repo, lock_md5(repo, history["A"], "models/eval.ubj"))
    obj.chmod(0o644)
    corrupt = bytearray(obj.read_bytes())
    corrupt[200:210] = b"\xff" * 10
    obj.write_bytes(bytes(corrupt))
    proc = bikecast(repo, scratch, "compare", "--base", history["A"])
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1].removeprefix("error: ")
    assert message.startswith(f"base {history['A']} ({history['A'][:12]}): models/eval.ubj")
    assert f"does not match its md5 {lock_md5(repo, history['A'], 'models/eval.ubj')}" in message
    assert "corrupt" in message
    assert obj.read_bytes() == bytes(corrupt)  # compare neither repaired nor deleted it
    obj.write_bytes(cache_before[str(obj.relative_to(repo / ".dvc" / "cache" / "files"))])

    # a working tree that is not what dvc.lock says (params edited, no repro)
    params = repo / "params.yaml"
    original = params.read_text()
    set_param(repo, "train", "max_depth", 9)
    with pytest.raises(compare.CompareError, match=r"params.yaml: train differs from dvc.lock"):
        compare.run(history["A"], repo)
    params.write_text(original)

    with pytest.raises(gitrev.GitError, match="unknown revision"):
        compare.run("v99", repo)
    assert not (repo / "metrics" / "compare.json").exists()
    assert_clean_after(repo, scratch, before)
    assert cache_files(repo) == cache_before


# --- older package layouts, with their real code ---------------------------------------------

SOURCE = Path(__file__).resolve().parents[2]  # this checkout, whose history holds them
OLD_LAYOUTS = {
    "20445cb": "bikecast.model",  # flat package, dict card
    "593fbcb": "bikecast.ml.model",  # ml/ package, still a dict card
}


@pytest.mark.parametrize("rev", sorted(OLD_LAYOUTS))
def test_real_older_code_scores_a_model_like_todays_code(history, tmp_path, rev):
    """The scorer under an older revision's own src/ (from this checkout's git history; a
    shallow clone without it skips), on history A's model: the same predictions as today."""
    import subprocess

    from bikecast.review import compare

    found = subprocess.run(
        ["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=SOURCE, capture_output=True
    )
    if found.returncode != 0:
        pytest.skip(f"{rev} is not in this checkout's git history")
    repo = history["repo"]
    tree = tmp_path / "scratch" / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=SOURCE, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    (tree / "models").mkdir()
    for rel in ("models/eval.ubj", "models/eval.json"):
        shutil.copyfile(cache_object(repo, lock_md5(repo, history["A"], rel)), tree / rel)

    window = compare.load_window(repo)
    evaluation = (Path("models/eval.ubj"), Path("models/eval.json"))
    with compare.BaseScorer(tree, window.inputs, f"base {rev}", *evaluation) as scorer:
        champion = scorer.result()
    assert json.loads((tree.parent / "result.json").read_text())["layout"] == OLD_LAYOUTS[rev]
    assert Path(champion.code) == tree / "src" / "bikecast"

    today = compare.score_current(tree, window.inputs)  # the same files, today's code
    np.testing.assert_allclose(champion.predicted, today.predicted, rtol=1e-6)
    assert champion.card == today.card  # the old code's dict card, parsed: today's card
