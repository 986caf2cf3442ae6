"""Streaming readers for `factory ingest`: JSON Lines (also gzip), JSON documents, Parquet, CSV
and `datasets` datasets (a `save_to_disk` folder, or a Hub id when online). Each reader yields
`RawRow`s (a plain dict plus where it came from) or `RowError`s (a row that could not be read:
malformed JSON, invalid UTF-8, a CSV row with the wrong number of fields) so the caller can
fail or send the row to rejects. Problems with the whole file (missing, unreadable, empty, not
Parquet) raise `InputError` at once.

Memory stays bounded: JSONL and CSV are read line by line from a binary stream (so a bad byte
is reported with its offset instead of crashing the decoder), Parquet batch by batch, datasets
through `Dataset.iter`, and a top-level JSON array element by element. Other JSON documents
({"data": [...]}, objects of rows) are parsed whole; use JSONL or an array for large inputs.

Exercise: `factory ingest data.jsonl.gz --preset gsm8k --out problems/`.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Literal

from factory.schemas.errors import InputError

Format = Literal["jsonl", "json", "parquet", "csv", "hf_disk", "hf_hub"]
FORMATS: tuple[str, ...] = ("jsonl", "json", "parquet", "csv", "hf_disk", "hf_hub")
HUB_PREFIX = "hf:"
_SKIP_HINT = "fix the input, or pass --on-error skip to send bad rows to <out>/rejected/rejects.jsonl"


@dataclass(frozen=True)
class Loc:
    """Where a row came from: `line` for line-based files (1-based), `row` always (1-based)."""

    path: str
    row: int
    line: int | None = None

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else f"{self.path} row {self.row}"


@dataclass
class RawRow:
    loc: Loc
    data: dict[str, Any]
    raw: str | None = None  # the source text when there is one (JSONL/CSV line)

    def raw_text(self) -> str:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.data, ensure_ascii=False, default=str)


@dataclass
class RowError:
    """A row that cannot be used. `reason` is a short code counted in the manifest stats."""

    loc: Loc
    reason: str  # malformed_json | not_utf8 | malformed_csv | missing_column | wrong_type | invalid_value
    message: str
    field: str | None = None
    raw: str | None = None

    def text(self) -> str:
        where = self.loc.where()
        if self.field is not None:
            where += f" field '{self.field}'"
        return f"{where}: {self.message}"

    def to_exception(self) -> InputError:
        e = InputError(self.text(), hint=_SKIP_HINT)
        e.path, e.line, e.field, e.reason = self.loc.path, self.loc.line or self.loc.row, self.field, self.message
        return e

    def to_reject(self) -> dict[str, Any]:
        return {
            "file": self.loc.path,
            "line": self.loc.line,
            "row": self.loc.row,
            "field": self.field,
            "reason": self.reason,
            "message": self.message,
            "raw": self.raw,
        }


def file_error(path: str, message: str, *, hint: str | None = None) -> InputError:
    e = InputError(f"{path}: {message}", hint=hint)
    e.path = path
    return e


# ---------------------------------------------------------------------------------------------
# format detection
# ---------------------------------------------------------------------------------------------


def detect_format(spec: str) -> Format:
    if spec.startswith(HUB_PREFIX):
        return "hf_hub"
    p = Path(spec)
    if not p.exists():
        raise file_error(spec, "no such file or folder", hint=f"check the path; a Hub dataset is written {HUB_PREFIX}OWNER/NAME")
    if p.is_dir():
        if any((p / n).exists() for n in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return "hf_disk"
        if (p / "manifest.json").exists():
            raise file_error(spec, "is a factory dataset folder (it has a manifest.json): its rows are already factory rows",
                             hint="pass the folder straight to the next stage, or ingest its part-*.parquet shards to re-map them")
        raise file_error(
            spec,
            "expected a data file (.jsonl, .jsonl.gz, .json, .parquet, .csv) or a `datasets` save_to_disk folder, found a folder without dataset_info.json/state.json/dataset_dict.json",
        )
    if not p.is_file():  # a FIFO or a device would block or never end
        raise file_error(spec, "is not a regular file (a pipe, socket or device); expected a data file",
                         hint="write the data to a file first")
    if not os.access(p, os.R_OK):
        raise file_error(spec, "permission denied (file is not readable)")
    name = p.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffixes, fmt in (((".jsonl", ".ndjson"), "jsonl"), ((".json",), "json"), ((".parquet", ".pq"), "parquet"), ((".csv",), "csv")):
        if name.endswith(suffixes):
            _sniff(spec, fmt, gz=gz)
            return fmt  # type: ignore[return-value]
    raise file_error(spec, f"unknown file type {p.suffix!r}: expected .jsonl, .jsonl.gz, .json, .parquet or .csv")


# what the first bytes of a file say it is, for inputs whose name says otherwise
_MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "is gzip-compressed but its name does not end in .gz", "rename it to end in .gz (e.g. data.jsonl.gz)"),
    (b"\x28\xb5\x2f\xfd", "is zstd-compressed", "decompress it first: zstd -d FILE"),
    (b"\xfd7zXZ\x00", "is xz-compressed", "decompress it first: xz -d FILE"),
    (b"PK\x03\x04", "is a zip archive", "unzip it and ingest the files inside"),
    (b"PAR1", "is a Parquet file", "rename it to end in .parquet"),
    (b"\x00\x00\xfe\xff", "is UTF-32 encoded (big-endian byte order mark)", "re-encode it as UTF-8: iconv -f UTF-32 -t UTF-8 FILE > NEW"),
    (b"\xff\xfe\x00\x00", "is UTF-32 encoded (little-endian byte order mark)", "re-encode it as UTF-8: iconv -f UTF-32 -t UTF-8 FILE > NEW"),
    (b"\xfe\xff", "is UTF-16 encoded (big-endian byte order mark)", "re-encode it as UTF-8: iconv -f UTF-16 -t UTF-8 FILE > NEW"),
    (b"\xff\xfe", "is UTF-16 encoded (little-endian byte order mark)", "re-encode it as UTF-8: iconv -f UTF-16 -t UTF-8 FILE > NEW"),
)


def _sniff(spec: str, fmt: str, *, gz: bool) -> None:
    """Refuse at once, with what the file really is, a text input whose first bytes are a
    compressed stream, an archive, Parquet or UTF-16/32 (each would otherwise fail on line 1
    as "not valid UTF-8" without saying why)."""
    try:
        if gz:
            with gzip.open(spec, "rb") as f:
                head = f.read(16)
        else:
            with open(spec, "rb") as f:
                head = f.read(16)
    except (OSError, EOFError):
        return  # the reader reports a damaged or unreadable file with its own message
    if fmt == "parquet":
        if not gz and head[:4] != b"PAR1" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
            raise file_error(spec, "is named .parquet but holds JSON text", hint="rename it to end in .jsonl or .json")
        return
    for magic, what, fix in _MAGIC:
        if head.startswith(magic):
            raise file_error(spec, f"{what}; expected UTF-8 {fmt.upper()} text", hint=fix)
    utf16 = len(head) >= 4 and ((head[1:4:2] == b"\x00\x00" and head[0:1] != b"\x00") or (head[:4:2] == b"\x00\x00" and head[1:2] != b"\x00"))
    if not utf16 and b"\x00" in head:
        raise file_error(spec, f"holds binary data (NUL bytes in its first {len(head)} bytes); expected UTF-8 {fmt.upper()} text",
                         hint="check that this is the file you meant; text formats never contain NUL bytes")
    if len(head) >= 4 and head[1:4:2] == b"\x00\x00" and head[0:1] != b"\x00" or head[:4:2] == b"\x00\x00" and head[1:2] != b"\x00":
        raise file_error(spec, f"looks UTF-16 encoded (no byte order mark); expected UTF-8 {fmt.upper()} text",
                         hint="re-encode it as UTF-8: iconv -f UTF-16 -t UTF-8 FILE > NEW")


def read_input(spec: str, *, fmt: Format | None = None) -> Iterator[RawRow | RowError]:
    """Yield the rows of one input. Raises InputError for file-level problems."""
    fmt = fmt or detect_format(spec)
    readers = {"jsonl": _read_jsonl, "json": _read_json, "parquet": _read_parquet, "csv": _read_csv,
               "hf_disk": _read_hf_disk, "hf_hub": _read_hf_hub}
    return readers[fmt](spec)


def peek_columns(spec: str) -> list[str]:
    """Column names of the first readable row (for preset autodetection); [] when unknown."""
    try:
        for item in read_input(spec):
            if isinstance(item, RawRow):
                return list(item.data)
    except InputError:
        return []
    return []


# ---------------------------------------------------------------------------------------------
# line-based text: bytes in, decoded lines out, with byte offsets for invalid UTF-8
# ---------------------------------------------------------------------------------------------


def _open_binary(path: str):
    try:
        if path.lower().endswith(".gz"):
            f = gzip.open(path, "rb")
            f.peek(1)  # fail here, with a clear message, if it is not gzip at all
            return f
        return open(path, "rb")
    except gzip.BadGzipFile as e:
        raise file_error(path, f"not a valid gzip file ({e})") from None
    except PermissionError:
        raise file_error(path, "permission denied (file is not readable)") from None
    except OSError as e:
        raise file_error(path, f"cannot read ({e.strerror or e})") from None


def _decode_lines(path: str) -> Iterator[tuple[int, int, bytes, str | None, UnicodeDecodeError | None]]:
    """(line number, byte offset of the line, raw bytes, text or None, decode error or None)."""
    offset = 0
    with _open_binary(path) as f:
        try:
            for lineno, raw in enumerate(f, start=1):
                chunk = raw[3:] if lineno == 1 and raw.startswith(b"\xef\xbb\xbf") else raw  # UTF-8 BOM
                try:
                    yield lineno, offset, raw, chunk.decode("utf-8"), None
                except UnicodeDecodeError as e:
                    yield lineno, offset, raw, None, e
                offset += len(raw)
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            raise file_error(path, f"file is truncated or corrupted after byte {offset} ({e})") from None


def _utf8_error(path: str, lineno: int, offset: int, raw: bytes, e: UnicodeDecodeError, *, gz: bool, row: int) -> RowError:
    at = offset + e.start
    where = "of the decompressed stream" if gz else ""
    bad = raw[e.start : e.start + 1].hex()
    return RowError(
        Loc(path, row, lineno),
        "not_utf8",
        f"not valid UTF-8 at byte offset {at}{' ' + where if where else ''} (byte 0x{bad}); expected UTF-8 text",
        raw=raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n"),
    )


def _read_jsonl(path: str) -> Iterator[RawRow | RowError]:
    for batch in read_jsonl_batches(path):
        yield from batch.items()


_SCRATCH = threading.local()  # one byte buffer per preparing thread, reused batch after batch
_SCRATCH_MAX = 16 << 20  # a batch past this (one very long line) gets a buffer of its own


def scratch(n: int) -> Any:
    """n bytes of this thread's scratch (a fresh buffer per batch page-faults its way in:
    measured 30-40% of the vectorised checks below on 4 MB batches)."""
    import numpy as np

    if n > _SCRATCH_MAX:
        return np.empty(n, dtype=np.uint8)
    buf = getattr(_SCRATCH, "buf", None)
    if buf is None or len(buf) < n:
        buf = _SCRATCH.buf = np.empty(max(n, 8 << 20), dtype=np.uint8)
    return buf[:n]


JSONL_BATCH_BYTES = 4 << 20  # bytes read per batch: ~7k short rows or ~500 long traces (memory: a few batches in flight)




@dataclass
class LineBatch:
    """Consecutive whole lines of a JSON Lines file, with where they start, so they can be
    parsed as a whole (`factory.ingest.fast`) or row by row (`items`, the reference path)."""

    path: str
    data: bytes  # the lines, each ending in a newline except perhaps the file's last
    first_lineno: int  # 1-based line number of the first line
    first_offset: int  # byte offset of the first line in the (decompressed) stream
    first_row: int  # 1-based row number the first row of this batch gets
    gz: bool
    error: InputError | None = None  # a read error after these lines: raised once they are used
    _newlines: int | None = dataclass_field(default=None, repr=False)
    _plain: bool | None = dataclass_field(default=None, repr=False)
    _nl: Any = dataclass_field(default=None, repr=False)  # newline offsets (numpy), kept for the nesting guard

    @property
    def lines(self) -> list[bytes]:
        """The lines as binary file iteration gives them (split at b"\\n" only)."""
        parts = self.data.split(b"\n")
        last = parts.pop()
        lines = [part + b"\n" for part in parts]
        if last:
            lines.append(last)
        return lines

    def _scan(self) -> None:
        """Newline count and whether every line starts with "{", in one vectorised pass
        (bytes.count and a regex search take several times as long on a batch of MBs)."""
        import numpy as np

        a = np.frombuffer(self.data, dtype=np.uint8)
        nl = np.flatnonzero(np.equal(a, 0x0A, out=scratch(len(a)).view(np.bool_)))
        self._newlines = len(nl)
        self._nl = nl
        after = nl[nl + 1 < len(a)] + 1  # the first byte of every line but the first
        # a newline followed by anything but "{" (the file's final newline is followed by nothing)
        self._plain = self.data[:1] == b"{" and bool(np.all(a[after] == 0x7B))

    def newline_offsets(self) -> Any:
        """The byte offset of every newline (a numpy array, found once)."""
        if self._nl is None:
            self._scan()
        return self._nl

    def line_count(self) -> int:
        if self._newlines is None:
            self._scan()
        return self._newlines + (0 if not self.data or self.data.endswith(b"\n") else 1)  # type: ignore[operator]

    def plain(self) -> bool:
        """Every line is one JSON object at the start (no blank line, no BOM, no leading
        space): then line i is row first_row + i and can go to a whole-batch parser."""
        if self._plain is None:
            self._scan()
        return bool(self._plain)

    def items(self) -> Iterator[RawRow | RowError]:
        path, gz, row, offset = self.path, self.gz, self.first_row - 1, self.first_offset
        for lineno, raw in enumerate(self.lines, start=self.first_lineno):
            at = offset
            offset += len(raw)
            chunk = raw[3:] if lineno == 1 and raw.startswith(b"\xef\xbb\xbf") else raw  # UTF-8 BOM
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as e:
                row += 1
                yield _utf8_error(path, lineno, at, raw, e, gz=gz, row=row)
                continue
            if not text.strip():
                continue  # blank lines are not rows
            row += 1
            loc = Loc(path, row, lineno)
            line = text.rstrip("\r\n")
            try:
                data = json.loads(line)
            except json.JSONDecodeError as e:
                yield RowError(loc, "malformed_json", f"malformed JSON: {e.msg} (column {e.colno})", raw=line)
                continue
            except RecursionError:
                yield RowError(loc, "malformed_json", f"malformed JSON: {_TOO_DEEP}", raw=line[:1000])
                continue
            except ValueError:  # an integer literal past Python's 4,300-digit conversion limit
                yield RowError(loc, "malformed_json", f"malformed JSON: {_TOO_LONG_INT}", raw=line[:1000])
                continue
            if not isinstance(data, dict):
                yield RowError(loc, "wrong_type", f"expected a JSON object per line, found {_json_type(data)}", raw=line)
                continue
            yield RawRow(loc, data, line)
        if self.error is not None:
            raise self.error

    def rows(self) -> int:
        """Rows in the batch (lines that are not blank), the way `items` counts them."""
        if self.plain():
            return self.line_count()
        n = 0
        for lineno, raw in enumerate(self.lines, start=self.first_lineno):
            chunk = raw[3:] if lineno == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            try:
                n += bool(chunk.decode("utf-8").strip())
            except UnicodeDecodeError:
                n += 1
        return n


def read_jsonl_batches(path: str, *, max_bytes: int | None = None) -> Iterator[LineBatch]:
    """The lines of a JSON Lines file (also gzip) in batches of whole lines. A file without
    rows raises InputError after the last batch. A truncated or corrupt file gives the lines
    before the damage first (read again line by line, so they and the error's byte offset are
    exactly those of line-by-line reading), the error raised when that last batch is used."""
    gz = path.lower().endswith(".gz")
    max_bytes = max_bytes or JSONL_BATCH_BYTES
    lineno, offset, row = 0, 0, 0
    with _open_binary(path) as f:
        while True:
            try:
                data = f.read(max_bytes)
                if data and not data.endswith(b"\n"):
                    data += f.readline()  # finish the last line (it may be longer than a batch)
            except (EOFError, gzip.BadGzipFile, OSError):
                yield _damaged_tail(path, offset, lineno, row, gz)
                return
            if not data:
                break
            batch = LineBatch(path, data, lineno + 1, offset, row + 1, gz)
            lineno += batch.line_count()
            offset += len(data)
            row += batch.rows()
            yield batch
    if row == 0:
        raise file_error(path, "empty file: no rows found (expected one JSON object per line)")


def _damaged_tail(path: str, offset: int, lineno: int, row: int, gz: bool) -> LineBatch:
    """The whole lines after byte `offset` up to the damage, read line by line as the row
    path always did, with the error that stopped the reading."""
    lines: list[bytes] = []
    at = offset
    with _open_binary(path) as f:
        f.seek(offset)
        try:
            for raw in f:
                lines.append(raw)
                at += len(raw)
            err = None
        except (EOFError, gzip.BadGzipFile, OSError) as e:
            err = file_error(path, f"file is truncated or corrupted after byte {at} ({e})")
    return LineBatch(path, b"".join(lines), lineno + 1, offset, row + 1, gz, error=err)


_TOO_DEEP = "nested deeper than Python's JSON reader allows (about 1,000 levels of arrays/objects)"
_TOO_LONG_INT = "an integer literal with more than 4,300 digits (Python refuses to convert it)"


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), "a number"
    )


JSON_CHUNK = 1 << 20  # bytes read per step when streaming a JSON array


def _read_json(path: str) -> Iterator[RawRow | RowError]:
    """A top-level JSON array streams element by element (bounded memory); any other document
    ({"data": [...]}, an object of rows) is parsed whole."""
    with _open_binary(path) as f:
        head = f.read(64)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        yield from _JsonArrayStream(path).rows()
        return
    with _open_binary(path) as f:
        try:
            blob = f.read()
        except (EOFError, OSError) as e:
            raise file_error(path, f"file is truncated or corrupted ({e})") from None
    if blob.startswith(b"\xef\xbb\xbf"):
        blob = blob[3:]
    if not blob.strip():
        raise file_error(path, "empty file: no rows found (expected a JSON array of objects)")
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as e:
        line = blob.count(b"\n", 0, e.start) + 1
        err = InputError(
            f"{path}:{line}: not valid UTF-8 at byte offset {e.start} (byte 0x{blob[e.start:e.start + 1].hex()}); expected UTF-8 text",
            hint="re-encode the file as UTF-8",
        )
        err.path, err.line = path, line
        raise err from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        err = InputError(f"{path}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno})", hint="fix the file; a JSON document must parse as a whole")
        err.path, err.line = path, e.lineno
        raise err from None
    except RecursionError:
        raise file_error(path, f"malformed JSON: {_TOO_DEEP}", hint="a row is a flat object of fields; fix the file") from None
    except ValueError:
        raise file_error(path, f"malformed JSON: {_TOO_LONG_INT}", hint="write such a number as a string") from None
    rows = _json_rows(path, doc)
    if not rows:
        raise file_error(path, "empty file: the JSON document holds no rows")
    for i, item in enumerate(rows, start=1):
        loc = Loc(path, i)
        if isinstance(item, dict):
            yield RawRow(loc, item)
        else:
            yield RowError(loc, "wrong_type", f"expected a JSON object per row, found {_json_type(item)}",
                           raw=json.dumps(item, ensure_ascii=False, default=str))


class _JsonArrayStream:
    """Decode `[ row, row, ... ]` incrementally: UTF-8 is decoded chunk by chunk (cut at a
    character boundary, so a bad byte is reported at its exact offset) and each element is
    parsed with `JSONDecoder.raw_decode` as soon as it is complete. The text buffer is trimmed
    at line starts only, so line and column numbers in errors stay exact."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.buf = ""
        self.pos = 0
        self.lines_before = 0  # newlines in text already dropped from the buffer
        self.bytes_read = 0
        self.pending = b""  # an incomplete UTF-8 sequence carried to the next chunk
        self.eof = False
        self.decoder = json.JSONDecoder()

    def _fill(self, f: Any) -> bool:
        """Append the next chunk; False at end of file."""
        if self.eof:
            return False
        chunk = f.read(JSON_CHUNK)
        if self.bytes_read == 0 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk, self.bytes_read = chunk[3:], 3
        if not chunk:
            self.eof = True
            if self.pending:
                self._decode_error(self.pending, 0, self.bytes_read - len(self.pending))
            return False
        data = self.pending + chunk
        start_offset = self.bytes_read - len(self.pending)
        self.bytes_read += len(chunk)
        cut = len(data)
        # keep a trailing incomplete multi-byte sequence (at most 3 bytes) for the next chunk
        for back in range(1, min(4, len(data)) + 1):
            b = data[-back]
            if b & 0xC0 != 0x80:  # the lead byte of the last character
                need = 1 if b < 0x80 else 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
                if need > back:
                    cut = len(data) - back
                break
        self.pending = data[cut:]
        try:
            self.buf += data[:cut].decode("utf-8")
        except UnicodeDecodeError as e:
            self._decode_error(data, e.start, start_offset)
        return True

    def _decode_error(self, data: bytes, start: int, start_offset: int) -> None:
        line = self.lines_before + self.buf.count("\n") + data.count(b"\n", 0, start) + 1
        err = InputError(
            f"{self.path}:{line}: not valid UTF-8 at byte offset {start_offset + start} (byte 0x{data[start:start + 1].hex()}); expected UTF-8 text",
            hint="re-encode the file as UTF-8",
        )
        err.path, err.line = self.path, line
        raise err

    def _malformed(self, msg: str, at: int) -> InputError:
        line = self.lines_before + self.buf.count("\n", 0, at) + 1
        col = at - (self.buf.rfind("\n", 0, at) + 1) + 1
        err = InputError(f"{self.path}:{line}: malformed JSON: {msg} (column {col})", hint="fix the file; a JSON document must parse as a whole")
        err.path, err.line = self.path, line
        return err

    def _skip_ws(self, f: Any) -> str | None:
        """Next non-whitespace character (not consumed), reading more as needed; None at EOF."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill(f):
                return None

    def _trim(self) -> None:
        cut = self.buf.rfind("\n", 0, self.pos) + 1  # drop whole lines only
        if cut > JSON_CHUNK:
            self.lines_before += self.buf.count("\n", 0, cut)
            self.buf = self.buf[cut:]
            self.pos -= cut

    def rows(self) -> Iterator[RawRow | RowError]:
        with _open_binary(self.path) as f:
            try:
                yield from self._rows(f)
            except (EOFError, OSError) as e:
                raise file_error(self.path, f"file is truncated or corrupted after byte {self.bytes_read} ({e})") from None

    def _rows(self, f: Any) -> Iterator[RawRow | RowError]:
        self._skip_ws(f)
        self.pos += 1  # the opening "["
        row = 0
        first = True
        while True:
            ch = self._skip_ws(f)
            if ch is None:
                raise self._malformed("Expecting ']' at the end of the array", self.pos)
            if ch == "]":
                break
            if not first:
                if ch != ",":
                    raise self._malformed("Expecting ',' delimiter", self.pos)
                self.pos += 1
                if self._skip_ws(f) is None:
                    raise self._malformed("Expecting value", self.pos)
            first = False
            while True:
                try:
                    item, end = self.decoder.raw_decode(self.buf, self.pos)
                    if end < len(self.buf) or self.eof:
                        break  # a number at the very end of the buffer may continue in the next chunk
                except json.JSONDecodeError as e:
                    if self.eof:
                        raise self._malformed(e.msg, e.pos) from None
                except RecursionError:
                    raise self._malformed(_TOO_DEEP, self.pos) from None
                except ValueError:  # JSONDecodeError is caught above: this is the integer-length limit
                    raise self._malformed(_TOO_LONG_INT, self.pos) from None
                if not self._fill(f):
                    continue  # at EOF now: decode once more and report what is wrong
            self.pos = end
            row += 1
            if isinstance(item, dict):
                yield RawRow(Loc(self.path, row), item)
            else:
                yield RowError(Loc(self.path, row), "wrong_type", f"expected a JSON object per row, found {_json_type(item)}",
                               raw=json.dumps(item, ensure_ascii=False, default=str))
            self._trim()
        self.pos += 1
        if self._skip_ws(f) is not None:
            raise self._malformed("Extra data", self.pos)
        if row == 0:
            raise file_error(self.path, "empty file: the JSON document holds no rows")


def _json_rows(path: str, doc: Any) -> list[Any]:
    """Accept an array of rows, {"data"|"rows"|"examples"|"train": [...]}, or {key: row} objects."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("data", "rows", "examples", "train"):
            if isinstance(doc.get(key), list):
                return doc[key]
        if doc and all(isinstance(v, dict) for v in doc.values()):
            # object of rows: keep each key so it can be mapped (--map source_id=_key)
            return [{"_key": k, **v} for k, v in doc.items()]
        if doc and all(isinstance(v, list) for v in doc.values()):
            lengths = {len(v) for v in doc.values()}
            if len(lengths) == 1:  # columns: {"question": [...], "answer": [...]}
                keys = list(doc)
                return [dict(zip(keys, vals)) for vals in zip(*doc.values())]
    raise file_error(
        path,
        f"expected a JSON array of objects, an object with a 'data' list, or an object of row objects; found {_json_type(doc)}"
        + (f" with keys {sorted(doc)[:8]}" if isinstance(doc, dict) else ""),
    )


