"""What `factory train --data` reads: any dataset with a TRL conversational `messages` column
(a list of `{role, content}` turns, at least one of them the assistant's).

Accepted, in the order they are recognised:
- a `factory curate` output (`train/` and `validation/` dataset folders);
- a factory dataset folder (a manifest; SFT rows);
- a `datasets` `save_to_disk` folder: a DatasetDict (its `train` split, and `validation` when
  there is one) or a single Dataset;
- a Parquet or JSONL/JSON file (`.parquet`, `.jsonl`, `.json`, also gzip-compressed), or a folder
  of such files;
- a Hugging Face Hub dataset id (`org/name`, split `train`): loaded through `datasets` (from its
  cache when HF_HUB_OFFLINE=1; a dataset not in the cache is a clear error).

Validation rows come from, in this order: `--validation-data` (any of the above), a share of the
training rows held out with `--validation-split` (seeded), or the source's own validation split.

Every problem is reported with where it is: `--data x.parquet: row 3: messages[1].role: expected
one of system, user, assistant, tool, found 'gpt'`.

Exercise: `factory train --data msgs.parquet --student tiny -o OUT --validation-split 0.1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.schemas.errors import DatasetError, InputError

ROLES = ("system", "user", "assistant", "tool")
FILE_SUFFIXES = (".parquet", ".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


@dataclass
class TrainingData:
    train: Any  # datasets.Dataset with one `messages` column
    validation: Any | None
    source: str  # what --data was, in words (for the log and the model card)
    validation_source: str | None
    folder: Path | None = None  # a factory folder (its manifests feed the model card)


def load(data: str, *, flag: str = "--data") -> tuple[Any, Any | None, str, Path | None]:
    """(train, validation or None, description, factory folder or None) of one --data value."""
    p = Path(data).expanduser()
    if p.is_dir():
        if (p / "train" / "manifest.json").exists():
            val = p / "validation"
            train = _factory(p / "train", flag)
            v = _factory(val, flag, allow_empty=True) if (val / "manifest.json").exists() else None
            return train, v if v is not None and len(v) else None, f"factory curate output {p}", p
        if (p / "manifest.json").exists():
            return _factory(p, flag), None, f"factory dataset folder {p}", p
        if (p / "dataset_dict.json").exists() or (p / "state.json").exists():
            return _from_disk(p, flag)
        files = sorted(q for q in p.rglob("*") if q.is_file() and q.name.endswith(FILE_SUFFIXES))
        if files:
            import datasets

            parts = [_file(q, flag) for q in files]
            return datasets.concatenate_datasets(parts), None, f"{len(files)} data file(s) in {p}", None
        raise DatasetError(f"{flag} {p}: a folder with neither a factory manifest, a `datasets` save_to_disk layout, "
                           "nor .parquet/.jsonl files", hint="point it at a curate output, a Parquet or JSONL file, or a "
                                                              "dataset saved with Dataset.save_to_disk")
    if p.is_file():
        if not p.name.endswith(FILE_SUFFIXES):
            raise InputError(f"{flag} {p}: expected a .parquet, .jsonl or .json file, found {p.suffix or 'no suffix'}")
        return _file(p, flag), None, f"file {p.name}", None
    looks_local = data.startswith((".", "/", "~")) or data.endswith(FILE_SUFFIXES) or data.count("/") > 1
    if looks_local or not _HUB_ID.fullmatch(data):
        raise InputError(f"{flag} {data}: no such file or folder")
    return _hub(data, flag)


def _check(ds: Any, flag: str, where: str) -> Any:
    """Keep the `messages` column, after checking it is TRL's conversational format."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = list(ds.column_names)
    if "messages" not in cols:
        hint = ("ShareGPT-style `conversations` ({from, value}) are not read: rename to `messages` with "
                "{role, content} turns" if "conversations" in cols else
                "TRL's conversational format: a `messages` column of [{role, content}, ...] turns")
        raise DatasetError(f"{flag} {where}: no `messages` column (found: {', '.join(cols) or 'none'})", hint=hint)
    ds = ds.select_columns(["messages"])
    if len(ds) == 0:
        raise DatasetError(f"{flag} {where}: holds no rows")
    col = ds.data.column("messages")
    t = col.type
    inner = t.value_type if pa.types.is_list(t) or pa.types.is_large_list(t) else None
    if inner is None or not pa.types.is_struct(inner) or not {"role", "content"} <= {f.name for f in inner}:
        raise DatasetError(f"{flag} {where}: `messages` is {t}, expected a list of {{role, content}} turns",
                           hint="TRL's conversational format: [{'role': 'user', 'content': ...}, {'role': 'assistant', ...}]")
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    flat = pc.list_flatten(arr)
    parents = pc.list_parent_indices(arr)
    roles = pc.struct_field(flat, "role")
    bad = pc.invert(pc.fill_null(pc.is_in(roles, value_set=pa.array(ROLES)), False))
    if pc.any(bad).as_py():
        i = pc.index(bad, True).as_py()
        row = parents[i].as_py()
        turn = i - pc.index(parents, row).as_py()
        raise DatasetError(f"{flag} {where}: row {row}: messages[{turn}].role: expected one of {', '.join(ROLES)}, "
                           f"found {roles[i].as_py()!r}")
    contents = pc.struct_field(flat, "content")
    if contents.null_count:
        i = pc.index(pc.is_null(contents), True).as_py()
        row = parents[i].as_py()
        raise DatasetError(f"{flag} {where}: row {row}: messages[{i - pc.index(parents, row).as_py()}].content: "
                           "expected text, found null")
    with_assistant = pc.unique(pc.filter(parents, pc.equal(roles, "assistant")))
    if len(with_assistant) < len(ds):
        have = set(with_assistant.to_pylist())
        row = next(r for r in range(len(ds)) if r not in have)
        raise DatasetError(f"{flag} {where}: row {row}: no assistant turn (nothing to train on)",
                           hint="every row needs at least one {'role': 'assistant', ...} turn")
    return ds


