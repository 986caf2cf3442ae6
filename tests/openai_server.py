"""A real OpenAI-compatible HTTP server for the tests: stdlib ThreadingHTTPServer on 127.0.0.1
(port 0), speaking POST /v1/chat/completions and GET /v1/models, with the tiny random model behind
it generating real text — and fault injection:

- `script`: faults handed to the next arriving requests in order ("429", "500", "slow", "drop",
  "empty", "empty_content"), then normal replies;
- `poison`: a user message containing this text always gets HTTP 500 (the client must give up and
  write an error row);
- `echo_key`: a user message containing "ECHO-AUTH" gets HTTP 400 whose body echoes the
  Authorization header (the client must redact it);
- `reasoning_field`: reply with the generated text in `reasoning_content` and a short `content`;
- `context`: the model's context in tokens, enforced the way vLLM does it: prompt + max_tokens
  over it gets HTTP 400 "This model's maximum context length is N tokens. However, you requested
  ..."; `advertise_context` also reports it as `max_model_len` in /v1/models (vLLM does, many
  servers do not); `tokenize` serves vLLM's `POST /tokenize` (exact prompt lengths);
- `closed_port()`: a port nothing listens on (a server that is down).

It records what a test asserts on: arrival times, max requests in flight, tokens per request,
Authorization headers seen, and counts per fault.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TinyChatModel:
    def __init__(self, path: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.lock = threading.Lock()  # one generate at a time (torch on one thread)
        self.torch = torch

    def chat(self, messages, *, max_tokens: int, seed: int | None, temperature: float, top_p: float):
        torch = self.torch
        text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = self.tok(text, return_tensors="pt", add_special_tokens=False)
        with self.lock, torch.inference_mode():
            torch.manual_seed(seed if seed is not None else 0)
            out = self.model.generate(**enc, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                      temperature=max(temperature, 1e-3), top_p=top_p,
                                      pad_token_id=self.tok.pad_token_id, eos_token_id=self.tok.eos_token_id)
        gen = out[0, enc["input_ids"].shape[1]:].tolist()
        eos = self.tok.eos_token_id
        finish = "length"
        if eos in gen:
            gen = gen[: gen.index(eos)]
            finish = "stop"
        return self.tok.decode(gen, skip_special_tokens=False), finish, enc["input_ids"].shape[1], len(gen) + (finish == "stop")

    def count(self, messages) -> int:
        text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tok(text, add_special_tokens=False)["input_ids"])


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeOpenAIServer:
    def __init__(self, model_path: str, *, model_name: str = "tiny", delay_s: float = 0.05, slow_s: float = 3.0,
                 max_tokens_cap: int = 16) -> None:
        self.chat_model = TinyChatModel(model_path)
        self.model_name = model_name
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.max_tokens_cap = max_tokens_cap
        self.script: list[str] = []
        self.poison: str | None = None
        self.reasoning_field = False
        self.required_key: str | None = None
        self.context: int | None = None
        self.advertise_context = False
        self.tokenize = False
        self.lock = threading.Lock()
        self.reset_records()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if server.required_key and self.headers.get("Authorization") != f"Bearer {server.required_key}":
                    return self._json(401, {"error": {"message": "invalid key"}})
                if self.path.rstrip("/") == "/v1/models":
                    entry = {"id": server.model_name, "object": "model"}
                    if server.context and server.advertise_context:
                        entry["max_model_len"] = server.context
                    self._json(200, {"object": "list", "data": [entry]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") == "/tokenize" and server.tokenize:
                    n = server.chat_model.count(body.get("messages") or [])
                    return self._json(200, {"count": n, "max_model_len": server.context, "tokens": list(range(n))})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "not found"}})
                server._enter(self.headers.get("Authorization"))
                try:
                    server._handle(self, body)
                finally:
                    server._leave()

            def _json(self, code, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- records ----------------------------------------------------------------------------
    def reset_records(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.arrivals: list[float] = []
            self.tokens: list[tuple[float, int]] = []
            self.inflight = 0
            self.max_inflight = 0
            self.auth_headers: set[str | None] = set()
            self.faults = Counter()
            self.ok = 0
            self.max_tokens_seen: list[int] = []

    def _enter(self, auth):
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
            self.auth_headers.add(auth)

    def _leave(self):
        with self.lock:
            self.inflight -= 1

    def _next_fault(self) -> str | None:
        with self.lock:
            return self.script.pop(0) if self.script else None

    # -- behaviour --------------------------------------------------------------------------
    def _handle(self, h, body) -> None:
        msgs = body.get("messages") or []
        user = " ".join(m.get("content", "") for m in msgs if m.get("role") == "user")
        if self.required_key and h.headers.get("Authorization") != f"Bearer {self.required_key}":
            return h._json(401, {"error": {"message": f"invalid key {h.headers.get('Authorization')}"}})
        if body.get("model") != self.model_name:
            return h._json(404, {"error": {"message": f"model {body.get('model')} does not exist"}})
        if "ECHO-AUTH" in user:
            self.faults["echo"] += 1
            return h._json(400, {"error": {"message": f"bad request from {h.headers.get('Authorization')}"}})
        if self.poison and self.poison in user:
            self.faults["poison"] += 1
            return h._json(500, {"error": {"message": "internal error"}})
        if self.context is not None:
            pt = self.chat_model.count(msgs)
            want = int(body.get("max_tokens") or 16)
            if pt + want > self.context:
                self.faults["context"] += 1
                return h._json(400, {"object": "error", "type": "BadRequestError", "code": 400, "message": (
                    f"This model's maximum context length is {self.context} tokens. However, you requested "
                    f"{pt + want} tokens ({pt} in the messages, {want} in the completion). Please reduce the length "
                    "of the messages or completion.")})
        fault = self._next_fault()
        if fault:
            self.faults[fault] += 1
        if fault == "429":
            return h._json(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
        if fault == "500":
            return h._json(500, {"error": {"message": "boom"}})
        if fault == "slow":
            time.sleep(self.slow_s)  # past the client's timeout
        if fault == "drop":
            # promise a body, send half of it, then close the connection
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b'{"id": "x", "choices": [{"mess')
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return None
        if fault == "empty":
            return h._json(200, {"id": "x", "object": "chat.completion", "choices": []})
        if fault == "empty_content":
            return h._json(200, {"id": "x", "object": "chat.completion",
                                 "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}]})
        with self.lock:
            self.max_tokens_seen.append(int(body.get("max_tokens") or 0))
        time.sleep(self.delay_s)  # let requests overlap so concurrency is observable
        text, finish, pt, ct = self.chat_model.chat(msgs, max_tokens=min(int(body.get("max_tokens") or 16), self.max_tokens_cap),
                                                    seed=body.get("seed"), temperature=float(body.get("temperature", 1.0)),
                                                    top_p=float(body.get("top_p", 1.0)))
        with self.lock:
            self.tokens.append((time.monotonic(), pt + ct))
            self.ok += 1
        message = {"role": "assistant", "content": text}
        if self.reasoning_field:
            message = {"role": "assistant", "content": "The answer is 42.", "reasoning_content": text}
        return h._json(200, {"id": "chatcmpl-1", "object": "chat.completion", "model": self.model_name,
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}})

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
