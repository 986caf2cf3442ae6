"""Journey learning on REAL traces: the shipped MATH-500 traces (Sky-T1 long CoT, Qwen2.5-14B
short CoT, best-of-8) through `factory curate --recipe journey`, and the reviewed MATH-500 and
OlympiadBench pairs (tests/journey_pairs.py) for the yield. Every produced sample is re-checked
here with the project's math verifier; invented traces pin where an attempt is cut, what the
reflection says, and the teacher-written reflection path (tiny model, replay backend)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from curate_data import shipped_trace_folder, trace_rows, write_traces
from factory.cli.app import app
from factory.filters.math.equiv import MathEquivalence
from journey_pairs import math500_pairs, olympiad_pairs
from typer.testing import CliRunner

from factory.curate.journey import (
    MISTAKES,
    AnswerChecker,
    JourneyConfig,
    build,
    check_reflection,
    compose_reflection,
    drop_restatement,
    funnel,
    last_boxed,
    mistake_kind,
    read_attempt,
    reflection_with_teacher,
    rewrite_with_teacher,
    states,
)
from factory.curate.sft import parse_assistant
from factory.io.dataset import read_table


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("journey")
    return {w: shipped_trace_folder(tmp, w) for w in ("skyt1", "qwen", "bo8")} | {"tmp": tmp}


@pytest.fixture(scope="module")
def journey_out(folders) -> Path:
    out = folders["tmp"] / "out"
    res = CliRunner().invoke(app, ["curate", "--recipe", "journey", "--traces", str(folders["skyt1"]),
                                   "--traces", str(folders["qwen"]), "--traces", str(folders["bo8"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def inputs() -> dict[str, dict]:
    """trace id -> source row (with the authors' verdict), over the three files."""
    return {r["id"]: r for w in ("skyt1", "qwen", "bo8") for r in trace_rows(w)}


@pytest.fixture(scope="module")
def checker():
    ch = AnswerChecker()
    yield ch
    ch.close()


def _rows(out: Path) -> list[dict]:
    return read_table(out / "train").to_pylist() + read_table(out / "validation").to_pylist()


def test_every_journey_sample_passes_validation(journey_out, inputs):
    rows = _rows(journey_out)
    journeys = [r for r in rows if r["kind"] == "journey"]
    shortcuts = [r for r in rows if r["kind"] == "shortcut"]
    assert len(journeys) >= 60
    assert len(journeys) == len(shortcuts)  # the recipe's 1:1 journey:shortcut ratio, exactly
    pairs, expect = [], []
    with MathEquivalence(workers=1) as eq:
        for r in journeys:
            wrong, correct = (inputs[t] for t in r["trace_ids"])
            assert wrong["verdict_math"] == "wrong" and correct["verdict_math"] == "correct"
            assert wrong["problem_id"] == correct["problem_id"] == r["problem_id"]
            content = r["messages"][-1]["content"]
            parsed = parse_assistant(content, fmt="think")
            assert parsed is not None, "malformed think block"
            reasoning, answer = parsed
            meta = json.loads(r["meta"])
            k = reasoning.index(meta["transition"])
            wrong_part = reasoning[:k]
            if meta["cut_point"] != "no_conclusion":
                assert states(wrong_part, meta["wrong_answer"]) and f"${meta['wrong_answer']}$" in meta["transition"]
                pairs.append((wrong["reference_answer"], meta["wrong_answer"]))
                expect.append("wrong")
            else:
                assert last_boxed(wrong_part) is None
            assert any(m in meta["transition"] for m in MISTAKES[meta["mistake"]])  # the kind of mistake is named
            assert len(content) / 4 <= 16384
            pairs.append((wrong["reference_answer"], last_boxed(answer)))
            expect.append("correct")
        assert [v.verdict for v in eq.check(pairs)] == expect
    report = json.loads((journey_out / "curate_report.json").read_text())["journey"]
    assert report["built"] >= len(journeys) and report["yield"] == round(report["built"] / report["pairs"], 4)
    assert set(report["cut_points"]) >= {"statement", "no_conclusion"}


def test_one_journey_sample_by_hand(journey_out, inputs):
    # MATH-500: n ≡ -11213141 (mod 18). Qwen2.5-14B-Instruct took the digit sum (a mod-9 rule) and
    # answered 4; Sky-T1 divided and got 13, the reference answer.
    [r] = [r for r in _rows(journey_out) if r["kind"] == "journey"
           and r["messages"][0]["content"].startswith("What integer $n$ satisfies $0\\le n<18$")]
    wrong, correct = (inputs[t] for t in r["trace_ids"])
    assert wrong["teacher"] == "Qwen/Qwen2.5-14B-Instruct" and correct["teacher"] == "Sky-T1-math-correct-5K-27B"
    assert correct["reference_answer"] == "13"
    assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
    c = r["messages"][1]["content"]
    meta = json.loads(r["meta"])
    assert c.startswith("<think>\nTo find the integer \\( n \\) that satisfies")
    # the wrong attempt ends on its own conclusion, then the reflection names 4 ...
    assert f"The final answer is \\(\\boxed{{4}}\\).\n\n{meta['transition']}\n\n" in c
    assert "$4$" in meta["transition"] and meta["wrong_answer"] == "4" and meta["cut"] == "conclusion"
    # ... and Sky-T1 continues without re-reading the problem ("So I have this problem here: find ...")
    assert f"{meta['transition']}\n\nOkay, let's break this down.\n\nFirst, I need to understand what the modulo" in c
    assert "So I have this problem here" not in c
    assert c.count("</think>") == 1
    think, answer = c.split("\n</think>\n\n")
    assert think.count("\\boxed{4}") == 1 and think.endswith("So, the integer \\( n \\) is 13.")  # Sky-T1's thought
    assert answer.rstrip().endswith("Thus, the integer \\( n \\) is \\( \\boxed{13} \\).")
    assert r["problem_id"] == wrong["problem_id"] and r["domain"] == "math" and r["source"] == "math500"


@pytest.fixture(scope="module")
def real_yield(checker) -> dict[str, dict]:
    out = {}
    for name, (pairs, ref) in (("math500", math500_pairs()), ("olympiadbench", olympiad_pairs())):
        for cut in ("conclusion", "earlier"):
            kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(cut=cut, max_tokens=16384), checker=checker)
            out[f"{name}/{cut}"] = {"kept": kept, "ref": ref, **funnel(kept, drops, len(pairs))}
    return out


