"""The `bikecast` command: one subcommand per pipeline stage plus the GitOps helpers.

dvc.yaml and the GitHub workflows call these; heavy libraries are imported inside each
command so `bikecast --help` and every stage start fast.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from bikecast import paths
from bikecast.errors import EXIT_ERROR, BikecastError

app = typer.Typer(
    help="bikecast: hourly bike-demand forecasting, retrained and shipped through git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("bikecast")
F = TypeVar("F", bound=Callable)
ParamsOption = Annotated[Path, typer.Option("--params", help="params.yaml to read.")]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def user_errors(func: F) -> F:
    """Turn expected failures (bad data, bad params, bad model) into one clear line, exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BikecastError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _params(path: Path):
    from bikecast.config import load_params

    return load_params(path)


@app.command()
@user_errors
def ingest(params: ParamsOption = paths.PARAMS) -> None:
    """Read the source up to ingest.as_of into data/raw/."""
    from bikecast.stages import ingest as stage

    stage.run(_params(params))


@app.command()
@user_errors
def validate(params: ParamsOption = paths.PARAMS) -> None:
    """Check schema, ranges, duplicates and gaps; quarantine bad rows with reasons."""
    from bikecast.stages import validate as stage

    stage.run(_params(params))


@app.command()
@user_errors
def features(params: ParamsOption = paths.PARAMS) -> None:
    """Build the model features (calendar in DC local time, weather; station features at
    station grain) for every row."""
    from bikecast.stages import features as stage

    stage.run(_params(params))


@app.command()
@user_errors
def split(params: ParamsOption = paths.PARAMS) -> None:
    """Split by time: the last split.test_days up to ingest.as_of are the test window."""
    from bikecast.stages import split as stage

    stage.run(_params(params))


@app.command()
@user_errors
def train(params: ParamsOption = paths.PARAMS) -> None:
    """Train the XGBoost model on the train split; log curves with dvclive."""
    from bikecast.stages import train as stage

    stage.run(_params(params))


@app.command()
@user_errors
def evaluate(params: ParamsOption = paths.PARAMS) -> None:
    """Score the model and the baselines on the test window; write metrics and plots."""
    from bikecast.stages import evaluate as stage

    stage.run(_params(params))


# --- GitOps helpers the workflows call (logic lives in bikecast/gitops/) -------------------
GithubOutput = Annotated[
    Path | None,
    typer.Option(
        "--github-output",
        envvar="GITHUB_OUTPUT",
        help="Append key=value lines here (GitHub sets $GITHUB_OUTPUT in every step).",
    ),
]


@app.command("retrain-info")
@user_errors
def retrain_info(params: ParamsOption = paths.PARAMS, github_output: GithubOutput = None) -> None:
    """Print branch (retrain/<date of ingest.as_of>), as_of, model_version and PR title."""
    from bikecast.gitops import outputs

    typer.echo(outputs.append_outputs(outputs.retrain_info(params), github_output), nl=False)


@app.command("model-version")
@user_errors
def model_version_cmd(
    card: Annotated[Path, typer.Option(help="Model card (models/model.json).")] = paths.MODEL_META,
    model: Annotated[
        Path | None, typer.Option(help="Also check this model file's sha256 against the card.")
    ] = None,
    github_output: GithubOutput = None,
) -> None:
    """Print the model version (short content hash) recorded in the model card."""
    from bikecast.gitops import outputs

    version = outputs.model_version(card, model)
    if github_output is not None:
        outputs.append_outputs({"version": version}, github_output)
    typer.echo(version)


@app.command()
@user_errors
def smoke(
    url: Annotated[str, typer.Option(help="Base URL of the deployed API.")],
    expect_version: Annotated[str, typer.Option(help="Model version /model must report.")],
    attempts: Annotated[int, typer.Option(min=1, help="Tries before giving up.")] = 10,
    delay: Annotated[float, typer.Option(min=0, help="Seconds between tries.")] = 3.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 5.0,
) -> None:
    """Poll GET <url>/model until it serves the expected model version; exit 1 if it never does."""
    from bikecast.errors import EXIT_ERROR
    from bikecast.gitops import smoke as smoking

    result = smoking.smoke(url, expect_version, attempts=attempts, delay=delay, timeout=timeout)
    if not result.ok:
        typer.echo(
            f"error: smoke test failed after {result.attempts} tries: {result.message}", err=True
        )
        raise typer.Exit(EXIT_ERROR)
    typer.echo(f"ok: {result.message} (try {result.attempts})")


