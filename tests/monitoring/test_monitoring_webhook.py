"""The lamina-alerts-webhook contrib plugin against a local HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitoring_util import AlertSink

from lamina.errors import ConfigError
from lamina.monitoring import Alert, send_alerts
from lamina.stack import Stack

ALERTS = [
    Alert("drift:age", "warning", "column 'age' drifted", {"column": "age", "score": 1e-9}),
    Alert("quality:plan", "info", "a new category", {"column": "plan"}),
    Alert("drift:dataset", "critical", "most columns drifted", {"share": 0.6}),
]


@pytest.fixture
def sink() -> Iterator[AlertSink]:
    s = AlertSink()
    yield s
    s.close()


def _stack(project: Path, table: str, name: str = "prod") -> Stack:
    (project / "lamina.toml").write_text(
        f'[stacks.{name}]\ndatastore = "file://.lamina"\n\n[plugins.alerts_webhook]\n{table}\n')
    return Stack.load(name)


def test_alerts_are_posted_as_json(project: Path, sink: AlertSink,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    stack = _stack(project, f'url = "{sink.url}"\nheaders = {{ Authorization = "Bearer ${{HOOK_TOKEN}}" }}')
    assert send_alerts(stack, ALERTS) == 3
    # min_severity defaults to warning: the info alert is not posted
    assert [r["alert"] for r in sink.received] == ["drift:age", "drift:dataset"]
    first = sink.received[0]
    assert first["severity"] == "warning" and first["stack"] == "prod"
    assert first["details"] == {"column": "age", "score": 1e-9}
    assert first["message"] == "column 'age' drifted" and first["sent_at"]
    assert sink.headers[0]["Authorization"] == "Bearer s3cret"
    assert sink.headers[0]["Content-Type"] == "application/json"


def test_severity_and_stack_filters(project: Path, sink: AlertSink) -> None:
    stack = _stack(project, f'url = "{sink.url}"\nmin_severity = "critical"')
    send_alerts(stack, ALERTS)
    assert [r["alert"] for r in sink.received] == ["drift:dataset"]
    other = _stack(project, f'url = "{sink.url}"\nstacks = ["prod"]', name="dev")
    send_alerts(other, ALERTS)
    assert len(sink.received) == 1                     # dev is not in stacks


def test_unreachable_webhook_is_logged_and_other_channels_still_run(
        project: Path, caplog: pytest.LogCaptureFixture) -> None:
    from envs_util import free_port

    stack = _stack(project, f'url = "http://127.0.0.1:{free_port()}/hook"')
    with caplog.at_level(logging.WARNING, logger="lamina.monitoring"):
        send_alerts(stack, ALERTS[:1])
    messages = [r.getMessage() for r in caplog.records]
    assert any("alerts_webhook" in m and "unreachable" in m for m in messages), messages
    assert any(m.startswith("alert drift:age") for m in messages)   # the builtin log channel


def test_webhook_answering_an_error_is_reported(project: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = AlertSink(status=500)
    try:
        stack = _stack(project, f'url = "{bad.url}"')
        with caplog.at_level(logging.ERROR, logger="lamina.monitoring"):
            send_alerts(stack, ALERTS[:1])
    finally:
        bad.close()
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("table", "match"), [
    ('url = "ftp://example.com/x"', "not an http"),
    ('url = "http://x"\nmin_severity = "loud"', "min_severity"),
    ('url = "http://x"\nurll = 1', "unknown option"),
])
def test_bad_options_fail_when_the_stack_loads(project: Path, table: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _stack(project, table)