def test_most_real_pairs_become_valid_samples(real_yield):
    """One model right and the other wrong by REVIEWED verdicts: at least 80% of the pairs become
    valid samples, each drop is named, with either cut."""
    assert real_yield["math500/conclusion"]["pairs"] == 107 and real_yield["olympiadbench/conclusion"]["pairs"] == 200
    for key, f in real_yield.items():
        assert f["yield"] >= 0.8, (key, f["drops"])
        assert f["pairs"] - f["built"] == sum(v for k, v in f["drops"].items() if not k.startswith("reflection_fallback"))
    # where the attempts concluded: in the solution-less thought, in the short CoT's statement,
    # and in long thoughts whose answer is only in their solution section
    cuts = Counter(real_yield["math500/conclusion"]["cut_points"]) + Counter(real_yield["olympiadbench/conclusion"]["cut_points"])
    assert cuts["statement"] > 150 and cuts["thought_conclusion"] >= 5 and cuts["no_conclusion"] > 50
    assert real_yield["olympiadbench/earlier"]["cut_points"]["earlier"] > 150


def test_real_samples_are_valid_and_reflections_vary(real_yield, checker):
    kept = real_yield["olympiadbench/conclusion"]["kept"] + real_yield["math500/conclusion"]["kept"]
    ref = {**real_yield["olympiadbench/conclusion"]["ref"], **real_yield["math500/conclusion"]["ref"]}
    transitions = Counter(d.transition for d in kept)
    assert transitions.most_common(1)[0][1] <= 3 and len(transitions) >= 0.9 * len(kept)  # no boilerplate line
    kinds = Counter(d.kind for d in kept)
    assert len(kinds) >= 6 and kinds["setup"] < 0.75 * len(kept)
    # thoughts cut off before concluding vs short answers that stop at an outline
    assert kinds["no_conclusion"] > 50 and kinds["gave_up"] > 5
    stated = [d for d in kept if d.stated is not None]
    for d in stated:
        assert f"${d.stated}$" in d.transition and d.wrong_part.rstrip().endswith(d.wrong_part.rstrip()[-20:])
        assert any(m in d.transition for m in MISTAKES[d.kind])
    # the wrong answers are wrong and the final answers right, by the verifier
    assert set(checker.verdicts([(ref[d.problem_id], d.stated) for d in stated])) == {"wrong"}
    assert set(checker.solution_verdicts([(ref[d.problem_id], d.final) for d in kept])) == {"correct"}
    for d in real_yield["olympiadbench/earlier"]["kept"]:
        assert d.stated is None and last_boxed(d.wrong_part) is None and "$" not in d.transition


