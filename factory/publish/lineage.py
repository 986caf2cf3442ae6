"""What a finished dataset folder and the folders it was made from say about it: the facts the
dataset card (`factory/card.py`) writes down and the report (`factory/report.py`) draws.

Everything comes from the manifests (funnels, teachers, recipe, decontamination hits) and from
the rows themselves (counts per domain/kind, token lengths, sources and licenses, acceptance by
difficulty, language-consistency scores). Nothing is required: a part the folders do not record
is `None` here and "not recorded" on the card, never a crash — stages are built by different
people and a user may publish a folder made elsewhere.

The upstream folders (the lineage) are found from `lineage` lists (and `input`/`inputs`/
`traces`/`problems` paths) in each manifest's `params`/`stats`, followed transitively, plus any
folders the user passes (`--lineage DIR`).

Exercise: `factory report DIR --lineage TRACES_DIR`, `factory publish DIR --dry-run`.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from factory.io.dataset import MANIFEST, Manifest, iter_batches, read_manifest
from factory.schemas.errors import DatasetError

SPLIT_ORDER = ("train", "validation", "test")
# Sub-folders that hold rows a stage dropped, not a split of the set.
NOT_A_SPLIT = {"rejected", "hub"}

# The funnel's canonical stages, in order, each with the words that identify it in a stage's
# command or a filter's name. A step whose name matches none keeps its own name.
FUNNEL_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("generated", ("generate", "replay", "ingest")),
    ("parsed", ("parse", "format", "think", "finish")),
    ("verified", ("verif", "math", "code", "correct", "answer", "sandbox")),
    ("language-consistent", ("language", "lang")),
    ("readable", ("readab", "repetit", "paragraph", "length", "degenerate")),
    ("deduplicated", ("dedup", "minhash", "exact", "near")),
    ("decontaminated", ("decontam", "contam", "benchmark")),
    ("mixed", ("curate", "mix", "sft", "quota", "journey", "select")),
)
FUNNEL_LABELS = tuple(label for label, _ in FUNNEL_STAGES)

# word pieces and single punctuation marks: close to a BPE token count on English/LaTeX text
# (about 1 token per piece; real tokenizers give 0.9-1.4x this)
_PIECE = r"\w+|[^\w\s]"
_THINK_PATTERNS = (
    (r"<think>", r"</think>"),
    (r"<\|begin_of_thought\|>", r"<\|end_of_thought\|>"),
)


# ---------------------------------------------------------------------------------------------
# folders: splits and lineage
# ---------------------------------------------------------------------------------------------


@dataclass
class Split:
    name: str
    path: Path
    manifest: Manifest


@dataclass
class Folder:
    """One upstream dataset folder and what kind of stage produced it."""

    path: Path
    manifest: Manifest
    stage: str  # a FUNNEL_LABELS entry, "problems", or "other"


def find_splits(src: str | Path) -> list[Split]:
    """A dataset folder is one split (`train`); a folder of dataset folders (an SFT output:
    `train/`, `validation/`) gives one split per sub-folder."""
    src = Path(src)
    if not src.is_dir():
        raise DatasetError(f"{src}: no such dataset folder", hint="pass the folder a stage wrote (it holds manifest.json, or train/ and validation/)")
    if (src / MANIFEST).exists():
        return [Split("train", src, read_manifest(src))]
    subs = [p for p in sorted(src.iterdir()) if p.is_dir() and (p / MANIFEST).exists() and p.name not in NOT_A_SPLIT]
    if not subs:
        raise DatasetError(
            f"{src}: expected a dataset folder (manifest.json) or a folder of split folders (train/, validation/), found neither",
            hint="pass the output folder of `factory curate` or of another stage",
        )
    bad = [p.name for p in subs if not re.fullmatch(r"[A-Za-z0-9_]+", p.name)]
    if bad:
        raise DatasetError(f"{src}: split folder names must be letters, digits or _ (Hub split names), found {bad}")
    rank = {n: i for i, n in enumerate(SPLIT_ORDER)}
    subs.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name))
    return [Split(p.name, p, read_manifest(p)) for p in subs]


def _paths_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _candidate_paths(m: Manifest) -> list[str]:
    out: list[str] = []
    for d in (m.params, m.stats):
        for key in ("lineage", "inputs", "input", "traces", "problems", "source_dirs"):
            out.extend(_paths_in(d.get(key)))
    return out


def _resolve(p: str, near: Path) -> Path | None:
    q = Path(p).expanduser()
    tries = [q] if q.is_absolute() else [Path.cwd() / q, near / q, near.parent / q, near.parent.parent / q]
    for t in tries:
        if (t / MANIFEST).exists():
            return t.resolve()
    return None


def stage_of(m: Manifest, path: Path) -> str:
    """Which funnel stage a folder is the output of, from its command (or folder name)."""
    text = f"{m.command or ''} {path.name}".lower()
    if m.contract == "problem":
        # dedup/decontaminate usually run on problems, before generation: still funnel stages
        for label in ("deduplicated", "decontaminated"):
            words = dict(FUNNEL_STAGES)[label]
            if "ingest" not in text and any(w in text for w in words):
                return label
        return "problems"
    if m.contract == "sft":
        return "mixed"
    for label, words in FUNNEL_STAGES:
        if any(w in text for w in words):
            return label
    if "filter" in text:  # `factory filter` runs after verify; its steps carry their own labels
        return "verified"
    return "other"


def collect_lineage(splits: list[Split], extra: list[str | Path] = ()) -> list[Folder]:
    """Upstream folders, oldest stage first: follow the manifests' recorded paths, then add
    the user's `--lineage` folders."""
    seen = {s.path.resolve() for s in splits}
    found: list[Path] = []
    queue: list[tuple[Manifest, Path]] = [(s.manifest, s.path) for s in splits]
    for e in extra:
        p = Path(e)
        if not (p / MANIFEST).exists():
            raise DatasetError(f"--lineage {p}: not a dataset folder (no {MANIFEST})", hint="pass a folder a factory stage wrote")
        queue.append((read_manifest(p), p))
        if p.resolve() not in seen:
            seen.add(p.resolve())
            found.append(p.resolve())
    while queue:
        m, near = queue.pop(0)
        for cand in _candidate_paths(m):
            r = _resolve(cand, near)
            if r is None or r in seen:
                continue
            seen.add(r)
            found.append(r)
            queue.append((read_manifest(r), r))
    folders = [Folder(p, read_manifest(p), "") for p in found]
    for f in folders:
        f.stage = stage_of(f.manifest, f.path)
    # Pipeline order is the order the stages really ran (verify may run before or after the
    # format filter): when each folder was finished, then how many recorded `input` links lead
    # to it, then the canonical stage order for folders finished in the same second.
    by_path = {f.path: f for f in folders}

    def depth(f: Folder, seen: frozenset = frozenset()) -> int:
        ups = [r for c in _candidate_paths(f.manifest) if (r := _resolve(c, f.path)) in by_path and r not in seen]
        return 1 + max((depth(by_path[u], seen | {f.path}) for u in ups), default=-1)

    rank = {label: i for i, label in enumerate(("problems", *FUNNEL_LABELS, "other"))}
    folders.sort(key=lambda f: (str(f.manifest.run.get("finished_at", "")), depth(f), rank[f.stage]))
    return folders


