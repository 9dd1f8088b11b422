"""`bikecast lock-check` (ci.yml's "dvc.lock matches code and params") on a real DVC repo
whose dvc.lock is fresh, with every output removed as in a clone where nothing is pulled."""

from __future__ import annotations

import shutil

from tests.conftest import run

OUTPUT_DIRS = ("data/raw", "data/interim", "data/quarantine", "data/features", "data/split")


def test_unpulled_clone_passes_and_a_changed_param_or_source_fails(clone_pipeline_repo):
    repo = clone_pipeline_repo
    for rel in (*OUTPUT_DIRS, "models", ".dvc/cache"):
        shutil.rmtree(repo / rel, ignore_errors=True)
    # Python writes these wherever it imports from; they must not make the lock look stale
    cache = repo / "src" / "bikecast" / "data" / "sources" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "uci.cpython-311.pyc").write_bytes(b"\0")
    ok = run(["bikecast", "lock-check"], repo, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("test_days: 28", "test_days: 21"))
    (repo / "src" / "bikecast" / "ml" / "baselines.py").write_text("# edited\n", encoding="utf-8")
    stale = run(["bikecast", "lock-check"], repo, check=False)
    assert stale.returncode == 1
    assert "param split.test_days modified" in stale.stderr
    assert "dep src/bikecast/ml/baselines.py modified" in stale.stderr
    assert "run `dvc repro`" in stale.stderr