def test_build_is_deterministic_and_seeded(checker):
    pairs, ref = olympiad_pairs()
    a, _ = build(pairs[:40], reference=ref, cfg=JourneyConfig(seed=0), checker=checker)
    b, _ = build(pairs[:40], reference=ref, cfg=JourneyConfig(seed=0), checker=checker)
    c, _ = build(pairs[:40], reference=ref, cfg=JourneyConfig(seed=1), checker=checker)
    assert [d.content for d in a] == [d.content for d in b]
    assert sum(x.transition != y.transition for x, y in zip(a, c)) > 30


# --- invented traces: where an attempt is cut --------------------------------------------------

LONG_THOUGHT = (
    "Let me set up the equation. The sum of the angles is 180 degrees.\n\n"
    "So x + 2x + 3x = 180, which gives 6x = 180.\n\n"
    "Therefore, x = 30, and the largest angle is 3x = 90.\n\n"
    "Let me double-check: 30 + 60 + 90 = 180. Yes, the largest angle is 90.\n\n"
    "So the answer should be 90 degrees.")


def test_a_long_thought_is_cut_where_it_concludes_the_answer_of_its_solution_section():
    row = {"reasoning": LONG_THOUGHT, "answer": "The angles are 30, 60, 90.\n\nThe largest is $\\boxed{90}$.",
           "completion": ""}
    att = read_attempt(row)
    assert (att.answer, att.rule, att.cut_point) == ("90", "boxed", "thought_conclusion")
    assert att.part.endswith("the largest angle is 3x = 90.")  # the first conclusion; no polished solution
    assert "The angles are" not in att.part
    # a thought that never states its answer is followed by the solution's concluding paragraph only
    row = {"reasoning": "Let me set up the equation.\n\nThe angles add up to 180.", "completion": "",
           "answer": "Solving 6x = 180 gives x = 30.\n\nThe largest is $\\boxed{90}$."}
    att = read_attempt(row)
    assert att.cut_point == "solution_statement"
    assert att.part == "Let me set up the equation.\n\nThe angles add up to 180.\n\nThe largest is $\\boxed{90}$."


def test_a_short_cot_is_cut_after_its_stated_answer_without_box_or_boilerplate():
    text = ("We add the two numbers: 17 + 25 = 42.\n\n**Final Answer:** The final answer is 42.\n\n"
            "Let me know if you'd like me to explain any step in more detail!")
    att = read_attempt({"reasoning": None, "answer": text, "completion": text})
    assert att.answer == "42" and att.cut_point == "statement"
    assert att.part.endswith("The final answer is 42.")
    # an early mention of the value is a step; the statement is where the extractor read it
    text = "Step one gives 12.\n\nThen 12 + 30 = 42.\n\nThe answer is $\\boxed{12}$.\n\nHope this helps!"
    att = read_attempt({"reasoning": None, "answer": text, "completion": text})
    assert att.answer == "12" and att.part.endswith("The answer is $\\boxed{12}$.")


def test_an_attempt_that_never_concludes_is_cut_before_it_loops_or_gives_up():
    loop = "Wait, maybe I should reconsider the case where n is even and check it again."
    thought = "\n\n".join(["Let me try small cases first.", "For n = 1 the sum is 3.", "For n = 2 the sum is 8.",
                           loop, "Hmm, the pattern is not obvious yet.", loop, "Hmm, the pattern is not obvious yet.", loop])
    att = read_attempt({"reasoning": thought, "answer": None, "completion": thought}, fraction=1.0)
    assert att.answer is None and att.cut_point == "no_conclusion"
    assert att.part.endswith("Hmm, the pattern is not obvious yet.") and att.part.count(loop) == 1
    gave_up = ("**Step 1:** Consider the graph of the function.\n\n**Step 2:** Count the crossings.\n\n"
               "**Final Answer:**\n\nDue to the complexity of the calculations, it's difficult to provide a "
               "definitive answer without further analysis.\n\nLet me know if you'd like more detail.")
    att = read_attempt({"reasoning": None, "answer": gave_up, "completion": gave_up})
    assert att.answer is None and att.part.endswith("**Step 2:** Count the crossings.")
    # a stalled thought is never cut right after a step that states the right answer
    thought = "\n\n".join(["Try x = 1: too small.", "Try x = 2: too small.", "Try x = 3: then 3 * 4 = 12, which works.",
                           "Hmm, but what about negative values?", "Hmm, but what about negative values?"])
    att = read_attempt({"reasoning": thought, "answer": None, "completion": thought}, fraction=1.0, gold="12")
    assert att.part.endswith("Try x = 2: too small.")


