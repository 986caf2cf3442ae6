"""The `curate:` section of a recipe: its declarative spec, its defaults, and `validate_curate`,
which reports every problem at once (`curate.mix.buckets[1].fraction: expected a number in
[0, 1], found 1.5`). The curate engine (`factory.curate.core`) reads the normalised config that
`curate_config` returns, so defaults live in ONE place: here.

    curate:
      sources: [{kind: traces, path: traces}]     # or --traces/--problems/--sft on the command line
      select:   {all: {correct: {verdict_math: [correct]}}}   # per domain (or `all`): which traces qualify
      difficulty: {from: pass_rate, teachers: [weak-model]}     # level | pass_rate | metadata | none
      per_problem: {policy: shortest-correct}                   # all-correct | longest-correct | k-per-problem | diverse
      budget: {max_tokens: 16384}
      journey: {...}        # O1-Journey samples (wrong attempt -> reflection -> correct solution)
      non_reasoning: {...}  # self-cognition, translation, user SFT folders
      mix: {size: 1000, buckets: [{name: math, match: {domain: [math]}, fraction: 1.0}]}
      output: {format: think, system_prompt: null, validation_fraction: 0.05}

Exercise: `factory recipes validate sky-t1-17k --set curate.mix.size=0`.
"""

from __future__ import annotations

import copy
from typing import Any

from factory.recipes.spec import (
    Bool,
    Bounds,
    Enum,
    Int,
    ListOf,
    Map,
    Nullable,
    Num,
    OneOf,
    Str,
    check,
)
from factory.schemas.contracts import DOMAINS, SFT_KINDS

POLICIES = ("all-correct", "shortest-correct", "longest-correct", "k-per-problem", "diverse")
DIFFICULTY_FROM = ("level", "pass_rate", "metadata", "none")
FORMATS = ("think", "sky-t1", "plain")
CUT_POINTS = ("conclusion", "earlier")
REFLECTIONS = ("template", "teacher")
REFLECTION_PRESETS = ("o1-journey", "brief")  # factory.curate.journey.REFLECTION_PRESETS
MATCH_KEYS = ("kind", "domain", "source", "difficulty", "teacher", "level")
TOKEN_COUNTS = ("completion_tokens", "chars")

_scalar = OneOf(Str(), Int(), Bool(), describe="a string, integer or boolean")
# column -> allowed values, e.g. {verdict_math: [correct]}; a lone value is accepted for a list
_column_values = Map(values=ListOf(_scalar, min_len=1, scalar_ok=True), keys=Str(),
                     expected="a mapping column -> allowed values")
_column_bounds = Map(values=Bounds(), keys=Str(), expected="a mapping column -> bounds {gt|ge|lt|le: x}")
_str_list = ListOf(Str(), min_len=1, scalar_ok=True)

RULE = Map({
    "correct?": _column_values,      # the correctness criterion (also what the pass rate counts)
    "where?": _column_values,        # extra verdicts a trace must have (quality filters)
    "scores?": _column_bounds,       # score thresholds
    "teachers?": _str_list,          # only these teachers' traces become examples
    "sources?": _str_list,
    "level?": Bounds(),
    "difficulty?": _str_list,
    "pass_rate?": Bounds(lo=0, hi=1),
    "require_answer?": Bool(),
    "require_tests?": Bool(),
    "finish_reasons?": _str_list,
    # long CoT: a thought block of at least N tokens (a reasoning teacher's trace; a short CoT has
    # none) and a solution section after it of at least N tokens (a worked solution, not a bare box)
    "min_reasoning_tokens?": Int(min=0),
    "min_solution_tokens?": Int(min=0),
})

SOURCE = Map({
    "kind": Enum("traces", "problems", "sft"),
    "path": Str(),
    "name?": Str(),          # replaces the rows' `source` label
    "license?": Str(),       # fills a missing license
    "domain?": Enum(*DOMAINS),  # replaces the rows' `domain` label (e.g. a science set ingested as general)
})


