"""`bcx install` and `bcx uninstall`: the commands on the PATH, the services at boot.

Planning is pure (`plan_install`, `plan_uninstall` turn root, init system and prefix into a list of actions);
`apply` does them. `--root DIR` puts everything inside DIR (for tests and packaging): then no user is created,
nothing is chowned and no service is registered, since those touch the running system.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bcx.config import packaged_default

USER = "bcx"
DAEMONS = ("bcx-tracker", "bcx-watcher", "bcx-web")
COMMANDS = ("bcx", *DAEMONS, "bcx-replay")
INIT_SYSTEMS = ("sysv", "systemd")
DEFAULT_PREFIX = "/usr/local"
TEMPLATE_BIN = "/usr/local/bin/"  # how the shipped init scripts and units name the commands


@dataclass(frozen=True)
class MakeDir:
    path: Path
    owner: str | None = None  # chown to this user and group (only on the real system, as root)


@dataclass(frozen=True)
class WriteFile:
    path: Path
    text: str
    mode: int = 0o644
    keep_existing: bool = False  # a user's config is never overwritten


@dataclass(frozen=True)
class Symlink:
    path: Path
    target: Path


@dataclass(frozen=True)
class CreateUser:
    name: str
    home: str


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Remove:
    path: Path
    tree: bool = False  # a whole directory (--purge)
    only_symlink: bool = False  # never remove a real file that happens to sit where our link would be


Action = MakeDir | WriteFile | Symlink | CreateUser | Run | Remove


def inside(root: Path, path: str) -> Path:
    """`path` (absolute, on the target system) under `root`."""
    return root / path.lstrip("/")


def service_file(init: str, daemon: str) -> str:
    """Where an init script or unit goes on the target system."""
    return f"/etc/init.d/{daemon}" if init == "sysv" else f"/etc/systemd/system/{daemon}.service"


def plan_install(
    root: Path, init: str, prefix: str, bin_dir: Path, templates: dict[str, str], as_root: bool
) -> list[Action]:
    """Everything `bcx install` does, in order. `templates` maps `sysv/NAME`, `systemd/NAME`, `logrotate` and
    `config` to their text; `bin_dir` holds this installation's console scripts."""
    on_system = root == Path("/")
    owner = USER if on_system and as_root else None
    actions: list[Action] = [CreateUser(USER, "/var/lib/bcx")] if owner else []
    actions += [
        MakeDir(inside(root, "/etc/bcx")),
        WriteFile(inside(root, "/etc/bcx/bcx.conf"), templates["config"], 0o644, True),
    ]
    bin_path = inside(root, f"{prefix}/bin")
    actions.append(MakeDir(bin_path))
    if not (on_system and bin_path.resolve() == bin_dir.resolve()):  # installed there already: nothing to link
        actions += [Symlink(bin_path / name, bin_dir / name) for name in COMMANDS]
    actions.append(MakeDir(inside(root, str(Path(service_file(init, DAEMONS[0])).parent))))
    for daemon in DAEMONS:
        text = templates[f"{init}/{daemon}"].replace(TEMPLATE_BIN, f"{prefix.rstrip('/')}/bin/")
        actions.append(WriteFile(inside(root, service_file(init, daemon)), text, 0o755 if init == "sysv" else 0o644))
    actions += [
        MakeDir(inside(root, "/etc/logrotate.d")),
        WriteFile(inside(root, "/etc/logrotate.d/bcx"), templates["logrotate"]),
    ]
    actions += [MakeDir(inside(root, "/var/log/bcx"), owner), MakeDir(inside(root, "/var/lib/bcx"), owner)]
    if on_system:
        if init == "sysv":
            actions += [Run(("update-rc.d", daemon, "defaults")) for daemon in DAEMONS]
        else:
            actions += [Run(("systemctl", "daemon-reload")), Run(("systemctl", "enable", *DAEMONS))]
    return actions


def plan_uninstall(root: Path, init: str, prefix: str, purge: bool) -> list[Action]:
    """Everything `bcx uninstall` does: stop and deregister the services (on `/`), remove what install put in
    place; with `purge` also the config, logs and data. The bcx user stays (files may still belong to it)."""
    actions: list[Action] = []
    if root == Path("/"):
        if init == "sysv":
            for daemon in DAEMONS:
                script = f"/etc/init.d/{daemon}"  # stopped only if still there (a second uninstall succeeds)
                actions.append(Run(("sh", "-c", f"[ ! -x {script} ] || {script} stop")))
                actions.append(Run(("update-rc.d", "-f", daemon, "remove")))
        else:
            actions += [Run(("systemctl", "disable", "--now", *DAEMONS))]
    for kind in INIT_SYSTEMS:  # whichever kind was installed
        actions += [Remove(inside(root, service_file(kind, daemon))) for daemon in DAEMONS]
    if root == Path("/") and init == "systemd":
        actions.append(Run(("systemctl", "daemon-reload")))
    actions += [Remove(inside(root, f"{prefix}/bin/{name}"), only_symlink=True) for name in COMMANDS]
    actions.append(Remove(inside(root, "/etc/logrotate.d/bcx")))
    if purge:
        actions += [Remove(inside(root, path), tree=True) for path in ("/etc/bcx", "/var/log/bcx", "/var/lib/bcx")]
    return actions


