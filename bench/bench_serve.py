"""Benchmark `bikecast serve` on 127.0.0.1 against a FastAPI no-op served the same way.

Needs a trained model in the repository it runs from (models/model.onnx, model.ubj and
model.json: `dvc pull` or `dvc repro`) and the `wrk` load generator (Debian/Ubuntu:
`apt-get install -y wrk`; macOS: `brew install wrk`). Everything is loopback only and bounded
in time and request count.

    uv run python bench/bench_serve.py                 # full run (~8-10 min on 2 cores)
    uv run python bench/bench_serve.py --quick         # smoke run (~2 min)

Measures, in one run:
  1. single-record POST /predict throughput vs a no-op FastAPI POST endpoint (same uvicorn
     settings, same body), p50/p99 latency at 8 and 64 connections, errors: the served ONNX
     export, and the same model served by XGBoost (`--model models/model.ubj`) beside it;
  2. where one record's time goes in process (validation, inputs, features, model call with
     ONNX Runtime and with XGBoost);
     a 10,000-record /predict: wall time vs the same predict in process;
  3. server RSS after start-up, after warm-up, and after ~100,000 /predict requests.
Results: printed, and saved to bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from bikecast.serve.schemas import EXAMPLE_RECORDS

BIN = Path(sys.executable).parent
OUT = Path("bench/out")
RECORD = EXAMPLE_RECORDS[0]  # the OpenAPI example: one hour, as a client sends it


def noop_main(port: int) -> None:
    """The baseline: a FastAPI app with one POST endpoint that ignores its body."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/noop")
    def noop() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_config=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd: list[str], url: str, ready_path: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.read()}")
        try:
            ok = ready_path == "" or httpx.get(url + ready_path, timeout=2).status_code == 200
            if ok and ready_path:
                return proc
            if not ready_path:
                httpx.post(url + "/noop", json={}, timeout=2)
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not become ready in 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def lua_script(body: str, folder: Path) -> Path:
    path = folder / "post.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return path


def serve_cmd(port: int, *extra: str) -> list[str]:
    return [
        str(BIN / "bikecast"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        *extra,
    ]


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url: str, script: Path, connections: int, seconds: int) -> dict:
    """One wrk run (1 thread: the other core is the server's); parsed summary."""
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, flags=re.M))
    if set(latency) != {"50", "99"}:
        raise SystemExit(f"cannot parse wrk output for {url}:\n{text}")
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "connections": connections,
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p50_ms": _seconds(latency["50"]) * 1e3,
        "p99_ms": _seconds(latency["99"]) * 1e3,
        "errors": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
    }


def big_batch(n: int) -> tuple[list[dict], pd.DataFrame]:
    """n hourly records (realistic ranges) as JSON records and as the raw frame."""
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2011-01-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "timestamp": stamps,
            "temp_c": rng.uniform(-5, 35, n).round(2),
            "feels_like_c": rng.uniform(-10, 40, n).round(2),
            "humidity_pct": rng.uniform(10, 100, n).round(1),
            "wind_kmh": rng.uniform(0, 50, n).round(1),
            "weather": rng.choice(["clear", "mist", "light_precip", "heavy_precip"], n),
        }
    )
    records = [
        {**row, "timestamp": ts.isoformat()}
        for ts, row in zip(
            stamps, frame.drop(columns="timestamp").to_dict(orient="records"), strict=True
        )
    ]
    return records, frame


def batch_ratio(url: str, n: int, repeats: int) -> dict:
    from bikecast.ml.model import load_model, predict

    records, frame = big_batch(n)
    body = json.dumps({"records": records})
    # what the server runs, with one thread as the server (BIKECAST_PREDICT_THREADS=1)
    booster, _ = load_model("models/model.onnx", "models/model.json", threads=1)
    api, local = [], []
    with httpx.Client(timeout=120) as client:
        for _ in range(repeats):
            t0 = time.perf_counter()
            response = client.post(
                url + "/predict", content=body, headers={"content-type": "application/json"}
            )
            api.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text[:300]
            t0 = time.perf_counter()
            expected = predict(booster, frame)
            local.append(time.perf_counter() - t0)
    served = np.array(response.json()["predictions"])
    return {
        "records": n,
        "body_bytes": len(body),
        "api_s": statistics.median(api),
        "in_process_s": statistics.median(local),
        "ratio": statistics.median(api) / statistics.median(local),
        "identical": bool(np.array_equal(served, expected)),
    }


