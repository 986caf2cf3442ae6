"""Dedup: normalisation, MinHash quality, planted duplicates in real MATH-500 problems (reworded,
renumbered, reformatted), boilerplate kept, keep rule on verified traces, determinism across
runs, shard orders, spilling and worker counts, Ray equals local, command and recipe stage."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from factory.filters.minhash import estimated_jaccard, signatures
from factory.filters.textnorm import normalize_text, text_shingles
from factory.schemas.contracts import TRACE_SCHEMA
from factory.schemas.ids import problem_id
from typer.testing import CliRunner

from factory.dedup.core import DedupConfig, run_dedup
from factory.io.dataset import DatasetWriter, read_manifest, read_table, write_dataset

HEADER = (
    "You are a careful competition mathematician. Read the problem below, think step by step, check every "
    "computation twice, state any assumption you make, and give the final answer on the last line in the form "
    "Answer: followed by the simplified exact value with no units and no further commentary of any kind."
)


def _math500(package_data: Path) -> list[dict]:
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt") as f:
        return [json.loads(line) for line in f]


def _row(text: str, answer: str | None = "1", source: str = "test") -> dict:
    return dict(id=problem_id("math", text, answer), source=source, source_id=None, domain="math", problem=text,
                reference_answer=answer, language="en")


def _words(text: str) -> int:
    return len(normalize_text(text).split())


def _jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = text_shingles([a], n), text_shingles([b], n)
    x, y = set(sa.hashes.tolist()), set(sb.hashes.tolist())
    return len(x & y) / len(x | y)


def _planted(package_data: Path):
    """Originals (MATH-500) + planted copies; returns rows and {copy id: (original id, kind, J)}."""
    probs = _math500(package_data)
    originals = [_row(p["problem"], p["answer"], "math500") for p in probs]
    planted, truth = [], {}
    long_ = [p for p in probs if _words(p["problem"]) >= 60][:12]
    for p in long_[:4]:  # reworded: a filler word and one synonym
        text = "Please " + p["problem"].replace(" the ", " this ", 1)
        planted.append((p, text, "reworded"))
    for p in long_[4:8]:  # renumbered: one number changed
        import re

        m = re.search(r"\d+", p["problem"])
        text = p["problem"][: m.start()] + str(int(m.group()) + 7) + p["problem"][m.end():]
        planted.append((p, text, "renumbered"))
    used = {p["unique_id"] for p in long_[:8]}  # each original gets one copy: clusters of 2
    with_frac = [p for p in probs if "\\frac" in p["problem"] and p["unique_id"] not in used][:4]
    with_paren = [p for p in probs if "(" in p["problem"] and "\\frac" not in p["problem"] and p["unique_id"] not in used][:4]
    for p in with_frac:
        planted.append((p, "  " + p["problem"].replace("\\frac", "\\dfrac").replace(" ", "   ") + "\n", "reformatted"))
    for p in with_paren:
        planted.append((p, p["problem"].replace("(", "\\left( ").replace(")", " \\right)").upper(), "reformatted"))
    rows = list(originals)
    for p, text, kind in planted:
        r = _row(text, p["answer"], "copies")
        rows.append(r)
        truth[r["id"]] = (_row(p["problem"], p["answer"])["id"], kind, _jaccard(p["problem"], text))
    # distinct problems that share boilerplate: a common closing sentence, or a long header
    for i in range(12):
        rows.append(_row(f"A bag holds {i + 3} red and {2 * i + 5} blue marbles; {i + 2} are drawn without replacement. "
                         "What is the probability that all are red? Express your answer as a common fraction.", None, "boiler"))
    short = [p for p in probs if 12 <= _words(p["problem"]) <= 25][:12]
    for p in short:
        rows.append(_row(HEADER + "\n\n" + p["problem"], p["answer"], "header"))
    return rows, truth


@pytest.fixture(scope="module")
def planted(tmp_path_factory, package_data):
    rows, truth = _planted(package_data)
    d = tmp_path_factory.mktemp("planted")
    write_dataset(d / "in", "problem", rows, rows_per_shard=150)
    return d, rows, truth


@pytest.fixture(scope="module")
def deduped(planted):
    d, rows, truth = planted
    r = run_dedup(d / "in", d / "out", DedupConfig())
    return r, read_table(d / "out"), read_table(d / "out" / "rejected")


# --- pure functions ---------------------------------------------------------------------------


def test_normalisation_makes_presentation_variants_equal():
    a = normalize_text(r"Find $\dfrac{1}{2}\left( x+1 \right)$,  when   x=3.")
    assert a == normalize_text(r"FIND $\frac{1}{2}(x+1)$ when x = 3")
    assert a == normalize_text(r"find \tfrac{1}{2}\,\bigl(x+1\bigr)   when x=3 !")
    assert normalize_text("ＡＢＣ １２３ x²") == "abc 123 x2"  # NFKC: full-width, superscripts
    assert normalize_text(r"$x \le 3$") == normalize_text(r"$x \leq 3$")
    assert normalize_text(r"\leftarrow") != normalize_text(r"\arrow")  # \left only as a whole command
    assert normalize_text("What is 2+2?") != normalize_text("What is 2+3?")


def test_batch_normaliser_matches_the_plain_expression_on_real_multilingual_text(test_data, package_data):
    """normalize_texts (NFKC gathered/scattered on non-ASCII rows only, separator runs that are
    one space left alone) gives exactly what the plain polars expression gives."""
    import polars as pl
    from factory.filters.textnorm import (
        _LATEX_RULES,
        _NON_WORD,
        normalize_expr,
        normalize_texts,
    )

    def reference(numbers):  # NFKC on every row, every separator run rewritten
        e = pl.col("t").fill_null("").str.normalize("NFKC").str.to_lowercase()
        for pattern, repl in _LATEX_RULES:
            e = e.str.replace_all(pattern, repl)
        e = e.str.replace_all(_NON_WORD, " ")
        return (e.str.replace_all(r"\p{N}+", "0") if numbers == "mask" else e).str.strip_chars()

    texts = [p["problem"] for p in _math500(package_data)[:200]]
    for stem in ("src.eng", "ref.zho-CN", "ref.rus", "ref.arb", "ref.hin"):
        path = test_data / "text" / "ntrex128" / f"newstest2019-{stem}.txt.gz"
        texts += gzip.open(path, "rt", encoding="utf-8").read().splitlines()[:100]
    texts += [None, "", "  \t ", "Ｆｕｌｌ－ｗｉｄｔｈ\u00a0１２３", "ﬁnd  x² — “½”", "a\n\nb", " lead", "trail "]
    assert sum(t is not None and not t.isascii() for t in texts) > 300
    s = pl.Series("t", texts, dtype=pl.String)
    for numbers in ("keep", "mask"):
        plain = s.to_frame().select(normalize_expr(pl.col("t"), numbers=numbers)).to_series()
        ref = s.to_frame().select(reference(numbers)).to_series()
        assert plain.to_list() == ref.to_list()
        assert normalize_texts(s, numbers=numbers).to_list() == ref.to_list()
        assert all("  " not in t and t == t.strip() for t in plain.to_list())
    assert s.to_list() == texts  # the input Series is not modified in place


def test_distinct_per_text_counts_each_shingle_once_per_text(package_data):
    from factory.dedup.sign import distinct_per_text

    texts = [p["problem"] for p in _math500(package_data)[:300]]
    texts += [texts[0] + " " + texts[0], "a b c d e a b c d e a b c d e"]  # repeats inside one text
    sh = text_shingles(texts, 5)
    got = np.sort(distinct_per_text(sh))
    want = np.sort(np.concatenate([np.unique(sh.hashes[sh.offsets[i] : sh.offsets[i + 1]]) for i in range(len(texts))]))
    assert np.array_equal(got, want)
    assert len(got) < len(sh.hashes)


def test_shingles_short_texts_and_word_order():
    sh = text_shingles(["one two three", "one two three four five six", "", "three two one"], 5)
    counts = np.diff(sh.offsets).tolist()
    assert counts == [1, 2, 0, 1]  # a short text is one whole-text shingle, empty has none
    assert sh.hashes[0] != sh.hashes[3]  # order matters
    again = text_shingles(["One, two  THREE!"], 5)
    assert again.hashes[0] == sh.hashes[0]


def test_minhash_estimates_jaccard_and_is_seeded(package_data):
    probs = [p["problem"] for p in _math500(package_data) if _words(p["problem"]) >= 30][:150]
    rng = random.Random(0)
    edited = []
    for p in probs:
        w = p.split()
        for _ in range(rng.randint(1, 6)):
            w[rng.randrange(len(w))] = f"zz{rng.randrange(1000)}"
        edited.append(" ".join(w))
    a, b = text_shingles(probs, 5), text_shingles(edited, 5)
    est = estimated_jaccard(signatures(a, 128, 7), signatures(b, 128, 7))
    true = np.array([_jaccard(x, y) for x, y in zip(probs, edited)])
    err = est - true
    assert abs(err.mean()) < 0.02 and np.sqrt((err ** 2).mean()) < 0.06  # theory: ~0.04 at 128 permutations
    assert (signatures(a, 128, 7) == signatures(a, 128, 7)).all()
    assert not (signatures(a, 128, 7) == signatures(a, 128, 8)).all()


# --- planted duplicates -----------------------------------------------------------------------


def test_planted_duplicates_are_found(planted, deduped):
    _, rows, truth = planted
    r, kept, rej = deduped
    rej_rows = {x["id"]: x for x in rej.to_pylist()}
    kept_ids = set(kept.column("id").to_pylist())
    assert len({k for _, k, _ in truth.values()}) == 3 and len(truth) >= 14
    for copy_id, (orig_id, kind, j) in truth.items():
        # the copy or the original was removed, pointing at the other
        if copy_id in rej_rows:
            assert rej_rows[copy_id]["duplicate_of"] == orig_id, kind
        else:
            assert rej_rows[orig_id]["duplicate_of"] == copy_id, kind
        assert j >= 0.85 or kind == "reformatted"
    reasons = {rej_rows.get(c, rej_rows.get(o, {})).get("reject_reason") for c, (o, kind, _) in truth.items() if kind == "reformatted"}
    assert reasons == {"dedup:exact"}  # normalisation makes reformatted copies exact duplicates
    near = {rej_rows.get(c, rej_rows.get(o, {})).get("reject_reason") for c, (o, kind, _) in truth.items() if kind != "reformatted"}
    assert near == {"dedup:near"}
    assert r.stats["rows_in"] == len(rows) and r.stats["rows_out"] + r.stats["rows_rejected"] == len(rows)
    assert r.stats["rows_rejected"] == len(truth)  # nothing else removed: MATH-500 has no duplicates
    assert len(kept_ids) == len(rows) - len(truth)
    # every kept row carries its cluster id; clusters of 2 appear in the histogram
    assert kept.column("cluster_id").null_count == 0
    assert r.stats["cluster_sizes"]["2"] == len(truth)
    top = r.stats["top_clusters"][0]
    assert top["size"] == 2 and top["examples"] and top["kept"]["text"]


def test_exact_method_and_rededup(planted, deduped, tmp_path):
    d, _, truth = planted
    r = run_dedup(d / "in", tmp_path / "exact", DedupConfig(method="exact"))
    kinds = [k for _, k, _ in truth.values()]
    assert r.stats["rows_rejected"] == kinds.count("reformatted") and r.stats["rejected_by"] == {"dedup:exact": kinds.count("reformatted")}
    # deduping the output again removes nothing and replaces the cluster columns
    r2 = run_dedup(d / "out", tmp_path / "again", DedupConfig())
    assert r2.stats["rows_rejected"] == 0 and read_table(tmp_path / "again").schema.names.count("cluster_id") == 1


def test_boilerplate_sharing_problems_are_kept(deduped):
    _, kept, _ = deduped
    sources = kept.column("source").to_pylist()
    assert sources.count("boiler") == 12  # same closing sentence, different problems
    assert sources.count("header") == 12  # same 45-word instruction header, different problems


def test_long_shared_header_is_boilerplate_not_duplication(tmp_path, package_data):
    # a few-shot header (three real GSM8K problems, ~150 words) on 30 different short
    # problems: without boilerplate removal their Jaccard is ~0.85, one cluster
    with gzip.open(package_data / "benchmarks" / "gsm8k_test.jsonl.gz", "rt") as f:
        shots = [json.loads(next(f))["question"] for _ in range(3)]
    header = HEADER + " Examples: " + " ".join(shots)
    probs = [p["problem"] for p in _math500(package_data) if 8 <= _words(p["problem"]) <= 14][:30]
    rows = [_row(header + "\n\n" + p, None, "header") for p in probs]
    rows += [_row(header + "\n\n" + probs[0].replace("?", " ?").upper(), None, "copy")]  # a real duplicate
    write_dataset(tmp_path / "in", "problem", rows)
    r = run_dedup(tmp_path / "in", tmp_path / "out", DedupConfig())
    assert r.stats["boilerplate_shingles"] >= 150  # the header's shingles
    assert r.stats["rows_rejected"] == 1 and r.stats["rejected_by"] == {"dedup:exact": 1}
    # what the header alone would have done (the family rule would also keep them: the header
    # is a shared preamble and the questions after it name other numbers)
    off = run_dedup(tmp_path / "in", tmp_path / "off", DedupConfig(boilerplate=0, family="none"))
    assert off.stats["rows_rejected"] > 20
    fam = run_dedup(tmp_path / "in", tmp_path / "fam", DedupConfig(boilerplate=0))
    assert fam.stats["rows_rejected"] < 5 and fam.stats["family_pairs"]["question"] > 20
    # the one-pass path (small input: sample taken from the fingerprint pass's shingles) and the
    # two-pass path (separate sampling pass, worker processes) agree, also on a partial sample
    from factory.dedup.core import _one_pass, open_source
    from factory.io.dataset import shard_paths

    size = sum(p.stat().st_size for p in shard_paths(tmp_path / "in"))
    for kw in ({}, {"boilerplate_sample": 15, "boilerplate_min_docs": 5}):
        one_cfg, two_cfg = DedupConfig(**kw), DedupConfig(**kw, pool="processes", workers=2)
        assert _one_pass(open_source(tmp_path / "in", one_cfg), one_cfg, one_cfg.minhash(), size)
        assert not _one_pass(open_source(tmp_path / "in", two_cfg), two_cfg, two_cfg.minhash(), size)
        a = run_dedup(tmp_path / "in", tmp_path / f"one{len(kw)}", one_cfg)
        b = run_dedup(tmp_path / "in", tmp_path / f"two{len(kw)}", two_cfg)
        assert a.stats["boilerplate_shingles"] == b.stats["boilerplate_shingles"] > 0
        assert _shard_hashes(tmp_path / f"one{len(kw)}") == _shard_hashes(tmp_path / f"two{len(kw)}")


def test_keep_rule_prefers_verified_correct_traces(tmp_path, package_data):
    probs = [p for p in _math500(package_data) if _words(p["problem"]) >= 60]
    base = probs[0]["problem"]
    copy = "Please " + base
    schema = TRACE_SCHEMA.append(pa.field("verdict_math", pa.string()))

    def trace(pid, text, i, verdict, reasoning=None):
        reasoning = reasoning or f"reasoning {pid} {i}"
        return dict(id=f"t_{pid}_{i}", problem_id=pid, sample_index=i, teacher="t", backend="replay", sampling=None,
                    system_prompt=None, prompt=text, completion=reasoning, reasoning=reasoning,
                    reasoning_finished=True, answer="1", finish_reason="stop", prompt_tokens=None, completion_tokens=None,
                    domain="math", source="s", problem=text, reference_answer="1", tests=None, difficulty=None, level=None,
                    language="en", license=None, meta=None, verdict_math=verdict)

    # p_a has the smaller id but only one correct trace; p_b has three
    rows = [trace("p_a", copy, 0, "correct"), trace("p_a", copy, 1, "wrong")]
    rows += [trace("p_b", base, i, "correct") for i in range(3)]
    rows += [trace("p_c", probs[1]["problem"], 0, "wrong", reasoning="Let me think. " + base), trace("p_c", probs[1]["problem"], 1, "wrong", reasoning="let me think: " + base)]
    with DatasetWriter(tmp_path / "traces", "trace", schema=schema) as w:
        w.write_rows(rows)
    r = run_dedup(tmp_path / "traces", tmp_path / "out", DedupConfig())
    kept = read_table(tmp_path / "out").to_pylist()
    rej = read_table(tmp_path / "out" / "rejected").to_pylist()
    assert sorted({x["problem_id"] for x in kept}) == ["p_b", "p_c"]
    assert {x["problem_id"] for x in rej} == {"p_a"} and all(x["duplicate_of"] == "p_b" for x in rej)
    assert {x["cluster_id"] for x in kept if x["problem_id"] == "p_b"} == {"p_b"}
    assert r.stats["documents"] == 3 and r.stats["rows_rejected"] == 2 and r.stats["rows_out"] == 5
    assert "verdict_math" in read_table(tmp_path / "out").schema.names
    r2 = run_dedup(tmp_path / "traces", tmp_path / "out2", DedupConfig(keep="smallest_id"))
    assert {x["problem_id"] for x in read_table(tmp_path / "out2").to_pylist()} == {"p_a", "p_c"}
    assert r2.stats["rows_out"] == 4
    # --by trace: the two traces of p_c have the same reasoning up to punctuation and case
    r3 = run_dedup(tmp_path / "traces", tmp_path / "out3", DedupConfig(by="trace"))
    rej3 = read_table(tmp_path / "out3" / "rejected").to_pylist()
    assert [(x["id"], x["duplicate_of"], x["reject_reason"]) for x in rej3] == [("t_p_c_1", "t_p_c_0", "dedup:exact")]
    assert r3.stats["rows_rejected"] == 1 and r3.stats["rows_out"] == 6


# --- determinism ------------------------------------------------------------------------------


def _shard_hashes(path: Path) -> list[str]:
    return [s.sha256 for s in read_manifest(path).shards] + [s.sha256 for s in read_manifest(path / "rejected").shards]


def test_identical_output_across_runs_shard_orders_spilling_and_workers(planted, deduped, tmp_path):
    d, rows, _ = planted
    base = _shard_hashes(d / "out")
    run_dedup(d / "in", tmp_path / "again", DedupConfig())
    assert _shard_hashes(tmp_path / "again") == base
    shuffled = list(rows)
    random.Random(3).shuffle(shuffled)
    write_dataset(tmp_path / "shuffled", "problem", shuffled, rows_per_shard=97)
    # shuffled shards + bucket spill to 8 partitions + 3 output partitions + 2 worker threads
    cfg = DedupConfig(bucket_partitions=8, output_partitions=3, batch_size=100, workers=2)
    r = run_dedup(tmp_path / "shuffled", tmp_path / "spilled", cfg)
    assert r.stats["bucket_partitions"] == 8 and r.stats["output_partitions"] == 3
    assert _shard_hashes(tmp_path / "spilled") == base
    # the same with 2 spawned worker processes
    cfg = DedupConfig(output_partitions=2, batch_size=150, workers=2, pool="processes")
    r = run_dedup(tmp_path / "shuffled", tmp_path / "processes", cfg)
    assert read_manifest(tmp_path / "processes").run["pool"] == "processes"
    assert _shard_hashes(tmp_path / "processes") == base


def test_in_memory_core_gives_the_same_clusters(planted, deduped):
    """cluster_texts (the core bench/dedup.py compares with datasketch) partitions the texts
    exactly as run_dedup does (the whole input is the boilerplate sample in both)."""
    from factory.dedup.core import cluster_texts

    _, rows, _ = planted
    _, kept, rej = deduped
    cluster_of = {r["id"]: r["cluster_id"] for t in (kept, rej) for r in t.select(["id", "cluster_id"]).to_pylist()}
    labels = cluster_texts([r["problem"] for r in rows], DedupConfig(workers=2, batch_size=100))
    by_label: dict[int, set[str]] = {}
    by_cluster: dict[str, set[str]] = {}
    for r, lab in zip(rows, labels.tolist()):
        by_label.setdefault(lab, set()).add(r["id"])
        by_cluster.setdefault(cluster_of[r["id"]], set()).add(r["id"])
    assert sorted(map(sorted, by_label.values())) == sorted(map(sorted, by_cluster.values()))
    assert sum(len(v) > 1 for v in by_label.values()) >= 10  # the planted copies are found


# --- command and stage ------------------------------------------------------------------------


def test_command_prints_report_and_errors_are_clear(planted, tmp_path):
    from factory.cli.app import app

    d, _, _ = planted
    res = CliRunner().invoke(app, ["dedup", str(d / "in"), "--out", str(tmp_path / "o"), "--threshold", "0.7"])
    assert res.exit_code == 0, res.output
    assert "cluster sizes" in res.output and "top clusters" in res.output and "dedup:near" in res.output
    assert read_manifest(tmp_path / "o").stats["minhash"]["threshold"] == 0.7
    res = CliRunner().invoke(app, ["dedup", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 1 and "no such dataset folder" in res.output
    res = CliRunner().invoke(app, ["dedup", str(d / "in"), "--out", str(tmp_path / "o3"), "--memory-budget", "lots"])
    assert res.exit_code == 1 and "2GB" in res.output
    res = CliRunner().invoke(app, ["dedup", str(d / "in"), "--out", str(tmp_path / "o4"), "--by", "trace"])
    assert res.exit_code == 1 and "trace folder" in res.output


def test_recipe_stage_validates_runs_and_skips(planted, tmp_path):
    from factory.pipeline.recipe import run_section, validate_section

    probs = validate_section("dedup", {"input": "p", "out": "q", "thresh": 0.5, "threshold": 2, "by": "row", "bands": 200, "rows": 1})
    text = "\n".join(probs)
    assert "dedup.thresh: unknown key" in text and "dedup.threshold: expected a number in (0, 1), found 2" in text and "dedup.by" in text
    assert validate_section("dedup", {"input": "p", "out": "q", "bands": 20, "rows": 10}) == [
        "dedup.bands: expected bands and rows both > 0 with bands*rows <= num_perm (128), found 20 x 10"
    ]
    d, _, _ = planted
    logs: list[str] = []
    s = run_section("dedup", {"input": str(d / "in"), "out": "dd"}, run_dir=tmp_path, seed=1, log=logs.append)
    assert not s.get("skipped") and s["rows_rejected"] > 0 and any("cluster sizes" in x for x in logs)
    assert run_section("dedup", {"input": str(d / "in"), "out": "dd"}, run_dir=tmp_path, seed=1, log=logs.append)["skipped"]
