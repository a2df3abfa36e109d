"""``testbed-agent``: the device agent's command line.

    testbed-agent serve --host 127.0.0.1 --port 8765 --store DIR [--token T | --token-file F]
                        [--state-file F] [--run-timeout-s 300]
    testbed-agent --version

The token comes from ``--token``, ``--token-file`` or ``TESTBED_AGENT_TOKEN`` (prefer the
last two: a command-line token is visible to every user in the process list).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .config import TOKEN_ENV, WORKER_START_ENV, AgentConfig, allow_debug_from_env
from .errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one subcommand: ``serve``)."""
    parser = argparse.ArgumentParser(prog="testbed-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"testbed-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the HTTP API until SIGTERM")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port to bind; 0 picks a free one")
    serve.add_argument("--store", type=Path, required=True, help="folder for artifacts and runs")
    token = serve.add_mutually_exclusive_group()
    token.add_argument("--token", help=f"agent token (prefer --token-file or ${TOKEN_ENV})")
    token.add_argument("--token-file", type=Path, help="file whose content is the agent token")
    serve.add_argument("--state-file", type=Path, help="write pid/port/version/store JSON here")
    serve.add_argument("--run-timeout-s", type=float, default=300.0,
                       help="default timeout of one run, in seconds (default 300)")
    serve.add_argument("--worker-start", choices=("forkserver", "exec"),
                       default=os.environ.get(WORKER_START_ENV) or "forkserver",
                       help="how each run's fresh worker process starts: forked from a per-runtime "
                            "fork server with the runtime imported (default), or a new interpreter "
                            f"(default from ${WORKER_START_ENV})")
    return parser


def resolve_token(token: str | None, token_file: Path | None) -> str:
    """The token from the flag, the file, or the environment; ConfigError when there is none."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file {token_file}: {exc.strerror}") from exc
    token = (token or os.environ.get(TOKEN_ENV, "")).strip()
    if not token:
        raise ConfigError(f"no agent token; pass --token, --token-file or set {TOKEN_ENV}")
    return token


def make_config(args: argparse.Namespace) -> AgentConfig:
    """An AgentConfig from parsed ``serve`` arguments; ConfigError for unusable values."""
    token = resolve_token(args.token, args.token_file)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    if not args.run_timeout_s > 0:
        raise ConfigError(f"--run-timeout-s must be > 0, got {args.run_timeout_s}")
    try:
        args.store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --store {args.store}: {exc.strerror}") from exc
    return AgentConfig(store=args.store, token=token, host=args.host, port=args.port,
                       run_timeout_s=args.run_timeout_s, state_file=args.state_file,
                       allow_debug=allow_debug_from_env(), worker_start=args.worker_start)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``testbed-agent`` console script."""
    args = build_parser().parse_args(argv)
    try:
        config = make_config(args)
        from .server import serve  # flask/waitress only when actually serving

        return serve(config)
    except ConfigError as exc:
        print(f"testbed-agent: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
