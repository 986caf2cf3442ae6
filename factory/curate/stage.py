"""The `curate` recipe stage: `validate(section, path)` reports every problem of a `curate:`
section at once (factory.recipes.curate_spec); `run(section, ctx)` curates inside the run
folder: sources are relative to it, the SFT mix goes to `<run>/<curate.out>/{train,validation}`.

Journey fluency rewrite (`curate.journey.rewrite: {teacher, backend, base_url?, prompt?,
max_tokens?}`): the teacher is built by `factory.generate.core.make_teacher` (the backends of
`factory generate`); from Python, pass `rewrite=factory.curate.journey.rewrite_with_teacher(teacher)`
(or any `rewrite(texts) -> texts`) to `factory.curate.core.curate`.

Exercise: `factory run journey --out runs/journey` (with curate.sources pointing at traces).
"""

from __future__ import annotations

from typing import Any

from factory.recipes.curate_spec import curate_config, validate_curate


def validate(section: dict[str, Any], path: str) -> list[str]:
    return validate_curate(section, path)


def make_rewrite(journey: dict[str, Any] | None):
    """The fluency-rewrite hook a recipe asks for (`curate.journey.rewrite`), or None. The
    teacher is built by the generate stage's factory (same backends and options as
    `factory generate`): greedy, one sample per chain."""
    spec = (journey or {}).get("rewrite")
    if not spec:
        return None
    from factory.curate.journey import REWRITE_PROMPT, rewrite_with_teacher
    from factory.generate.core import GenerateOptions, make_teacher

    max_tokens = spec.get("max_tokens", 16384)
    opts = GenerateOptions(teacher=spec["teacher"], backend=spec.get("backend", "transformers"), problems="", out="",
                           n=1, temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0,
                           base_url=spec.get("base_url"), api_key_env=spec.get("api_key_env", "OPENAI_API_KEY"))
    opts.check()
    return rewrite_with_teacher(make_teacher(opts), prompt=spec.get("prompt") or REWRITE_PROMPT, max_tokens=max_tokens)


def run(section: dict[str, Any], ctx: Any) -> dict[str, Any]:
    from factory.curate.core import curate, print_report

    cfg = curate_config(section)
    out = ctx.path(cfg["out"])
    sources = [str(ctx.path(s["path"])) for s in cfg.get("sources") or []]
    fp = _fingerprint(cfg, ctx.seed, sources)
    done = out / "train" / "manifest.json"
    if done.exists() and not ctx.overwrite:
        from factory.io.dataset import read_manifest

        m = read_manifest(out / "train")
        if m.params.get("fingerprint") == fp:
            ctx.log(f"curate: {out} is up to date ({m.rows} train rows); skipped")
            return {"out": str(out), "train_rows": m.rows, "skipped": True}
    report = curate(cfg, seed=ctx.seed, out=out, base=ctx.run_dir, overwrite=ctx.overwrite,
                    rewrite=make_rewrite(cfg.get("journey")), command=f"factory run {ctx.recipe_name}",
                    params={"recipe": ctx.recipe_name, "seed": ctx.seed, "fingerprint": fp, "source_folders": sources},
                    log=ctx.log)
    print_report(report, ctx.log)
    return {"out": str(out), "train_rows": report["train"]["rows"], "validation_rows": report["validation"]["rows"],
            "by_kind": report["train"]["by_kind"], "warnings": report["warnings"]}


def _fingerprint(cfg: dict[str, Any], seed: int, sources: list[str]) -> str:
    """What the output depends on: the curate config, the seed and the source folders' shard
    hashes. Equal fingerprint + finished output = nothing to do (re-running is a no-op)."""
    import hashlib
    import json
    from pathlib import Path

    from factory.io.dataset import read_manifest

    shards = []
    for src in sources:
        p = Path(src)
        if (p / "manifest.json").exists():
            shards.append([s.sha256 for s in read_manifest(p).shards])
        else:
            shards.append(None)
    blob = json.dumps({"cfg": cfg, "seed": seed, "shards": shards}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
