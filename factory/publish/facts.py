"""The facts the dataset card writes down and the report draws, computed from the recorded
lineage (factory.publish.lineage) and one lazy pass per folder (factory.publish.scan).

- Funnel: every node of the DAG once, sources first: rows out, rows rejected (the `rejected/`
  part's own rows, so the numbers equal its manifest), the reasons counted from those rows, and
  the rows left after each filter of the stage (in the stage's filter order).
- Teachers: read from the rows (`teacher`, `backend`, `sampling` without the per-sample seed,
  `system_prompt`) of the folders a `generate` stage wrote (or, without one, of the first folders
  holding traces). Per teacher: traces generated, kept after each filter, used in the published
  set (an SFT row counts for the teacher of its last trace: the one whose answer ends it),
  tokens, GPU-hours and cost (generate's manifest `run`, shared by rows when one run served
  several teachers), and GPU-hours and cost per accepted sample.
- Acceptance by difficulty, decontamination hits, language scores, token lengths, mix, sources,
  recipe and an example row.

A part the folders do not record is None here and "not recorded" on the card, never a crash.
Every string that could hold a path of this machine goes through `Lineage.text`.

Exercise: `factory publish runs/quickstart/sft -o runs/quickstart/hub --dry-run`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory.publish.lineage import Lineage, Node, read_lineage
from factory.publish.scan import PartScan, sampling_dict, scan_part
from factory.publish.splits import NOT_A_SPLIT, SPLIT_ORDER, find_splits
from factory.io.dataset import read_manifest
from factory.schemas.errors import DatasetError

FILTERING = ("verify", "filter", "dedup", "decontaminate")
TOKEN_METHOD = "estimated as characters / 4 (the estimate curate's token budgets use)"


@dataclass
class FunnelRow:
    """One node of the DAG."""

    key: str
    stage: str | None  # None: a leaf without a stage record
    kind: str  # lineage node kind
    unit: str  # problem / trace / sft / file / model folder ...
    inputs: list[str]  # upstream names (`verified/long_cot/rejected` for a part)
    rows: int | None  # rows out (every part but rejected/)
    parts: dict[str, int]  # part -> rows
    rejected: int | None  # rows of rejected/ (its manifest's count)
    reasons: dict[str, int]  # reject_reason -> rows, counted from rejected/
    steps: list[tuple[str, int]]  # (filter, rows left after it), the stage's filter order
    by_domain: dict[str, int] | None
    changed: list[str]  # inputs re-made after this node was

    @property
    def rows_in(self) -> int | None:
        return None if self.rejected is None or self.rows is None else self.rows + self.rejected


@dataclass
class Teacher:
    name: str
    backends: list[str]
    generated: int
    generated_label: str  # "generated" (a generate stage) or the stage that brought the traces in
    kept: dict[str, int]  # step label -> traces of this teacher left after it
    accepted: int | None  # rows of the published set from this teacher
    tokens: int
    tokens_estimated_rows: int
    prompt_tokens: int
    gpu_hours: float | None
    cost: float | None
    cost_partial: bool = False

    def per_accepted(self, v: float | None) -> float | None:
        return None if v is None or not self.accepted else v / self.accepted


@dataclass
class Sampling:
    teacher: str
    backend: str
    sampling: dict[str, Any]
    system_prompt: str | None
    rows: int


@dataclass
class Facts:
    src: Path
    name: str  # the published folder's name (relative to the DAG root)
    contract: str
    lineage: Lineage
    splits: dict[str, int]
    domains: dict[str, int]
    kinds: dict[str, int]
    languages: dict[str, int]
    mix: dict[str, dict[str, int]]
    sources: list[tuple[str, str, int]]
    funnel: list[FunnelRow]
    teachers: list[Teacher] | None
    step_labels: list[str]  # the teachers' kept-after columns, pipeline order
    sampling: list[Sampling] | None
    unattributed: int  # published rows without a teacher (non-reasoning rows, unknown trace ids)
    acceptance: list[dict[str, Any]] | None
    decontamination: list[dict[str, Any]] | None  # per decontaminate node: {key, hits, removed, action}
    language_scores: np.ndarray | None
    tokens: dict[str, np.ndarray]
    token_method: str
    mix_report: dict[str, Any] | None
    example: dict[str, Any] | None
    recipe_name: str | None
    recipe_yaml: str | None
    scans: int = 0  # folders scanned (one pass each)
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.splits.values())

    def percentiles(self, key: str) -> dict[str, int] | None:
        a = self.tokens.get(key)
        if a is None or a.size == 0:
            return None
        qs = {"p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90, "p99": 99}
        out = {k: int(np.percentile(a, q, method="nearest")) for k, q in qs.items()}
        out["max"] = int(a.max())
        out["mean"] = int(round(float(a.mean())))
        return out


# ---------------------------------------------------------------------------------------------


def published_keys(lin: Lineage) -> list[tuple[str, str]]:
    """(split name, part) of the published node: its parts but rejected/ (and hub/),
    train/validation/test first; a single dataset is the split `train`."""
    parts = [p for p in lin.nodes[lin.top].parts if p not in NOT_A_SPLIT]
    rank = {n: i for i, n in enumerate(SPLIT_ORDER)}
    named = [("train" if p == "." else p, p) for p in parts]
    return sorted(named, key=lambda np_: (rank.get(np_[0], len(rank)), np_[0]))


def gather(src: str | Path) -> Facts:
    """Everything the card and the report need, from `src`'s records and rows."""
    src = Path(src)
    find_splits(src)  # the published folder must be a dataset or a folder of splits (says what it found)
    lin = read_lineage(src)
    top = lin.nodes[lin.top]
    pub_keys = published_keys(lin)
    pub_parts = {p for _, p in pub_keys}
    contract_of = {(k, p): read_manifest(path).contract for k, n in lin.nodes.items() for p, path in n.parts.items()}

    # which per-row queries each folder needs, all in its one pass
    origin = _origins(lin, contract_of)
    scored = _scoring_nodes(lin)
    sft_nodes = {k for (k, _), c in contract_of.items() if c == "sft"}
    id_parts = {(e.node, e.part) for k in sft_nodes for e in lin.nodes[k].inputs}
    scans: dict[tuple[str, str], PartScan] = {}
    for key, node in lin.nodes.items():
        for part, path in node.parts.items():
            is_pub = key == lin.top and part in pub_parts
            scans[(key, part)] = scan_part(
                path,
                estimate_tokens=key in origin and part == ".",
                ids=(key, part) in id_parts or is_pub,
                lengths=is_pub,
                scores=key in scored,
            )
    pub = [scans[(lin.top, p)] for _, p in pub_keys]
    contracts = {s.contract for s in pub}
    if len(contracts) != 1:
        raise DatasetError(f"{src}: splits hold different contracts {sorted(contracts)}; a published set has one")
    contract = contracts.pop()
    funnel = _funnel(lin, scans)
    teachers, labels, sampling, unattributed = _teachers(lin, scans, funnel, pub, contract, origin)
    facts = Facts(
        src=src, name=lin.top, contract=contract, lineage=lin,
        splits={name: scans[(lin.top, p)].rows for name, p in pub_keys},
        domains=_merge(s.count("domain") for s in pub), kinds=_merge(s.count("kind") for s in pub),
        languages=_merge(s.count("language") for s in pub), mix=_mix(pub, contract), sources=_sources(pub),
        funnel=funnel, teachers=teachers, step_labels=labels, sampling=sampling, unattributed=unattributed,
        acceptance=_acceptance(lin, scans, pub, contract, origin),
        decontamination=_decontamination(lin, scans),
        language_scores=_scores(lin, scans, scored),
        tokens={k: np.concatenate([s.tokens[k] for s in pub if s.tokens]) for k in ("reasoning", "answer")} if any(s.tokens for s in pub) else {},
        token_method=TOKEN_METHOD,
        mix_report=_mix_report([s.manifest for s in pub], [name for name, _ in pub_keys]),
        example=_example([top.parts[p] for _, p in pub_keys]),
        recipe_name=None, recipe_yaml=None, scans=len(scans),
    )
    facts.recipe_name, facts.recipe_yaml = _recipe(lin, [s.manifest for s in pub])
    for row in funnel:
        if row.changed:
            facts.notes.append(f"`{row.key}` was made from an earlier version of {', '.join(f'`{c}`' for c in row.changed)} "
                               "(re-run since): its numbers describe that earlier version")
    return facts


