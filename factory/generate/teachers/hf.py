"""The `transformers` teacher: a local model sampled in batches with left padding, on CPU or GPU
(dtype "auto" = the checkpoint's), stopping on the chat template's end-of-turn token.

Seeds: every sample has its own seed. Sampling is done by a logits processor that draws each
row's token from a counter-based generator keyed by (sample seed, step), so a sample does not
depend on which other samples share its batch (up to float noise from padding). The processor
hands generate() a one-hot score row, which greedy decoding then picks.

Exercise: `factory generate --backend transformers --teacher DIR --problems P --out T`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

from factory.generate.teachers.base import Completion, OnResult, Request, SamplingConfig, render_chat

_GOLDEN = 0x9E3779B97F4A7C15


def counter_uniforms(seeds, step: int):
    """Uniform(0,1) numbers from splitmix64(seed + step·golden): one per seed, reproducible."""
    import numpy as np

    with np.errstate(over="ignore"):
        x = seeds.astype(np.uint64) + np.uint64(step + 1) * np.uint64(_GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _seeded_sampler(seeds: list[int]):
    import numpy as np
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.seeds = np.asarray(seeds, dtype=np.uint64)
            self.step = 0

        def __call__(self, input_ids, scores):
            # inverse-CDF sampling on unnormalised weights: no softmax division needed
            w = (scores.float() - scores.float().amax(dim=-1, keepdim=True)).exp_()
            cdf = w.cumsum_(dim=-1)
            u = torch.from_numpy(counter_uniforms(self.seeds, self.step)).to(cdf.device, cdf.dtype)
            self.step += 1
            # v > 0, so the first index whose cdf reaches v has positive weight: a token the
            # warpers removed (weight 0, a cdf plateau) is never chosen
            v = (u.clamp_(min=1e-12) * cdf[:, -1]).unsqueeze(1)
            idx = torch.searchsorted(cdf, v).clamp_(max=scores.shape[-1] - 1)
            return scores.fill_(-math.inf).scatter_(1, idx, 0.0)

    return SeededSampler()


class TransformersTeacher:
    backend = "transformers"

    def __init__(
        self,
        model: str,
        *,
        device: Literal["auto", "cpu", "cuda"] | str = "auto",
        dtype: str = "auto",
        batch_size: int = 16,
        trust_remote_code: bool = False,
    ) -> None:
        self.name = model
        self.device = device
        self.dtype = dtype
        self.batch_size = max(1, batch_size)
        self.trust_remote_code = trust_remote_code
        self._model = None
        self._tok = None
        self._stop_ids: list[int] = []
        self.gpus = 0
        self.chunk_requests: int | None = None  # set per run from n (batch_size sequences per call)

    # -- loading ----------------------------------------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from factory.schemas.errors import InputError

        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            tok = AutoTokenizer.from_pretrained(self.name, trust_remote_code=self.trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(self.name, dtype=self.dtype,
                                                         trust_remote_code=self.trust_remote_code)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot load the teacher model: {e}", path=self.name,
                             hint="pass a local model folder or a Hub id that is cached (HF_HUB_OFFLINE may be set)") from None
        if tok.chat_template is None:
            raise InputError("the teacher's tokenizer has no chat template", path=self.name,
                             hint="use a chat/instruct model, or set tokenizer.chat_template")
        tok.padding_side = "left"
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        self._model = model.to(device).eval()
        self._tok = tok
        self._device = device
        self.gpus = torch.cuda.device_count() if device.startswith("cuda") else 0
        stop = set()
        for tid in (tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")):
            if isinstance(tid, int) and tid >= 0 and tid != tok.unk_token_id:
                stop.add(tid)
        gen_eos = getattr(model.generation_config, "eos_token_id", None)
        for tid in (gen_eos if isinstance(gen_eos, list) else [gen_eos]):
            if isinstance(tid, int):
                stop.add(tid)
        self._stop_ids = sorted(stop)

    def render(self, request: Request) -> str:
        """The prompt text exactly as the model sees it (chat template + prefill)."""
        self._load()
        return render_chat(self._tok, request.messages, request.prefill)

    # -- generation -------------------------------------------------------------------------
    def generate(self, requests: list[Request], sampling: SamplingConfig, *,
                 on_result: OnResult | None = None) -> list[list[Completion]]:
        self._load()
        flat: list[tuple[int, int, str, int | None]] = []
        for i, r in enumerate(requests):
            text = self.render(r)
            for j, seed in enumerate(r.seeds):
                flat.append((i, j, text, seed))
        # batch prompts of similar length together: less left padding, same samples (seeds are
        # per sample, so batch composition does not change what is drawn)
        flat.sort(key=lambda p: len(p[2]))
        results: list[list[Completion | None]] = [[None] * len(r.sample_indices) for r in requests]
        for start in range(0, len(flat), self.batch_size):
            part = flat[start : start + self.batch_size]
            comps = self._generate_batch([p[2] for p in part], [p[3] for p in part], sampling)
            for (i, j, _, _), c in zip(part, comps):
                results[i][j] = c
                if on_result is not None:
                    on_result(i, j, c)
        return results  # type: ignore[return-value]

    def _generate_batch(self, prompts: list[str], seeds: list[int | None], sampling: SamplingConfig) -> list[Completion]:
        import torch
        from transformers import (
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        tok, model = self._tok, self._model
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self._device)
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        procs = LogitsProcessorList()
        if sampling.temperature > 0:
            procs.append(TemperatureLogitsWarper(sampling.temperature))
            if sampling.top_k:
                procs.append(TopKLogitsWarper(sampling.top_k))
            if sampling.top_p < 1.0:
                procs.append(TopPLogitsWarper(sampling.top_p))
            # unseeded samples still need distinct draws: take them from torch's generator
            fixed = [s if s is not None else int(torch.randint(0, 2**31 - 1, (1,)).item()) for s in seeds]
            procs.append(_seeded_sampler(fixed))
        cfg = copy.deepcopy(model.generation_config)
        # the seeded sampler above already picked the token: greedy decoding takes it as is
        cfg.update(max_new_tokens=sampling.max_tokens, do_sample=False, temperature=1.0, top_p=1.0, top_k=None,
                   min_p=None, eos_token_id=self._stop_ids, pad_token_id=tok.pad_token_id)
        with torch.inference_mode():
            out = model.generate(**enc, generation_config=cfg, logits_processor=procs)
        gen = out[:, enc["input_ids"].shape[1] :].tolist()
        stop = set(self._stop_ids)
        comps = []
        for row, plen in zip(gen, prompt_lens):
            end = next((k for k, t in enumerate(row) if t in stop), None)
            if end is None:
                ids, finish, n_tok = row, "length", len(row)
            else:
                ids, finish, n_tok = row[:end], "stop", end + 1
            text = tok.decode(ids, skip_special_tokens=False)
            comps.append(Completion(text=text, finish_reason=finish, prompt_tokens=int(plen), completion_tokens=n_tok))
        return comps

    def info(self) -> dict[str, Any]:
        return {"device": getattr(self, "_device", self.device), "dtype": self.dtype, "batch_size": self.batch_size}

    def close(self) -> None:
        self._model = None
        self._tok = None
