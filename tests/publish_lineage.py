"""A realistic run folder for the publish/card/report tests, built from the shipped real traces
with REAL stage records (every folder is written through factory.pipeline.runner.run_stage, so
each holds the stage.json a recipe run writes), shaped like the quickstart: two parallel
branches from the same problems that merge at curate.

    @data/traces/skyt1...jsonl.gz ─ingest─► problems/math ─dedup─► problems/math_dedup ─decontaminate─► problems/math_clean
    problems/math_clean + public/long_cot  ─generate (replay, Sky-T1)──────► traces/long_cot ─verify─► verified/long_cot ─filter─► filtered/long_cot ─┐
    problems/math_clean + public/short_cot ─generate (vllm, Qwen2.5-14B)────► traces/short_cot ─verify─► verified/short_cot ─filter─► filtered/short_cot ├─curate─► sft/{train,validation}
    problems/code ─generate (HumanEval canonical)─► traces/code ─verify─► verified/code ──────────────────────────────────────────────────────────────┤
    verified/long_cot/rejected (wrong attempts, for journeys) ──────────────────────────────────────────────────────────────────────────────────┘

dedup and decontaminate are the real engines (converted stages: `run_section`); ingest,
generate, verify, filter and curate are hand-run through the same runner with their real output
shapes (rows, rejected/ with reject_reason, manifest stats and run), until those stages record
themselves. Every count a test checks is recomputed from the rows here, never copied."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id, sft_id, trace_id
from factory.schemas.options import opt

from factory.io.dataset import DatasetWriter, write_dataset
from factory.pipeline.recipe import run_section
from factory.pipeline.runner import StageContext, run_stage

SKY, QWEN, CODE = "Sky-T1-math-correct-5K-27B", "Qwen/Qwen2.5-14B-Instruct", "HumanEval canonical solution"
SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 16384, "n": 1, "seed": 0,
            "top_k": None, "prompt_preset": "qwen", "extra": json.dumps({"run_seed": 0, "prefill": None})}
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
# the recipe curate records in its manifest (embedded in the card as it is)
RECIPE = {"name": "quickstart", "seed": 0, "stages": ["ingest", "dedup", "decontaminate", "generate", "verify", "filter", "curate"],
          "curate": {"per_problem": {"policy": "shortest-correct"}, "output": {"validation_fraction": 0.2}}}
# the vLLM branch's recorded price: 0.02 GPU-hours at $2.50 per GPU-hour
GPU_HOURS, COST = 0.02, 0.05


@dataclass(kw_only=True)
class HandRun:
    """Options of a hand-run stage: what it read and where it wrote (recorded like any stage)."""

    inputs: list[str] = opt(default_factory=list, help="Folders or files read.", role="input")
    out: str = opt(help="Output folder.", role="output")
    filters: list[str] = opt(default_factory=list, help="Filters, in order.")


def _stage(root: Path, kind: str, entry: str, inputs: list[Path], out: Path, write: Callable[[Path], dict[str, Any]],
           filters: list[str] = ()) -> None:
    opts = HandRun(inputs=[str(p) for p in inputs], out=str(out), filters=list(filters))
    ctx = StageContext(stage=entry, command=f"factory run quickstart: {entry}", log=lambda s: None, progress=False,
                       run_dir=root, recipe_name="quickstart")
    run_stage(kind, opts, ctx, lambda o, c: write(Path(o.out)))


def card_table(card: str, heading: str, after: str | None = None) -> list[list[str]]:
    """The first table of a card section (or the first after the line starting with `after`
    inside it), without its header row; cells stripped of backticks."""
    section = card.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    if after:
        section = section.split(after, 1)[1]
    table = section[section.index("\n|") + 1:].split("\n\n", 1)[0]
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    return [[c.strip().strip("`") for c in re.split(r"(?<!\\)\|", ln.strip())[1:-1]] for ln in lines[1:]]


def card_tree(card: str) -> list[str]:
    """The lineage drawing's lines."""
    return card.split("## Lineage", 1)[1].split("```text\n", 1)[1].split("\n```", 1)[0].splitlines()


def _think_split(completion: str) -> tuple[str | None, str | None, bool]:
    m = re.search(r"<\|begin_of_thought\|>(.*?)(<\|end_of_thought\|>|$)", completion, flags=re.S)
    if m:
        rest = re.sub(r"<\|(begin|end)_of_solution\|>", "", completion[m.end():]).strip()
        return m.group(1).strip(), (rest or None), bool(m.group(2))
    paras = completion.strip().split("\n\n")  # short CoT: the reasoning is the text before the final line
    return "\n\n".join(paras[:-1]).strip() or None, paras[-1].strip(), True


