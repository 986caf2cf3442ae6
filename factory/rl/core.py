"""`factory rl`: GRPO (TRL's `GRPOTrainer`, no hand-written loop) on the factory's own verifiers.

A problem folder (math with reference answers, code with tests, or a task from `factory tasks`)
becomes prompts (`factory.rl.prompts`); the policy samples G completions per prompt; the rewards
are `factory.filters.rewards` (accuracy from the math cascade / code sandbox / task checker,
format, language consistency, length penalties) with the preset's weights. Generation uses vLLM
in colocate mode on a GPU where vLLM is installed (`--vllm auto`), else transformers.

Every logged step prints one line — total reward, each reward component, accuracy, mean
completion length, KL to the reference policy — and `rl_log.json` keeps TRL's full log history.

Resume works like `factory train`: checkpoints go to `<out>/checkpoint-N`, and when the stage
runner finds a killed run with the same inputs and options (`mode="resume"`) training continues
from the newest COMPLETE checkpoint (HF writes `trainer_state.json` last; a checkpoint without it
was cut off while saving and is removed). A finished run is up to date; other options are refused
until `--overwrite` (factory.pipeline.runner).

Outputs in --out: the policy (weights, tokenizer), `rl_log.json`, `rl_curve.png`, `README.md`.

Exercise: `factory rl problems/countdown --model runs/tiny -o runs/rl --preset tiny --set max_steps=4`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from factory.io.files import atomic_write_text
from factory.rl.config import build_kwargs, make_config, parse_overrides
from factory.rl.presets import get_preset
from factory.rl.prompts import is_plain_text
from factory.schemas.errors import FactoryError, MissingDependencyError

LOG = "rl_log.json"
VllmMode = Literal["auto", "on", "off"]
Mode = Literal["create", "overwrite", "resume"]


@dataclass
class RLResult:
    out: Path
    global_step: int
    history: list[dict[str, Any]]
    tokens: int
    seconds: float
    tokens_per_second: float
    resumed_from: str | None
    funnel: dict[str, Any] = field(default_factory=dict)

    def steps(self) -> list[dict[str, Any]]:
        return [h for h in self.history if "reward" in h]

    def summary(self) -> dict[str, Any]:
        steps = self.steps()
        first, last = (steps[0], steps[-1]) if steps else ({}, {})
        return {"out": str(self.out), "steps": self.global_step, "resumed_from": self.resumed_from,
                "reward_first": first.get("reward"), "reward_last": last.get("reward"),
                "accuracy_first": first.get("rewards/accuracy/mean"), "accuracy_last": last.get("rewards/accuracy/mean"),
                "kl_last": last.get("kl"), "completion_length_last": last.get("completions/mean_length"),
                "tokens_per_second": round(self.tokens_per_second, 1)}


# -- checkpoints ----------------------------------------------------------------------------------

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "adapter_model.safetensors")


def _step_of(path: Path) -> int | None:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if path.name.startswith("checkpoint-") and tail.isdigit() else None


def checkpoint_is_complete(path: Path) -> bool:
    """HF's Trainer writes the weights, optimizer, scheduler and RNG states, and trainer_state.json
    LAST: a checkpoint whose trainer_state.json is missing or unreadable was cut off."""
    state = path / "trainer_state.json"
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "global_step" in data and any((path / w).exists() for w in WEIGHTS)


def latest_checkpoint(out: Path, *, log: Callable[[str], None] = print, remove_partial: bool = True) -> str | None:
    """The newest complete checkpoint in `out`; partial ones are removed (they cannot be resumed
    and would otherwise be mistaken for the newest by the Trainer's rotation)."""
    found = sorted((p for p in Path(out).glob("checkpoint-*") if p.is_dir() and _step_of(p) is not None), key=_step_of)
    best = None
    for p in found:
        if checkpoint_is_complete(p):
            best = p
        elif remove_partial:
            log(f"ignoring partial checkpoint {p.name} (no trainer_state.json: cut off while saving); removed")
            shutil.rmtree(p, ignore_errors=True)
    return str(best) if best else None


# -- logging --------------------------------------------------------------------------------------


def _step_line(logs: dict[str, Any], names: list[str]) -> str:
    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)

    parts = [f"reward {f(logs.get('reward'))}"]
    comps = ", ".join(f"{n} {f(logs.get(f'rewards/{n}/mean'))}" for n in names)
    if comps:
        parts[0] += f" ({comps})"
    if "accuracy" in names:
        parts.append(f"accuracy {f(logs.get('rewards/accuracy/mean'))}")
    parts.append(f"length {f(logs.get('completions/mean_length'))}")
    parts.append(f"kl {f(logs.get('kl'))}" if "kl" in logs else "kl n/a (beta=0: no reference model)")
    return ", ".join(parts)


