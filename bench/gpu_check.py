"""The GPU check's measurements (run by bench/gpu_check.sh; each part also runs on CPU at tiny
sizes, which is how tests/test_gpu_check.py exercises it without a GPU).

Side by side on the same card, in one run:
  generate — `factory generate` (transformers backend) against plain transformers
             `model.generate` on the same prompts, samples and batch size (bench/generate_overhead),
             for the tiny random model and a real-size random-init model built from Qwen2.5-0.5B's
             configuration (0.49B parameters; no download: the weights are random, the shapes and
             the arithmetic per token are the real model's);
  train    — a few bf16 steps of `factory train` against TRL's SFTTrainer called directly with the
             same SFTConfig, data and model (bench/train_overhead's two paths).
Prints tokens/s of each and the ratio factory/direct, and writes them as JSON (--json).

Run: `python bench/gpu_check.py --device cuda` (on a GPU machine: bench/gpu_check.sh);
`python bench/gpu_check.py --device cpu --tiny` is the dry run (tiny sizes, a scaled-down
real-size config).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling bench scripts

# Qwen2.5-0.5B's config.json (the shapes that matter; 494M parameters with tied embeddings)
QWEN25_05B = {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
              "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
              "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
# the dry run: the same architecture, every dimension shrunk (a CPU step must take seconds)
QWEN25_05B_SCALED = {**QWEN25_05B, "vocab_size": 4096, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2}


def build_real_size_model(out: Path, *, config: dict[str, Any], tokenizer_from: Path, dtype: str = "bfloat16") -> tuple[Path, int]:
    """A random-init Qwen2 model with `config`'s shapes and the tiny model's tokenizer and chat
    template (ids past the tokenizer's vocabulary decode to nothing; generation and training
    cost the same as with the real tokenizer). Returns (folder, parameter count)."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    tok = AutoTokenizer.from_pretrained(tokenizer_from)
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    cfg = Qwen2Config(**config, eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = Qwen2ForCausalLM(cfg).to(getattr(torch, dtype))
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True, temperature=0.6, top_p=0.95)
    n = sum(p.numel() for p in model.parameters())
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    return out, n


def generate_side_by_side(model_dir: str, work: Path, *, device: str, problems: int, n: int, max_tokens: int,
                          batch_size: int, repeats: int) -> dict[str, Any]:
    """Best tokens/s of plain transformers generate and of factory generate, alternating."""
    import generate_overhead as go

    from factory.io.dataset import write_dataset

    folder = work / f"problems-{problems}"
    if not folder.exists():
        write_dataset(folder, "problem", go.problem_rows(problems))
    kw = {"n": n, "max_tokens": max_tokens, "batch_size": batch_size, "temperature": 0.6, "top_p": 0.95, "device": device}
    go.run_direct(model_dir, go.problem_rows(2), **{**kw, "n": 1, "max_tokens": 4})  # warm-up: kernels, caches
    go.run_factory(model_dir, folder, work / "warm", **{**kw, "n": 1, "max_tokens": 4})
    best_d = best_f = 0.0
    tokens = {"direct": 0, "factory": 0}
    for _ in range(repeats):
        sd, td = go.run_direct(model_dir, go.problem_rows(problems), **kw)
        sf, tf = go.run_factory(model_dir, folder, work / "out", **kw)
        if td / sd > best_d:
            best_d, tokens["direct"] = td / sd, td
        if tf / sf > best_f:
            best_f, tokens["factory"] = tf / sf, tf
    return {"direct_tok_s": best_d, "factory_tok_s": best_f, "ratio": best_f / best_d if best_d else None,
            "tokens": tokens, "problems": problems, "n": n, "max_tokens": max_tokens, "batch_size": batch_size}