def test_reflections_name_the_wrong_answer_and_the_kind_of_mistake():
    assert mistake_kind("-7", "7") == "sign"
    assert mistake_kind("11", "12", "How many subsets have an even sum?") == "off_by_one"
    assert mistake_kind("11", "12", "Find x.") == "arithmetic"
    assert mistake_kind("24", "12", "In how many ways can the books be arranged?") == "overcount"
    assert mistake_kind("4", "12", "How many integers satisfy the inequality?") == "undercount"
    assert mistake_kind("\\frac{3}{4}", "0.75001") == "arithmetic"
    assert mistake_kind("(1,2)", "(1,2),(2,1)") == "missing_solutions"
    assert mistake_kind("1, 2, 5", "1, 2") == "extra_solutions"
    assert mistake_kind("x^2+1", "x^2-1") == "setup"
    assert mistake_kind(None, "5") == "no_conclusion"
    r = compose_reflection(wrong="-7", kind="sign", key="k1", seed=0)
    assert "$-7$" in r and any(m in r for m in MISTAKES["sign"])
    assert compose_reflection(wrong="-7", kind="sign", key="k1", seed=0) == r  # deterministic
    wordings = {compose_reflection(wrong="5", kind="setup", key=f"k{i}", seed=0) for i in range(200)}
    assert len(wordings) > 150
    stalled = compose_reflection(wrong=None, kind="no_conclusion", key="k", seed=0)
    assert "$" not in stalled and any(m in stalled for m in MISTAKES["no_conclusion"])


def test_the_correct_part_does_not_reread_the_problem():
    problem = "A regular hexagon can be divided into six equilateral triangles. What is its perimeter?"
    r = ("So I have this problem here: a regular hexagon can be divided into six equilateral triangles. "
         "I remember that all sides are equal.\n\nEach side is 7 inches, so the perimeter is 42.")
    assert drop_restatement(r, problem) == "I remember that all sides are equal.\n\nEach side is 7 inches, so the perimeter is 42."
    kept = "So I have these two lines:\n\n1. 2x = 3y\n\nThey meet at the origin."
    assert drop_restatement(kept, problem) == kept
    plain = "First, note each triangle has side 7.\n\nSo the perimeter is 42."
    assert drop_restatement(plain, problem) == plain


# --- drops, phrase banks, rewrites, teacher reflections -----------------------------------------

def _pairs(limit: int | None = None):
    pairs, ref = olympiad_pairs()
    return pairs[:limit], ref


def test_failed_checks_are_named_drops(checker):
    pairs, ref = _pairs(limit=40)
    always_correct = AnswerChecker(verdicts=lambda ps: ["correct"] * len(ps))
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(), checker=always_correct)
    assert drops["wrong_part_answer_is_correct"] > 0 and all(d.wrong_final is None for d in kept)
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(max_tokens=50), checker=checker)
    assert kept == [] and drops["over_token_budget"] > 0
    swahili = [({**w, "language": "sw"}, c) for w, c in pairs]
    kept, drops = build(swahili, reference=ref, cfg=JourneyConfig(), checker=checker)
    assert kept == [] and drops["no_reflection_phrase_for_language_sw"] == len(pairs)


def test_phrase_bank_is_configurable_and_follows_the_trace_language(checker):
    pairs, ref = _pairs(limit=60)
    cfg = JourneyConfig.from_section({"phrases": {"en": ["Hmm, ${wrong}$ cannot be right; {mistake} Starting over."]}},
                                     fmt="think", seed=0, max_tokens=None)
    kept, _ = build(pairs, reference=ref, cfg=cfg, checker=checker)
    stated = [d for d in kept if d.stated is not None]
    assert stated and all(d.transition.startswith(f"Hmm, ${d.stated}$ cannot be right; ") for d in stated)
    assert all(any(m in d.transition for m in MISTAKES[d.kind]) for d in stated)
    zh = [({**w, "language": "zh-Hans"}, c) for w, c in pairs]
    kept, _ = build(zh, reference=ref, cfg=JourneyConfig(), checker=checker)
    assert kept and all(any("\u4e00" <= ch <= "\u9fff" for ch in d.transition) for d in kept)


