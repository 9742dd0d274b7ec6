"""A throwaway PostgreSQL cluster for the warehouse's server leg.

`initdb` into a temp dir, `pg_ctl start` on a free loopback port with the unix socket
inside that dir, trust auth and no fsync; `stop()` kills it and removes the dir. As root
the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says why and what to install."""


def find_pg_bin() -> Path:
    """The folder holding `initdb` and `pg_ctl`: PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent  # /usr/local/bin links into the real folder
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(v) if (v := Path(p).parent.name).isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    raise PostgresUnavailable(
        "no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin; install the server "
        "(Debian: apt-get install postgresql) or set TWIN_TEST_POSTGRES_URL"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One cluster; `start()` then `url` (as the superuser, database `postgres`)."""

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.as_root = os.geteuid() == 0
        self.root: Path | None = None
        self.port = 0
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def start(self, attempts: int = 3) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        data, sockets = self.root / "data", self.root / "sock"
        sockets.mkdir()
        if self.as_root:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root but `runuser` is missing")
            try:
                shutil.chown(self.root, SUPERUSER, SUPERUSER)
                shutil.chown(sockets, SUPERUSER, SUPERUSER)
            except (LookupError, PermissionError) as exc:
                raise PostgresUnavailable(
                    f"running as root needs a `{SUPERUSER}` OS user to own the cluster ({exc})"
                ) from exc
        self._run(
            "initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        last_error = ""
        for _ in range(attempts):  # the free port may be taken between probe and bind
            self.port = free_port()
            options = self._options()
            log = self.root / "server.log"
            try:
                self._run(
                    "pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60",
                    "start",
                )  # fmt: skip
                self.running = True
                return
            except PostgresUnavailable as exc:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                last_error = f"{exc}\n{tail}"
        raise PostgresUnavailable(f"pg_ctl start failed {attempts} times:\n{last_error}")

    def kill(self) -> None:
        """Stop the server at once, as a crash would (its files stay: `restart()`)."""
        assert self.root is not None and self.running
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        self.running = False

    def restart(self) -> None:
        """Start the killed server again, on the same port."""
        assert self.root is not None and not self.running
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.root / "data"), "-l", log, "-o", self._options(), "-w",
            "start",
        )  # fmt: skip
        self.running = True

    def _options(self) -> str:
        assert self.root is not None
        return (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.root / 'sock'} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c autovacuum=off"
        )

    def stop(self) -> None:
        """Idempotent: stop the server (fast) and remove the cluster's files."""
        if self.running and self.root is not None:
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
            self.running = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", SUPERUSER, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, cwd=self.root, check=False
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-2000:]
            raise PostgresUnavailable(f"{' '.join(command)} exited {done.returncode}: {output}")