def train_side_by_side(model_dir: Path, work: Path, *, rows: int, steps: int, max_length: int) -> dict[str, Any]:
    """A few steps of TRL's SFTTrainer called directly and of `factory train` (bf16 on a GPU
    that supports it: both take the same SFTConfig from the preset)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: I001 (train_overhead must come last, see below)
    from trl import SFTTrainer

    from factory.train.core import build_sft_config, settings_for, train
    from factory.train.data import training_data

    # after factory: train_overhead puts the checkout first on sys.path, and the checkout's
    # factory/ lacks the subpackages an install maps in (factory.schemas = schemas/)
    import train_overhead as to

    sft = work / "sft"
    if not sft.exists():
        to.make_sft(sft, rows)
    overrides = [f"max_steps={steps}", f"max_length={max_length}", "save_steps=100000", "logging_steps=1"]
    cfg = settings_for("tiny", overrides).preset
    sft_config, _ = build_sft_config(cfg, work / "direct")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")  # as factory train loads it
    trainer = SFTTrainer(model=model, args=sft_config, train_dataset=training_data(str(sft / "train")).train,
                         processing_class=tok)
    t0 = time.perf_counter()
    trainer.train()
    direct_s = time.perf_counter() - t0
    direct_tokens = int(trainer.state.num_input_tokens_seen)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    del trainer, model
    res = train(data=sft, student=str(model_dir), out=work / "ours", preset="tiny", overrides=overrides, log=lambda m: None)
    direct_tps = direct_tokens / direct_s
    return {"bf16": bool(sft_config.bf16), "steps": steps, "direct_tok_s": direct_tps, "factory_tok_s": res.tokens_per_second,
            "ratio": res.tokens_per_second / direct_tps if direct_tps else None, "direct_losses": losses,
            "tokens": {"direct": direct_tokens, "factory": res.train_tokens}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (the check) or cpu (the dry run)")
    ap.add_argument("--tiny", action="store_true", help="dry-run sizes: few prompts and tokens, a scaled-down real-size config")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_check: --device cuda but torch sees no CUDA GPU (use --device cpu --tiny for the dry run)")
    if args.device == "cpu":
        torch.set_num_threads(1)
    from factory.generate.teachers.tiny import build_tiny_model

    sizes = ({"problems": 4, "n": 2, "max_tokens": 8, "batch_size": 8, "rows": 4, "steps": 2, "max_length": 128} if args.tiny
             else {"problems": 32, "n": 4, "max_tokens": 256, "batch_size": 64, "rows": 64, "steps": 8, "max_length": 2048})
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    results: dict[str, Any] = {"device": args.device, "torch": torch.__version__, "sizes": sizes,
                               "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None}
    try:
        tiny = build_tiny_model(work / "tiny")
        real, params = build_real_size_model(work / "qwen2.5-0.5b-random",
                                             config=QWEN25_05B_SCALED if args.tiny else QWEN25_05B, tokenizer_from=tiny,
                                             dtype="float32" if args.device == "cpu" else "bfloat16")
        results["real_size_params"] = params
        gen_kw = {k: sizes[k] for k in ("problems", "n", "max_tokens", "batch_size")}
        for name, model in (("tiny", tiny), ("qwen2.5-0.5b-random", real)):
            t0 = time.time()
            results[f"generate/{name}"] = generate_side_by_side(str(model), work / name, device=args.device,
                                                                repeats=args.repeats, **gen_kw)
            print(f"generate {name}: done in {time.time() - t0:.0f}s", flush=True)
        t0 = time.time()
        results["train/qwen2.5-0.5b-random"] = train_side_by_side(real, work / "train", rows=sizes["rows"],
                                                                   steps=sizes["steps"], max_length=sizes["max_length"])
        print(f"train: done in {time.time() - t0:.0f}s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


def report(results: dict[str, Any]) -> str:
    head = (f"device: {results['device']} {results.get('gpu') or ''}  torch {results['torch']}  "
            f"real-size model: {results.get('real_size_params', 0) / 1e6:.0f}M parameters")
    lines = [head, f"{'':56s}{'direct tok/s':>14s}{'factory tok/s':>15s}{'factory/direct':>16s}"]
    for key in (k for k in results if k.startswith(("generate/", "train/"))):
        r = results[key]
        what = "vs transformers generate" if key.startswith("generate/") else "vs TRL SFTTrainer" + (" (bf16)" if r.get("bf16") else "")
        ratio = f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-"
        lines.append(f"{key + ' ' + what:56s}{r['direct_tok_s']:>14,.1f}{r['factory_tok_s']:>15,.1f}{ratio:>16s}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
