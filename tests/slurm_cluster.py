"""A real single-node SLURM for tests: install, configure, start and stop it.

Debian's `slurmctld`, `slurmd`, `slurm-client` and `munge` are installed with apt when missing.
The cluster lives in one directory: `slurm.conf`, `gres.conf`, state, spool, logs, pid files and
munged's socket. Outside it, only the munge key is created (as the package would) when the machine
has none, and a link /run/slurm/conf points at the config for the commands that jobs run (see
`SlurmCluster.start`). The daemons run in the foreground of their own sessions and are stopped by
the pid files they write, with SIGKILL after a grace period, so a failed test leaves none running.

It needs root (slurmd runs jobs as their user, munged must run as the `munge` user) and no systemd.
Accounting is off (no slurmdbd), so `sacct` cannot report jobs: clients must use `squeue`, which
remembers finished jobs for `MinJobAge` seconds.

The node is this machine as `slurmd -C` describes it, plus one generic resource `gpu` whose
"device" is /dev/null. It is bookkeeping only: jobs that are given it still find no CUDA device and
run on the CPU; it lets a profile's GPU requests (`--gpus=1`, `--gres=gpu:1`) be accepted and
scheduled by a real slurmctld on a machine without a GPU.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
MIN_JOB_AGE = 600
PARTITION = "main"
# where SLURM's commands look for slurm.conf after $SLURM_CONF: the first, then the second (the
# link a configless slurmd makes to the config it fetched)
ETC_CONF = Path("/etc/slurm/slurm.conf")
RUN_CONF = Path("/run/slurm/conf")


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why (tests skip with it)."""


def run(cmd: list[str], timeout: float = 60, env: dict[str, str] | None = None, check: bool = True):
    """Run a command, capture its output as text, and raise with its output when it fails."""
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
    return proc


