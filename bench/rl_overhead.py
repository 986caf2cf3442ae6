"""Overhead of `factory rl` over TRL's GRPOTrainer called directly, side by side in one run.

Both sides train the same policy (a tiny random Qwen3 model built here, CPU) on the same
Countdown problems (`factory tasks`) with the same GRPOConfig (the `tiny` preset's values, 8
steps of 2 prompts x 4 completions) and the same reward functions (the factory's accuracy,
format and language rewards), seed 42:

- factory: `factory.rl.core.run_rl` — what `factory rl` runs: reads the problem folder, renders
  prompts, builds GRPOConfig from the preset, adds its per-step log callback and reward names,
  trains, saves the policy, rl_log.json, the curves and the card;
- direct: a user's script: `datasets.Dataset.from_parquet` on the same shards, the prompt column
  mapped by hand, `GRPOConfig(**same values)`, `GRPOTrainer(...).train()`, `save_model`.

Neither side prints per step (factory's step lines go to a no-op log; the direct side's
PrinterCallback is removed). Training throughput = tokens (prompt + completion, TRL's `num_input_tokens_seen`) / seconds from
on_train_begin to on_train_end (one stopwatch callback on both sides); end-to-end = the same
tokens / the whole call (load, build, train, save). Both per CPU-second of this process (one
torch thread; the rewards run in-process at this batch size: stable on a shared machine) and
per wall-second (what a user waits for; noisy when other jobs share the cores).
The sides alternate (factory, direct, factory, ...) `--repeat` times each; medians are compared.
Prints both rates and the ratio factory / direct (target >= 0.97).

Run: `python bench/rl_overhead.py` (a few minutes on 2 cores; `--repeat 2 --steps 4` for less).

Measured (2 shared cores, busy machine): training 1.021 per CPU-second and 0.976 per
wall-second; end to end 0.917 / 0.869 (the card, curves and log cost a fixed ~0.3 CPU-s per run,
about 10% of an 8-step toy run and nothing next to a real one). Quiet box (load 1.4,
`--repeat 2 --steps 4`): training 1.074 per CPU-second, 1.075 per wall-second; end to end 0.854
(4-step runs: the fixed card/log cost is a larger share).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def settings(steps: int) -> dict:
    return {"max_steps": steps, "max_completion_length": 32, "save_strategy": "no", "logging_steps": 1}


def timer():
    """The same stopwatch on both sides: wall and CPU seconds from on_train_begin to on_train_end."""
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.t0, self.c0, self.tok0 = time.perf_counter(), time.process_time(), state.num_input_tokens_seen

        def on_train_end(self, args, state, control, **kwargs):
            self.wall, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
            self.tokens = int(state.num_input_tokens_seen - self.tok0)

    return Timer()


def factory_side(problems: Path, model: Path, out: Path, steps: int) -> dict:
    from factory.rl.core import run_rl
    from factory.rl.options import RLOptions

    t0, c0 = time.perf_counter(), time.process_time()
    clock = timer()
    res = run_rl(RLOptions(input=str(problems), model=str(model), out=str(out), preset="tiny", set=settings(steps)),
                 callbacks=[clock], log=lambda m: None)
    return {"tokens": clock.tokens, "train_s": clock.wall, "train_cpu_s": clock.cpu, "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0, "steps": res.global_step}


def direct_side(problems: Path, model: Path, out: Path, steps: int) -> dict:
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    from factory.filters.rewards import accuracy_reward, format_reward, language_consistency_reward
    from factory.rl.config import build_kwargs
    from factory.rl.presets import PRESETS

    t0, c0 = time.perf_counter(), time.process_time()
    clock = timer()
    shards = sorted(str(p) for p in problems.glob("*.parquet"))
    ds = datasets.Dataset.from_parquet(shards)
    ds = ds.map(lambda r: {"prompt": [{"role": "user", "content": r["problem"]}]})
    ds = ds.select_columns(["prompt", "domain", "reference_answer", "language", "meta"])
    p = PRESETS["tiny"]
    kwargs = build_kwargs(p, settings(steps), output_dir=str(out), reward_weights=list(p.reward_weights), seed=42)
    trainer = GRPOTrainer(model=str(model), reward_funcs=[accuracy_reward, format_reward, language_consistency_reward],
                          args=GRPOConfig(**kwargs), train_dataset=ds, callbacks=[clock])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no per-step printing on either side
    trainer.train()
    trainer.save_model(str(out))
    return {"tokens": clock.tokens, "train_s": clock.wall, "train_cpu_s": clock.cpu, "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0, "steps": trainer.state.global_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=4, help="runs per side (alternating)")
    ap.add_argument("--steps", type=int, default=8, help="GRPO steps per run")
    args = ap.parse_args()

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(1)  # a tiny model gains nothing from more; on a shared 2-core box threads contend
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    from factory.generate.teachers.tiny import build_tiny_model
    from factory.rl.options import TasksOptions
    from factory.rl.tasks import write_tasks

    with tempfile.TemporaryDirectory(prefix="rl_overhead_") as tmp:
        tmp_path = Path(tmp)
        model = build_tiny_model(tmp_path / "tiny")
        problems = tmp_path / "countdown"
        write_tasks(TasksOptions(task="countdown", n=64, out=str(problems), seed=0), log=lambda m: None)
        # one untimed run of each side: imports, first-call caches, the reward pools
        factory_side(problems, model, tmp_path / "warm_f", 2)
        direct_side(problems, model, tmp_path / "warm_d", 2)
        runs: dict[str, list[dict]] = {"factory": [], "direct": []}
        for i in range(args.repeat):
            for name, fn in (("factory", factory_side), ("direct", direct_side)) if i % 2 == 0 else \
                    (("direct", direct_side), ("factory", factory_side)):
                r = fn(problems, model, tmp_path / f"{name}_{i}", args.steps)
                runs[name].append(r)
                print(f"  {name:<8} run {i}: {r['steps']} steps, {r['tokens']} tokens, train {r['train_s']:.2f}s wall "
                      f"{r['train_cpu_s']:.2f}s CPU, end to end {r['wall_s']:.2f}s wall {r['cpu_s']:.2f}s CPU", file=sys.stderr)

    def med(name: str, key: str) -> float:
        return statistics.median(r["tokens"] / r[key] for r in runs[name])

    print(f"GRPO on the tiny model (CPU, 1 torch thread, {os.cpu_count()} shared cores): {args.steps} steps x 8 "
          f"completions, median of {args.repeat} runs each")
    print(f"{'':<10} {'train tok/CPU-s':>16} {'train tok/s':>12} {'end-to-end tok/CPU-s':>21} {'end-to-end tok/s':>17}")
    for name in ("factory", "direct"):
        print(f"{name:<10} {med(name, 'train_cpu_s'):>16.0f} {med(name, 'train_s'):>12.0f} {med(name, 'cpu_s'):>21.0f} "
              f"{med(name, 'wall_s'):>17.0f}")
    ratio = lambda key: med("factory", key) / med("direct", key)  # noqa: E731
    print(f"ratio factory / direct, training: {ratio('train_cpu_s'):.3f} per CPU-second, {ratio('train_s'):.3f} per "
          f"wall-second (target >= 0.97); end to end: {ratio('cpu_s'):.3f} CPU, {ratio('wall_s'):.3f} wall")
    same = {r["tokens"] for r in runs["factory"]} == {r["tokens"] for r in runs["direct"]}
    print(f"same work on both sides (token counts per run equal): {same}")


if __name__ == "__main__":
    main()
