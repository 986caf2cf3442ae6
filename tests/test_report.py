"""`factory report`: a self-contained HTML page whose plots all load in a real browser
(headless Chromium: every <img> complete with naturalWidth > 0), identical bytes for the same
folders, no absolute path, and "not recorded" instead of a plot when the folders lack the data.
The plots' readability (legends outside the bars, no label cut off) was checked by looking at
the screenshot this test takes (FACTORY_REPORT_SCREENSHOT=path keeps it).

Chromium comes from Debian's package (`make env` installs it as root)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from factory.cli.app import app
from publish_lineage import build_lineage
from typer.testing import CliRunner

from factory.io.dataset import write_dataset
from factory.publish.report import write_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
# Written into the DOM once the page has loaded, so --dump-dom shows what the browser saw.
CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const res = imgs.map(i => ({id: i.id, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));
  const pre = document.createElement('pre'); pre.id = 'imgcheck';
  pre.textContent = JSON.stringify(res); document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, package_data) -> dict[str, Path]:
    return build_lineage(tmp_path_factory.mktemp("run"), package_data)


PLOT_IDS = ["plot-lineage", "plot-funnel", "plot-teachers", "plot-tokens-reasoning", "plot-tokens-answer", "plot-mix",
            "plot-acceptance", "plot-language"]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "headless Chromium is needed to render the report: run `make env` as root (apt-get install chromium)"
    return exe


def _browser(html_file: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chrome-profile'}", "--virtual-time-budget=5000",
         *extra, html_file.as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)},
    )


def test_every_plot_loads_in_headless_chromium(lineage, tmp_path):
    page = write_report(lineage["sft"], tmp_path / "report.html")
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    proc = _browser(checked, tmp_path, "--dump-dom")
    m = re.search(r'<pre id="imgcheck">(.*?)</pre>', proc.stdout, flags=re.S)
    assert m, f"the check script did not run; chromium said: {proc.stderr[-2000:]}"
    imgs = json.loads(m.group(1).replace("&quot;", '"'))
    assert [i["id"] for i in imgs] == PLOT_IDS
    for i in imgs:
        assert i["complete"] and i["w"] > 300 and i["h"] > 150, i
    shot = tmp_path / "report.png"
    proc = _browser(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,6000", "--hide-scrollbars")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    if os.environ.get("FACTORY_REPORT_SCREENSHOT"):
        shutil.copy(shot, os.environ["FACTORY_REPORT_SCREENSHOT"])


def test_the_page_is_self_contained_and_deterministic(lineage, tmp_path):
    a = write_report(lineage["sft"], tmp_path / "a.html").read_bytes()
    b = write_report(lineage["sft"], tmp_path / "b.html").read_bytes()
    assert a == b
    text = a.decode()
    # nothing fetched from anywhere: every image is inline PNG data
    assert not re.search(r'(src|href)="(?!data:|#)', text)
    srcs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(srcs) == len(PLOT_IDS) and all(base64.b64decode(s)[:8] == b"\x89PNG\r\n\x1a\n" for s in srcs)
    assert '<td>mybench</td><td class="num">2</td><td class="num">2</td>' in text  # decontamination: hits, removed
    # folders named relative to the run folder; the tree shows where the branches merge
    root = lineage["sft"].parent
    assert str(root) not in text and str(root.resolve()) not in text and str(Path.cwd()) not in text
    assert "└── verified/long_cot/rejected" in text and "problems/math_clean" in text


def test_missing_data_says_not_recorded_and_the_cli_writes_the_page(tmp_path):
    rows = [{"id": f"s{i}", "messages": [{"role": "user", "content": f"What is {i}+{i}?"},
                                          {"role": "assistant", "content": f"<think>\n{i}+{i} is {2 * i}.\n</think>\n\n{2 * i}"}],
             "trace_ids": [], "problem_id": None, "kind": "shortcut", "domain": "math", "source": "handmade"} for i in range(5)]
    write_dataset(tmp_path / "sft" / "train", "sft", rows)
    r = CliRunner().invoke(app, ["report", str(tmp_path / "sft"), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "r.html").read_text()
    # the funnel (the set itself), both token histograms and the mix are there; the lineage,
    # teachers, acceptance and language need stage records this folder does not have
    assert re.findall(r'id="plot-([a-z-]+)"', text) == ["funnel", "tokens-reasoning", "tokens-answer", "mix"]
    assert text.count("not recorded") == 4
    r = CliRunner().invoke(app, ["report", str(tmp_path / "nothing-here"), "-o", str(tmp_path / "x.html")])
    assert r.exit_code == 1 and "no such dataset folder" in r.output


def test_the_output_must_be_an_html_file_and_other_files_are_kept(tmp_path, lineage):
    r = CliRunner().invoke(app, ["report", str(lineage["sft"]), "-o", str(tmp_path / "report.txt")])
    assert r.exit_code == 1 and "--out: expected an .html file path, found" in r.output
    notes = tmp_path / "notes.html"
    notes.write_text("<html>my notes</html>")
    r = CliRunner().invoke(app, ["report", str(lineage["sft"]), "-o", str(notes)])
    assert r.exit_code == 1 and "not a factory report" in r.output and notes.read_text() == "<html>my notes</html>"
    r = CliRunner().invoke(app, ["report", str(lineage["sft"]), "-o", str(notes), "--overwrite"])
    assert r.exit_code == 0 and notes.read_text().startswith("<!DOCTYPE html>")
    # a report is simply rewritten (the same bytes for the same folders)
    before = notes.read_bytes()
    r = CliRunner().invoke(app, ["report", str(lineage["sft"]), "-o", str(notes)])
    assert r.exit_code == 0 and notes.read_bytes() == before
