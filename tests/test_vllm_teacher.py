"""The vLLM backend on a real GPU (skipped without CUDA, or without the optional `vllm` extra):
a tiny model with head size 64 (vLLM's kernels need it), per-sample seeds that do not depend on
the batch, finish reasons and token counts."""

from __future__ import annotations

import pytest

from factory.generate.teachers.base import Request, SamplingConfig

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def vllm_tiny(tmp_path_factory):
    pytest.importorskip("vllm")
    from factory.generate.teachers.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("vllm") / "m", hidden_size=256, heads=4, kv_heads=2)


def _req(i: int, samples: list[int]) -> Request:
    return Request(key=f"p{i}", messages=[{"role": "user", "content": f"What is {i} + {i}?"}], sample_indices=samples,
                   seeds=[1000 * i + s for s in samples], prefill="<think>\n")


def test_vllm_generates_seeded_samples_independent_of_batching(vllm_tiny):
    from factory.generate.teachers.vllm_backend import VllmTeacher

    t = VllmTeacher(str(vllm_tiny), max_model_len=1024, gpu_memory_utilization=0.3)
    try:
        s = SamplingConfig(temperature=0.8, top_p=0.95, max_tokens=12, n=2, seed=0)
        both = t.generate([_req(1, [0, 1]), _req(2, [0, 1])], s)
        alone = t.generate([_req(2, [1])], s)
        assert alone[0][0].text == both[1][1].text  # same seed, other batch: same sample
        assert both[0][0].text != both[0][1].text
        for comps in both:
            for c in comps:
                assert c.finish_reason in ("stop", "length") and 0 < c.completion_tokens <= 12 and c.prompt_tokens > 0
    finally:
        t.close()


def test_generate_command_with_vllm(vllm_tiny, package_data, tmp_path):
    from gen_helpers import math500_rows, write_problems

    from factory.generate.core import GenerateOptions, run_generate
    from factory.io.dataset import read_manifest

    problems = write_problems(tmp_path / "p", math500_rows(package_data, 20))
    out = tmp_path / "t"
    run_generate(GenerateOptions(teacher=str(vllm_tiny), backend="vllm", problems=str(problems), out=str(out), n=4,
                                 max_tokens=16, max_model_len=1024, gpu_memory_utilization=0.3), log=lambda m: None,
                 progress=False)
    m = read_manifest(out)
    assert m.rows == 80 and m.run["gpus"] == 1 and m.run["gpu_hours"] > 0
