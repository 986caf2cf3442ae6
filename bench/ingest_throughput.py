"""Ingest throughput and peak memory, side by side with what a user would otherwise run.

Writes N synthetic `<think>` trace rows as JSONL (about 1.2 KB each), then, each in its own
process so peak RSS is its own:
  - ours: `factory.ingest.ingest(..., preset="think-traces")` (parse, split reasoning, hash ids,
    validate, write zstd Parquet shards + manifest);
  - datasets: `load_dataset("json", ...)` then `to_parquet` (parse + Arrow cache + Parquet, no
    mapping at all), the usual way to turn a JSONL file into Parquet.
Prints rows/s, peak RSS and the throughput ratio ours / datasets.

Run: `python bench/ingest_throughput.py --rows 100000`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OURS = """
import resource, sys, time
from factory.ingest import ingest
t = time.time()
r = ingest([sys.argv[1]], out=sys.argv[2], preset="think-traces")
print(r.rows_written, time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

_DATASETS = """
import os, resource, sys, time
os.environ["HF_DATASETS_CACHE"] = sys.argv[3]
import datasets
t = time.time()
ds = datasets.load_dataset("json", data_files=sys.argv[1], split="train")
ds.to_parquet(sys.argv[2])
print(len(ds), time.time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _write_rows(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            thought = " ".join(f"step {j}: consider {i} and {j}." for j in range(40))
            f.write(json.dumps({"problem": f"What is {i} + {i + 1}?", "model": "bench",
                                "completion": f"<think>\n{thought}\n</think>\nThe answer is \\boxed{{{2 * i + 1}}}."}) + "\n")


def _run(code: str, *args: str) -> tuple[int, float, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    rows, secs, rss = out.stdout.split()[-3:]
    return int(rows), float(secs), float(rss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "traces.jsonl"
        _write_rows(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        print(f"input: {args.rows} rows, {size_mb:.0f} MB of JSONL")
        t0 = time.time()
        ours = _run(_OURS, str(src), str(Path(tmp) / "ours"))
        theirs = _run(_DATASETS, str(src), str(Path(tmp) / "theirs.parquet"), str(Path(tmp) / "cache"))
        for name, (rows, secs, rss) in (("factory ingest", ours), ("datasets json->parquet", theirs)):
            print(f"{name:24s} {rows:>9d} rows  {secs:7.2f} s  {rows / secs:9.0f} rows/s  peak RSS {rss:6.0f} MB")
        print(f"throughput ratio (ours / datasets): {(ours[0] / ours[1]) / (theirs[0] / theirs[1]):.2f}")
        print(f"wall time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
