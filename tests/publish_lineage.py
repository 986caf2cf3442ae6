"""Builds a realistic lineage for the publish/card/report tests from the shipped real traces:
generate (replay of Sky-T1 long CoT + Qwen2.5-14B short CoT on MATH-500, plus a few HumanEval
problems answered with their canonical solution) -> filter (format, math labels, language,
readability; kept + rejected/, funnel in stats) -> dedup (one trace per problem) ->
decontaminate (hits per benchmark) -> SFT folder with train/ and validation/ (split by problem).

Every count recorded in a manifest is computed from the rows here, so the tests can check the
card's numbers against the manifests."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id, sft_id, trace_id

from factory.io.dataset import DatasetWriter, write_dataset

SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 16384, "n": 1, "seed": 0,
            "top_k": None, "prompt_preset": "qwen", "extra": None}
RECIPE = {"name": "quickstart", "seed": 0, "stages": ["generate", "filter", "dedup", "decontaminate", "curate"],
          "curate": {"mix": {"math": 0.9, "code": 0.1}, "split": {"validation": 0.1}}}


def _think_split(completion: str) -> tuple[str | None, str | None, bool]:
    m = re.search(r"<\|begin_of_thought\|>(.*?)(<\|end_of_thought\|>|$)", completion, flags=re.S)
    if m:
        finished = bool(m.group(2))
        rest = completion[m.end():]
        rest = re.sub(r"<\|(begin|end)_of_solution\|>", "", rest).strip()
        return m.group(1).strip(), (rest or None), finished
    # short CoT: the reasoning is the text before the final boxed line
    paras = completion.strip().split("\n\n")
    return "\n\n".join(paras[:-1]).strip() or None, paras[-1].strip(), True


def _trace_rows(package_data: Path, n_math: int) -> list[dict]:
    rows = []
    files = [("skyt1_long_cot_math500.jsonl.gz", "Sky-T1-math-correct-5K-27B"),
             ("qwen25_14b_instruct_short_cot_math500.jsonl.gz", "Qwen2.5-14B-Instruct")]
    for fname, default_model in files:
        with gzip.open(package_data / "traces" / fname, "rt") as f:
            for i, line in enumerate(f):
                if i >= n_math:
                    break
                r = json.loads(line)
                completion = r["code"][0]
                reasoning, answer, finished = _think_split(completion)
                pid = problem_id("math", r["question"], r["gt"], None)
                teacher = r.get("model") or default_model
                rows.append({
                    "id": trace_id(pid, 0, teacher, completion),
                    "problem_id": pid, "sample_index": 0, "teacher": teacher, "backend": "replay",
                    "sampling": SAMPLING, "system_prompt": None, "prompt": r["question"], "completion": completion,
                    "reasoning": reasoning, "reasoning_finished": finished, "answer": answer,
                    "finish_reason": "stop" if finished else "length",
                    "prompt_tokens": None, "completion_tokens": None, "domain": "math", "source": "math500",
                    "problem": r["question"], "reference_answer": r["gt"], "tests": None, "difficulty": None,
                    "level": int(r["level"]), "language": "en", "license": "Apache-2.0",
                    "meta": json.dumps({"label": bool(r["score"][0])}),
                })
    with gzip.open(package_data / "benchmarks" / "HumanEval.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i >= 6:
                break
            r = json.loads(line)
            program = r["prompt"] + r["canonical_solution"]
            reasoning = f"I need to implement `{r['entry_point']}` as the docstring says, then check it on the examples."
            answer = f"```python\n{program}```"
            completion = f"<think>\n{reasoning}\n</think>\n\n{answer}"
            pid = problem_id("code", r["prompt"], None, None)
            rows.append({
                "id": trace_id(pid, 0, "canonical", completion),
                "problem_id": pid, "sample_index": 0, "teacher": "HumanEval canonical solution",
                "backend": "replay", "sampling": SAMPLING, "system_prompt": None, "prompt": r["prompt"],
                "completion": completion, "reasoning": reasoning, "reasoning_finished": True, "answer": answer,
                "finish_reason": "stop", "prompt_tokens": None, "completion_tokens": None, "domain": "code",
                "source": "humaneval", "problem": r["prompt"], "reference_answer": None, "tests": None,
                "difficulty": "easy", "level": None, "language": "en", "license": "MIT",
                "meta": json.dumps({"label": True}),
            })
    return rows


def _write(path: Path, rows: list[dict], *, command: str, params: dict, stats: dict | None = None,
           schema: pa.Schema | None = None) -> None:
    with DatasetWriter(path, "trace", command=command, params=params, schema=schema) as w:
        w.write_rows(rows)
        w.stats.update(stats or {})


def _step(name: str, before: list[dict], after: list[dict]) -> dict:
    bin_ = Counter(r["domain"] for r in before)
    aout = Counter(r["domain"] for r in after)
    # the shape filters/base.py's Funnel records: by_domain {domain: [in, out]}
    return {"filter": name, "in": len(before), "out": len(after),
            "by_domain": {d: [bin_[d], aout.get(d, 0)] for d in sorted(bin_)}}


def _lang_score(text: str) -> float:
    # share of letters that are Latin: these traces are English; Sky-T1 has a few symbols only
    letters = [c for c in text if c.isalpha()]
    return round(sum(c.isascii() for c in letters) / len(letters), 4) if letters else 1.0


def build_lineage(root: Path, package_data: Path, *, n_math: int = 30, record_lineage: bool = True) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    gen, filt, dedup, decon, sft = (root / n for n in ("traces", "filtered", "deduped", "decontaminated", "sft"))
    traces = _trace_rows(package_data, n_math)
    _write(gen, traces, command="factory generate --backend replay",
           params={"teacher": "replay", "backend": "replay", "sampling": SAMPLING})

    # filter: format -> verified (authors' labels) -> language -> readability
    score_schema = TRACE_SCHEMA.append(pa.field("score_language", pa.float64())).append(pa.field("verdict_math", pa.string()))
    for r in traces:
        r["score_language"] = _lang_score(r["reasoning"] or "")
        r["verdict_math"] = "correct" if json.loads(r["meta"])["label"] else "wrong"
    steps, kept, rejected = [], traces, []
    rules = [
        ("format", lambda r: r["reasoning_finished"] and bool(r["answer"])),
        ("math_verify", lambda r: r["verdict_math"] == "correct"),
        ("language", lambda r: r["score_language"] >= 0.99),
        ("readability", lambda r: max((len(p) for p in (r["reasoning"] or "").split("\n\n")), default=0) < 3000),
    ]
    for name, ok in rules:
        nxt = [r for r in kept if ok(r)]
        rejected += [{**r, "reject_reason": name} for r in kept if not ok(r)]
        steps.append(_step(name, kept, nxt))
        kept = nxt
    funnel = {"rows_in": len(traces), "rows_out": len(kept), "steps": steps,
              "rejected_by": {name: {"fail": n} for name, n in Counter(r["reject_reason"] for r in rejected).items()},
              "by_domain": {d: {"in": sum(r["domain"] == d for r in traces), "out": n}
                            for d, n in Counter(r["domain"] for r in kept).items()}}
    _write(filt, kept, command="factory filter", params={"input": str(gen)}, stats={"funnel": funnel}, schema=score_schema)
    _write(filt / "rejected", rejected, command="factory filter (rejected)", params={},
           schema=score_schema.append(pa.field("reject_reason", pa.string())))

    # dedup by problem: keep the first trace of each problem
    seen, dd = set(), []
    for r in kept:
        if r["problem_id"] not in seen:
            seen.add(r["problem_id"])
            dd.append(r)
    _write(dedup, dd, command="factory dedup", params={"input": str(filt)},
           stats={"rows_in": len(kept), "rows_out": len(dd), "clusters": len(dd),
                  "rejected_by": {"exact_duplicate": len(kept) - len(dd)}}, schema=score_schema)

    # decontaminate: every MATH-500 problem is a MATH-500 hit; drop two of them as a real stage would
    hits = [r for r in dd if r["source"] == "math500"][:2]
    dc = [r for r in dd if r not in hits]
    hit_report = {"rows_in": len(dd), "rows_out": len(dc), "contaminated": len(hits), "ngram": 8,
                  "hits_by_benchmark": {"aime24": 0, "gsm8k": 0, "humaneval": 0, "math500": len(hits)},
                  "rejected_by": {"decontam:math500": len(hits)}}
    _write(decon, dc, command="factory decontaminate", params={"input": str(dedup)}, stats=hit_report, schema=score_schema)

    # curate: shortcut SFT rows, split by problem (every 5th problem to validation)
    split_rows: dict[str, list[dict]] = defaultdict(list)
    for i, r in enumerate(sorted(dc, key=lambda r: r["problem_id"])):
        messages = [{"role": "user", "content": r["problem"]},
                    {"role": "assistant", "content": f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"}]
        split = "validation" if i % 5 == 4 else "train"
        split_rows[split].append({
            "id": sft_id(messages, "shortcut"),
            "messages": messages, "trace_ids": [r["id"]], "problem_id": r["problem_id"], "kind": "shortcut",
            "domain": r["domain"], "source": r["source"], "language": "en", "license": r["license"], "meta": None,
        })
    # the shape factory/curate.py records: its own funnel, the mix's buckets, per-split reports
    curate_funnel = {"traces_in": len(dc), "duplicate_trace_ids": 0, "dropped": {"answer_missing": 0},
                     "qualifying": len(dc), "after_per_problem": len(dc)}
    n_math, n_code = sum(r["domain"] == "math" for r in dc), sum(r["domain"] == "code" for r in dc)
    mix = {"buckets": [{"name": "math", "quota": n_math, "available": n_math, "taken": n_math, "upsampled": 0},
                       {"name": "code", "quota": n_code, "available": n_code, "taken": n_code, "upsampled": 0}],
           "warnings": []}
    by_diff = {split: dict(Counter(str(r["level"]) if r["level"] is not None else (r["difficulty"] or "unknown")
                                   for r in dc if any(x["trace_ids"] == [r["id"]] for x in rows)))
               for split, rows in split_rows.items()}
    for split, rows in split_rows.items():
        write_dataset(sft / split, "sft", rows, command="factory curate --recipe quickstart",
                      params={"recipe": RECIPE, **({"lineage": [str(decon)]} if record_lineage else {})},
                      stats={"split": split, "funnel": curate_funnel, "mix": mix,
                             **{sp: {"rows": len(rs), "by_difficulty": by_diff[sp]} for sp, rs in split_rows.items()}})
    return {"generated": gen, "filtered": filt, "deduped": dedup, "decontaminated": decon, "sft": sft}

