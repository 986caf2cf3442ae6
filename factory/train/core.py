"""`factory train`: the bundled SFT distillation trainer, on TRL's `SFTTrainer` (no hand-written
loop). Any dataset with a conversational `messages` column (factory/train/data.py: a curate
output, a Parquet/JSONL file, a `datasets` folder, a Hub id), loss on assistant tokens only (the
template preflight guarantees the `{% generation %}` span holds the think block, the answer and
the end-of-turn token), packing (TRL's best-fit-decreasing, padding-free), max length, gradient
accumulation up to a global batch, cosine schedule with warmup, bf16 where supported, gradient
checkpointing, eval_loss on the validation split, checkpoints and automatic resume from the last
COMPLETE checkpoint (factory/train/checkpoints.py), optional LoRA through peft.

Settings: a preset, then `--set` with any SFTConfig field, all checked before any work
(factory/train/settings.py); `report_to` (TensorBoard, W&B, ...) works as in TRL. A progress
bar with ETA on a terminal, readable lines otherwise (factory/train/progress.py).

Outputs in --out: the student (weights, tokenizer, patched chat template), `training_curve.png`,
`training_log.json`, a model card `README.md` (dataset, preset, every hyper-parameter, losses),
and with `--push-to-hub` the same files in a Hub model repo (factory/train/hub.py).

Multi-GPU: `accelerate launch --config_file factory/data/accelerate/zero3.yaml -m factory.cli.app
train ...` (DeepSpeed ZeRO-3; see README). The single-process path runs on CPU.

Exercise: `factory train --data msgs.parquet --student tiny --out runs/student --set max_steps=5`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from factory.schemas.errors import FactoryError, MissingDependencyError
from factory.train import checkpoints
from factory.train.preflight import preflight
from factory.train.presets import TrainPreset
from factory.train.settings import Settings, resolve


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
    eval_loss: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


class SettingsError(FactoryError):
    """Training settings that TRL or the factory refuse (named by key)."""


def settings_for(preset: str, overrides: dict[str, Any] | list[str] | None) -> Settings:
    """The preset with `--set` applied, every problem at once (`--set KEY: expected ...`)."""
    if isinstance(overrides, list):  # ["key=value", ...] (the Python API's older form)
        pairs = {}
        for ov in overrides:
            k, sep, v = ov.partition("=")
            if not sep:
                raise SettingsError(f"--set {ov}: expected KEY=VALUE")
            pairs[k.strip()] = v
        overrides = pairs
    settings, problems = resolve(preset, overrides)
    if problems:
        raise SettingsError("invalid training settings:\n" + "\n".join(
            f"  - {'--preset' if k == 'preset' else '--set ' + k}: {m}" for k, m in problems),
            hint="--set takes a preset key or any field of TRL's SFTConfig / transformers' TrainingArguments")
    assert settings is not None
    return settings


def _bf16_supported() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def build_sft_config(preset: TrainPreset, out: Path, *, world_size: int = 1, extra: dict[str, Any] | None = None,
                     evaluate: bool = False, terminal: bool = False):
    """SFTConfig from the preset, the derived batch arithmetic and the pass-through `extra`
    fields (which win). TRL's own checks become one error naming the settings."""
    from trl import SFTConfig

    extra = dict(extra or {})
    per_device = preset.per_device_batch_size
    # global batch = per_device * grad_accum * world_size  →  grad_accum = ceil(global / (per_device * world))
    grad_accum = max(1, math.ceil(preset.global_batch_size / (per_device * world_size)))
    kwargs: dict[str, Any] = dict(
        output_dir=str(out),
        learning_rate=preset.learning_rate,
        num_train_epochs=preset.num_train_epochs,
        max_steps=preset.max_steps,
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=per_device,
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
        disable_tqdm=not terminal,  # a bar with ETA on a terminal; plain lines otherwise (factory.train.progress)
        include_num_input_tokens_seen="non_padding",
    )
    if evaluate:
        # eval_loss on the validation split at every checkpoint (and once at the end, see train())
        kwargs.update(eval_strategy="steps", eval_steps=preset.save_steps)
    kwargs.update(extra)
    if "gradient_accumulation_steps" in extra:
        grad_accum = int(extra["gradient_accumulation_steps"])
    try:
        return SFTConfig(**kwargs), grad_accum
    except (ValueError, TypeError, AssertionError) as e:
        raise SettingsError(f"TRL's SFTConfig rejected the training settings: {e}",
                            hint="fix the values with --set (the preset's and yours are in the message)") from None


def _log_path(out: Path) -> Path:
    return out / "training_log.json"