def _problem_row(domain: str, text: str, answer: str | None, level: int | None, source: str, license: str) -> dict:
    return {"id": problem_id(domain, text, answer, None), "source": source, "source_id": None, "domain": domain,
            "problem": text, "reference_answer": answer, "reference_solution": None, "tests": None,
            "difficulty": None if level is not None else "easy", "level": level, "language": "en", "license": license,
            "meta": None}


def _read_math(package_data: Path, fname: str, n: int) -> list[dict]:
    with gzip.open(package_data / "traces" / fname, "rt") as f:
        return [json.loads(line) for _, line in zip(range(n), f)]


def _trace(p: dict, teacher: str, backend: str, completion: str, label: bool, system: str | None,
           tokens: tuple[int, int] | None) -> dict:
    reasoning, answer, finished = _think_split(completion)
    return {
        "id": trace_id(p["id"], 0, teacher, completion), "problem_id": p["id"], "sample_index": 0, "teacher": teacher,
        "backend": backend, "sampling": {**SAMPLING, "seed": zlib.crc32(f"{p['id']}{teacher}".encode())},  # per-sample seed
        "system_prompt": system, "prompt": p["problem"], "completion": completion, "reasoning": reasoning,
        "reasoning_finished": finished, "answer": answer, "finish_reason": "stop" if finished else "length",
        "prompt_tokens": tokens[0] if tokens else None, "completion_tokens": tokens[1] if tokens else None,
        "domain": p["domain"], "source": p["source"], "problem": p["problem"], "reference_answer": p["reference_answer"],
        "tests": None, "difficulty": p["difficulty"], "level": p["level"], "language": "en", "license": p["license"],
        "meta": json.dumps({"label": label}),
    }


def _lang_score(text: str) -> float:
    letters = [c for c in text if c.isalpha()]  # these traces are English: share of Latin letters
    return round(sum(c.isascii() for c in letters) / len(letters), 4) if letters else 1.0


def _scored_schema() -> pa.Schema:
    return TRACE_SCHEMA.append(pa.field("score_language", pa.float64())).append(pa.field("verdict_math", pa.string()))


def _write_filtered(out: Path, rows: list[dict], rules: list[tuple[str, Callable[[dict], str | None]]], schema: pa.Schema,
                    command: str) -> dict:
    """Kept rows in OUT, rejected ones in OUT/rejected with `reject_reason` = `filter:verdict` of the
    first filter that said no; the funnel in stats as filters/base.py records it."""
    kept, rejected, steps = rows, [], []
    for name, why in rules:
        nxt = []
        for r in kept:
            v = why(r)
            (nxt.append(r) if v is None else rejected.append({**r, "reject_reason": f"{name}:{v}"}))
        steps.append({"filter": name, "in": len(kept), "out": len(nxt)})
        kept = nxt
    by_reason: dict[str, Counter] = defaultdict(Counter)
    for r in rejected:
        f, v = r["reject_reason"].split(":", 1)
        by_reason[f][v] += 1
    funnel = {"rows_in": len(rows), "rows_out": len(kept), "steps": steps, "rejected_by": {k: dict(v) for k, v in by_reason.items()}}
    with DatasetWriter(out, "trace", command=command, schema=schema) as w:
        w.write_rows(kept)
        w.stats.update({"funnel": funnel})
    with DatasetWriter(out / "rejected", "trace", command=command, schema=schema.append(pa.field("reject_reason", pa.string()))) as w:
        w.write_rows(rejected)
    return {"rows_in": len(rows), "rows_out": len(kept), "rows_rejected": len(rejected)}


