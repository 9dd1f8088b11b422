"""The champion's scorer under every package layout a base revision can have.

Each test builds, in a temp dir, a stand-in `src/bikecast` of one layout (no xgboost: a
booster that knows its gains) and scores with `BaseScorer`, which runs base_scorer.py in a
subprocess with PYTHONPATH=<tree>/src, as compare does for a real base revision.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.review.cards import card_dict

from bikecast.errors import CompareError
from bikecast.grain import Grain
from bikecast.ml.card import SCHEMA_VERSION
from bikecast.review.compare import BaseScorer

BOOSTER = """
class Booster:
    def get_score(self, importance_type):
        assert importance_type == "gain"
        return {"hour": 3.0, "temp_c": 1.0}
"""

# the flat layout before bikecast/ml/ (e.g. 20445cb): bikecast.model, a dict card
FLAT = {
    "bikecast/model.py": BOOSTER
    + """
import json

def load_model(model_path, card_path=None):
    return Booster(), json.loads(open(card_path).read())

def stations_of(card):
    return card["stations"] if card.get("grain", "city") == "station" else None

def predict(booster, frame, stations=None):
    return (frame["temp_c"] * 2).tolist()
"""
}

# the first package layout (593fbcb): bikecast.ml.model, still a dict card
PACKAGE_DICT = {
    "bikecast/ml/__init__.py": "",
    "bikecast/ml/model.py": BOOSTER
    + """
import json

def load_model(model_path, card_path=None):
    return Booster(), json.loads(open(card_path).read())

def stations_of(card):
    return card["stations"] if card.get("grain", "city") == "station" else None

def predict(booster, frame, stations=None):
    bonus = stations["bonus"] if stations else 0.0
    return (frame["temp_c"] * 2 + bonus).tolist()
""",
}

# this layout: bikecast.ml.model returns a typed card with station_table and to_dict()
PACKAGE_TYPED = {
    "bikecast/ml/__init__.py": "",
    "bikecast/ml/model.py": BOOSTER
    + """
import json

class Card:
    def __init__(self, raw):
        self.raw = {**raw, "schema_version": 1}

    @property
    def station_table(self):
        return self.raw["stations"] if self.raw.get("grain") == "station" else None

    def to_dict(self):
        return dict(self.raw)

def load_model(model_path, card_path=None):
    return Booster(), Card(json.loads(open(card_path).read()))

def predict(booster, frame, stations=None):
    bonus = stations["bonus"] if stations else 0.0
    return (frame["temp_c"] * 2 + bonus).tolist()
""",
}


def make_base(tmp_path: Path, files: dict[str, str], card: dict) -> Path:
    """A worktree-like dir: src/bikecast of one layout, the model and its card."""
    tree = tmp_path / "scratch" / "tree"
    package = tree / "src" / "bikecast"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""a base revision\'s bikecast"""\n')
    for rel, text in files.items():
        path = tree / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (tree / "models").mkdir()
    (tree / "models" / "model.ubj").write_bytes(b"not read by the stand-in")
    (tree / "models" / "model.json").write_text(json.dumps(card))
    return tree


def inputs(rows: int = 5) -> pd.DataFrame:
    stamps = pd.date_range("2011-12-05", periods=rows, freq="h", tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "temp_c": np.arange(rows, dtype=float)})


def score(tree: Path, frame: pd.DataFrame):
    with BaseScorer(tree, frame, "base main (abc)") as scorer:
        scored = scorer.result()
    layout = json.loads((tree.parent / "result.json").read_text())["layout"]
    return scored, layout


@pytest.mark.parametrize(
    ("files", "layout"),
    [(FLAT, "bikecast.model"), (PACKAGE_DICT, "bikecast.ml.model")],
    ids=["flat", "package-dict-card"],
)
def test_old_layouts_with_a_dict_card_are_scored_and_the_card_upgraded(tmp_path, files, layout):
    old = card_dict(version="old000000000")
    del old["compute_engine"]  # older still: cards before the Dask engine had no such key
    tree = make_base(tmp_path, files, old)
    scored, used = score(tree, inputs())
    assert used == layout
    np.testing.assert_allclose(scored.predicted, np.arange(5) * 2.0)
    card = scored.card
    assert (card.schema_version, card.version) == (SCHEMA_VERSION, "old000000000")
    assert card.grain is Grain.CITY
    assert card.compute_engine == "local" and card.feature_columns == ("hour", "temp_c")
    assert scored.gain == {"hour": 3.0, "temp_c": 1.0}
    assert Path(scored.code) == tree / "src" / "bikecast"


def test_a_dict_card_at_station_grain_is_scored_with_its_own_stations(tmp_path):
    card = card_dict(grain="station", stations={"bonus": 10.0})
    tree = make_base(tmp_path, PACKAGE_DICT, card)
    scored, _ = score(tree, inputs())
    np.testing.assert_allclose(scored.predicted, np.arange(5) * 2.0 + 10)
    assert scored.card.grain is Grain.STATION


def test_the_typed_layout_is_tried_first_and_its_card_sent_as_a_dict(tmp_path):
    files = {**PACKAGE_TYPED, **FLAT}  # both present: the newer one wins
    tree = make_base(tmp_path, files, card_dict(grain="station", stations={"bonus": 1.0}))
    scored, layout = score(tree, inputs())
    assert layout == "bikecast.ml.model"
    np.testing.assert_allclose(scored.predicted, np.arange(5) * 2.0 + 1)
    assert scored.card.stations == {"bonus": 1.0}


def test_a_package_without_a_model_module_is_named(tmp_path):
    tree = make_base(tmp_path, {"bikecast/other.py": ""}, card_dict())
    with pytest.raises(CompareError) as info:
        score(tree, inputs())
    message = str(info.value)
    assert message.startswith("base main (abc): cannot score its model models/model.ubj")
    assert "no model module" in message and "bikecast.ml.model" in message
    assert "bikecast.model" in message


def test_a_broken_new_layout_is_reported_not_skipped_for_the_old_one(tmp_path):
    broken = {**FLAT, "bikecast/ml/__init__.py": "", "bikecast/ml/model.py": "import nowhere\n"}
    tree = make_base(tmp_path, broken, card_dict())
    with pytest.raises(CompareError, match=r"cannot be imported \(ModuleNotFoundError: .*nowhere"):
        score(tree, inputs())


def test_a_card_this_code_cannot_read_is_an_error_naming_the_base(tmp_path):
    tree = make_base(tmp_path, FLAT, card_dict(schema_version=99))
    with pytest.raises(CompareError, match=r"base main \(abc\): models/model.json: .*newer"):
        score(tree, inputs())
