"""Run the whole GitOps loop on this machine: the retrain and release workflows' own
`run:` lines, against a bare git repository as `origin` and a real S3 server (moto) on
127.0.0.1 as the DVC remote.

    uv run python scripts/e2e_loop.py            # the loop, in a temp dir, ~5-7 min on 2 cores
    uv run python scripts/e2e_loop.py --keep DIR # keep the repos to look at afterwards

The machinery is test infrastructure (tests/e2e/harness/, what each step does is in its
`loop` module); tests/e2e/test_gitops_loop.py runs the same loop and asserts on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# Run by path, this script sees scripts/ only; the harness is imported from the checkout
# root, as pytest does (pyproject: pythonpath = ["."]).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.harness.loop import run_loop, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        seen = run_loop(args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="bikecast-loop-") as tmp:
            seen = run_loop(Path(tmp))
    print(json.dumps(summary(seen), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
