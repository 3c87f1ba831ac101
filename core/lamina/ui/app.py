"""The ``lamina ui`` web app: a read-only Starlette app over the public :class:`lamina.Client`.

Pages are Jinja2 templates with autoescape (every run name, tag, parameter, log line and
error is escaped: markup in them shows as text). The little JavaScript it runs (live
updates, chart drawing) and the chart libraries are files in the package: no CDN.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections import OrderedDict
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lamina.client.client import DEFAULT
from lamina.errors import LaminaError, RunNotFoundError
from lamina.ui import views

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from lamina.client import Client, Run, Task
    from lamina.records import TaskRecord
    from lamina.stack import Stack

#: Name of the cookie that carries the access token once given in the URL.
TOKEN_COOKIE = "lamina_ui_token"

#: Scripts come from this server only; vega compiles chart expressions with Function().
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


class _RunCache:
    """Finished runs (immutable but for their tags) kept for the last few viewed, so their
    task records are read once; a running run is read again at every request."""

    def __init__(self, client: Client, size: int = 8) -> None:
        self.client = client
        self.size = size
        self.items: OrderedDict[str, Run] = OrderedDict()
        self.lock = threading.Lock()

    def run(self, ref: str) -> Run:
        fresh = self.client.run(ref)
        if fresh.status == "running":
            return fresh
        with self.lock:
            kept = self.items.get(fresh.id)
            if kept is not None:
                kept.record = fresh.record  # tags may have changed
                self.items.move_to_end(fresh.id)
                return kept
            self.items[fresh.id] = fresh
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return fresh


def _templates() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lamina.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = views.when
    env.filters["seconds"] = views.seconds
    env.filters["short"] = lambda key, n=12: (key or "-")[:n]
    env.filters["urlpart"] = lambda text: quote(str(text), safe="")
    env.filters["urlpath"] = lambda text: quote(str(text), safe="/")
    env.filters["tojson_attr"] = lambda value: json.dumps(value, default=str)
    return env


def create_app(
    stack: Stack | str | None = None, *, token: str | None = None, namespace: Any = DEFAULT,
) -> Starlette:
    """The UI as an ASGI app over ``stack`` (the configured default if None).

    :param token: when set, every request must carry it (``?token=...`` once, then a
        cookie; or ``Authorization: Bearer ...``).
    :param namespace: the runs shown: the user's own namespace by default, a namespace
        (``user:bob``), or None for every namespace (see :class:`lamina.client.Client`).
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from lamina.client import Client

    client = Client(stack, namespace=namespace)
    ui = _UI(client, _templates())
    static = StaticFiles(directory=str(resources.files("lamina.ui").joinpath("static")))
    vendor = StaticFiles(directory=str(resources.files("lamina.cards").joinpath("vendor")))
    routes = [
        Route("/", ui.runs_page),
        Route("/healthz", ui.healthz),
        Route("/charts.js", ui.charts_js),
        Route("/compare", ui.compare_page),
        Route("/reports", ui.reports_page),
        Route("/reports/monitoring/{run_id}", ui.monitoring_report),
        Route("/runs/{run_id}", ui.run_page),
        Route("/runs/{run_id}/live", ui.run_live),
        Route("/runs/{run_id}/code/{path:path}", ui.code_page),
        Route("/runs/{run_id}/environment", ui.environment_page),
        Route("/runs/{run_id}/steps/{step}", ui.step_page),
        Route("/runs/{run_id}/steps/{step}/{index:int}", ui.task_page),
        Route("/runs/{run_id}/steps/{step}/{index:int}/live", ui.task_live),
        Route("/runs/{run_id}/steps/{step}/{index:int}/download", ui.download),
        Mount("/static", app=static, name="static"),
        Mount("/vendor", app=vendor, name="vendor"),
    ]
    middleware = [Middleware(_Guard, token=token or None)]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={LaminaError: ui.error_page})
    app.state.client = client
    return app


