"""`factory dedup DIR --out OUT`: exact + MinHash-LSH near-duplicate removal over a problem or
trace folder; prints the report (counts, cluster size histogram, top clusters with examples),
which the output manifest's stats also record."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from factory.cli.console import err, out


def dedup_command(
    input_dir: Annotated[Path, typer.Argument(help="Problem or trace dataset folder.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (kept rows; removed rows go to OUT/rejected/).")],
    by: Annotated[Literal["problem", "trace"], typer.Option("--by", help="problem: duplicate problem statements (traces of a removed problem go too); trace: duplicate trace texts.")] = "problem",
    method: Annotated[Literal["exact", "minhash"], typer.Option("--method", help="exact: normalised text only; minhash: exact + near duplicates.")] = "minhash",
    threshold: Annotated[float, typer.Option("--threshold", help="Jaccard similarity of word shingles above which texts are duplicates.", min=0.01, max=0.99)] = 0.8,
    ngram: Annotated[int, typer.Option("--ngram", help="Words per shingle.", min=1)] = 5,
    num_perm: Annotated[int, typer.Option("--num-perm", help="MinHash permutations.", min=2, max=1024)] = 128,
    bands: Annotated[int, typer.Option("--bands", help="LSH bands (with --rows; default: chosen from --threshold).", min=0)] = 0,
    rows: Annotated[int, typer.Option("--rows", help="Signature rows per LSH band.", min=0)] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the MinHash permutations.")] = 1,
    verify: Annotated[Literal["jaccard", "none"], typer.Option("--verify", help="jaccard: keep only candidate pairs whose estimated Jaccard reaches the threshold.")] = "jaccard",
    keep: Annotated[Literal["most_correct", "smallest_id"], typer.Option("--keep", help="Which member of a cluster stays: most verified-correct traces (ties: smallest id), or smallest id.")] = "most_correct",
    boilerplate: Annotated[float, typer.Option("--boilerplate", help="Shingles in at least this fraction of distinct texts (a shared header) are left out of signatures; 0 = off.", min=0.0, max=0.99)] = 0.01,
    text_field: Annotated[Optional[str], typer.Option("--text-field", help="Column holding the text (default: problem, or reasoning for --by trace).")] = None,
    memory_budget: Annotated[str, typer.Option("--memory-budget", help="Memory budget; LSH buckets and output partitions spill to disk beyond it.")] = "2GB",
    workers: Annotated[int, typer.Option("--workers", help="Fingerprint workers (0 = all cores).", min=0)] = 0,
    pool: Annotated[Literal["threads", "processes"], typer.Option("--pool", help="threads (default: no start-up cost, shared memory) or spawned worker processes.")] = "threads",
    executor: Annotated[Literal["local", "ray"], typer.Option("--executor", help="local: this machine's cores; ray: Ray Data map_batches + groupby shuffle.")] = "local",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset at --out.")] = False,
) -> None:
    """Remove exact and near-duplicate problems (or traces) and report the clusters."""
    from factory.dedup.core import DedupConfig, parse_bytes, run_dedup

    cfg = DedupConfig(
        by=by, method=method, ngram=ngram, num_perm=num_perm, bands=bands, rows=rows, threshold=threshold,
        seed=seed, verify=verify == "jaccard", keep=keep, text_field=text_field, boilerplate=boilerplate,
        memory_budget=parse_bytes(memory_budget), workers=workers, pool=pool, executor=executor,
    )
    r = run_dedup(input_dir, out_dir, cfg, mode="overwrite" if overwrite else "create", log=lambda s: err.print(s))
    print_dedup_report(r.stats)
    out.print(f"wrote {r.stats['rows_out']} rows to {r.out}, {r.stats['rows_rejected']} to {r.out / 'rejected'}")


def print_dedup_report(stats: dict) -> None:
    from rich.table import Table

    t = Table(title=f"dedup ({stats['method']}, by {stats['by']})")
    t.add_column("")
    t.add_column("rows", justify="right")
    t.add_column("documents", justify="right")
    t.add_row("in", str(stats["rows_in"]), str(stats["documents"]))
    t.add_row("kept", str(stats["rows_out"]), str(stats["documents_kept"]))
    for reason, n in stats.get("rejected_by", {}).items():
        docs = stats["exact_duplicate_documents"] if reason.endswith("exact") else stats["near_duplicate_documents"]
        t.add_row(f"rejected {reason}", str(n), str(docs))
    out.print(t)
    h = Table(title="cluster sizes")
    h.add_column("size")
    h.add_column("clusters", justify="right")
    for k, v in stats.get("cluster_sizes", {}).items():
        h.add_row(k, str(v))
    out.print(h)
    if stats.get("top_clusters"):
        c = Table(title="top clusters", show_lines=True)
        c.add_column("cluster (kept id)", overflow="fold")
        c.add_column("size", justify="right")
        c.add_column("kept / duplicates", overflow="fold")
        for cl in stats["top_clusters"]:
            texts = [f"[green]kept[/] {cl['kept']['text'][:160]}"] + [f"[red]dup[/] {e['id']}: {e['text'][:160]}" for e in cl["examples"]]
            c.add_row(cl["cluster_id"], str(cl["size"]), "\n".join(texts))
        out.print(c)
    mh = stats.get("minhash")
    if mh:
        out.print(
            f"minhash: {mh['num_perm']} permutations, {mh['bands']} bands x {mh['rows']} rows, threshold {mh['threshold']}, "
            f"{mh['ngram']}-word shingles; {stats['candidate_pairs']} candidate pairs, {stats['verified_pairs']} verified; "
            f"{stats['seconds']['total']}s"
        )
