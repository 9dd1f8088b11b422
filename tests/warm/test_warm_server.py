"""The warm server for real: `bikecast <stage>` processes in temp repos, a server each test
starts in its own directory, signals and kills sent to real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import yaml
from tests.conftest import BIN, ROOT, copy_repo, run, stop_warm_servers, warm_servers

from bikecast.warm import place
from bikecast.warm.client import STAGES

PREP = ("ingest", "validate", "features", "split")


@pytest.fixture
def warm(tmp_path_factory):
    """A warm directory of this test's own (short: a socket path has 108 bytes at most)."""
    directory = Path(tempfile.mkdtemp(prefix="bw-"))
    yield {place.DIR: str(directory), place.ENABLE: "1"}
    stop_warm_servers(directory)


def server_log(env: dict) -> str:
    return "".join(p.read_text() for p in Path(env[place.DIR]).glob("*.log"))


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def worker_pid(env: dict, stage: str) -> int:
    found = []
    wait_for(lambda: found.extend(re.findall(rf"worker (\d+): {stage} in", server_log(env)))
             or found, f"a {stage} worker")  # fmt: skip
    return int(found[-1])


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def start(cmd: list[str], repo: Path, env: dict) -> subprocess.Popen:
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.Popen(cmd, cwd=repo, env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def without_times(text: str) -> str:
    return re.sub(r"^\d\d:\d\d:\d\d ", "", text, flags=re.M)


def test_the_stages_dvc_runs_are_the_ones_served_warm():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert {spec["cmd"].split()[1] for spec in stages.values()} == STAGES
    assert all(spec["cmd"].split()[0] == "bikecast" for spec in stages.values())


@pytest.mark.slow
def test_stages_served_warm_write_what_their_own_processes_write(tmp_path, warm):
    cold, hot = copy_repo(tmp_path / "cold"), copy_repo(tmp_path / "hot")
    for stage in PREP:
        alone = run(["bikecast", stage], cold, env={place.ENABLE: "0"})
        served = run(["bikecast", stage], hot, env=warm)
        assert without_times(served.stderr) == without_times(alone.stderr)
        assert served.stdout == alone.stdout
    outputs = ["data/raw/hourly.parquet", "data/interim/hourly.parquet", "metrics/validate.json",
               "data/features/features.parquet", "data/split/train.parquet"]  # fmt: skip
    for name in outputs:
        assert (hot / name).read_bytes() == (cold / name).read_bytes(), name
    text = server_log(warm)
    assert len(re.findall(r"worker \d+: \w+ in .*/hot\n", text)) == len(PREP)
    assert len(re.findall(r"level 1 ready", text)) == 1  # one server served them all
    assert "threads running" not in text  # nothing was forked with a thread pool started
    # two clients at once, from two repos: each gets its own worker
    procs = [start(["bikecast", "ingest"], repo, warm) for repo in (cold, hot)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert (hot / outputs[0]).read_bytes() == (cold / outputs[0]).read_bytes()


def test_a_failing_stage_fails_the_same_way_served_warm(tmp_path, warm):
    repo = copy_repo(tmp_path / "repo")
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("source: replay", "source: kaggle"))
    proc = run(["bikecast", "ingest"], repo, check=False, env=warm)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "ingest.source" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"worker \d+: exit 1 after", server_log(warm))
    usage = run(["bikecast", "ingest", "--no-such-flag"], repo, check=False, env=warm)
    assert usage.returncode == 2 and "No such option" in usage.stderr  # click's own


