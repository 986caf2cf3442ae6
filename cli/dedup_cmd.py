"""Output of `factory dedup DIR --out OUT` (its flags come from factory.dedup.options.DedupOptions): exact + MinHash-LSH near-duplicate removal over a problem or
trace folder; prints the report (counts, cluster size histogram, top clusters with examples),
which the output manifest's stats also record."""

from __future__ import annotations

from factory.cli.console import out


def present(summary: dict, opts) -> None:
    """Print the dedup report (counts, cluster sizes, top clusters); the manifest keeps it too."""
    if summary.get("skipped"):
        out.print(f"up to date: {opts.out} (same input and options; pass --overwrite to redo it)")
        return
    print_dedup_report(summary)
    out.print(f"wrote {summary['rows_out']} rows to {opts.out}, {summary['rows_rejected']} to {opts.out}/rejected")


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