def _read_csv(path: str) -> Iterator[RawRow | RowError]:
    gz = path.lower().endswith(".gz")
    bad: list[RowError] = []
    last: dict[str, Any] = {"lineno": 0}

    def lines() -> Iterator[str]:
        for lineno, offset, raw, text, err in _decode_lines(path):
            last["lineno"] = lineno
            if err is not None:
                bad.append(_utf8_error(path, lineno, offset, raw, err, gz=gz, row=0))
                yield raw.decode("utf-8", errors="replace")  # keep the CSV parser in step; row is rejected
                continue
            yield text  # type: ignore[misc]

    # long traces exceed csv's default 128 KiB field limit; the limit is a C long
    csv.field_size_limit(2**31 - 1)
    reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        raise file_error(path, "empty file: no header row (expected a CSV header and rows)") from None
    except csv.Error as e:
        raise file_error(path, f"malformed CSV header ({e})") from None
    if bad:
        raise bad[0].to_exception()
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise file_error(path, f"the CSV header repeats column name(s) {', '.join(map(repr, repeated))}; each column needs its own name",
                         hint="rename the repeated columns in the header line")
    row = 0
    while True:
        start = last["lineno"] + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            row += 1
            yield RowError(Loc(path, row, start), "malformed_csv", f"malformed CSV ({e})")
            continue
        if not fields:
            continue
        row += 1
        loc = Loc(path, row, start)
        raw = ",".join(fields)
        if bad:  # a line of this record held invalid UTF-8
            e = bad[0]
            bad.clear()
            yield RowError(Loc(path, row, e.loc.line), "not_utf8", e.message, raw=e.raw)
            continue
        if len(fields) != len(header):
            yield RowError(loc, "malformed_csv", f"row has {len(fields)} fields, the header has {len(header)}", raw=raw)
            continue
        # an empty CSV cell means "no value"
        yield RawRow(loc, {k: (v if v != "" else None) for k, v in zip(header, fields)}, raw)
    if row == 0:
        raise file_error(path, "empty file: a header but no rows")


