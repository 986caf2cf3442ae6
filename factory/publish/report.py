"""`factory report DIR -o report.html`: a self-contained HTML page (no network, PNGs embedded as
base64) with the plots of a dataset folder and its recorded lineage: the lineage as a diagram
(branches and where they merge), the funnel (every folder once: rows out by domain, rows
rejected), each teacher's traces through the filters, token-length histograms, the mix,
acceptance by difficulty and the language-consistency scores. The numbers are the card's
(factory.publish.facts); a plot whose data the folders do not record is a "not recorded" line.

Plots stay readable at any size of pipeline: every legend sits outside the axes (it cannot cover
a bar), figures grow with the number of folders, long folder names wrap, and `bbox_inches="tight"`
keeps every label inside the image. Matplotlib runs with the Agg backend (no display), and the page
holds no clock time and no absolute path, so the same folders give the same bytes.

Exercise: `factory report runs/quickstart/sft -o runs/quickstart/report.html`.
"""

from __future__ import annotations

import base64
import html
import io
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from factory.io.files import atomic_write_text
from factory.publish.facts import Facts, gather

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
_REJECTED = "#D9D9D9"
MARKER = '<meta name="generator" content="factory report">'


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    # no Software/date metadata: identical inputs give identical bytes
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", pad_inches=0.15, metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.figsize": (8, 4), "axes.spines.top": False, "axes.spines.right": False, "font.size": 10,
                         "svg.hashsalt": "factory"})
    return plt


