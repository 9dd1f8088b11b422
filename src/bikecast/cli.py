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
        from bikecast.config import ConfigError
        from bikecast.model import ModelError
        from bikecast.schema import DataError

        try:
            return func(*args, **kwargs)
        except (ConfigError, DataError, ModelError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

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
def features() -> None:
    """Build the model features (calendar in DC local time, weather) for every hour."""
    from bikecast.stages import features as stage

    stage.run()


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
def evaluate() -> None:
    """Score the model and the baselines on the test window; write metrics and plots."""
    from bikecast.stages import evaluate as stage

    stage.run()


if __name__ == "__main__":
    app()