def test_rewrite_hook_is_revalidated(checker):
    pairs, ref = _pairs(limit=60)
    kept, _ = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker,
                    rewrite=lambda texts: [t.replace("Let me", "Let us") for t in texts])
    assert kept and all("Let me" not in d.chain for d in kept)
    # a rewrite that loses the wrong attempt's stated answer is dropped by name
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker,
                        rewrite=lambda texts: ["I solved it directly." for _ in texts])
    assert all(d.stated is None for d in kept) and drops["rewrite_wrong_part_answer_is_no_answer"] > 0


class _EchoTeacher:
    """A toy backend implementing the factory.generate.teachers protocol: it 'rewrites' by echoing the
    text after the prompt, wrapped in its own think block."""

    name, backend, chunk_requests, gpus = "echo", "toy", None, 0

    def generate(self, requests, sampling, *, on_result=None):
        from factory.generate.teachers.base import Completion

        assert sampling.n == 1 and sampling.temperature == 0.0
        return [[Completion(text="<think>\nrewriting\n</think>\n\n" + r.messages[0]["content"].split("\n\n", 1)[1],
                            finish_reason="stop")] for r in requests]

    def close(self):
        pass


def test_rewrite_with_teacher_backend(checker):
    pairs, ref = _pairs(limit=60)
    plain, _ = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker)
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker,
                        rewrite=rewrite_with_teacher(_EchoTeacher(), prompt="Rewrite:\n\n{text}"))
    assert [d.chain for d in kept] == [d.chain for d in plain]  # the echo keeps each chain; its think block is removed


def test_teacher_reflections_are_checked():
    assert check_reflection("Wait, $42$ is wrong: I forgot the carry. Let me redo it.", wrong="42", gold="52") is None
    assert check_reflection("Something is wrong. Let me redo it.", wrong="42", gold="52") == "does_not_name_the_wrong_answer"
    assert check_reflection("42 is wrong; the answer is 52.", wrong="42", gold="52") == "gives_away_the_answer"
    assert check_reflection("So $\\boxed{52}$.", wrong=None, gold="52") == "boxes_an_answer"
    assert check_reflection("<think>42 is wrong</think>", wrong="42", gold="52") == "has_think_tags"
    assert check_reflection("   ", wrong="42", gold="52") == "empty"
    assert check_reflection("lo qx 42 zz", wrong="42", gold="52") == "not_sentences"


def test_teacher_reflections_through_the_replay_backend(tmp_path, checker):
    """Reflections written elsewhere, stored as a trace folder keyed (problem id, pair rank),
    served by the replay backend: good ones replace the composed reflection; one that gives the
    answer away falls back to the composed one, counted by reason."""
    from factory.generate.teachers.replay import ReplayTeacher

    pairs, ref = _pairs(limit=30)
    base, _ = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker)
    bad = next(i for i, d in enumerate(base) if d.stated and ref[d.problem_id].isdigit())
    rows = []
    for i, d in enumerate(base):
        wrong = d.stated or "this"
        text = (f"Hold on, ${wrong}$ comes from assuming the configuration is symmetric, which the problem never says. "
                f"I need to handle the general case.") if i != bad else f"The answer is {ref[d.problem_id]}, not {wrong}."
        rows.append({**{k: v for k, v in d.wrong.items()}, "id": f"r{i}", "sample_index": 0, "completion": text,
                     "reasoning": None, "answer": text, "verdict_math": None})
    folder = write_traces(tmp_path / "reflections", rows)
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(), checker=checker,
                        reflect=reflection_with_teacher(ReplayTeacher(str(folder))))
    assert len(kept) == len(base) and drops["reflection_fallback:gives_away_the_answer"] == 1
    by_source = Counter(d.reflection_source for d in kept)
    assert by_source == {"teacher": len(base) - 1, "template": 1}
    for d in kept:
        if d.reflection_source == "teacher":
            assert "assuming the configuration is symmetric" in d.transition and d.transition in d.chain