# ---------------------------------------------------------------------------------------------
# small readers
# ---------------------------------------------------------------------------------------------


def _schema_names(path: Path) -> list[str]:
    m = read_manifest(path)
    if not m.shards:
        return []
    return pq.read_schema(path / m.shards[0].name).names


def _column_counts(paths: list[Path], column: str) -> Counter:
    counts: Counter = Counter()
    for p in paths:
        if column not in _schema_names(p):
            continue
        for batch in iter_batches(p, columns=[column]):
            counts.update(batch.column(0).to_pylist())
    return counts


def _difficulty_of(batch: pa.RecordBatch) -> list[str]:
    names = batch.schema.names
    diff = batch.column(names.index("difficulty")).to_pylist() if "difficulty" in names else [None] * batch.num_rows
    lvl = batch.column(names.index("level")).to_pylist() if "level" in names else [None] * batch.num_rows
    return [d if d else (f"level {l}" if l is not None else "unknown") for d, l in zip(diff, lvl)]


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        for k in ("out", "kept", "rows_out", "count", "rows", "n"):
            if k in v:
                return _int(v[k])
    if isinstance(v, list):
        return len(v)
    return None


# ---------------------------------------------------------------------------------------------
# the facts
# ---------------------------------------------------------------------------------------------


@dataclass
class FunnelRow:
    label: str  # canonical stage label, or the step's own name when it matches none
    name: str  # the filter/stage name as recorded
    rows: int
    by_domain: dict[str, int] | None
    where: str  # which folder recorded it


