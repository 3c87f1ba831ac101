"""``lamina serve``: serve a model (or an A/B split of several) over the Open Inference
Protocol (V2) on this machine."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from lamina.cli.main import load_stack_from_args
    from lamina.serving.deployment import for_branch
    from lamina.serving.options import DEFAULT_MAX_BODY, ServerLimits
    from lamina.serving.server import serve
    from lamina.serving.spec import Batching, deployment_from_options, load_spec

    if args.list or args.stop:
        from lamina.serving.deployment import qualified_name, serving_backend

        stack = load_stack_from_args(args)
        backend = serving_backend(stack)
        running = backend.list_deployments()
        if args.stop:
            # the name as given when it runs (a bare name without a project), else the branch's
            name = args.stop if any(d["name"] == args.stop for d in running) else (
                qualified_name(stack, args.stop))
            backend.undeploy(name)
            print(f"stopped {name}")
        else:
            for d in running:
                deployed = (d.get("deployment") or {}).get("deployed") or {}
                print(f"{d['name']}\t{d.get('url', d.get('manifest', ''))}\t"
                      f"{deployed.get('namespace', '')}")
        return 0
    target = args.target
    if target and (target.endswith((".toml", ".json")) or Path(target).is_file()):
        import attrs

        from lamina.serving.errors import DeploymentError

        deployment = load_spec(target)
        if args.variant or args.mirror:
            raise DeploymentError(f"{target} already names the variants and the mirror",
                                  hint="edit the spec file, or serve MODEL_REF with --variant")
        deployment = attrs.evolve(deployment, name=args.name or deployment.name,
                                  sticky_key=args.sticky_key or deployment.sticky_key,
                                  features=tuple(args.features) or deployment.features,
                                  batching=_batching(args, deployment.batching))
    else:
        deployment = deployment_from_options(
            target, args.variant, name=args.name, sticky_key=args.sticky_key, mirror=args.mirror,
            features=args.features, batching=_batching(args, Batching()))
    port = args.port if args.port is not None else (deployment.port or 8080)
    stack = load_stack_from_args(args)
    from lamina.serving.deployment import pin_models

    deployment = pin_models(for_branch(deployment, stack.branch), stack, force=args.force)

    def ready(url: str) -> None:
        split = ", ".join(f"{v.name}={v.model}:{v.weight:g}%" for v in deployment.variants)
        print(f"serving {deployment.name} at {url} ({split})"
              + (f", sticky by {deployment.sticky_key}" if deployment.sticky_key else "")
              + (f", mirror {deployment.mirror.model}" if deployment.mirror else "")
              + (f", features {', '.join(deployment.features)} looked up by key"
                 if deployment.features else "")
              + (f", batching up to {deployment.batching.max_batch_size} requests per call"
                 if deployment.batching.enabled else ""), flush=True)
        print(f"  infer: POST {url}/infer   metrics: GET {url.split('/v2/')[0]}/metrics   "
              "stop: Ctrl-C", file=sys.stderr, flush=True)

    options = stack.options("serving") if stack.has("serving") else None
    token = _token(args.token, getattr(options, "token", None))
    limits = ServerLimits(
        max_body_bytes=args.max_body_bytes or getattr(options, "max_body_bytes", None)
        or DEFAULT_MAX_BODY,
        idle_timeout=args.idle_timeout, header_timeout=args.header_timeout)
    serve(deployment, stack, host=args.host, port=port, log_predictions=not args.no_log,
          flush_seconds=args.flush_seconds, on_ready=ready, limits=limits, token=token)
    return 0


def _batching(args: argparse.Namespace, base: Any) -> Any:
    """The deployment's batching with --max-batch-size / --max-batch-wait-ms applied."""
    import attrs

    changes = {k: v for k, v in (("max_batch_size", args.max_batch_size),
                                 ("max_batch_wait_ms", args.max_batch_wait_ms)) if v is not None}
    return attrs.evolve(base, **changes) if changes else base


