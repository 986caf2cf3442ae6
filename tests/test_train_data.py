"""factory train on any messages dataset (tiny model, CPU):

- `factory train --data msgs.parquet --student tiny` trains in one command, with a validation
  share, eval_loss logged, readable log lines with ETA;
- --data reads a Parquet file, a JSONL file, a `datasets` save_to_disk DatasetDict (its
  validation split too), a folder of files, a factory SFT folder; a Hub id offline is a clear
  error; bad rows are located errors;
- --set passes any SFTConfig field through (report_to=tensorboard writes event files) and refuses
  values TRL would reject, before any work, with located messages (CLI and recipe);
- --push-to-hub with a dry run lists the student's files; offline without a dry run stops first;
- the chat template by name from the shipped ones;
- fingerprinted output: training B into an --out trained on A is refused naming `data`;
- SIGTERM stops training like Ctrl-C; a killed run whose last checkpoint is incomplete resumes
  from the last complete one (the incomplete one is reported).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from factory.cli.app import app

torch.set_num_threads(1)


def _rows(package_data: Path, n: int, *, offset: int = 0) -> list[dict]:
    """Conversational rows from real short-CoT traces (truncated so the tiny runs stay fast)."""
    rows = []
    with gzip.open(package_data / "traces" / "qwen25_14b_instruct_short_cot_math500.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            if i < offset:
                continue
            if len(rows) >= n:
                break
            d = json.loads(line)
            rows.append({"messages": [
                {"role": "user", "content": d["question"][:160]},
                {"role": "assistant", "content": f"<think>\n{d['code'][0][:200]}\n</think>\n\nThe answer is $\\boxed{{{d['gt']}}}$."},
            ], "topic": "math", "uid": f"u{i}"})
    return rows


def _parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _invoke(args: list[str]):
    return CliRunner().invoke(app, args)


def test_train_on_a_parquet_file_with_the_tiny_student_in_one_command(tmp_path, package_data):
    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 12))
    out = tmp_path / "student"
    r = _invoke(["train", "--data", str(data), "--student", "tiny", "--out", str(out), "--set", "max_steps=3",
                 "--set", "logging_steps=1", "--validation-split", "0.25"])
    assert r.exit_code == 0, r.output
    assert "data: 9 training rows from file msgs.parquet; 3 validation rows" in r.output
    assert "step 1/3 (33%) · loss " in r.output and "ETA 0:" in r.output  # readable lines with ETA (no terminal)
    assert "{'loss'" not in r.output and "'6." not in r.output  # no raw dicts of quoted numbers
    assert "eval at step 3: eval_loss " in r.output
    assert "trained 3 steps" in r.output and "eval_loss" in r.output
    log = json.loads((out / "training_log.json").read_text())
    assert log["preset"] == "tiny" and log["data"]["train_rows"] == 9 and log["data"]["validation_rows"] == 3
    assert log["eval_loss"] is not None and any("eval_loss" in h for h in log["log_history"])
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(out / ".base-tiny").state_dict()
    trained = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert sum(not torch.equal(base[k], trained[k]) for k in base) >= len(base) // 2  # the student did train
    card = (out / "README.md").read_text()
    assert "validation: 3 rows" in card and "validation loss (eval_loss)" in card and "base_model: tiny" in card
    # the same command again: up to date, nothing retrained
    r = _invoke(["train", "--data", str(data), "--student", "tiny", "--out", str(out), "--set", "max_steps=3",
                 "--set", "logging_steps=1", "--validation-split", "0.25"])
    assert r.exit_code == 0 and "up to date" in r.output


def test_data_formats_jsonl_datasets_folders_and_factory_folders(tmp_path, package_data):
    import datasets

    from factory.io.dataset import write_dataset
    from factory.schemas import sft_id
    from factory.train.data import training_data

    rows = _rows(package_data, 10)
    jl = tmp_path / "msgs.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    td = training_data(str(jl))
    assert len(td.train) == 10 and td.train.column_names == ["messages"] and td.validation is None
    assert td.train[3]["messages"] == rows[3]["messages"]
    # a DatasetDict saved to disk: train + validation splits
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:8]), "validation": datasets.Dataset.from_list(rows[8:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    td = training_data(str(tmp_path / "dd"))
    assert len(td.train) == 8 and len(td.validation) == 2 and "splits: train, validation" in td.source
    # a single Dataset saved to disk, with a held-out share (seeded: the same rows each time)
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "single"))
    a = training_data(str(tmp_path / "single"), validation_split=0.3, seed=1)
    b = training_data(str(tmp_path / "single"), validation_split=0.3, seed=1)
    assert len(a.train) == 7 and len(a.validation) == 3 and a.validation["messages"] == b.validation["messages"]
    # a folder of Parquet files; a second path as validation data
    (tmp_path / "files").mkdir()
    _parquet(tmp_path / "files" / "a.parquet", rows[:4])
    _parquet(tmp_path / "files" / "b.parquet", rows[4:7])
    td = training_data(str(tmp_path / "files"), validation_data=str(jl))
    assert len(td.train) == 7 and len(td.validation) == 10 and td.validation_source == "file msgs.jsonl"
    # a factory SFT folder
    sft = [dict(id=sft_id(r["messages"], "shortcut"), messages=r["messages"], trace_ids=["t"], problem_id=f"p{i}",
                kind="shortcut", domain="math", source="math500") for i, r in enumerate(rows)]
    write_dataset(tmp_path / "cur" / "train", "sft", sft[:7])
    write_dataset(tmp_path / "cur" / "validation", "sft", sft[7:])
    td = training_data(str(tmp_path / "cur"))
    assert len(td.train) == 7 and len(td.validation) == 3 and td.folder == tmp_path / "cur"


def test_bad_data_is_a_located_error(tmp_path, package_data):
    from factory.schemas.errors import FactoryError
    from factory.train.data import training_data

    rows = _rows(package_data, 3)
    bad_role = [dict(r) for r in rows]
    bad_role[1] = {"messages": [{"role": "human", "content": "hi"}, {"role": "gpt", "content": "yo"}]}
    with pytest.raises(FactoryError, match=r"bad\.parquet: row 1: messages\[0\]\.role: expected one of system, user, assistant, tool, found 'human'"):
        training_data(str(_parquet(tmp_path / "bad.parquet", bad_role)))
    no_assistant = [rows[0], {"messages": [{"role": "user", "content": "only a question"}]}]
    with pytest.raises(FactoryError, match=r"row 1: no assistant turn"):
        training_data(str(_parquet(tmp_path / "noa.parquet", no_assistant)))
    with pytest.raises(FactoryError, match=r"no `messages` column \(found: conversations\)") as e:
        training_data(str(_parquet(tmp_path / "sg.parquet", [{"conversations": [{"from": "human", "value": "x"}]}])))
    assert "ShareGPT" in e.value.hint
    # a Hub id while offline: a clear error (the test suite runs with HF_HUB_OFFLINE=1)
    r = _invoke(["train", "--data", "someone/not-cached-sft", "--student", "tiny", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert "--data someone/not-cached-sft: not a local file or folder, and the Hugging Face Hub is offline" in r.output
    assert "hf download someone/not-cached-sft --repo-type dataset" in r.output
    r = _invoke(["train", "--data", str(tmp_path / "missing.parquet"), "--student", "tiny", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and "missing.parquet: no such file or folder" in r.output
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_set_is_checked_against_sftconfig_before_any_work(tmp_path, package_data):
    from factory.pipeline.recipe import validate_section

    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 4))
    base = ["train", "--data", str(data), "--student", "tiny", "--out", str(tmp_path / "o")]
    r = _invoke([*base, "--set", "learning_rate=-1", "--set", "max_length=0", "--set", "lerning_rate=1e-4",
                 "--set", "output_dir=elsewhere", "--set", "report_to=tensorbored", "--set", "bf16=maybe"])
    assert r.exit_code == 1, r.output
    for needle in ["--set.learning_rate: expected a number > 0, found -1",
                   "--set.max_length: expected an integer >= 1, found 0",
                   "--set.lerning_rate: unknown training setting", "did you mean learning_rate",
                   "--set.output_dir: set by the factory: use --out",
                   "--set.report_to: expected none, all or integrations from", "found 'tensorbored'",
                   "--set.bf16: expected"]:
        assert needle in r.output, (needle, r.output)
    assert "AssertionError" not in r.output and not (tmp_path / "o").exists()
    problems = validate_section("train", {"data": "d", "student": "s", "out": "o", "set": {"learning_rate": -1, "eval_steps": 0}})
    assert "train.set.learning_rate: expected a number > 0, found -1" in problems
    assert any(p.startswith("train.set.eval_steps: expected a number > 0") for p in problems)
    # any SFTConfig field passes through; preset keys keep working
    assert validate_section("train", {"data": "d", "student": "s", "out": "o", "preset": "tiny", "set": {
        "bf16": False, "report_to": "tensorboard", "optim": "adamw_torch", "max_grad_norm": 0.5, "lora_r": 4,
        "per_device_train_batch_size": 1}}) == []


def test_report_to_tensorboard_writes_event_files(tmp_path, package_data):
    from factory.train.core import train

    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 8))
    res = train(data=str(data), student=str(_tiny(tmp_path)), out=tmp_path / "s", preset="tiny", validation_split=0.25,
                overrides={"max_steps": 2, "logging_steps": 1, "report_to": "tensorboard", "eval_steps": 1}, log=lambda m: None)
    events = list((tmp_path / "s" / "runs").rglob("events.out.tfevents.*"))
    assert events and sum(p.stat().st_size for p in events) > 100
    assert res.eval_loss is not None and res.global_step == 2


def _tiny(tmp_path: Path) -> Path:
    from factory.generate.teachers.tiny import build_tiny_model

    return build_tiny_model(tmp_path / "tiny")


def test_push_to_hub_dry_run_and_offline_refusal(tmp_path, package_data):
    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 6))
    out = tmp_path / "s"
    base = ["train", "--data", str(data), "--student", "tiny", "--out", str(out), "--set", "max_steps=1", "--set", "save_steps=1"]
    t0 = time.time()
    r = _invoke([*base, "--push-to-hub", "me/tiny-student"])  # offline (the suite sets HF_HUB_OFFLINE=1)
    assert r.exit_code == 1, r.output
    assert "--push-to-hub me/tiny-student: the Hugging Face Hub is offline" in r.output and "--push-dry-run" in r.output
    assert not list(out.glob("checkpoint-*")) and time.time() - t0 < 60  # stopped before training
    r = _invoke([*base, "--push-to-hub", "not a repo"])
    assert r.exit_code == 1 and "--push-to-hub: expected a Hub model repo ORG/NAME, found 'not a repo'" in r.output
    r = _invoke([*base, "--push-to-hub", "me/tiny-student", "--push-dry-run"])
    assert r.exit_code == 0, r.output
    assert "would upload" in r.output and "https://huggingface.co/me/tiny-student" in r.output
    from factory.io.record import read_record

    push = read_record(out)["summary"]["push"]
    assert push["dry_run"] and {"model.safetensors", "config.json", "tokenizer.json", "README.md", "training_log.json"} <= set(push["files"])
    assert not any(f.startswith(("checkpoint-", ".")) or f == "stage.json" for f in push["files"])
    assert 'from_pretrained("me/tiny-student")' in (out / "README.md").read_text()
    # a finished run with the upload asked again: training is up to date, only the push happens
    r = _invoke([*base, "--push-to-hub", "me/tiny-student", "--push-dry-run"])
    assert r.exit_code == 0 and "up to date" in r.output and "would upload" in r.output


def test_chat_template_by_name(tmp_path, tiny_model):
    r = _invoke(["train", "--data", "x", "--student", str(tiny_model), "--out", str(tmp_path / "o"), "--preflight-only",
                 "--chat-template", "chatml_think"])
    assert r.exit_code == 0, r.output
    assert "preflight ok" in r.output
    r = _invoke(["train", "--data", "x", "--student", str(tiny_model), "--out", str(tmp_path / "o"), "--preflight-only",
                 "--chat-template", "chatml-nothink"])
    assert r.exit_code == 1
    assert "--chat-template: expected a .jinja file or the name of a shipped template (chatml_think), found 'chatml-nothink'" in r.output
    from factory.train.templates import resolve

    assert resolve("chatml-think.jinja")[0].name == "chatml_think.jinja"


def test_training_b_into_an_out_trained_on_a_is_refused_naming_data(tmp_path, package_data):
    a = _parquet(tmp_path / "a.parquet", _rows(package_data, 4))
    b = _parquet(tmp_path / "b.parquet", _rows(package_data, 4, offset=4))
    out = tmp_path / "stu1"
    args = ["--student", "tiny", "--out", str(out), "--set", "max_steps=1"]
    assert _invoke(["train", "--data", str(a), *args]).exit_code == 0
    r = _invoke(["train", "--data", str(b), *args])
    assert r.exit_code == 1, r.output
    assert "holds the output of an earlier `train` run with other settings (input data changed)" in r.output
    assert "--overwrite" in r.output
    r = _invoke(["train", "--data", str(b), *args, "--set", "learning_rate=5e-4"])
    assert r.exit_code == 1 and "set " in r.output and "input data changed" in r.output  # both named
    r = _invoke(["train", "--data", str(b), *args, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert "trained 1 steps" in r.output and "resumed" not in r.output  # trained afresh on B, not resumed from A
    assert json.loads((out / "training_log.json").read_text())["data"]["source"] == "file b.parquet"


def test_an_incomplete_last_checkpoint_is_ignored_and_reported(tmp_path, package_data):
    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 16))
    out = tmp_path / "s"
    args = ["train", "--data", str(data), "--student", "tiny", "--out", str(out), "--set", "max_steps=6",
            "--set", "save_steps=2", "--set", "num_train_epochs=10"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "factory.cli.app", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    try:
        while not (out / "checkpoint-4" / "trainer_state.json").exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "no checkpoint-4 appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # a scheduler's preemption: handled like Ctrl-C
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert "terminated (SIGTERM; finished work is kept: re-run the same command to resume)" in stderr
    assert not (out / "checkpoint-6").exists()
    # as if the run had been killed while writing checkpoint-4: its weights are cut in half
    weights = out / "checkpoint-4" / "model.safetensors"
    with open(weights, "r+b") as f:
        f.truncate(weights.stat().st_size // 2)
    r = _invoke(args)
    assert r.exit_code == 0, r.output
    assert "ignoring the incomplete checkpoint-4 (model.safetensors is truncated" in r.output
    assert "resuming from checkpoint-2" in r.output and "trained 6 steps (resumed from checkpoint-2)" in r.output
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    assert [h["step"] for h in state["log_history"] if "loss" in h][:2] == [1, 2]  # the history continues


def test_checkpoint_completeness_rules(tmp_path, package_data):
    import shutil

    from factory.train import checkpoints
    from factory.train.core import train

    data = _parquet(tmp_path / "msgs.parquet", _rows(package_data, 6))
    train(data=str(data), student=str(_tiny(tmp_path)), out=tmp_path / "s", preset="tiny",
          overrides={"max_steps": 1, "save_steps": 1}, log=lambda m: None)
    good = tmp_path / "s" / "checkpoint-1"
    assert checkpoints.problem(good) is None
    cases = {
        "no trainer_state.json (cut off while saving)": lambda d: (d / "trainer_state.json").unlink(),
        "trainer_state.json is truncated": lambda d: (d / "trainer_state.json").write_text('{"global_st'),
        "no model weights": lambda d: (d / "model.safetensors").unlink(),
        "optimizer.pt is truncated": lambda d: (d / "optimizer.pt").write_bytes((d / "optimizer.pt").read_bytes()[:100]),
    }
    for i, (why, damage) in enumerate(cases.items()):
        d = tmp_path / "s" / f"checkpoint-{10 + i}"
        shutil.copytree(good, d)
        damage(d)
        assert (checkpoints.problem(d) or "").startswith(why), (why, checkpoints.problem(d))
    lines = []
    assert checkpoints.latest_complete(tmp_path / "s", log=lines.append) == str(good)
    assert len(lines) == 4 and not (tmp_path / "s" / "checkpoint-13").exists()
