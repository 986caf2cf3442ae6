"""Prompts for `factory rl`: how a problem row becomes the `prompt` GRPOTrainer samples from.

Plain-text templates, for base models (no chat template; TRL's standard format, a string):
- `r1-zero`: DeepSeek-R1-Zero's training template (DeepSeek-R1 report, Table 1), verbatim:
  the answer goes in `<answer>…</answer>` after the `<think>` block.
- `tinyzero`: TinyZero's base-model template (examples/data_preprocess/countdown.py,
  `template_type="base"`): the assistant turn is prefilled with "Let me solve this step by
  step.\\n<think>", so completions start inside the thought.

Chat templates (conversational format, rendered by the policy's own chat template):
- `openr1`: open-r1's GRPO system prompt (recipes/Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml)
  with the problem as the user turn.
- any `factory generate` preset (`deepseek-r1`, `qwq`, `qwen`, `sky-t1`) or a `.jinja` template
  file, rendered as `factory generate --prompt` renders it (same system prompt and wording),
  except the assistant prefill (deepseek-r1's "<think>\n"): GRPOTrainer always opens a fresh
  assistant turn for conversational prompts, so the policy writes the `<think>` tag itself
  (which the format reward checks).

A task row (`meta` names a task, e.g. Countdown) keeps its own statement, which already says
where the answer goes; chat templates then add only their system prompt.

Exercise: `factory rl --prompt r1-zero ...`.
"""

from __future__ import annotations

from typing import Any

from factory.filters.tasks.registry import spec_of

R1_ZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant "
    "first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning "
    "process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., "
    "<think> reasoning process here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)
TINYZERO = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant "
    "first thinks about the reasoning process in the mind and then provides the user with the answer.\n"
    "User: {prompt}\nAssistant: Let me solve this step by step.\n<think>"
)
OPENR1_SYSTEM = (
    "You are a helpful AI Assistant that provides well-reasoned and detailed responses. You first think about the "
    "reasoning process as an internal monologue and then provide the user with the answer. Respond in the following "
    "format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)
TEXT_TEMPLATES = {"r1-zero": R1_ZERO, "tinyzero": TINYZERO}
CHAT_TEMPLATES = {"openr1": OPENR1_SYSTEM}
TEMPLATES = (*TEXT_TEMPLATES, *CHAT_TEMPLATES)


def is_plain_text(name: str) -> bool:
    return name in TEXT_TEMPLATES


class PromptBuilder:
    """Render problem rows into GRPO prompts with one template (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._generate_prompt = None
        if name not in TEXT_TEMPLATES and name not in CHAT_TEMPLATES:
            from factory.generate.prompts import load_prompt

            self._generate_prompt = load_prompt(name)  # raises InputError naming the choices

    def __call__(self, row: dict[str, Any]) -> str | list[dict[str, str]]:
        problem = (row.get("problem") or "").strip()
        is_task = spec_of(row.get("meta")) is not None
        if self.name in TEXT_TEMPLATES:
            return TEXT_TEMPLATES[self.name].format(prompt=problem)
        if self.name in CHAT_TEMPLATES:
            return [{"role": "system", "content": CHAT_TEMPLATES[self.name]}, {"role": "user", "content": problem}]
        assert self._generate_prompt is not None
        rendered = self._generate_prompt.render(row)
        if is_task:  # the task statement already says where the answer goes: no boxed instruction on top
            msgs = [{"role": "system", "content": rendered.system}] if rendered.system else []
            return msgs + [{"role": "user", "content": problem}]
        return rendered.messages()
