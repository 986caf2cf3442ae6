"""Overhead of `factory generate` against calling the same backend directly.

Side by side in one run, on the same prompts (MATH-500 problems, DeepSeek-R1 preset, n samples
each), the same model and the same batch size:
  direct  — what a user would otherwise write: tokenizer chat template + transformers
            `model.generate(do_sample=True, temperature, top_p)` over the batches;
  factory — `run_generate` end to end: reading the problem folder, prompts, per-sample seeded
            sampling, reasoning split, rows validated and written to durable shards, manifest.
Both include loading the model. Prints generated tokens/s of each and the ratio factory/direct
(target >= 0.95). Each path runs `--repeats` times alternately; the best run of each is kept
(the box is shared, the best is the least disturbed).

Run: `python bench/generate_overhead.py [--model DIR] [--problems 64] [--n 4] [--max-tokens 64]`
(without --model it builds the tiny random model; on a GPU machine pass a real small model).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def problem_rows(k: int) -> list[dict]:
    from factory.schemas.ids import problem_id

    rows = []
    with gzip.open(REPO / "factory" / "data" / "benchmarks" / "math500_test.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            rows.append({"id": problem_id("math", r["problem"], r["answer"]), "source": "math500", "source_id": None,
                         "domain": "math", "problem": r["problem"], "reference_answer": r["answer"],
                         "reference_solution": None, "tests": None, "difficulty": None, "level": None, "language": "en",
                         "license": "MIT", "meta": None})
            if len(rows) >= k:
                break
    return rows


def run_direct(model_dir: str, rows: list[dict], *, n: int, max_tokens: int, batch_size: int, temperature: float,
               top_p: float, device: str) -> tuple[float, int]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from factory.generate.prompts import PRESETS

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").to(device).eval()
    texts = []
    for r in rows:
        p = PRESETS["deepseek-r1"].render(r)
        text = tok.apply_chat_template(p.messages(), tokenize=False, add_generation_prompt=True) + (p.prefill or "")
        texts.extend([text] * n)
    eos = tok.eos_token_id
    tokens = 0
    torch.manual_seed(0)
    for s in range(0, len(texts), batch_size):
        enc = tok(texts[s : s + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_tokens, do_sample=True, temperature=temperature, top_p=top_p,
                                 pad_token_id=tok.pad_token_id, eos_token_id=eos)
        for row in out[:, enc["input_ids"].shape[1] :].tolist():
            tokens += row.index(eos) + 1 if eos in row else len(row)
    return time.perf_counter() - t0, tokens


def run_factory(model_dir: str, problems: Path, out: Path, *, n: int, max_tokens: int, batch_size: int,
                temperature: float, top_p: float, device: str) -> tuple[float, int]:
    from factory.generate.core import GenerateOptions, run_generate

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_generate(GenerateOptions(teacher=model_dir, backend="transformers", problems=str(problems), out=str(out),
                                     n=n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                     batch_size=batch_size, device=device),
                     log=lambda m: None, progress=False)
    return time.perf_counter() - t0, s["run"]["completion_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: build the tiny random model)")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = ap.parse_args()

    import torch

    from factory.io.dataset import write_dataset

    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    work = Path(tempfile.mkdtemp(prefix="gen-bench-"))
    try:
        model_dir = args.model
        if model_dir is None:
            from factory.generate.teachers.tiny import build_tiny_model

            model_dir = str(build_tiny_model(work / "tiny"))
        problems = work / "problems"
        write_dataset(problems, "problem", problem_rows(args.problems))
        kw = dict(n=args.n, max_tokens=args.max_tokens, batch_size=args.batch_size, temperature=0.6, top_p=0.95,
                  device=device)
        # warm-up both paths once (imports, kernels), not timed
        run_direct(model_dir, problem_rows(2), **{**kw, "n": 1, "max_tokens": 4})
        run_factory(model_dir, problems, work / "warm", **{**kw, "n": 1, "max_tokens": 4})
        best_d = best_f = 0.0
        pair_ratios = []
        for i in range(args.repeats):
            sd, td = run_direct(model_dir, problem_rows(args.problems), **kw)
            sf, tf = run_factory(model_dir, problems, work / "out", **kw)
            best_d, best_f = max(best_d, td / sd), max(best_f, tf / sf)
            pair_ratios.append((tf / sf) / (td / sd))
            print(f"run {i}: direct {td} tok in {sd:.2f}s ({td / sd:,.0f} tok/s) | factory {tf} tok in {sf:.2f}s "
                  f"({tf / sf:,.0f} tok/s)")
        print(f"model={model_dir if args.model else 'tiny random Qwen3'} device={device} problems={args.problems} "
              f"n={args.n} max_tokens={args.max_tokens} batch={args.batch_size}")
        print(f"direct transformers generate: {best_d:,.0f} tok/s")
        print(f"factory generate:             {best_f:,.0f} tok/s")
        print(f"throughput ratio factory/direct = {best_f / best_d:.3f} (best of each; target >= 0.95)")
        # runs back to back see similar load on a shared box: the median pair ratio is steadier
        print(f"median ratio of back-to-back pairs = {statistics.median(pair_ratios):.3f} "
              f"({', '.join(f'{r:.3f}' for r in pair_ratios)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