def _merge(counts: Any) -> dict[str, int]:
    total: Counter = Counter()
    for c in counts:
        total.update({str(k): v for k, v in c.items()})
    return dict(total.most_common())


# -- the DAG's roles ---------------------------------------------------------------------------


def _origins(lin: Lineage, contract_of: dict[tuple[str, str], str]) -> set[str]:
    """Where traces come from: the folders generate wrote; without one, the most upstream
    folders holding traces (e.g. public traces ingested and filtered)."""
    traces = {k for (k, p), c in contract_of.items() if p == "." and c == "trace"}
    gens = {k for k in traces if lin.nodes[k].stage == "generate"}
    if gens:
        return gens
    return {k for k in traces if not (lin.ancestors(k) & traces)}


def _scoring_nodes(lin: Lineage) -> set[str]:
    """Nodes that computed `score_language` (their inputs hold no such column): scored once."""
    import pyarrow.parquet as pq

    from factory.io.dataset import read_manifest

    def has(path: Path) -> bool:
        m = read_manifest(path)
        return bool(m.shards) and "score_language" in pq.read_schema(path / m.shards[0].name).names

    out = set()
    for k, n in lin.nodes.items():
        if "." in n.parts and has(n.parts["."]):
            ups = [lin.nodes[e.node].parts.get(e.part) for e in n.inputs]
            if not any(p is not None and has(p) for p in ups):
                out.add(k)
    return out


