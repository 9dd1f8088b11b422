"""Build data/seed/bikeshare_dc_2011.csv.gz from ISLP's copy of the UCI hourly data.

    pip download --no-deps islp==0.6.0 -d /tmp/islp
    uv run python scripts/make_seed.py /tmp/islp/islp-0.6.0-py3-none-any.whl

The wheel is only read as a zip file: islp (which pulls in torch) is never installed.
The output is byte-for-byte reproducible (gzip without a timestamp).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import pandas as pd

from bikecast.data.sources.uci import convert_islp_bikeshare, to_csv_text

MEMBER = "ISLP/data/Bikeshare.csv"
OUT = Path("data/seed/bikeshare_dc_2011.csv.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="islp-*.whl downloaded from PyPI")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    raw = zipfile.ZipFile(args.wheel).read(MEMBER)
    canonical = convert_islp_bikeshare(pd.read_csv(io.BytesIO(raw)))
    payload = to_csv_text(canonical).encode()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(f"source {MEMBER} sha256 {hashlib.sha256(raw).hexdigest()}")
    print(f"wrote {args.out}: {len(canonical)} rows, {canonical['rentals'].sum()} rentals")
    print(f"{args.out} sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
