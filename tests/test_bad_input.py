"""A battery of bad input, one probe per class a user can type or hand over: every one gets a
clean, located error (exit 1, or 2 for a command line the parser cannot read), never an
`internal error`, never a hang, never silent acceptance.

The classes follow the fault probe of issue 14 (manifests edited by hand, foreign shards,
binary or duplicate-key recipes, out-of-range rates and limits, unknown devices and dtypes,
min > max pairs, unknown language codes, `--map` keys a preset ignores, ...) plus the same
kinds of mistakes on every other stage.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from factory.cli.app import app
from factory.io.dataset import write_dataset
from trace_rows import trace_row

pytestmark = pytest.mark.timeout(120)  # a hang is a failure


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rows = [trace_row(question=f"What is {i} + {i}?", completion=f"<think>{i}+{i}</think> \\boxed{{{2 * i}}}", gold=str(2 * i))
            for i in range(30)]
    write_dataset(d / "traces", "trace", rows)
    problems = [{"id": f"p{i}", "source": "s", "domain": "math", "problem": f"What is {i} + {i}?", "reference_answer": str(2 * i),
                 "language": "en"} for i in range(30)]
    write_dataset(d / "problems", "problem", problems)
    (d / "gsm.jsonl").write_text("".join(json.dumps({"question": f"q{i}?", "answer": f"#### {i}"}) + "\n" for i in range(5)))
    return d


def _copy(folders: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(folders / name, dst)
    return dst


def _edit_manifest(folder: Path, fn) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(fn(m)))


def _run(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(app, args)
    return res.exit_code, res.output


# each case: (id, setup(folders, tmp_path) -> args, expected words in the message, exit code)
def _folder_case(edit):
    def setup(f, t):
        p = _copy(f, t, "traces")
        edit(p)
        return ["inspect", str(p)]
    return setup


def _foreign_shard(p: Path) -> None:
    shard = p / json.loads((p / "manifest.json").read_text())["shards"][0]["name"]
    pq.write_table(pa.table({"x": [1, 2, 3]}), shard)
    import hashlib

    def fix(m):
        m["shards"][0].update(bytes=shard.stat().st_size, sha256=hashlib.sha256(shard.read_bytes()).hexdigest(), rows=3)
        m["rows"] = 3
        return m

    _edit_manifest(p, fix)


CASES = [
    # -- manifests and shards edited or damaged by hand
    ("manifest-is-a-list", _folder_case(lambda p: (p / "manifest.json").write_text("[1, 2]")), "expected a JSON object, found list", 1),
    ("manifest-not-json", _folder_case(lambda p: (p / "manifest.json").write_text("{oops")), "corrupted manifest", 1),
    ("manifest-rows-lie", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "rows": 999})), "'rows' says 999 but the shards hold 30", 1),
    ("manifest-duplicate-shard", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "shards": m["shards"] * 2, "rows": m["rows"] * 2})),
     "listed more than once", 1),
    ("manifest-shard-outside", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "shards": [{**m["shards"][0], "name": "../../etc/x.parquet"}]})),
     "not a shard file name inside the folder", 1),
    ("manifest-schema-version", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "schema_version": "9.9"})),
     "schema_version '9.9' is not one this factory reads", 1),
    ("manifest-unknown-contract", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "contract": "poem"})), "unknown contract 'poem'", 1),
    ("manifest-bad-format", _folder_case(lambda p: _edit_manifest(p, lambda m: {**m, "format": "other/1"})), "not a factory dataset manifest", 1),
    ("shard-truncated", _folder_case(lambda p: (lambda s: s.write_bytes(s.read_bytes()[:100]))(next(p.glob("part-*.parquet")))),
     "truncated or overwritten", 1),
    ("shard-foreign-schema", lambda f, t: (lambda p: (_foreign_shard(p), ["verify", str(p), "-o", str(t / "o"), "--workers", "1"])[1])(
        _copy(f, t, "traces")), "shard lacks the trace contract's column(s)", 1),
    ("half-written-folder", _folder_case(lambda p: (p / "manifest.json").unlink()), "half-written dataset", 1),
    ("not-a-folder", lambda f, t: ["inspect", str(t / "missing")], "no such dataset folder", 1),
    ("a-file-not-a-folder", lambda f, t: ["inspect", str(f / "gsm.jsonl")], "expected a dataset folder, found a file", 1),
    # -- recipes
    ("recipe-binary", lambda f, t: ((t / "r.yaml").write_bytes(b"\x00\xff\xfe"), ["run", str(t / "r.yaml"), "-o", str(t / "run")])[1],
     "expected a UTF-8 YAML text file", 1),
    ("recipe-duplicate-keys", lambda f, t: ((t / "r.yaml").write_text("name: r\nseed: 1\nstages: [dedup]\ndedup: {input: a, out: b}\ndedup: {input: c, out: d}\n"),
                                            ["run", str(t / "r.yaml"), "-o", str(t / "run")])[1], "duplicate key 'dedup'", 1),
    ("recipe-unknown-stage", lambda f, t: ((t / "r.yaml").write_text("name: r\nseed: 1\nstages: [bake]\n"),
                                           ["run", str(t / "r.yaml"), "-o", str(t / "run")])[1], "stages[0]: expected one of", 1),
    ("recipe-not-found", lambda f, t: ["run", str(t / "none.yaml"), "-o", str(t / "run")], "not found", 1),
    ("recipe-unknown-name", lambda f, t: ["run", "no-such-recipe", "-o", str(t / "run")], "shipped recipes", 1),
    ("recipe-top-level-list", lambda f, t: ((t / "r.yaml").write_text("- 1\n- 2\n"), ["recipes", "validate", str(t / "r.yaml")])[1],
     "expected a mapping at the top level", 1),
    # -- generate: rates, limits, devices, dtypes
    *[(f"generate{flag}{val}", (lambda fl, v: lambda f, t: ["generate", "--teacher", "t", "--problems", str(f / "problems"),
                                                            "-o", str(t / "g"), fl, v])(flag, val), words, 1)
      for flag, val, words in [
          ("--rpm", "-5", "--rpm: expected a number > 0 or null, found -5.0"),
          ("--tpm", "-100", "--tpm: expected a number > 0 or null, found -100.0"),
          ("--top-k", "-3", "--top-k: expected an integer >= 1 or null, found -3"),
          ("--device", "tpu9", "--device: expected auto, cpu, cuda, cuda:N or mps, found 'tpu9'"),
          ("--dtype", "float7", "--dtype: expected one of auto, float32, float16, bfloat16, found 'float7'"),
          ("--limit", "0", "--limit: expected an integer >= 1 or null, found 0"),
          ("--limit", "-5", "--limit: expected an integer >= 1 or null, found -5"),
          ("-n", "0", "--n: expected an integer >= 1, found 0"),
          ("--temperature", "9", "--temperature: expected a number in [0, 5], found 9.0"),
          ("--top-p", "0", "--top-p: expected a number in (0, 1], found 0.0"),
          ("--max-tokens", "0", "--max-tokens: expected an integer >= 1 or null, found 0"),
          ("--backend", "gpt", "--backend: expected one of transformers, vllm, openai, replay, found 'gpt'"),
          ("--prompt", "r9", "--prompt: expected a preset"),
          ("--concurrency", "0", "--concurrency: expected an integer >= 1, found 0"),
          ("--request-timeout", "-1", "--request-timeout: expected a number > 0, found -1.0"),
          ("--max-error-share", "2", "--max-error-share: expected a number in [0, 1], found 2.0"),
      ]],
    ("generate-openai-without-url", lambda f, t: ["generate", "--teacher", "m", "--backend", "openai", "--problems", str(f / "problems"),
                                                  "-o", str(t / "g")], "--base-url: expected the server's URL", 1),
    ("generate-problems-are-traces", lambda f, t: ["generate", "--teacher", "t", "--problems", str(f / "traces"), "-o", str(t / "g")],
     "needs a problem folder, found trace rows", 1),
    ("generate-int-not-a-number", lambda f, t: ["generate", "--teacher", "t", "--problems", str(f / "problems"), "-o", str(t / "g"), "-n", "two"],
     "Invalid value for '--n'", 2),
    # -- verify / filter
    ("filter-min-above-max", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--filters", "format",
                                           "--set", "format.min_length_tokens=100", "--set", "format.max_length_tokens=10"],
     "max_length_tokens (10) must be >= min_length_tokens (100)", 1),
    ("filter-unknown-knob", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--set", "language.treshold=0.5"],
     "has no option 'treshold'", 1),
    ("filter-threshold-out-of-range", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--set", "language.threshold=2"],
     "threshold", 1),
    ("filter-language-klingon", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--filters", "language",
                                              "--set", "language.target=klingon"], "known codes:", 1),
    ("filter-unknown-filter", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--filters", "vibes"],
     "--filters[0]: expected one of", 1),
    ("filter-knob-syntax", lambda f, t: ["filter", str(f / "traces"), "-o", str(t / "o"), "--set", "nothing"], "expected KEY=VALUE", 1),
    ("verify-workers-zero", lambda f, t: ["verify", str(f / "traces"), "-o", str(t / "o"), "--workers", "0"],
     "--workers: expected an integer >= 1, found 0", 1),
    ("verify-problem-rows", lambda f, t: ["verify", str(f / "problems"), "-o", str(t / "o"), "--workers", "1"], "expected trace rows", 1),
    ("verify-same-in-out", lambda f, t: (lambda p: ["verify", str(p), "-o", str(p), "--workers", "1"])(_copy(f, t, "traces")),
     "already holds files", 1),
    ("verify-sandbox-mode", lambda f, t: ["verify", str(f / "traces"), "-o", str(t / "o"), "--sandbox", "none"],
     "--sandbox: expected one of strict, weak, found 'none'", 1),
    # -- ingest
    ("ingest-map-ignored-by-preset", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "--preset", "gsm8k", "-o", str(t / "o"),
                                                   "--map", "tests=question"], "--map: expected a destination the preset 'gsm8k' reads", 1),
    ("ingest-map-syntax", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "-o", str(t / "o"), "--map", "problem"], "expected KEY=VALUE", 1),
    ("ingest-unknown-preset", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "--preset", "gsm9k", "-o", str(t / "o")],
     "--preset: expected one of", 1),
    ("ingest-domain", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "--domain", "poetry", "-o", str(t / "o")],
     "--domain: expected one of math, code, science, puzzle, general or null, found 'poetry'", 1),
    ("ingest-language-klingon", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "--language", "klingon", "-o", str(t / "o")],
     "--language: expected an ISO 639-1 code", 1),
    ("ingest-limit-zero", lambda f, t: ["ingest", str(f / "gsm.jsonl"), "--limit", "0", "-o", str(t / "o")],
     "--limit: expected an integer >= 1 or null, found 0", 1),
    ("ingest-missing-file", lambda f, t: ["ingest", str(t / "nope.jsonl"), "-o", str(t / "o")], "nope.jsonl", 1),
    ("ingest-binary-file", lambda f, t: ((t / "b.jsonl").write_bytes(b"\x00\x01\x02\xff\xfe" * 50), ["ingest", str(t / "b.jsonl"), "--preset", "gsm8k", "-o", str(t / "o")])[1],
     "b.jsonl", 1),
    # -- dedup / decontaminate
    ("dedup-threshold", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--threshold", "1.5"],
     "--threshold: expected a number in (0, 1), found 1.5", 1),
    ("dedup-memory-budget", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--memory-budget", "lots"],
     "--memory-budget: expected a size like 2GB or 512MB, found 'lots'", 1),
    ("dedup-memory-budget-tiny", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--memory-budget", "1KB"],
     "--memory-budget: expected at least 64MB", 1),
    ("dedup-bands-rows", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--bands", "20", "--rows", "10"],
     "bands*rows <= num_perm", 1),
    ("dedup-num-perm", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--num-perm", "5000"],
     "--num-perm: expected an integer in [2, 1024], found 5000", 1),
    ("decontam-benchmark-spec", lambda f, t: ["decontaminate", str(f / "problems"), "-o", str(t / "o"), "--benchmark", "nofile"],
     "NAME=PATH", 1),
    ("decontam-unknown-builtin", lambda f, t: ["decontaminate", str(f / "problems"), "-o", str(t / "o"), "--builtin", "math501"],
     "--builtin[0]: expected one of", 1),
    ("decontam-ngram", lambda f, t: ["decontaminate", str(f / "problems"), "-o", str(t / "o"), "--ngram", "1"],
     "--ngram: expected an integer >= 2, found 1", 1),
    # -- curate
    ("curate-size-zero", lambda f, t: ["curate", "--recipe", "s1k", "--traces", str(f / "traces"), "-o", str(t / "o"), "--size", "0"],
     "--size: expected an integer >= 1 or null, found 0", 1),
    ("curate-set-bad-fraction", lambda f, t: ["curate", "--recipe", "journey", "--traces", str(f / "traces"), "-o", str(t / "o"),
                                              "--set", "mix.buckets.0.fraction=2"], "expected a number in [0, 1], found 2", 1),
    ("curate-no-spec", lambda f, t: ["curate", "--traces", str(f / "traces"), "-o", str(t / "o")], "expected a mix", 1),
    ("curate-unknown-recipe", lambda f, t: ["curate", "--recipe", "nope", "--traces", str(f / "traces"), "-o", str(t / "o")],
     "--recipe: expected a shipped recipe name or a .yaml file, found 'nope' (shipped recipes:", 1),
    ("curate-problems-given-as-traces", lambda f, t: ["curate", "--recipe", "s1k", "--traces", str(f / "problems"), "-o", str(t / "o")],
     "given as traces but holds problem rows", 1),
    # -- train / eval / publish / rl / tasks
    ("train-unknown-preset", lambda f, t: ["train", "--data", str(f / "traces"), "--student", "m", "-o", str(t / "s"), "--preset", "huge"],
     "--preset: expected one of sky-t1, openr1-distill, s1, limo, tiny or null, found 'huge'", 1),
    ("eval-unknown-benchmark", lambda f, t: ["eval", "--model", "m", "--benchmarks", "math500,nope", "-o", str(t / "e")],
     "--benchmarks[1]: expected one of", 1),
    ("eval-n-zero", lambda f, t: ["eval", "--model", "m", "-n", "0", "-o", str(t / "e")], "--n: expected an integer >= 1, found 0", 1),
    ("eval-limit-negative", lambda f, t: ["eval", "--model", "m", "--limit", "-5", "-o", str(t / "e")],
     "--limit: expected an integer >= 1 or null, found -5", 1),
    ("publish-bad-repo-id", lambda f, t: ["publish", str(f / "traces"), "-o", str(t / "hub"), "--repo-id", "not a repo"], "repo", 1),
    ("inspect-rows-negative", lambda f, t: ["inspect", str(f / "traces"), "--rows", "-1"], "--rows: expected an integer >= 0, found -1", 1),
    ("unknown-command", lambda f, t: ["bake"], "No such command", 2),
    ("unknown-flag", lambda f, t: ["dedup", str(f / "problems"), "-o", str(t / "o"), "--treshold", "0.5"], "No such option", 2),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clean_error(case, folders, tmp_path):
    _, setup, words, code = case
    exit_code, output = _run(setup(folders, tmp_path))
    assert "internal error" not in output and "Traceback" not in output, output
    assert exit_code == code, output
    assert words in output, (words, output)


def test_the_battery_is_large():
    assert len(CASES) >= 60
