"""The `openai` teacher: an async client for any OpenAI-compatible chat-completions server (vLLM
serve, SGLang, hosted APIs).

- bounded concurrency (at most `concurrency` requests in flight);
- requests-per-minute and tokens-per-minute limits as token buckets holding one second's worth
  (a request reserves prompt-estimate + max_tokens tokens; the difference to the usage the server
  reports is paid back or charged afterwards, so the long-run rate is right);
- retries with exponential backoff and full jitter on 429, 5xx, timeouts, dropped connections and
  empty responses, honouring Retry-After; a sample that still fails becomes an error row
  (finish_reason "error", the reason in meta.teacher_error), never a silent drop;
- 401/403/404 stop the run (every request would fail the same way), and so does an HTTP 400 that
  says the request does not fit the model's context (`ContextLengthError`: every request with the
  same budget would be refused; one clear error instead of a folder of error rows);
- before the first request, `server_info` reads `/v1/models` (the served names and, where the
  server reports it — vLLM does — the model's `max_model_len`) and `count_prompt_tokens` asks the
  server's `/tokenize` (vLLM, SGLang) for exact prompt lengths: generate checks `--max-tokens`
  against the context with them (factory.generate.budget); a server that cannot be reached stops
  the run there, before anything is written;
- the API key is read from the environment variable named by `api_key_env`, sent only in the
  Authorization header and redacted from every message (never printed, never in the manifest);
- the server's separate reasoning field (`reasoning_content`, or `reasoning`) is kept.

Exercise: `factory generate --backend openai --teacher MODEL --base-url http://localhost:8000/v1 ...`.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from factory.generate.teachers.base import (
    Completion,
    OnResult,
    Request,
    SamplingConfig,
    TeacherError,
)

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}

# How servers word "the request does not fit the context" in an HTTP 400 (vLLM: "This model's
# maximum context length is 8192 tokens. However, you requested ..."; OpenAI's error code
# context_length_exceeded; SGLang: "... exceeds the maximum context length ..."; TGI: "inputs tokens +
# max_new_tokens must be <= ...").
_CONTEXT_400 = re.compile(
    r"context[ _]length|maximum context|max_model_len|context window|max_new_tokens must be|"
    r"max_tokens (is|must be) too large|exceeds? the (model'?s? )?(maximum|max)", re.I)
_CONTEXT_NUMBER = re.compile(r"(?:maximum context length|max_model_len|context (?:length|window))\D{0,20}(\d{3,7})", re.I)


class ContextLengthError(TeacherError):
    """The server refused a request because prompt + max_tokens does not fit its context."""


@dataclass(frozen=True)
class ServerInfo:
    """What `/v1/models` says: the served model names and the context of ours (None: not reported)."""

    models: tuple[str, ...]
    max_model_len: int | None


class TokenBucket:
    """`rate` units per second, holding at most `capacity`; `take` waits until enough are there.
    The level may go negative (`charge`) when a request used more than it reserved."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.level = capacity
        self.t = time.monotonic()
        self.lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.t) * self.rate)
        self.t = now

    async def take(self, amount: float) -> None:
        amount = min(amount, self.capacity)  # a request larger than the bucket still gets through, alone
        async with self.lock:  # first come, first served
            while True:
                self._refill()
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)

    def charge(self, amount: float) -> None:
        self._refill()
        self.level = min(self.capacity, self.level - amount)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAITeacher:
    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        rpm: float | None = None,
        tpm: float | None = None,
        timeout: float = 600.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        retry_after_max: float = 300.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.name = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.concurrency = max(1, concurrency)
        self.rpm = rpm
        self.tpm = tpm
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = retry_after_max
        self.extra_body = dict(extra_body or {})
        self.gpus = 0
        self.chunk_requests: int | None = None  # all at once; results stream through on_result
        self.stats: Counter = Counter()  # retries and errors by reason
        self._checked_model = False

    # -- secrets ----------------------------------------------------------------------------
    def _key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None

    def _redact(self, text: str) -> str:
        key = self._key()
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    # -- before the first request ------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def server_info(self, *, attempts: int | None = None) -> ServerInfo:
        """GET /models: the served names (a wrong --teacher stops here) and our model's context.
        A server that cannot be reached (down, wrong port) is retried a few times with backoff,
        then stops the run: nothing has been written yet."""
        import httpx

        tries = attempts if attempts is not None else 1 + min(self.max_retries, 3)
        last = ""
        with httpx.Client(headers=self._headers(), timeout=httpx.Timeout(min(self.timeout, 30.0))) as client:
            for attempt in range(tries):
                try:
                    resp = client.get(f"{self.base_url}/models")
                except httpx.TransportError as e:  # refused, reset, DNS, timeout
                    last = f"{type(e).__name__}: {self._redact(str(e))[:200]}"
                    if attempt + 1 < tries:
                        time.sleep(min(self.backoff_max, self.backoff_base * 0.5 * (2**attempt)))
                    continue
                self._raise_fatal(resp)
                if resp.status_code in RETRY_STATUS and attempt + 1 < tries:
                    last = f"HTTP {resp.status_code}"
                    time.sleep(min(self.backoff_max, self.backoff_base * 0.5 * (2**attempt)))
                    continue
                return self._read_models(resp)
        raise TeacherError(f"cannot reach the teacher server at {self.base_url} ({last}; {tries} attempt(s))",
                           hint="start the server (e.g. `vllm serve MODEL`) or fix --base-url, then re-run the same command")

    def _read_models(self, resp) -> ServerInfo:
        if resp.status_code != 200:
            return ServerInfo((), None)  # a server without /models: nothing to check against
        try:
            data = [m for m in resp.json().get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            return ServerInfo((), None)
        ids = tuple(str(m.get("id")) for m in data)
        if ids and self.name not in ids:
            raise TeacherError(f"the server at {self.base_url} does not serve model {self.name!r} (it serves {list(ids[:10])})",
                               hint="pass --teacher one of the served model names")
        self._checked_model = True
        ours = next((m for m in data if m.get("id") == self.name), None)
        ctx = ours.get("max_model_len") if ours else None
        return ServerInfo(ids, int(ctx) if isinstance(ctx, int) and not isinstance(ctx, bool) and ctx > 0 else None)

    def count_prompt_tokens(self, prompts: list[list[dict[str, str]]]) -> list[int] | None:
        """Exact prompt lengths (chat template applied, generation prompt added) from the server's
        `/tokenize` endpoint (vLLM and SGLang serve it beside /v1); None when it has none."""
        import httpx

        root = re.sub(r"/v1/?$", "", self.base_url)
        out = []
        with httpx.Client(headers=self._headers(), timeout=httpx.Timeout(min(self.timeout, 30.0))) as client:
            for messages in prompts:
                try:
                    resp = client.post(f"{root}/tokenize", json={"model": self.name, "messages": messages,
                                                                 "add_generation_prompt": True})
                    count = resp.json().get("count") if resp.status_code == 200 else None
                except (httpx.HTTPError, ValueError, AttributeError):
                    return None
                if not isinstance(count, int):
                    return None
                out.append(count)
        return out

    # -- public -----------------------------------------------------------------------------
    def generate(self, requests: list[Request], sampling: SamplingConfig, *,
                 on_result: OnResult | None = None) -> list[list[Completion]]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run(requests, sampling, on_result))
        # called from inside an event loop (a notebook): run ours in a worker thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            return ex.submit(asyncio.run, self._run(requests, sampling, on_result)).result()

    def close(self) -> None:
        pass

    def stats_dict(self) -> dict[str, int]:
        return dict(sorted(self.stats.items()))

    # -- the async engine -------------------------------------------------------------------
    async def _run(self, requests: list[Request], sampling: SamplingConfig, on_result: OnResult | None):
        import httpx

        headers = self._headers()
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        results: list[list[Completion | None]] = [[None] * len(r.sample_indices) for r in requests]
        self._sem = asyncio.Semaphore(self.concurrency)
        self._rpm = TokenBucket(self.rpm / 60.0, max(1.0, self.rpm / 60.0)) if self.rpm else None
        self._tpm = TokenBucket(self.tpm / 60.0, max(1.0, self.tpm / 60.0)) if self.tpm else None
        async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout), limits=limits) as client:
            if not self._checked_model:
                await self._check_model(client)

            # a fixed pool of workers pulls samples from one iterator: memory stays bounded for a
            # million samples (no task per sample). More workers than slots, so samples sleeping in
            # backoff do not leave the connection slots idle.
            todo = ((i, j) for i, r in enumerate(requests) for j in range(len(r.sample_indices)))
            total = sum(len(r.sample_indices) for r in requests)

            async def worker() -> None:
                for i, j in todo:
                    c = await self._sample(client, requests[i], j, sampling)
                    results[i][j] = c
                    if on_result is not None:
                        on_result(i, j, c)

            tasks = [asyncio.create_task(worker()) for _ in range(min(total, 4 * self.concurrency))]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                raise
        return results

    async def _check_model(self, client) -> None:
        """Fail early on a wrong base URL / model name (servers without /models are fine)."""
        import httpx

        try:
            resp = await client.get(f"{self.base_url}/models")
        except httpx.HTTPError:
            return  # connection problems are retried per request
        self._raise_fatal(resp)
        if resp.status_code == 200:
            try:
                ids = [m.get("id") for m in resp.json().get("data", [])]
            except (ValueError, AttributeError):
                return
            if ids and self.name not in ids:
                raise TeacherError(f"the server at {self.base_url} does not serve model {self.name!r} (it serves {ids[:10]})",
                                   hint="pass --teacher one of the served model names")
        self._checked_model = True

    def _raise_fatal(self, resp) -> None:
        if resp.status_code in (401, 403):
            have = "is set" if self._key() else "is NOT set"
            raise TeacherError(f"the server at {self.base_url} refused the request (HTTP {resp.status_code}): check the API key "
                               f"(read from ${self.api_key_env}, which {have})",
                               hint=f"export {self.api_key_env}=... or pass --api-key-env NAME")
        if resp.status_code == 404:
            raise TeacherError(f"{self.base_url}: HTTP 404 for {resp.request.url.path} (wrong --base-url or model?)",
                               hint="an OpenAI-compatible base URL usually ends in /v1")

    def _raise_context(self, resp, sampling: SamplingConfig) -> None:
        """One clear error for the whole run: with this budget every request would be refused."""
        text = self._redact(_server_message(resp))
        m = _CONTEXT_NUMBER.search(text)
        context = f"its context is {m.group(1)} tokens and " if m else ""
        raise ContextLengthError(
            f"the server at {self.base_url} refused a request that does not fit the model's context: "
            f"{context}the budget is --max-tokens {sampling.max_tokens} (HTTP 400: {text[:300]})",
            hint="pass a smaller --max-tokens (the context minus the longest prompt), or --max-model-len CONTEXT so the "
                 "budget is derived from it; no error rows were written for the refused requests",
        )

    def _payload(self, req: Request, j: int, sampling: SamplingConfig) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": req.messages,
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "n": 1,
        }
        if req.seeds[j] is not None:
            body["seed"] = req.seeds[j]
        if sampling.top_k:
            body["top_k"] = sampling.top_k  # vLLM/SGLang extension
        body.update(self.extra_body)
        return body

    def _backoff(self, attempt: int) -> float:
        # full jitter: uniform(0, base * 2^attempt), capped (AWS architecture blog's recommendation)
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))

    async def _sample(self, client, req: Request, j: int, sampling: SamplingConfig) -> Completion:
        import httpx

        body = self._payload(req, j, sampling)
        estimate = sum(len(m["content"]) for m in req.messages) / 4 + sampling.max_tokens
        url = f"{self.base_url}/chat/completions"
        reason = "unknown"
        for attempt in range(self.max_retries + 1):
            wait_at_least = 0.0
            async with self._sem:
                # take the rate budget while holding the slot, so the send follows at once and the
                # server sees the limited rate (tokens taken before a queue would arrive in a burst)
                if self._rpm is not None:
                    await self._rpm.take(1)
                if self._tpm is not None:
                    await self._tpm.take(estimate)
                try:
                    resp = await client.post(url, json=body)
                    data = None
                    if resp.status_code == 200:
                        try:
                            data = resp.json()
                        except ValueError:
                            data = None
                except httpx.TimeoutException:
                    resp, reason = None, "timeout"
                except httpx.TransportError as e:  # refused, reset, closed mid-body
                    resp, reason = None, f"connection ({type(e).__name__})"
            if resp is not None:
                if resp.status_code == 200:
                    comp = self._parse(data, estimate)
                    if comp is not None:
                        comp.retries = attempt
                        return comp
                    reason = "empty_response"
                elif resp.status_code in RETRY_STATUS:
                    reason = f"http_{resp.status_code}"
                    wait_at_least = min(retry_after_seconds(resp.headers.get("retry-after")) or 0.0, self.retry_after_max)
                else:
                    self._raise_fatal(resp)
                    if resp.status_code == 400 and _CONTEXT_400.search(resp.text or ""):
                        self._raise_context(resp, sampling)
                    if self._tpm is not None:
                        self._tpm.charge(-estimate)  # nothing was generated
                    self.stats[f"error:http_{resp.status_code}"] += 1
                    return Completion(text="", finish_reason="error", retries=attempt,
                                      error=self._redact(f"http_{resp.status_code}: {resp.text[:300]}"))
            if attempt < self.max_retries:
                self.stats[f"retry:{reason.split(' ')[0]}"] += 1
                await asyncio.sleep(max(wait_at_least, self._backoff(attempt)))
        self.stats[f"error:{reason.split(' ')[0]}"] += 1
        return Completion(text="", finish_reason="error", retries=self.max_retries,
                          error=self._redact(f"{reason.split(' ')[0]}: gave up after {self.max_retries + 1} attempts ({reason})"))

    def _parse(self, data: Any, estimate: float) -> Completion | None:
        """The first choice, or None for an empty/malformed response (retried)."""
        if not isinstance(data, dict):
            return None
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            return None
        msg = choices[0].get("message") or {}
        content = msg.get("content") or ""
        reasoning = msg.get("reasoning_content") or msg.get("reasoning") or None
        if not content and not reasoning:
            return None
        usage = data.get("usage") or {}
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if self._tpm is not None and isinstance(pt, int) and isinstance(ct, int):
            self._tpm.charge(pt + ct - estimate)  # pay back (or charge) the difference to the reservation
        finish = choices[0].get("finish_reason") or "unknown"
        return Completion(text=content, finish_reason=finish if finish in ("stop", "length") else "unknown",
                          prompt_tokens=pt, completion_tokens=ct, reasoning=reasoning)


def _server_message(resp) -> str:
    """The error text of a JSON error body ({"error": {"message": ...}} or {"message": ...}), else the body."""
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or "").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
    return (resp.text or "").strip()