def _callbacks(names: list[str], log: Callable[[str], None], tokens: dict[str, float]):
    from transformers import TrainerCallback

    class StepLog(TrainerCallback):
        """One line per logged step: reward per component, accuracy, completion length, KL."""

        def on_train_begin(self, args, state, control, **kwargs):
            tokens["start"] = float(state.num_input_tokens_seen or 0)
            tokens["t0"] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "reward" in logs:
                log(f"step {state.global_step}: {_step_line(logs, names)}")

        def on_train_end(self, args, state, control, **kwargs):
            tokens["end"] = float(state.num_input_tokens_seen or 0)
            tokens["t1"] = time.perf_counter()

    return [StepLog()]


# -- the run --------------------------------------------------------------------------------------


def _cuda() -> tuple[bool, bool]:
    import torch

    cuda = torch.cuda.is_available()
    return cuda, bool(cuda and torch.cuda.is_bf16_supported())


def resolve_vllm(mode: VllmMode, cuda: bool, log: Callable[[str], None]) -> bool:
    installed = importlib.util.find_spec("vllm") is not None
    if mode == "off":
        return False
    if mode == "on":
        if not cuda:
            raise FactoryError("--vllm on: vLLM generation needs a CUDA GPU and none is visible",
                               hint="use --vllm auto (transformers generation on CPU) or run on a GPU machine")
        if not installed:
            raise MissingDependencyError("vllm", extra="vllm", purpose="--vllm on")
        return True
    if cuda and installed:
        log("generation: vLLM (colocate mode: shares the training GPU)")
        return True
    log("generation: transformers" + ("" if cuda else " (no GPU)") + ("" if installed or not cuda else
                                                                       " (vLLM not installed: pip install 'factory[vllm]')"))
    return False


