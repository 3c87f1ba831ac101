"""The ``lamina_alert`` hook: one JSON POST per alert to the configured URL.

Options come from ``[plugins.alerts_webhook]`` and are checked when a stack loads
(``lamina_configure``), so a wrong URL fails at ``lamina stack check``, not at the first
alert. They are kept per stack object: two stacks in one process never share them.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import weakref
from typing import Any

import attrs

from lamina import hookimpl
from lamina.errors import ConfigError, LaminaError

SEVERITIES = ("info", "warning", "critical")


@attrs.frozen
class WebhookOptions:
    """Options of ``[plugins.alerts_webhook]``.

    :param url: where alerts are posted (http or https). Without it the plugin is idle.
    :param min_severity: post only alerts at least this severe.
    :param timeout: seconds per POST.
    :param stacks: only alerts of these stacks (empty: every stack).
    :param headers: extra HTTP headers (an authorization token via ``${VAR}``).
    """

    url: str = ""
    min_severity: str = "warning"
    timeout: float = 5.0
    stacks: tuple[str, ...] = ()
    headers: dict[str, str] = attrs.field(factory=dict)


_KEYS = tuple(f.name for f in attrs.fields(WebhookOptions))
_by_stack: weakref.WeakKeyDictionary[Any, WebhookOptions] = weakref.WeakKeyDictionary()


def parse_options(raw: dict[str, Any]) -> WebhookOptions:
    """Check the table; raise :class:`lamina.errors.ConfigError` naming the key and fix."""
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        raise ConfigError(f"[plugins.alerts_webhook]: unknown option(s) {', '.join(unknown)}",
                          hint=f"options are: {', '.join(_KEYS)}")
    url = raw.get("url", "")
    if not isinstance(url, str) or (url and urllib.parse.urlsplit(url).scheme not in ("http", "https")):
        raise ConfigError(f"[plugins.alerts_webhook]: url {url!r} is not an http(s) URL",
                          hint='url = "https://hooks.example.com/T0/B0/XYZ" (or "${VAR}")')
    severity = raw.get("min_severity", "warning")
    if severity not in SEVERITIES:
        raise ConfigError(f"[plugins.alerts_webhook]: min_severity {severity!r} is not one of "
                          f"{', '.join(SEVERITIES)}", hint='min_severity = "warning"')
    timeout = raw.get("timeout", 5.0)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"[plugins.alerts_webhook]: timeout must be a positive number, got "
                          f"{timeout!r}", hint="timeout = 5.0")
    stacks = raw.get("stacks", [])
    headers = raw.get("headers", {})
    if not isinstance(stacks, list) or not all(isinstance(s, str) for s in stacks):
        raise ConfigError("[plugins.alerts_webhook]: stacks must be an array of stack names",
                          hint='stacks = ["prod"]')
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError("[plugins.alerts_webhook]: headers must be a table of strings",
                          hint='headers = { Authorization = "Bearer ${TOKEN}" }')
    return WebhookOptions(url=url, min_severity=severity, timeout=float(timeout),
                          stacks=tuple(stacks), headers=dict(headers))


@hookimpl
def lamina_configure(stack: Any, options: dict[str, Any]) -> None:
    _by_stack[stack] = parse_options(options)


def post(options: WebhookOptions, payload: dict[str, Any]) -> int:
    """POST ``payload`` as JSON; returns the HTTP status or raises LaminaError."""
    # urllib.request pulls in http.client, ssl and email: imported here, not on every
    # ``lamina`` command that loads this plugin.
    import urllib.error
    import urllib.request

    body = json.dumps(payload, default=str).encode()
    request = urllib.request.Request(
        options.url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "lamina-alerts-webhook/0.1",
                 **options.headers},
    )
    host = urllib.parse.urlsplit(options.url).netloc
    try:
        with urllib.request.urlopen(request, timeout=options.timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise LaminaError(f"alert webhook at {host} answered HTTP {exc.code} for "
                          f"{payload['alert']!r}",
                          hint="check [plugins.alerts_webhook] url and headers") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LaminaError(f"alert webhook at {host} is unreachable for {payload['alert']!r}: "
                          f"{reason}", hint="check [plugins.alerts_webhook] url") from None


@hookimpl
def lamina_alert(name: str, severity: str, message: str, details: dict[str, Any],
                 stack: Any) -> None:
    options = _by_stack.get(stack)
    if options is None or not options.url:
        return
    if options.stacks and getattr(stack, "name", None) not in options.stacks:
        return
    if SEVERITIES.index(severity if severity in SEVERITIES else "warning") < SEVERITIES.index(
            options.min_severity):
        return
    post(options, {
        "alert": name, "severity": severity, "message": message, "details": details,
        "stack": getattr(stack, "name", ""),
        "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    })
