"""Pairs -> clusters -> output columns: the family rule, connected components and keepers over
the documents named by some pair, the report's statistics and examples, and the columns each
output row gets (cluster_id, reject_reason, duplicate_of, meta.family_id). Shared by the local
run (all documents) and the Ray run (one worker task, the documents in some pair).

Exercise: `factory dedup problems/ --out deduped/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from factory.dedup.family import DUP, REASONS, DocInfo, classify, resolve
from factory.dedup.lsh import choose_keepers, components

EXTRA_KEPT = [pa.field("cluster_id", pa.string())]


EXTRA_REJECTED = [pa.field("cluster_id", pa.string()), pa.field("reject_reason", pa.string()), pa.field("duplicate_of", pa.string())]


@dataclass
class DedupResult:
    stats: dict[str, Any]
    out: Path


def _sizes_histogram(sizes: np.ndarray) -> dict[str, int]:
    edges = [(1, 1), (2, 2), (3, 3), (4, 5), (6, 10), (11, 100), (101, 10**12)]
    out = {}
    for lo, hi in edges:
        k = int(((sizes >= lo) & (sizes <= hi)).sum())
        if k:
            out[str(lo) if lo == hi else (f"{lo}-{hi}" if hi < 10**12 else f"{lo}+")] = k
    return out


@dataclass
class Clustering:
    """Clusters, keepers and families of n documents (all of them locally; under Ray, the
    documents in some pair, the rest being singletons counted in `singletons`)."""

    labels: np.ndarray
    keeper: np.ndarray
    is_kept: np.ndarray
    exact_dup: np.ndarray
    near_pairs: np.ndarray
    kind: np.ndarray
    answers: dict[int, str | None]
    tails: dict[int, str]
    fam: _Families | None
    kept_without_rule: int
    singletons: int = 0

    def log_family(self, log: Callable[[str], None]) -> None:
        if self.fam is not None:
            log(f"family rule: {int((self.kind != DUP).sum())} near-duplicate pair(s) are different questions; "
                f"{int(self.is_kept.sum()) - self.kept_without_rule} document(s) kept in {self.fam.count} familie(s)")

    def doc_stats(self, cfg: Any, params: Any) -> dict[str, Any]:
        sizes = np.bincount(self.labels) if len(self.labels) else np.zeros(0, np.int64)
        sizes = np.concatenate([sizes[sizes > 0], np.ones(self.singletons, np.int64)])
        kept = int(self.is_kept.sum()) + self.singletons
        out: dict[str, Any] = {
            "documents": int(len(self.labels)) + self.singletons,
            "documents_kept": kept,
            "by": cfg.by,
            "method": cfg.method,
            "exact_duplicate_documents": int((~self.is_kept & self.exact_dup).sum()),
            "near_duplicate_documents": int((~self.is_kept & ~self.exact_dup).sum()),
            "clusters": int(len(sizes)),
            "cluster_sizes": _sizes_histogram(sizes),
            "verified_pairs": int(len(self.near_pairs)),
        }
        if params is not None:
            out["minhash"] = {"num_perm": params.num_perm, "bands": params.bands, "rows": params.rows, "threshold": params.threshold, "ngram": cfg.ngram}
        out["family_rule"] = cfg.family if cfg.by == "problem" else "none"
        out["family_pairs"] = {r: int((self.kind == code).sum()) for code, r in REASONS.items()}
        out["kept_by_family_rule"] = int(self.is_kept.sum()) - self.kept_without_rule
        out["families"] = self.fam.count if self.fam is not None else 0
        out["family_documents"] = self.fam.documents if self.fam is not None else 0
        return out


def cluster(n: int, pairs_exact: np.ndarray, near_pairs: np.ndarray, *, correct: np.ndarray, rank: np.ndarray, rank_order: np.ndarray,
            exact: np.ndarray, cfg: Any, family_info: Callable[[np.ndarray], tuple[dict[int, DocInfo], dict[int, str]]]) -> Clustering:
    """Pairs -> the family rule -> clusters (components) -> keepers -> families."""
    kind = np.zeros(len(near_pairs), dtype=np.int8)
    answers: dict[int, str | None] = {}
    tails: dict[int, str] = {}
    if cfg.family != "none" and cfg.by == "problem" and len(near_pairs):
        info, tails = family_info(near_pairs)
        kind = classify(near_pairs, info, rule=cfg.family, preamble=cfg.family_preamble)
        answers = {d: i.answer for d, i in info.items()}
    labels, families = resolve(n, pairs_exact, near_pairs, kind, answers, rank)
    keeper = choose_keepers(labels, correct, rank)
    is_kept = keeper == np.arange(n)
    exact_dup = exact == exact[keeper]
    fam = _families(families, labels, is_kept, rank, rank_order) if (kind != DUP).any() else None
    without = int(len(np.unique(components(n, np.concatenate([pairs_exact, near_pairs]))))) if fam is not None else int(is_kept.sum())
    return Clustering(labels, keeper, is_kept, exact_dup, near_pairs, kind, answers, tails, fam, without)


def _extend(schema: pa.Schema, extra: list[pa.Field]) -> pa.Schema:
    names = set(schema.names)
    out = schema.remove_metadata()
    for f in extra:
        if f.name in names:
            out = out.remove(out.get_field_index(f.name))
        out = out.append(f)
    return out


@dataclass
class _Families:
    doc: np.ndarray  # per document: the family's first kept document (id order), or -1
    count: int  # families of two or more distinct problems
    documents: int


def _families(families: np.ndarray, labels: np.ndarray, kept: np.ndarray, rank: np.ndarray, rank_order: np.ndarray) -> _Families:
    """Families (components of all links) holding two or more duplicate clusters, each named by
    its first kept document in id order."""
    n_fam = int(families.max()) + 1
    pairs = np.unique(np.stack([families, labels], axis=1), axis=0)
    clusters = np.bincount(pairs[:, 0], minlength=n_fam)
    first = np.full(n_fam, len(rank), dtype=np.int64)
    np.minimum.at(first, families[kept], rank[kept])
    multi = clusters[families] >= 2
    doc = np.where(multi, rank_order[np.minimum(first[families], len(rank) - 1)], -1)
    return _Families(doc, int((clusters >= 2).sum()), int(multi.sum()))


def _top_families(fam: _Families, doc_ids: pl.Series, answers: dict[int, str | None], tails: dict[int, str], rank: np.ndarray, *, top: int) -> list[dict[str, Any]]:
    """The biggest families (ties: smallest family id) with each member's answer and question."""
    members: dict[int, list[int]] = {}
    for d in np.flatnonzero(fam.doc >= 0).tolist():
        members.setdefault(int(fam.doc[d]), []).append(d)
    order = sorted(members, key=lambda f: (-len(members[f]), int(rank[f])))[:top]
    out = []
    for f in order:
        ms = sorted(members[f], key=lambda d: int(rank[d]))
        out.append({
            "family_id": str(doc_ids[f]),
            "size": len(ms),
            "members": [{"id": str(doc_ids[d]), "answer": answers.get(d), "question": tails.get(d, "")[-120:]} for d in ms[:6]],
        })
    return out


