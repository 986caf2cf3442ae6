"""Non-reasoning SFT examples for R1-style mixes (DeepSeek-R1 §2.3.3: writing, factual QA,
self-cognition, translation — "no chain of thought for trivial prompts, a short one otherwise").

What is real and what is synthetic (recorded in every row's `meta.synthetic`):
- `self_cognition` — SYNTHETIC: fixed question/answer templates in several languages, filled
  with the configured model name and developer. Trivial prompts: no chain of thought (an empty
  think block, as R1 does, when `empty_think`).
- `translation` — REAL sentence pairs (NTREX-128 news test set, human translations, CC-BY-SA-4.0;
  a 200-line sample ships in `factory/data/sample/ntrex128_sample.jsonl.gz`, see SOURCES.md)
  with a SYNTHETIC instruction and a SYNTHETIC one-sentence chain of thought (`short_cot`).
- factual QA and writing — not generated here: bring them as SFT folders (`sources` of kind
  `sft`, or `factory curate --sft DIR`); their rows are used as they are.

Exercise: `factory curate --recipe r1-800k --traces DIR --out OUT --size 40`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from factory.curate.journey import base_language

# (question, answer) templates per language; {model}/{developer} are filled from the recipe.
SELF_COGNITION: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Who are you?", "I am {model}, an AI assistant developed by {developer}. I can help with math, coding, writing, "
                         "answering questions and more. How can I help you today?"),
        ("What is your name?", "My name is {model}. I'm an AI assistant created by {developer}."),
        ("Who created you?", "I was developed by {developer}. I'm {model}, an AI assistant."),
        ("Introduce yourself.", "Hello! I'm {model}, an AI assistant built by {developer}. I'm designed to reason "
                                "step by step through problems and to give clear, accurate answers."),
        ("Are you ChatGPT?", "No, I'm not ChatGPT. I'm {model}, an AI assistant developed by {developer}."),
        ("What can you do?", "I'm {model}, developed by {developer}. I can solve math problems, write and explain code, "
                             "help with writing and translation, and answer questions on many topics."),
    ],
    "zh": [
        ("你是谁？", "我是{model}，由{developer}开发的人工智能助手。我可以帮助你解答数学、编程、写作等各类问题。"),
        ("你叫什么名字？", "我的名字是{model}，是{developer}开发的AI助手。"),
        ("是谁开发了你？", "我由{developer}开发。我是{model}，一个人工智能助手。"),
        ("请介绍一下你自己。", "你好！我是{model}，由{developer}打造的AI助手，擅长一步一步地推理并给出清晰准确的回答。"),
    ],
    "de": [
        ("Wer bist du?", "Ich bin {model}, ein KI-Assistent, entwickelt von {developer}. Wie kann ich dir helfen?"),
        ("Wer hat dich entwickelt?", "Ich wurde von {developer} entwickelt. Ich bin {model}, ein KI-Assistent."),
    ],
    "fr": [
        ("Qui es-tu ?", "Je suis {model}, un assistant d'IA développé par {developer}. Comment puis-je t'aider ?"),
        ("Qui t'a créé ?", "J'ai été développé par {developer}. Je suis {model}, un assistant d'IA."),
    ],
    "es": [
        ("¿Quién eres?", "Soy {model}, un asistente de IA desarrollado por {developer}. ¿En qué puedo ayudarte?"),
        ("¿Quién te creó?", "Fui desarrollado por {developer}. Soy {model}, un asistente de IA."),
    ],
}

LANG_NAMES = {"eng": "English", "deu": "German", "fra": "French", "spa": "Spanish", "zho-CN": "Chinese (Simplified)",
              "jpn": "Japanese", "rus": "Russian", "kor": "Korean", "ita": "Italian", "por": "Portuguese",
              "vie": "Vietnamese", "hin": "Hindi", "arb": "Arabic"}

TRANSLATE_PROMPT = "Translate the following sentence into {target}:\n\n{text}"
TRANSLATE_COT = ("The user wants this news sentence in {target}. I'll keep the names, numbers and quotations "
                 "as they are and render the meaning naturally rather than word for word.")


def self_cognition(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Example dicts (user, answer, reasoning=None, language, meta) from the templates."""
    out = []
    for lang in cfg.get("languages") or ["en"]:
        for i, (q, a) in enumerate(SELF_COGNITION.get(base_language(lang), [])):
            out.append({
                "key": f"selfcog:{base_language(lang)}:{i}", "user": q,
                "answer": a.format(model=cfg["model_name"], developer=cfg["developer"]), "reasoning": None,
                "language": base_language(lang), "source": "self-cognition", "license": "Apache-2.0",
                "domain": "general", "meta": {"synthetic": "template", "task": "self_cognition"},
            })
    return out


def translation(cfg: dict[str, Any], *, sample_path: Path) -> list[dict[str, Any]]:
    if not sample_path.exists():
        from factory.schemas.errors import InputError

        raise InputError("translation sample not found", path=str(sample_path),
                         hint="point curate.non_reasoning.translation.sample at a JSONL(.gz) of aligned sentences")
    opener = gzip.open if sample_path.suffix == ".gz" else open
    with opener(sample_path, "rt", encoding="utf-8") as f:
        lines = [json.loads(x) for x in f if x.strip()]
    if cfg.get("max_sentences"):
        lines = lines[: cfg["max_sentences"]]
    out = []
    for src, tgt in cfg["pairs"]:
        for row in lines:
            if not row.get(src) or not row.get(tgt):
                continue
            target = LANG_NAMES.get(tgt, tgt)
            out.append({
                "key": f"translate:{src}:{tgt}:{row.get('line')}",
                "user": TRANSLATE_PROMPT.format(target=target, text=row[src]),
                "answer": row[tgt],
                "reasoning": TRANSLATE_COT.format(target=target) if cfg.get("short_cot", True) else None,
                "language": base_language(tgt), "source": "ntrex128", "license": "CC-BY-SA-4.0", "domain": "general",
                "meta": {"synthetic": "instruction" + ("+short_cot" if cfg.get("short_cot", True) else ""),
                         "task": "translation", "pair": f"{src}->{tgt}", "line": row.get("line")},
            })
    return out
