from pathlib import Path

import pandas as pd
import pytest

from bikecast.config import ConfigError, Params, load_params

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.ingest.source == "replay"
    assert params.ingest.as_of_utc == pd.Timestamp("2012-01-01T04:00:00Z")
    assert params.split.test_days > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ingest: {source: kaggle, as_of: '2011-12-31T23:00:00Z'}", "ingest.source"),
        ("ingest: {as_of: 'yesterday'}", "not an ISO-8601 timestamp"),
        ("ingest: {as_of: '2011-12-31T23:00:00'}", "has no UTC offset"),
        ("ingest: {as_of: '2011-12-31T23:00:00Z'}\ntrain: {max_dept: 3}", "train.max_dept"),
        ("ingest: {as_of: '2011-12-31T23:00:00Z', step: 'soon'}", "ingest.step"),
        ("ingest: {as_of: '2011-12-31T23:00:00Z'}\nsplit: {test_days: 0}", "split.test_days"),
        ("- just\n- a list", "must be a mapping"),
        ("ingest: [unclosed", "not valid YAML"),
    ],
)
def test_bad_params_fail_with_the_key_named(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_params(write(tmp_path, text))


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_defaults_are_params_yaml():
    """The typed defaults and the shipped params.yaml say the same thing (one source of truth
    for a key a user leaves out)."""
    shipped = load_params(ROOT / "params.yaml")
    defaults = Params.model_validate({"ingest": {"as_of": shipped.ingest.as_of}})
    assert defaults == shipped
