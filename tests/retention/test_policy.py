"""The retention policy: which runs it keeps and why, and its strict options."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.config import load_config
from lamina.config.retention import RetentionOptions, parse_duration
from lamina.errors import ConfigError
from lamina.retention import RunSummary, decide

DAY = 86400.0
NOW = 1_800_000_000.0


def run(run_id: str, days_ago: float, *, flow: str = "f", namespace: str = "user:ada",
        status: str = "succeeded", tags: tuple[str, ...] = (), production: bool = False,
        ) -> RunSummary:
    return RunSummary(run_id=run_id, flow=flow, namespace=namespace,
                      started_at=NOW - days_ago * DAY, status=status, tags=tags,
                      production=production)


def keep(runs: list[RunSummary], named: tuple[str, ...] = (), **options: object) -> dict[str, str]:
    base = dict(keep_last=0, keep_last_per_branch=0, keep_newer_than="")
    base.update(options)
    return decide(runs, RetentionOptions(**base), now=NOW, named=named)  # type: ignore[arg-type]


def test_the_last_n_runs_of_each_flow_and_of_each_branch() -> None:
    runs = [run(f"a{i}", i, flow="a") for i in range(5)]
    runs += [run(f"b{i}", i, flow="b", namespace="user:bob") for i in range(3)]
    runs += [run("a-alice", 50, flow="a", namespace="user:alice")]
    kept = keep(runs, keep_last=2)
    assert set(kept) == {"a0", "a1", "b0", "b1"}
    assert "last 2 runs of flow 'a'" in kept["a0"]
    kept = keep(runs, keep_last_per_branch=1)
    assert set(kept) == {"a0", "b0", "a-alice"}, "each flow's newest run in each namespace"


def test_runs_newer_than_an_age() -> None:
    kept = keep([run("new", 2), run("old", 40)], keep_newer_than="30d")
    assert set(kept) == {"new"} and "newer than 30d" in kept["new"]


def test_protected_tags_production_running_and_keepers_beat_every_rule() -> None:
    runs = [run("tagged", 400, tags=("keep",)), run("prod", 400, production=True,
                                                   namespace="project:p/branch:production"),
            run("live", 400, status="running"), run("model", 400), run("plain", 400)]
    kept = keep(runs, named=("model",))
    assert set(kept) == {"tagged", "prod", "live", "model"}
    assert kept["tagged"] == "tagged 'keep'"
    assert kept["live"] == "running"
    assert kept["prod"].startswith("production")
    assert "registered model" in kept["model"]
    assert "prod" not in keep(runs, named=("model",), keep_production=False)
    assert "tagged" not in keep(runs, protected_tags=("paper",))


def test_old_monitoring_runs_go_whatever_keep_last_says() -> None:
    runs = [run("mon-new", 1, flow="m", tags=("monitoring",)),
            run("mon-old", 100, flow="m", tags=("monitoring",)),
            run("mon-kept", 200, flow="m", tags=("monitoring", "keep"))]
    kept = keep(runs, keep_last=10, monitoring_max_age="90d")
    assert set(kept) == {"mon-new", "mon-kept"}
    assert set(keep(runs, keep_last=10)) == {"mon-new", "mon-old", "mon-kept"}


def test_durations() -> None:
    assert parse_duration("24h") == 86400 and parse_duration("90m") == 5400
    assert parse_duration("2w") == 14 * DAY and parse_duration("45") == 45
    assert parse_duration(3.5) == 3.5
    for bad in ("3 days", "-1h", "h", "1y"):
        with pytest.raises(ValueError, match=r"duration such as|must not be negative"):
            parse_duration(bad, "grace")


@pytest.mark.parametrize(("body", "message"), [
    ("keep_lats = 3", "retention: unknown option 'keep_lats' (did you mean 'keep_last'?)"),
    ('grace = "3 days"', 'grace must be a duration such as "30d"'),
    ("keep_last = -1", "keep_last must be 0 or more, got -1"),
    ('protected_tags = "keep"', "option 'protected_tags' must be a list of strings"),
])
def test_a_wrong_option_names_the_file_line_key_and_fix(
    tmp_path: Path, body: str, message: str
) -> None:
    (tmp_path / "lamina.toml").write_text(
        f'[stacks.local]\ndatastore = ".lamina"\n[stacks.local.retention]\n{body}\n')
    with pytest.raises(ConfigError) as err:
        load_config(cwd=tmp_path)
    text = str(err.value).splitlines()[0]
    # the file as the message shows it (relative to the working folder when shorter)
    where, _, rest = text.partition(":4: ")
    assert Path(where).resolve() == (tmp_path / "lamina.toml").resolve()
    assert rest.startswith("stack 'local', retention: ")
    assert message in text
    assert err.value.hint


def test_the_table_is_read_and_defaults_apply(tmp_path: Path) -> None:
    (tmp_path / "lamina.toml").write_text(
        '[stacks.local]\ndatastore = ".lamina"\n[stacks.local.retention]\nkeep_last = 3\n'
        'prediction_logs_max_age = "90d"\n[stacks.other]\ndatastore = ".other"\n')
    cfg = load_config(cwd=tmp_path)
    assert cfg.stacks["local"].retention == RetentionOptions(
        keep_last=3, prediction_logs_max_age="90d")
    assert cfg.stacks["other"].retention == RetentionOptions()
    assert RetentionOptions().seconds("grace") == DAY
    assert RetentionOptions().seconds("monitoring_max_age") is None