def build_lineage(root: Path, package_data: Path, *, n_math: int = 30) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    P = {k: root / k for k in ("problems/math", "problems/math_dedup", "problems/math_clean", "problems/code",
                               "public/long_cot", "public/short_cot", "traces/long_cot", "traces/short_cot", "traces/code",
                               "verified/long_cot", "verified/short_cot", "verified/code", "filtered/long_cot",
                               "filtered/short_cot", "sft")}
    sky_file = package_data / "traces" / "skyt1_long_cot_math500.jsonl.gz"
    qwen_file = package_data / "traces" / "qwen25_14b_instruct_short_cot_math500.jsonl.gz"
    sky, qwen = _read_math(package_data, sky_file.name, n_math), _read_math(package_data, qwen_file.name, n_math)

    # problems: the MATH-500 questions of the traces, plus two copies with one space doubled
    # (exact duplicates after whitespace normalisation: the real dedup removes them)
    probs = [_problem_row("math", r["question"], r["gt"], int(r["level"]), "math500", "Apache-2.0") for r in sky]
    dups = [_problem_row("math", probs[i]["problem"].replace(" ", "  ", 1), probs[i]["reference_answer"], probs[i]["level"], "math500-copy",
                         "Apache-2.0") for i in (0, 1)]
    _stage(root, "ingest", "ingest/math", [sky_file], P["problems/math"],
           lambda out: {"rows": write_dataset(out, "problem", probs + dups, command="factory run quickstart: ingest/math").rows})
    run_section("dedup", {"input": "problems/math", "out": "problems/math_dedup", "method": "exact"}, run_dir=root, log=lambda s: None)
    # decontaminate against a benchmark made of two of the problems: exactly those two are removed
    bench = root / "bench.jsonl"
    bench.write_text("".join(json.dumps({"problem": probs[i]["problem"]}) + "\n" for i in (3, 4)))
    run_section("decontaminate", {"input": "problems/math_dedup", "out": "problems/math_clean", "builtin": ["none"],
                                  "benchmarks": [f"mybench={bench}:problem"]}, run_dir=root, log=lambda s: None)
    from factory.io.dataset import read_table

    clean = {r["id"]: r for r in read_table(P["problems/math_clean"]).to_pylist()}

    # the public traces, ingested as they are
    def ingest_traces(src_rows: list[dict], teacher: str, out_key: str, file: Path) -> list[dict]:
        rows = []
        for r, p in zip(src_rows, probs):
            rows.append(_trace(p, teacher, "replay", r["code"][0], bool(r["score"][0]), None, None))
        _stage(root, "ingest", f"ingest/{out_key.split('/')[1]}", [file], P[out_key],
               lambda out: {"rows": write_dataset(out, "trace", rows).rows})
        return rows

    pub_long = ingest_traces(sky, SKY, "public/long_cot", sky_file)
    pub_short = ingest_traces(qwen, QWEN, "public/short_cot", qwen_file)

    # generate: the long-CoT branch replays Sky-T1 for free; the short-CoT branch was (as if) served
    # by vLLM on one GPU with a recorded price and token counts
    def generate(entry: str, pub_rows: list[dict], out_key: str, backend: str, system: str | None, run: dict) -> list[dict]:
        rows = []
        for r in pub_rows:
            if r["problem_id"] in clean:
                tok = (len(r["prompt"]) // 4, len(r["completion"]) // 3) if backend == "vllm" else None
                t = _trace(clean[r["problem_id"]], r["teacher"], backend, r["completion"], json.loads(r["meta"])["label"], system, tok)
                rows.append(t)

        def write(out: Path) -> dict:
            with DatasetWriter(out, "trace", command=f"factory run quickstart: {entry}") as w:
                w.write_rows(rows)
                w.run.update(run)
            return {"rows": len(rows)}

        _stage(root, "generate", entry, [P["problems/math_clean"], P[out_key.replace("traces", "public")]], P[out_key], write)
        return rows

    t_long = generate("generate/long-cot", pub_long, "traces/long_cot", "replay", None,
                      {"gpus": 0, "gpu_hours": 0.0, "cost_usd": None})
    t_short = generate("generate/short-cot", pub_short, "traces/short_cot", "vllm", SYSTEM,
                       {"gpus": 1, "gpu_hours": GPU_HOURS, "cost_usd": {"gpu": COST, "total": COST}})

    # code: six HumanEval problems answered by their canonical solution
    code_probs, t_code = [], []
    with gzip.open(package_data / "benchmarks" / "HumanEval.jsonl.gz", "rt") as f:
        for _, line in zip(range(6), f):
            r = json.loads(line)
            p = _problem_row("code", r["prompt"], None, None, "humaneval", "MIT")
            code_probs.append(p)
            reasoning = f"I need to implement `{r['entry_point']}` as the docstring says, then check it on the examples."
            t_code.append(_trace(p, CODE, "replay", f"<think>\n{reasoning}\n</think>\n\n```python\n{r['prompt'] + r['canonical_solution']}```",
                                 True, None, None))
    _stage(root, "ingest", "ingest/code", [package_data / "benchmarks" / "HumanEval.jsonl.gz"], P["problems/code"],
           lambda out: {"rows": write_dataset(out, "problem", code_probs).rows})

    def gen_code(out: Path) -> dict:
        with DatasetWriter(out, "trace", command="factory run quickstart: generate/code") as w:
            w.write_rows(t_code)
            w.run.update({"gpus": 0, "gpu_hours": 0.0, "cost_usd": None})
        return {"rows": len(t_code)}

    _stage(root, "generate", "generate/code", [P["problems/code"]], P["traces/code"], gen_code)

    # verify (the authors' labels stand for the math check), then the format/readability/language filters
    schema = _scored_schema()
    for rows in (t_long, t_short, t_code):
        for r in rows:
            r["score_language"] = _lang_score(r["reasoning"] or "")
            r["verdict_math"] = "correct" if json.loads(r["meta"])["label"] else "wrong"
    math_rule = [("math", lambda r: None if r["verdict_math"] == "correct" else "wrong")]
    for name, rows in (("long_cot", t_long), ("short_cot", t_short), ("code", t_code)):
        rules = math_rule if name != "code" else [("code", lambda r: None)]
        _stage(root, "verify", f"verify/{name}", [P[f"traces/{name}"]], P[f"verified/{name}"],
               lambda out, rows=rows, rules=rules, name=name: _write_filtered(out, rows, rules, schema, f"factory run quickstart: verify/{name}"),
               filters=[rules[0][0]])
    from factory.io.dataset import read_table as rt

    fmt = ("format", lambda r: None if r["reasoning_finished"] and r["answer"] else "unclosed_think")
    lang = ("language", lambda r: None if r["score_language"] >= 0.99 else "mixed")
    readable = ("readability", lambda r: None if max((len(p) for p in (r["reasoning"] or "").split("\n\n")), default=0) < 3000 else "long_paragraph")
    for name, rules in (("long_cot", [fmt, readable, lang]), ("short_cot", [readable, lang])):
        rows = rt(P[f"verified/{name}"]).to_pylist()
        _stage(root, "filter", f"filter/{name}", [P[f"verified/{name}"]], P[f"filtered/{name}"],
               lambda out, rows=rows, rules=rules, name=name: _write_filtered(out, rows, rules, schema, f"factory run quickstart: filter/{name}"),
               filters=[r[0] for r in rules])

    # curate: one shortcut row per problem (its correct long-CoT trace when there is one, else the
    # shortest correct one), plus a journey (a wrong long-CoT attempt, then a correct short-CoT one) for
    # the first three problems that have both; every 5th row to validation
    sources = [P["filtered/long_cot"], P["filtered/short_cot"], P["verified/code"], P["verified/long_cot"] / "rejected"]
    good = [r for s in sources[:3] for r in rt(s).to_pylist()]
    wrong = [r for r in rt(sources[3]).to_pylist() if r["reject_reason"] == "math:wrong"]
    best: dict[str, dict] = {}
    for r in sorted(good, key=lambda r: (r["teacher"] != SKY, len(r["completion"]), r["id"])):  # long CoT first
        best.setdefault(r["problem_id"], r)
    sft_rows = []
    for r in sorted(best.values(), key=lambda r: r["problem_id"]):
        msgs = [{"role": "user", "content": r["problem"]}, {"role": "assistant", "content": f"<think>\n{r['reasoning']}\n</think>\n\n{r['answer']}"}]
        sft_rows.append({"id": sft_id(msgs, "shortcut"), "messages": msgs, "trace_ids": [r["id"]], "problem_id": r["problem_id"],
                         "kind": "shortcut", "domain": r["domain"], "source": r["source"], "language": "en", "license": r["license"],
                         "meta": json.dumps({"teacher": r["teacher"]})})
    short_ok = {r["problem_id"]: r for r in good if r["teacher"] == QWEN}
    for w in [w for w in wrong if w["problem_id"] in short_ok][:3]:
        c = short_ok[w["problem_id"]]
        msgs = [{"role": "user", "content": c["problem"]},
                {"role": "assistant", "content": f"<think>\n{w['reasoning'] or ''}\n\nWait, let me check that again.\n\n{c['reasoning']}\n</think>\n\n{c['answer']}"}]
        sft_rows.append({"id": sft_id(msgs, "journey"), "messages": msgs, "trace_ids": [w["id"], c["id"]], "problem_id": c["problem_id"],
                         "kind": "journey", "domain": "math", "source": c["source"], "language": "en", "license": c["license"],
                         "meta": json.dumps({"wrong_teacher": w["teacher"], "correct_teacher": c["teacher"]})})
    splits: dict[str, list[dict]] = defaultdict(list)
    for i, r in enumerate(sft_rows):
        splits["validation" if i % 5 == 4 else "train"].append(r)
    n_dom = Counter(r["domain"] for r in sft_rows)
    mix = {"buckets": [{"name": d, "quota": n, "available": n, "taken": n, "upsampled": 0} for d, n in sorted(n_dom.items())]}

    def curate(out: Path) -> dict:
        for split, rows in splits.items():
            write_dataset(out / split, "sft", rows, command="factory run quickstart: curate", params={"recipe": RECIPE},
                          stats={"split": split, "mix": mix, "funnel": {"traces_in": len(good) + len(wrong)}})
        return {"rows": len(sft_rows)}

    _stage(root, "curate", "curate", sources, P["sft"], curate)
    (root / "run.json").write_text(json.dumps({"recipe": "quickstart", "seed": 0, "overrides": ["curate.mix.size=auto"]}))
    return P
