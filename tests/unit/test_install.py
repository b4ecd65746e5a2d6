"""`bcx install`: the plan (pure), then real runs into a temporary root; the shipped service files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bcx import install
from bcx.install import (
    COMMANDS,
    DAEMONS,
    CreateUser,
    MakeDir,
    Remove,
    Run,
    Symlink,
    WriteFile,
    plan_install,
    plan_uninstall,
    shipped_templates,
)

BIN = Path(sys.executable).parent
SERVICES = Path(install.__file__).parent / "services"


def kinds(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def test_plan_into_a_directory_touches_nothing_of_the_system(tmp_path):
    actions = plan_install(tmp_path, "sysv", "/opt/bcx", BIN, shipped_templates(), as_root=True)
    assert not kinds(actions, CreateUser) and not kinds(actions, Run)
    assert all(a.owner is None for a in kinds(actions, MakeDir))
    assert {a.path for a in kinds(actions, Symlink)} == {tmp_path / "opt/bcx/bin" / name for name in COMMANDS}
    files = {a.path: a for a in kinds(actions, WriteFile)}
    assert files[tmp_path / "etc/bcx/bcx.conf"].keep_existing
    script = files[tmp_path / "etc/init.d/bcx-tracker"]
    assert script.mode == 0o755 and "DAEMON=$ROOT/opt/bcx/bin/$NAME" in script.text
    assert tmp_path / "etc/logrotate.d/bcx" in files
    assert {tmp_path / "var/log/bcx", tmp_path / "var/lib/bcx"} <= {a.path for a in kinds(actions, MakeDir)}


def test_plan_on_the_system_creates_the_user_and_registers():
    sysv = plan_install(Path("/"), "sysv", "/usr/local", BIN, shipped_templates(), as_root=True)
    assert sysv[0] == CreateUser("bcx", "/var/lib/bcx")
    assert kinds(sysv, Run) == [Run(("update-rc.d", d, "defaults")) for d in DAEMONS]
    assert MakeDir(Path("/var/log/bcx"), "bcx") in sysv
    systemd = plan_install(Path("/"), "systemd", "/usr", BIN, shipped_templates(), as_root=True)
    assert kinds(systemd, Run) == [Run(("systemctl", "daemon-reload")), Run(("systemctl", "enable", *DAEMONS))]
    unit = next(a for a in kinds(systemd, WriteFile) if a.path == Path("/etc/systemd/system/bcx-web.service"))
    assert "ExecStart=/usr/bin/bcx-web " in unit.text
    # commands installed into the prefix itself (pip install --prefix): nothing to link
    assert not kinds(plan_install(Path("/"), "sysv", str(BIN.parent), BIN, shipped_templates(), True), Symlink)


def test_plan_uninstall(tmp_path):
    keep = plan_uninstall(tmp_path, "sysv", "/usr/local", purge=False)
    assert not kinds(keep, Run) and all(not a.tree for a in kinds(keep, Remove))
    assert all(a.only_symlink for a in kinds(keep, Remove) if "/bin/" in str(a.path))
    purge = plan_uninstall(tmp_path, "sysv", "/usr/local", purge=True)
    assert {a.path for a in kinds(purge, Remove) if a.tree} == {
        tmp_path / "etc/bcx",
        tmp_path / "var/log/bcx",
        tmp_path / "var/lib/bcx",
    }
    on_system = plan_uninstall(Path("/"), "systemd", "/usr/local", purge=False)
    assert on_system[0] == Run(("systemctl", "disable", "--now", *DAEMONS))


def bcx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bcx"), *args], capture_output=True, text=True, timeout=60)


def test_install_and_uninstall_in_a_directory(tmp_path):
    (tmp_path / "etc/bcx").mkdir(parents=True)
    (tmp_path / "etc/bcx/bcx.conf").write_text("[redis]\nprefix = mine\n")
    (tmp_path / "usr/local/bin").mkdir(parents=True)
    (tmp_path / "usr/local/bin/bcx-replay").write_text("not ours")  # a real file where a link would go
    done = bcx("install", "--root", str(tmp_path), "--init", "sysv")
    assert done.returncode == 1 and "bcx-replay is a real file, not ours" in done.stdout
    assert (tmp_path / "etc/bcx/bcx.conf").read_text() == "[redis]\nprefix = mine\n"  # never overwritten
    assert (tmp_path / "usr/local/bin/bcx-replay").read_text() == "not ours"
    assert (tmp_path / "usr/local/bin/bcx-web").resolve() == (BIN / "bcx-web").resolve()
    assert (tmp_path / "etc/init.d/bcx-watcher").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "var/log/bcx").is_dir() and (tmp_path / "var/lib/bcx").is_dir()

    assert bcx("uninstall", "--root", str(tmp_path)).returncode == 0
    assert not (tmp_path / "etc/init.d/bcx-watcher").exists() and not (tmp_path / "usr/local/bin/bcx").exists()
    assert (tmp_path / "usr/local/bin/bcx-replay").exists() and (tmp_path / "etc/bcx/bcx.conf").exists()
    assert bcx("uninstall", "--root", str(tmp_path), "--purge").returncode == 0
    assert not (tmp_path / "etc/bcx").exists() and not (tmp_path / "var/log/bcx").exists()


def test_the_three_init_scripts_differ_only_in_name_and_description():
    def normalized(daemon):
        text = (SERVICES / "init.d" / daemon).read_text()
        return re.sub(r"(Provides:|Short-Description:|NAME=|DESC=).*", r"\1", text)

    tracker = normalized("bcx-tracker")
    assert normalized("bcx-watcher") == tracker and normalized("bcx-web") == tracker
    for key in ("Provides", "Required-Start", "Required-Stop", "Default-Start", "Default-Stop", "Short-Description"):
        assert f"# {key}:" in tracker
    assert 'STOP_SCHEDULE="TERM/30/KILL/5"' in tracker
    assert subprocess.run(["sh", "-n", str(SERVICES / "init.d/bcx-tracker")], timeout=30).returncode == 0


def test_repository_paths_point_at_the_shipped_files():
    top = Path(__file__).parents[2]
    for daemon in DAEMONS:
        assert (top / "init.d" / daemon).resolve() == (SERVICES / "init.d" / daemon).resolve()
        assert (top / "conf/systemd" / f"{daemon}.service").resolve() == (SERVICES / f"systemd/{daemon}.service")
    assert (top / "conf/logrotate/bcx").resolve() == SERVICES / "logrotate/bcx"


def test_systemd_units_verify(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): units not verified")
    # --prefix the virtualenv, so that ExecStart names commands that exist on this machine
    assert bcx("install", "--root", str(tmp_path), "--init", "systemd", "--prefix", str(BIN.parent)).returncode == 0
    units = sorted(str(p) for p in (tmp_path / "etc/systemd/system").glob("bcx-*.service"))
    assert len(units) == 3
    checked = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


def test_a_dry_run_says_so_on_every_line_and_touches_nothing(tmp_path):
    done = bcx("install", "--root", str(tmp_path), "--init", "sysv", "--dry-run")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[0].startswith("dry run: bcx install would do this, and did nothing")
    assert len(lines) > 3 and all(line.startswith("(dry run) ") for line in lines[1:])
    assert list(tmp_path.iterdir()) == []
