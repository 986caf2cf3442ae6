"""The column splitter of Sky-T1 completions gives what `split_skyt1` gives, row for row."""

from __future__ import annotations

import itertools
import random

import pyarrow as pa

from factory.ingest.presets import BOS, BOT, EOS, EOT, split_skyt1, split_think
from factory.ingest.split_cols import split_skyt1_column, split_think_column

PIECES = [BOT, EOT, BOS, EOS, "think", " ", "\n", "\u3000", "é x", "", "\\boxed{1}", "\x85", "a\u2003"]


def _cases() -> list[str]:
    cases = ["", " ", "just text", "  \u2028 ", BOT, EOT, BOS, EOS,
             f"{BOT}think{EOT}{BOS}sol{EOS}", f"{BOT}think{EOT}{BOS}so", f"{BOT}thin", f"  {BOT} t {EOT}  ",
             f"{EOT}x{BOT}y{EOT}z", f"{BOS}a{BOT}b{EOT}c{BOS}d{EOS}", f"{EOS}{BOS}x{EOS}", f"{BOT}{BOT}{EOT}{EOT}",
             f"pre {BOT} t {BOS} s {EOS} post", f"{BOT}t{EOT}{EOS}{BOS}s{EOS}", f"{BOT}t{EOT} mid {BOS}\u3000{EOS}"]
    cases += ["".join(p) for p in itertools.product([BOT, EOT, BOS, EOS, " x "], repeat=3)]
    rng = random.Random(7)
    cases += ["".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 9))) for _ in range(3000)]
    return cases


def test_column_split_matches_split_skyt1_on_every_case():
    cases = _cases()
    _same_as(split_skyt1_column(pa.chunked_array([pa.array(cases[:100]), pa.array(cases[100:])])), cases, split_skyt1)


def _same_as(got, cases: list[str], splitter) -> None:
    """Row for row, the column split gives what the string splitter gives."""
    assert got is not None
    reasoning, answer = got.reasoning.to_pylist(), got.answer.to_pylist()
    for i, text in enumerate(cases):
        want = splitter(text)
        assert (reasoning[i], answer[i], got.finished[i], got.finish_reason[i], got.form[i]) == \
            (want.reasoning, want.answer, want.reasoning_finished, want.finish_reason, want.form), repr(text)
    assert got.reasoning.type == pa.string() and got.answer.type == pa.string()


def test_column_split_of_a_sliced_array():
    cases = _cases()[:500]
    arr = pa.array(["pad"] * 3 + cases).slice(3)
    got = split_skyt1_column(arr)
    assert got.reasoning.to_pylist() == [split_skyt1(t).reasoning for t in cases]
    assert got.answer.to_pylist() == [split_skyt1(t).answer for t in cases]


THINK_PIECES = ["<think>", "</think>", "<think", "</thin", "think>", "x", " ", "\n", "\u3000", "\xa0", "\x1c", "é",
                "\\boxed{2}", "\u2028", "答", "", "<", "/"]


def _think_cases() -> list[str]:
    cases = ["", " ", "answer only", "<think>", "</think>", "<think></think>", "<think> </think> ", "<think>t</think>a",
             "  \u3000<think>t</think> a ", "\xa0<think>t", "x<think>t</think>a", "t</think>a", "t</think>", "<think>a</think>b</think>c",
             "</think><think>t</think>a", "<think><think>t</think>a", " \n<think>\n t \n</think>\n\n a \n", "<<think>t</think>a",
             "<think>t</think></think>", "\u200b<think>t</think>a"]  # U+200B is not whitespace to str.isspace()
    cases += ["".join(p) for p in itertools.product(["<think>", "</think>", " ", "x"], repeat=4)]
    rng = random.Random(11)
    cases += ["".join(rng.choice(THINK_PIECES) for _ in range(rng.randrange(0, 10))) for _ in range(4000)]
    return cases


def test_think_column_split_matches_split_think_on_every_case():
    cases = _think_cases()
    arr = pa.chunked_array([pa.array(cases[:77]), pa.array(cases[77:])])
    _same_as(split_think_column(arr), cases, split_think)
    # a sliced array: offsets that do not start at 0, and bytes outside the slice not searched
    sliced = pa.array(["</think>pad<think>"] * 3 + cases[:300] + ["<think>x</think>"]).slice(3, 300)
    _same_as(split_think_column(sliced), cases[:300], split_think)


def test_think_column_split_leaves_sky_t1_tags_to_the_row_splitter():
    assert split_think_column(pa.array(["<think>a</think>b", f"{BOT}t{EOT}{BOS}s{EOS}"])) is None
    assert split_think_column(pa.array(["<think>a</think>b", f"x {BOS}"])) is None
    # a tag split across two rows is in neither row
    assert split_think_column(pa.array(["a <|begin_of_th", "ought|> b"])) is not None
