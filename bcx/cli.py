"""`bcx`: the command-line front door (`bcx up`, `alerts`, `tail`, `install`, `uninstall`, `status`, `export`,
`backfill`, `import`, `rank`).

The front door composes every package's commands, so it is the one module of `bcx` that imports a daemon's package
(bcx_tracker's `backfill` and `import`); the rest of the core imports none."""

from __future__ import annotations

import argparse
import sys

from bcx import __version__, alerts_cli, export_cli, install, rank_cli, status, tail_cli, up
from bcx_tracker import backfill_cli, import_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bcx", description="BCX: crypto-exchange prices in Redis, served to charts")
    parser.add_argument("--version", action="version", version=f"bcx {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up.add_parser(commands)
    alerts_cli.add_parser(commands)
    tail_cli.add_parser(commands)
    install.add_parser(commands)
    status.add_parser(commands)
    export_cli.add_parser(commands)
    rank_cli.add_parser(commands)
    backfill_cli.add_parser(commands)
    import_cli.add_parser(commands)
    args = parser.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
