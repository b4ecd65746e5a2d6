"""Running a daemon as a service: `--daemon` (python-daemon), `--pidfile`, `--user`, HUP to reopen logs.

Order matters and is the same for every daemon:
1. before detaching, on the terminal: look the --user up and check the pidfile (a live owner: exit 1; a stale
   file from a crashed run: replaced), so that a mistake is reported where someone can see it;
2. detach (double fork, new session, umask 022, working directory `/`, stdin from /dev/null, stdout and stderr
   appended to the log file), then set logging up again (detaching closed every inherited file);
3. write the pidfile (the pid after detaching);
4. drop root for --user (bcx-web has bound its port before this, so a port below 1024 works);
5. run; on the way out remove the pidfile if it still holds our pid.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import daemon

from bcx.config import Config
from bcx.daemon import EXIT_CONFIG, Stopper, log_file, log_level
from bcx.logsetup import close_logging, redirect_stdio, setup_logging
from bcx.pidfile import PidFile, PidFileInUse

log = logging.getLogger(__name__)

EXIT_RUNNING = 1
UMASK = 0o022  # pidfiles and logs readable by `bcx status` and by the admin


@contextmanager
def run_as_service(
    args: argparse.Namespace, config: Config, keep_fds: Sequence[int] = (), stopper: Stopper | None = None
) -> Iterator[Stopper]:
    """Detach, write the pidfile and drop root as the command line asks; yields the installed Stopper (TERM and
    INT stop, a second one exits at once, HUP reopens the logs). `keep_fds` survive detaching (a bound socket)."""
    prog = os.path.basename(sys.argv[0]) or "bcx"
    account = lookup_account(prog, args.user) if args.user else None
    pidfile = PidFile(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        try:
            pidfile.claim()
        except PidFileInUse as exc:
            print(f"{prog}: already running: {exc}", file=sys.stderr)
            sys.exit(EXIT_RUNNING)
    if args.daemon:
        detach(prog, log_level(args, config), log_file(args, config), keep_fds)
    if pidfile is not None:
        pidfile.write()
    if account is not None:
        drop_privileges(account)
    try:
        yield (stopper or Stopper()).install(reopen_on_hup=True)
    finally:
        if pidfile is not None:
            pidfile.remove()


def detach(prog: str, level: str, path: str | None, keep_fds: Sequence[int]) -> None:
    """Become a background daemon with python-daemon; stdout and stderr go to the log file (else /dev/null)."""
    if not path:
        print(f"{prog}: --daemon without a log file: logs are lost (set [log] file or --log-file)", file=sys.stderr)
    context = daemon.DaemonContext(
        detach_process=True,
        working_directory="/",
        umask=UMASK,
        files_preserve=list(keep_fds),
        # python-daemon maps TERM to SystemExit by default; ours (the Stopper) is installed right after
        signal_map={signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None},
    )
    close_logging()
    context.open()
    if path:
        redirect_stdio(path)
    setup_logging(level, path)
    log.debug("detached as pid %d", os.getpid())


def lookup_account(prog: str, name: str) -> pwd.struct_passwd:
    """The --user account, checked before anything starts: unknown, or not root to switch: exit 2."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        print(f"{prog}: --user {name}: no such user", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    if os.geteuid() != 0 and account.pw_uid != os.geteuid():
        print(f"{prog}: --user {name}: only root can switch users (running as uid {os.geteuid()})", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    return account


def drop_privileges(account: pwd.struct_passwd) -> None:
    """Switch to the account's uid, gid and groups for good (no way back to root)."""
    if os.geteuid() == account.pw_uid:
        return
    os.initgroups(account.pw_name, account.pw_gid)
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    log.info("running as %s (uid %d)", account.pw_name, account.pw_uid)
