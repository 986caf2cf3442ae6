"""The dataset card, generated from the manifests and rows (never hand-written): what the set
is, the teacher(s) with backend and sampling parameters, the recipe (embedded YAML), the funnel
generated -> parsed -> verified -> language-consistent -> readable -> deduplicated ->
decontaminated -> mixed with counts per domain, acceptance by difficulty, decontamination hits
per benchmark, token-length percentiles, sources and licenses, an example row, and how to load
it. A part the folders do not record is written as "not recorded".

The text holds no absolute paths and no clock time, so the same folders give the same card
(and re-publishing uploads nothing new).

Exercise: `factory publish DIR --dry-run` (writes README.md with this card).
"""

from __future__ import annotations

import json
from typing import Any

from factory.publish.lineage import FUNNEL_LABELS, Facts

NOT_RECORDED = "_not recorded_"
_EXAMPLE_CHARS = 700  # long chains of thought are cut in the middle in the example


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "–"


def _cut(text: str, n: int = _EXAMPLE_CHARS) -> str:
    if len(text) <= n:
        return text
    head, tail = text[: n * 2 // 3], text[-n // 3 :]
    return f"{head}\n[… {len(text) - len(head) - len(tail)} characters cut for the card …]\n{tail}"


def build_card(
    facts: Facts,
    *,
    repo_id: str | None = None,
    config: str = "default",
    pretty_name: str | None = None,
    report_file: str | None = "report.html",
) -> str:
    name = pretty_name or (repo_id.split("/")[-1] if repo_id else facts.src.name)
    parts = [f"# {name}", _summary(facts, repo_id)]
    parts += [_what(facts, config), _teachers(facts), _recipe(facts), _funnel(facts), _acceptance(facts),
              _decontamination(facts), _mix(facts), _tokens(facts), _sources(facts), _example(facts),
              _load(facts, repo_id, config), _provenance(facts, report_file)]
    return "\n\n".join(p.strip() for p in parts if p) + "\n"


def _summary(f: Facts, repo_id: str | None) -> str:
    what = "SFT examples (TRL conversational format)" if f.contract == "sft" else f"{f.contract} rows"
    teachers = ", ".join(sorted({str(t["teacher"]) for t in f.teachers or []})) or "teachers not recorded"
    doms = ", ".join(f.domains) or "domains not recorded"
    return (f"{f.rows:,} {what} for training reasoning models by distillation, from {teachers}; "
            f"domains: {doms}. Made with `factory` from the manifests of the folders that produced it; "
            "every number below is read from those manifests or counted from the rows.")


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


def _fmt_sampling(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in s.items() if v is not None) or NOT_RECORDED


def _teachers(f: Facts) -> str:
    head = "## Teachers"
    if not f.teachers:
        return f"{head}\n\n{NOT_RECORDED}"
    rows = [[f"`{t['teacher']}`", t["backend"], _fmt_sampling(t["sampling"]), f"{t['rows']:,}" if t.get("rows") is not None else NOT_RECORDED]
            for t in f.teachers]
    return f"{head}\n\n" + _table(["teacher", "backend", "sampling", "traces generated"], rows)


def _recipe(f: Facts) -> str:
    if not f.recipe_yaml:
        return f"## Recipe\n\n{NOT_RECORDED}" + (f" (name: `{f.recipe_name}`)" if f.recipe_name else "")
    return f"## Recipe\n\nThe recipe that made this set (embedded in the manifest, or the shipped recipe the manifest names):\n\n```yaml\n{f.recipe_yaml.strip()}\n```"


def _funnel(f: Facts) -> str:
    lines = ["## Funnel", "", "Rows left after each stage (a trace is dropped at the first check it fails). "
             "Per-domain counts come from the stage's recorded funnel or from its rows."]
    domains = sorted({d for r in f.funnel for d in (r.by_domain or {})})
    rows, prev = [], None
    for r in f.funnel:
        # a row larger than the one before joins other branches (e.g. curate reading several
        # folders): a "kept" share would be meaningless there
        kept = _pct(r.rows, prev) if prev is not None and r.rows <= prev else "–"
        rows.append([r.label, f"`{r.name}`", f"{r.rows:,}", kept, *[f"{(r.by_domain or {}).get(d, 0):,}" if r.by_domain else "–" for d in domains]])
        prev = r.rows
    lines += ["", _table(["stage", "step", "rows", "kept", *domains], rows)]
    missing = [label for label in FUNNEL_LABELS if label not in {r.label for r in f.funnel}]
    if missing:
        lines += ["", "Not recorded: " + ", ".join(missing) + " (no folder in the lineage reports these stages)."]
    if f.rejected_by:
        lines += ["", "Drops by reason:", "", _table(["reason", "rows"], [[k, f"{v:,}"] for k, v in f.rejected_by.items()])]
    return "\n".join(lines)


def _acceptance(f: Facts) -> str:
    head = "## Acceptance by difficulty"
    if not f.acceptance:
        return f"{head}\n\n{NOT_RECORDED} (needs the generated trace folder in the lineage, with `level` or `difficulty`)"
    has_kept = any(a["kept"] is not None for a in f.acceptance)
    rows = []
    for a in f.acceptance:
        row = [a["difficulty"], f"{a['generated']:,}"]
        if has_kept:
            row.append(f"{a['kept']:,}" if a["kept"] is not None else "–")
        rows.append([*row, f"{a['used']:,}", f"{100 * a['rate']:.1f}%"])
    header = ["difficulty", "traces generated", *(["reached curate"] if has_kept else []), "used in this set", "acceptance"]
    return f"{head}\n\n" + _table(header, rows)


def _decontamination(f: Facts) -> str:
    head = "## Decontamination"
    if f.decontamination is None:
        return f"{head}\n\n{NOT_RECORDED}"
    rows = [[b, f"{n:,}"] for b, n in f.decontamination.items()]
    total = sum(f.decontamination.values())
    return f"{head}\n\nProblems matching a benchmark (word n-gram overlap) were removed: {total:,} hit(s).\n\n" + _table(["benchmark", "hits"], rows)


def _mix(f: Facts) -> str:
    if not f.mix:
        return f"## Mix\n\n{NOT_RECORDED}"
    kinds = sorted({k for d in f.mix.values() for k in d})
    rows = [[d, *[f"{c.get(k, 0):,}" for k in kinds], f"{sum(c.values()):,}"] for d, c in f.mix.items()]
    text = "## Mix\n\n" + _table(["domain", *kinds, "total"], rows)
    mr = f.mix_report
    if mr and mr.get("buckets"):
        cols = ["name", "quota", "available", "taken", "upsampled"]
        brows = [[b.get(c, "–") if b.get(c) is not None else "–" for c in cols] for b in mr["buckets"]]
        text += "\n\nQuotas of the recipe's mix and what was available (recorded by the curate stage):\n\n" + _table(["bucket", *cols[1:]], brows)
    elif mr:
        text += f"\n\nMix report recorded by the curate stage (`{mr['key']}`):\n\n```json\n{json.dumps(mr['value'], indent=2, sort_keys=True, default=str)}\n```"
    if mr and mr.get("by_difficulty"):
        diffs = sorted({str(d) for v in mr["by_difficulty"].values() for d in v})
        drows = [[d, *[f"{mr['by_difficulty'][sp].get(d, 0):,}" if isinstance(mr['by_difficulty'][sp].get(d, 0), int) else mr['by_difficulty'][sp].get(d) for sp in mr["by_difficulty"]]] for d in diffs]
        text += "\n\nRows per difficulty:\n\n" + _table(["difficulty", *mr["by_difficulty"]], drows)
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
    return f"{head}\n\nPer row, {f.token_method}.\n\n" + _table(["part", *keys], rows)


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


def _provenance(f: Facts, report_file: str | None) -> str:
    lines = ["## Provenance", ""]
    if f.lineage:
        rows = [[fo.stage, f"`{fo.path.name}`", f"`{fo.manifest.command or 'not recorded'}`", f"{fo.manifest.rows:,}"] for fo in f.lineage]
        lines += ["Folders this set was made from, oldest stage first:", "", _table(["stage", "folder", "command", "rows"], rows)]
    else:
        lines.append(f"Upstream folders: {NOT_RECORDED} (pass `--lineage DIR` to `factory publish`).")
    if report_file:
        lines += ["", f"Plots of these numbers: [`{report_file}`]({report_file}) (self-contained HTML)."]
    return "\n".join(lines)
