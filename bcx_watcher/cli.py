"""`bcx-watcher`: evaluate alert rules over the stored ticks and keep raw ticks within their retention."""

from __future__ import annotations

import sys

from bcx.connection import connect
from bcx.daemon import base_parser, load_or_exit
from bcx.detach import run_as_service
from bcx_watcher.watcher import Watcher


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("bcx-watcher", "Evaluate alert rules on the stored ticks and trim ticks to their retention.")
    args = parser.parse_args(argv)
    config = load_or_exit(args)  # exits 2 on a config error, before anything touches Redis
    with run_as_service(args, config) as stopper:  # --daemon, --pidfile, --user
        conn = connect(config.redis)
        try:
            Watcher(conn, config, stopper).run()
        finally:
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
