"""The ``lamina_alert`` hook: one JSON POST per alert to the configured URL.

Options come from ``[plugins.alerts_webhook]``, declared as an attrs class
(``lamina_plugin_options``) and validated by lamina when a stack loads, so a wrong URL
fails at ``lamina stack check``, not at the first alert. They live on the stack object:
two stacks in one process never share them.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

import attrs

from lamina.sdk import LaminaError, hookimpl

#: The entry-point name this distribution registers the plugin under.
PLUGIN_NAME = "alerts_webhook"
SEVERITIES = ("info", "warning", "critical")


def _http_url(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value and urllib.parse.urlsplit(value).scheme not in ("http", "https"):
        raise ValueError(f"url {value!r} is not an http(s) URL "
                         '(url = "https://hooks.example.com/T0/B0/XYZ", or "${VAR}")')


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {value!r}")


@attrs.frozen
class WebhookOptions:
    """Options of ``[plugins.alerts_webhook]``, validated by lamina when a stack loads.

    :param url: where alerts are posted (http or https). Without it the plugin is idle.
    :param min_severity: post only alerts at least this severe.
    :param timeout: seconds per POST.
    :param stacks: only alerts of these stacks (empty: every stack).
    :param headers: extra HTTP headers (an authorization token via ``${VAR}``).
    """

    url: str = attrs.field(default="", validator=_http_url)
    min_severity: str = attrs.field(default="warning", validator=attrs.validators.in_(SEVERITIES))
    timeout: float = attrs.field(default=5.0, validator=_positive)
    stacks: tuple[str, ...] = ()
    headers: dict[str, str] = attrs.field(factory=dict)


@hookimpl
def lamina_plugin_options() -> type:
    return WebhookOptions


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
    options: WebhookOptions = stack.plugin_options(PLUGIN_NAME)
    if not options.url:
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
