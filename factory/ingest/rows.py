"""One input row -> its output rows: the reference mapping of `factory ingest` (the row path),
which the batch path (`factory.ingest.fast`) reproduces column by column and also runs over
whole batches for presets without a column mapping and for `--map`. `Constants` carries the
run's settings; it is picked up by worker processes, so they map rows exactly as the parent.

Exercise: `factory ingest mine.jsonl --preset problems --engine rows --out problems/` (through
`factory.ingest.core.ingest(..., engine="rows")`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from factory.ingest.presets import Kind, Preset, RowFail, RowView, _describe
from factory.ingest.readers import RawRow
from factory.ingest.report import PROBLEM_ONLY_META, add_extras, ignored_columns
from factory.ingest.report import infer_domain as _infer_domain
from factory.schemas.contracts import DOMAINS, FINISH_REASONS, meta_json
from factory.schemas.ids import problem_id, trace_id


@dataclass
class Constants:
    """The run's settings every row is mapped with (command-line values override preset
    defaults); picklable, so worker processes map rows exactly as the parent would."""

    domain: str | None = None
    source: str | None = None
    license: str | None = None
    language: str | None = None
    teacher: str | None = None
    extra_meta: dict[str, str] = field(default_factory=dict)  # --map meta.KEY=COLUMN
    maps: dict[str, str] = field(default_factory=dict)  # every --map DEST=COLUMN
    extra_columns: str = "scalars"  # what happens to input columns no field takes (factory.ingest.report)
    infer_domain: bool = True  # generic presets: each row's domain from its content when --domain is not given

    def infers_domain(self, preset: Preset) -> bool:
        return preset.infer_domain and self.infer_domain and self.domain is None and "domain" not in self.maps


def _context(view: RowView, preset: Preset, consts: Constants, part: dict[str, Any]) -> dict[str, Any]:
    """domain/source/license/language: --map column > command-line constant > file column >
    preset default; a generic preset's domain is inferred from the problem when nothing sets it."""

    def pick(dst: str, const: str | None, preset_default: str | None) -> str | None:
        if dst in view.maps:
            return view.text(dst, None)
        if const is not None:
            return const
        return preset_default

    source_default = preset.source
    if consts.source is None and "source" not in view.maps:
        col, val = view.get("source (column)", preset.source_columns, required=False)
        source_default = source_value(col, val, preset.source)
    if consts.infers_domain(preset):
        domain: str | None = _infer_domain(preset.domain, part["problem"], part.get("reference_answer"),
                                          part.get("reference_solution"), part.get("tests"))
    else:
        domain = pick("domain", consts.domain, preset.domain)
    if domain not in DOMAINS:
        raise RowFail("invalid_value", f"expected one of {list(DOMAINS)}, found {domain!r}", field=view.maps.get("domain", "domain"))
    return {
        "domain": domain,
        "source": pick("source", consts.source, source_default) or "unknown",
        "license": pick("license", consts.license, preset.license),
        "language": pick("language", consts.language, "en") or "en",
    }


def source_value(col: str | None, val: Any, default: str | None) -> str | None:
    """A row's `source` column (a dataset name such as "numina_math"): a non-empty string wins
    over the preset's; null or empty keeps the preset's; anything else is an error, not a
    silent fallback."""
    if val is None or val == "":
        return default
    if not isinstance(val, str):
        raise RowFail("wrong_type", f"expected a source name (a string), found {_describe(val)}", field=col)
    return val


def convert_row(item: RawRow, preset: Preset, kind: Kind, maps: dict[str, str], consts: Constants,
             counters: dict[str, int] | None, extras: Counter) -> list[dict[str, Any]]:
    """One input row -> its output rows (a problem, or its traces). `counters`: the run's next
    sample_index per problem (None: leave -1 for `fast.finish` to number, as a worker does).
    `extras` gets the row's extra-column counts once the row is known to be good."""
    view = RowView(item.data, maps, item.loc.row)
    try:
        return _convert_view(view, item.data, preset, kind, consts, counters, extras)
    except UnicodeEncodeError as e:  # json.loads keeps an unpaired "\ud800"; UTF-8 (ids, Parquet) cannot hold it
        col = _surrogate_column(item.data)
        raise RowFail("invalid_value", f"text holds an unpaired UTF-16 surrogate ({e.object[e.start:e.end]!a}), which UTF-8 cannot "
                      "encode; fix the JSON escape", field=col) from None


