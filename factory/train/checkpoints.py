"""Which checkpoint a killed `factory train` resumes from: the newest COMPLETE one.

A run killed while writing `checkpoint-100` leaves a folder that transformers cannot resume
(`ValueError: Can't find a valid checkpoint`, or a truncated-file error deep in torch). A
checkpoint counts as complete when:
- `trainer_state.json` (written last by the Trainer) parses and names its `global_step`;
- the weights are there and whole: a safetensors file's header fits in the file and its tensors
  end where the file ends (for a sharded index, every shard it lists);
- the optimizer, scheduler and RNG states that are present are whole zip archives (torch's
  format; a truncated one has no central directory).
Incomplete checkpoints newer than the chosen one are reported and removed (nothing in them can
be resumed, and the Trainer's rotation would count them).

Exercise: kill `factory train ...` while it saves a checkpoint, then run the same command again.
"""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
STATES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt")


def step_of(path: Path) -> int | None:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if path.name.startswith("checkpoint-") and tail.isdigit() else None


def _safetensors_problem(p: Path) -> str | None:
    size = p.stat().st_size
    try:
        with open(p, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{p.name} is truncated ({size} bytes)"
            (n,) = struct.unpack("<Q", head)
            if 8 + n > size:
                return f"{p.name} is truncated (its header alone needs {8 + n} bytes, the file has {size})"
            header = json.loads(f.read(n))
    except (OSError, ValueError) as e:
        return f"{p.name} is unreadable ({e})"
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)), default=0)
    if 8 + n + end > size:
        return f"{p.name} is truncated ({size} of {8 + n + end} bytes)"
    return None


def _weights_problem(cp: Path) -> str | None:
    present = [w for w in WEIGHTS if (cp / w).exists()]
    if not present:
        return "no model weights"
    for w in present:
        p = cp / w
        if w.endswith(".safetensors"):
            problem = _safetensors_problem(p)
        elif w.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(p.read_text())["weight_map"].values()))
            except (OSError, ValueError, KeyError) as e:
                return f"{w} is unreadable ({e})"
            problem = None
            for shard in shards:
                problem = f"missing weight shard {shard}" if not (cp / shard).exists() else _safetensors_problem(cp / shard)
                if problem:
                    break
        else:
            problem = None if zipfile.is_zipfile(p) else f"{w} is truncated (not a whole zip archive)"
        if problem:
            return problem
    return None


def problem(cp: Path) -> str | None:
    """Why `cp` cannot be resumed, or None when it is complete."""
    state = cp / "trainer_state.json"
    if not state.exists():
        return "no trainer_state.json (cut off while saving)"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "trainer_state.json is truncated"
    if not isinstance(data, dict) or "global_step" not in data:
        return "trainer_state.json has no global_step"
    weights = _weights_problem(cp)
    if weights:
        return weights
    for name in STATES:
        p = cp / name
        if p.exists() and not zipfile.is_zipfile(p):
            return f"{name} is truncated (not a whole zip archive)"
    return None


def latest_complete(out: Path, *, log: Callable[[str], None] = print) -> str | None:
    """The newest complete checkpoint in `out`; newer incomplete ones are reported and removed."""
    found = sorted((p for p in Path(out).glob("checkpoint-*") if p.is_dir() and step_of(p) is not None), key=step_of,
                   reverse=True)
    for cp in found:
        why = problem(cp)
        if why is None:
            return str(cp)
        log(f"train: ignoring the incomplete {cp.name} ({why}); removing it")
        shutil.rmtree(cp, ignore_errors=True)
    return None
