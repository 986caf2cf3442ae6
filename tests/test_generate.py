"""factory generate with the tiny model on CPU: valid Trace rows, resume/no-op, parameters
recorded, --only truncated, per-sample seeds independent of batching, and the CLI."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from factory.schemas.contracts import CONTRACTS
from factory.schemas.errors import DatasetError
from gen_helpers import math500_rows, write_problems
from typer.testing import CliRunner

from factory.generate.core import GenerateOptions, run_generate
from factory.io.dataset import check_folder, read_manifest, read_table


@pytest.fixture(scope="module")
def problems50(tmp_path_factory, package_data):
    return write_problems(tmp_path_factory.mktemp("p") / "problems", math500_rows(package_data, 50))


def _opts(tiny_model, problems, out, **kw):
    base = dict(teacher=str(tiny_model), backend="transformers", problems=str(problems), out=str(out), n=4,
                max_tokens=16, seed=7, batch_size=32)
    base.update(kw)
    return GenerateOptions(**base)


def _keys(path):
    t = read_table(path, columns=["problem_id", "sample_index"])
    return list(zip(t.column("problem_id").to_pylist(), t.column("sample_index").to_pylist()))


def test_50_problems_x4_gives_200_valid_trace_rows_and_rerun_is_noop(tiny_model, problems50, tmp_path):
    out = tmp_path / "traces"
    summary = run_generate(_opts(tiny_model, problems50, out), log=lambda m: None, progress=False)
    m = check_folder(out, full=True)
    assert m.contract == "trace" and m.rows == 200 and summary["generated"] == 200
    rows = read_table(out).to_pylist()
    for r in rows:
        CONTRACTS["trace"].validate_row(r)
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(set(keys)) == 200 and Counter(s for _, s in keys) == {0: 50, 1: 50, 2: 50, 3: 50}
    # context copied from the problem, sampling recorded per row, prompt follows the R1 preset
    probs = {p["id"]: p for p in read_table(problems50).to_pylist()}
    r = rows[0]
    assert r["problem"] == probs[r["problem_id"]]["problem"] and r["reference_answer"] == probs[r["problem_id"]]["reference_answer"]
    assert r["sampling"]["max_tokens"] == 16 and r["sampling"]["n"] == 4 and r["sampling"]["prompt_preset"] == "deepseek-r1"
    assert json.loads(r["sampling"]["extra"]) == {"run_seed": 7, "prefill": "<think>\n"}
    assert r["system_prompt"] is None and r["prompt"].endswith("put your final answer within \\boxed{}.")
    assert len({x["sampling"]["seed"] for x in rows}) == 200  # one seed per (problem, sample)
    # a length-cut completion starts inside the prefilled thought: reasoning kept, unfinished
    cut = [x for x in rows if x["finish_reason"] == "length"]
    assert cut and all(x["completion_tokens"] == 16 for x in cut)
    open_thought = [x for x in cut if "</think>" not in x["completion"]]
    assert open_thought and all(not x["reasoning_finished"] and x["answer"] is None and x["reasoning"] for x in open_thought)
    # accounting in the manifest
    assert m.params["n"] == 4 and m.params["max_tokens"] == 16 and m.params["seed"] == 7
    assert m.stats["completion_tokens"] == sum(x["completion_tokens"] for x in rows) > 0
    assert m.run["tokens_per_s"] > 0 and m.run["gpus"] == 0 and m.run["rows_generated"] == 200
    before = sorted(p.name for p in out.iterdir())
    again = run_generate(_opts(tiny_model, problems50, out), log=lambda m: None, progress=False)
    assert again["noop"] and sorted(p.name for p in out.iterdir()) == before
    # a different sampling setup is refused instead of mixed in
    with pytest.raises(DatasetError, match="temperature"):
        run_generate(_opts(tiny_model, problems50, out, temperature=1.0), log=lambda m: None, progress=False)


def test_more_samples_extend_the_folder_and_seeds_do_not_depend_on_batching(tiny_model, problems50, tmp_path):
    a = tmp_path / "a"
    run_generate(_opts(tiny_model, problems50, a, n=2, limit=6, batch_size=3), log=lambda m: None, progress=False)
    # n=3 on the same folder: only sample 2 of each problem is generated
    s = run_generate(_opts(tiny_model, problems50, a, n=3, limit=6, batch_size=5), log=lambda m: None, progress=False)
    assert s["generated"] == 6 and s["resumed"] == 12 and read_manifest(a).rows == 18
    b = tmp_path / "b"
    run_generate(_opts(tiny_model, problems50, b, n=3, limit=6, batch_size=16), log=lambda m: None, progress=False)
    ta = {(r["problem_id"], r["sample_index"]): r["completion"] for r in read_table(a).to_pylist()}
    tb = {(r["problem_id"], r["sample_index"]): r["completion"] for r in read_table(b).to_pylist()}
    assert ta == tb  # same seed -> same samples, whatever the batches and the resume
    c = tmp_path / "c"
    run_generate(_opts(tiny_model, problems50, c, n=3, limit=6, seed=8), log=lambda m: None, progress=False)
    tc = {(r["problem_id"], r["sample_index"]): r["completion"] for r in read_table(c).to_pylist()}
    assert sum(tc[k] != ta[k] for k in ta) >= 15  # another seed draws other samples


def test_only_truncated_regenerates_just_the_cut_rows(tiny_model, problems50, tmp_path):
    out = tmp_path / "t"
    run_generate(_opts(tiny_model, problems50, out, n=2, limit=8, max_tokens=4), log=lambda m: None, progress=False)
    before = {(r["problem_id"], r["sample_index"]): r for r in read_table(out).to_pylist()}
    cut = {k for k, r in before.items() if r["finish_reason"] == "length"}
    assert cut  # a random model rarely stops within 4 tokens
    old_shards = {s.name for s in read_manifest(out).shards}
    s = run_generate(_opts(tiny_model, problems50, out, n=2, limit=8, max_tokens=12, only="truncated"),
                     log=lambda m: None, progress=False)
    after = {(r["problem_id"], r["sample_index"]): r for r in read_table(out).to_pylist()}
    assert set(after) == set(before) and read_manifest(out).rows == len(before) == 16
    assert s["generated"] == len(cut)
    for k, r in after.items():
        if k in cut:
            assert r["sampling"]["max_tokens"] == 12 and json.loads(r["sampling"]["extra"])["regenerated_from_max_tokens"] == 4
            # same per-sample seed: the regenerated sample continues the cut one
            assert r["completion"].startswith(before[k]["completion"]) and len(r["completion"]) > len(before[k]["completion"])
        else:
            assert r == before[k]
    # old shards are gone; the folder holds exactly the manifest's shards
    assert not old_shards & {p.name for p in out.glob("*.parquet")}
    check_folder(out, full=True)


def test_cli_generate_and_bad_input(tiny_model, problems50, tmp_path):
    from factory.cli.app import app

    out = tmp_path / "cli"
    runner = CliRunner()
    res = runner.invoke(app, ["generate", "--teacher", str(tiny_model), "--problems", str(problems50), "--out", str(out),
                              "-n", "1", "--max-tokens", "8", "--limit", "3", "--prompt", "qwq", "--seed", "3",
                              "--price-per-million-tokens", "2.0"])
    assert res.exit_code == 0, res.output
    m = read_manifest(out)
    assert m.rows == 3 and m.params["prompt"] == "qwq" and m.run["cost_usd"]["tokens"] > 0
    assert read_table(out).column("system_prompt")[0].as_py().startswith("You are a helpful and harmless assistant")
    res = runner.invoke(app, ["generate", "--teacher", str(tiny_model), "--problems", str(tmp_path / "nope"),
                              "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no such dataset folder" in res.output
    res = runner.invoke(app, ["generate", "--teacher", "t", "--backend", "gpt", "--problems", str(problems50),
                              "--out", str(tmp_path / "y")])
    assert res.exit_code == 1 and "--backend: expected one of" in res.output


def test_a_second_writer_on_the_same_folder_is_refused(tiny_model, problems50, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "busy"
    out.mkdir()
    # another process holds the folder's write lock, as a running `factory generate` would
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom factory.io.lock import folder_lock\n"
                               f"with folder_lock({str(out)!r}, command='factory generate (other)'):\n"
                               "    print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DatasetError, match=r"another run is writing this folder \(pid \d+: factory generate \(other\)"):
            run_generate(_opts(tiny_model, problems50, out, limit=2), log=lambda m: None, progress=False)
    finally:
        holder.kill()
        holder.wait()
    run_generate(_opts(tiny_model, problems50, out, limit=2, n=1), log=lambda m: None, progress=False)
    assert read_manifest(out).rows == 2


def test_user_template_prompt_is_used_and_recorded(tiny_model, problems50, tmp_path):
    tmpl = tmp_path / "p.jinja"
    tmpl.write_text('{% set system = "Answer briefly." %}Level {{ level }} problem: {{ problem }}')
    out = tmp_path / "t"
    run_generate(_opts(tiny_model, problems50, out, limit=2, n=1, prompt=str(tmpl)), log=lambda m: None, progress=False)
    rows = read_table(out).to_pylist()
    assert all(r["system_prompt"] == "Answer briefly." and r["prompt"].startswith(f"Level {r['level']} problem: ")
               for r in rows)
    assert rows[0]["sampling"]["prompt_preset"].startswith("file:p.jinja@")
    # no prefill in the template: the completion is split without assuming an open thought
    assert json.loads(rows[0]["sampling"]["extra"])["prefill"] is None


def test_plain_progress_lines_when_not_a_terminal():
    from factory.pipeline.progress import RowProgress

    lines = []
    with RowProgress(total=10, done=2, log=lines.append, rich=False, every_s=0.0) as bar:
        bar.advance(3, tokens=30)
    assert lines[0].startswith("generate: 5/10 rows") and "tok/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("generate: 5/10 rows")


def test_a_failing_teacher_keeps_the_rows_that_completed(tiny_model, problems50, tmp_path, monkeypatch):
    from factory.generate.teachers.hf import TransformersTeacher

    real = TransformersTeacher._generate_batch
    calls = {"n": 0}

    def flaky(self, prompts, seeds, sampling):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third batch
        return real(self, prompts, seeds, sampling)

    monkeypatch.setattr(TransformersTeacher, "_generate_batch", flaky)
    out = tmp_path / "t"
    opts = _opts(tiny_model, problems50, out, limit=8, n=2, batch_size=4, flush_rows=1000)
    with pytest.raises(KeyboardInterrupt):
        run_generate(opts, log=lambda m: None, progress=False)
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(TransformersTeacher, "_generate_batch", real)
    s = run_generate(opts, log=lambda m: None, progress=False)
    assert s["resumed"] == 8 and s["generated"] == 8 and read_manifest(out).rows == 16
