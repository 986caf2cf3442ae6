"""The `replay` teacher: an existing trace dataset folder (e.g. ingested public traces) served as
the teacher's output, so re-curating existing data goes through the same pipeline (prompting is
skipped; the problem context and accounting are redone, the source's reasoning split is kept
when it has one and redone otherwise). A sample is matched by
(problem_id, sample_index); a requested sample the folder does not hold produces no row and is
counted as `replay_missing` in the manifest.

Exercise: `factory generate --backend replay --teacher TRACES_DIR --problems P --out T -n 1`.
"""

from __future__ import annotations

from typing import Any

from factory.generate.teachers.base import (
    Completion,
    OnResult,
    Request,
    SamplingConfig,
    deliver,
)

_COLUMNS = ["problem_id", "sample_index", "teacher", "completion", "reasoning", "answer", "reasoning_finished", "finish_reason",
            "prompt_tokens", "completion_tokens", "sampling", "system_prompt", "prompt"]


class ReplayTeacher:
    backend = "replay"

    def __init__(self, path: str) -> None:
        self.name = str(path)
        self.path = path
        self.gpus = 0
        self.chunk_requests: int | None = 1024
        self._index: dict[tuple[str, int], dict[str, Any]] | None = None

    def _load(self) -> dict[tuple[str, int], dict[str, Any]]:
        if self._index is None:
            from factory.io.dataset import iter_rows, read_manifest
            from factory.schemas.errors import DatasetError

            m = read_manifest(self.path)
            if m.contract != "trace":
                raise DatasetError(f"{self.path}: the replay teacher needs a trace folder, found {m.contract} rows",
                                   hint="pass --teacher a folder written by `factory generate` or `factory ingest` of traces")
            index: dict[tuple[str, int], dict[str, Any]] = {}
            for row in iter_rows(self.path, columns=_COLUMNS):
                index.setdefault((row["problem_id"], int(row["sample_index"])), row)
            self._index = index
        return self._index

    def generate(self, requests: list[Request], sampling: SamplingConfig, *,
                 on_result: OnResult | None = None) -> list[list[Completion]]:
        index = self._load()
        results: list[list[Completion]] = []
        for r in requests:
            comps = []
            for s in r.sample_indices:
                row = index.get((r.key, s))
                if row is None:
                    comps.append(Completion(text="", skip="replay_missing"))
                    continue
                extra = {"sampling": row.get("sampling"), "prompt": row.get("prompt"),
                         "system_prompt": row.get("system_prompt")}
                if row.get("reasoning") is not None:
                    # the source already split it (knowing, e.g., that its prompt prefilled the thought)
                    extra["split"] = (row["reasoning"], row.get("answer"), bool(row.get("reasoning_finished")))
                comps.append(Completion(
                    text=row["completion"],
                    finish_reason=row.get("finish_reason") or "unknown",
                    prompt_tokens=row.get("prompt_tokens"),
                    completion_tokens=row.get("completion_tokens"),
                    teacher=row.get("teacher"),
                    extra=extra,  # the source's own prompt and sampling describe how this text was made
                ))
            results.append(comps)
        deliver(results, on_result)
        return results

    def close(self) -> None:
        self._index = None
