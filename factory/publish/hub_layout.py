"""Write a Hub-ready dataset folder from a factory dataset folder: Parquet shards laid out as
`data/<config>/<split>-0000k-of-0000n.parquet` (each at most `max_shard_size`), and a
`README.md` whose YAML front matter (configs with their data files per split, license,
language, task categories, tags, size category, `dataset_info` features including the nested
`messages` list of {role, content}) lets `datasets.load_dataset(<folder>)` load it offline with
the right configs, splits and types. The card text below the front matter comes from
`factory/card.py`.

Shard bytes are deterministic (same rows, same pyarrow -> same bytes), so re-publishing an
unchanged set uploads nothing new. Other configs already in the folder are kept, so one Hub
repo can hold several configs (`--config`).

Exercise: `factory publish runs/quickstart/sft --dry-run --out runs/quickstart/hub`.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from factory.io.dataset import atomic_write_text, iter_batches
from factory.publish.splits import Split, find_splits
from factory.schemas.errors import DatasetError, InputError
from factory.schemas.sizes import parse_size as read_size

README = "README.md"
DEFAULT_MAX_SHARD = "500MB"

# Hub license identifiers for the licenses our sources carry (anything else -> "other")
_HUB_LICENSES = {
    "mit": "mit", "apache-2.0": "apache-2.0", "apache 2.0": "apache-2.0", "apache2": "apache-2.0",
    "bsd-3-clause": "bsd-3-clause", "bsd-2-clause": "bsd-2-clause", "cc-by-4.0": "cc-by-4.0",
    "cc-by-sa-4.0": "cc-by-sa-4.0", "cc-by-nc-4.0": "cc-by-nc-4.0", "cc0-1.0": "cc0-1.0", "odc-by": "odc-by",
    "llama3": "llama3", "gpl-3.0": "gpl-3.0", "unknown": "unknown",
}


def parse_size(text: str | int) -> int:
    """`500MB` -> 500_000_000, `1GiB` -> 1_073_741_824, `2048` -> 2048 (bytes; factory.schemas.sizes)."""
    n = read_size(text)
    if n is None:
        raise InputError(f"--max-shard-size: expected a size like 500MB, 1GB, 256MiB or a byte count, found {text!r}")
    if n < 1024:
        raise InputError(f"--max-shard-size: expected at least 1KiB, found {n} bytes")
    return n


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")):
        if n < limit:
            return name
    return "n>1B"


def hub_license(licenses: list[str]) -> str:
    """One Hub license id for the card's front matter: the single license every row carries, or
    `other` (the card's sources table then lists each source's own license)."""
    ids = {_HUB_LICENSES.get(str(lic).strip().lower(), "other") for lic in licenses if lic}
    if len(ids) == 1:
        return ids.pop()
    return "other" if ids else "unknown"


# ---------------------------------------------------------------------------------------------
# features (the `dataset_info` YAML the datasets library reads)
# ---------------------------------------------------------------------------------------------

_DTYPES = {
    pa.string(): "string", pa.large_string(): "large_string", pa.bool_(): "bool",
    pa.int8(): "int8", pa.int16(): "int16", pa.int32(): "int32", pa.int64(): "int64",
    pa.uint8(): "uint8", pa.uint16(): "uint16", pa.uint32(): "uint32", pa.uint64(): "uint64",
    pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64", pa.binary(): "binary",
}


def _feature(t: pa.DataType, where: str) -> dict[str, Any]:
    """An Arrow type as the datasets library's YAML feature: {dtype}, {struct: [...]}, {list: ...}."""
    if t in _DTYPES:
        return {"dtype": _DTYPES[t]}
    if pa.types.is_struct(t):
        return {"struct": [{"name": t.field(i).name, **_feature(t.field(i).type, f"{where}.{t.field(i).name}")} for i in range(t.num_fields)]}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = _feature(t.value_type, f"{where}[]")
        # a list of structs is written as the struct's field list, a list of values as its dtype
        return {"list": inner["struct"] if "struct" in inner else inner.get("dtype", inner)}
    raise DatasetError(f"column {where}: Arrow type {t} has no Hub feature mapping", hint="publish a folder with the factory contracts' column types")


def features_yaml(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, **_feature(f.type, f.name)} for f in schema]


# ---------------------------------------------------------------------------------------------
# shards
# ---------------------------------------------------------------------------------------------


@dataclass
class SplitFiles:
    name: str
    rows: int
    files: list[str]  # paths relative to the hub folder
    num_bytes: int  # in-memory Arrow bytes (what datasets calls the split's size)
    download_bytes: int  # Parquet bytes


@dataclass
class HubFolder:
    path: Path
    config: str
    schema: pa.Schema
    splits: list[SplitFiles]
    front_matter: dict[str, Any] = field(default_factory=dict)
    empty_splits: list[str] = field(default_factory=list)  # left out: no rows

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.splits)

    @property
    def readme(self) -> Path:
        return self.path / README