def _step_order(node: Node, reasons: dict[str, int]) -> list[str]:
    """The stage's filters in the order it ran them (its recorded funnel, or its options), then
    any other reject-reason prefix found in the rows."""
    from factory.io.dataset import read_manifest

    order: list[str] = []
    if "." in node.parts:
        f = read_manifest(node.parts["."]).stats.get("funnel")
        if isinstance(f, dict):
            order = [str(s.get("filter") or s.get("name")) for s in f.get("steps") or [] if isinstance(s, dict)]
    if not order and node.record:
        v = (node.record.get("options") or {}).get("filters")
        if isinstance(v, list):
            order = [str(x) for x in v]
    for r in reasons:
        p = _prefix(r)
        if p not in order:
            order.append(p)
    return order


def _prefix(reason: str) -> str:
    return str(reason).split(":", 1)[0].strip() or "unknown"


def _unit(node: Node, scans: dict[tuple[str, str], PartScan]) -> str:
    s = scans.get((node.key, ".")) or next((v for (k, _), v in scans.items() if k == node.key), None)
    if s is not None:
        return s.contract
    return {"file": "file", "folder": "folder", "remote": "id", "missing": "missing", "unfinished": "unfinished run"}.get(node.kind, node.kind)


def _funnel(lin: Lineage, scans: dict[tuple[str, str], PartScan]) -> list[FunnelRow]:
    rows = []
    for key, node in lin.nodes.items():
        parts = {p: scans[(key, p)].rows for p in node.parts if (key, p) in scans}
        out_parts = [p for p in parts if p != "rejected"]
        rej = scans.get((key, "rejected"))
        reasons = {str(k) if k is not None else "not recorded": v for k, v in rej.count("reject_reason").items()} if rej else {}
        if rej is not None and not reasons and rej.rows:
            reasons = {"not recorded": rej.rows}
        out = sum(parts[p] for p in out_parts) if out_parts else None
        steps = []
        if rej is not None and out is not None:
            left = out + rej.rows
            by_step = Counter()
            for r, n in reasons.items():
                by_step[_prefix(r)] += n
            for s in _step_order(node, reasons):
                left -= by_step.get(s, 0)
                steps.append((s, left))
        dom = _merge(scans[(key, p)].count("domain") for p in out_parts) if out_parts else {}
        inputs = [e.node if e.part == "." else f"{e.node}/{e.part}" for e in node.inputs]
        rows.append(FunnelRow(key=key, stage=node.stage, kind=node.kind, unit=_unit(node, scans), inputs=inputs, rows=out,
                              parts=parts, rejected=rej.rows if rej is not None else None, reasons=reasons, steps=steps,
                              by_domain=dict(sorted(dom.items())) or None, changed=node.changed))
    return rows


def step_label(stage: str | None, step: str) -> str:
    st = stage or "filter"
    return st if st.startswith(step) or step.startswith(st) else f"{st}: {step}"


# -- teachers ----------------------------------------------------------------------------------