def _surrogate_column(data: dict[str, Any]) -> str | None:
    def bad(v: Any) -> bool:
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
            return False
        if isinstance(v, dict):
            return any(bad(k) or bad(x) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return any(bad(x) for x in v)
        return False

    return next((str(k) for k, v in data.items() if bad(k) or bad(v)), None)


def _convert_view(view: RowView, data: dict[str, Any], preset: Preset, kind: Kind, consts: Constants,
                  counters: dict[str, int] | None, extras: Counter) -> list[dict[str, Any]]:
    part = preset.problem(view)
    ctx = _context(view, preset, consts, part)
    meta = dict(part.get("meta") or {})
    for key, col in consts.extra_meta.items():
        meta[key] = view.raw(f"meta.{key}", col, required=True)
    problem_text = part["problem"]
    tests = part.get("tests")
    prob = {
        "id": problem_id(ctx["domain"], problem_text, part.get("reference_answer"), tests),
        "source": ctx["source"],
        "source_id": part.get("source_id"),
        "domain": ctx["domain"],
        "problem": problem_text,
        "reference_answer": part.get("reference_answer"),
        "reference_solution": part.get("reference_solution"),
        "tests": tests,
        "difficulty": part.get("difficulty"),
        "level": part.get("level"),
        "language": ctx["language"],
        "license": ctx["license"],
        "meta": None,
    }
    if kind == "problem":
        _check_text(prob)
        row_extras: Counter = Counter()
        add_extras(data, view.used, ignored_columns(preset, "problem"), consts.extra_columns, meta, row_extras)
        prob["meta"] = meta_json(meta)
        _check_text({"meta": prob["meta"]})
        extras.update(row_extras)
        return [prob]
    assert preset.traces is not None
    out = []
    for t in preset.traces(view, part):
        teacher = consts.teacher or t.get("teacher") or "unknown"
        if t["finish_reason"] not in FINISH_REASONS:
            raise RowFail("invalid_value", f"expected one of {list(FINISH_REASONS)}, found {t['finish_reason']!r}", field="finish_reason")
        index = t["sample_index"]
        if index < 0 and counters is not None:  # one sample per row: number the samples of each problem in order
            index = counters.get(prob["id"], 0)
            counters[prob["id"]] = index + 1
        out.append({
            "id": trace_id(prob["id"], index, teacher, t["completion"]) if index >= 0 else "",
            "problem_id": prob["id"],
            "sample_index": index,
            "teacher": teacher,
            "backend": "replay",
            "sampling": None,  # the files do not record the sampling parameters
            "system_prompt": t.get("system_prompt"),
            "prompt": t["prompt"],
            "completion": t["completion"],
            "reasoning": t.get("reasoning"),
            "reasoning_finished": bool(t.get("reasoning_finished")),
            "answer": t.get("answer"),
            "finish_reason": t["finish_reason"],
            "prompt_tokens": t.get("prompt_tokens"),
            "completion_tokens": t.get("completion_tokens"),
            "domain": prob["domain"], "source": prob["source"], "problem": prob["problem"],
            "reference_answer": prob["reference_answer"], "tests": prob["tests"], "difficulty": prob["difficulty"],
            "level": prob["level"], "language": prob["language"], "license": prob["license"],
            "meta": t.get("meta", {}),
        })
    for r in out:
        _check_text(r)
    row_extras = Counter()
    add_extras(data, view.used, ignored_columns(preset, "trace"), consts.extra_columns, meta, row_extras)  # the problem's meta, in every trace
    for r in out:
        tmeta = {k: v for k, v in meta.items() if k not in PROBLEM_ONLY_META}
        tmeta.update(r["meta"])
        if prob["source_id"] is not None:
            tmeta.setdefault("source_id", prob["source_id"])
        r["meta"] = meta_json(tmeta)
        _check_text({"meta": r["meta"]})
    extras.update(row_extras)
    return out


def _check_text(v: Any) -> None:
    """Raise UnicodeEncodeError for a string UTF-8 cannot hold (an unpaired surrogate from a
    JSON escape) before the row reaches Arrow; ASCII text is skipped at once."""
    if type(v) is str:
        if not v.isascii():
            v.encode("utf-8")
    elif isinstance(v, dict):
        for x in v.values():
            _check_text(x)
    elif isinstance(v, (list, tuple)):
        for x in v:
            _check_text(x)


__all__ = ["Constants", "convert_row", "source_value"]