def _factory(path: Path, flag: str, *, allow_empty: bool = False) -> Any:
    import datasets

    from factory.io import dataset as fds

    m = fds.check_folder(path)
    if m.contract != "sft":
        raise DatasetError(f"{flag} {path}: holds {m.contract} rows; training needs SFT rows with `messages`",
                           hint="make them with `factory curate`, or pass a Parquet/JSONL file with a messages column")
    table = fds.read_table(path, columns=["messages"])
    if table.num_rows == 0 and allow_empty:
        return datasets.Dataset(table)
    return _check(datasets.Dataset(table), flag, str(path))


def _file(p: Path, flag: str) -> Any:
    import datasets
    import pyarrow as pa

    try:
        if p.name.endswith(".parquet"):
            import pyarrow.parquet as pq

            table = pq.read_table(p)
        else:
            table = _json_table(p)
    except (pa.ArrowInvalid, OSError, ValueError) as e:
        raise DatasetError(f"{flag} {p}: cannot read it: {e}") from None
    return _check(datasets.Dataset(table), flag, str(p))


def _json_table(p: Path):
    """JSON Lines (one object per line) or one JSON array of objects, gzip or not."""
    import gzip
    import json

    import pyarrow as pa

    opener = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as f:
        head = f.read(1)
        while head and head.isspace():
            head = f.read(1)
        f.seek(0)
        if head == "[":
            rows = json.load(f)
        else:
            rows = []
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as e:
                        raise ValueError(f"line {n}: not JSON ({e})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise ValueError("expected JSON objects, one per line")
    return pa.Table.from_pylist(rows)


def _from_disk(p: Path, flag: str) -> tuple[Any, Any | None, str, None]:
    import datasets

    try:
        obj = datasets.load_from_disk(str(p))
    except (OSError, ValueError, FileNotFoundError) as e:
        raise DatasetError(f"{flag} {p}: cannot load the save_to_disk folder: {e}") from None
    if isinstance(obj, datasets.DatasetDict):
        train, val = _pick_splits(obj, flag, str(p))
        return train, val, f"datasets folder {p} (splits: {', '.join(obj)})", None
    return _check(obj, flag, str(p)), None, f"datasets folder {p}", None


def _pick_splits(dd: Any, flag: str, where: str) -> tuple[Any, Any | None]:
    names = list(dd)
    if "train" in dd:
        train_name = "train"
    elif len(names) == 1:
        train_name = names[0]
    else:
        raise DatasetError(f"{flag} {where}: no `train` split (splits: {', '.join(names)})",
                           hint="save the training rows as the `train` split")
    val_name = next((n for n in ("validation", "valid", "val", "dev") if n in dd), None)
    return _check(dd[train_name], flag, f"{where} [{train_name}]"), (
        _check(dd[val_name], flag, f"{where} [{val_name}]") if val_name else None)


def _hub(repo: str, flag: str) -> tuple[Any, Any | None, str, None]:
    import datasets
    from huggingface_hub import constants

    try:
        dd = datasets.load_dataset(repo)
    except Exception as e:  # offline without a cache, no such repo, no network: one located line
        offline = constants.is_offline_mode() or datasets.config.HF_HUB_OFFLINE
        if offline:
            raise InputError(f"{flag} {repo}: not a local file or folder, and the Hugging Face Hub is offline "
                             "(HF_HUB_OFFLINE=1) with no cached copy of that dataset",
                             hint=f"download it while online (`hf download {repo} --repo-type dataset`), or point "
                                  f"{flag} at a local Parquet/JSONL file") from None
        raise InputError(f"{flag} {repo}: not a local file or folder, and loading it from the Hugging Face Hub failed: "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                         hint="check the dataset id (org/name) and the network, or point it at a local file") from None
    train, val = _pick_splits(dd, flag, repo)
    return train, val, f"Hub dataset {repo}", None


def training_data(data: str, *, validation_data: str | None = None, validation_split: float | None = None,
                  seed: int = 42) -> TrainingData:
    train, val, source, folder = load(data)
    val_source = f"the validation split of {source}" if val is not None else None
    if validation_data:
        v_train, v_val, v_source, _ = load(validation_data, flag="--validation-data")
        val, val_source = (v_val if v_val is not None else v_train), v_source
    elif validation_split:
        n_val = max(1, round(len(train) * validation_split))
        if n_val >= len(train):
            raise DatasetError(f"--validation-split {validation_split}: would hold out all {len(train)} training rows",
                               hint="use a smaller share, or pass --validation-data")
        parts = train.train_test_split(test_size=n_val, seed=seed, shuffle=True)
        train, val = parts["train"], parts["test"]
        val_source = f"{n_val} rows held out of {source} (--validation-split {validation_split}, seed {seed})"
    return TrainingData(train, val, source, val_source, folder)
