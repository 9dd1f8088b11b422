"""The machinery of the GitOps loop test, by concern:

- `workflow`: a GitHub Actions emulator: reads the workflow YAML and runs a job's steps;
- `github`: git, and the pull-request fake behind peter-evans/create-pull-request;
- `s3`: moto's S3 on 127.0.0.1 with IAM checks on (the DVC remote);
- `processes`: running commands, waiting, killing a process group whole;
- `loop`: the loop itself and its fault scenarios (scripts/e2e_loop.py runs it by hand).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the checkout whose workflows and sources run