def build_trainer(opts: Any, *, callbacks: list[Any] | None = None, log: Callable[[str], None] = print):
    """Load the problems, resolve preset + overrides into a GRPOConfig and build GRPOTrainer.
    `opts` is an `RLOptions` (factory.rl.stage). Returns (trainer, context)."""
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from factory.filters.rewards import reward_funcs
    from factory.rl.data import load_problems

    preset = get_preset(opts.preset)
    names = list(opts.rewards) if opts.rewards else list(preset.rewards)
    weights = list(opts.reward_weights) if opts.reward_weights else (
        list(preset.reward_weights) if not opts.rewards else [1.0] * len(names))
    if len(weights) != len(names):
        raise FactoryError(f"--reward-weights: expected {len(names)} weights (one per reward: {', '.join(names)}), "
                           f"found {len(weights)}")
    prompt = opts.prompt or preset.prompt
    overrides, _ = parse_overrides(dict(opts.set or {}))
    cuda, bf16 = _cuda()
    use_vllm = resolve_vllm(opts.vllm, cuda, log)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    kwargs = build_kwargs(preset, overrides, output_dir=str(opts.out), reward_weights=weights, seed=opts.seed,
                          world_size=world, cuda=cuda, bf16=bf16, use_vllm=use_vllm)
    config = make_config(kwargs)
    try:
        funcs = reward_funcs(names, max_completion_length=config.max_completion_length,
                             overlong_buffer=opts.overlong_buffer)
    except ValueError as e:
        raise FactoryError(f"--rewards: {e}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(opts.model, padding_side="left", truncation_side="left")
    except OSError as e:
        raise FactoryError(f"cannot load the policy tokenizer from {opts.model!r}: {e}",
                           hint="pass a local model folder, or a Hub id while online") from None
    if not is_plain_text(prompt) and not tokenizer.chat_template:
        raise FactoryError(f"--prompt {prompt}: a chat prompt, but the policy {opts.model!r} has no chat template",
                           hint="base models take a plain-text template: --prompt r1-zero (or tinyzero)")
    train_ds, funnel = load_problems(opts.input, prompt=prompt, limit=opts.limit, language=opts.language, log=log)
    peft_config = None
    if opts.lora:
        try:
            from peft import LoraConfig
        except ImportError:
            raise MissingDependencyError("peft", purpose="--lora") from None
        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    tokens: dict[str, float] = {}
    trainer = GRPOTrainer(model=opts.model, reward_funcs=funcs, args=config, train_dataset=train_ds,
                          processing_class=tokenizer, peft_config=peft_config,
                          callbacks=_callbacks(names, log, tokens) + list(callbacks or []))
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # StepLog prints one readable line per step instead of the raw dict
    context = {"preset": preset, "rewards": names, "weights": weights, "prompt": prompt, "kwargs": kwargs,
               "funnel": funnel, "tokens": tokens, "tokenizer": tokenizer, "use_vllm": use_vllm}
    return trainer, context


def clear_output(out: Path) -> None:
    """Remove an earlier run's files from `out`, keeping the stage runner's own marks and locks."""
    for p in out.iterdir() if out.is_dir() else []:
        if p.name.startswith(".factory"):
            continue
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def run_rl(opts: Any, *, mode: Mode = "create", callbacks: list[Any] | None = None,
           log: Callable[[str], None] = print) -> RLResult:
    """Train the policy with GRPO (see the module docstring). `mode` comes from the stage runner:
    create (empty --out), overwrite (clear it first), resume (continue from the newest complete
    checkpoint)."""
    out = Path(opts.out)
    if mode == "overwrite":
        log(f"--overwrite: removing the earlier run in {out}")
        clear_output(out)
    out.mkdir(parents=True, exist_ok=True)
    trainer, c = build_trainer(opts, callbacks=callbacks, log=log)
    resume_from = latest_checkpoint(out, log=log) if mode == "resume" else None
    if resume_from:
        log(f"resuming from {resume_from}")
    elif mode == "resume":
        log("no complete checkpoint to resume from: starting from the first step")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.time() - t0
    tok = c["tokens"]
    tokens = int(tok.get("end", 0) - tok.get("start", 0))
    train_s = tok.get("t1", 0) - tok.get("t0", 0) or seconds
    if opts.lora:
        trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(str(out))  # weights + tokenizer (processing_class) + generation config
    history = list(trainer.state.log_history)
    result = RLResult(out=out, global_step=trainer.state.global_step, history=history, tokens=tokens, seconds=seconds,
                      tokens_per_second=tokens / train_s if train_s else 0.0, resumed_from=resume_from, funnel=c["funnel"])
    settings = {k: v for k, v in c["kwargs"].items() if k not in ("output_dir",)}
    atomic_write_text(out / LOG, json.dumps({"log_history": history, "preset": opts.preset, "prompt": c["prompt"],
                                             "rewards": c["rewards"], "reward_weights": c["weights"], "settings": settings,
                                             "use_vllm": c["use_vllm"], "funnel": c["funnel"], "resumed_from": resume_from,
                                             "tokens": tokens, "tokens_per_second": result.tokens_per_second},
                                            indent=2, default=str) + "\n")
    from factory.rl.card import write_card

    write_card(out, opts=opts, context=c, result=result)
    return result


# -- the stage ------------------------------------------------------------------------------------


def resolve_model(model: str, out: str, ctx: Any) -> str:
    """The policy to load: `@tiny` builds the tiny random model (in the recipe's run folder, or
    beside --out); anything else is a model folder or a Hub id, as given."""
    if model != "@tiny":
        return model
    from factory.generate.teachers.tiny import build_tiny_model

    run_dir = getattr(ctx, "run_dir", None)
    path = build_tiny_model((Path(run_dir) if run_dir else Path(out).parent) / "policy-tiny")
    ctx.log(f"policy: tiny RANDOM model at {path} (its output is random text)")
    return str(path)


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The `rl` stage (`factory rl` and a recipe's `rl:` sections, through the stage runner)."""
    opts = dataclasses.replace(opts, model=resolve_model(opts.model, opts.out, ctx))
    res = run_rl(opts, mode=getattr(ctx, "mode", "create"), log=ctx.log)
    s = res.summary()
    ctx.log(f"rl: {s['steps']} steps, reward {s['reward_first']} -> {s['reward_last']}, accuracy {s['accuracy_first']} "
            f"-> {s['accuracy_last']}, {s['tokens_per_second']} tokens/s")
    return s
