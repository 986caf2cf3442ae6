"""One size reader for every option that takes a size (dedup --memory-budget, publish --max-shard-size)."""

import pytest

from factory.dedup.core import DedupConfig
from factory.dedup.options import DedupOptions
from factory.publish.hub_layout import parse_size as shard_size
from factory.schemas.options import check_all
from factory.schemas.sizes import parse_size


@pytest.mark.parametrize("text,n", [("500MB", 500_000_000), ("500mb", 500_000_000), ("1GiB", 2**30), ("1.5g", 1_500_000_000),
                                    ("2048", 2048), (2048, 2048), (" 64 MiB ", 64 * 2**20), ("3kb", 3000), ("1TiB", 2**40)])
def test_sizes_read_one_way(text, n):
    assert parse_size(text) == n
    if n >= 1024:
        assert shard_size(text) == n  # publish reads them the same way


@pytest.mark.parametrize("bad", ["lots", "5XB", "", "-3MB", "1e9", True, -5, "2 G B"])
def test_not_sizes(bad):
    assert parse_size(bad) is None


def test_dedup_budget_default_and_checks_come_from_the_options():
    assert DedupConfig().memory_budget == parse_size(DedupOptions.memory_budget) == 2 * 10**9
    assert DedupConfig(memory_budget=10 << 20).problems() == ["memory_budget: expected at least 64MB, found '10485760B'"]
    assert check_all(DedupOptions, {"input": "a", "out": "b", "memory_budget": "512MiB"}) == []
    assert check_all(DedupOptions, {"input": "a", "out": "b", "memory_budget": "lots"}) == [
        "memory_budget: expected a size like 2GB or 512MB, found 'lots'"]