DIFFICULTY = Map({
    "from": Enum(*DIFFICULTY_FROM),
    "teachers?": _str_list,              # pass rate counts only these teachers' traces (s1K: the weak model)
    "min_samples?": Int(min=1),          # fewer samples -> pass rate unknown (null)
    "bins?": ListOf(Map({"name": Str(), "pass_rate?": Bounds(lo=0, hi=1), "level?": Bounds()}), min_len=1),
})

PER_PROBLEM = Map({"policy": Enum(*POLICIES), "k?": Int(min=1)})

BUDGET = Map({"max_tokens?": Int(min=1), "min_tokens?": Int(min=0), "count?": Enum(*TOKEN_COUNTS)})

JOURNEY = Map({
    "enabled?": Bool(),
    "domains?": ListOf(Enum(*DOMAINS), min_len=1, scalar_ok=True),
    "wrong?": _column_values,
    "correct?": _column_values,
    "wrong_teachers?": _str_list,
    "correct_teachers?": _str_list,
    "cut?": Enum(*CUT_POINTS),
    "earlier_fraction?": Num(min=0.05, max=0.95),
    "per_problem?": Int(min=1),
    "phrases?": Map(values=ListOf(Str(), min_len=1), keys=Str(), expected="a mapping language -> list of phrases"),
    "max_tokens?": Int(min=1),
    # fluency rewrite through a teacher backend (the backends of `factory generate`)
    "rewrite?": Nullable(Map({"teacher": Str(), "backend?": Enum("transformers", "vllm", "openai"),
                              "base_url?": Str(), "api_key_env?": Str(), "prompt?": Str(), "max_tokens?": Int(min=1)})),
    # who writes the reflection between the wrong attempt and the correct solution: composed
    # from seeded parts that name the wrong answer and the kind of mistake (template), or a
    # teacher backend with a prompt preset (the O1-Journey way; a reflection failing the checks
    # falls back to the composed one, counted in the report)
    "reflection?": Enum(*REFLECTIONS),
    "reflection_teacher?": Nullable(Map({
        "teacher": Str(), "backend?": Enum("transformers", "vllm", "openai", "replay"), "base_url?": Str(),
        "api_key_env?": Str(), "preset?": Enum(*REFLECTION_PRESETS), "prompt?": Str(), "max_tokens?": Int(min=1)})),
})

NON_REASONING = Map({
    "self_cognition?": Nullable(Map({
        "model_name": Str(), "developer": Str(),
        "languages?": ListOf(Str(), min_len=1, scalar_ok=True),
    })),
    "translation?": Nullable(Map({
        "sample?": Str(),
        "pairs?": ListOf(ListOf(Str(), min_len=2), min_len=1),
        "short_cot?": Bool(),
        "max_sentences?": Int(min=1),
    })),
    "sft_kind?": Enum(*SFT_KINDS),   # the kind given to rows read from `sources` of kind sft
    "empty_think?": Bool(),          # trivial prompts: `<think>\n\n</think>\n\n` + answer (R1) or no block
})


def _bucket_check(value: dict, path: str, problems: list[str]) -> None:
    has_count, has_frac = "count" in value, "fraction" in value
    if has_count == has_frac:
        problems.append(f"{path}: expected exactly one of count/fraction, found "
                        f"{'both' if has_count else 'neither'}")


BUCKET = Map({
    "name": Str(),
    "match?": Map({k + "?": ListOf(_scalar, min_len=1, scalar_ok=True) for k in MATCH_KEYS}),
    "count?": Int(min=0),
    "fraction?": Num(min=0, max=1),
    "upsample?": Bool(),
    "balance?": Enum("domain", "source", "difficulty", "teacher", "kind"),
    "prefer?": Enum("random", "longest", "shortest"),   # order inside the bucket (s1K prefers longer traces)
}, check_fn=_bucket_check)