def _legend_right(ax: Any, **kw: Any) -> None:
    """Outside the axes, to the right: never over a bar."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, fontsize=8, **kw)


def _wrap(name: str, width: int = 26) -> str:
    """A name on lines of at most `width` characters, broken after a space, '/' or '_' where it can."""
    parts = re.split(r"(?<=[/_ ])", name)
    lines, cur = [], ""
    for p in parts:
        if cur and len(cur) + len(p) > width:
            lines.append(cur)
            cur = ""
        while len(p) > width:
            lines.append(p[:width])
            p = p[width:]
        cur += p
    lines.append(cur)
    return "\n".join(ln.strip() for ln in lines)


# -- the lineage as a diagram ------------------------------------------------------------------


def dag_layout(f: Facts) -> tuple[dict[str, tuple[int, float]], int, int]:
    """{node: (layer, column)}. A node sits one layer above the highest folder made from it
    (as late as possible: a short branch joins next to the stage that merges it, instead of
    running long edges across the others); columns are ordered by the mean column of each
    node's inputs, then of its consumers, in alternating sweeps (barycentre), so branches stay
    side by side and crossings are few."""
    lin = f.lineage
    nodes = lin.nodes
    consumers: dict[str, list[str]] = {k: [] for k in nodes}
    for k, n in nodes.items():
        for e in n.inputs:
            if k not in consumers[e.node]:
                consumers[e.node].append(k)
    height: dict[str, int] = {}
    for k in reversed(list(nodes)):  # the published node last in `nodes`: consumers come first here
        height[k] = 1 + max((height[c] for c in consumers[k]), default=-1)
    top_h = max(height.values())
    layer = {k: top_h - h for k, h in height.items()}
    layers: dict[int, list[str]] = {}
    for k in nodes:
        layers.setdefault(layer[k], []).append(k)
    width = max(len(ks) for ks in layers.values())

    def place() -> dict[str, float]:
        return {k: (width - len(ks)) / 2 + i for ks in layers.values() for i, k in enumerate(ks)}

    col = place()
    for sweep in range(8):
        down = sweep % 2 == 0
        for li in (sorted(layers) if down else sorted(layers, reverse=True)):
            ks = layers[li]
            ref = {k: [col[e.node] for e in nodes[k].inputs] if down else [col[c] for c in consumers[k]] for k in ks}
            ks.sort(key=lambda k: (float(np.mean(ref[k])) if ref[k] else col[k], k))
            col = place()
    return {k: (layer[k], col[k]) for k in nodes}, len(layers), width


def plot_lineage(f: Facts) -> str | None:
    """The DAG top-down: sources in the first row, the published set in the last; a dashed
    arrow reads a part (rejected/) of its folder."""
    lin = f.lineage
    if lin.nodes[lin.top].kind != "stage" or len(lin.nodes) < 2:
        return None

    plt = _plt()
    pos, n_layers, width = dag_layout(f)
    col_w, row_h = 2.45, 1.0  # inches per node column / per layer
    fig, ax = plt.subplots(figsize=(max(6.0, col_w * width + 1.6), max(2.5, row_h * n_layers + 0.5)))
    ax.set_xlim(-0.55, width - 0.45)
    ax.set_ylim(n_layers - 0.5, -0.55)
    ax.axis("off")
    stage_colors: dict[str, str] = {}
    half = 0.27  # half a box's height, in layers
    for k, n in lin.nodes.items():
        for e in n.inputs:
            (l0, c0), (l1, c1) = pos[e.node], pos[k]
            ax.annotate("", xy=(c1, l1 - half), xytext=(c0, l0 + half), zorder=1,
                        arrowprops={"arrowstyle": "-|>", "color": "#888888", "lw": 1.0, "shrinkA": 0, "shrinkB": 0,
                                    "linestyle": "--" if e.part != "." else "-"})
            if e.part != ".":
                ax.text(c0 + (c1 - c0) * 0.25, l0 + half + (l1 - l0 - 2 * half) * 0.25, f"{e.part}/", fontsize=7,
                        color="#555555", ha="center", va="center", zorder=3,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"})
    for k, n in lin.nodes.items():
        layer_i, col = pos[k]
        stage = n.stage or "no stage record"
        color = stage_colors.setdefault(stage, _COLORS[len(stage_colors) % len(_COLORS)]) if n.stage else "#BBBBBB"
        label = f"{_wrap(k, 28)}\n{_box_text(f, k)}"
        ax.text(col, layer_i, label, ha="center", va="center", fontsize=7.5, zorder=4, linespacing=1.15,
                bbox={"boxstyle": "round,pad=0.35", "fc": "white", "ec": color, "lw": 2.2 if k == lin.top else 1.2})
    handles = [plt.Line2D([], [], color=c, lw=3, label=s) for s, c in stage_colors.items()]
    if any(n.stage is None for n in lin.nodes.values()):
        handles.append(plt.Line2D([], [], color="#BBBBBB", lw=3, label="leaf (file, no record)"))
    if any(e.part != "." for n in lin.nodes.values() for e in n.inputs):
        handles.append(plt.Line2D([], [], color="#888888", lw=1, linestyle="--", label="reads its rejected/ part"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8, title="stage")
    ax.set_title("Lineage: each folder above the folders made from it; the published set at the bottom", loc="left")
    return _png(fig)


def _box_text(f: Facts, key: str) -> str:
    """Rows in a diagram box: `28 → 16 traces (−12)` for a stage that drops rows."""
    from factory.publish.card import describe, units

    row = next(r for r in f.funnel if r.key == key)
    if row.rows is None:
        return textwrap.shorten(describe(f, f.lineage.nodes[key]), 30, placeholder="…")
    if row.rows_in is not None:
        return f"{row.rows_in:,} → {row.rows:,} {units(row.unit)}" + (f" (−{row.rejected:,})" if row.rejected else "")
    return f"{row.rows:,} {units(row.unit, row.rows)}"


# -- bars --------------------------------------------------------------------------------------


def plot_funnel(f: Facts) -> str | None:
    rows = [r for r in f.funnel if r.rows is not None]
    if not rows:
        return None
    from factory.publish.card import units

    plt = _plt()
    labels = [f"{r.key}  ({r.stage or 'no record'}, {units(r.unit)})" for r in rows]
    domains = sorted({d for r in rows for d in (r.by_domain or {})})
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.4))
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    split = np.array([bool(r.by_domain) for r in rows])
    for i, d in enumerate(domains):
        vals = np.array([(r.by_domain or {}).get(d, 0) for r in rows], dtype=float)
        ax.barh(y[split], vals[split], left=left[split], color=_COLORS[i % len(_COLORS)], label=d, height=0.7)
        left += vals
    if (~split).any():
        vals = np.array([r.rows if not s else 0 for r, s in zip(rows, split)], dtype=float)
        ax.barh(y[~split], vals[~split], color="#9E9E9E", label="all domains", height=0.7)
        left += vals
    rej = np.array([r.rejected or 0 for r in rows], dtype=float)
    if rej.any():
        ax.barh(y, rej, left=left, color=_REJECTED, hatch="///", edgecolor="#999999", lw=0, label="rejected", height=0.7)
    for yi, r, l0, rj in zip(y, rows, left, rej):
        text = f" {r.rows:,}" + (f"  (−{int(rj):,})" if rj else "")
        ax.text(l0 + rj, yi, text, va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, float((left + rej).max())) * 1.22)  # room for the numbers
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("rows (problems, traces or SFT rows: see each label)")
    ax.set_title("Funnel: every folder once, sources at the top", loc="left")
    _legend_right(ax, title="rows out by domain")
    return _png(fig)


def plot_teachers(f: Facts) -> str | None:
    if not f.teachers:
        return None
    plt = _plt()
    steps = [f.teachers[0].generated_label, *f.step_labels, "in this set"]
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(steps) + 2.5), 4.2))
    x = np.arange(len(steps))
    w = 0.8 / len(f.teachers)
    for i, t in enumerate(f.teachers):
        vals = [t.generated, *[t.kept.get(lab) for lab in f.step_labels], t.accepted]
        xs = [xi + (i - (len(f.teachers) - 1) / 2) * w for xi, v in zip(x, vals) if v is not None]
        ys = [v for v in vals if v is not None]
        ax.bar(xs, ys, width=w, color=_COLORS[i % len(_COLORS)], label=textwrap.shorten(t.name, 40, placeholder="…"))
        for xx, yy in zip(xs, ys):
            ax.text(xx, yy, f"{yy:,}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [_wrap(s, 14) for s in steps], fontsize=8)
    ax.set_ylabel("traces (SFT rows for 'in this set')")
    ax.margins(y=0.12)
    ax.set_title("Each teacher's traces through the filters (no bar: its branch does not run that step)", loc="left", fontsize=10)
    _legend_right(ax, title="teacher")
    return _png(fig)


def plot_tokens(f: Facts, part: str) -> str | None:
    a = f.tokens.get(part)
    if a is None or a.size == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots()
    bins = min(40, max(5, int(np.sqrt(a.size)) * 2))
    ax.hist(a, bins=bins, color=_COLORS[0 if part == "reasoning" else 1], edgecolor="white")
    p50 = float(np.percentile(a, 50))
    p90 = float(np.percentile(a, 90))
    ax.axvline(p50, color="black", linestyle="--", linewidth=1, label=f"median {p50:,.0f}")
    ax.axvline(p90, color="gray", linestyle=":", linewidth=1, label=f"p90 {p90:,.0f}")
    _legend_right(ax)
    ax.set_xlabel("tokens (estimated: characters / 4)")
    ax.set_ylabel("rows")
    ax.set_title(f"Token length of the {part} ({a.size:,} rows)", loc="left")
    return _png(fig)


def plot_mix(f: Facts) -> str | None:
    if not f.mix:
        return None
    plt = _plt()
    domains = list(f.mix)
    kinds = sorted({k for d in f.mix.values() for k in d})
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(domains) + 3), 4))
    bottom = np.zeros(len(domains))
    for i, k in enumerate(kinds):
        vals = np.array([f.mix[d].get(k, 0) for d in domains], dtype=float)
        ax.bar(domains, vals, bottom=bottom, color=_COLORS[i % len(_COLORS)], label=k, width=0.6)
        bottom += vals
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{int(total):,}", ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.5 - 0.4 * (len(domains) < 3), len(domains) - 0.5 + 0.4 * (len(domains) < 3))  # no slab-wide bar for one domain
    ax.margins(y=0.12)
    _legend_right(ax, title="kind")
    ax.set_ylabel("rows")
    ax.set_title("Mix by domain and kind", loc="left")
    return _png(fig)


def plot_acceptance(f: Facts) -> str | None:
    if not f.acceptance:
        return None
    plt = _plt()
    diffs = [a["difficulty"] for a in f.acceptance]
    x = np.arange(len(diffs))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(diffs) + 3), 4))
    series = [("generated", [a["generated"] for a in f.acceptance])]
    if any(a["kept"] is not None for a in f.acceptance):
        series.append(("passed every filter", [a["kept"] or 0 for a in f.acceptance]))
    series.append(("accepted", [a["used"] for a in f.acceptance]))
    w = 0.8 / len(series)
    for i, (name, vals) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * w, vals, width=w, color=_COLORS[i], label=name)
    for xi, a in zip(x, f.acceptance):
        ax.text(xi, a["generated"], f"{100 * a['rate']:.0f}%", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, [_wrap(d, 12) for d in diffs], fontsize=8)
    ax.set_ylabel("traces")
    ax.margins(y=0.12)
    _legend_right(ax)
    ax.set_title("Acceptance by difficulty (label: accepted / generated)", loc="left")
    return _png(fig)


def plot_language(f: Facts) -> str | None:
    s = f.language_scores
    if s is None or s.size == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots()
    lo = float(min(s.min(), 0.9))
    ax.hist(s, bins=np.linspace(lo, 1.0, 21), color=_COLORS[2], edgecolor="white")
    ax.set_yscale("log")
    ax.set_xlabel("share of the chain of thought in the target language (score_language)")
    ax.set_ylabel("traces (log)")
    ax.set_title(f"Language consistency ({s.size:,} scored traces, {int((s < 1.0).sum()):,} below 1.0)", loc="left")
    return _png(fig)


PLOTS = (
    ("lineage", "Lineage", plot_lineage),
    ("funnel", "Funnel", plot_funnel),
    ("teachers", "Teachers", plot_teachers),
    ("tokens-reasoning", "Reasoning length", lambda f: plot_tokens(f, "reasoning")),
    ("tokens-answer", "Answer length", lambda f: plot_tokens(f, "answer")),
    ("mix", "Mix by domain and kind", plot_mix),
    ("acceptance", "Acceptance by difficulty", plot_acceptance),
    ("language", "Language consistency", plot_language),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;white-space:nowrap}
td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:14em}
td.num{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#777}
pre{font-size:.8em;background:#f7f7f7;padding:.6em;overflow-x:auto}
"""


