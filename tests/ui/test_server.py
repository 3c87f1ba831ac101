"""The server's guards: loopback by default, the token, the warnings, security headers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ui_util import get, ui_server

from lamina.ui import loopback

pytestmark = pytest.mark.slow


def test_loopback_addresses() -> None:
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost")
    assert loopback("127.0.0.2")
    assert not loopback("0.0.0.0") and not loopback("192.168.1.10") and not loopback("::")


def test_token_is_required_and_then_kept_in_a_cookie(tmp_path: Path) -> None:
    with ui_server(tmp_path, "--token", "s3cret") as (base, _):
        status, body, _ = get(base + "/")
        assert status == 401 and "access token" in body
        assert get(base + "/", {"Authorization": "Bearer wrong"})[0] == 401
        status, body, _ = get(base + "/", {"Authorization": "Bearer s3cret"})
        assert status == 200 and "Runs" in body
        import urllib.request

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(base + "/?token=s3cret", timeout=30) as response:
            assert response.status == 200
            assert "token" not in response.url  # moved out of the URL
        with opener.open(base + "/compare", timeout=30) as response:
            assert response.status == 200


def test_pages_carry_a_content_security_policy(tmp_path: Path) -> None:
    with ui_server(tmp_path) as (base, _):
        status, _, headers = get(base + "/")
        assert status == 200
        csp = {k.lower(): v for k, v in headers.items()}["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'self'" in csp


def test_binding_all_interfaces_warns_and_makes_a_token(tmp_path: Path) -> None:
    with ui_server(tmp_path, "--host", "0.0.0.0") as (base, proc):
        # only loopback is ever contacted; the server refuses without the token
        assert get(base + "/")[0] == 401
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert "warning: serving on 0.0.0.0" in err
    assert "access token was made" in err
    token = re.search(r"\?token=([\w-]+)", out)
    assert token is not None, out


def test_missing_ui_libraries_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lamina.errors import LaminaError
    from lamina.ui import create_app

    monkeypatch.setitem(sys.modules, "jinja2", None)  # import jinja2 -> ImportError
    with pytest.raises(LaminaError, match="needs jinja2") as info:
        create_app("local")
    assert "lamina[ui]" in str(info.value)
