"""bikecast.gitops.outputs: branch, PR title, model version and outcome for the workflows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.review.cards import card_dict
from typer.testing import CliRunner

from bikecast.cli import app
from bikecast.errors import GitopsError
from bikecast.gitops import outputs
from bikecast.ml.model import ModelError, file_sha256


@pytest.mark.parametrize(
    ("as_of", "branch"),
    [
        ("2011-12-17T23:00:00-05:00", "retrain/2011-12-17"),
        ("2011-12-18T04:00:00Z", "retrain/2011-12-18"),
        ("2012-03-11T03:00:00-04:00", "retrain/2012-03-11"),
    ],
)
def test_retrain_branch_uses_the_date_as_written(as_of, branch):
    assert outputs.retrain_branch(as_of) == branch


def test_retrain_branch_rejects_a_window_without_offset():
    with pytest.raises(ValueError, match="no UTC offset"):
        outputs.retrain_branch("2011-12-17T23:00:00")


def test_outputs_are_key_value_lines_and_refuse_newlines(tmp_path):
    out = tmp_path / "gh_output"
    out.write_text("earlier=1\n")
    text = outputs.append_outputs({"branch": "retrain/2011-12-17", "n": "3"}, out)
    assert text == "branch=retrain/2011-12-17\nn=3\n"
    assert out.read_text() == "earlier=1\n" + text
    with pytest.raises(GitopsError, match="spans lines"):
        outputs.format_outputs({"title": "a\nb"})


def write_model(tmp_path: Path, payload: bytes = b"model-bytes") -> tuple[Path, Path]:
    model = tmp_path / "model.ubj"
    model.write_bytes(payload)
    sha = file_sha256(model)
    card = tmp_path / "model.json"
    card.write_text(json.dumps(card_dict(version=sha[:12], sha256=sha)))
    return model, card


def test_model_version_reads_the_card_and_verifies_the_file(tmp_path):
    model, card = write_model(tmp_path)
    assert outputs.model_version(card) == file_sha256(model)[:12]
    assert outputs.model_version(card, model) == file_sha256(model)[:12]
    model.write_bytes(b"another model")
    with pytest.raises(ModelError, match="does not match"):
        outputs.model_version(card, model)
    with pytest.raises(ModelError, match="not found"):
        outputs.model_version(card, tmp_path / "missing.ubj")
    card.write_text("{}")
    with pytest.raises(ModelError, match=r"not a valid model card \(version: Field required"):
        outputs.model_version(card)


def test_retrain_info_names_branch_title_and_version(tmp_path):
    _, card = write_model(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text('ingest:\n  as_of: "2011-12-10T23:00:00-05:00"\n')
    info = outputs.retrain_info(params, card)
    version = json.loads(card.read_text())["version"]
    assert info == {
        "branch": "retrain/2011-12-10",
        "as_of": "2011-12-10T23:00:00-05:00",
        "date": "2011-12-10",
        "model_version": version,
        "title": f"Retrain: data up to 2011-12-10 (model {version})",
    }


@pytest.mark.parametrize(
    ("code", "step_code", "written"),
    [(0, 0, "new_data=true\n"), (3, 0, "new_data=false\n"), (1, 1, "")],
)
def test_outcome_maps_exit_codes(tmp_path, code, step_code, written):
    out = tmp_path / "out"
    out.touch()
    result = CliRunner().invoke(
        app,
        [
            "outcome", "--output", "new_data", "--false-code", "3", "--github-output", str(out),
            "--", sys.executable, "-c", f"raise SystemExit({code})",
        ],
    )  # fmt: skip
    assert result.exit_code == step_code, result.output
    assert out.read_text() == written


def test_outcome_needs_a_command():
    result = CliRunner().invoke(app, ["outcome", "--output", "x", "--false-code", "3"])
    assert result.exit_code == 1
    assert "no command given" in result.output


def test_retrain_info_command_writes_github_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text('ingest:\n  as_of: "2011-12-10T23:00:00-05:00"\n')
    out = tmp_path / "gh"
    result = CliRunner().invoke(app, ["retrain-info"], env={"GITHUB_OUTPUT": str(out)})
    assert result.exit_code == 0, result.output
    assert "branch=retrain/2011-12-10\n" in out.read_text()
    assert "title=Retrain: data up to 2011-12-10\n" in out.read_text()
