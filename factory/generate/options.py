"""The options of `factory generate`, declared once: the command's flags and the recipe's
`generate:` section are derived from `GenerateOptions` (factory.schemas.options).

Exercise: `factory generate --help`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from factory.schemas.options import check_values, cross_field_problems, opt

Backend = Literal["transformers", "vllm", "openai", "replay"]
Executor = Literal["local", "ray"]
Only = Literal["all", "truncated", "errors"]

_TF, _VLLM, _API, _SCALE, _RUN = "transformers backend", "vllm backend", "openai backend", "Scale-out", "Durability and accounting"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
DEFAULT_MAX_TOKENS = 32768  # the budget when nothing tells the model's context


@dataclass(kw_only=True)
class GenerateOptions:
    """The teacher writes n chain-of-thought samples per problem into a trace folder (resumable:
    re-running the same command fills in only the missing (problem, sample) pairs)."""

    RESUMABLE: ClassVar[bool] = True

    teacher: str = opt(help="Model folder or Hub id (transformers/vllm), the served model name (openai), or a trace folder (replay).", role="input", hub_ok=True)
    problems: str = opt(help="Problem dataset folder (from `factory ingest`).", role="input")
    out: str = opt(help="Trace folder to write (re-run the same command to resume).", role="output", short="-o")
    backend: Backend = opt("transformers", help="Where the teacher runs.")
    n: int = opt(4, help="Samples per problem.", short="-n", ge=1)
    temperature: float = opt(0.6, help="Sampling temperature (0 = greedy).", ge=0, le=5)
    top_p: float = opt(0.95, help="Nucleus sampling mass.", gt=0, le=1)
    top_k: int | None = opt(None, help="Top-k cut (default: off).", ge=1)
    max_tokens: int | None = opt(None, help="Completion token budget per sample (default: the model's context minus the longest prompt, at most 32768).", ge=1)
    seed: int = opt(0, help="Run seed; each (problem, sample) gets a seed derived from it (recipes: the recipe's seed).")
    prompt: str | None = opt(None, help="Prompt preset (deepseek-r1, qwq, qwen, sky-t1) or a .jinja file (default deepseek-r1).")
    limit: int | None = opt(None, help="Use only the first N problems.", ge=1)
    only: Only = opt("all", help="all | truncated | errors: regenerate just the rows that ended with finish_reason length (or error) in a finished folder, keeping the rest.", identity=False)
    max_error_share: float = opt(0.5, help="Fail (exit 1) when more than this share of the rows written are errors (the server's first errors are printed).", ge=0, le=1, identity=False)
    # transformers
    batch_size: int = opt(16, help="Sequences per forward batch.", ge=1, identity=False, panel=_TF)
    device: str = opt("auto", help="auto | cpu | cuda | cuda:N | mps.", identity=False, panel=_TF)
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = opt("auto", help="Model dtype (auto = the checkpoint's).", panel=_TF)
    # vllm
    tensor_parallel_size: int = opt(1, help="GPUs per replica.", ge=1, identity=False, panel=_VLLM)
    max_model_len: int | None = opt(None, help="Context length (vllm; also the context check of the openai backend when the server does not report one).", ge=1, panel=_VLLM)
    enable_prefix_caching: bool = opt(True, help="Reuse the KV cache of shared prompt prefixes.", identity=False, panel=_VLLM)
    gpu_memory_utilization: float = opt(0.9, help="Share of GPU memory vLLM may take.", gt=0, le=1, identity=False, panel=_VLLM)
    # openai
    base_url: str | None = opt(None, help="Server URL, e.g. http://localhost:8000/v1.", identity=False, panel=_API)
    api_key_env: str = opt("OPENAI_API_KEY", help="Environment variable holding the API key (the key itself is never recorded).", identity=False, panel=_API)
    concurrency: int = opt(32, help="Requests in flight at most.", ge=1, identity=False, panel=_API)
    rpm: float | None = opt(None, help="Requests per minute limit.", gt=0, identity=False, panel=_API)
    tpm: float | None = opt(None, help="Tokens per minute limit.", gt=0, identity=False, panel=_API)
    request_timeout: float = opt(600.0, help="Seconds per request.", gt=0, identity=False, panel=_API)
    max_retries: int = opt(6, help="Retries per request before it becomes an error row.", ge=0, identity=False, panel=_API)
    # scale-out
    executor: Executor = opt("local", help="local | ray (teacher replicas as a Ray Data actor pool).", identity=False, panel=_SCALE)
    replicas: int = opt(1, help="Teacher replicas with --executor ray (one per GPU, or per node with --tensor-parallel-size).", ge=1, identity=False, panel=_SCALE)
    gpus_per_replica: float | None = opt(None, help="GPUs per replica with --executor ray (default: --tensor-parallel-size).", gt=0, identity=False, panel=_SCALE)
    # accounting and durability
    price_per_gpu_hour: float | None = opt(None, help="USD per GPU-hour, for the cost in the manifest and the card.", ge=0, identity=False, panel=_RUN)
    price_per_million_tokens: float | None = opt(None, help="USD per 1M prompt+completion tokens.", ge=0, identity=False, panel=_RUN)
    flush_rows: int = opt(256, help="Make rows durable every K rows...", ge=1, identity=False, panel=_RUN)
    flush_seconds: float = opt(60.0, help="...or every T seconds.", gt=0, identity=False, panel=_RUN)
    # set by the stage runner (not an option a user gives: `--overwrite` is the runner's)
    overwrite: bool = opt(False, help="Start the folder afresh.", cli=False, recipe=False, identity=False)

    def cross_checks(self) -> list[tuple[str, str]]:
        out = []
        if self.backend == "openai" and not self.base_url:
            out.append(("base_url", "expected the server's URL with backend openai (e.g. http://localhost:8000/v1), found nothing"))
        if not _DEVICE.fullmatch(self.device):
            out.append(("device", f"expected auto, cpu, cuda, cuda:N or mps, found {self.device!r}"))
        p = self.prompt
        if p is not None and not p.endswith((".jinja", ".j2", ".jinja2")):
            from factory.generate.prompts import PRESETS

            if p not in PRESETS:
                out.append(("prompt", f"expected a preset ({', '.join(PRESETS)}) or a .jinja file, found {p!r}"))
        return out

    def updates(self, old_key: dict[str, Any]) -> bool:
        """`--only truncated|errors` rewrites some rows of a finished folder made by generate with
        the same settings, except the budget (a larger --max-tokens for cut samples)."""
        if self.only == "all" or old_key.get("stage") != "generate":
            return False
        from factory.schemas.options import as_dict

        mine = {k: v for k, v in as_dict(self, identity_only=True).items() if k != "max_tokens"}
        theirs = {k: v for k, v in (old_key.get("options") or {}).items() if k != "max_tokens"}
        return mine == theirs and [i.get("fingerprint") for i in old_key.get("inputs") or []] == [
            i["fingerprint"] for i in self._input_fingerprints()]

    def _input_fingerprints(self) -> list[dict[str, Any]]:
        from factory.io.record import fingerprint
        from factory.schemas.options import paths

        return [{"fingerprint": fingerprint(p)} for _, p in paths(self, "input")]

    def check(self) -> None:
        """Validate an options object built in Python (the CLI and recipes check before building)."""
        from factory.schemas.options import OptionsError, as_dict

        values = {k: v for k, v in as_dict(self).items() if k != "overwrite"}
        problems = check_values(type(self), values, style="cli") or cross_field_problems(self, style="cli")
        if problems:
            raise OptionsError(problems, what="invalid generate options")

    @property
    def budget(self) -> int:
        """The completion budget in tokens (max_tokens, or the default the run derived)."""
        return self.max_tokens if self.max_tokens is not None else DEFAULT_MAX_TOKENS

    def params(self) -> dict[str, Any]:
        from factory.schemas.options import as_dict

        return as_dict(self)  # never a secret: the API key's variable NAME only