def missing_packages() -> list[str]:
    """The Debian packages of `PACKAGES` that are not installed."""
    missing = []
    for pkg in PACKAGES:
        proc = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
        if proc.returncode != 0 or "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def ensure_installed(timeout: float = 900) -> None:
    """Install missing packages with apt-get (non-interactive); raise SlurmUnavailable if not."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("a real SLURM needs root (slurmd, munged as the munge user)")
    missing = missing_packages()
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable(f"missing {', '.join(missing)} and there is no apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Wait for another apt/dpkg (the lock) rather than fail; daemons are not started by the
    # package scripts where policy-rc.d forbids it, and we start our own anyway.
    cmd = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=600",
        *missing,
    ]
    try:
        proc = run(cmd, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as err:
        raise SlurmUnavailable(f"apt-get install {' '.join(missing)} timed out") from err
    if proc.returncode != 0 or missing_packages():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SlurmUnavailable(
            f"apt-get install {' '.join(missing)} failed (exit {proc.returncode}): "
            + " | ".join(tail)
        )


def node_hardware() -> dict[str, str]:
    """This machine as slurmd sees it: NodeName, CPUs, Boards, Sockets..., RealMemory."""
    out = run(["slurmd", "-C"]).stdout
    first = out.strip().splitlines()[0]
    fields = dict(item.split("=", 1) for item in first.split())
    if "NodeName" not in fields or "CPUs" not in fields or "RealMemory" not in fields:
        raise SlurmUnavailable(f"cannot read this machine's hardware from `slurmd -C`: {first!r}")
    return fields


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_munge_key() -> None:
    """Create /etc/munge/munge.key (owned by munge, mode 0600) if this machine has none."""
    if MUNGE_KEY.exists():
        return
    MUNGE_KEY.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    run(["mungekey", "--create", f"--keyfile={MUNGE_KEY}"])
    munge = pwd.getpwnam("munge")
    os.chown(MUNGE_KEY.parent, munge.pw_uid, munge.pw_gid)
    os.chown(MUNGE_KEY, munge.pw_uid, munge.pw_gid)
    MUNGE_KEY.chmod(0o600)


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # the state follows the command name in parentheses, which may itself contain spaces
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


@dataclass
class Daemon:
    """One started daemon: its process handle and the pid file it writes."""

    name: str
    proc: subprocess.Popen
    pid_file: Path

    def pid(self) -> int:
        return _read_pid(self.pid_file) or self.proc.pid

    def stop(self, grace: float = 15) -> None:
        """SIGTERM the pid in the pid file (and the process we started), SIGKILL after `grace`."""
        pids = {self.pid(), self.proc.pid}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                if _alive(pid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.proc.poll()  # reap our child so that it does not linger as a zombie
                if not any(_alive(pid) for pid in pids):
                    return
                time.sleep(0.1)
        self.proc.poll()


@dataclass
class SlurmCluster:
    """A single-node SLURM whose files all live under `root`."""

    root: Path
    daemons: list[Daemon] = field(default_factory=list)
    hardware: dict[str, str] = field(default_factory=dict)
    ctld_port: int = 0

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def node_name(self) -> str:
        return self.hardware["NodeName"]

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment in which the SLURM commands talk to this cluster."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        # a test run inside a SLURM job must not leak that job's settings into its clients
        for key in [k for k in env if k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_"))]:
            if key != "SLURM_CONF":
                del env[key]
        return env

    def write_config(self) -> None:
        """Write slurm.conf and gres.conf for this machine, and make the directories they name."""
        self.hardware = node_hardware()
        for sub in ("etc", "state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.ctld_port = free_port()
        cpus = int(self.hardware["CPUs"])
        memory = int(self.hardware["RealMemory"])
        node = " ".join(
            f"{key}={self.hardware[key]}"
            for key in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore")
            if key in self.hardware
        )
        lines = [
            "# written by tests/slurm_cluster.py for one test session",
            "ClusterName=polfacetest",
            f"SlurmctldHost={self.node_name}(127.0.0.1)",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log_dir / 'slurmctld.log'}",
            f"SlurmdLogFile={self.log_dir / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # no systemd, no cgroups in a container: track processes by parent pid, bind nothing
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            # no slurmdbd: no accounting, so sacct knows nothing and squeue is the status source
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            # finished jobs stay visible to squeue this long (the executor's status checks)
            f"MinJobAge={MIN_JOB_AGE}",
            "ReturnToService=2",
            f"DefMemPerCPU={max(100, memory // cpus // 2)}",
            "GresTypes=gpu",
            f"NodeName={self.node_name} NodeAddr=127.0.0.1 {node} RealMemory={memory} "
            "Gres=gpu:1 State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        # a stand-in GPU (see the module docstring): slurmd 22.05 reports a gpu GRES without a
        # File as count 0 and the node goes INVAL, so /dev/null stands in for the device
        (self.root / "etc" / "gres.conf").write_text(
            f"NodeName={self.node_name} Name=gpu Count=1 File=/dev/null\n"
        )

    def _start(self, name: str, cmd: list[str], pid_file: Path) -> Daemon:
        out = open(self.log_dir / f"{name}.out", "ab")  # noqa: SIM115 - kept open by the daemon
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env(),
            start_new_session=True,
        )
        out.close()
        daemon = Daemon(name, proc, pid_file)
        self.daemons.append(daemon)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SlurmUnavailable(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            if _read_pid(pid_file):
                return daemon
            time.sleep(0.1)
        raise SlurmUnavailable(f"{name} wrote no pid file {pid_file}: {self.tail(name)}")

    def tail(self, name: str, lines: int = 8) -> str:
        """The last lines of a daemon's own log and its captured output, for error messages."""
        text = []
        for path in (self.log_dir / f"{name}.log", self.log_dir / f"{name}.out"):
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(text)

    def start_munged(self) -> None:
        ensure_munge_key()
        munge = pwd.getpwnam("munge")
        mdir = self.munge_socket.parent
        mdir.mkdir(exist_ok=True)
        os.chown(mdir, munge.pw_uid, munge.pw_gid)
        mdir.chmod(0o755)  # clients need to reach the socket; only munge may write here
        # munged wants the path to its socket readable and searchable by all, writable by none
        self.root.chmod(0o755)
        pid_file = mdir / "munged.pid"
        cmd = [
            "setpriv",
            f"--reuid={munge.pw_uid}",
            f"--regid={munge.pw_gid}",
            "--init-groups",
            "munged",
            "--foreground",
            f"--socket={self.munge_socket}",
            f"--pid-file={pid_file}",
            f"--log-file={mdir / 'munged.log'}",
            f"--seed-file={mdir / 'munged.seed'}",
            f"--key-file={MUNGE_KEY}",
        ]
        self._start("munged", cmd, pid_file)
        deadline = time.monotonic() + 10
        while not self.munge_socket.exists():
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"munged made no socket: {self.tail('munged')}")
            time.sleep(0.1)

    def start(self, timeout: float = 60) -> None:
        """Start munged, slurmctld and slurmd, and wait until the node is idle."""
        self.write_config()
        self.start_munged()
        self._start(
            "slurmctld",
            ["slurmctld", "-D", "-i", "-f", str(self.conf)],
            self.root / "run" / "slurmctld.pid",
        )
        # SLURM commands inside a job must find this cluster without $SLURM_CONF: the jobstep
        # executor (snakemake-executor-plugin-slurm-jobstep 0.6.1) drops SLURM_CONF, with every
        # other SLURM_* variable, from the environment of the `srun` that runs each rule. They then
        # read /etc/slurm/slurm.conf, else /run/slurm/conf/slurm.conf, the place where a configless
        # slurmd keeps the config it fetched. We link our config directory there.
        if RUN_CONF.is_symlink() and not self._link_in_use():
            RUN_CONF.unlink()  # left behind by a test session that was killed
        if RUN_CONF.exists() or RUN_CONF.is_symlink():
            raise SlurmUnavailable(
                f"{RUN_CONF} exists ({os.path.realpath(RUN_CONF)}): another SLURM uses it"
            )
        if ETC_CONF.exists():
            raise SlurmUnavailable(f"{ETC_CONF} exists and would hide this test cluster in jobs")
        RUN_CONF.parent.mkdir(parents=True, exist_ok=True)
        RUN_CONF.symlink_to(self.conf.parent)
        self._start(
            "slurmd", ["slurmd", "-D", "-f", str(self.conf)], self.root / "run" / "slurmd.pid"
        )
        self.wait_idle(timeout)

    @staticmethod
    def _link_in_use() -> bool:
        """Whether /run/slurm/conf belongs to a live cluster: not one of ours whose slurmd died."""
        target = Path(os.path.realpath(RUN_CONF))
        if not target.exists():
            return False
        pid = _read_pid(target.parent / "run" / "slurmd.pid")
        if target.parent.name.startswith("polface-slurm-") and not (pid and _alive(pid)):
            return False
        return True

    def node_state(self) -> str:
        proc = run(
            ["sinfo", "--noheader", "--Node", "--format=%T", "--nodes", self.node_name],
            env=self.env(),
            check=False,
            timeout=20,
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.node_state()
            if state == "idle":
                return
            for daemon in self.daemons:
                if daemon.proc.poll() is not None:
                    raise SlurmUnavailable(
                        f"{daemon.name} exited with {daemon.proc.returncode}: "
                        f"{self.tail(daemon.name)}"
                    )
            time.sleep(0.5)
        raise SlurmUnavailable(
            f"node {self.node_name} not idle after {timeout:.0f} s (state {state!r}): "
            f"{self.tail('slurmctld')} || {self.tail('slurmd')}"
        )

    def squeue(self, *args: str) -> list[list[str]]:
        """Rows of `squeue --noheader --format=%i|%j|%T|%k` (job id, name, state, comment)."""
        proc = run(
            ["squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%k", *args],
            env=self.env(),
            timeout=20,
        )
        return [line.split("|") for line in proc.stdout.splitlines() if line.strip()]

    def cancel_all(self, timeout: float = 30) -> None:
        """Cancel every job of this cluster and wait until none is left running."""
        run(["scancel", "--full", f"--partition={PARTITION}"], env=self.env(), check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [
                row
                for row in self.squeue()
                if row[2] in ("RUNNING", "PENDING", "COMPLETING", "CONFIGURING", "SUSPENDED")
            ]
            if not live:
                return
            time.sleep(0.5)

    def completed_job_ids(self) -> set[str]:
        """Job ids that slurmctld's log says finished ("_job_complete: JobId=N done")."""
        text = (self.log_dir / "slurmctld.log").read_text(errors="replace")
        return set(re.findall(r"_job_complete: JobId=(\d+) done", text))

    def stop(self) -> None:
        """Cancel the jobs, then stop slurmd, slurmctld and munged by their pid files."""
        try:
            if any(d.name == "slurmctld" and d.proc.poll() is None for d in self.daemons):
                self.cancel_all()
        except (subprocess.SubprocessError, OSError):
            pass
        finally:
            for daemon in reversed(self.daemons):
                daemon.stop()
            self.daemons.clear()
            # the link that start() made for commands inside jobs
            if RUN_CONF.is_symlink() and str(RUN_CONF.resolve()).startswith(str(self.root)):
                RUN_CONF.unlink()


def start_cluster(root: Path) -> SlurmCluster:
    """Install what is missing and start a cluster under `root`; on failure stop what started."""
    ensure_installed()
    cluster = SlurmCluster(root)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