def _mix_check(value: dict, path: str, problems: list[str]) -> None:
    buckets = value.get("buckets")
    if not isinstance(buckets, list):
        return
    names = [b.get("name") for b in buckets if isinstance(b, dict)]
    dup = sorted({n for n in names if names.count(n) > 1 and isinstance(n, str)})
    if dup:
        problems.append(f"{path}.buckets: expected unique bucket names, found duplicates {dup}")
    fracs = [b["fraction"] for b in buckets if isinstance(b, dict) and isinstance(b.get("fraction"), (int, float))
             and not isinstance(b.get("fraction"), bool)]
    counts = [b["count"] for b in buckets if isinstance(b, dict) and isinstance(b.get("count"), int)]
    total = sum(fracs)
    if fracs and total > 1 + 1e-9:
        problems.append(f"{path}.buckets: expected fractions summing to at most 1, found {round(total, 6)}")
    size = value.get("size")
    if size == "auto" and counts:
        problems.append(f"{path}.size: expected an integer when a bucket has a fixed count, found 'auto'")
    if isinstance(size, int) and not isinstance(size, bool) and counts and sum(counts) > size:
        problems.append(f"{path}.buckets: expected bucket counts summing to at most size={size}, found {sum(counts)}")


MIX = Map({
    "size?": OneOf(Int(min=1), Enum("auto"), describe="an integer >= 1 or 'auto'"),
    "allow_short?": Bool(),
    "buckets": ListOf(BUCKET, min_len=1),
}, check_fn=_mix_check)

OUTPUT = Map({
    "format?": Enum(*FORMATS),
    "system_prompt?": Nullable(Str()),
    "user?": Enum("problem", "prompt"),
    "validation_fraction?": Num(min=0, max=0.5),
    "rows_per_shard?": Int(min=1),
})

CURATE = Map({
    "out?": Str(),                   # `factory run`: output folder inside the run folder (default: sft)
    "sources?": ListOf(SOURCE),
    "select?": Map(values=RULE, keys=Enum("all", *DOMAINS), expected="a mapping domain|all -> rule"),
    "difficulty?": DIFFICULTY,
    "per_problem?": PER_PROBLEM,
    "budget?": BUDGET,
    "journey?": Nullable(JOURNEY),
    "non_reasoning?": Nullable(NON_REASONING),
    "mix": MIX,
    "output?": OUTPUT,
})

DEFAULTS: dict[str, Any] = {
    "out": "sft",
    "sources": [],
    "select": {"all": {"correct": {"verdict_math": ["correct"]}}},
    "difficulty": {"from": "level", "teachers": None, "min_samples": 1, "bins": None},
    "per_problem": {"policy": "shortest-correct", "k": 1},
    "budget": {"max_tokens": None, "min_tokens": 0, "count": "completion_tokens"},
    "journey": None,
    "non_reasoning": None,
    "mix": {"size": "auto", "allow_short": False, "buckets": []},
    "output": {"format": "think", "system_prompt": None, "user": "problem", "validation_fraction": 0.0,
               "rows_per_shard": 100_000},
}

JOURNEY_DEFAULTS: dict[str, Any] = {
    # `no_answer`: attempts that never conclude (cut off, giving up) are journey material too
    "enabled": True, "domains": ["math"], "wrong": {"verdict_math": ["wrong", "no_answer"]},
    "correct": {"verdict_math": ["correct"]}, "wrong_teachers": None, "correct_teachers": None,
    "cut": "conclusion", "earlier_fraction": 0.6, "per_problem": 1, "phrases": None, "max_tokens": None,
    "rewrite": None, "reflection": "template", "reflection_teacher": None,
}

NON_REASONING_DEFAULTS: dict[str, Any] = {
    "self_cognition": None, "translation": None, "sft_kind": "non_reasoning", "empty_think": True,
}