@app.command("lock-check")
@user_errors
def lock_check() -> None:
    """Fail when code, params or commands differ from dvc.lock (missing outputs are fine)."""
    from bikecast.errors import EXIT_ERROR
    from bikecast.gitops import lockcheck

    problems = lockcheck.lock_problems(lockcheck.dvc_status())
    if problems:
        typer.echo("error: dvc.lock is stale; run `dvc repro` and commit dvc.lock:", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_ERROR)
    typer.echo("ok: dvc.lock matches the code, params and commands")


@app.command("remote-check")
@user_errors
def remote_check(
    remote: Annotated[
        str | None, typer.Option(help="DVC remote name (default: the default remote).")
    ] = None,
) -> None:
    """Fail fast, with the S3 error named, when the DVC remote is unreachable or refuses us."""
    from bikecast.gitops import remote as remotes

    typer.echo(f"ok: {remotes.check_remote(remotes.dvc_remote(remote))}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def outcome(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--output", help="Output name to set true/false.")],
    false_code: Annotated[
        list[int],
        typer.Option("--false-code", help="Exit code that means 'no', not an error (repeatable)."),
    ],
    github_output: GithubOutput = None,
) -> None:
    """Run the command after `--`: exit 0 sets <output>=true, a --false-code sets it false.

    Any other exit code fails with that code. This lets a workflow stop cleanly on
    `bikecast advance`'s "no new data" status without shell logic in YAML.
    """
    from bikecast.gitops import outputs

    code, text = outputs.run_outcome(ctx.args, false_code, name, github_output)
    if text:
        typer.echo(text, nl=False)
    raise typer.Exit(code)


NowOption = Annotated[
    str | None,
    typer.Option(
        envvar="BIKECAST_NOW",
        help="The run's time, ISO-8601 with an offset (tests, or redoing a past run). "
        "Default: the clock.",
    ),
]


@app.command("advance")
@user_errors
def advance_cmd(
    params: ParamsOption = paths.PARAMS,
    now: NowOption = None,
) -> None:
    """Move ingest.as_of in params.yaml to what the source can deliver at the run's time.

    Exit 0: moved (old and new window printed); 3: nothing new, params.yaml unchanged;
    1: error. replay follows its clock (ingest.replay_started, replay_from): the last
    ingest.step boundary it has reached, up to the end of the file.
    """
    from bikecast.errors import EXIT_NO
    from bikecast.gitops import advance

    result = advance.run(params, now=advance.parse_now(now))
    typer.echo(result.describe())
    if not result.changed:
        raise typer.Exit(EXIT_NO)


@app.command()
@user_errors
def monitor(
    params: ParamsOption = paths.PARAMS,
    log_url: Annotated[
        str,
        typer.Option(
            "--log",
            envvar="BIKECAST_PREDICTION_LOG",
            help="The API's prediction log: a directory or s3://bucket/prefix.",
        ),
    ] = "predictions",
    until: Annotated[
        str | None,
        typer.Option(help="Last UTC day of requests read (YYYY-MM-DD). Default: today."),
    ] = None,
    now: NowOption = None,
    out: Annotated[Path, typer.Option(help="The summary (JSON).")] = paths.MONITOR_METRICS,
    report_path: Annotated[
        Path, typer.Option("--report", help="The Markdown report.")
    ] = paths.MONITOR_REPORT,
    drift_report: Annotated[
        Path, typer.Option(help="The drift page of the live hours (HTML), when tested.")
    ] = paths.MONITOR_DRIFT_REPORT,
    github_output: GithubOutput = None,
) -> None:
    """Score the API's logged forecasts against the rentals that came true; decide whether
    to retrain (params.yaml monitor). Exit 0 either way: retrain_recommended says which."""
    from datetime import date

    from bikecast import io
    from bikecast.gitops import advance, outputs
    from bikecast.monitor.run import run

    try:
        day = date.fromisoformat(until) if until else None
    except ValueError:
        raise typer.BadParameter(f"--until {until!r}: write a day like 2026-12-01") from None
    at = advance.parse_now(now)
    result = run(_params(params), log_url, until=day, now=at.to_pydatetime() if at else None)
    io.write_json(result.summary, out)
    io.write_text(result.markdown, report_path)
    if result.drift_html is not None:
        io.write_text(result.drift_html, drift_report)
    recommended = "true" if result.summary["retrain_recommended"] else "false"
    outputs.append_outputs({"retrain_recommended": recommended}, github_output)
    typer.echo(result.markdown)