def single_record_breakdown(repeats: int = 300) -> dict:
    """Where one record's time goes in process (ms, median of `repeats`): the API's own parts
    (validation, numpy inputs) vs `predict` (the shared feature function, the level, the
    model call), with the served ONNX export and with XGBoost itself side by side."""
    from bikecast.ml.features import feature_matrix
    from bikecast.ml.model import load_model, predict
    from bikecast.serve.routes import records_inputs
    from bikecast.serve.schemas import predict_request_model

    booster, _ = load_model("models/model.ubj", "models/model.json", threads=1)
    onnx, _ = load_model("models/model.onnx", "models/model.json", threads=1)
    model = predict_request_model(10_000)
    body = {"records": [RECORD]}
    records = model.model_validate(body).records
    inputs = records_inputs(records)
    matrix = feature_matrix(inputs)
    steps = {
        "validate_request": lambda: model.model_validate(body),
        "records_inputs": lambda: records_inputs(records),
        "predict (onnx, served)": lambda: predict(onnx, inputs),
        "  of which feature_matrix": lambda: feature_matrix(inputs),
        "  of which the ONNX Runtime call": lambda: onnx.inplace_predict(matrix),
        "predict (xgboost)": lambda: predict(booster, inputs),
        "  of which XGBoost inplace_predict": lambda: booster.inplace_predict(matrix),
    }
    result = {}
    for name, step in steps.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        result[name] = statistics.median(times) * 1e3
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 5k-request soak")
    parser.add_argument("--soak", type=int, default=None, help="requests in the RSS soak")
    parser.add_argument(
        "--soak-max-seconds", type=int, default=1200, help="stop the soak after this long"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="only the in-process single-record breakdown"
    )
    args = parser.parse_args()
    if args.breakdown:
        print(json.dumps(single_record_breakdown(), indent=2))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (or brew install wrk)")
    if not Path("models/model.onnx").exists():
        raise SystemExit("models/model.onnx not found: run from the repo root after dvc pull/repro")
    seconds, soak, repeats = (3, 5_000, 3) if args.quick else (10, 100_000, 5)
    rounds = 1 if args.quick else 2
    soak = args.soak or soak
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    body = json.dumps({"records": [RECORD]})

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timed = lua_script(body, folder)
        noop_port, api_port = free_port(), free_port()
        noop_url, api_url = f"http://127.0.0.1:{noop_port}", f"http://127.0.0.1:{api_port}"
        noop = start([sys.executable, __file__, "--noop", str(noop_port)], noop_url, "")
        api = start(serve_cmd(api_port), api_url, "/ready")  # the ONNX export, as shipped
        xgb_port = free_port()
        xgb_url = f"http://127.0.0.1:{xgb_port}"
        xgb = start(serve_cmd(xgb_port, "--model", "models/model.ubj"), xgb_url, "/ready")
        targets = {
            "noop": noop_url + "/noop",
            "predict": api_url + "/predict",
            "predict_xgboost": xgb_url + "/predict",
        }
        try:
            results["rss_start_mib"] = rss_mib(api.pid)
            for url in targets.values():
                wrk(url, timed, 8, 2)  # warm-up
            results["rss_warm_mib"] = rss_mib(api.pid)
            for connections in (8, 64):
                for _ in range(rounds):  # alternated, so drifting load hits each alike
                    for name, url in targets.items():
                        run = wrk(url, timed, connections, seconds)
                        results.setdefault(f"{name}_c{connections}_runs", []).append(run)
                        print(f"{name:16s} c={connections:<3d} {run}")
                for name in targets:
                    runs = results.pop(f"{name}_c{connections}_runs")
                    results[f"{name}_c{connections}"] = max(runs, key=lambda r: r["rps"])
                noop_rps = results[f"noop_c{connections}"]["rps"]
                for name in ("predict", "predict_xgboost"):
                    ratio = results[f"{name}_c{connections}"]["rps"] / noop_rps
                    key = "throughput_ratio" if name == "predict" else "throughput_ratio_xgboost"
                    results[f"{key}_c{connections}"] = ratio
            results["single_record_ms"] = single_record_breakdown()
            print("single record, in process (ms)", results["single_record_ms"])
            results["batch"] = batch_ratio(api_url, 10_000, repeats)
            print("batch", results["batch"])
            stop(xgb)
            before = rss_mib(api.pid)
            # bounded by time, not by `wrk.thread:stop()` (which left wrk running here): long
            # enough for `soak` requests at the measured rate, with a margin
            rps = results["predict_c8"]["rps"]
            soak_s = min(args.soak_max_seconds, max(5, math.ceil(1.2 * soak / rps)))
            soak_run = wrk(api_url + "/predict", timed, 8, soak_s)
            results["soak"] = {
                "requests": soak_run["requests"],
                "errors": soak_run["errors"],
                "target": soak,
                "seconds": soak_s,
            }
            print("soak", results["soak"])
            results["rss_before_soak_mib"] = before
            results["rss_after_soak_mib"] = rss_mib(api.pid)
            metrics = httpx.get(api_url + "/metrics", timeout=10).text
            results["predictions_counted"] = float(
                re.search(r"bikecast_predictions_total\{[^}]*\} (\S+)", metrics).group(1)
            )
        finally:
            for proc in (api, xgb, noop):
                if proc.poll() is None:
                    stop(proc)
    results["load_after"] = os.getloadavg()
    (OUT / "serve.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}, indent=2))
    print(f"saved {OUT / 'serve.json'}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--noop":
        noop_main(int(sys.argv[2]))
    else:
        main()