def _teachers(lin: Lineage, scans, funnel: list[FunnelRow], pub: list[PartScan], contract: str, origin: set[str]):
    """(teachers, step labels, sampling rows, published rows without a teacher)."""
    gens = [k for k in lin.nodes if k in origin and (k, ".") in scans and "teacher" in scans[(k, ".")].columns]
    if not gens:
        return None, [], None, 0
    origin_label = "generated" if all(lin.nodes[k].stage == "generate" for k in gens) else "traces in"
    names = {t: lin.label(str(t)) for k in gens for t in scans[(k, ".")].count("teacher")}
    teachers = sorted(names, key=lambda t: (-sum(scans[(k, ".")].count("teacher").get(t, 0) for k in gens), names[t]))

    # kept after each filtering step, per teacher: nodes holding traces downstream of an origin
    by_key = {r.key: r for r in funnel}
    below = {k for k in lin.nodes if lin.ancestors(k) & set(gens)}
    labels: list[str] = []
    counts: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))  # label -> teacher -> [(node, n)]
    for k, node in lin.nodes.items():
        if k not in below or (k, "rejected") not in scans or (k, ".") not in scans or scans[(k, ".")].contract != "trace":
            continue
        kept, rej = scans[(k, ".")], scans[(k, "rejected")]
        order = [s for s, _ in by_key[k].steps]
        for t in teachers:
            left = kept.count("teacher").get(t, 0) + rej.count("teacher").get(t, 0)
            if not left:
                continue
            per = Counter()
            for r, n in rej.count("reject_reason", teacher=t).items():
                per[_prefix(r) if r is not None else "not recorded"] += n
            for s in order:
                left -= per.get(s, 0)
                lab = step_label(node.stage, s)
                counts[lab][t].append((k, left))
        for s in order:
            lab = step_label(node.stage, s)
            if lab not in labels:
                labels.append(lab)
    kept_by: dict[str, dict[str, int]] = {t: {} for t in teachers}
    for lab, per_t in counts.items():
        for t, items in per_t.items():
            # the same step twice along one chain counts its downstream run only
            ks = {k for k, _ in items}
            kept_by[t][lab] = sum(n for k, n in items if not any(k in lin.ancestors(o) for o in ks if o != k))

    accepted, unattributed = _accepted(lin, scans, pub, contract)
    out, sampling = [], []
    for t in teachers:
        gen = sum(scans[(k, ".")].count("teacher").get(t, 0) for k in gens)
        tok = sum(scans[(k, ".")].sum("completion_tokens", "teacher").get(t, 0) for k in gens)
        est = sum(scans[(k, ".")].sum("tokens_estimated", "teacher").get(t, 0) for k in gens)
        est_rows = sum(scans[(k, ".")].sum("rows_estimated", "teacher").get(t, 0) for k in gens)
        ptok = sum(scans[(k, ".")].sum("prompt_tokens", "teacher").get(t, 0) for k in gens)
        gpu, cost, partial = 0.0, 0.0, False
        gpu_known = cost_known = False
        for k in gens:
            s = scans[(k, ".")]
            share = s.count("teacher").get(t, 0) / s.rows if s.rows else 0.0
            if not share:
                continue
            run = s.manifest.run or {}
            if isinstance(run.get("gpu_hours"), (int, float)):
                gpu += share * run["gpu_hours"]
                gpu_known = True
            c = run.get("cost_usd")
            if isinstance(c, dict) and isinstance(c.get("total"), (int, float)):
                cost += share * c["total"]
                cost_known = True
            else:
                partial = True
        backends = sorted({str(b) for k in gens for (tt, b) in scans[(k, ".")].count(("teacher", "backend")) if tt == t})
        out.append(Teacher(
            name=names[t], backends=backends, generated=gen, generated_label=origin_label, kept=kept_by[t],
            accepted=accepted.get(t, 0) if accepted is not None else None, tokens=tok + est, tokens_estimated_rows=est_rows,
            prompt_tokens=ptok, gpu_hours=gpu if gpu_known else None, cost=cost if cost_known else None,
            cost_partial=cost_known and partial,
        ))
        combos: Counter = Counter()
        for k in gens:
            cols = tuple(c for c in ("teacher", "backend", "sampling", "system_prompt") if c in scans[(k, ".")].columns)
            for key, n in scans[(k, ".")].count(cols).items():
                d = dict(zip(cols, key))
                if d.get("teacher") == t:
                    combos[(d.get("backend"), d.get("sampling"), d.get("system_prompt"))] += n
        for (b, sk, sp), n in sorted(combos.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            sampling.append(Sampling(names[t], str(b or "not recorded"), sampling_dict(sk), lin.text(sp) if sp else None, n))
    return out, labels, sampling, unattributed


def _accepted(lin: Lineage, scans, pub: list[PartScan], contract: str) -> tuple[dict[str, int] | None, int]:
    """Published rows per teacher: a trace set's own `teacher`; an SFT row's last trace id
    looked up in the trace folders its curate stage read."""
    if contract == "trace":
        return _merge_raw(s.count("teacher") for s in pub), 0
    id_frames = [s.ids for (k, p), s in scans.items() if s.ids is not None and s.contract == "trace"]
    lasts = [s.last_ids for s in pub if s.last_ids is not None]
    if not lasts:
        return None, 0
    import polars as pl

    last = pl.concat(lasts, how="diagonal_relaxed")
    if not id_frames:
        return None, last.height
    ids = pl.concat(id_frames, how="diagonal_relaxed").unique(subset=["id"], keep="first")
    joined = last.join(ids, left_on="trace_id", right_on="id", how="left")
    got = joined.filter(pl.col("teacher").is_not_null()).group_by("teacher").len().rows()
    return {t: int(n) for t, n in got}, int(joined["teacher"].null_count())


def _merge_raw(counts: Any) -> dict[Any, int]:
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


# -- the other sections ------------------------------------------------------------------------


def _acceptance(lin: Lineage, scans, pub: list[PartScan], contract: str, origin: set[str]) -> list[dict[str, Any]] | None:
    """Per difficulty: traces generated, passed every filter (the kept trace folders the
    published stage read), and accepted: distinct traces that end a row of the set."""
    gen: Counter = Counter()
    for k in origin:
        if (k, ".") in scans:
            gen.update(scans[(k, ".")].count("difficulty"))
    if not gen or set(gen) == {"unknown"}:
        return None
    top = lin.nodes[lin.top]
    reached: Counter = Counter()
    used: Counter = Counter()
    has_reached = False
    if contract == "trace":
        for s in pub:
            used.update(s.count("difficulty"))
    else:  # an SFT set
        for e in top.inputs:
            s = scans.get((e.node, e.part))
            if s is not None and s.contract == "trace" and e.part == ".":
                reached.update(s.count("difficulty"))
                has_reached = True
        import polars as pl

        id_frames = [s.ids for s in scans.values() if s.ids is not None and s.contract == "trace"]
        lasts = [s.last_ids for s in pub if s.last_ids is not None]
        if id_frames and lasts:
            ids = pl.concat(id_frames, how="diagonal_relaxed").unique(subset=["id"], keep="first")
            # distinct traces: a trace ending two rows (a shortcut and a journey) was accepted once
            j = pl.concat(lasts, how="diagonal_relaxed").unique(subset=["trace_id"]).join(ids, left_on="trace_id", right_on="id", how="inner")
            used.update(dict(j.group_by("difficulty").len().rows()))
    out = []
    for d in sorted(gen, key=_difficulty_sort_key):
        g = gen[d]
        out.append({"difficulty": d, "generated": g, "kept": reached.get(d, 0) if has_reached else None,
                    "used": used.get(d, 0), "rate": used.get(d, 0) / g if g else 0.0})
    return out


def _difficulty_sort_key(d: str) -> tuple[int, float, str]:
    import re

    m = re.search(r"\d+(\.\d+)?", d)
    return (0 if m else 1, float(m.group()) if m else 0.0, d)


def _decontamination(lin: Lineage, scans) -> list[dict[str, Any]] | None:
    out = []
    for k, n in lin.nodes.items():
        if n.stage != "decontaminate" or (k, ".") not in scans:
            continue
        stats = scans[(k, ".")].manifest.stats or {}
        hits = stats.get("hits_by_benchmark") if isinstance(stats.get("hits_by_benchmark"), dict) else {}
        removed: Counter = Counter()
        if (k, "rejected") in scans:
            for r, c in scans[(k, "rejected")].count("reject_reason").items():
                if r and str(r).startswith("decontam:"):
                    removed[str(r).split(":", 1)[1]] += c
        names = sorted(set(hits) | set(removed))
        out.append({"key": k, "action": stats.get("action"), "unit": scans[(k, ".")].contract,
                    "rows": [(b, int(hits.get(b, removed.get(b, 0)) or 0), removed.get(b, 0)) for b in names]})
    return out or None


def _scores(lin: Lineage, scans, scored: set[str]) -> np.ndarray | None:
    vals = [s.scores for (k, _), s in scans.items() if k in scored and s.scores is not None]
    return np.concatenate(vals) if vals else None


def _mix(pub: list[PartScan], contract: str) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = defaultdict(Counter)
    for s in pub:
        if "kind" in s.columns:
            for (d, k), n in s.count(("domain", "kind")).items():
                out[str(d)][str(k)] += n
        else:
            for d, n in s.count("domain").items():
                out[str(d)][contract] += n
    return {d: dict(sorted(c.items())) for d, c in sorted(out.items())}


def _sources(pub: list[PartScan]) -> list[tuple[str, str, int]]:
    counts: Counter = Counter()
    for s in pub:
        if "license" in s.columns:
            counts.update(s.count(("source", "license")))
        else:
            counts.update({(src, None): n for src, n in s.count("source").items()})
    return [(str(s), lic or "not recorded", n) for (s, lic), n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0][0]), str(kv[0][1])))]