def _set_family(t: pa.Table, family: pa.Array | None) -> pa.Table:
    """meta.family_id of each row: set where `family` has a value, removed where a previous
    dedup left one and this run found no family (meta is canonical JSON: sorted keys)."""
    if "meta" not in t.column_names:
        return t
    meta = t.column("meta")
    stale = pc.fill_null(pc.match_substring(meta, '"family_id"'), False)
    has = pa.array(np.zeros(t.num_rows, bool)) if family is None else family.is_valid()
    touch = np.flatnonzero(pc.or_(stale, has).to_numpy(zero_copy_only=False))
    if not len(touch):
        return t
    import json

    from factory.schemas.contracts import meta_json

    values = meta.to_pylist()
    fam = family.to_pylist() if family is not None else [None] * t.num_rows
    for i in touch.tolist():
        m = json.loads(values[i]) if values[i] else {}
        if not isinstance(m, dict):
            continue  # not ours to rewrite
        m.pop("family_id", None)
        if fam[i] is not None:
            m["family_id"] = fam[i]
        values[i] = meta_json(m)
    return t.set_column(t.column_names.index("meta"), "meta", pa.array(values, meta.type))


def top_clusters(labels: np.ndarray, keeper: np.ndarray, doc_ids: pl.Series, *, top: int,
                 texts_for: Callable[[set[str]], dict[str, str]]) -> list[dict[str, Any]]:
    """The biggest clusters (ties: smallest kept id) with a few member texts as examples."""
    if not len(labels):
        return []
    sizes = np.bincount(labels)
    multi = np.nonzero(sizes > 1)[0]
    if not len(multi):
        return []
    # keeper doc of each label
    k_of_label = np.full(len(sizes), -1, dtype=np.int64)
    k_of_label[labels] = keeper
    order = sorted(multi.tolist(), key=lambda lab: (-int(sizes[lab]), str(doc_ids[int(k_of_label[lab])])))[:top]
    want: dict[int, list[int]] = {}
    for lab in order:
        members = np.nonzero(labels == lab)[0]
        kd = int(k_of_label[lab])
        others = sorted((int(m) for m in members if m != kd), key=lambda m: str(doc_ids[m]))[:2]
        want[lab] = [kd] + others
    texts = texts_for({str(doc_ids[d]) for ds in want.values() for d in ds})
    out = []
    for lab in order:
        ds = want[lab]
        out.append(
            {
                "cluster_id": str(doc_ids[ds[0]]),
                "size": int(sizes[lab]),
                "kept": {"id": str(doc_ids[ds[0]]), "text": texts.get(str(doc_ids[ds[0]]), "")[:300]},
                "examples": [{"id": str(doc_ids[d]), "text": texts.get(str(doc_ids[d]), "")[:300]} for d in ds[1:]],
            }
        )
    return out
