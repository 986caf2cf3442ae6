"""factory train on the tiny model (CPU): parameters change, loss falls, only assistant tokens
carry loss, an interrupted run resumes from its checkpoint, LoRA works; the preflight refuses
templates that drop <think> or end turns with a token generation does not stop on."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from factory.schemas import sft_id
from typer.testing import CliRunner

from factory.io.dataset import write_dataset

torch.set_num_threads(1)


def _sft_folder(path: Path, package_data: Path, n: int = 24) -> Path:
    """SFT rows built from real short-CoT traces (truncated so the tiny run stays fast)."""
    rows = []
    with gzip.open(package_data / "traces" / "qwen25_14b_instruct_short_cot_math500.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            d = json.loads(line)
            msgs = [
                {"role": "user", "content": d["question"][:200]},
                {"role": "assistant", "content": f"<think>\n{d['code'][0][:300]}\n</think>\n\nThe answer is $\\boxed{{{d['gt']}}}$."},
            ]
            rows.append(dict(id=sft_id(msgs, "shortcut"), messages=msgs, trace_ids=[f"t{i}"], problem_id=f"p{i}",
                             kind="shortcut", domain="math", source="math500"))
    write_dataset(path / "train", "sft", rows[:-4])
    write_dataset(path / "validation", "sft", rows[-4:])
    return path


def _params(model_dir):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(model_dir)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_training_changes_params_lowers_loss_and_masks_prompt(tmp_path, tiny_model, package_data):
    from factory.train.core import build_trainer, train

    data = _sft_folder(tmp_path / "sft", package_data)
    trainer, ctx = build_trainer(data=data, student=str(tiny_model), out=tmp_path / "probe", preset="tiny",
                                 overrides=["max_length=256"], log=lambda m: None)
    tok = ctx["tokenizer"]
    batch = next(iter(trainer.get_train_dataloader()))
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    trained_text = tok.decode(ids[labels != -100])
    # only assistant content (think block + answer) and the end-of-turn token carry loss
    assert "<think>" in trained_text and "<|im_end|>" in trained_text
    assert "<|im_start|>user" not in trained_text and "<|im_start|>assistant" not in trained_text
    assert (labels == -100).sum() > 0
    # every trained span in the packed rows starts a think block; no prompt token is trained
    for row in trainer.train_dataset.select(range(min(3, len(trainer.train_dataset)))):
        trained = tok.decode([t for t, lab in zip(row["input_ids"], row["labels"]) if lab != -100])
        assert trained.startswith("<think>") and "user\n" not in trained

    before = _params(tiny_model)
    res = train(data=data, student=str(tiny_model), out=tmp_path / "student", preset="tiny",
                overrides=["max_steps=12", "max_length=256", "num_train_epochs=3", "learning_rate=3e-3"], log=lambda m: None)
    after = _params(tmp_path / "student")
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) >= len(before) // 2, f"only {len(changed)} of {len(before)} tensors changed"
    assert res.global_step == 12
    assert min(res.losses[-3:]) < res.losses[0], res.losses
    assert res.packing_efficiency is not None and res.packing_efficiency >= 0.95
    card = (tmp_path / "student" / "README.md").read_text()
    assert "Preset: `tiny`" in card and "learning_rate | 0.003" in card and "training_curve.png" in card
    assert (tmp_path / "student" / "training_curve.png").stat().st_size > 1000


def test_interrupted_run_resumes_from_checkpoint(tmp_path, tiny_model, package_data):
    from transformers import TrainerCallback

    from factory.train.core import train

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 5:
                raise KeyboardInterrupt("simulated kill after step 5")

    data = _sft_folder(tmp_path / "sft", package_data)
    ov = ["max_steps=8", "save_steps=4", "max_length=256", "num_train_epochs=4"]
    with pytest.raises(KeyboardInterrupt):
        train(data=data, student=str(tiny_model), out=tmp_path / "s", preset="tiny", overrides=ov,
              callbacks=[Crash()], log=lambda m: None)
    assert (tmp_path / "s" / "checkpoint-4").is_dir()
    res = train(data=data, student=str(tiny_model), out=tmp_path / "s", preset="tiny", overrides=ov, log=lambda m: None)
    assert res.resumed_from and res.resumed_from.endswith("checkpoint-4")
    assert res.global_step == 8
    state = json.loads((tmp_path / "s" / "checkpoint-8" / "trainer_state.json").read_text())
    logged_steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert logged_steps[:4] == [1, 2, 3, 4] and 8 in logged_steps  # the history continues, not restarts


def test_lora_trains_and_saves_merged_student(tmp_path, tiny_model, package_data):
    from factory.train.core import train

    data = _sft_folder(tmp_path / "sft", package_data, n=12)
    res = train(data=data, student=str(tiny_model), out=tmp_path / "lora", preset="tiny", lora=True,
                overrides=["max_steps=3", "max_length=256", "lora_r=4", "lora_alpha=8"], log=lambda m: None)
    assert res.global_step == 3
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(tmp_path / "lora")
    assert not any("lora" in k for k in m.state_dict())  # merged


def test_preflight_refuses_template_that_drops_think(tiny_model):
    from transformers import AutoTokenizer, GenerationConfig

    from factory.train.preflight import TemplateError, preflight

    tok = AutoTokenizer.from_pretrained(tiny_model)
    gc = GenerationConfig.from_pretrained(tiny_model)
    rep = preflight(tok, generation_config=gc)
    assert rep.eot_token == "<|im_end|>" and not rep.patched
    strips = tok.chat_template.replace("message['content'] + '<|im_end|>'", "message['content'].split('</think>')[-1] + '<|im_end|>'")
    with pytest.raises(TemplateError, match=r"does not keep the assistant's <think> block intact \(it is dropped\)"):
        preflight(tok, generation_config=gc, chat_template=strips)
    no_markers = tok.chat_template.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    with pytest.raises(TemplateError, match=r"no \{% generation %\} markers"):
        preflight(tok, generation_config=gc, chat_template=no_markers)


def test_preflight_refuses_mismatched_end_of_turn(tiny_model):
    from transformers import AutoTokenizer, GenerationConfig

    from factory.train.preflight import TemplateError, preflight

    tok = AutoTokenizer.from_pretrained(tiny_model)
    wrong_stop = GenerationConfig(eos_token_id=tok.convert_tokens_to_ids("<|endoftext|>"))
    with pytest.raises(TemplateError, match=r"emits after an assistant turn \('<\|im_end\|>'\) is not a token generation stops on \(\['<\|endoftext\|>'\]\)"):
        preflight(tok, generation_config=wrong_stop)
    gc = GenerationConfig.from_pretrained(tiny_model)
    eot_outside = tok.chat_template.replace("{{- message['content'] + '<|im_end|>' -}}", "{{- message['content'] -}}").replace(
        "{%- endgeneration -%}", "{%- endgeneration -%}{{- '<|im_end|>' -}}")
    with pytest.raises(TemplateError, match="outside the trained span"):
        preflight(tok, generation_config=gc, chat_template=eot_outside)


def test_train_cli_refuses_bad_template_with_one_line(tmp_path, tiny_model, package_data):
    from factory.cli.app import app

    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    data = _sft_folder(tmp_path / "sft", package_data, n=8)
    r = CliRunner().invoke(app, ["train", "--data", str(data), "--student", str(tiny_model), "--out", str(tmp_path / "o"),
                                 "--preset", "tiny", "--chat-template", str(bad)])
    assert r.exit_code == 1
    assert "no {% generation %} markers" in r.output
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "missing"), "--student", str(tiny_model), "--out",
                                 str(tmp_path / "o"), "--preset", "nope"])
    assert r.exit_code == 1 and "--preset: expected one of" in r.output
