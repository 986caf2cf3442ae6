"""`factory teacher init-tiny DIR`: build a tiny RANDOM Qwen3-style causal LM (about 1 MB) with
a byte-level BPE tokenizer trained locally on the shipped MATH-500 text and a ChatML chat
template that supports `<think>` blocks and `{% generation %}` markers (for assistant-only
loss). Its output is random text: it exists for offline smoke tests and for the test-suite,
never for real data.

Deterministic: the same arguments give the same tokenizer and weights (seeded init).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from factory.data import DATA_DIR
from factory.schemas.errors import FactoryError

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# ChatML as Qwen3 uses it. The assistant turn is wrapped in {% generation %} so TRL's
# assistant_only_loss can find the trained span; the end-of-turn token <|im_end|> is INSIDE
# that span, so the student learns to stop. Assistant messages are rendered verbatim (the
# `<think>` block is part of the content and is kept intact on every turn).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}"
    "{{- message['content'] + '<|im_end|>' -}}"
    "{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    "{%- endif -%}"
)


def _corpus(limit: int = 500) -> list[str]:
    path = DATA_DIR / "benchmarks" / "math500_test.jsonl.gz"
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            row = json.loads(line)
            texts.append(row["problem"])
            texts.append(row["solution"])
    # a little code so code prompts tokenize into something sensible too
    texts.append("def solve():\n    n = int(input())\n    print(n * 2)\n\nif __name__ == '__main__':\n    solve()\n")
    return texts


def build_tokenizer(*, vocab_size: int = 1024):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<think>", "</think>"],
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out: str | Path,
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    max_position_embeddings: int = 4096,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a tiny random Qwen3 model + tokenizer + chat template to `out`; return the path."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    import shutil

    final = Path(out)
    if final.exists() and any(final.iterdir()) and not overwrite:
        if (final / "config.json").exists():
            return final  # already built: idempotent (built whole, then renamed into place)
        raise FactoryError(f"{final}: folder exists and is not empty", hint="choose another folder or pass --overwrite")
    # built under a temporary name and renamed: a kill mid-build never leaves a folder that looks built
    out = final.with_name(f".{final.name}.building")
    shutil.rmtree(out, ignore_errors=True)  # a killed build's leftovers
    out.mkdir(parents=True)
    tokenizer = build_tokenizer(vocab_size=vocab_size)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden_size // heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True, temperature=0.6, top_p=0.95)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "README.md").write_text(
        "# tiny random model (factory teacher init-tiny)\n\nRandom weights: its output is random text. "
        "For offline smoke tests only.\n"
    )
    if final.exists():  # overwrite, or an empty folder
        shutil.rmtree(final)
    os.replace(out, final)
    return final