@dataclass
class Facts:
    src: Path
    contract: str
    splits: dict[str, int]  # split -> rows
    lineage: list[Folder]
    domains: dict[str, int]
    kinds: dict[str, int]
    mix: dict[str, dict[str, int]]  # domain -> kind -> rows
    languages: dict[str, int]
    sources: list[tuple[str, str, int]]  # (source, license, rows)
    teachers: list[dict[str, Any]] | None
    recipe_yaml: str | None
    recipe_name: str | None
    funnel: list[FunnelRow]
    rejected_by: dict[str, int] | None
    decontamination: dict[str, int] | None
    acceptance: list[dict[str, Any]] | None  # [{difficulty, generated, kept, used, rate}]
    tokens: dict[str, np.ndarray]  # "reasoning"/"answer" -> approximate token counts per row
    token_method: str
    language_scores: np.ndarray | None
    mix_report: dict[str, Any] | None
    example: dict[str, Any] | None
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


def gather(src: str | Path, *, lineage: list[str | Path] = ()) -> Facts:
    """Read everything the card and the report need from `src` (and its upstream folders)."""
    splits = find_splits(src)
    contracts = {s.manifest.contract for s in splits}
    if len(contracts) != 1:
        raise DatasetError(f"{src}: splits hold different contracts {sorted(contracts)}; a published set has one")
    contract = contracts.pop()
    folders = collect_lineage(splits, list(lineage))
    paths = [s.path for s in splits]
    facts = Facts(
        src=Path(src),
        contract=contract,
        splits={s.name: s.manifest.rows for s in splits},
        lineage=folders,
        domains=dict(_column_counts(paths, "domain").most_common()),
        kinds=dict(_column_counts(paths, "kind").most_common()),
        mix=_mix(paths),
        languages=dict(_column_counts(paths, "language").most_common()),
        sources=_sources(paths),
        teachers=_teachers(folders, splits),
        recipe_yaml=None,
        recipe_name=None,
        funnel=_funnel(splits, folders),
        rejected_by=_rejected_by(splits, folders),
        decontamination=_decontamination(splits, folders),
        acceptance=_acceptance(splits, folders, contract),
        tokens={},
        token_method="approximate: words and punctuation marks (no tokenizer recorded)",
        language_scores=_language_scores(splits, folders),
        mix_report=_mix_report(splits),
        example=_example(splits),
    )
    facts.recipe_name, facts.recipe_yaml = _recipe(splits, folders)
    facts.tokens, stride = _token_lengths(paths, contract)
    if stride > 1:
        n = facts.tokens["reasoning"].size if facts.tokens else 0
        facts.token_method += f"; computed on a seeded random sample of {n:,} of {facts.rows:,} rows"
    return facts