def shipped_templates() -> dict[str, str]:
    """The init scripts, units, logrotate file and default config that ship inside the package."""
    services = resources.files("bcx").joinpath("services")
    templates = {f"{kind}/{daemon}": "" for kind in INIT_SYSTEMS for daemon in DAEMONS}
    for daemon in DAEMONS:
        templates[f"sysv/{daemon}"] = services.joinpath("init.d", daemon).read_text(encoding="utf-8")
        templates[f"systemd/{daemon}"] = services.joinpath("systemd", f"{daemon}.service").read_text(encoding="utf-8")
    templates["logrotate"] = services.joinpath("logrotate", "bcx").read_text(encoding="utf-8")
    templates["config"] = packaged_default().read_text(encoding="utf-8")
    return templates


def detect_init() -> str:
    """systemd when it is the running init (the test systemd itself uses), else SysV scripts."""
    return "systemd" if Path("/run/systemd/system").is_dir() else "sysv"


def apply(actions: list[Action], say=print) -> int:
    """Do the actions in order, saying what each did; returns how many failed (a failed command or a real
    file where a link should go is reported and skipped, the rest still happens)."""
    failures = 0
    for action in actions:
        try:
            message = _do(action)
        except (OSError, subprocess.CalledProcessError) as exc:
            failures += 1
            message = f"FAILED {describe(action)}: {exc}"
        if message:
            say(message)
    return failures


def describe(action: Action) -> str:
    match action:
        case Run(argv):
            return "run " + " ".join(argv)
        case CreateUser(name, _):
            return f"create the system user {name}"
        case Symlink(path, target):
            return f"link {path} -> {target}"
        case Remove(path, tree, _):
            return f"remove {path}{'/ and everything in it' if tree else ''}"
        case WriteFile(path, _, _, _):
            return f"write {path}"
        case MakeDir(path, owner):
            return f"create {path}/" + (f" (owner {owner})" if owner else "")
    raise TypeError(action)


def _do(action: Action) -> str | None:
    match action:
        case MakeDir(path, owner):
            existed = path.is_dir()
            path.mkdir(parents=True, exist_ok=True)
            if owner:
                shutil.chown(path, owner, owner)
            return None if existed and not owner else describe(action)
        case WriteFile(path, text, mode, keep_existing):
            if keep_existing and path.exists():
                return f"kept {path} (already there; never overwritten)"
            path.write_text(text, encoding="utf-8")
            path.chmod(mode)
        case Symlink(path, target):
            if path.exists() and not path.is_symlink():
                raise FileExistsError(f"{path} is a real file, not ours: left alone")
            path.unlink(missing_ok=True)
            path.symlink_to(target)
        case CreateUser(name, home):
            if subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0:
                return f"user {name} exists"
            shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
            args = ["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home", "--shell", shell]
            subprocess.run([*args, name], check=True)
        case Run(argv):
            subprocess.run(list(argv), check=True)
        case Remove(path, tree, only_symlink):
            if not (path.exists() or path.is_symlink()) or (only_symlink and not path.is_symlink()):
                return None
            if tree:
                shutil.rmtree(path)
            else:
                path.unlink()
    return describe(action)


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add `install` and `uninstall` to the `bcx` command's subcommands."""
    install = commands.add_parser("install", help="put the commands on the PATH and the services in place")
    uninstall = commands.add_parser("uninstall", help="undo `bcx install` (config and data stay unless --purge)")
    for parser in (install, uninstall):
        parser.add_argument("--root", metavar="DIR", default="/", help="do everything inside DIR (default /)")
        parser.add_argument(
            "--init",
            choices=(*INIT_SYSTEMS, "auto"),
            default="auto",
            help="init scripts (sysv) or units (systemd); auto: systemd if it is running",
        )
        parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"commands go to PREFIX/bin ({DEFAULT_PREFIX})")
        parser.add_argument("-n", "--dry-run", action="store_true", help="print what would be done, do nothing")
    uninstall.add_argument("--purge", action="store_true", help="also remove /etc/bcx, /var/log/bcx, /var/lib/bcx")
    install.set_defaults(run=run_install)
    uninstall.set_defaults(run=run_uninstall)


def run_install(args: argparse.Namespace) -> int:
    root, init, as_root = _target(args)
    bin_dir = Path(sys.executable).parent
    missing = [name for name in COMMANDS if not (bin_dir / name).exists()]
    if missing:
        print(
            f"bcx install: {', '.join(missing)} not found beside {sys.executable}; is BCX installed?", file=sys.stderr
        )
        return 1
    actions = plan_install(root, init, args.prefix, bin_dir, shipped_templates(), as_root)
    return _run(args, actions, f"installed BCX ({init}) into {root}")


def run_uninstall(args: argparse.Namespace) -> int:
    root, init, _ = _target(args)
    return _run(args, plan_uninstall(root, init, args.prefix, args.purge), f"uninstalled BCX from {root}")


def _target(args: argparse.Namespace) -> tuple[Path, str, bool]:
    root = Path(os.path.abspath(args.root))
    as_root = os.geteuid() == 0
    if root == Path("/") and not as_root and not args.dry_run:
        raise SystemExit(f"bcx {args.command}: changing / needs root (or use --root DIR, or --dry-run)")
    return root, detect_init() if args.init == "auto" else args.init, as_root


def _run(args: argparse.Namespace, actions: list[Action], done: str) -> int:
    if args.dry_run:  # marked on every line: a dry run must never be mistaken for a real one
        print(f"dry run: bcx {args.command} would do this, and did nothing:")
        for action in actions:
            print(f"(dry run) {describe(action)}")
        return 0
    failures = apply(actions)
    print(f"{done}" if not failures else f"bcx {args.command}: {failures} step(s) failed", flush=True)
    return 1 if failures else 0
