"""The tiny random teacher/student: loads offline, renders <think> intact, assistant mask covers
the answer and the end-of-turn token, generation stops on <|im_end|>."""

from __future__ import annotations

from typer.testing import CliRunner


def test_tiny_model_template_and_masks(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert sum(p.numel() for p in model.parameters()) < 500_000
    assert tok.padding_side == "left"
    msgs = [{"role": "user", "content": "What is 1+1?"}, {"role": "assistant", "content": "<think>\nadd\n</think>\n\n\\boxed{2}"}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert "<think>\nadd\n</think>" in text
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    trained = tok.decode([i for i, m in zip(ids, mask) if m])
    assert trained == "<think>\nadd\n</think>\n\n\\boxed{2}<|im_end|>"
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode(tok(text)["input_ids"]) == text  # round-trips


def test_init_tiny_cli(tmp_path):
    from factory.cli.app import app

    r = CliRunner().invoke(app, ["teacher", "init-tiny", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert "random text" in r.output
    assert (tmp_path / "m" / "model.safetensors").exists()
