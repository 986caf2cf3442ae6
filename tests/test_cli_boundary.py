"""The CLI's one error boundary: FactoryError -> one red line, exit 1; --debug shows the trace."""

from __future__ import annotations

import subprocess
import sys

from factory.cli.app import app
from typer.testing import CliRunner


def test_schema_show_and_json():
    r = CliRunner().invoke(app, ["schema", "show", "trace"])
    assert r.exit_code == 0 and "finish_reason" in r.output and "schema version 1.0" in r.output
    r = CliRunner().invoke(app, ["schema", "json", "sft"])
    assert r.exit_code == 0 and '"messages"' in r.output


def test_unknown_contract_is_a_usage_error():
    r = CliRunner().invoke(app, ["schema", "show", "poem"])
    assert r.exit_code == 2 and "poem" in r.output


def test_factory_error_is_one_line_without_traceback_and_debug_shows_it():
    # a real subprocess: the console script path, stderr separated
    proc = subprocess.run([sys.executable, "-m", "factory.cli.app", "inspect", "/definitely/missing"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("error:")
    proc = subprocess.run([sys.executable, "-m", "factory.cli.app", "--debug", "inspect", "/definitely/missing"], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
