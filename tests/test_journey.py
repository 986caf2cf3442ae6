"""Journey learning on the REAL shipped traces: Sky-T1 long CoT + Qwen2.5-14B short CoT on the
same MATH-500 problems (+ the best-of-8 file). Every produced sample is re-checked here with the
project's math verifier, and one sample is checked against hand-written expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curate_data import shipped_trace_folder, trace_rows
from factory.cli.app import app
from factory.filters.math.equiv import MathEquivalence
from typer.testing import CliRunner

from factory.curate.journey import (
    AnswerChecker,
    JourneyConfig,
    build,
    last_boxed,
    rewrite_with_teacher,
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


def _rows(out: Path) -> list[dict]:
    return read_table(out / "train").to_pylist() + read_table(out / "validation").to_pylist()


def test_every_journey_sample_passes_validation(journey_out, inputs):
    rows = _rows(journey_out)
    journeys = [r for r in rows if r["kind"] == "journey"]
    shortcuts = [r for r in rows if r["kind"] == "shortcut"]
    assert len(journeys) >= 20
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
            assert last_boxed(wrong_part) == meta["wrong_answer"]
            assert len(content) / 4 <= 16384
            gold = wrong["reference_answer"]
            pairs += [(gold, last_boxed(wrong_part)), (gold, last_boxed(answer))]
            expect += ["wrong", "correct"]
        assert [v.verdict for v in eq.check(pairs)] == expect


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
    assert c.startswith("<think>\nTo find the integer \\( n \\) that satisfies")
    assert ("The final answer is \\(\\boxed{4}\\).\n\n"
            "Wait, I got $4$, but that doesn't look right. Let me go back and check my work carefully.\n\n"
            "So I have this problem here: find an integer \\( n \\)") in c
    assert c.count("</think>") == 1
    think, answer = c.split("\n</think>\n\n")
    assert think.count("\\boxed{4}") == 1 and think.endswith("So, the integer \\( n \\) is 13.")  # Sky-T1's thought
    assert answer.rstrip().endswith("Thus, the integer \\( n \\) is \\( \\boxed{13} \\).")
    assert r["problem_id"] == wrong["problem_id"] and r["domain"] == "math" and r["source"] == "math500"
    meta = json.loads(r["meta"])
    assert meta["wrong_answer"] == "4" and meta["cut"] == "conclusion"


def _pairs(limit: int | None = None):
    sky, qwen = trace_rows("skyt1"), trace_rows("qwen")
    by = {}
    for r in sky + qwen:
        by.setdefault(r["problem_id"], []).append(r)
    pairs, ref = [], {}
    for pid, rs in by.items():
        ref[pid] = rs[0]["reference_answer"]
        w = [r for r in rs if r["verdict_math"] == "wrong"]
        c = [r for r in rs if r["verdict_math"] == "correct"]
        if w and c:
            pairs.append((w[0], c[0]))
    return pairs[:limit], ref


@pytest.fixture(scope="module")
def checker():
    ch = AnswerChecker()
    yield ch
    ch.close()


def test_cut_earlier_states_no_answer(checker):
    pairs, ref = _pairs(limit=80)
    late, _ = build(pairs, reference=ref, cfg=JourneyConfig(cut="conclusion"), checker=checker)
    early, drops = build(pairs, reference=ref, cfg=JourneyConfig(cut="earlier", earlier_fraction=0.5), checker=checker)
    assert early, drops
    by_late = {d.problem_id: d for d in late}
    for d in early:
        assert last_boxed(d.wrong_part) is None and d.stated is None
        assert "{wrong}" not in d.transition and "$" not in d.transition
        if d.problem_id in by_late:
            assert len(d.wrong_part) < len(by_late[d.problem_id].wrong_part)
            assert by_late[d.problem_id].wrong_part.startswith(d.wrong_part)


def test_failed_checks_are_named_drops(checker):
    pairs, ref = _pairs(limit=40)
    always_correct = AnswerChecker(verdicts=lambda ps: ["correct"] * len(ps))
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(), checker=always_correct)
    assert kept == [] and drops["wrong_part_answer_is_correct"] > 0
    kept, drops = build(pairs, reference=ref, cfg=JourneyConfig(max_tokens=50), checker=checker)
    assert kept == [] and drops["over_token_budget"] > 0
    swahili = [({**w, "language": "sw"}, c) for w, c in pairs]
    kept, drops = build(swahili, reference=ref, cfg=JourneyConfig(), checker=checker)
    assert kept == [] and drops["no_reflection_phrase_for_language_sw"] + drops["wrong_attempt_states_no_answer"] == len(pairs)


def test_phrase_bank_is_configurable_and_follows_the_trace_language(checker):
    pairs, ref = _pairs(limit=60)
    cfg = JourneyConfig.from_section({"phrases": {"en": ["Hmm, ${wrong}$ cannot be right; starting over."]}},
                                     fmt="think", seed=0, max_tokens=None)
    kept, _ = build(pairs, reference=ref, cfg=cfg, checker=checker)
    assert kept and all(d.transition == f"Hmm, ${d.stated}$ cannot be right; starting over." for d in kept)
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
    assert kept == [] and drops["rewrite_wrong_part_answer_is_no_answer"] > 0


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


def test_recipe_rewrite_runs_through_a_real_teacher_backend(folders, tmp_path):
    """`curate.journey.rewrite` builds a transformers teacher (the tiny random model): its
    rewrites are gibberish, so re-validation must drop every one, each by name."""
    from factory.generate.teachers.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny")
    bo8 = shipped_trace_folder(tmp_path, "bo8", limit=30)  # a few journeys are enough to exercise the backend
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "curate", "--recipe", "journey", "--traces", str(bo8), "--out", str(out),
        "--set", f"journey.rewrite.teacher={model}", "--set", "journey.rewrite.max_tokens=8",
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
