"""Hub layout: `datasets.load_dataset(<folder>)` (offline) returns exactly the source rows and
types, with the right configs and splits; shards respect the size limit and are byte-identical
across runs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pytest
from factory.schemas.errors import DatasetError, InputError
from publish_lineage import build_lineage

from factory.io.dataset import read_table, write_dataset
from factory.publish.hub_layout import parse_size, read_front_matter, write_hub_folder


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, package_data) -> dict[str, Path]:
    return build_lineage(tmp_path_factory.mktemp("lineage"), package_data)


def _norm(t: pa.DataType):
    # value types all the way down; nullability and list item names are not part of what the
    # Hub's features store (datasets writes `item`, pyarrow's Parquet reader `element`)
    if pa.types.is_struct(t):
        return ("struct", [(t.field(i).name, _norm(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_list(t):
        return ("list", _norm(t.value_type))
    return str(t)


def _plain(schema: pa.Schema) -> list[tuple[str, object]]:
    return [(f.name, _norm(f.type)) for f in schema]


def _load(folder: Path, cache: Path, config: str | None = None):
    import datasets

    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))


def test_load_dataset_offline_returns_the_source_rows_and_types(lineage, tmp_path):
    hub = write_hub_folder(lineage["sft"], tmp_path / "hub", max_shard_size="40KB", card_body="card")
    assert [s.name for s in hub.splits] == ["train", "validation"]
    assert len(hub.splits[0].files) >= 2, "a 40KB limit must split the long-CoT train rows into several shards"
    ds = _load(tmp_path / "hub", tmp_path / "cache")
    assert set(ds) == {"train", "validation"}
    for split in ("train", "validation"):
        src = read_table(lineage["sft"] / split)
        got = ds[split].data.table
        assert _plain(got.schema) == _plain(src.schema)
        assert got.to_pylist() == src.to_pylist()
    feats = ds["train"].features
    assert repr(feats["messages"]) == "List({'role': Value('string'), 'content': Value('string')})"
    assert repr(feats["trace_ids"]) == "List(Value('string'))"
    assert ds["train"][0]["messages"][1]["content"].startswith("<think>\n")


def test_shards_stay_under_the_limit_are_named_k_of_n_and_deterministic(lineage, tmp_path):
    limit = parse_size("40KB")
    a = write_hub_folder(lineage["sft"], tmp_path / "a", max_shard_size=limit)
    b = write_hub_folder(lineage["sft"], tmp_path / "b", max_shard_size=limit)
    for split in a.splits:
        n = len(split.files)
        for k, f in enumerate(split.files):
            assert re.fullmatch(rf"data/default/{split.name}-{k:05d}-of-{n:05d}\.parquet", f)
            assert (tmp_path / "a" / f).stat().st_size <= limit
    digest = lambda root, files: [hashlib.sha256((root / f).read_bytes()).hexdigest() for f in files]  # noqa: E731
    for sa, sb in zip(a.splits, b.splits):
        assert sa.files == sb.files and digest(tmp_path / "a", sa.files) == digest(tmp_path / "b", sb.files)
    assert (tmp_path / "a" / "README.md").read_bytes() == (tmp_path / "b" / "README.md").read_bytes()
    # rewriting with a larger limit replaces the config's shards (no stale files left)
    c = write_hub_folder(lineage["sft"], tmp_path / "a", max_shard_size="500MB")
    assert sorted(p.name for p in (tmp_path / "a" / "data" / "default").iterdir()) == sorted(Path(f).name for s in c.splits for f in s.files)


def test_front_matter_has_configs_license_language_and_features(lineage, tmp_path):
    write_hub_folder(lineage["sft"], tmp_path / "hub")
    fm = read_front_matter(tmp_path / "hub" / "README.md")
    assert fm["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/default/train-*"}, {"split": "validation", "path": "data/default/validation-*"}]}]
    assert fm["license"] == "other"  # Apache-2.0 (MATH-500 traces) and MIT (HumanEval) rows
    assert fm["language"] == ["en"] and fm["task_categories"] == ["text-generation"]
    assert fm["size_categories"] == ["n<1K"] and {"math", "code", "sft"} <= set(fm["tags"])
    info = fm["dataset_info"][0]
    msgs = next(f for f in info["features"] if f["name"] == "messages")
    assert msgs == {"name": "messages", "list": [{"name": "role", "dtype": "string"}, {"name": "content", "dtype": "string"}]}
    n_train = read_table(lineage["sft"] / "train").num_rows
    assert info["splits"][0] == {"name": "train", "num_bytes": info["splits"][0]["num_bytes"], "num_examples": n_train}


def test_a_trace_folder_as_a_second_config_keeps_the_first(lineage, tmp_path):
    out = tmp_path / "hub"
    write_hub_folder(lineage["sft"], out)
    write_hub_folder(lineage["traces/long_cot"], out, config="traces")
    fm = read_front_matter(out / "README.md")
    assert [c["config_name"] for c in fm["configs"]] == ["default", "traces"]
    traces = _load(out, tmp_path / "cache", "traces")
    src = read_table(lineage["traces/long_cot"])
    assert list(traces) == ["train"]
    assert _plain(traces["train"].data.table.schema) == _plain(src.schema)
    assert traces["train"].data.table.to_pylist() == src.to_pylist()
    assert set(traces["train"].features["sampling"]) >= {"temperature", "top_p", "max_tokens", "n"}
    sft = _load(out, tmp_path / "cache", "default")
    assert sft["train"].num_rows == read_table(lineage["sft"] / "train").num_rows


def test_an_empty_split_is_left_out_and_the_rest_loads(lineage, tmp_path):
    import shutil

    shutil.copytree(lineage["sft"] / "train", tmp_path / "sft" / "train")
    write_dataset(tmp_path / "sft" / "validation", "sft", [])
    hub = write_hub_folder(tmp_path / "sft", tmp_path / "hub")
    assert hub.empty_splits == ["validation"] and [s.name for s in hub.splits] == ["train"]
    ds = _load(tmp_path / "hub", tmp_path / "cache")
    assert list(ds) == ["train"] and ds["train"].num_rows == read_table(lineage["sft"] / "train").num_rows
    shutil.rmtree(tmp_path / "sft" / "train")
    with pytest.raises(DatasetError, match="every split is empty"):
        write_hub_folder(tmp_path / "sft", tmp_path / "hub2")


def test_sizes_and_bad_inputs_are_clear(tmp_path):
    assert parse_size("500MB") == 500_000_000 and parse_size("1GiB") == 2**30 and parse_size(4096) == 4096
    for bad in ("lots", "5XB", "10"):
        with pytest.raises(InputError, match="max-shard-size"):
            parse_size(bad)
    with pytest.raises(DatasetError, match="no such dataset folder"):
        write_hub_folder(tmp_path / "missing", tmp_path / "hub")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="expected a dataset folder"):
        write_hub_folder(tmp_path / "empty", tmp_path / "hub")
    with pytest.raises(InputError, match="--config"):
        write_hub_folder(tmp_path / "missing", tmp_path / "hub", config="bad name")
