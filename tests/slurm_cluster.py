"""A one-node Slurm cluster on this machine, for the cluster-submission test.

Debian 12 facts it relies on (Slurm 22.05, no systemd): munged runs as user munge;
slurmctld and slurmd run in the foreground as root. The configuration goes to
/etc/slurm/slurm.conf, where ``srun`` inside a job looks for it (SLURM_CONF does not
reach job steps); a file already there is moved aside and put back afterwards.
Every daemon it starts is stopped by PID, also when the test fails; every command
has a timeout.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "munged")


def unavailable_reason() -> str | None:
    """Why no cluster can be started here, or None."""
    if os.geteuid() != 0:
        return "the Slurm test starts daemons as root; run it as root (CI does)"
    if shutil.which("apt-get") is None and not all(shutil.which(b) for b in BINARIES):
        return "Slurm is not installed and there is no apt-get to install it"
    for port in (6817, 6818):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return f"port {port} is in use: another Slurm runs on this machine"
    return None


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a command with a timeout, raising with its output on failure."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def install() -> None:
    """Install Debian's Slurm and munge when missing, without starting their services."""
    if all(shutil.which(b) or Path(f"/usr/sbin/{b}").exists() for b in BINARIES):
        return
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:  # keep package scripts from starting daemons we do not track
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-q"], timeout=600, env=env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES], 900, env=env)
    finally:
        if not had_policy:
            policy.unlink(missing_ok=True)


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class Cluster:
    """Start munged, slurmctld and slurmd; stop exactly those processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.conf = Path("/etc/slurm/slurm.conf")
        self.backup = root / "slurm.conf.before"
        self.procs: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        if self.conf.exists():
            shutil.move(self.conf, self.backup)
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        (self.root / "spool").mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 2
        memory = max(1024, _memory_mb() - 2048)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=ggnbench-test",
                    f"SlurmctldHost={self.host}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "SchedulerType=sched/backfill",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "MinJobAge=600",  # finished jobs stay visible to squeue (status checks)
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'slurmd.log'}",
                    f"NodeName={self.host} CPUs={cpus} RealMemory={memory} State=UNKNOWN",
                    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _start(self, cmd: list[str]) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "w")  # noqa: SIM115 - lives with the process
        self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env))

    def start(self) -> None:
        """Start the daemons and wait until the node is idle."""
        self.write_config()
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            run(["mungekey", "--create", "--keyfile", str(key)], timeout=30)
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        self._start(["runuser", "-u", "munge", "--", "/usr/sbin/munged", "--foreground"])
        self._wait(lambda: run(["munge", "-n"], timeout=10).returncode == 0, "munged")
        self._start(["/usr/sbin/slurmctld", "-D", "-f", str(self.conf)])
        self._wait(lambda: run(["sinfo", "-h"], timeout=10, env=self.env), "slurmctld")
        self._start(["/usr/sbin/slurmd", "-D", "-f", str(self.conf)])

        def idle() -> bool:
            states = run(["sinfo", "-h", "-o", "%T"], timeout=10, env=self.env).stdout.split()
            return "idle" in states

        self._wait(idle, "slurmd (node idle)")

    def _wait(self, ready, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.args[0]} exited while waiting for {what}; see {self.root}"
                    )
            try:
                if ready():
                    return
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            time.sleep(1)
        raise RuntimeError(f"{what} did not come up within {timeout:.0f} s; see {self.root}")

    def stop(self) -> None:
        """Stop every process this cluster started, by PID, newest first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        self.conf.unlink(missing_ok=True)
        if self.backup.exists():
            shutil.move(self.backup, self.conf)