def _mix(paths: list[Path]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = defaultdict(Counter)
    for p in paths:
        names = _schema_names(p)
        if "domain" not in names:
            continue
        cols = ["domain"] + (["kind"] if "kind" in names else [])
        contract = read_manifest(p).contract  # rows without a `kind` are counted as their contract
        for batch in iter_batches(p, columns=cols):
            doms = batch.column(0).to_pylist()
            kinds = batch.column(1).to_pylist() if len(cols) == 2 else [contract] * batch.num_rows
            for d, k in zip(doms, kinds):
                out[d][k] += 1
    return {d: dict(sorted(c.items())) for d, c in sorted(out.items())}


def _sources(paths: list[Path]) -> list[tuple[str, str, int]]:
    counts: Counter = Counter()
    for p in paths:
        names = _schema_names(p)
        if "source" not in names:
            continue
        cols = ["source"] + (["license"] if "license" in names else [])
        for batch in iter_batches(p, columns=cols):
            src = batch.column(0).to_pylist()
            lic = batch.column(1).to_pylist() if len(cols) == 2 else [None] * batch.num_rows
            counts.update(zip(src, lic))
    return [(s, lic or "not recorded", n) for (s, lic), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0], str(kv[0][1])))]


def _teachers(folders: list[Folder], splits: list[Split]) -> list[dict[str, Any]] | None:
    """Teachers with backend and sampling: from the rows of trace folders (what really ran),
    else from the generate manifest's params."""
    trace_dirs = [f.path for f in folders if f.manifest.contract == "trace"]
    trace_dirs += [s.path for s in splits if s.manifest.contract == "trace"]
    for d in trace_dirs[:1]:  # the earliest trace folder holds every generated row
        names = _schema_names(d)
        if "teacher" not in names:
            continue
        import polars as pl

        cols = [c for c in ("teacher", "backend", "sampling") if c in names]
        counts: Counter = Counter()
        for batch in iter_batches(d, columns=cols, batch_size=100_000):
            # a few distinct (teacher, backend, sampling) per folder: group in polars, then count
            df = pl.from_arrow(pa.Table.from_batches([batch]))
            exprs = [pl.col("teacher"), pl.col("backend") if "backend" in cols else pl.lit(None, pl.String).alias("backend"),
                     pl.col("sampling").struct.json_encode().alias("sampling") if "sampling" in cols else pl.lit(None, pl.String).alias("sampling")]
            for t, b, sj, n in df.select(exprs).group_by(["teacher", "backend", "sampling"]).len().iter_rows():
                sd = (json.loads(sj) if sj else None) or {}  # a null struct encodes as "null"
                counts[(t, b, json.dumps({k: v for k, v in sd.items() if v is not None}, sort_keys=True))] += n
        if counts:
            return [
                {"teacher": t, "backend": b or "not recorded", "sampling": json.loads(s), "rows": n, "where": str(d)}
                for (t, b, s), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
    for f in [*folders, *[Folder(s.path, s.manifest, "mixed") for s in splits]]:
        p = f.manifest.params
        gen = p.get("generate") if isinstance(p.get("generate"), dict) else {}
        t = p.get("teacher") or gen.get("teacher")
        if t:
            teacher = t if isinstance(t, dict) else {"teacher": t}
            sampling = p.get("sampling") or gen.get("sampling") or teacher.get("sampling") or {}
            return [
                {
                    "teacher": teacher.get("teacher") or teacher.get("model") or teacher.get("name") or str(t),
                    "backend": p.get("backend") or gen.get("backend") or teacher.get("backend") or "not recorded",
                    "sampling": sampling if isinstance(sampling, dict) else {"value": sampling},
                    "rows": None,
                    "where": str(f.path),
                }
            ]
    return None


def _recipe(splits: list[Split], folders: list[Folder]) -> tuple[str | None, str | None]:
    import yaml

    for m, where in [*((s.manifest, s.path) for s in splits), *((f.manifest, f.path) for f in reversed(folders))]:
        for d in (m.params, m.stats):
            for key in ("recipe_yaml", "recipe"):
                r = d.get(key)
                if isinstance(r, dict):
                    return str(r.get("name") or d.get("recipe_name") or ""), yaml.safe_dump(r, sort_keys=False, allow_unicode=True)
                if isinstance(r, str) and r.strip():
                    if "\n" in r:
                        try:
                            name = (yaml.safe_load(r) or {}).get("name")
                        except yaml.YAMLError:
                            name = None
                        return name, r
                    p = _resolve_file(r, where) or _shipped_recipe(r)
                    if p is not None:
                        text = p.read_text(encoding="utf-8")
                        ov = d.get("overrides") or m.params.get("overrides")
                        if isinstance(ov, list) and ov:
                            text += "\n# applied overrides (--set): " + " ".join(str(o) for o in ov) + "\n"
                        return (yaml.safe_load(text) or {}).get("name") or Path(r).stem, text
                    return r, None
    return None, None


def _shipped_recipe(name: str) -> Path | None:
    """A recipe named in a manifest (`params.recipe: journey`) read from the shipped recipes."""
    from factory.recipes.loader import recipe_path
    from factory.schemas.errors import FactoryError

    try:
        return recipe_path(name)
    except FactoryError:
        return None


def _resolve_file(p: str, near: Path) -> Path | None:
    q = Path(p).expanduser()
    for t in ([q] if q.is_absolute() else [Path.cwd() / q, near / q, near.parent / q]):
        if t.is_file() and t.suffix in (".yaml", ".yml"):
            return t
    return None


def _by_domain(v: Any) -> dict[str, int] | None:
    """Rows out per domain from {domain: n}, {domain: {"in", "out"}} or {domain: [in, out]}."""
    if not isinstance(v, dict) or not v:
        return None
    out = {}
    for d, n in v.items():
        i = _int(n[-1]) if isinstance(n, (list, tuple)) and len(n) == 2 else _int(n)
        if i is not None:
            out[str(d)] = i
    return out or None


def _label_for(name: str, default: str) -> str:
    low = name.lower()
    for label, words in FUNNEL_STAGES:
        if any(w in low for w in words):
            return label
    return default if default in FUNNEL_LABELS else name


def _funnels_in(m: Manifest) -> list[dict[str, Any]]:
    out = []
    for d in (m.stats, m.params):
        f = d.get("funnel")
        if isinstance(f, dict):
            out.append(f)
        elif isinstance(f, list):
            out.append({"steps": f})
    return out


def _step_rows(m: Manifest, path: Path, default: str) -> list[FunnelRow]:
    out = []
    for f in _funnels_in(m):
        for s in f.get("steps") or []:
            if not isinstance(s, dict):
                continue
            name = str(s.get("filter") or s.get("name") or s.get("step") or s.get("stage") or "step")
            n = _int(s.get("out"))
            if n is not None:
                out.append(FunnelRow(_label_for(name, default), name, n, _by_domain(s.get("by_domain")), str(path)))
    return out


def _first_rows_in(m: Manifest) -> int | None:
    for f in _funnels_in(m):
        n = _int(f.get("rows_in", f.get("traces_in")))
        if n is None and f.get("steps") and isinstance(f["steps"][0], dict):
            n = _int(f["steps"][0].get("in"))
        if n is not None:
            return n
    return None


def _funnel(splits: list[Split], folders: list[Folder]) -> list[FunnelRow]:
    """generated -> parsed -> verified -> ... -> mixed: each folder's own row count (with its
    rows per domain), or the steps its stage recorded in `stats["funnel"]`, in the order the
    stages ran; each row is labelled with its canonical stage."""
    rows: list[FunnelRow] = []
    for f in folders:
        if f.stage == "problems":
            continue
        m, name = f.manifest, f.manifest.command or f.path.name
        if m.contract == "problem":  # problem-level dedup/decontaminate: counts are problems, say so
            rows.append(FunnelRow(f.stage, f"{name} (problems)", m.rows,
                                  dict(sorted(_column_counts([f.path], "domain").items())) or None, str(f.path)))
            continue
        steps = _step_rows(m, f.path, f.stage)
        if f.stage == "generated" or not steps:
            label = f.stage if f.stage in FUNNEL_LABELS else _label_for(name, "other")
            rows.append(FunnelRow(label, name, m.rows, dict(sorted(_column_counts([f.path], "domain").items())) or None, str(f.path)))
        rows.extend(steps)
    if not any(r.label == "generated" for r in rows):
        # no generate folder in the lineage: the first funnel's input is what was generated
        for m, path in [(f.manifest, f.path) for f in folders] + [(s.manifest, s.path) for s in splits]:
            n = _first_rows_in(m)
            if n is not None:
                rows.insert(0, FunnelRow("generated", f"input of {m.command or path.name}", n, None, str(path)))
                break
    first_with_funnel = next((s for s in splits if _funnels_in(s.manifest)), None)
    if first_with_funnel is not None:  # curate records one funnel for the whole set (every split)
        m, where = first_with_funnel.manifest, str(first_with_funnel.path)
        rows.extend(_step_rows(m, first_with_funnel.path, "mixed"))
        for f in _funnels_in(m):
            # `factory curate`'s own funnel: traces in -> qualifying (curate.select) -> per-problem policy
            for key, name in (("traces_in", "curate: traces in"), ("qualifying", "curate: qualifying (select rules)"),
                              ("after_per_problem", "curate: after the per-problem policy")):
                n = _int(f.get(key))
                if n is not None and "steps" not in f:
                    rows.append(FunnelRow("mixed", name, n, None, where))
    set_path = splits[0].path.parent if splits[0].path != splits[0].path.parent and len(splits) > 1 else splits[0].path
    by_dom = dict(sorted(_column_counts([s.path for s in splits], "domain").items()))
    label = "mixed" if splits[0].manifest.contract == "sft" else "published"
    rows.append(FunnelRow(label, "the published set (all splits)", sum(s.manifest.rows for s in splits), by_dom or None, str(set_path)))
    return rows  # pipeline order (folders as they ran, steps as each stage recorded them)


def _add_reasons(total: Counter, rb: Any, prefix: str = "") -> None:
    """{reason: n}, or {filter: {verdict: n}} flattened to "filter: verdict"."""
    if not isinstance(rb, dict):
        return
    for k, v in rb.items():
        if isinstance(v, dict) and not any(key in v for key in ("out", "count", "rows")):
            _add_reasons(total, v, f"{prefix}{k}: ")
            continue
        i = _int(v)
        if i is not None:
            total[f"{prefix}{k}"] += i


def _rejected_by(splits: list[Split], folders: list[Folder]) -> dict[str, int] | None:
    total: Counter = Counter()
    for m in [f.manifest for f in folders] + [splits[0].manifest]:
        funnels = _funnels_in(m)
        for f in funnels:
            _add_reasons(total, f.get("rejected_by"))
            if isinstance(f.get("dropped"), dict):  # curate's drops by select rule
                _add_reasons(total, f["dropped"], "curate: ")
        if not funnels:  # dedup / decontaminate record their drops at the top of stats
            _add_reasons(total, m.stats.get("rejected_by"))
    return dict(sorted(((k, n) for k, n in total.items() if n), key=lambda kv: (-kv[1], kv[0]))) or None


def _find_hits(d: Any, depth: int = 0) -> dict[str, int] | None:
    """Hits per benchmark wherever a decontamination report put them."""
    if not isinstance(d, dict) or depth > 3:
        return None
    for key in ("hits_per_benchmark", "hits_by_benchmark", "by_benchmark", "benchmarks", "hits"):
        v = d.get(key)
        if isinstance(v, dict) and v:
            out = {str(k): _int(n) for k, n in v.items()}
            if all(n is not None for n in out.values()):
                return dict(sorted(out.items()))  # type: ignore[arg-type]
    for key in ("decontamination", "decontaminate", "decontam", "report"):
        r = _find_hits(d.get(key), depth + 1)
        if r is not None:
            return r
    return None


def _decontamination(splits: list[Split], folders: list[Folder]) -> dict[str, int] | None:
    cands = [f.manifest for f in folders if f.stage == "decontaminated"]
    cands += [f.manifest for f in folders if f.stage != "decontaminated"] + [s.manifest for s in splits]
    for m in cands:
        for d in (m.stats, m.params):
            r = _find_hits(d)
            if r is not None:
                return r
    return None


def _acceptance(splits: list[Split], folders: list[Folder], contract: str) -> list[dict[str, Any]] | None:
    """Per difficulty: traces generated, kept after the filters (the last trace folder), and
    used in the set (SFT rows' trace_ids), from the rows themselves."""
    trace_folders = [f for f in folders if f.manifest.contract == "trace"]
    if not trace_folders:
        return None
    first, last = trace_folders[0].path, trace_folders[-1].path
    names = _schema_names(first)
    if "difficulty" not in names and "level" not in names:
        return None
    diff_of: dict[str, str] = {}
    cols = ["id"] + [c for c in ("difficulty", "level") if c in names]
    for batch in iter_batches(first, columns=cols):
        diff_of.update(zip(batch.column(0).to_pylist(), _difficulty_of(batch)))
    generated = Counter(diff_of.values())
    kept: Counter = Counter()
    if last != first:
        for batch in iter_batches(last, columns=["id"]):
            kept.update(diff_of.get(i, "unknown") for i in batch.column(0).to_pylist())
    used: Counter = Counter()
    if contract == "sft":
        ids: set[str] = set()
        for s in splits:
            for batch in iter_batches(s.path, columns=["trace_ids"]):
                for lst in batch.column(0).to_pylist():
                    ids.update(lst or [])
        used.update(diff_of[i] for i in ids if i in diff_of)
    else:
        for s in splits:
            for batch in iter_batches(s.path, columns=["id"]):
                used.update(diff_of[i] for i in batch.column(0).to_pylist() if i in diff_of)
    out = []
    for d in sorted(generated, key=_difficulty_sort_key):
        g = generated[d]
        out.append({
            "difficulty": d,
            "generated": g,
            "kept": kept.get(d, 0) if last != first else None,
            "used": used.get(d, 0),
            "rate": used.get(d, 0) / g if g else 0.0,
        })
    return out


def _difficulty_sort_key(d: str) -> tuple[int, float, str]:
    m = re.search(r"\d+(\.\d+)?", d)
    return (0 if m else 1, float(m.group()) if m else 0.0, d)


def _language_scores(splits: list[Split], folders: list[Folder]) -> np.ndarray | None:
    """`score_language` of every scored trace (kept and rejected), or of the set's own rows."""
    for p in [s.path for s in splits] + [f.path for f in folders]:
        if "score_language" not in _schema_names(p):
            continue
        dirs = [p] + ([p / "rejected"] if (p / "rejected" / MANIFEST).exists() and "score_language" in _schema_names(p / "rejected") else [])
        vals: list[float] = []
        for d in dirs:
            for batch in iter_batches(d, columns=["score_language"]):
                vals.extend(v for v in batch.column(0).to_pylist() if v is not None)
        return np.asarray(vals, dtype=np.float64)
    return None


def _mix_report(splits: list[Split]) -> dict[str, Any] | None:
    """The curate stage's mix report: quota buckets (name, quota, available, taken) when
    recorded that way, else the recorded value as is; plus rows per difficulty per split."""
    for s in splits:
        for key in ("mix", "mix_report", "quotas"):
            v = s.manifest.stats.get(key)
            if isinstance(v, (dict, list)) and v:
                out: dict[str, Any] = {"key": key, "value": v, "buckets": None, "by_difficulty": None}
                buckets = v.get("buckets") if isinstance(v, dict) else None
                if isinstance(buckets, list) and all(isinstance(b, dict) for b in buckets):
                    out["buckets"] = buckets
                by_diff = {}
                for sp in splits:
                    rep = sp.manifest.stats.get(sp.name)
                    if isinstance(rep, dict) and isinstance(rep.get("by_difficulty"), dict):
                        by_diff[sp.name] = rep["by_difficulty"]
                out["by_difficulty"] = by_diff or None
                return out
    return None


def _example(splits: list[Split]) -> dict[str, Any] | None:
    for s in splits:
        for batch in iter_batches(s.path, batch_size=1):
            if batch.num_rows:
                return batch.slice(0, 1).to_pylist()[0]
    return None


# ---------------------------------------------------------------------------------------------
# token lengths
# ---------------------------------------------------------------------------------------------


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) of an assistant message: the think block, and what follows it."""
    for open_, close in _THINK_PATTERNS:
        m = re.search(rf"{open_}(.*?)(?:{close}|$)", text, flags=re.S)
        if m:
            rest = text[m.end():]
            rest = re.sub(r"<\|(begin|end)_of_solution\|>", "", rest)
            return m.group(1).strip(), rest.strip()
    return "", text.strip()


# Counting word pieces runs a regex over every character (~0.2 ms per 5 KB chain of thought on
# one core): past this many rows the percentiles come from a seeded random sample of about
# 1/stride of the rows (random, not every k-th row, so periodic data cannot alias), which pins
# the median and p90 to within about 1% on realistic sets; the card says when it sampled.
TOKEN_SAMPLE_ROWS = 20_000


def _sampled(batch: pa.RecordBatch, rng: np.random.Generator, stride: int) -> pa.RecordBatch:
    if stride == 1:
        return batch
    keep = np.flatnonzero(rng.random(batch.num_rows) < 1.0 / stride)
    return batch.take(pa.array(keep))


def _token_lengths(paths: list[Path], contract: str) -> tuple[dict[str, np.ndarray], int]:
    """Approximate token counts of reasoning and answer per row; returns them and the stride."""
    import polars as pl

    total = sum(read_manifest(p).rows for p in paths)
    stride = max(1, -(-total // TOKEN_SAMPLE_ROWS))
    reasoning: list[np.ndarray] = []
    answer: list[np.ndarray] = []
    rng = np.random.default_rng(0)  # fixed seed: the same folder gives the same card
    for p in paths:
        names = _schema_names(p)
        if contract == "sft" and "messages" in names:
            for batch in iter_batches(p, columns=["messages"]):
                batch = _sampled(batch, rng, stride)
                df = pl.from_arrow(pa.Table.from_batches([batch]))
                # the last assistant turn of each row holds the think block and the answer
                last = df.select(
                    pl.col("messages").list.eval(
                        pl.element().filter(pl.element().struct.field("role") == "assistant").struct.field("content")
                    ).list.last().fill_null("").alias("c")
                )["c"]
                think = last.str.extract(r"(?s)(?:<think>|<\|begin_of_thought\|>)(.*?)(?:</think>|<\|end_of_thought\|>|$)", 1).fill_null("")
                rest = last.str.replace(r"(?s)^.*(?:</think>|<\|end_of_thought\|>)", "").str.replace_all(r"<\|(begin|end)_of_solution\|>", "")
                has_think = last.str.contains(r"<think>|<\|begin_of_thought\|>")
                rest = pl.select(pl.when(has_think).then(rest).otherwise(last)).to_series()
                reasoning.append(think.str.count_matches(_PIECE).fill_null(0).to_numpy())
                answer.append(rest.str.count_matches(_PIECE).fill_null(0).to_numpy())
        elif "reasoning" in names and "answer" in names:
            for batch in iter_batches(p, columns=["reasoning", "answer"]):
                batch = _sampled(batch, rng, stride)
                df = pl.from_arrow(pa.Table.from_batches([batch]))
                reasoning.append(df["reasoning"].fill_null("").str.count_matches(_PIECE).to_numpy())
                answer.append(df["answer"].fill_null("").str.count_matches(_PIECE).to_numpy())
    out = {}
    if reasoning:
        out["reasoning"] = np.concatenate(reasoning).astype(np.int64)
        out["answer"] = np.concatenate(answer).astype(np.int64)
    return out, stride


def approx_tokens(text: str) -> int:
    return len(re.findall(_PIECE, text))
