"""`bcx alerts`: print the recent alerts, or follow them as they come (`--follow`), resumable with `--since ID`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable

import redis

from bcx import alerts, up_state
from bcx.alerts import Alert
from bcx.connection import connect, describe
from bcx.daemon import Stopper, arg_type, load_or_exit
from bcx.tick import ms_to_iso

DEFAULT_LIMIT = 20
DESCRIPTION = "Print the recent alerts, or follow them as they come (--follow); resume with --since ID."


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `alerts` to the `bcx` command's subcommands."""
    parser = commands.add_parser("alerts", help="print or follow alerts", description=DESCRIPTION)
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help=up_state.CONFIG_HELP)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing alerts as they come (Ctrl-C stops)")
    parser.add_argument(
        "--since",
        metavar="ID",
        type=arg_type(alerts.stream_id),
        help="only alerts after this id (resume where you left off)",
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"without --follow: at most N alerts (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Without --follow: the --limit most recent alerts (or the first ones after --since). With --follow: the
    alerts after --since, else only new ones, until TERM or Ctrl-C (exit 0)."""
    up_state.running_up_config(args)  # no --config: a running `bcx up` is what to look at
    config = load_or_exit(args)
    if args.limit <= 0:
        print("bcx alerts: --limit must be greater than 0", file=sys.stderr)
        return 2
    stopper = Stopper().install() if args.follow else None
    conn = connect(config.redis)
    try:
        if stopper is not None:
            show(alerts.follow(conn, config.redis.prefix, args.since, stopper), args.json)
        elif not show(alerts.read_alerts(conn, config.redis.prefix, args.since, args.limit), args.json):
            after = f" after {args.since}" if args.since else ""
            print(f"no alerts{after} (in {describe(config.redis)}, stream {alerts.alerts_key(config.redis.prefix)})")
    except redis.RedisError as exc:
        print(f"bcx alerts: redis at {describe(config.redis)}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `bcx alerts | head`: the reader left, which is fine
        # point stdout at /dev/null so the flush at exit does not fail again (recipe from the `signal` docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        conn.close()
    return 0


def show(items: Iterable[Alert], as_json: bool) -> int:
    """Print each alert; returns how many."""
    shown = 0
    for alert in items:
        print(alert.to_json() if as_json else format_line(alert), flush=True)
        shown += 1
    return shown


def format_line(alert: Alert) -> str:
    return f"{ms_to_iso(alert.time_ms)}  {alert.id}  {alert.message}"


def main(argv: list[str] | None = None) -> int:
    """`python -m bcx.alerts_cli`: the same as `bcx alerts`."""
    parser = argparse.ArgumentParser(prog="bcx alerts", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