def _read_parquet(path: str) -> Iterator[RawRow | RowError]:
    for batch in read_parquet_batches(path):
        yield from batch.items()


PARQUET_BATCH_ROWS = 1000  # rows per record batch read (a corrupted file is reported after these)
PARQUET_GROUP_ROWS = 16_000  # record batches grouped into one TableBatch up to this many rows


@dataclass
class TableBatch:
    """Consecutive rows of a Parquet file as an Arrow table: mapped whole by the batch path,
    or row by row (`items`, the reference path: each row as `to_pylist` gives it)."""

    path: str
    table: Any  # pa.Table
    first_row: int
    error: InputError | None = None  # a read error after these rows: raised once they are used

    def line_count(self) -> int:
        return self.table.num_rows

    def items(self) -> Iterator[RawRow | RowError]:
        row = self.first_row - 1
        for batch in self.table.to_batches():
            for rec in batch.to_pylist():
                row += 1
                yield RawRow(Loc(self.path, row), rec)
        if self.error is not None:
            raise self.error


def read_parquet_batches(path: str) -> Iterator[TableBatch]:
    """A Parquet file in groups of record batches. File-level problems raise at once; a file
    corrupted part-way gives the rows before the damage first, the error raised when that
    last batch is used (after the same rows as reading row by row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise file_error(path, f"not a readable Parquet file ({e})") from None
    if pf.metadata.num_rows == 0:
        raise file_error(path, "empty file: the Parquet file holds no rows")
    row = 0  # rows in batches already yielded or held
    group: list[Any] = []
    held = 0
    it = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS)
    while True:
        try:
            rb = next(it, None)
        except (pa.ArrowInvalid, OSError) as e:
            err = file_error(path, f"Parquet file is corrupted after row {row} ({e})")
            table = pa.Table.from_batches(group) if group else pf.schema_arrow.empty_table()
            yield TableBatch(path, table, row - held + 1, error=err)
            return
        if rb is None:
            break
        group.append(rb)
        held += rb.num_rows
        row += rb.num_rows
        if held >= PARQUET_GROUP_ROWS:
            yield TableBatch(path, pa.Table.from_batches(group), row - held + 1)
            group, held = [], 0
    if group:
        yield TableBatch(path, pa.Table.from_batches(group), row - held + 1)


def _iter_hf(ds: Any, path: str) -> Iterator[RawRow]:
    row = 0
    for batch in ds.iter(batch_size=1000):
        keys = list(batch)
        for vals in zip(*(batch[k] for k in keys)):
            row += 1
            yield RawRow(Loc(path, row), dict(zip(keys, vals)))
    if row == 0:
        raise file_error(path, "empty dataset: no rows")


def _read_hf_disk(path: str) -> Iterator[RawRow | RowError]:
    try:
        import datasets
    except ImportError:
        from factory.schemas.errors import MissingDependencyError

        raise MissingDependencyError("datasets", purpose="reading a datasets folder") from None
    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:  # the library raises FileNotFoundError/ValueError/ArrowInvalid variously
        raise file_error(path, f"cannot load the datasets folder ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if isinstance(ds, datasets.DatasetDict):
        splits = list(ds)
        if len(splits) != 1:
            # mixing splits silently (train with test!) would contaminate; each split has its own folder
            raise file_error(path, f"holds {len(splits)} splits ({', '.join(splits)}); expected one",
                             hint=f"pass one split's folder, e.g. {Path(path) / (splits[0] if splits else 'train')}")
        ds = ds[splits[0]]
    yield from _iter_hf(ds, path)


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def parse_hub_spec(spec: str) -> tuple[str, str | None, str]:
    """`hf:OWNER/NAME[:CONFIG]:SPLIT` or `hf:OWNER/NAME` (split train) -> (repo, config, split)."""
    parts = spec[len(HUB_PREFIX) :].split(":")
    repo = parts[0]
    if not repo or len(parts) > 3:
        raise file_error(spec, f"expected {HUB_PREFIX}OWNER/NAME, {HUB_PREFIX}OWNER/NAME:SPLIT or {HUB_PREFIX}OWNER/NAME:CONFIG:SPLIT")
    if len(parts) == 1:
        return repo, None, "train"
    if len(parts) == 2:
        return repo, None, parts[1]
    return repo, parts[1], parts[2]


def _read_hf_hub(spec: str) -> Iterator[RawRow | RowError]:
    repo, config, split = parse_hub_spec(spec)
    if _offline():
        raise file_error(
            spec,
            "cannot load a Hub dataset while offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)",
            hint="on a machine with network run datasets.load_dataset(...).save_to_disk(DIR) and ingest DIR",
        )
    import datasets

    try:
        ds = datasets.load_dataset(repo, config, split=split, streaming=True)
        it = iter(ds)
        first = next(it, None)
    except Exception as e:  # network and Hub errors come in many types (httpx, hub, datasets)
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise file_error(spec, f"cannot load the Hub dataset ({type(e).__name__}: {msg})",
                         hint="check the name, split and network, or save_to_disk on a connected machine") from None
    if first is None:
        raise file_error(spec, "empty dataset: no rows")
    yield RawRow(Loc(spec, 1), dict(first))
    for i, rec in enumerate(it, start=2):
        yield RawRow(Loc(spec, i), dict(rec))


__all__ = ["FORMATS", "LineBatch", "Loc", "RawRow", "RowError", "TableBatch", "read_jsonl_batches", "read_parquet_batches", "detect_format", "file_error", "peek_columns", "read_input"]