@app.command()
@user_errors
def dispatch(
    workflow: Annotated[str, typer.Argument(help="Workflow file, e.g. retrain.yml.")],
    ref: Annotated[str, typer.Option(help="Branch the workflow runs on.")] = "main",
) -> None:
    """Start a workflow (workflow_dispatch) with $GITHUB_TOKEN, in $GITHUB_REPOSITORY."""
    from bikecast.gitops.dispatch import dispatch as start

    typer.echo(start(workflow, ref))


@app.command()
@user_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 only inside a container).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    model: Annotated[
        Path | None,
        typer.Option(
            help="Model file; its card is the .json beside it. "
            "Default: $BIKECAST_MODEL_PATH or models/model.ubj."
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
) -> None:
    """Serve the model over HTTP: /predict, /health, /ready, /model, /metrics (Prometheus)."""
    import uvicorn

    from bikecast.serve import ServeSettings, create_app
    from bikecast.serve.settings import detect_git_sha

    settings = ServeSettings(**({"model_path": model} if model is not None else {}))
    if settings.git_sha == "unknown":
        settings = settings.model_copy(update={"git_sha": detect_git_sha()})
    uvicorn.run(create_app(settings), host=host, port=port, access_log=access_log, log_config=None)


# --- model-change review: champion vs challenger, and the PR report (bikecast/review/) ------
BaseOption = Annotated[
    str | None,
    typer.Option(
        "--base",
        help="Git revision holding the champion model. Default: origin/main if known, else main.",
    ),
]
AllowStaleOption = Annotated[
    bool,
    typer.Option(
        "--allow-stale",
        help="Compare even when data/model files or params differ from dvc.lock.",
    ),
]


@app.command()
@user_errors
def compare(
    base: BaseOption = None,
    allow_stale: AllowStaleOption = False,
    backtest: Annotated[
        bool,
        typer.Option(
            help="When the recipe (features/split/train code or params) differs from the "
            "base's, replay both recipes over the last half year and gate on that."
        ),
    ] = True,
) -> None:
    """Score the base revision's model (with its own code) and the current one on the same
    test window; write metrics/compare.json and gate on gate.tolerance. When the recipe
    changed, the gate weighs both recipes' backtests (many origins) instead of the window.

    Exit 0: pass or no_base (the base has no model yet); 3: fail (challenger RMSLE worse
    than the champion's by more than gate.tolerance); 1: could not compare.
    """
    from bikecast.review import compare as comparing

    result = comparing.run(base, allow_stale=allow_stale, backtest=backtest)
    typer.echo(f"{result.verdict}: {result.result['reason']}")
    raise typer.Exit(result.exit_code)


@app.command()
@user_errors
def report(
    base: BaseOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Markdown file to write; PNGs go beside it.")
    ] = Path("reports/pr_report.md"),
    allow_stale: AllowStaleOption = False,
) -> None:
    """Write the PR report (verdict, metrics table, params/data/drift changes, plots).

    Reuses metrics/compare.json when it is for the same base, HEAD and model, otherwise runs
    compare first. Exit 0 whatever the verdict (gate with `bikecast compare`); 1: error.
    """
    from bikecast.review import report as reporting

    result = reporting.run(base, out, allow_stale=allow_stale)
    typer.echo(f"{out} ({result['verdict']})")


@app.command()
@user_errors
def drift(params: ParamsOption = paths.PARAMS) -> None:
    """Evidently drift of the test window vs a like-with-like reference → reports/, metrics/."""
    from bikecast.stages import drift as stage

    stage.run(_params(params))