def _mix_report(manifests: list[Any], names: list[str]) -> dict[str, Any] | None:
    """The curate stage's mix report: quota buckets (name, quota, available, taken) when
    recorded that way, else the recorded value as is; plus rows per difficulty per split."""
    for m in manifests:
        for key in ("mix", "mix_report", "quotas"):
            v = m.stats.get(key)
            if isinstance(v, (dict, list)) and v:
                out: dict[str, Any] = {"key": key, "value": v, "buckets": None, "by_difficulty": None}
                buckets = v.get("buckets") if isinstance(v, dict) else None
                if isinstance(buckets, list) and all(isinstance(b, dict) for b in buckets):
                    out["buckets"] = buckets
                by_diff = {}
                for name, mm in zip(names, manifests):
                    rep = mm.stats.get(name)
                    if isinstance(rep, dict) and isinstance(rep.get("by_difficulty"), dict):
                        by_diff[name] = rep["by_difficulty"]
                out["by_difficulty"] = by_diff or None
                return out
    return None


def _example(paths: list[Path]) -> dict[str, Any] | None:
    """The first row of the first split (one row group of one shard, not a pass)."""
    import pyarrow.parquet as pq

    for path in paths:
        m = read_manifest(path)
        for s in m.shards:
            for batch in pq.ParquetFile(path / s.name).iter_batches(batch_size=1):
                if batch.num_rows:
                    return batch.slice(0, 1).to_pylist()[0]
    return None


