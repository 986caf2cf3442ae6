"""Benchmark: `factory train` against calling TRL's SFTTrainer directly, same data, same model,
same settings, side by side in one run. Prints tokens/s of each and the ratio (target >= 0.97),
and the packing efficiency (share of non-padding tokens in the batches, target >= 0.95).

    python bench/train_overhead.py [--rows 200] [--steps 30] [--hidden 128] [--max-length 1024]

Data: SFT rows built from the real shipped traces (Sky-T1 long CoT on MATH-500). Model: the
tiny random Qwen3 from `factory teacher init-tiny`, widened with --hidden for a less
overhead-dominated measurement. CPU, one torch thread by default (--threads).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_sft(path: Path, rows: int) -> None:
    from factory.schemas import sft_id

    from factory.io.dataset import write_dataset

    src = REPO / "factory" / "data" / "traces" / "skyt1_long_cot_math500.jsonl.gz"
    out = []
    with gzip.open(src, "rt") as f:
        for i, line in enumerate(f):
            if len(out) >= rows:
                break
            d = json.loads(line)
            text = d["code"][0]
            if "<|end_of_thought|>" not in text:
                continue
            thought = text.split("<|end_of_thought|>")[0].replace("<|begin_of_thought|>", "").strip()
            answer = text.split("<|end_of_thought|>")[1].replace("<|begin_of_solution|>", "").replace("<|end_of_solution|>", "").strip()
            msgs = [{"role": "user", "content": d["question"]},
                    {"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\n{answer}"}]
            out.append(dict(id=sft_id(msgs, "shortcut"), messages=msgs, trace_ids=[str(i)], problem_id=str(i),
                            kind="shortcut", domain="math", source="math500"))
    write_dataset(path / "train", "sft", out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=150)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved runs of each; the best of each is compared")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from factory.generate.teachers.tiny import build_tiny_model
    from factory.train.core import build_sft_config, packing_efficiency, settings_for, train
    from factory.train.data import training_data

    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    model_dir = build_tiny_model(tmp / "model", hidden_size=args.hidden, heads=4, kv_heads=2)
    make_sft(tmp / "sft", args.rows)
    overrides = [f"max_steps={args.steps}", f"max_length={args.max_length}", "save_steps=100000", "logging_steps=5"]

    def run_direct(i: int):
        # the same SFTConfig a user would write by hand, straight into TRL
        cfg = settings_for("tiny", overrides).preset
        sft_config, _ = build_sft_config(cfg, tmp / f"direct{i}")
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        trainer = SFTTrainer(model=model, args=sft_config, train_dataset=training_data(str(tmp / "sft" / "train")).train,
                             processing_class=tok)
        t0 = time.perf_counter()
        trainer.train()
        return time.perf_counter() - t0, int(trainer.state.num_input_tokens_seen), packing_efficiency(trainer)

    def run_ours(i: int):
        t0 = time.perf_counter()
        res = train(data=tmp / "sft", student=str(model_dir), out=tmp / f"ours{i}", preset="tiny", overrides=overrides,
                    log=lambda m: None)
        return res, time.perf_counter() - t0

    directs, ours = [], []
    for i in range(args.repeats):  # interleaved so machine noise hits both alike
        directs.append(run_direct(i))
        ours.append(run_ours(i))
    direct_s, direct_tokens, direct_eff = min(directs, key=lambda r: r[0])
    res, ours_wall = min(ours, key=lambda r: r[0].seconds)

    direct_tps = direct_tokens / direct_s
    print()
    print(f"{'':28s}{'tokens':>10s}{'train s':>10s}{'tokens/s':>12s}{'packing eff.':>14s}")
    print(f"{'TRL SFTTrainer (direct)':28s}{direct_tokens:>10d}{direct_s:>10.2f}{direct_tps:>12.1f}{direct_eff:>14.3f}")
    print(f"{'factory train':28s}{res.train_tokens:>10d}{res.seconds:>10.2f}{res.tokens_per_second:>12.1f}{res.packing_efficiency:>14.3f}")
    print(f"throughput ratio (factory / direct): {res.tokens_per_second / direct_tps:.3f}  (target >= 0.97)")
    print(f"packing efficiency: {res.packing_efficiency:.3f}  (target >= 0.95)")
    print(f"factory train wall time incl. preflight, saving and model card: {ours_wall:.2f} s")


if __name__ == "__main__":
    main()