def _token(given: str | None, configured: str | None) -> str | None:
    """The bearer token: --token (``${VAR}`` read from the environment), else
    $LAMINA_SERVE_TOKEN, else the stack's serving option ``token``; '' means none."""
    import os

    from lamina.config.secrets import MissingVariable, expand
    from lamina.serving.errors import ServingError

    if given is None:
        given = os.environ.get("LAMINA_SERVE_TOKEN", configured)
    if not given:
        return None
    try:
        value = str(expand(given, os.environ))
    except MissingVariable as exc:
        raise ServingError(f"--token names ${{{exc.name}}}, which is not set",
                           hint=f"export {exc.name}=... before lamina serve") from None
    return value or None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP (Open Inference Protocol V2), with A/B splits",
        description="Serve a model of a run over the Open Inference Protocol (V2): "
        "`lamina serve FLOW[/RUN[/STEP]]`, or an A/B split: `lamina serve --variant "
        "a=REF_A:80 --variant b=REF_B:20`, or a deployment spec file (TOML). Every request "
        "is logged to predictions/<deployment>/ in the stack's datastore. On a project's "
        "branch (--branch NAME, --production) the deployment's name, and so its log, is "
        "qualified by the branch: churn-alice-NAME.",
    )
    p.add_argument("target", nargs="?", metavar="MODEL_REF|SPEC",
                   help="FLOW, FLOW/RUN or FLOW/RUN/STEP (RUN may be `latest`), or a "
                   "deployment spec file")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=REF:WEIGHT",
                   help="a variant and its traffic percent; repeat it (weights sum to 100)")
    p.add_argument("--sticky-key", metavar="HEADER_OR_FIELD",
                   help="keep a key on one variant: a request header, or a field of the V2 "
                   "request's parameters (e.g. user-id)")
    p.add_argument("--mirror", metavar="REF",
                   help="also send every request to this model; its answers are only logged")
    p.add_argument("--features", action="append", default=[],
                   metavar="SERVICE|VIEW:FEATURE",
                   help="look these features up in the stack's online store by the request's "
                   "entity keys before predicting (a feature service, or repeat view:feature): "
                   "requests then carry ids, not features")
    p.add_argument("--name", help="the deployment (V2 model) name; default: the flow name")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface (default: 127.0.0.1, this machine only; any other "
                   "address prints a warning)")
    p.add_argument("--port", type=int, default=None, help="port (default: 8080)")
    p.add_argument("--no-log", action="store_true", help="do not write the prediction log")
    p.add_argument("--force", action="store_true",
                   help="serve a registered version (model:NAME@ALIAS) whose checks failed")
    p.add_argument("--flush-seconds", type=float, default=2.0,
                   help="how often the prediction log writes a batch (default: 2)")
    p.add_argument("--token", default=None, metavar="TOKEN",
                   help="require 'Authorization: Bearer TOKEN' on every route but "
                   "/v2/health/*; '${VAR}' reads it from the environment (default: "
                   "$LAMINA_SERVE_TOKEN, else the serving option token; '' for none)")
    p.add_argument("--max-body-bytes", type=int, default=None, metavar="N",
                   help="refuse larger request bodies with 413 (default: the serving option "
                   "max_body_bytes, 16 MiB)")
    p.add_argument("--idle-timeout", type=float, default=5.0, metavar="S",
                   help="close a connection silent this long (default: 5)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                   help="close a connection whose request headers take longer (default: 10)")
    p.add_argument("--max-batch-size", type=int, default=None, metavar="N",
                   help="adaptive batching: stack up to N requests that arrive together into "
                   "one predict call (default: 1, off; for models with a cost per call)")
    p.add_argument("--max-batch-wait-ms", type=float, default=None, metavar="MS",
                   help="adaptive batching: how long a batch's first request waits for others "
                   "when the model is idle (default: 0)")
    p.add_argument("--list", action="store_true",
                   help="list the deployments the stack's serving backend runs (lamina deploy)")
    p.add_argument("--stop", metavar="NAME", help="stop a deployment started by lamina deploy")
    from lamina.cli.main import add_branch_arguments

    add_branch_arguments(p)
    p.set_defaults(handler=cmd_serve)