def build_trainer(
    *,
    data: str | Path,
    student: str,
    out: Path,
    preset: str = "s1",
    overrides: dict[str, Any] | list[str] | None = None,
    lora: bool = False,
    chat_template: str | Path | None = None,
    chat_template_file: Path | None = None,
    validation_data: str | None = None,
    validation_split: float | None = None,
    callbacks: list[Any] | None = None,
    terminal: bool = False,
    training: Any = None,
    log: Callable[[str], None] = print,
):
    """Settings first (refused before anything loads), then the data (`training`: already
    loaded by the caller), the template preflight and TRL's SFTTrainer; returns (trainer, context)."""
    from factory.train.data import training_data

    settings = settings_for(preset, overrides)
    cfg = settings.preset
    out = Path(out)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    td = training or training_data(str(data), validation_data=validation_data, validation_split=validation_split,
                                   seed=cfg.seed)
    # the config is built (and checked by TRL) before the model loads
    sft_config, grad_accum = build_sft_config(cfg, out, world_size=world, extra=settings.trl,
                                              evaluate=td.validation is not None, terminal=terminal)
    log(f"data: {len(td.train)} training rows from {td.source}"
        + (f"; {len(td.validation)} validation rows ({td.validation_source})" if td.validation is not None else
           "; no validation rows (pass --validation-split or --validation-data for eval_loss)"))
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from trl import SFTTrainer

    out.mkdir(parents=True, exist_ok=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(student)
    except (OSError, ValueError) as e:
        raise FactoryError(f"cannot load the student tokenizer from {student!r}: {e}",
                           hint="pass a local model folder, or a Hub id while online") from None
    try:
        gen_cfg = GenerationConfig.from_pretrained(student)
    except OSError:
        gen_cfg = None
    template = None
    if chat_template_file is not None:
        chat_template = chat_template_file
    if chat_template is not None:
        from factory.train.templates import read

        template = read(chat_template)
    sample = td.train[0]["messages"]
    if not any(m["role"] == "assistant" and "<think>" in (m["content"] or "") for m in sample):
        sample = None  # non-reasoning first row: preflight uses its own think sample
    report = preflight(tokenizer, generation_config=gen_cfg, sample_messages=sample, chat_template=template)
    for note in report.notes:
        log(f"preflight: {note}")
    tokenizer.chat_template = report.chat_template
    log(f"preflight ok: <think> kept, {report.trained_tokens} trained tokens in the sample, "
        f"end-of-turn {report.eot_token!r} trained and stops generation")
    model = AutoModelForCausalLM.from_pretrained(student, dtype="auto")
    peft_config = None
    if lora:
        try:
            from peft import LoraConfig
        except ImportError:
            raise MissingDependencyError("peft", purpose="--lora") from None
        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=sft_config, train_dataset=td.train, eval_dataset=td.validation,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    from factory.train.progress import callbacks as progress_callbacks

    remove, add = progress_callbacks(terminal=not sft_config.disable_tqdm, log=log)
    for cb in remove:
        trainer.remove_callback(cb)
    for cb in add:
        trainer.add_callback(cb)
    context = {"cfg": cfg, "settings": settings, "report": report, "gen_cfg": gen_cfg, "tokenizer": tokenizer,
               "grad_accum": grad_accum, "world": world, "data": td}
    return trainer, context


def train(
    *,
    data: str | Path,
    student: str,
    out: Path,
    preset: str = "s1",
    overrides: dict[str, Any] | list[str] | None = None,
    lora: bool = False,
    chat_template: str | Path | None = None,
    chat_template_file: Path | None = None,
    validation_data: str | None = None,
    validation_split: float | None = None,
    resume: bool = True,
    callbacks: list[Any] | None = None,
    terminal: bool = False,
    base_model_label: str | None = None,
    repo_id: str | None = None,
    training: Any = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Check the settings, preflight the template, then train with TRL's SFTTrainer."""
    out = Path(out)
    with _quiet_bars(not terminal):
        return _train(data=data, student=student, out=out, preset=preset, overrides=overrides, lora=lora,
                      chat_template=chat_template, chat_template_file=chat_template_file, validation_data=validation_data,
                      validation_split=validation_split, resume=resume, callbacks=callbacks, terminal=terminal,
                      base_model_label=base_model_label, repo_id=repo_id, training=training, log=log)


@contextlib.contextmanager
def _quiet_bars(quiet: bool) -> Iterator[None]:
    """No tqdm bars from datasets' map and model saving in logs (they are noise without a terminal)."""
    if not quiet:
        yield
        return
    import datasets
    from transformers.utils import logging as hf_logging

    ds_on, hf_on = datasets.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if ds_on:
            datasets.enable_progress_bars()
        if hf_on:
            hf_logging.enable_progress_bar()


def _train(*, data, student, out, preset, overrides, lora, chat_template, chat_template_file, validation_data,
           validation_split, resume, callbacks, terminal, base_model_label, repo_id, training, log) -> TrainResult:
    import time

    trainer, c = build_trainer(data=data, student=student, out=out, preset=preset, overrides=overrides, lora=lora,
                               chat_template=chat_template, chat_template_file=chat_template_file,
                               validation_data=validation_data, validation_split=validation_split, callbacks=callbacks,
                               terminal=terminal, training=training, log=log)
    cfg, report, gen_cfg, tokenizer, td = c["cfg"], c["report"], c["gen_cfg"], c["tokenizer"], c["data"]
    efficiency = packing_efficiency(trainer)
    resume_from = checkpoints.latest_complete(out, log=log) if resume else None
    if resume_from:
        log(f"resuming from {Path(resume_from).name}")
    elif resume:
        log("no complete checkpoint to resume from: starting at step 0")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.time() - t0
    history = trainer.state.log_history
    eval_loss = None
    if td.validation is not None:
        evals = [h for h in history if "eval_loss" in h]
        if not evals or evals[-1].get("step") != trainer.state.global_step:
            trainer.evaluate()  # eval_loss of the final weights (logged like the others)
            history = trainer.state.log_history
            evals = [h for h in history if "eval_loss" in h]
        eval_loss = evals[-1]["eval_loss"] if evals else None
    losses = [h["loss"] for h in history if "loss" in h]
    tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0) or _count_tokens(trainer)
    model_to_save = trainer.model.merge_and_unload() if lora else trainer.model
    model_to_save.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if gen_cfg is not None:
        gen_cfg.save_pretrained(out)
    data_info = {"source": td.source, "train_rows": len(td.train),
                 "validation_rows": len(td.validation) if td.validation is not None else 0,
                 "validation_source": td.validation_source}
    result = TrainResult(out=out, global_step=trainer.state.global_step, losses=losses, train_tokens=tokens,
                         seconds=seconds, tokens_per_second=tokens / seconds if seconds else 0.0,
                         packing_efficiency=efficiency, resumed_from=resume_from, preflight_notes=report.notes,
                         eval_loss=eval_loss, data=data_info)
    _log_path(out).write_text(json.dumps({"log_history": history, "preset": preset, "settings": cfg.to_dict(),
                                          "trl_settings": c["settings"].trl, "data": data_info,
                                          "gradient_accumulation_steps": c["grad_accum"], "world_size": c["world"],
                                          "lora": lora, "tokens_per_second": result.tokens_per_second,
                                          "packing_efficiency": efficiency, "eval_loss": eval_loss}, indent=2, default=str))
    from factory.train.card import write_model_card

    write_model_card(out, data=td.folder, data_info=data_info, student=base_model_label or student, preset=preset,
                     settings=cfg, trl_settings=c["settings"].trl, history=history, result=result, lora=lora,
                     grad_accum=c["grad_accum"], repo_id=repo_id)
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
        else:
            # padding-free: padded tail positions hold the pad id (labels -100); count the rest
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
    complete checkpoint), or --overwrite (old checkpoints removed first). Settings, data and
    the upload are checked before the model loads."""
    import shutil

    from factory.train.data import training_data

    out = ctx.path(opts.out)
    preset = opts.preset_name()
    settings = settings_for(preset, opts.set)  # refused before anything else happens
    if opts.push_to_hub and not opts.push_dry_run:
        from factory.train.hub import preflight as hub_preflight

        hub_preflight(opts.push_to_hub)
    # the data is read and checked before anything is written into --out
    with _quiet_bars(not ctx.progress):
        td = training_data(opts.data, validation_data=opts.validation_data, validation_split=opts.validation_split,
                           seed=settings.preset.seed)
    if ctx.mode == "overwrite":
        for cp in out.glob("checkpoint-*"):
            shutil.rmtree(cp, ignore_errors=True)
    student, label = opts.student, None
    if student == "tiny" and not ctx.path(student).exists():
        from factory.generate.teachers.tiny import build_tiny_model

        with _quiet_bars(not ctx.progress):
            student = str(build_tiny_model(out / ".base-tiny"))  # hidden: not part of the student, never uploaded
        label = "tiny (a tiny RANDOM model built by `factory teacher init-tiny`)"
        ctx.log(f"student: a tiny RANDOM model (built in {out.name}/.base-tiny), preset {preset}")
    res = train(data=opts.data, student=student, out=out, preset=preset, overrides=opts.set, lora=opts.lora,
                chat_template=opts.chat_template, validation_data=opts.validation_data,
                validation_split=opts.validation_split, resume=opts.resume and ctx.mode == "resume",
                terminal=bool(ctx.progress), base_model_label=label, repo_id=opts.push_to_hub, training=td, log=ctx.log)
    first, last = (res.losses[0], res.losses[-1]) if res.losses else (None, None)
    summary = {"out": str(out), "steps": res.global_step, "loss_first": first, "loss_last": last, "eval_loss": res.eval_loss,
               "tokens_per_second": round(res.tokens_per_second, 1), "packing_efficiency": res.packing_efficiency,
               "resumed_from": Path(res.resumed_from).name if res.resumed_from else None, "data": res.data,
               "preset": preset}
    if opts.push_to_hub:
        from factory.train.hub import push_student

        summary["push"] = push_student(out, opts.push_to_hub, private=opts.hub_private, dry_run=opts.push_dry_run, log=ctx.log)
    return summary
