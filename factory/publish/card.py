"""The dataset card, generated from the stage records and the rows (never hand-written): what
the set is, its lineage drawn as a DAG (parallel branches and where they merge), the funnel with
every folder once (rows in, out, rejected, and the rows left after each filter; rejected counts
are the `rejected/` folders' own rows), the drops by reason, the teachers (traces generated,
kept after each filter, used, tokens, GPU-hours, cost, and both per accepted sample) with their
sampling parameters and system prompts, the recipe, acceptance by difficulty, decontamination
hits, the mix, token lengths, sources and licenses, an example row and how to load it.

A part the folders do not record is written as "not recorded". The text holds no absolute path
(folders are named relative to the run folder; see factory.publish.lineage) and no clock time,
so the same folders give the same card (and re-publishing uploads nothing new).

Exercise: `factory publish runs/quickstart/sft -o runs/quickstart/hub --dry-run` (README.md).
"""

from __future__ import annotations

import json
from typing import Any

from factory.publish.facts import Facts
from factory.publish.lineage import Node, tree_lines

NOT_RECORDED = "_not recorded_"
_EXAMPLE_CHARS = 700  # long chains of thought are cut in the middle in the example
_PROMPT_CHARS = 160
UNITS = {"problem": ("problem", "problems"), "trace": ("trace", "traces"), "sft": ("SFT row", "SFT rows")}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "–"


