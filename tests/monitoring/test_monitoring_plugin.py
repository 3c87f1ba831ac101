"""The builtin monitoring plugin, its options in the stack config, and import weight."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamina.errors import ConfigError
from lamina.monitoring import MonitorOptions
from lamina.stack import Stack


def test_monitoring_options_come_from_the_stack(project: Path) -> None:
    (project / "lamina.toml").write_text(
        '[stacks.prod]\ndatastore = "file://.lamina"\n\n'
        '[stacks.prod.monitoring]\nplugin = "builtin"\nalpha = 0.01\nmin_accuracy = 0.8\n\n'
        '[stacks.prod.monitoring.columns.zip]\nkind = "categorical"\n')
    stack = Stack.load("prod")
    options = stack.options("monitoring")
    assert isinstance(options, MonitorOptions)
    assert options.alpha == 0.01 and options.min_accuracy == 0.8
    assert options.column("zip").kind == "categorical"
    monitor = stack.component("monitoring")
    assert stack.check()["monitoring"][0] is True
    import pyarrow as pa

    report = monitor.analyze(pa.table({"zip": [1, 2] * 50}), pa.table({"zip": [1, 2] * 50}))
    assert report.columns[0]["kind"] == "categorical"


@pytest.mark.parametrize(("line", "match"), [
    ("alpha = 2.0", "alpha must be between 0 and 1"),
    ("alhpa = 0.1", "alpha"),
    ('window = 3', "string"),
])
def test_bad_monitoring_options_name_the_key(project: Path, line: str, match: str) -> None:
    (project / "lamina.toml").write_text(
        f'[stacks.prod]\n[stacks.prod.monitoring]\nplugin = "builtin"\n{line}\n')
    with pytest.raises(ConfigError, match=match) as err:
        Stack.load("prod")
    assert "lamina.toml:" in str(err.value)


def test_importing_monitoring_and_the_plugin_stays_light() -> None:
    code = ("import sys, lamina.monitoring, lamina.builtin.monitoring_plugin, "
            "lamina.cli.commands.monitor; "
            "print(sorted(m for m in ('numpy', 'scipy', 'pyarrow', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_monitor_help_lists_the_forms() -> None:
    out = subprocess.run([sys.executable, "-m", "lamina", "monitor", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "report RUN" in out.stdout and "--write-flow" in out.stdout


@pytest.mark.slow
def test_benchmark_quick_runs() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "monitoring_drift.py"),
                          "--quick"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert '"lamina"' in out.stdout and '"drifted"' in out.stdout