def _cell(v: Any) -> str:
    num = isinstance(v, (int, float)) or bool(re.fullmatch(r"[\d,.]+%?", str(v)))
    if num:
        return f'<td class="num">{html.escape(str(v))}</td>'
    # long cells (folder lists, reasons) wrap, anywhere if they must; short ones never break
    return f'<td class="wrap">{html.escape(str(v))}</td>' if len(str(v)) > 28 else f"<td>{html.escape(str(v))}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    trs = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def render_html(f: Facts, *, title: str | None = None) -> str:
    from factory.publish.card import describe, units
    from factory.publish.lineage import tree_lines

    lin = f.lineage
    title = title or f"{f.name}: dataset report"
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{f.rows:,} rows ({html.escape(', '.join(f'{s}: {n:,}' for s, n in f.splits.items()))}), contract "
             f"<code>{html.escape(f.contract)}</code>. Every number is read from the stage records and manifests, or counted from the rows.</p>"]
    for key, heading, fn in PLOTS:
        img = fn(f)
        parts.append(f'<h2 id="{key}">{html.escape(heading)}</h2>')
        if img is None:
            parts.append('<p class="muted">not recorded</p>')
        else:
            parts.append(f'<img class="plot" id="plot-{key}" alt="{html.escape(heading)}" src="data:image/png;base64,{img}">')
        if key == "lineage" and lin.nodes[lin.top].kind == "stage":
            parts.append("<pre>" + html.escape("\n".join(tree_lines(lin, lambda n, p: describe(f, n, p)))) + "</pre>")
        if key == "funnel" and f.funnel:
            rows = [[r.key, r.stage or "–", units(r.unit), ", ".join(r.inputs) or "–", "–" if r.rows_in is None else f"{r.rows_in:,}",
                     "–" if r.rows is None else f"{r.rows:,}", "–" if r.rejected is None else f"{r.rejected:,}",
                     "; ".join(f"{k} {v:,}" for k, v in r.reasons.items()) or "–"]
                    for r in f.funnel if r.rows is not None]
            parts.append(_table(["folder", "stage", "of", "reads", "rows in", "rows out", "rejected", "rejected by reason"], rows))
        if key == "teachers" and f.teachers:
            rows = [[t.name, ", ".join(t.backends), f"{t.generated:,}", f"{t.tokens:,}", "–" if t.gpu_hours is None else f"{t.gpu_hours:.4g}",
                     "not recorded" if t.cost is None else f"${t.cost:,.4f}", "–" if t.accepted is None else f"{t.accepted:,}",
                     "–" if not t.accepted or t.gpu_hours is None else f"{t.gpu_hours / t.accepted:.4g}",
                     "–" if not t.accepted or t.cost is None else f"${t.cost / t.accepted:,.4f}"] for t in f.teachers]
            parts.append(_table(["teacher", "backend", "generated", "tokens", "GPU-hours", "cost", "in this set",
                                 "GPU-hours / accepted", "cost / accepted"], rows))
        if key == "tokens-answer" and f.tokens:
            keys = ["p10", "p25", "p50", "p75", "p90", "p99", "max"]
            rows = [[p, *[f"{(f.percentiles(p) or {}).get(k, 0):,}" for k in keys]] for p in ("reasoning", "answer")]
            parts.append(_table(["part", *keys], rows) + f'<p class="muted">{html.escape(f.token_method)}</p>')
        if key == "acceptance" and f.acceptance:
            parts.append(_table(["difficulty", "generated", "accepted", "acceptance"],
                                [[a["difficulty"], a["generated"], a["used"], f"{100 * a['rate']:.1f}%"] for a in f.acceptance]))
    for d in f.decontamination or []:
        parts.append(f'<h2 id="decontamination">Decontamination hits per benchmark ({html.escape(d["key"])})</h2>')
        parts.append(_table(["benchmark", "hits", "removed"], [[b, h, r] for b, h, r in d["rows"]]))
    body = "\n".join(parts)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{MARKER}<title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")
    return lin.text(page)


def write_report(src: str | Path, out: str | Path, *, facts: Facts | None = None, title: str | None = None) -> Path:
    f = facts or gather(src)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_html(f, title=title))
    return out


def run(opts: Any, ctx: Any) -> dict[str, Any]:
    """The report stage (`factory report` and a recipe's `report:` section). Its output is one
    file the runner does not lock or record (ReportOptions.OUTPUT_IS_FILE): it is rewritten on
    every run, but a file there that is not a factory report is replaced only with --overwrite."""
    from factory.schemas.errors import InputError

    src, out = ctx.path(opts.input), ctx.path(opts.out)
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; expected an .html file path", hint="pass e.g. -o report.html")
    if out.exists() and not ctx.overwrite:
        head = out.read_bytes()[:400].decode("utf-8", "replace")
        if MARKER not in head:
            raise InputError(f"--out {out}: already holds a file that is not a factory report",
                             hint="choose another -o, or pass --overwrite to replace it")
    path = write_report(src, out)
    ctx.log(f"{ctx.stage or 'report'}: wrote {path}")
    return {"out": str(opts.out)}
