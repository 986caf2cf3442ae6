"""factory rl on the tiny model (CPU, one torch thread, a few steps): it trains on Countdown and on
MATH-500 problems, the parameters change, every step logs the reward per component, accuracy,
completion length and KL; a crash mid-run resumes from the newest complete checkpoint (a partial
one is ignored); `--set` is checked against GRPOConfig; every preset builds a valid GRPOConfig with
the published batch arithmetic; vLLM colocate generation on a GPU (gpu-marked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from factory.cli.app import app
from typer.testing import CliRunner

from factory.data import DATA_DIR
from factory.pipeline.runner import StageContext, run_stage
from factory.rl import core
from factory.rl.options import RLOptions, TasksOptions
from factory.rl.tasks import write_tasks
from factory.schemas.options import build

torch.set_num_threads(1)
QUIET = dict(log=lambda m: None)


@pytest.fixture(scope="module")
def countdown_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tasks") / "countdown"
    write_tasks(TasksOptions(task="countdown", n=12, out=str(out), seed=0), **QUIET)
    return out


@pytest.fixture(scope="module")
def math500_dir(tmp_path_factory) -> Path:
    from factory.ingest.core import ingest

    out = tmp_path_factory.mktemp("math") / "math500"
    ingest([str(DATA_DIR / "benchmarks" / "math500_test.jsonl.gz")], out=out, preset="math500", limit=6)
    return out


def _params(model_dir: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(model_dir)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _steps(out: Path) -> list[dict]:
    log = json.loads((out / "rl_log.json").read_text())
    return [h for h in log["log_history"] if "reward" in h]


def test_rl_on_countdown_trains_and_logs_every_component(tmp_path, tiny_model, countdown_dir):
    out = tmp_path / "rl"
    res = CliRunner().invoke(app, ["rl", str(countdown_dir), "--model", str(tiny_model), "-o", str(out), "--preset", "tiny",
                                   "--set", "max_steps=3", "--set", "learning_rate=5e-3"])
    assert res.exit_code == 0, res.output
    assert "trained 3 GRPO steps" in res.output
    # one readable line per step: reward per component, accuracy, completion length, KL
    assert "step 3: reward" in res.output and "accuracy" in res.output and "length" in res.output and "kl " in res.output
    steps = _steps(out)
    assert [h["step"] for h in steps] == [1, 2, 3]
    for h in steps:
        for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/language/mean", "completions/mean_length", "kl"):
            assert h.get(key) is not None, key
    assert steps[-1]["kl"] > 0  # the policy moved away from the reference
    before, after = _params(tiny_model), _params(out)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) >= len(before) // 2, f"only {len(changed)} of {len(before)} tensors changed"
    card = (out / "README.md").read_text()
    assert "Preset: `tiny`" in card and "accuracy (1)" in card and (out / "rl_curve.png").stat().st_size > 1000
    log = json.loads((out / "rl_log.json").read_text())
    assert log["rewards"] == ["accuracy", "format", "language"] and log["funnel"]["kept"] == 12
    assert log["settings"]["gradient_accumulation_steps"] * log["settings"]["per_device_train_batch_size"] == 2 * 4
    # the same command again is up to date
    again = CliRunner().invoke(app, ["rl", str(countdown_dir), "--model", str(tiny_model), "-o", str(out), "--preset", "tiny",
                                     "--set", "max_steps=3", "--set", "learning_rate=5e-3"])
    assert again.exit_code == 0 and "up to date" in again.output
    # other options are refused, naming the change, until --overwrite replaces the earlier run
    other = ["rl", str(countdown_dir), "--model", str(tiny_model), "-o", str(out), "--preset", "tiny", "--set", "max_steps=2"]
    refused = CliRunner().invoke(app, other)
    assert refused.exit_code == 1 and "max_steps" in refused.output and "--overwrite" in refused.output
    redone = CliRunner().invoke(app, other + ["--overwrite"])
    assert redone.exit_code == 0 and "trained 2 GRPO steps" in redone.output, redone.output
    assert not (out / "checkpoint-3").exists() and [h["step"] for h in _steps(out)] == [1, 2]


def test_rl_on_math500_problems_as_a_recipe_section(tmp_path, math500_dir):
    from factory.pipeline.recipe import run_section

    section = {"input": str(math500_dir), "model": "@tiny", "out": "rl_math", "preset": "r1-zero", "prompt": "r1-zero",
               "set": {"max_steps": 2, "num_generations": 4, "per_device_train_batch_size": 4, "prompts_per_step": 2,
                       "steps_per_rollout": 1, "max_completion_length": 12, "learning_rate": 1e-3,
                       "gradient_checkpointing": False, "save_steps": 2}}
    summary = run_section("rl", section, run_dir=tmp_path, **QUIET)
    assert summary["steps"] == 2 and summary["accuracy_last"] is not None
    steps = _steps(tmp_path / "rl_math")
    assert len(steps) == 2 and all("rewards/format/mean" in h and "kl" in h for h in steps)
    log = json.loads((tmp_path / "rl_math" / "rl_log.json").read_text())
    assert log["prompt"] == "r1-zero" and log["funnel"] == {"problems": 6, "kept": 6, "dropped": {}}
    assert log["settings"]["beta"] == 0.001 and log["settings"]["sync_ref_model"] is True  # the R1-Zero preset's


def test_a_crash_mid_run_resumes_from_the_last_complete_checkpoint(tmp_path, tiny_model, countdown_dir, monkeypatch):
    from transformers import TrainerCallback

    out = tmp_path / "rl"
    values = {"input": str(countdown_dir), "model": str(tiny_model), "out": str(out), "preset": "tiny",
              "set": {"max_steps": 4, "save_steps": 2}}
    opts = build(RLOptions, values, style="recipe", path="rl")

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise RuntimeError("simulated crash at step 3")

    real = core._callbacks
    monkeypatch.setattr(core, "_callbacks", lambda *a: real(*a) + [Crash()])
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_stage("rl", opts, StageContext(stage="rl", **QUIET), core.run)
    assert core.checkpoint_is_complete(out / "checkpoint-2")
    # a checkpoint cut off while being written (weights, no trainer_state.json) must not be resumed
    (out / "checkpoint-3").mkdir()
    (out / "checkpoint-3" / "model.safetensors").write_bytes(b"partial")
    monkeypatch.setattr(core, "_callbacks", real)
    lines: list[str] = []
    summary = run_stage("rl", opts, StageContext(stage="rl", log=lines.append), core.run)
    assert summary["steps"] == 4 and summary["resumed_from"].endswith("checkpoint-2")
    assert any("ignoring partial checkpoint checkpoint-3" in m for m in lines)
    assert any("resuming from" in m for m in lines)
    assert [h["step"] for h in _steps(out)] == [1, 2, 3, 4]  # the history continues across the crash
    assert core.checkpoint_is_complete(out / "checkpoint-4")


def test_set_is_checked_against_grpo_config(tmp_path, tiny_model, countdown_dir):
    res = CliRunner().invoke(app, ["rl", str(countdown_dir), "--model", str(tiny_model), "-o", str(tmp_path / "x"),
                                   "--set", "learnin_rate=1e-5", "--set", "beta=abc", "--set", "output_dir=y",
                                   "--set", "num_generations=2", "--reward-weights", "1"])
    assert res.exit_code == 1
    text = " ".join(res.output.split())
    assert "learnin_rate: unknown GRPOConfig field (did you mean learning_rate?)" in text
    assert "beta: expected float, found str 'abc'" in text
    assert "output_dir: set by the factory; use --out" in text
    assert "--reward-weights: expected 2 weights (one per reward: accuracy, format), found 1" in text
    assert not (tmp_path / "x").exists()
    from factory.pipeline.recipe import validate_section

    problems = validate_section("rl", {"input": "p", "model": "m", "out": "o", "preset": "tiny", "prompt": "chatty",
                                       "rewards": ["accuracy", "speed"], "set": {"max_steps": "many"}})
    assert any("rl.rewards[1]: expected one of accuracy, format, language, length, overlong, found 'speed'" in p
               for p in problems), problems
    ok = validate_section("rl", {"input": "p", "model": "m", "out": "o", "preset": "tiny", "prompt": "qwen",
                                 "set": {"max_steps": 3, "learning_rate": "2e-5", "use_vllm": False}})
    assert ok == []
    bad = validate_section("rl", {"input": "p", "model": "m", "out": "o", "prompt": "chatty", "set": {"max_steps": "many"}})
    assert any("rl.prompt: expected one of" in p for p in bad) and any("max_steps: expected int" in p for p in bad), bad


def test_presets_build_valid_configs_with_the_published_batches():
    from factory.rl.config import build_kwargs, make_config
    from factory.rl.presets import PRESETS

    source = (Path(core.__file__).with_name("presets.py")).read_text()
    for cite in ("DeepSeek-R1 (Nature", "TinyZero (github.com/Jiayi-Pan/TinyZero", "open-r1 (github.com/huggingface/open-r1"):
        assert cite in source
    for name, p in PRESETS.items():
        for world in (1, 8):  # the arithmetic on 1 and on 8 processes (GRPOConfig itself sees this process's 1)
            kw = build_kwargs(p, {}, output_dir="/tmp/x", reward_weights=list(p.reward_weights), seed=0, world_size=world)
            per_step = kw["per_device_train_batch_size"] * kw["gradient_accumulation_steps"] * world
            g = kw["num_generations"]
            assert per_step >= p.prompts_per_step * g and per_step % g == 0, (name, world)
            generation_batch = kw["per_device_train_batch_size"] * world * kw["steps_per_generation"]
            assert generation_batch == per_step * p.steps_per_rollout and generation_batch % g == 0, (name, world)
        make_config(build_kwargs(p, {}, output_dir="/tmp/x", reward_weights=list(p.reward_weights), seed=0))  # TRL accepts it
    r1 = make_config(build_kwargs(PRESETS["r1-zero"], {}, output_dir="/tmp/x", reward_weights=[1, 1], seed=0))
    # 32 questions x 16 samples = 512 completions per step; a rollout of 8,192 feeds 16 steps
    assert r1.per_device_train_batch_size * r1.gradient_accumulation_steps == 512 and r1.generation_batch_size == 8192
    assert (r1.learning_rate, r1.beta, r1.temperature, r1.max_completion_length) == (3e-6, 0.001, 1.0, 32768)


@pytest.mark.gpu
def test_vllm_colocate_generation_on_a_gpu(tmp_path, countdown_dir):
    """vLLM (colocate) generation: needs a CUDA GPU and vLLM installed (head size >= 64)."""
    pytest.importorskip("vllm", reason="vLLM is an optional extra: pip install 'factory[vllm]'")
    from factory.generate.teachers.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny64", hidden_size=256, heads=4, kv_heads=2)
    lines: list[str] = []
    opts = build(RLOptions, {"input": str(countdown_dir), "model": str(model), "out": str(tmp_path / "rl"), "preset": "tiny",
                             "vllm": "on", "set": {"max_steps": 2, "vllm_gpu_memory_utilization": 0.2}}, style="recipe")
    summary = run_stage("rl", opts, StageContext(stage="rl", log=lines.append), core.run)
    assert summary["steps"] == 2 and any("vLLM" in m for m in lines)
