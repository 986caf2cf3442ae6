"""Test-wide settings: offline Hub, one torch thread (two threads on a busy 2-core box ran
15-60x slower), and the two places real data lives, both inside the repository: the data shipped
in the package (`package_data`, factory/data) and the trimmed copies only tests and benchmarks read
(`test_data`, tests/data). Origin and license of every file: the SOURCES.md beside it."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_DATA = REPO / "factory" / "data"
TEST_DATA = REPO / "tests" / "data"


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA gpu (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def package_data() -> Path:
    """factory/data: benchmarks/, traces/, sample/ (what the product itself reads)."""
    return PACKAGE_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    """tests/data: trimmed real data only tests and benchmarks read (text/ for the language filter)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Qwen3 model (built once per test session, ~3 s)."""
    from factory.generate.teachers.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
