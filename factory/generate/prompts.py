"""Prompts for the teacher: named presets that follow each model family's published usage, and
user Jinja templates. A prompt is (system prompt or None, user message, assistant prefill or
None); the teacher's own chat template (transformers/vLLM backends) or the server (openai
backend) turns the messages into tokens.

Presets:
- `deepseek-r1`: no system prompt (DeepSeek's usage recommendation); math asks to "reason step by
  step, and put your final answer within \\boxed{}"; the reply is forced to start with "<think>\\n".
- `qwq`: QwQ's system prompt ("You are a helpful and harmless assistant. You are Qwen developed by
  Alibaba. You should think step-by-step.") and the same boxed instruction.
- `qwen`: Qwen2.5-Math chain-of-thought style: the instruction is the system prompt, the problem
  is the user message.
- `sky-t1`: Sky-T1's system prompt with the Thought/Solution format and its math/code wording.
Code problems ask for one fenced Python program: stdin/stdout, call-based (starter code, function
name) or assert-style wording, from the problem's `tests`.

A template file (`--prompt my.jinja`) renders the user message with every Problem field as a
variable (`{{ problem }}`, `{{ reference_answer }}`, `{{ tests.fn_name }}`, `{{ row }}` = the whole
row); it may `{% set system = "..." %}` and `{% set prefill = "..." %}` at top level.

Exercise: `factory generate --prompt deepseek-r1 ...` / `--prompt my_prompt.jinja`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.schemas.errors import InputError

BOXED = "Please reason step by step, and put your final answer within \\boxed{}."

QWQ_SYSTEM = "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. You should think step-by-step."

# Sky-T1-32B-Preview's system prompt (NovaSky-AI/SkyThought), verbatim including its spelling.
SKY_T1_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking process "
    "before providing the final precise and accurate solutions. This requires engaging in a comprehensive cycle of "
    "analysis, summarizing, exploration, reassessment, reflection, backtracing, and iteration to develop "
    "well-considered thinking process. Please structure your response into two main sections: Thought and Solution. "
    "In the Thought section, detail your reasoning process using the specified format: <|begin_of_thought|> "
    "{thought with steps separated with '\\n\\n'} <|end_of_thought|> Each step should include detailed "
    "considerations such as analisying questions, summarizing relevant findings, brainstorming new ideas, verifying "
    "the accuracy of the current steps, refining any errors, and revisiting previous steps. In the Solution section, "
    "based on various attempts, explorations, and reflections from the Thought section, systematically present the "
    "final solution that you deem correct. The solution should remain a logical, accurate, concise expression style "
    "and detail necessary step needed to reach the conclusion, formatted as follows: <|begin_of_solution|> {final "
    "formatted, precise, and clear solution} <|end_of_solution|> Now, try to solve the following question through "
    "the above guidelines:"
)

ONE_BLOCK = "Return the complete solution as one Python program in a single ```python code block."


@dataclass(frozen=True)
class RenderedPrompt:
    system: str | None
    user: str
    prefill: str | None = None

    def messages(self) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.user}]


@dataclass(frozen=True)
class PromptPreset:
    name: str
    system: str | None
    prefill: str | None
    style: str  # how the instruction is attached: "suffix" | "system" | "sky"

    def render(self, row: dict[str, Any]) -> RenderedPrompt:
        domain = row.get("domain") or "general"
        problem = (row.get("problem") or "").strip()
        if self.style == "sky":
            if domain == "code":
                return RenderedPrompt(self.system, _sky_code(problem, row.get("tests")), self.prefill)
            if domain in ("math", "science", "puzzle"):
                return RenderedPrompt(self.system, f"Return your final response within \\boxed{{}}. {problem}", self.prefill)
            return RenderedPrompt(self.system, problem, self.prefill)
        if domain == "code":
            return RenderedPrompt(self.system if self.style != "system" else None, _code_user(problem, row.get("tests")),
                                  self.prefill)
        if self.style == "system":
            sys_prompt = BOXED if domain in ("math", "science", "puzzle") else self.system
            return RenderedPrompt(sys_prompt, problem, self.prefill)
        if domain in ("math", "science", "puzzle"):
            return RenderedPrompt(self.system, f"{problem}\n{BOXED}", self.prefill)
        return RenderedPrompt(self.system, problem, self.prefill)


PRESETS: dict[str, PromptPreset] = {
    "deepseek-r1": PromptPreset("deepseek-r1", system=None, prefill="<think>\n", style="suffix"),
    "qwq": PromptPreset("qwq", system=QWQ_SYSTEM, prefill=None, style="suffix"),
    "qwen": PromptPreset("qwen", system="You are a helpful assistant.", prefill=None, style="system"),
    "sky-t1": PromptPreset("sky-t1", system=SKY_T1_SYSTEM, prefill=None, style="sky"),
}
DEFAULT_PRESET = "deepseek-r1"


def _code_user(problem: str, tests: dict[str, Any] | None) -> str:
    tests = tests or {}
    style = tests.get("style")
    starter = (tests.get("starter_code") or "").strip()
    fn = tests.get("fn_name")
    if style == "stdin_stdout":
        how = ("Write a Python 3 program that reads the input from standard input and prints the answer to "
               "standard output.")
    elif style == "call":
        how = f"Your solution will be tested by calling `{fn}` directly." if fn else "Your solution will be tested by calling its function directly."
        if starter:
            how += f" Complete this starter code:\n```python\n{starter}\n```"
    elif style == "assert":
        asserts = tests.get("asserts") or []
        how = "Your code should pass tests like this one:\n" + asserts[0] if asserts else ""
        if fn:
            how = (how + "\n" if how else "") + f"Name the function `{fn}`."
    else:
        how = ""
    return "\n\n".join(p for p in (problem, how, ONE_BLOCK) if p)


def _sky_code(problem: str, tests: dict[str, Any] | None) -> str:
    # SkyThought's code prompts (TACO/APPS style): stdin programs vs. call-based functions
    tests = tests or {}
    if tests.get("style") == "stdin_stdout":
        head = ("Generate an executable Python function generated from the given prompt. The function should take "
                "stdin as input and print the output. Simply call the function after the definition.")
        return f"{head}{problem}"
    head = ("Generate an executable Python function generated from the given prompt. Return the function body "
            "without invoking it at the final solution.")
    starter = (tests.get("starter_code") or "").strip()
    return f"{head}{problem}" + (f"\n{starter}" if starter else "")


@dataclass(frozen=True)
class TemplatePrompt:
    """A user Jinja template file."""

    path: Path
    source: str

    @property
    def name(self) -> str:
        return f"file:{self.path.name}@{hashlib.sha256(self.source.encode()).hexdigest()[:12]}"

    def render(self, row: dict[str, Any]) -> RenderedPrompt:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
        try:
            tmpl = env.from_string(self.source)
            variables = {**row, "row": row}
            user = tmpl.render(**variables).strip()
            module = tmpl.make_module(variables)
        except jinja2.TemplateError as e:
            line = getattr(e, "lineno", None)
            raise InputError(f"prompt template failed for problem {row.get('id')!r}: {e}", path=str(self.path), line=line,
                             hint="Problem fields are variables ({{ problem }}, {{ tests.fn_name }}, {{ row }}); "
                                  "guard optional ones with {% if ... %}") from None
        system = getattr(module, "system", None)
        prefill = getattr(module, "prefill", None)
        if not user:
            raise InputError(f"prompt template rendered an empty user message for problem {row.get('id')!r}",
                             path=str(self.path))
        return RenderedPrompt(str(system) if system else None, user, str(prefill) if prefill else None)


Prompt = PromptPreset | TemplatePrompt


def load_prompt(spec: str | None) -> Prompt:
    """A preset name or a path to a .jinja/.j2 file."""
    spec = spec or DEFAULT_PRESET
    if spec in PRESETS:
        return PRESETS[spec]
    p = Path(spec).expanduser()
    if p.suffix in (".jinja", ".j2", ".jinja2") or p.exists():
        if not p.is_file():
            raise InputError("prompt template file not found", path=str(p),
                             hint=f"pass a preset ({', '.join(PRESETS)}) or an existing .jinja file")
        return TemplatePrompt(p, p.read_text(encoding="utf-8"))
    raise InputError(f"--prompt: expected a preset ({', '.join(PRESETS)}) or a .jinja file, found {spec!r}")
