"""The HTML report is self-contained and renders in headless Chromium without any network
request; the screenshot is kept as a test artifact."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from monitoring_util import make_table

from lamina.monitoring import analyze


def _report_html() -> str:
    rng = np.random.default_rng(0)
    ref = make_table(5000, 0, shifted=False)
    cur = make_table(5000, 1, shifted=True)
    ts = pa.array(np.sort(rng.integers(0, 86_400_000_000, 5000)) + 1_790_000_000_000_000,
                  pa.timestamp("us", tz="UTC"))
    log = pa.table({"request_id": [f"r{i}" for i in range(5000)], "timestamp": ts,
                    "variant": rng.choice(["a", "b"], 5000),
                    **{f"in.{c}": cur.column(c) for c in cur.column_names},
                    "out.p": rng.random(5000)})
    outcomes = pa.table({"request_id": [f"r{i}" for i in range(5000)],
                         "outcome": rng.integers(0, 2, 5000).astype(float)})
    report = analyze(ref, log, outcomes=outcomes, title="Monitoring: <churn> & co")
    return report.to_html()


def test_html_is_self_contained() -> None:
    html = _report_html()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html and "url(" not in html
    # every URL in the page is an SVG namespace or an in-page anchor
    for attr, value in re.findall(r'\s(src|href|xlink:href)=["\']([^"\']*)', html):
        assert value.startswith("#"), (attr, value)
    for url in re.findall(r"https?://[^\s\"'<>]+", html):
        assert url == "http://www.w3.org/2000/svg", url
    assert "Monitoring: &lt;churn&gt; &amp; co" in html       # user text is escaped
    assert html.count("<svg") >= 26                            # 25 columns + drift over time
    assert "Drift over time" in html and "Model performance" in html


class _Recorder(BaseHTTPRequestHandler):
    """Serves the report and records every request, including proxied ones (CONNECT for
    https, absolute URLs for http): any fetch beyond the page shows up here."""

    page = b""
    seen: list[str] = []

    def do_GET(self) -> None:
        # with every request proxied, the page itself arrives as an absolute URL
        local = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path[len(local):] if self.path.startswith(local) else self.path
        self.seen.append(f"GET {path}" if path != self.path else f"GET {self.path} (direct)")
        if path == "/report.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(self.page)))
            self.end_headers()
            self.wfile.write(self.page)
        else:
            self.send_error(404)

    def do_CONNECT(self) -> None:
        self.seen.append(f"CONNECT {self.path}")
        self.send_error(403)

    def log_message(self, *args: object) -> None:
        pass


_BROWSER_OWN = re.compile(
    r"^(CONNECT |GET http://)(update\.googleapis\.com|accounts\.google\.com|"
    r"clients\d*\.google\.com|[\w.-]*\.gvt1\.com|redirector\.gvt1\.com|"
    r"optimizationguide-pa\.googleapis\.com|safebrowsing\.googleapis\.com|"
    r"content-autofill\.googleapis\.com|www\.google\.com)[:/]"
)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _render(tmp_path: Path, html: str) -> tuple[subprocess.CompletedProcess, list[str], Path]:
    """Open ``html`` in headless Chromium with every request going through a recording
    proxy; returns the process, the requests made (minus Chromium's own) and the
    screenshot."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    handler = type("Handler", (_Recorder,), {"page": html.encode(), "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shot = tmp_path / "report.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    try:
        proc = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,"
             "Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
             "--disable-domain-reliability", "--disable-client-side-phishing-detection",
             "--no-pings", "--disable-breakpad", "--metrics-recording-only",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             # every request, the page's included, goes through the recording proxy
             f"--proxy-server=http://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>",
             f"--screenshot={shot}", "--window-size=1280,2000",
             f"http://127.0.0.1:{port}/report.html"],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    # Chromium's own background services still call home despite the flags above; they
    # are not the page's doing. Anything else (a font, a script, an image) would be.
    fetched = [r for r in handler.seen
               if r != "GET /favicon.ico" and not _BROWSER_OWN.search(r)]
    return proc, fetched, shot


@pytest.mark.slow
def test_report_renders_in_headless_chromium_without_network(tmp_path: Path) -> None:
    proc, fetched, shot = _render(tmp_path, _report_html())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists(), proc.stderr[-2000:]
    assert _png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 30_000                     # a page with plots, not blank
    assert "CONSOLE" not in proc.stderr and "Uncaught" not in proc.stderr
    assert fetched == ["GET /report.html"]
    artifacts = os.environ.get("LAMINA_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "monitoring-report.png")


@pytest.mark.slow
def test_the_network_check_sees_a_page_that_fetches(tmp_path: Path) -> None:
    # the control: the same harness catches a page that loads a remote image and font
    page = ("<html><head><style>@font-face{font-family:x;src:url(http://fonts.example.com/x.woff)}"
            "body{font-family:x}</style></head><body>hi "
            "<img src='http://images.example.com/a.png'></body></html>")
    _, fetched, _ = _render(tmp_path, page)
    assert any("images.example.com" in r for r in fetched), fetched
