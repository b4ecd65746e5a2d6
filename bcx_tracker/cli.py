"""`bcx-tracker`: records every configured exchange's trades into Redis until TERM or INT, then flushes and exits 0."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace

from bcx.config import Config
from bcx.converters import byte_size, positive_int, series_list
from bcx.daemon import EXIT_CONFIG, Stopper, arg_type, base_parser, load_or_exit, run_loop
from bcx.detach import run_as_service
from bcx_tracker.recorder import DEFAULT_KEEP, DEFAULT_MAX_BYTES, Recorder
from bcx_tracker.tracker import StartError, Tracker

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser("bcx-tracker", "Record exchanges' trades and quotes into Redis.")
    parser.add_argument("--record", metavar="FILE", help="also append every raw feed message to FILE (JSON lines)")
    parser.add_argument(
        "--record-max-size",
        metavar="SIZE",
        type=arg_type(byte_size),
        default=DEFAULT_MAX_BYTES,
        help="rotate the recording past this size, uncompressed (default 64mb)",
    )
    parser.add_argument(
        "--record-keep",
        metavar="N",
        type=arg_type(positive_int),
        default=DEFAULT_KEEP,
        help="rotated recordings to keep (default 5)",
    )
    shard = parser.add_argument_group("sharding: several trackers, each with its own products, against one Redis")
    shard.add_argument(
        "--products",
        type=arg_type(series_list),
        metavar="LIST",
        help="record these series (coinbase:BTC-USD, kraken:ETH-USD) instead of [tracker] products",
    )
    shard.add_argument("--name", metavar="NAME", help="this tracker's name in `bcx status` (default: host:pid)")
    args = parser.parse_args(argv)
    config = load_or_exit(args)
    if args.products:
        config = replace(config, tracker=replace(config.tracker, products=args.products))
    with run_as_service(args, config) as stopper:  # --daemon, --pidfile, --user
        try:
            recorder = Recorder(args.record, args.record_max_size, args.record_keep) if args.record else None
            run(config, stopper, recorder=recorder, name=args.name)
        except StartError as exc:
            print(f"bcx-tracker: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    return 0


def run(config: Config, stopper: Stopper, recorder: Recorder | None = None, name: str | None = None) -> None:
    """The tracker on `config` until `stopper` says stop; usable in-process (no signal handling here)."""
    tracker = Tracker(config, recorder, name)
    run_loop(tracker.initialize, tracker.loop_once, tracker.shutdown, stopper)


if __name__ == "__main__":
    sys.exit(main())