def test_without_a_usable_directory_the_stage_runs_in_its_own_process(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc = run(["bikecast", "ingest"], repo, env={place.DIR: str(blocker)})
    lines = [line for line in proc.stderr.splitlines() if line.startswith("bikecast:")]
    assert lines == [f"bikecast: no warm server (cannot use {blocker}: File exists); "
                     "running ingest here"]  # fmt: skip
    assert (repo / "data/raw/hourly.parquet").is_file()


@pytest.fixture
def split_repo(tmp_path, warm) -> Path:
    repo = copy_repo(tmp_path / "repo")
    for stage in PREP:
        run(["bikecast", stage], repo, env=warm)
    return repo


@pytest.mark.slow
def test_a_killed_client_takes_its_worker_with_it(split_repo, warm):
    client = start(["bikecast", "train"], split_repo, warm)
    worker = worker_pid(warm, "train")
    client.send_signal(signal.SIGKILL)
    client.wait()
    wait_for(lambda: gone(worker), "the worker to be killed", timeout=10)
    assert f"worker {worker}: its client went away" in server_log(warm)
    assert not (split_repo / "models" / "model.ubj").exists()
    assert run(["bikecast", "train"], split_repo, env=warm).returncode == 0  # still serving


@pytest.mark.slow
def test_sigterm_to_the_client_stops_the_worker_and_the_client_dies_of_it(split_repo, warm):
    client = start(["bikecast", "train"], split_repo, warm)
    worker = worker_pid(warm, "train")
    time.sleep(0.5)
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=30) == -signal.SIGTERM
    wait_for(lambda: gone(worker), "the worker to stop")
    assert f"worker {worker}: signal {int(signal.SIGTERM)}" in server_log(warm)


@pytest.mark.slow
def test_a_server_killed_mid_stage_fails_the_stage_in_one_line(split_repo, warm):
    client = start(["bikecast", "train"], split_repo, warm)
    worker = worker_pid(warm, "train")
    for proc in warm_servers(Path(warm[place.DIR])):
        proc.kill()
    _, stderr = client.communicate(timeout=30)
    assert client.returncode == 1
    assert stderr.strip().splitlines()[-1] == (
        f"error: the warm server stopped while train ran (pid {worker}, killed); run it again, "
        f"or set {place.ENABLE}=0"
    )
    wait_for(lambda: gone(worker), "the worker to be killed")
    # the next stage starts a new server
    assert run(["bikecast", "split"], split_repo, env=warm).returncode == 0
    # the log is appended: the killed server's start, then the new one's
    assert len(re.findall(r"level 1 ready", server_log(warm))) == 2


def test_an_idle_server_exits_and_takes_its_socket_with_it(tmp_path, warm):
    repo = copy_repo(tmp_path / "repo")
    env = {**warm, place.IDLE: "1"}
    run(["bikecast", "ingest"], repo, env=env)
    directory = Path(warm[place.DIR])
    wait_for(lambda: not warm_servers(directory), "every level to exit", timeout=30)
    assert not list(directory.glob("*.sock"))
    assert "idle for 1 s: exiting" in server_log(warm)


def test_the_server_key_follows_the_code_and_the_import_time_environment(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    path = [str(tmp_path)]
    key = place.code_key(package, path, {"HOME": "/a"})
    assert place.code_key(package, path, {"HOME": "/b", "BIKECAST_NOW": "x"}) == key
    assert place.code_key(package, path, {"OMP_NUM_THREADS": "1"}) != key
    assert place.code_key(package, [*path, "/elsewhere"], {}) != key
    (package / "a.py").write_text("x = 22\n")
    assert place.code_key(package, path, {}) != key


def test_a_directory_others_can_open_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(place.Unavailable, match="only this user can open"):
        place.directory({place.DIR: str(shared)})


@pytest.mark.slow
def test_one_server_chain_serves_a_whole_repro_even_when_idle_time_is_short(tmp_path, warm):
    """Each level takes over only between stages, so none idles out while an older one works
    (a level that did would leave the next stage to start a server from nothing)."""
    repo = copy_repo(tmp_path / "repo")
    env = {**warm, place.IDLE: "2"}
    run(["dvc", "repro"], repo, env=env)
    text = server_log(warm)
    assert len(re.findall(r"level 1 ready", text)) == 1
    ready = dict(re.findall(r"level (\d) ready in [\d.]+ s \(pid (\d+)", text))
    served_by = {stage: pid for pid, stage in re.findall(r" (\d+) worker \d+: (\w+) in", text)}
    assert set(served_by) == STAGES
    assert served_by["drift"] == ready["3"]  # Evidently was imported before drift asked for it
    assert run(["dvc", "status"], repo).stdout.strip() == "Data and pipelines are up to date."
