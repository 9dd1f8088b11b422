"""What the workflows record as step outputs: the retrain branch and PR title, the model
version, and the true/false answer of a command whose exit status is a "no", not an error.

`bikecast retrain-info`, `bikecast model-version` and `bikecast outcome` print these in
the `key=value` format of $GITHUB_OUTPUT and append them there when it is set.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bikecast import paths
from bikecast.errors import EXIT_OK, GitopsError

BRANCH_PREFIX = "retrain/"


def retrain_branch(as_of: str) -> str:
    """`retrain/<date>` from the data window's end, in the offset it is written with.

    The same data window always maps to the same branch, so a rerun of the schedule
    updates the open PR instead of opening a second one.
    """
    import pandas as pd

    from bikecast.config import parse_timestamp

    parse_timestamp(as_of, "ingest.as_of")  # reject a malformed window loudly
    return f"{BRANCH_PREFIX}{pd.Timestamp(as_of).date().isoformat()}"


def retrain_info(
    params_path: Path = paths.PARAMS, card_path: Path = paths.MODEL_META
) -> dict[str, str]:
    """What the retrain workflow needs to name its branch, commit and PR."""
    from bikecast.config import load_params

    params = load_params(params_path)
    as_of = params.ingest.as_of
    branch = retrain_branch(as_of)
    info = {"branch": branch, "as_of": as_of, "date": branch.removeprefix(BRANCH_PREFIX)}
    if Path(card_path).exists():
        version = model_version(card_path)
        info["model_version"] = version
        info["title"] = f"Retrain: data up to {info['date']} (model {version})"
    else:
        info["title"] = f"Retrain: data up to {info['date']}"
    return info


def model_version(card_path: Path = paths.MODEL_META, model_path: Path | None = None) -> str:
    """The version recorded in the model card; with `model_path`, verified against the file."""
    from bikecast.ml.card import ModelCard, ModelError
    from bikecast.ml.model import file_sha256
    from bikecast.ml.model import model_version as version_of

    card = ModelCard.read(card_path)
    if model_path is not None:
        if not Path(model_path).exists():
            raise ModelError(f"{model_path}: model file not found (run `dvc pull`)")
        actual = file_sha256(model_path)
        if card.sha256 != actual or card.version != version_of(actual):
            raise ModelError(
                f"{model_path}: sha256 {actual[:12]}… does not match {card_path} "
                f"(version {card.version}): pull the model and its card from the same revision"
            )
    return card.version


def format_outputs(values: Mapping[str, str]) -> str:
    """`key=value` lines in the format of $GITHUB_OUTPUT (single-line values only)."""
    lines = []
    for key, value in values.items():
        text = str(value)
        if "\n" in text or "\r" in text:
            raise GitopsError(f"output {key!r} spans lines; GitHub outputs here are one line each")
        lines.append(f"{key}={text}")
    return "".join(f"{line}\n" for line in lines)


def append_outputs(values: Mapping[str, str], github_output: Path | None) -> str:
    """Append to $GITHUB_OUTPUT when given (always echoed back for the log)."""
    text = format_outputs(values)
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as fh:
            fh.write(text)
    return text


def run_outcome(
    command: Sequence[str], false_codes: Sequence[int], name: str, github_output: Path | None
) -> tuple[int, str]:
    """Run `command`; record `name=true` on success, `name=false` on one of `false_codes`.

    Returns (exit code for the step, outputs text). Any other exit code fails the step
    with that code and records nothing, so later steps never run on a half-done state.
    """
    if not command:
        raise GitopsError("outcome: no command given (put it after --)")
    try:
        code = subprocess.run(list(command), check=False).returncode
    except FileNotFoundError as exc:
        raise GitopsError(f"outcome: {command[0]}: command not found") from exc
    if code == EXIT_OK:
        return EXIT_OK, append_outputs({name: "true"}, github_output)
    if code in false_codes:
        return EXIT_OK, append_outputs({name: "false"}, github_output)
    return code, ""
