"""Benchmark the prediction log: single-record /predict throughput with the log off, to a
local directory and to S3 (moto's server on 127.0.0.1, a process of its own), side by side
against a FastAPI no-op, and what the log costs on disk per forecast.

    uv run python bench/bench_prediction_log.py           # ~6 min on 2 cores
    uv run python bench/bench_prediction_log.py --quick   # ~1 min

Needs wrk and a trained model (models/model.onnx: `dvc pull` or `dvc repro`), as
bench/bench_serve.py, whose helpers it uses. Each server is stopped with SIGINT, so its log
writes what it buffered; the bytes are then counted from the files. Results: printed, and
saved to bench/out/prediction_log.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench_serve import OUT, RECORD, free_port, lua_script, serve_cmd, start, stop, wrk
from bikecast.prediction_log.destinations import destination
from bikecast.prediction_log.records import decode

BUCKET = "bench-log"
AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_api(port: int, env: dict[str, str]) -> subprocess.Popen:
    os.environ.update(env)  # start() passes this process's environment on
    try:
        return start(serve_cmd(port), f"http://127.0.0.1:{port}", "/ready")
    finally:
        for key in env:
            os.environ.pop(key, None)


def log_size(url: str) -> dict:
    dest = destination(url)
    keys = dest.list_keys()
    data = [dest.get(k) for k in keys]
    lines = sum(len(decode(d)) for d in data)
    total = sum(len(d) for d in data)
    return {"files": len(keys), "forecasts": lines, "bytes": total,
            "bytes_per_forecast": round(total / lines, 1) if lines else None}  # fmt: skip


def seed_bytes(hours: int = 5000) -> dict:
    """Bytes per forecast on varied records: the seed's last `hours` hours with their real
    weather, one request each (the load above repeats one record, which compresses better)."""
    import numpy as np
    import pandas as pd

    from bikecast.data.schema import read_canonical
    from bikecast.prediction_log.records import Chunk, encode, render
    from bikecast.serve.schemas import Record

    frame = read_canonical("data/seed/bikeshare_dc_2011.csv.gz").tail(hours)
    texts = []
    for i, row in enumerate(frame.itertuples()):
        stamp = pd.Timestamp(row.timestamp).tz_convert("America/New_York").isoformat()
        weather = {
            c: float(getattr(row, c))
            for c in ("temp_c", "feels_like_c", "humidity_pct", "wind_kmh")
        }
        record = Record.model_validate({"timestamp": stamp, "weather": row.weather, **weather})
        chunk = Chunk(1.7e9 + i, "147cd965c8b7", [record], np.array([float(row.rentals) * 0.9]))
        texts.append(render(chunk))
    data = encode(texts)
    raw = sum(len(t.encode()) for t in texts)
    return {"forecasts": len(texts), "raw_bytes_per_forecast": round(raw / len(texts), 1),
            "gzip_bytes_per_forecast": round(len(data) / len(texts), 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, one round")
    args = parser.parse_args()
    seconds, rounds = (3, 1) if args.quick else (10, 4)
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"load_before": os.getloadavg(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = lua_script(json.dumps({"records": [RECORD]}), folder)
        s3_port = free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        moto_server = str(Path(sys.executable).parent / "moto_server")
        moto = subprocess.Popen(
            [moto_server, "-H", "127.0.0.1", "-p", str(s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers: dict[str, subprocess.Popen] = {}
        try:
            for _ in range(100):
                try:
                    httpx.put(f"{s3_url}/{BUCKET}", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            logs = {
                "log_off": "off",
                "log_local": str(folder / "log"),
                "log_s3": f"s3://{BUCKET}/predictions",
            }
            noop_port = free_port()
            targets = {"noop": f"http://127.0.0.1:{noop_port}/noop"}
            noop_cmd = [sys.executable, str(Path(__file__).with_name("bench_serve.py"))]
            servers["noop"] = start([*noop_cmd, "--noop", str(noop_port)], targets["noop"][:-5], "")
            for name, log in logs.items():
                port = free_port()
                env = {"BIKECAST_PREDICTION_LOG": log, "AWS_ENDPOINT_URL_S3": s3_url, **AWS}
                servers[name] = start_api(port, env)
                targets[name] = f"http://127.0.0.1:{port}/predict"
            for url in targets.values():
                wrk(url, script, 8, 2)  # warm-up
            for connections in (8, 64):
                runs: dict[str, list] = {}
                for i in range(rounds):  # alternated, the order reversed every other round,
                    order = list(targets.items())  # so drifting load hits each alike
                    for name, url in order if i % 2 == 0 else order[::-1]:
                        run = wrk(url, script, connections, seconds)
                        runs.setdefault(name, []).append(run)
                        print(f"{name:10s} c={connections:<3d} {run}")
                best = {name: max(r, key=lambda x: x["rps"]) for name, r in runs.items()}
                results[f"c{connections}"] = best
                off = best["log_off"]["rps"]
                results[f"ratio_to_log_off_c{connections}"] = {
                    name: round(best[name]["rps"] / off, 3) for name in ("log_local", "log_s3")
                }
                results[f"ratio_to_noop_c{connections}"] = {
                    name: round(best[name]["rps"] / best["noop"]["rps"], 3) for name in logs
                }
            for name in list(servers):
                stop(servers.pop(name))  # SIGINT: the log writes what it buffered
            os.environ.update({**AWS, "AWS_ENDPOINT_URL_S3": s3_url})
            results["log_local_files"] = log_size(logs["log_local"])
            results["log_s3_files"] = log_size(logs["log_s3"])
        finally:
            for proc in servers.values():
                stop(proc)
            moto.terminate()
            moto.wait(timeout=20)
    results["load_after"] = os.getloadavg()
    results["seed_records"] = seed_bytes()
    for key in ("ratio_to_log_off_c8", "ratio_to_log_off_c64", "ratio_to_noop_c8",
                "log_local_files", "log_s3_files", "seed_records"):  # fmt: skip
        print(key, results[key])
    (OUT / "prediction_log.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
