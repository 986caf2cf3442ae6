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
    assert problems == [
        "train.preset: expected one of sky-t1, openr1-distill, s1, limo, tiny or null, found 'fast'",
        "train.lora: expected true or false, found 'maybe'",
        "train.bogus: unknown key (expected one of: chat_template, data, hub_private, lora, out, preset, push_dry_run, "
        "push_to_hub, resume, set, student, validation_data, validation_split)",
        "eval.benchmarks[1]: expected one of math500, aime24, aime25, amc23, gsm8k, humaneval, mbpp, found 'mmlu'",
        "eval.n: expected an integer >= 1, found 'two'",
    ]


def test_run_refuses_before_any_stage_when_a_section_is_wrong(tmp_path):
    with pytest.raises(RecipeError, match=r"train\.out: expected a non-empty string, found null"):
        run_recipe("quickstart", out=tmp_path / "r", overrides=["train.out=null"])
    assert not (tmp_path / "r" / "problems").exists()  # nothing ran