def test_recipe_teacher_reflection_with_the_tiny_model(folders, tiny_model, tmp_path):
    """`journey.reflection: teacher` builds a transformers teacher (the tiny random model): its
    reflections are gibberish, so every one falls back to the composed reflection, counted by
    reason, and the samples are kept."""
    bo8 = shipped_trace_folder(tmp_path, "bo8", limit=20)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "curate", "--recipe", "journey", "--traces", str(bo8), "--out", str(out),
        "--set", "journey.reflection=teacher",
        "--set", f"journey.reflection_teacher.teacher={tiny_model}",
        "--set", "journey.reflection_teacher.max_tokens=8",
        "--set", "journey.reflection_teacher.preset=brief", "--set", "mix.allow_short=true"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "curate_report.json").read_text())["journey"]
    fallbacks = {k: v for k, v in report["drops"].items() if k.startswith("reflection_fallback:")}
    assert report["built"] > 0 and sum(fallbacks.values()) == report["built"]
    assert report["reflections"] == {"template": report["built"]}
    assert "teacher reflection(s) failed the checks" in res.output


def test_recipe_rewrite_runs_through_a_real_teacher_backend(folders, tiny_model, tmp_path):
    """`curate.journey.rewrite` builds a transformers teacher (the tiny random model): its
    rewrites are gibberish, so re-validation must drop every one, each by name."""
    bo8 = shipped_trace_folder(tmp_path, "bo8", limit=30)  # a few journeys are enough to exercise the backend
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "curate", "--recipe", "journey", "--traces", str(bo8), "--out", str(out),
        "--set", f"journey.rewrite.teacher={tiny_model}", "--set", "journey.rewrite.max_tokens=8",
        "--set", "journey.rewrite.backend=transformers", "--set", "mix.allow_short=true"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "curate_report.json").read_text())["journey"]
    rewrite_drops = {k: v for k, v in report["drops"].items() if k.startswith("rewrite_")}
    assert report["built"] == 0 and sum(rewrite_drops.values()) > 0


def test_journey_ratio_and_target_format_are_configurable(tmp_path):
    out = tmp_path / "ratio"
    sky, qwen = (shipped_trace_folder(tmp_path, w, limit=200) for w in ("skyt1", "qwen"))
    res = CliRunner().invoke(app, [
        "curate", "--recipe", "journey", "--traces", str(sky), "--traces", str(qwen),
        "--out", str(out), "--set", "mix.buckets.0.fraction=0.25", "--set", "mix.buckets.1.fraction=0.75",
        "--set", "output.format=sky-t1", "--set", "journey.cut=earlier"])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    n_j = sum(r["kind"] == "journey" for r in rows)
    assert n_j > 0 and sum(r["kind"] == "shortcut" for r in rows) == 3 * n_j  # journey:shortcut = 1:3, exactly
    for r in rows:
        parsed = parse_assistant(r["messages"][-1]["content"], fmt="sky-t1")
        assert parsed is not None
        if r["kind"] == "journey":
            meta = json.loads(r["meta"])
            assert meta["cut"] == "earlier" and last_boxed(parsed[0].split(meta["transition"])[0]) is None


def test_journey_on_the_verifiers_own_verdicts(tmp_path):
    """End to end on `factory verify`'s verdicts (the real math filter, not labels): attempts it
    finds wrong AND attempts where it finds no answer (cut off, gave up) pair with correct ones,
    and most pairs become samples."""
    from curate_data import score_with_filters

    rows = [{k: v for k, v in r.items() if k != "verdict_math"} for w in ("skyt1", "qwen") for r in trace_rows(w)]
    scored = score_with_filters(rows, ["math"])
    verdicts = Counter(r["verdict_math"] for r in scored)
    assert verdicts["no_answer"] > 0 and verdicts["wrong"] > 0
    folder = write_traces(tmp_path / "verified", scored)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["curate", "--recipe", "journey", "--traces", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "curate_report.json").read_text())["journey"]
    assert report["pairs"] >= 95 and report["yield"] >= 0.8, report
    wrong_verdicts = {r["id"]: r["verdict_math"] for r in scored}
    used = Counter(wrong_verdicts[r["trace_ids"][0]] for r in _rows(out) if r["kind"] == "journey")
    assert used["no_answer"] > 0 and used["wrong"] > 0