def _split_schema(split: Split) -> pa.Schema:
    if not split.manifest.shards:
        from factory.schemas.contracts import contract_for

        return contract_for(split.manifest.contract).schema
    return pq.read_schema(split.path / split.manifest.shards[0].name).remove_metadata()


def _set_schema(splits: list[Split]) -> pa.Schema:
    schemas = [_split_schema(s) for s in splits]
    for s, sch in zip(splits[1:], schemas[1:]):
        if not sch.equals(schemas[0]):
            raise DatasetError(
                f"{s.path}: columns differ from split '{splits[0].name}' ({sch.names} vs {schemas[0].names}); "
                "one Hub config needs one set of columns",
                hint="publish the splits as separate configs (--config)",
            )
    return schemas[0]


def _leaf_count(t: pa.DataType) -> int:
    if pa.types.is_struct(t):
        return sum(_leaf_count(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _leaf_count(t.value_type)
    return 1


def write_split_shards(split: Split, dest: Path, schema: pa.Schema, *, max_bytes: int) -> tuple[int, int, list[Path]]:
    """Write one split as shards of at most ~max_bytes (rotating before a row group would pass
    the limit) under temporary names; returns (rows, arrow bytes, shard paths in order)."""
    m = split.manifest
    src_bytes = sum(s.bytes for s in m.shards) or 1
    bytes_per_row = max(1.0, src_bytes / max(m.rows, 1))
    # row groups of about 1/8 of a shard: the limit is kept within one small group's estimate
    chunk_rows = int(max(1, min(10_000, max_bytes / 8 / bytes_per_row)))
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    rows = arrow_bytes = 0
    writer: pq.ParquetWriter | None = None
    sink: Any = None

    def open_shard() -> None:
        nonlocal writer, sink
        p = dest / f".{split.name}-{len(paths):05d}.parquet.tmp"
        paths.append(p)
        sink = pa.OSFile(str(p), "wb")
        # min/max statistics only on short columns: on long text they bloat the footer for nothing
        stats_cols = [c for c in ("id", "problem_id", "kind", "domain", "source", "language", "level", "sample_index") if c in schema.names]
        writer = pq.ParquetWriter(sink, schema, compression="zstd", use_dictionary=True, write_statistics=stats_cols)

    def close_shard() -> None:
        nonlocal writer, sink
        if writer is not None:
            writer.close()
            sink.close()
        writer = sink = None

    # the footer grows by one column-chunk record per leaf column per row group (~100 bytes each,
    # measured on SFT rows) plus the schema; it is counted so a shard stays under max_bytes
    leaves = sum(_leaf_count(f.type) for f in schema)
    footer_per_group, groups = 100 * leaves, 0
    for batch in iter_batches(split.path, batch_size=chunk_rows):
        table = pa.Table.from_batches([batch]).cast(schema)
        est = int(batch.num_rows * bytes_per_row)
        if writer is not None and groups and sink.tell() + est + footer_per_group * (groups + 1) + 4096 > max_bytes:
            close_shard()
            groups = 0
        if writer is None:
            open_shard()
        writer.write_table(table, row_group_size=chunk_rows)
        groups += 1
        rows += batch.num_rows
        arrow_bytes += batch.nbytes
    close_shard()
    return rows, arrow_bytes, paths


def write_hub_folder(
    src: str | Path,
    out: str | Path,
    *,
    config: str = "default",
    max_shard_size: str | int = DEFAULT_MAX_SHARD,
    card_body: str | Callable[[HubFolder], str] = "",
    front_matter_extra: dict[str, Any] | None = None,
) -> HubFolder:
    """Write `out/data/<config>/*.parquet` from the folder `src` and `out/README.md` with the
    front matter plus `card_body` (text, or a function of the written folder that returns it).
    Other configs already in `out` are kept."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", config):
        raise InputError(f"--config: expected a name of letters, digits, '_', '-' or '.', found {config!r}")
    max_bytes = parse_size(max_shard_size)
    src, out = Path(src), Path(out)
    splits = find_splits(src)
    if out.resolve() in {s.path.resolve() for s in splits} or out.resolve() == src.resolve():
        raise InputError(f"--out {out}: must not be the source folder itself", hint="choose another folder, e.g. DIR/hub")
    # the datasets library cannot read a Parquet file with no rows ("BatchSize must be greater
    # than 0"), so an empty split is left out of the config rather than published broken
    empty = [s.name for s in splits if s.manifest.rows == 0]
    splits = [s for s in splits if s.manifest.rows > 0]
    if not splits:
        raise DatasetError(f"{src}: every split is empty ({empty}); nothing to publish", hint="check the stage that produced it")
    schema = _set_schema(splits)
    cfg_dir = out / "data" / config
    staging = out / "data" / f".{config}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    results: list[SplitFiles] = []
    final_moves: list[tuple[Path, Path]] = []
    for split in splits:
        rows, nbytes, tmp_paths = write_split_shards(split, staging, schema, max_bytes=max_bytes)
        n = len(tmp_paths)
        names = [f"{split.name}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
        final_moves += [(t, cfg_dir / name) for t, name in zip(tmp_paths, names)]
        results.append(SplitFiles(split.name, rows, [f"data/{config}/{name}" for name in names], nbytes,
                                  sum(t.stat().st_size for t in tmp_paths)))
    # swap in the new shards only once every split is written: a failed run leaves the old ones
    if cfg_dir.exists():
        shutil.rmtree(cfg_dir)
    cfg_dir.mkdir(parents=True)
    for tmp, final in final_moves:
        os.replace(tmp, final)
    shutil.rmtree(staging)
    hub = HubFolder(out, config, schema, results, empty_splits=empty)
    hub.front_matter = _front_matter(hub, splits, existing=read_front_matter(out / README), extra=front_matter_extra or {})
    write_readme(hub, card_body(hub) if callable(card_body) else card_body)
    return hub


# ---------------------------------------------------------------------------------------------
# README front matter
# ---------------------------------------------------------------------------------------------


def read_front_matter(readme: Path) -> dict[str, Any]:
    import yaml

    if not readme.exists():
        return {}
    text = readme.read_text(encoding="utf-8")
    m = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    if not m:
        return {}
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _values(splits: list[Split], column: str) -> list[str]:
    from collections import Counter

    c: Counter = Counter()
    for s in splits:
        for sh in s.manifest.shards:
            if column in pq.read_schema(s.path / sh.name).names:
                c.update(v for v in pq.read_table(s.path / sh.name, columns=[column]).column(0).to_pylist() if v)
    return [v for v, _ in c.most_common()]


def _front_matter(hub: HubFolder, splits: list[Split], *, existing: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    contract = splits[0].manifest.contract
    domains = _values(splits, "domain")
    licenses = _values(splits, "license")
    languages = sorted({v for v in _values(splits, "language") if re.fullmatch(r"[a-z]{2,3}", v)}) or ["en"]
    config_entry = {
        "config_name": hub.config,
        "data_files": [{"split": s.name, "path": f"data/{hub.config}/{s.name}-*"} for s in hub.splits],
    }
    info_entry = {
        "config_name": hub.config,
        "features": features_yaml(hub.schema),
        "splits": [{"name": s.name, "num_bytes": s.num_bytes, "num_examples": s.rows} for s in hub.splits],
        "download_size": sum(s.download_bytes for s in hub.splits),
        "dataset_size": sum(s.num_bytes for s in hub.splits),
    }
    # keep the other configs already published from this folder (their data/ is still there)
    other_cfgs = [c for c in existing.get("configs") or [] if isinstance(c, dict) and c.get("config_name") != hub.config
                  and (hub.path / "data" / str(c.get("config_name"))).is_dir()]
    infos = existing.get("dataset_info") or []
    infos = [infos] if isinstance(infos, dict) else infos
    other_infos = [i for i in infos if isinstance(i, dict) and i.get("config_name") in {c["config_name"] for c in other_cfgs}]
    total_rows = hub.rows + sum(sum(int(s.get("num_examples", 0)) for s in i.get("splits") or []) for i in other_infos)
    tags = ["reasoning", "chain-of-thought", "distillation", "synthetic", "factory"]
    tags += [contract if contract != "sft" else "sft"] + [d for d in domains if d not in tags]
    fm: dict[str, Any] = {
        "license": hub_license(licenses),
        "language": languages,
        "task_categories": ["text-generation"],
        "tags": tags,
        "size_categories": [size_category(total_rows)],
        "pretty_name": extra.pop("pretty_name", None) or (splits[0].path.parent.name if splits[0].path.name == splits[0].name else splits[0].path.name),
        "configs": sorted([*other_cfgs, config_entry], key=lambda c: (c["config_name"] != "default", c["config_name"])),
        "dataset_info": sorted([*other_infos, info_entry], key=lambda c: (c["config_name"] != "default", c["config_name"])),
    }
    if fm["license"] == "other":
        fm["license_name"] = "mixed"
        fm["license_details"] = "rows keep their source's license; see the Sources and licenses table below"
    fm.update({k: v for k, v in extra.items() if v is not None})
    return fm


def write_readme(hub: HubFolder, card_body: str) -> None:
    import yaml

    head = yaml.safe_dump(hub.front_matter, sort_keys=False, allow_unicode=True, width=1000)
    atomic_write_text(hub.readme, f"---\n{head}---\n\n{card_body.strip()}\n")