def _recipe(lin: Lineage, manifests: list[Any]) -> tuple[str | None, str | None]:
    """The recipe: embedded in the published manifests (curate records it), else the name in
    the records' `factory run NAME: ...` command with the run folder's overrides, read from the
    shipped recipes when it is one."""
    import yaml

    for m in manifests:
        for d in (m.params, m.stats):
            r = d.get("recipe_yaml") or d.get("recipe")
            if isinstance(r, dict):
                return str(r.get("name") or ""), yaml.safe_dump(r, sort_keys=False, allow_unicode=True)
            if isinstance(r, str) and "\n" in r:
                try:
                    name = (yaml.safe_load(r) or {}).get("name")
                except yaml.YAMLError:
                    name = None
                return name, r
    name = None
    for m in manifests:
        for d in (m.params, m.stats):
            if isinstance(d.get("recipe"), str) and d["recipe"].strip():
                name = d["recipe"].strip()
    if name is None:
        for n in reversed(list(lin.nodes.values())):
            c = n.command or ""
            if c.startswith("factory run ") and ": " in c:
                cand = c[len("factory run "):].split(": ", 1)[0].strip()
                if cand and " " not in cand:
                    name = cand
                    break
    if name is None:
        return None, None
    overrides: list[str] = []
    run_json = lin.root / "run.json"
    if run_json.is_file():
        try:
            rj = json.loads(run_json.read_text(encoding="utf-8"))
            if rj.get("recipe") == name and isinstance(rj.get("overrides"), list):
                overrides = [str(o) for o in rj["overrides"]]
        except (OSError, ValueError):
            pass
    from factory.recipes.loader import recipe_path
    from factory.schemas.errors import FactoryError

    try:
        p = recipe_path(name)
    except FactoryError:
        return lin.text(name), None
    text = p.read_text(encoding="utf-8")
    if overrides:
        text += "\n# applied overrides (--set): " + " ".join(overrides) + "\n"
    return (yaml.safe_load(text) or {}).get("name") or Path(name).stem, text
