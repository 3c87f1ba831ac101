"""``lamina plugins`` lists each distribution once, its entry points beneath it."""

from __future__ import annotations

from pathlib import Path

from kernel_fixtures.helpers import fake_plugins, run_lamina  # noqa: F401


def test_the_core_is_one_heading_with_its_entry_points(tmp_path: Path, fake_plugins) -> None:  # noqa: F811
    proc = run_lamina(["plugins"], cwd=tmp_path, paths=[fake_plugins["good"]])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("lamina 0.1.0\n") == 1
    core = out.split("lamina 0.1.0\n")[1].split("\n\n")[0].splitlines()
    assert [line for line in core if line.startswith("  entry point:")] == [
        "  entry point: builtin = lamina.builtin.plugin",
        "  entry point: features = lamina.builtin.features_plugin",
        "  entry point: serving = lamina.builtin.serving_plugin",
        "  entry point: monitoring = lamina.builtin.monitoring_plugin",
        "  entry point: data = lamina.builtin.data_plugin",
        "  entry point: data_lakes = lamina.builtin.data_lakes.plugin",
    ]
    assert len(core) == 18  # entry point, components and hooks of each, nothing else
    assert "  components:  data/sqlite" in core
    # another distribution gets a heading of its own, after a blank line
    assert "\n\nlamina-fake-good 1.2.0\n  entry point: fakegood = lamina_fake_good\n" in out
