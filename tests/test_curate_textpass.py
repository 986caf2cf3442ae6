"""The fast ways of `factory curate` give the same shards and report as the plain one.

For shortest-/longest-correct, `factory.curate.textpass` reads each trace's text once (small
columns first, then the text of the traces still in the running: their facts and each problem's
best trace), and a mix of shortcut rows only is kept in columns to the end
(`factory.curate.shortcut_mix`). Both are turned off here (`core.TEXT_PASS`, `core.COLUMNAR`) to
compare, on real shipped traces (Sky-T1 long CoT, Qwen short CoT, the 8-sample best-of-N file,
APPS programs with tests) plus handmade rows for each rule the passes must keep apart: text only
in the raw completion, a tag or a U+001C-U+001F character (Python renders those), duplicate ids
across folders, the teacher's own token counts, source overrides.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from curate_data import code_trace_rows, trace_rows, write_traces
from factory.recipes.curate_spec import curate_config, validate_curate
from factory.schemas.ids import trace_id

import factory.curate.core as core
import factory.curate.sft as sft
import factory.curate.textpass as textpass
from factory.curate.sft import MixRows


def _edge_rows() -> list[dict]:
    """Qwen rows changed so that each takes another road through curate (new ids: new text)."""
    base = trace_rows("qwen", limit=60)[40:60]
    out = []
    for i, r in enumerate(base):
        r = dict(r)
        kind = i % 5
        if kind == 0:  # the text only in the raw completion: the scan parses it in Python
            r["reasoning"] = r["answer"] = None
        elif kind == 1:  # a tag: rendered by Python's rules (strip_tags), not polars'
            r["answer"] = "<b>Note</b> " + r["answer"]
            r["completion"] = r["answer"]
        elif kind == 2:  # U+001C: whitespace to Python's str.strip, not to polars
            r["answer"] = r["answer"] + "\x1c"
            r["completion"] = r["answer"]
        elif kind == 3:  # a thought and an answer, the teacher's token count given
            r["reasoning"], r["answer"] = "Let me think.\n" + r["answer"], r["answer"]
            r["completion"] = f"<think>\n{r['reasoning']}\n</think>\n{r['answer']}"
            r["completion_tokens"] = 5 + i
        else:  # a shorter copy of a real answer: it wins shortest-correct for its problem
            r["answer"] = r["answer"][-400:]
            r["completion"] = r["answer"]
        r["sample_index"] = 100 + i
        r["id"] = trace_id(r["problem_id"], r["sample_index"], r["teacher"], r["completion"] or "")
        out.append(r)
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("textpass")
    math = trace_rows("skyt1", limit=120) + trace_rows("qwen", limit=120) + trace_rows("bo8", limit=400)
    edges = _edge_rows()
    return {
        "tmp": tmp,
        "math": write_traces(tmp / "math", math),
        "edges": write_traces(tmp / "edges", edges),
        # the same traces in a second folder: duplicate ids, the first folder's row is kept
        "dups": write_traces(tmp / "dups", trace_rows("bo8", limit=80) + edges[:5]),
        "code": write_traces(tmp / "code", code_trace_rows()),
    }


RULES = {"math": {"correct": {"verdict_math": ["correct"]}},
         "code": {"correct": {"verdict_code": ["pass"]}, "require_tests": True}}
BUCKETS = [{"name": "math", "match": {"domain": ["math"]}, "fraction": 0.8},
           {"name": "code", "match": {"domain": ["code"]}, "fraction": 0.2}]

SECTIONS = {
    "shortest": {"select": RULES, "difficulty": {"from": "pass_rate"}, "per_problem": {"policy": "shortest-correct"},
                 "budget": {"max_tokens": 4096, "count": "chars"}, "mix": {"size": 60, "buckets": BUCKETS, "allow_short": True},
                 "output": {"format": "think", "validation_fraction": 0.1}},
    "longest_counts": {
        "select": {"math": {**RULES["math"], "pass_rate": {"gt": 0.0, "lt": 1.0}}, "code": RULES["code"]},
        "difficulty": {"from": "level"}, "per_problem": {"policy": "longest-correct"},
        "budget": {"min_tokens": 20, "count": "completion_tokens"}, "mix": {"size": 40, "buckets": BUCKETS, "allow_short": True},
        "output": {"format": "sky-t1", "system_prompt": "@sky-t1", "user": "prompt", "validation_fraction": 0.2}},
    "k_per_problem": {
        "select": RULES, "difficulty": {"from": "pass_rate", "min_samples": 2},
        "per_problem": {"policy": "k-per-problem", "k": 2}, "budget": {"max_tokens": 8192, "count": "chars"},
        "mix": {"size": 80, "buckets": BUCKETS, "allow_short": True},
        "output": {"format": "think", "validation_fraction": 0.05}},
    "long_cot_upsampled": {
        "select": {"math": {**RULES["math"], "min_reasoning_tokens": 64, "min_solution_tokens": 8}},
        "per_problem": {"policy": "shortest-correct"}, "budget": {"max_tokens": 16384, "count": "chars"},
        "mix": {"size": 300, "buckets": [{"name": "math", "match": {"domain": ["math"]}, "fraction": 1.0,
                                          "upsample": True, "balance": "difficulty"}]},
        "output": {"format": "plain", "system_prompt": "Think, then answer.", "validation_fraction": 0.0}},
}


def _run(section: dict, inputs: dict, out: Path, *, text_pass: bool, columnar: bool, monkeypatch) -> dict[str, bytes]:
    assert validate_curate(section) == []
    monkeypatch.setattr(core, "TEXT_PASS", text_pass)
    monkeypatch.setattr(core, "COLUMNAR", columnar)
    core.curate(curate_config(section), seed=3, out=out, inputs=inputs, log=lambda m: None)
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files[str(p.relative_to(out))] = p.read_bytes()
        elif p.name == "manifest.json":  # (timings apart) the stats: funnel, mix, reports
            files[str(p.relative_to(out))] = json.dumps(json.loads(p.read_text())["stats"], sort_keys=True).encode()
    return files


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_text_pass_and_columns_give_the_plain_runs_shards(name, folders, monkeypatch, tmp_path):
    section = SECTIONS[name]
    inputs = {"traces": [folders["math"], folders["edges"], folders["dups"], folders["code"]]}
    plain = _run(section, inputs, tmp_path / "plain", text_pass=False, columnar=False, monkeypatch=monkeypatch)
    assert any(k.endswith(".parquet") for k in plain) and json.loads(plain["curate_report.json"])["train"]["rows"]
    for tp, col in ((True, True), (True, False), (False, True)):
        fast = _run(section, inputs, tmp_path / f"fast-{tp}-{col}", text_pass=tp, columnar=col, monkeypatch=monkeypatch)
        assert fast.keys() == plain.keys()
        for k in plain:
            assert fast[k] == plain[k], f"{name}: {k} differs with text_pass={tp}, columnar={col}"
    # the text held back over its budget: the facts from the text pass, the rows fetched after the mix
    monkeypatch.setattr(textpass, "RETAIN_BYTES", 0)
    fetched = _run(section, inputs, tmp_path / "fetched", text_pass=True, columnar=True, monkeypatch=monkeypatch)
    assert fetched == plain


@pytest.mark.parametrize("name", ["shortest", "k_per_problem"])
def test_the_kept_text_is_what_renders_the_mix(name, folders, monkeypatch, tmp_path):
    """No second read of the trace folders, and no row-by-row render, on the usual run."""
    def no_fetch(*a, **k):
        raise AssertionError("the chosen traces were read a second time")

    def no_rows(*a, **k):
        raise AssertionError("the shortcut rows went through MixRows")

    section = SECTIONS[name]
    inputs = {"traces": [folders["math"], folders["code"]]}
    plain = _run(section, inputs, tmp_path / "plain", text_pass=False, columnar=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(core, "ShardFetch", no_fetch)
    monkeypatch.setattr(MixRows, "put_many", no_rows)
    python_renders = []
    real_split = sft.split_trace

    def counted(*a, **k):
        python_renders.append(a)
        return real_split(*a, **k)

    monkeypatch.setattr(sft, "split_trace", counted)
    assert _run(section, inputs, tmp_path / "fast", text_pass=True, columnar=True, monkeypatch=monkeypatch) == plain
    # real math has "<" in it (inequalities): those rows were rendered by Python's rules, in columns
    assert python_renders and any("<" in (a or "") for _, r, a in python_renders)


def test_a_kept_set_that_disagrees_with_the_policy_is_fetched_instead(folders, monkeypatch, tmp_path):
    """Were the text pass ever to keep other traces than the policy chose, the run reads the
    chosen ones (same shards), it does not render the kept ones."""
    section = SECTIONS["shortest"]
    inputs = {"traces": [folders["math"], folders["code"]]}
    plain = _run(section, inputs, tmp_path / "plain", text_pass=False, columnar=False, monkeypatch=monkeypatch)
    real = textpass.read_text

    def one_short(*a, **k):
        meta, kept = real(*a, **k)
        return meta, kept.slice(1)

    fetches = []
    real_fetch = core.ShardFetch

    def counting(*a, **k):
        fetches.append(1)
        return real_fetch(*a, **k)

    monkeypatch.setattr(textpass, "read_text", one_short)
    monkeypatch.setattr(core, "ShardFetch", counting)
    assert _run(section, inputs, tmp_path / "fast", text_pass=True, columnar=True, monkeypatch=monkeypatch) == plain
    assert fetches


def test_a_folder_changed_between_the_scan_and_the_text_pass_is_an_error(tmp_path):
    import pyarrow.parquet as pq
    from factory.schemas.errors import DatasetError

    folder = write_traces(tmp_path / "t", trace_rows("bo8", limit=40))
    cfg = curate_config(SECTIONS["shortest"])
    sources = core.resolve_sources(cfg, base=tmp_path, inputs={"traces": [folder]})
    meta, _ = core.scan_traces(sources, cfg, text=False)
    pre = core.select_traces(meta, cfg, before_text=True)[0]
    assert pre.filter(pre["drop"].is_null()).height > 10
    shard = sorted(folder.glob("*.parquet"))[0]
    pq.write_table(pq.read_table(shard).slice(0, 5), shard)  # someone rewrote the folder meanwhile
    with pytest.raises(DatasetError, match="not there any more") as e:
        textpass.read_text(sources, pre, cfg, columns=["id", "problem_id", "problem", "reasoning", "answer"], seed=0)
    assert "re-run curate" in str(e.value.hint)