@app.command()
@user_errors
def tune(
    params: ParamsOption = paths.PARAMS,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="NAME=V1,V2,... of a train.* parameter; repeat for more."),
    ] = None,
    folds: Annotated[int, typer.Option(help="Rolling-origin folds at the end of train.")] = 4,
    fold_days: Annotated[int, typer.Option(help="Days per fold.")] = 28,
    out: Annotated[Path, typer.Option(help="Where to write all results.")] = Path(
        "reports/tuning.json"
    ),
    time_tolerance: Annotated[
        float,
        typer.Option(help="Take the fastest fit within this relative CV error of the best."),
    ] = 0.01,
) -> None:
    """Choose train.* by time-series cross-validation inside the train split only, with
    fit seconds as the second objective."""
    import pandas as pd

    from bikecast import io
    from bikecast.ml.tune import DEFAULT_GRID, choose, grid_search

    settings = _params(params)
    if settings.grain.is_station and fold_days > settings.station.history_lag_days:
        raise typer.BadParameter(
            f"--fold-days {fold_days} is longer than station.history_lag_days "
            f"({settings.station.history_lag_days}): holdout hours would see holdout rentals"
        )
    choices = dict(DEFAULT_GRID)
    for item in grid or []:
        name, _, values = item.partition("=")
        kind = type(getattr(settings.train, name, None))
        if kind is type(None) or not values:
            raise typer.BadParameter(f"{item!r}: expected NAME=V1,V2 with NAME a train.* key")
        choices[name] = [kind(v) for v in values.split(",")]
    train = pd.read_parquet(paths.TRAIN)
    results = grid_search(train, settings.train, choices, folds, fold_days)
    chosen = choose(results, time_tolerance)
    summary = {"folds": folds, "fold_days": fold_days, "time_tolerance": time_tolerance}
    io.write_json({**summary, "chosen": chosen, "results": results}, out)
    for r in results:
        mark = "*" if r is chosen else ("p" if r["pareto"] else " ")
        typer.echo(f"{mark} CV RMSLE {r['rmsle']:.4f}  {r['fit_s']:6.2f} s  {r['params']}")
    best = results[0]
    typer.echo(
        f"best CV RMSLE {best['rmsle']} with {best['params']}; chosen (fastest within "
        f"{time_tolerance:.0%}): {chosen['rmsle']} in {chosen['fit_s']} s with "
        f"{chosen['params']} (* chosen, p Pareto front; all results: {out})"
    )


@app.command()
@user_errors
def backtest(
    params: ParamsOption = paths.PARAMS,
    start: Annotated[
        str | None,
        typer.Option(help="First origin (ISO-8601 with offset). Default: end - 26 weeks."),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last hour forecast (ISO-8601 with offset). Default: as_of.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Metrics to write.")] = paths.BACKTEST_METRICS,
    plot: Annotated[Path, typer.Option(help="Plot to write (PNG).")] = paths.BACKTEST_PLOT,
) -> None:
    """Replay the retrain loop: at each ingest.step origin fit the served model as the
    pipeline would, forecast the next step; beside it a model never retrained and the
    baselines. Reads data/features/ (run `dvc repro features` first)."""
    import pandas as pd

    from bikecast import io
    from bikecast.config import parse_timestamp
    from bikecast.ml import backtest as replay

    settings = _params(params)
    last = parse_timestamp(end, "--end") if end else settings.ingest.as_of_utc
    first = parse_timestamp(start, "--start") if start else replay.default_start(last)
    result = replay.run_backtest(pd.read_parquet(paths.FEATURES), settings, first, last)
    io.write_json(result.result, out)
    replay.plot(result.steps, plot)
    overall = result.result["overall"]
    typer.echo(
        f"{result.result['span']['origins']} origins: served RMSLE {overall['served']['rmsle']}, "
        f"never retrained {overall['never_retrained']['rmsle']}, hour x working-day mean "
        f"{overall['hour_workingday_mean']['rmsle']}; bias {overall['served']['bias']} "
        f"rentals/h ({out}, {plot})"
    )


@app.command("synth-stations")
@user_errors
def synth_stations(
    out: Annotated[Path, typer.Option(help="Station-grain canonical file to write (.csv.gz).")],
    city: Annotated[Path, typer.Option(help="City-grain canonical file to deal out.")] = Path(
        "data/seed/bikeshare_dc_2011.csv.gz"
    ),
    stations: Annotated[int, typer.Option(min=1, help="How many stations.")] = 20,
    days: Annotated[
        int | None, typer.Option(min=1, help="Keep only the last DAYS days of the city file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
) -> None:
    """Deal a real city series out to synthetic stations (for station-grain demos and tests)."""
    import pandas as pd

    from bikecast import io
    from bikecast.data.schema import DataError, read_canonical
    from bikecast.data.synthetic import stations_from_city
    from bikecast.data.validation import validate_frame

    rows = validate_frame(read_canonical(city)).valid
    if rows.empty:
        raise DataError(f"{city}: no valid rows to deal out")
    if days:
        rows = rows[rows["timestamp"] > rows["timestamp"].max() - pd.Timedelta(days=days)]
    frame = stations_from_city(rows, stations, seed)
    frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    io.write_with(
        out,
        lambda p: frame.to_csv(
            p, index=False, lineterminator="\n", compression={"method": "gzip", "mtime": 0}
        ),
    )
    typer.echo(f"{out}: {len(frame)} station-hours, {stations} stations, {len(rows)} hours")


if __name__ == "__main__":
    app()
