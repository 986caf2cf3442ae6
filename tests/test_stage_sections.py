"""The train and eval recipe sections report every problem at once, through the same
validation `factory run` performs before any stage starts."""

from __future__ import annotations

import pytest
from factory.recipes import load_recipe
from factory.schemas import RecipeError

from factory.pipeline.recipe import run_recipe, validate_recipe


def test_train_and_eval_sections_report_all_problems():
    recipe = load_recipe("quickstart", overrides=[
        "train.preset=fast", "train.bogus=1", "train.lora=maybe", "eval.benchmarks=[math500, mmlu]", "eval.n=two",
    ])
    problems = validate_recipe(recipe)
    assert "train.bogus: unknown key (expected one of ['chat_template', 'data', 'lora', 'out', 'preset', 'set', 'student'])" in problems
    assert "train.lora: expected bool, found str 'maybe'" in problems
    assert any(p.startswith("train.preset: expected one of ['limo', 'openr1-distill', 's1', 'sky-t1', 'tiny'], found 'fast'") for p in problems)
    assert any(p.startswith("eval.benchmarks[1]: expected one of [") and p.endswith("found 'mmlu'") for p in problems)
    assert "eval.n: expected int, found str 'two'" in problems


def test_run_refuses_before_any_stage_when_a_section_is_wrong(tmp_path):
    with pytest.raises(RecipeError, match=r"train\.out: expected str, found NoneType None"):
        run_recipe("quickstart", out=tmp_path / "r", overrides=["train.out=null"])
    assert not (tmp_path / "r" / "problems").exists()  # nothing ran