class _Guard:
    """Security headers on every answer, and the access token when one is set."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        if self.token is not None:
            request = Request(scope)
            given = request.query_params.get("token")
            if given is not None and hmac.compare_digest(given, self.token):
                # move the token from the URL (and the history) into a cookie
                query = "&".join(f"{k}={quote(v)}" for k, v in request.query_params.multi_items()
                                 if k != "token")
                target = request.url.path + (f"?{query}" if query else "")
                redirect = RedirectResponse(target, status_code=303)
                redirect.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                await redirect(scope, receive, send)
                return
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            bearer = request.headers.get("authorization", "")
            bearer = bearer[7:] if bearer.lower().startswith("bearer ") else ""
            if not any(hmac.compare_digest(v, self.token) for v in (cookie, bearer) if v):
                denied = PlainTextResponse(
                    "lamina ui: this server needs its access token: open the URL it printed "
                    "(…/?token=...) or send 'Authorization: Bearer TOKEN'.", status_code=401)
                await denied(scope, receive, send)
                return

        started = time.perf_counter()

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                spent = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", CSP.encode()))
                headers += [
                    (b"server-timing", f"app;dur={spent:.1f}".encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _UI:
    """The page handlers (sync: Starlette runs them in its thread pool)."""

    def __init__(self, client: Client, env: Any) -> None:
        self.client = client
        self.env = env
        self.cache = _RunCache(client)

    # -- helpers -----------------------------------------------------------------------

    def render(self, name: str, status_code: int = 200, **context: Any) -> Response:
        from starlette.responses import HTMLResponse

        context.setdefault("stack_name", self.client.stack.name)
        return HTMLResponse(self.env.get_template(name).render(**context),
                            status_code=status_code)

    def _run(self, request: Request) -> Run:
        return self.cache.run(request.path_params["run_id"])

    @staticmethod
    def _records(run: Run) -> list[TaskRecord]:
        return [t.record for t in run.tasks()]

    def _task(self, request: Request) -> tuple[Run, Task]:
        run = self._run(request)
        step = request.path_params["step"]
        index = int(request.path_params["index"])
        run[step]  # a clear error for an unknown step
        for task in run.tasks(step):
            if task.index == index:
                return run, task
        raise RunNotFoundError(
            f"step '{step}' of run {run.id} has no task {index}",
            hint="open the step's page for its tasks" if run.status != "running"
            else "the task has not finished yet: this page shows it once it has",
        )

    def error_page(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LaminaError)
        code = 404 if isinstance(exc, RunNotFoundError) else 400
        return self.render("error.html", status_code=code, error=exc.message,
                           hint=exc.hint or "")

    # -- pages -------------------------------------------------------------------------

    def healthz(self, request: Request) -> Response:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("ok")

    def charts_js(self, request: Request) -> Response:
        from starlette.responses import Response

        from lamina.cards.render import EMBED_SCRIPT

        return Response(EMBED_SCRIPT, media_type="text/javascript")

    def runs_page(self, request: Request) -> Response:
        f = views.RunFilter.from_query(request.query_params)
        runs, more = views.list_runs(self.client, f)
        context: dict[str, Any] = dict(runs=runs, filter=f, more=more, flows=self.client.flows(),
                       sorts=views.RUN_SORTS, live=any(r.status == "running" for r in runs))
        if request.query_params.get("fragment") == "rows":
            return self.render("_run_rows.html", **context)
        return self.render("runs.html", **context)

    def run_page(self, request: Request) -> Response:
        run = self._run(request)
        records = self._records(run)
        steps = views.step_views(run, records)
        width, height = views.dag_size(steps)
        failed = [t for t in records if t.status == "failed"][:20]
        return self.render(
            "run.html", run=run, record=run.record, steps=steps, edges=views.dag_edges(steps),
            width=width, height=height, box_w=views.BOX_W, box_h=views.BOX_H,
            label=views.step_label, timeline=views.timeline(steps), failed=failed,
            task_count=len(records),
        )

    def run_live(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        run = self._run(request)
        steps = views.step_views(run, self._records(run))
        return JSONResponse({
            "run": run.id, "status": run.status,
            "duration": views.seconds(run.duration),
            "steps": [s.to_json() for s in steps],
        })

    def code_page(self, request: Request) -> Response:
        run = self._run(request)
        path = request.path_params["path"]
        key = run.record.code_files.get(path)
        if key is None:
            raise RunNotFoundError(
                f"run {run.id} has no file {path!r} in its code snapshot",
                hint="files: " + (", ".join(sorted(run.record.code_files)) or "none"),
            )
        text = self.client.stack.artifacts.get_bytes(key, name=f"{run.id} {path}").decode(
            errors="replace")
        return self.render("code.html", run=run, path=path, key=key,
                           code=_highlight(text, path))

    def environment_page(self, request: Request) -> Response:
        run = self._run(request)
        packages: dict[str, str] = {}
        if run.record.packages_key:
            packages = json.loads(self.client.stack.artifacts.get_bytes(
                run.record.packages_key, name=f"{run.id} packages"))
        return self.render("environment.html", run=run, record=run.record,
                           packages=sorted(packages.items(), key=lambda kv: kv[0].lower()))

    def step_page(self, request: Request) -> Response:
        run = self._run(request)
        step = request.path_params["step"]
        run[step]
        tasks = run.tasks(step)
        status = request.query_params.get("status", "")
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            raise LaminaError(f"page {request.query_params.get('page')!r} is not a number",
                              hint="use ?page=2") from None
        shown, pages = views.task_page(tasks, page, status)
        states: dict[str, int] = {}
        for t in tasks:
            states[t.status] = states.get(t.status, 0) + 1
        chart = views.metrics_chart(tasks) if len(tasks) <= 5000 else None
        return self.render("step.html", run=run, step=step, tasks=shown, total=len(tasks),
                           page=min(max(page, 1), pages), pages=pages, status=status,
                           states=states, chart=chart, timeline=views.task_timeline(shown))

    def task_page(self, request: Request) -> Response:
        from lamina.ui.previews import artifact_preview

        run = self._run(request)
        step, index = request.path_params["step"], int(request.path_params["index"])
        if run.status == "running" and step in run.steps and not any(
            t.index == index for t in run.tasks(step)
        ):
            # not finished yet: a page that reloads itself once the task has an outcome
            return self.render("task_waiting.html", run=run, step=step, index=index)
        run, task = self._task(request)
        unpickle = request.query_params.get("unpickle") == "1"
        preview = artifact_preview(task, unpickle=unpickle)
        card = task.card
        output_key = task.record.output.key if task.record.output else None
        read_by = []
        if output_key:
            for other in self._records(run):
                for keys in other.inputs.values():
                    if output_key == keys or (isinstance(keys, list) and output_key in keys):
                        read_by.append(other)
                        break
                if len(read_by) >= 50:
                    break
        lineage = task.lineage()[:50]
        return self.render(
            "task.html", run=run, task=task, record=task.record, attempts=task.attempts(),
            preview=preview, unpickle=unpickle, card=card,
            card_html=card.html_fragment() if card else "", read_by=read_by, lineage=lineage,
            chart=views.metrics_chart([task]),
        )

    def task_live(self, request: Request) -> Response:
        from starlette.responses import JSONResponse

        run = self._run(request)
        step, index = request.path_params["step"], int(request.path_params["index"])
        status = "pending"
        for t in self._records(run):
            if t.step == step and t.index == index:
                status = t.status
        return JSONResponse({"run_status": run.status, "status": status})

    def download(self, request: Request) -> Response:
        from starlette.responses import Response

        from lamina.ui.previews import DOWNLOAD_SUFFIX

        run, task = self._task(request)
        ref = task.ref
        data = self.client.stack.artifacts.get_bytes(ref.key, name=task.id)
        name = f"{run.id}-{task.step}-{task.index}{DOWNLOAD_SUFFIX.get(ref.serializer, '.bin')}"
        return Response(data, media_type="application/octet-stream",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    def reports_page(self, request: Request) -> Response:
        monitoring = self.client.runs(tag="monitoring", limit=100)
        deployments: list[dict[str, Any]] = []
        deploy_error = ""
        try:
            from lamina.serving.deployment import serving_backend

            deployments = serving_backend(self.client.stack).list_deployments()
        except Exception as err:  # a backend that cannot be reached: say so, show the rest
            deploy_error = f"{type(err).__name__}: {err}"
        return self.render("reports.html", monitoring=monitoring, deployments=deployments,
                           deploy_error=deploy_error)

    def monitoring_report(self, request: Request) -> Response:
        from starlette.responses import HTMLResponse

        run = self._run(request)
        if "html" not in run.steps:
            raise LaminaError(f"run {run.id} (flow {run.flow!r}) has no report: it has no "
                              "'html' step", hint="monitoring runs are listed on /reports")
        html = run["html"].value
        if not isinstance(html, str):
            raise LaminaError(f"the 'html' step of run {run.id} returned a "
                              f"{type(html).__name__}, not an HTML text",
                              hint="a monitoring run's html step returns the report as a str")
        response = HTMLResponse(html)
        response.headers["content-security-policy"] = REPORT_CSP
        return response

    def compare_page(self, request: Request) -> Response:
        a = request.query_params.get("a", "").strip()
        b = request.query_params.get("b", "").strip()
        recent = self.client.runs(limit=100)
        diff = self.client.diff(a, b) if a and b else None
        return self.render("compare.html", a=a, b=b, diff=diff, recent=recent,
                           recent_ids=[r.id for r in recent],
                           diffs={k: _diff_lines(v) for k, v in diff.code_diffs.items()}
                           if diff else {})


#: A monitoring report is served as a document of its own, with no script allowed.
REPORT_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _diff_lines(text: str) -> list[tuple[str, str]]:
    """Each line of a unified diff with its CSS class (add, del, hunk or ctx)."""
    out = []
    for line in text.splitlines():
        kind = ("hunk" if line.startswith("@@") else "file" if line.startswith(("---", "+++"))
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        out.append((kind, line))
    return out


def _highlight(text: str, path: str) -> Any:
    """Syntax-highlighted HTML of a code file (Pygments escapes the text)."""
    from markupsafe import Markup

    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_for_filename
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments comes with rich
        from markupsafe import escape

        return Markup("<pre>") + escape(text) + Markup("</pre>")
    try:
        lexer = get_lexer_for_filename(path, stripnl=False)
    except ClassNotFound:
        from pygments.lexers import TextLexer

        lexer = TextLexer()
    return Markup(highlight(text, lexer, HtmlFormatter(linenos="table", cssclass="code")))
