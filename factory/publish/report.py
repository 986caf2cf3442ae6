"""`factory report DIR`: a self-contained HTML page (no network, PNGs embedded as base64) with
the plots of a dataset folder and its lineage: the funnel as a bar chart, token-length
histograms for reasoning and answer, the mix by domain and kind, acceptance by difficulty, and
the language-consistency score distribution. Numbers come from `factory/facts.py`, the same
facts the dataset card writes; a plot whose data the folders do not record is replaced by a
"not recorded" line. Matplotlib runs with the Agg backend (no display needed), and the page
holds no clock time, so the same folders give the same bytes.

Exercise: `factory report runs/quickstart/sft --out runs/quickstart/report.html`.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from factory.io.dataset import atomic_write_text
from factory.publish.lineage import Facts, gather

_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    # no Software/date metadata: identical inputs give identical bytes
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
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


def plot_funnel(f: Facts) -> str | None:
    if not f.funnel:
        return None
    plt = _plt()
    labels = [r.label if r.label == r.name else f"{r.label}\n({r.name[:40]})" for r in f.funnel]
    domains = sorted({d for r in f.funnel for d in (r.by_domain or {})})
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(labels) + 1.5))
    y = np.arange(len(labels))[::-1]
    # stacked by domain where the stage recorded its domains; a plain gray bar where it did not
    split = np.array([bool(r.by_domain) for r in f.funnel])
    left = np.zeros(len(labels))
    for i, d in enumerate(domains):
        vals = np.array([(r.by_domain or {}).get(d, 0) for r in f.funnel], dtype=float)
        ax.barh(y[split], vals[split], left=left[split], color=_COLORS[i % len(_COLORS)], label=d)
        left += vals
    if (~split).any():
        ax.barh(y[~split], [r.rows for r, s in zip(f.funnel, split) if not s], color="#B0B0B0",
                label="all domains (no per-domain count recorded)" if domains else None)
    if domains:
        ax.legend(title="domain", loc="lower right", frameon=False, fontsize=8)
    for yi, r in zip(y, f.funnel):
        ax.text(r.rows, yi, f" {r.rows:,}", va="center", fontsize=9)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("rows")
    ax.set_title("Funnel: rows left after each stage")
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
    ax.legend(frameon=False)
    ax.set_xlabel("tokens (approximate)" if "approximate" in f.token_method else "tokens")
    ax.set_ylabel("rows")
    ax.set_title(f"Token length of the {part} ({a.size:,} rows)")
    return _png(fig)


def plot_mix(f: Facts) -> str | None:
    if not f.mix:
        return None
    plt = _plt()
    domains = list(f.mix)
    kinds = sorted({k for d in f.mix.values() for k in d})
    fig, ax = plt.subplots()
    bottom = np.zeros(len(domains))
    for i, k in enumerate(kinds):
        vals = np.array([f.mix[d].get(k, 0) for d in domains], dtype=float)
        ax.bar(domains, vals, bottom=bottom, color=_COLORS[i % len(_COLORS)], label=k)
        bottom += vals
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{int(total):,}", ha="center", va="bottom", fontsize=9)
    ax.legend(title="kind", frameon=False)
    ax.set_ylabel("rows")
    ax.set_title("Mix by domain and kind")
    return _png(fig)


def plot_acceptance(f: Facts) -> str | None:
    if not f.acceptance:
        return None
    plt = _plt()
    diffs = [a["difficulty"] for a in f.acceptance]
    x = np.arange(len(diffs))
    fig, ax = plt.subplots()
    series = [("generated", [a["generated"] for a in f.acceptance])]
    if any(a["kept"] is not None for a in f.acceptance):
        series.append(("reached curate", [a["kept"] or 0 for a in f.acceptance]))
    series.append(("used in this set", [a["used"] for a in f.acceptance]))
    w = 0.8 / len(series)
    for i, (name, vals) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * w, vals, width=w, color=_COLORS[i], label=name)
    for xi, a in zip(x, f.acceptance):
        ax.text(xi, a["generated"], f"{100 * a['rate']:.0f}%", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, diffs)
    ax.set_ylabel("traces")
    ax.legend(frameon=False)
    ax.set_title("Acceptance by difficulty (label: share used in the set)")
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
    ax.set_title(f"Language consistency ({s.size:,} scored traces, {int((s < 1.0).sum()):,} below 1.0)")
    return _png(fig)


PLOTS = (
    ("funnel", "Funnel", plot_funnel),
    ("tokens-reasoning", "Reasoning length", lambda f: plot_tokens(f, "reasoning")),
    ("tokens-answer", "Answer length", lambda f: plot_tokens(f, "answer")),
    ("mix", "Mix by domain and kind", plot_mix),
    ("acceptance", "Acceptance by difficulty", plot_acceptance),
    ("language", "Language consistency", plot_language),
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
img{max-width:100%;height:auto;display:block;margin:.5em 0}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#777}
"""


def _cell(v: Any) -> str:
    num = isinstance(v, (int, float)) or bool(re.fullmatch(r"[\d,.]+%?", str(v)))
    return f'<td class="num">{html.escape(str(v))}</td>' if num else f"<td>{html.escape(str(v))}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    trs = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def render_html(f: Facts, *, title: str | None = None) -> str:
    title = title or f"{f.src.name}: dataset report"
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>{f.rows:,} rows ({html.escape(', '.join(f'{s}: {n:,}' for s, n in f.splits.items()))}), contract "
             f"<code>{html.escape(f.contract)}</code>. Every number is read from the manifests or counted from the rows.</p>"]
    for key, heading, fn in PLOTS:
        img = fn(f)
        parts.append(f'<h2 id="{key}">{html.escape(heading)}</h2>')
        if img is None:
            parts.append('<p class="muted">not recorded</p>')
        else:
            parts.append(f'<img class="plot" id="plot-{key}" alt="{html.escape(heading)}" src="data:image/png;base64,{img}">')
        if key == "funnel" and f.funnel:
            parts.append(_table(["stage", "step", "rows"], [[r.label, r.name, f"{r.rows:,}"] for r in f.funnel]))
        if key == "tokens-answer" and f.tokens:
            keys = ["p10", "p25", "p50", "p75", "p90", "p99", "max"]
            rows = [[p, *[f"{(f.percentiles(p) or {}).get(k, 0):,}" for k in keys]] for p in ("reasoning", "answer")]
            parts.append(_table(["part", *keys], rows) + f'<p class="muted">{html.escape(f.token_method)}</p>')
        if key == "acceptance" and f.acceptance:
            parts.append(_table(["difficulty", "generated", "used", "acceptance"],
                                [[a["difficulty"], a["generated"], a["used"], f"{100 * a['rate']:.1f}%"] for a in f.acceptance]))
    if f.decontamination is not None:
        parts.append("<h2 id=\"decontamination\">Decontamination hits per benchmark</h2>")
        parts.append(_table(["benchmark", "hits"], [[b, n] for b, n in f.decontamination.items()]))
    body = "\n".join(parts)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def write_report(src: str | Path, out: str | Path, *, lineage: list[str | Path] = (), facts: Facts | None = None,
                 title: str | None = None) -> Path:
    f = facts or gather(src, lineage=list(lineage))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render_html(f, title=title))
    return out