def _n(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def units(unit: str, n: int | None = None) -> str:
    one, many = UNITS.get(unit, ("row", "rows"))
    return one if n == 1 else many


def _cut(text: str, n: int = _EXAMPLE_CHARS) -> str:
    if len(text) <= n:
        return text
    head, tail = text[: n * 2 // 3], text[-n // 3:]
    return f"{head}\n[… {len(text) - len(head) - len(tail)} characters cut for the card …]\n{tail}"


def build_card(
    facts: Facts,
    *,
    repo_id: str | None = None,
    config: str = "default",
    pretty_name: str | None = None,
    report_file: str | None = "report.html",
) -> str:
    name = pretty_name or (repo_id.split("/")[-1] if repo_id else facts.src.resolve().name)
    parts = [f"# {name}", _summary(facts), _what(facts, config), _lineage(facts), _funnel(facts), _teachers(facts),
             _recipe(facts), _acceptance(facts), _decontamination(facts), _mix(facts), _tokens(facts), _sources(facts),
             _example(facts), _load(facts, repo_id, config), _provenance(report_file)]
    return facts.lineage.text("\n\n".join(p.strip() for p in parts if p) + "\n")


def _summary(f: Facts) -> str:
    what = "SFT examples (TRL conversational format)" if f.contract == "sft" else units(f.contract)
    teachers = ", ".join(f"`{t.name}`" for t in f.teachers or []) or "teachers not recorded"
    doms = ", ".join(f.domains) or "domains not recorded"
    return (f"{f.rows:,} {what} for training reasoning models by distillation, from {teachers}; "
            f"domains: {doms}. Made with `factory`: every number below is read from the stage records "
            "(`stage.json`) and manifests of the folders that produced it, or counted from their rows.")


def _what(f: Facts, config: str) -> str:
    lines = ["## What this is", ""]
    lines.append(f"- **Rows**: {f.rows:,} ({', '.join(f'{s}: {n:,}' for s, n in f.splits.items())}), config `{config}`")
    lines.append(f"- **Contract**: `{f.contract}`" + (" — `messages` (`[{role, content}]`), the assistant turn holding `<think>…</think>` then the answer; provenance in `trace_ids`, `problem_id`, `kind`, `domain`, `source`" if f.contract == "sft" else ""))
    lines.append("- **Domains**: " + (", ".join(f"{d} {n:,}" for d, n in f.domains.items()) or NOT_RECORDED))
    if f.contract == "sft":
        lines.append("- **Kinds**: " + (", ".join(f"{k} {n:,}" for k, n in f.kinds.items()) or NOT_RECORDED))
    lines.append("- **Languages**: " + (", ".join(f"{k} {n:,}" for k, n in f.languages.items()) or NOT_RECORDED))
    lines.append(f"- **Recipe**: {f'`{f.recipe_name}`' if f.recipe_name else NOT_RECORDED}")
    return "\n".join(lines)


def describe(f: Facts, node: Node, part: str = ".") -> str:
    """One node in words: `verify · 16 of 28 traces kept (12 rejected)`."""
    row = next(r for r in f.funnel if r.key == node.key)
    if node.kind == "file":
        return "file"
    if node.kind == "folder":
        return "folder (no stage record)" if node.key != f.name else "folder of splits (no stage record)"
    if node.kind == "remote":
        return "named by id (Hub or served model)"
    if node.kind == "missing":
        return "not found (moved or deleted since it was read)"
    if node.kind == "unfinished":
        return "unfinished run (no stage record yet)"
    stage = node.stage or "dataset, no stage record"
    if part != "." and part in row.parts:
        return f"{stage} · {row.parts[part]:,} {units(row.unit, row.parts[part])}"
    if row.rows_in is not None:
        return f"{stage} · {row.rows:,} of {row.rows_in:,} {units(row.unit)} kept ({row.rejected:,} rejected)"
    split = [p for p in row.parts if p not in (".", "rejected")]
    detail = f" ({', '.join(f'{p} {row.parts[p]:,}' for p in split)})" if split else ""
    return f"{stage} · {_n(row.rows)} {units(row.unit, row.rows)}{detail}"


def _lineage(f: Facts) -> str:
    lin = f.lineage
    head = "## Lineage"
    top = lin.nodes[lin.top]
    if top.kind != "stage":
        return (f"{head}\n\n{NOT_RECORDED}: `{f.name}` holds no stage record (`stage.json`), so the folders it was made from "
                "are unknown. Publish a folder a factory stage wrote to get its lineage, funnel and teachers.")
    lines = [head, "", "Read from the published folder back to the sources: each folder's inputs are its branches, "
             "and a folder two branches share is drawn once (later mentions say ↑ above). Folders are named relative to the run folder.",
             "", "```text", *tree_lines(lin, lambda n, p: describe(f, n, p)), "```"]
    if f.notes:
        lines += ["", *[f"- Note: {n}" for n in f.notes]]
    return "\n".join(lines)


def _funnel(f: Facts) -> str:
    rows_ = [r for r in f.funnel if r.rows is not None]
    if len(rows_) <= 1:
        return ""
    domains = sorted({d for r in rows_ for d in (r.by_domain or {})})
    lines = ["## Funnel", "", "Every folder once, sources first. *Rows in* = kept + rejected for a stage that drops rows; "
             "*after each filter* lists the rows left after each of its filters (a row is dropped by the first one it fails)."]
    table = []
    for r in rows_:
        steps = " → ".join(f"{s} {n:,}" for s, n in r.steps) if len(r.steps) > 1 else ""
        table.append([f"`{r.key}`", r.stage or "–", units(r.unit), ", ".join(f"`{i}`" for i in r.inputs) or "–", _n(r.rows_in),
                      _n(r.rows), _n(r.rejected), _pct(r.rows, r.rows_in) if r.rows_in is not None else "–", steps or "–",
                      *[f"{(r.by_domain or {}).get(d, 0):,}" if r.by_domain else "–" for d in domains]])
    lines += ["", _table(["folder", "stage", "of", "reads", "rows in", "rows out", "rejected", "kept", "after each filter", *domains], table)]
    drops = [r for r in rows_ if r.rejected]
    if drops:
        lines += ["", "Rejected rows by reason (counted from each `rejected/` folder; the reasons add up to its rows):", ""]
        drows = []
        for r in drops:
            for reason, n in r.reasons.items():
                drows.append([f"`{r.key}/rejected`", reason, f"{n:,}"])
        lines.append(_table(["folder", "reason", "rows"], drows))
    return "\n".join(lines)


def _money(v: float | None, partial: bool = False) -> str:
    if v is None:
        return "not recorded"
    return f"${v:,.4f}" + (" (partial)" if partial else "")


def _hours(v: float | None) -> str:
    return "not recorded" if v is None else f"{v:,.4g}"


def _teachers(f: Facts) -> str:
    head = "## Teachers"
    if not f.teachers:
        return (f"{head}\n\n{NOT_RECORDED} (no folder in the recorded lineage holds trace rows with a `teacher` column)")
    accepted = "in this set"
    rows = []
    for t in f.teachers:
        tok = (f"≈ {t.tokens:,}" if t.tokens_estimated_rows else f"{t.tokens:,}")
        rows.append([f"`{t.name}`", ", ".join(t.backends), f"{t.generated:,}", tok, _hours(t.gpu_hours), _money(t.cost, t.cost_partial),
                     _n(t.accepted), _hours(t.per_accepted(t.gpu_hours)) if t.accepted else "–",
                     _money(t.per_accepted(t.cost)) if t.accepted and t.cost is not None else ("–" if not t.accepted else "not recorded")])
    text = [head, "", "Read from the trace rows (`teacher`, `backend`, `sampling`, `system_prompt`) of the folders generate wrote, "
            "and generate's manifest (`run`: GPU-hours, cost). A row of this set counts for the teacher of its last trace "
            "(the one whose answer ends it).", "",
            _table(["teacher", "backend", f"traces {f.teachers[0].generated_label}", "tokens generated", "GPU-hours", "cost (USD)",
                    accepted, "GPU-hours per accepted sample", "cost per accepted sample"], rows)]
    notes = []
    if any(t.tokens_estimated_rows for t in f.teachers):
        notes.append("≈: the teacher recorded no token counts for some traces (replayed public traces); those are estimated as characters / 4.")
    if any("replay" in t.backends for t in f.teachers):
        notes.append("The replay backend serves existing traces: its runs use no GPU, and the original cost of those traces is not recorded.")
    if any(t.cost is None for t in f.teachers):
        notes.append("Cost is recorded when generate is given a price (`price_per_gpu_hour` or `price_per_million_tokens`).")
    if f.unattributed:
        notes.append(f"{f.unattributed:,} row(s) of this set have no trace of a recorded teacher (non-reasoning rows or traces from outside the lineage).")
    if notes:
        text += ["", *[f"- {n}" for n in notes]]
    if f.step_labels:
        krows = []
        for t in f.teachers:
            krows.append([f"`{t.name}`", f"{t.generated:,}", *[_n(t.kept.get(lab)) for lab in f.step_labels], _n(t.accepted)])
        text += ["", "Traces of each teacher left after each filter (– : the teacher's branch does not run it):", "",
                 _table(["teacher", t.generated_label, *f.step_labels, accepted], krows)]
    if f.sampling:
        srows = []
        for s in f.sampling:
            sp = s.system_prompt
            sp = "none" if not sp else (sp if len(sp) <= _PROMPT_CHARS else sp[: _PROMPT_CHARS - 1] + "…")
            srows.append([f"`{s.teacher}`", s.backend, ", ".join(f"{k}={v}" for k, v in s.sampling.items()) or NOT_RECORDED, sp, f"{s.rows:,}"])
        text += ["", "Sampling parameters (without the per-sample seed) and system prompts, as recorded in the rows:", "",
                 _table(["teacher", "backend", "sampling", "system prompt", "traces"], srows)]
    return "\n".join(text)


def _recipe(f: Facts) -> str:
    if not f.recipe_yaml:
        return f"## Recipe\n\n{NOT_RECORDED}" + (f" (name: `{f.recipe_name}`)" if f.recipe_name else "")
    return f"## Recipe\n\nThe recipe that made this set:\n\n```yaml\n{f.recipe_yaml.strip()}\n```"


def _acceptance(f: Facts) -> str:
    head = "## Acceptance by difficulty"
    if not f.acceptance:
        return f"{head}\n\n{NOT_RECORDED} (needs generated traces with `level` or `difficulty` in the recorded lineage)"
    has_kept = any(a["kept"] is not None for a in f.acceptance)
    rows = []
    for a in f.acceptance:
        row = [a["difficulty"], f"{a['generated']:,}"]
        if has_kept:
            row.append(_n(a["kept"]))
        rows.append([*row, f"{a['used']:,}", f"{100 * a['rate']:.1f}%"])
    header = ["difficulty", "traces generated", *(["passed every filter"] if has_kept else []), "accepted", "acceptance"]
    return (f"{head}\n\nAccepted: distinct traces that end a row of this set (a journey's wrong attempt is not counted); "
            "acceptance = accepted / generated.\n\n" + _table(header, rows))


def _decontamination(f: Facts) -> str:
    head = "## Decontamination"
    if not f.decontamination:
        return f"{head}\n\n{NOT_RECORDED} (no decontaminate stage in the recorded lineage)"
    out = [head]
    for d in f.decontamination:
        rows = [[b, f"{h:,}", f"{r:,}"] for b, h, r in d["rows"]]
        total = sum(r for _, _, r in d["rows"])
        verb = "removed" if d.get("action") != "flag" else "flagged (kept, `verdict_decontam`)"
        out += ["", f"`{d['key']}`: {units(d['unit'])} matching a benchmark by word n-gram overlap; {total:,} {verb}.", "",
                _table(["benchmark", "hits", "removed"], rows)]
    return "\n".join(out)


def _mix(f: Facts) -> str:
    if not f.mix:
        return f"## Mix\n\n{NOT_RECORDED}"
    kinds = sorted({k for d in f.mix.values() for k in d})
    rows = [[d, *[f"{c.get(k, 0):,}" for k in kinds], f"{sum(c.values()):,}"] for d, c in f.mix.items()]
    text = "## Mix\n\n" + _table(["domain", *kinds, "total"], rows)
    mr = f.mix_report
    if mr and mr.get("buckets"):
        cols = ["name", "quota", "available", "taken", "upsampled"]
        brows = [[b.get(c) if b.get(c) is not None else "–" for c in cols] for b in mr["buckets"]]
        text += "\n\nQuotas of the recipe's mix and what was available (recorded by the curate stage):\n\n" + _table(["bucket", *cols[1:]], brows)
    elif mr:
        text += f"\n\nMix report recorded by the curate stage (`{mr['key']}`):\n\n```json\n{json.dumps(mr['value'], indent=2, sort_keys=True, default=str)}\n```"
    if mr and mr.get("by_difficulty"):
        bd = mr["by_difficulty"]
        diffs = sorted({str(d) for v in bd.values() for d in v})
        drows = [[d, *[_n(bd[sp].get(d, 0)) if isinstance(bd[sp].get(d, 0), int) else bd[sp].get(d) for sp in bd]] for d in diffs]
        text += "\n\nRows per difficulty:\n\n" + _table(["difficulty", *bd], drows)
    return text


def _tokens(f: Facts) -> str:
    head = "## Token lengths"
    if not f.tokens:
        return f"{head}\n\n{NOT_RECORDED}"
    keys = ["p10", "p25", "p50", "p75", "p90", "p99", "max", "mean"]
    rows = []
    for part in ("reasoning", "answer"):
        p = f.percentiles(part)
        rows.append([part, *([f"{p[k]:,}" for k in keys] if p else ["–"] * len(keys))])
    return f"{head}\n\nPer row of this set, {f.token_method}.\n\n" + _table(["part", *keys], rows)


def _sources(f: Facts) -> str:
    if not f.sources:
        return f"## Sources and licenses\n\n{NOT_RECORDED}"
    rows = [[s, lic, f"{n:,}"] for s, lic, n in f.sources]
    return ("## Sources and licenses\n\nEach row keeps the license of the source its problem came from; "
            "follow the sources' terms when you reuse the rows.\n\n" + _table(["source", "license", "rows"], rows))


def _example(f: Facts) -> str:
    if f.example is None:
        return f"## Example row\n\n{NOT_RECORDED} (the set is empty)"
    ex = dict(f.example)
    if isinstance(ex.get("messages"), list):
        ex["messages"] = [{**m, "content": _cut(m.get("content") or "")} for m in ex["messages"]]
    for k in ("completion", "reasoning", "prompt", "problem"):
        if isinstance(ex.get(k), str):
            ex[k] = _cut(ex[k])
    return "## Example row\n\nThe first row of the first split (long texts cut in the middle):\n\n```json\n" + json.dumps(ex, indent=2, ensure_ascii=False, default=str) + "\n```"


def _load(f: Facts, repo_id: str | None, config: str) -> str:
    target = repo_id or "path/to/this/folder"
    cfg = "" if config == "default" else f', "{config}"'
    code = [f'from datasets import load_dataset\n\nds = load_dataset("{target}"{cfg})']
    first = next(iter(f.splits), "train")
    if f.contract == "sft":
        code.append(
            "# TRL reads `messages` directly (conversational format)\n"
            "from trl import SFTConfig, SFTTrainer\n\n"
            f'trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", train_dataset=ds["{first}"], args=SFTConfig(output_dir="out"))\n'
            "trainer.train()"
        )
    return "## How to load\n\n```python\n" + "\n\n".join(code) + "\n```"


def _provenance(report_file: str | None) -> str:
    if not report_file:
        return ""
    return f"## Plots\n\nThe lineage, funnel and distributions as plots: [`{report_file}`]({report_file}) (self-contained HTML)."

