"""Dedup's memory budget holds for any row size: a text over LONG_TEXT_CHARS is normalised,
shingled and MinHashed a piece at a time, with exactly the fingerprints of the batch path; a
single 50 MB row stays under the budget (VmHWM of a fresh child process)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from factory.filters.minhash import signatures
from factory.filters.textnorm import (
    LONG_TEXT_CHARS,
    exact_hashes,
    long_exact_hash,
    normalize_texts,
    shingle_hashes,
    text_pieces,
    words_of,
)
from factory.schemas.ids import problem_id

from factory.dedup.core import DedupConfig, run_dedup
from factory.dedup.sign import long_signature
from factory.io.dataset import read_table, write_dataset


def _row(text: str, answer: str | None = "1", source: str = "t") -> dict:
    return dict(id=problem_id("math", text, answer), source=source, source_id=None, domain="math", problem=text,
                reference_answer=answer, language="en")


def _math_text(package_data: Path, n: int = 80) -> str:
    with gzip.open(package_data / "benchmarks" / "math500_test.jsonl.gz", "rt") as f:
        return "\n\n".join(json.loads(line)["problem"] for line, _ in zip(f, range(n)))


def _short_words(n_bytes: int, seed: int = 0) -> str:
    """Random two-character words ("k3 a7 ..."): the most words per byte, the worst case."""
    rng = np.random.default_rng(seed)
    n = n_bytes // 3
    buf = np.empty((n, 3), dtype=np.uint8)
    buf[:, 0] = rng.integers(97, 123, n)
    buf[:, 1] = rng.integers(48, 58, n)
    buf[:, 2] = 32
    return buf.tobytes().decode("ascii").strip()


def test_pieces_give_the_batch_path_fingerprints(package_data):
    text = _math_text(package_data)  # real LaTeX: \frac, \left(, \text{...}, degrees, spacing
    assert "".join(text_pieces(text, size=300)) == text
    params = DedupConfig().minhash()
    sh = shingle_hashes(words_of(normalize_texts([text])), 5)
    whole_sig = signatures(sh, params.num_perm, params.seed)[0]
    whole_exact = exact_hashes(normalize_texts([text]))[0]
    boiler = np.sort(np.unique(sh.hashes[::7]))
    from factory.dedup.sign import drop_shingles

    kept_sig = signatures(drop_shingles(sh, boiler), params.num_perm, params.seed)[0]
    for size in (200, 1000, 7000):
        assert len(list(text_pieces(text, size=size))) > 1
        sig, has = long_signature(text, ngram=5, params=params, piece=size)
        assert has and np.array_equal(sig, whole_sig), size
        assert long_exact_hash(text, size=size) == whole_exact
        sig_b, _ = long_signature(text, ngram=5, params=params, boilerplate=boiler, piece=size)
        assert np.array_equal(sig_b, kept_sig) and not np.array_equal(sig_b, whole_sig)
    # every shingle boilerplate: the text keeps its full signature (as in the batch path)
    all_b = np.sort(np.unique(sh.hashes))
    assert np.array_equal(long_signature(text, ngram=5, params=params, boilerplate=all_b, piece=500)[0], whole_sig)
    # fewer words than a shingle, spread over pieces
    short = "alpha beta gamma"
    want = signatures(shingle_hashes(words_of(normalize_texts([short])), 5), params.num_perm, params.seed)[0]
    assert np.array_equal(long_signature(short, ngram=5, params=params, piece=3)[0], want)


def test_long_rows_are_deduplicated_like_short_ones(tmp_path):
    base = _short_words(LONG_TEXT_CHARS + 300_000, seed=1)
    assert len(base) > LONG_TEXT_CHARS
    words = base.split(" ")
    rng = np.random.default_rng(2)
    for i in rng.choice(len(words), len(words) // 200, replace=False):  # 0.5% of words changed
        words[i] = "zz" + words[i]
    near = " ".join(words)
    exact = "  " + base.upper().replace(" ", "   ") + " !"  # the same normalised text
    rows = [_row(base, "1", "base"), _row(exact, "1", "exact"), _row(near, "1", "near")]
    rows += [_row(f"Find x when {i}x + {2 * i} = {5 * i}.", str(i), "short") for i in range(1, 30)]
    rows += [_row(_short_words(LONG_TEXT_CHARS + 1000, seed=9), "1", "other")]  # a long row with no copy
    write_dataset(tmp_path / "in", "problem", rows)
    r = run_dedup(tmp_path / "in", tmp_path / "out", DedupConfig())
    rej = read_table(tmp_path / "out" / "rejected").to_pylist()
    kept = read_table(tmp_path / "out").to_pylist()
    assert len(kept) == len(rows) - 2 and sum(x["source"] == "other" for x in kept) == 1
    (keeper,) = [x for x in kept if x["source"] in ("base", "exact", "near")]
    assert {x["duplicate_of"] for x in rej} == {keeper["id"]} and len(rej) == 2
    # the reason is relative to the kept row: the same normalised text is `exact`
    want = ["dedup:exact", "dedup:near"] if keeper["source"] != "near" else ["dedup:near", "dedup:near"]
    assert sorted(x["reject_reason"] for x in rej) == want, r.stats
    from factory.dedup.sign import fingerprint

    fp = fingerprint([base, exact, near], ngram=5, params=DedupConfig().minhash())
    assert fp.exact[0] == fp.exact[1] != fp.exact[2]
    assert 0.8 < np.mean(fp.sigs[0] == fp.sigs[2]) < 1.0


def test_a_50MB_row_stays_under_the_budget(tmp_path):
    budget = 1 << 30
    rows = [_row(_short_words(50_000_000), "1", "huge")]
    rows += [_row(f"Compute {i} + {i + 1} and give the sum as an integer.", str(2 * i + 1)) for i in range(200)]
    write_dataset(tmp_path / "in", "problem", rows)
    del rows
    # a fresh interpreter: VmHWM is this process's own peak (ru_maxrss of a forked child would
    # carry the parent's)
    script = textwrap.dedent(f"""
        import json
        from factory.dedup.core import DedupConfig, run_dedup
        r = run_dedup({str(tmp_path / 'in')!r}, {str(tmp_path / 'out')!r}, DedupConfig(memory_budget={budget}))
        peak = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
        print(json.dumps({{"peak": peak, "rows_out": r.stats["rows_out"]}}))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["rows_out"] == 201
    # before the piece-wise path: 4.3 GB here for this row (13.9 GB in the fault probe)
    assert got["peak"] < budget, f"peak {got['peak'] / 2**20:.0f} MB over the {budget >> 20} MB budget"