TRANSLATION_DEFAULTS: dict[str, Any] = {
    "sample": "@data/sample/ntrex128_sample.jsonl.gz", "pairs": [["eng", "deu"], ["eng", "zho-CN"]],
    "short_cot": True, "max_sentences": None,
}


def validate_curate(section: Any, path: str = "curate") -> list[str]:
    """Every problem in a curate section (empty list = valid)."""
    problems = check(CURATE, section, path)
    if isinstance(section, dict):
        buckets = (section.get("mix") or {}).get("buckets") if isinstance(section.get("mix"), dict) else None
        fmt = (section.get("output") or {}).get("format") if isinstance(section.get("output"), dict) else None
        kinds_needed = set()
        for b in buckets or []:
            if isinstance(b, dict) and isinstance(b.get("match"), dict):
                k = b["match"].get("kind")
                kinds_needed.update(k if isinstance(k, list) else [k])
        if "journey" in kinds_needed and not section.get("journey"):
            problems.append(f"{path}.journey: expected a journey section because a bucket matches kind journey, found nothing")
        j = section.get("journey")
        if isinstance(j, dict) and j.get("reflection") == "teacher" and not (
                isinstance(j.get("reflection_teacher"), dict) and j["reflection_teacher"].get("teacher")):
            problems.append(f"{path}.journey.reflection_teacher: expected {{teacher: MODEL, backend: ..., preset: "
                            f"o1-journey}} because reflection is 'teacher', found nothing")
        if fmt == "plain" and "journey" in kinds_needed:
            problems.append(f"{path}.output.format: expected think or sky-t1 for journey samples, found 'plain'")
    return problems


def _merge(defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for k, v in (given or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _as_list(v: Any) -> Any:
    if v is None or isinstance(v, list):
        return v
    return [v]


def curate_config(section: dict[str, Any]) -> dict[str, Any]:
    """The section with every default filled in and lone values turned into lists.
    Call `validate_curate` first; this assumes a valid section."""
    cfg = _merge({k: v for k, v in DEFAULTS.items() if k not in ("select",)}, {k: v for k, v in section.items() if k != "select"})
    cfg["select"] = copy.deepcopy(section.get("select") or DEFAULTS["select"])
    for rule in cfg["select"].values():
        for key in ("correct", "where"):
            if rule.get(key):
                rule[key] = {c: _as_list(v) for c, v in rule[key].items()}
        for key in ("teachers", "sources", "difficulty", "finish_reasons"):
            rule[key] = _as_list(rule.get(key))
        rule.setdefault("require_answer", True)
        rule.setdefault("require_tests", False)
    cfg["difficulty"]["teachers"] = _as_list(cfg["difficulty"].get("teachers"))
    if cfg.get("journey") is not None:
        j = _merge(JOURNEY_DEFAULTS, cfg["journey"])
        j["domains"] = _as_list(j["domains"])
        for key in ("wrong", "correct"):
            j[key] = {c: _as_list(v) for c, v in j[key].items()}
        j["wrong_teachers"] = _as_list(j["wrong_teachers"])
        j["correct_teachers"] = _as_list(j["correct_teachers"])
        cfg["journey"] = j
    if cfg.get("non_reasoning") is not None:
        nr = _merge(NON_REASONING_DEFAULTS, cfg["non_reasoning"])
        if nr.get("translation") is not None:
            nr["translation"] = _merge(TRANSLATION_DEFAULTS, nr["translation"])
        if nr.get("self_cognition") is not None:
            sc = nr["self_cognition"]
            sc["languages"] = _as_list(sc.get("languages")) or ["en"]
        cfg["non_reasoning"] = nr
    for b in cfg["mix"]["buckets"]:
        b["match"] = {k: _as_list(v) for k, v in (b.get("match") or {}).items()}
        b.setdefault("upsample", False)
        b.setdefault("balance", None)
    return cfg


__all__ = ["validate_curate", "curate_config", "POLICIES", "FORMATS"]
