"""`factory train`: the bundled SFT distillation trainer, on TRL's `SFTTrainer` (no hand-written
loop). Conversational `messages` data from a curated SFT folder, loss on assistant tokens only
(the template preflight guarantees the `{% generation %}` span holds the think block, the answer
and the end-of-turn token), packing (TRL's best-fit-decreasing, padding-free), max length,
gradient accumulation up to a global batch, cosine schedule with warmup, bf16 where supported,
gradient checkpointing, checkpoints and automatic resume, optional LoRA through peft.

Outputs in --out: the student (weights, tokenizer, patched chat template), `training_curve.png`,
`training_log.json` and a model card `README.md` recording the dataset (and its card's funnel),
preset and hyper-parameters.

Multi-GPU: `accelerate launch --config_file factory/data/accelerate/zero3.yaml -m factory.cli.app
train ...` (DeepSpeed ZeRO-3; see README). The single-process path runs on CPU.

Exercise: `factory train --data runs/quickstart/sft --student runs/quickstart/tiny --out runs/quickstart/student --preset tiny --set max_steps=5`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from factory.io import dataset as ds
from factory.schemas.errors import DatasetError, FactoryError, MissingDependencyError
from factory.train.preflight import preflight
from factory.train.presets import TrainPreset, resolve_preset


@dataclass
class TrainResult:
    out: Path
    global_step: int
    losses: list[float]
    train_tokens: int
    seconds: float
    tokens_per_second: float
    packing_efficiency: float | None
    resumed_from: str | None
    preflight_notes: list[str]


def sft_splits(data: Path) -> tuple[Path, Path | None]:
    """A curated SFT folder holds train/ (and validation/); a plain SFT dataset folder works too."""
    data = Path(data)
    if (data / "train" / "manifest.json").exists():
        val = data / "validation"
        return data / "train", (val if (val / "manifest.json").exists() and ds.row_count(val) > 0 else None)
    if (data / "manifest.json").exists():
        return data, None
    raise DatasetError(f"{data}: expected an SFT dataset folder (or a curate output with train/), found neither",
                       hint="run `factory curate` first, or point --data at its output")


def load_messages(path: Path):
    """An SFT folder as a `datasets.Dataset` with one `messages` column (TRL's conversational format)."""
    import datasets

    m = ds.check_folder(path)
    if m.contract != "sft":
        raise DatasetError(f"{path}: holds {m.contract} rows; training needs sft rows (from `factory curate`)")
    table = ds.read_table(path, columns=["messages"])
    if table.num_rows == 0:
        raise DatasetError(f"{path}: the SFT dataset is empty")
    return datasets.Dataset(table)


def _latest_checkpoint(out: Path) -> str | None:
    cps = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return str(cps[-1]) if cps else None


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def build_sft_config(preset: TrainPreset, out: Path, *, world_size: int = 1, extra: dict[str, Any] | None = None):
    from trl import SFTConfig

    per_device = preset.per_device_batch_size
    # global batch = per_device * grad_accum * world_size  →  grad_accum = ceil(global / (per_device * world))
    grad_accum = max(1, math.ceil(preset.global_batch_size / (per_device * world_size)))
    kwargs = dict(
        output_dir=str(out),
        learning_rate=preset.learning_rate,
        num_train_epochs=preset.num_train_epochs,
        max_steps=preset.max_steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=grad_accum,
        lr_scheduler_type=preset.lr_scheduler_type,
        warmup_steps=preset.warmup_ratio,  # a float < 1 is a ratio of total steps in transformers 5
        weight_decay=preset.weight_decay,
        max_length=preset.max_length,
        packing=preset.packing,
        assistant_only_loss=True,
        bf16=_bf16_supported(),
        activation_checkpointing=preset.gradient_checkpointing,  # transformers 5 name (gradient_checkpointing is a deprecated alias)
        save_strategy="steps",
        save_steps=preset.save_steps,
        save_total_limit=2,
        logging_steps=preset.logging_steps,
        report_to="none",
        seed=preset.seed,
        data_seed=preset.seed,
        dataloader_num_workers=0,
        use_cpu=not _has_cuda(),
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    kwargs.update(extra or {})
    return SFTConfig(**kwargs), grad_accum


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _log_path(out: Path) -> Path:
    return out / "training_log.json"


def build_trainer(
    *,
    data: Path,
    student: str,
    out: Path,
    preset: str = "s1",
    overrides: list[str] | None = None,
    lora: bool = False,
    chat_template_file: Path | None = None,
    callbacks: list[Any] | None = None,
    log: Callable[[str], None] = print,
):
    """Preflight the student's template and build TRL's SFTTrainer; returns (trainer, context)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from trl import SFTTrainer

    cfg = resolve_preset(preset, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_path, val_path = sft_splits(Path(data))
    train_ds = load_messages(train_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(student)
    except OSError as e:
        raise FactoryError(f"cannot load the student tokenizer from {student!r}: {e}",
                           hint="pass a local model folder, or a Hub id while online") from None
    try:
        gen_cfg = GenerationConfig.from_pretrained(student)
    except OSError:
        gen_cfg = None
    template = chat_template_file.read_text() if chat_template_file else None
    sample = train_ds[0]["messages"]
    if not any(m["role"] == "assistant" and "<think>" in m["content"] for m in sample):
        sample = None  # non-reasoning first row: preflight uses its own think sample
    report = preflight(tokenizer, generation_config=gen_cfg, sample_messages=sample, chat_template=template)
    for note in report.notes:
        log(f"preflight: {note}")
    tokenizer.chat_template = report.chat_template
    log(f"preflight ok: <think> kept, {report.trained_tokens} trained tokens in the sample, "
        f"end-of-turn {report.eot_token!r} trained and stops generation")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    sft_config, grad_accum = build_sft_config(cfg, out, world_size=world)
    model = AutoModelForCausalLM.from_pretrained(student, dtype="auto")
    peft_config = None
    if lora:
        try:
            from peft import LoraConfig
        except ImportError:
            raise MissingDependencyError("peft", purpose="--lora") from None
        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    eval_ds = load_messages(val_path) if val_path else None
    trainer = SFTTrainer(model=model, args=sft_config, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    context = {"cfg": cfg, "report": report, "gen_cfg": gen_cfg, "tokenizer": tokenizer, "grad_accum": grad_accum,
               "world": world}
    return trainer, context


def train(
    *,
    data: Path,
    student: str,
    out: Path,
    preset: str = "s1",
    overrides: list[str] | None = None,
    lora: bool = False,
    chat_template_file: Path | None = None,
    resume: bool = True,
    callbacks: list[Any] | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Preflight the template, then train with TRL's SFTTrainer; returns what happened."""
    import time

    out = Path(out)
    trainer, c = build_trainer(data=data, student=student, out=out, preset=preset, overrides=overrides, lora=lora,
                               chat_template_file=chat_template_file, callbacks=callbacks, log=log)
    cfg, report, gen_cfg, tokenizer = c["cfg"], c["report"], c["gen_cfg"], c["tokenizer"]
    efficiency = packing_efficiency(trainer)
    resume_from = _latest_checkpoint(out) if resume else None
    if resume_from:
        log(f"resuming from {resume_from}")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.time() - t0
    history = trainer.state.log_history
    losses = [h["loss"] for h in history if "loss" in h]
    tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0) or _count_tokens(trainer)
    model_to_save = trainer.model.merge_and_unload() if lora else trainer.model
    model_to_save.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if gen_cfg is not None:
        gen_cfg.save_pretrained(out)
    result = TrainResult(out=out, global_step=trainer.state.global_step, losses=losses, train_tokens=tokens,
                         seconds=seconds, tokens_per_second=tokens / seconds if seconds else 0.0,
                         packing_efficiency=efficiency, resumed_from=resume_from, preflight_notes=report.notes)
    _log_path(out).write_text(json.dumps({"log_history": history, "preset": preset, "settings": cfg.to_dict(),
                                          "gradient_accumulation_steps": c["grad_accum"], "world_size": c["world"],
                                          "lora": lora, "tokens_per_second": result.tokens_per_second,
                                          "packing_efficiency": efficiency}, indent=2, default=str))
    from factory.train.card import write_model_card

    write_model_card(out, data=Path(data), student=student, preset=preset, settings=cfg, history=history,
                     result=result, lora=lora, grad_accum=c["grad_accum"])
    return result


def packing_efficiency(trainer: Any, *, max_batches: int = 200) -> float | None:
    """Share of non-padding tokens in the batches the model actually sees (1.0 = no padding),
    measured by running the trainer's own collator over (up to `max_batches` of) the train
    dataloader: padding-free packing concatenates sequences, so only pad_to_multiple_of pads;
    padded batching pads every row to the batch's longest."""
    pad_id = trainer.processing_class.pad_token_id
    real = total = 0
    for i, batch in enumerate(trainer.get_train_dataloader()):
        if i >= max_batches:
            break
        ids = batch["input_ids"]
        total += ids.numel()
        if "attention_mask" in batch:
            real += int(batch["attention_mask"].sum())
        elif "position_ids" in batch:
            # padding-free: padded tail positions are 0 after the last sequence; count real tokens
            # as positions belonging to a sequence (labels of padding are -100 and ids == pad)
            real += int((ids != pad_id).sum())
        else:
            real += int((ids != pad_id).sum())
    return real / total if total else None


def _count_tokens(trainer: Any) -> int:
    d = trainer.train_dataset
    if d is None or "input_ids" not in d.column_names:
        return 0
    epochs = trainer.args.num_train_epochs if trainer.args.max_steps <= 0 else 1
    return int(sum(len(x) for x in d["input_ids"]) * epochs)


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The train stage (`factory train` and a recipe's `train:` section). The runner decides:
    a fresh --out, a killed run of the same data, student and settings (resumed from its last
    checkpoint), or --overwrite (old checkpoints removed first)."""
    import shutil

    out = Path(opts.out)
    if ctx.mode == "overwrite":
        for cp in out.glob("checkpoint-*"):
            shutil.rmtree(cp, ignore_errors=True)
    student = opts.student
    if student == "tiny":
        from factory.generate.teachers.tiny import build_tiny_model

        student = str(build_tiny_model(out.parent / f"{out.name}_base"))
    overrides = [f"{k}={v}" for k, v in opts.set.items()]
    res = train(data=Path(opts.data), student=student, out=out, preset=opts.preset, overrides=overrides, lora=opts.lora,
                chat_template_file=Path(opts.chat_template) if opts.chat_template else None,
                resume=opts.resume and ctx.mode == "resume", log=ctx.log)
    first, last = (res.losses[0], res.losses[-1]) if res.losses else (None, None)
    if not ctx.progress:
        ctx.log(f"trained {res.global_step} steps, loss {first} → {last}, packing efficiency {res.packing_efficiency}")
    return {"out": str(out), "steps": res.global_step, "loss_first": first, "loss_last": last,
            "tokens_per_second": round(res.tokens_per_second, 1), "packing_efficiency": res.packing_efficiency,
            "resumed_from": Path(res.resumed_from).name if res.resumed_from else None}
