"""When compare replays both recipes: what counts as a recipe change, and the report block."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from bikecast.review.compare.recipe import recipe_changes
from bikecast.review.report.render import backtest_block

LOCK = yaml.safe_load((Path(__file__).resolve().parents[2] / "dvc.lock").read_text())


def changed(edit) -> list[str]:
    lock = copy.deepcopy(LOCK)
    edit(lock["stages"])
    return recipe_changes(yaml.safe_dump(LOCK), lock)


def test_new_data_alone_is_the_same_recipe():
    def new_data(stages):
        stages["ingest"]["outs"][0]["md5"] = "0" * 32
        stages["train"]["deps"][0]["md5"] = "1" * 32  # data deps move with the data
        stages["train"]["params"]["params.yaml"]["ingest.as_of"] = "2012-01-07T23:00:00-05:00"

    assert changed(new_data) == []
    assert recipe_changes(None, LOCK) == []  # no base lock: nothing to replay


def test_code_and_params_of_the_recipe_are_changes():
    def code_and_params(stages):
        feature_code = next(d for d in stages["features"]["deps"] if d["path"].endswith("level.py"))
        feature_code["md5"] = "2" * 32
        stages["train"]["params"]["params.yaml"]["train"]["max_depth"] = 4
        stages["evaluate"]["deps"][-1]["md5"] = "3" * 32  # scoring code: not the recipe

    assert changed(code_and_params) == ["params train", "src/bikecast/ml/level.py"]


def test_the_report_says_when_the_backtest_could_not_run():
    text = backtest_block(
        {"changes": ["params train"], "error": "the base's backtest: its code has no backtest"}
    )
    assert "**Backtest: the recipe changed** (`params train`)" in text
    assert "Not run, the test window decides: the base's backtest: its code has no" in text
    assert backtest_block(None) == ""
