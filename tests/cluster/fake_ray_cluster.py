"""A local simulated multi-node Ray cluster with an autoscaler (Ray's fake multi-node provider).

``RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config=...`` with ``provider.type:
fake_multinode``: when trials wait for GPUs, the autoscaler "launches" worker nodes of the file's
types as extra raylets on this machine, each advertising the type's (fake) GPUs. Trials scheduled
there see ``CUDA_VISIBLE_DEVICES`` set but no CUDA, and train on the CPU.

Everything lives under one short temporary folder (Unix socket paths must stay < 107 chars): Ray's
session files (``RAY_TMPDIR``), and a ``HOME`` holding the autoscaling config as
``~/ray_bootstrap_config.yaml`` -- where ``ray up`` leaves it on a real head node. Teardown kills
exactly this cluster's processes, by id (``ray stop`` would kill every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RAY_CLI = Path(sys.executable).with_name("ray")
# The head node type the fake provider always calls its head.
FAKE_HEAD_TYPE = "ray.head.default"


def fake_autoscaling_config(cluster_yaml: Path, port: int, cpus_per_gpu: int = 2, max_nodes: int = 2) -> dict:
    """``cluster.yaml``'s worker types (names, GPUs per node) on the fake provider, scaled to this machine.

    A node gets ``cpus_per_gpu`` CPUs per GPU (a CPU-free head, as in cluster.yaml) and each type at
    most ``max_nodes`` nodes. Every key the autoscaler reads is present: it takes the file as is,
    without ``ray up``'s defaults.
    """
    source = yaml.safe_load(cluster_yaml.read_text())
    head = source["head_node_type"]
    head_type = {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0}
    node_types: dict[str, Any] = {FAKE_HEAD_TYPE: head_type}
    for name, node_type in source["available_node_types"].items():
        if name == head:
            continue
        gpus = int(node_type["resources"]["GPU"])
        node_types[name] = {
            "resources": {"CPU": cpus_per_gpu * gpus, "GPU": gpus},
            "node_config": {},
            "min_workers": 0,
            "max_workers": min(int(node_type["max_workers"]), max_nodes),
        }
    return {
        "cluster_name": "fake-fashion-tune",
        "max_workers": max_nodes,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 5,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": f"127.0.0.1:{port}",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {},
        "docker": {},
        "head_node_type": FAKE_HEAD_TYPE,
        "available_node_types": node_types,
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeCluster:
    """One fake autoscaling cluster; :meth:`start`, then :meth:`stop` (always, even after a failure)."""

    def __init__(self, root: Path, autoscaling_config: Mapping[str, Any], port: int) -> None:
        self.root = root
        self.home = root / "home"
        self.temp_dir = root / "r"
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.home.mkdir(parents=True)
        self.temp_dir.mkdir()
        self.bootstrap = self.home / "ray_bootstrap_config.yaml"
        self.bootstrap.write_text(yaml.safe_dump(dict(autoscaling_config)))
        # Without CUDA_VISIBLE_DEVICES: Ray refuses to start a node with fake GPUs when it is set to ""
        # (as tests/conftest.py does). Ray sets it per trial; on a machine with real GPUs the trials
        # on fake GPU nodes would use them.
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "CUDA_VISIBLE_DEVICES") and not k.startswith("RAY_AUTH")}
        # Ray's token authentication, as Ray turns it on for a new cluster, with the cluster's own token in its HOME
        # (where `ray start` and every driver of it read it): not whatever an earlier ray.init() of this test
        # process left in its environment (RAY_AUTH_MODE without the token's file made `ray start` fail).
        token = self.home / ".ray" / "auth_token"
        token.parent.mkdir()
        token.touch(mode=0o600)
        token.write_text(secrets.token_hex(32))
        env.update({
            "HOME": str(self.home),
            "RAY_AUTH_MODE": "token",
            "RAY_TMPDIR": str(self.temp_dir),
            "RAY_FAKE_CLUSTER": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            # A fast autoscaler: look every second, give up on a silent node after 10 s.
            "AUTOSCALER_UPDATE_INTERVAL_S": "1",
            "AUTOSCALER_HEARTBEAT_TIMEOUT_S": "10",
            "AUTOSCALER_METRIC_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        })
        # What every process of this cluster (and the drivers run against it) gets.
        self.env = env

    def start(self) -> None:
        cmd = [
            str(RAY_CLI), "start", "--head",
            f"--port={self.port}",
            f"--temp-dir={self.temp_dir}",
            f"--autoscaling-config={self.bootstrap}",
            "--num-cpus=0", "--num-gpus=0",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            "--disable-usage-stats",
        ]
        # A session of its own, so that no signal meant for pytest's process group reaches the daemons.
        proc = subprocess.run(cmd, env=self.env, cwd=self.root, capture_output=True, text=True, timeout=120,
                              start_new_session=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def run_driver(self, code: str, timeout: float = 60) -> str:
        """Run a Python snippet connected to this cluster (``ray.init(address)``); its stdout."""
        prelude = f"import json, ray\nray.init(address={self.address!r}, log_to_driver=False)\n"
        proc = subprocess.run([sys.executable, "-c", prelude + code], env=self.env, cwd=self.root,
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"driver failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def worker_node_ids(self) -> list[str]:
        """Node ids of the live raylets the autoscaler added (the head's ends in 00000)."""
        return sorted(
            arg.split("=", 1)[1]
            for pid in self.pids()
            for arg in _cmdline(pid)
            if arg.startswith("--node_id=") and not arg.endswith("00000")
        )

    def kill_node(self, node_id: str) -> list[int]:
        """Take a worker node away at once, as a preempted spot instance goes: SIGKILL to its raylet
        and everything under it (the trial processes). Returns the pids killed."""
        raylets = [pid for pid in self.pids() if f"--node_id={node_id}" in _cmdline(pid)]
        if not raylets:
            raise LookupError(f"no raylet of node {node_id}")
        victims = [p for r in raylets for p in [r, *_descendants(r)]]
        for pid in victims:
            _kill(pid)
        return victims

    def pids(self) -> list[int]:
        """Every live process of this cluster: it has the cluster's folder on its command line, in its
        environment (RAY_TMPDIR) or among its open files (each Ray process logs into the session)."""
        root = str(self.root)
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            proc = Path("/proc") / entry
            try:
                if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                mine = root in proc.joinpath("cmdline").read_bytes().decode(errors="replace")
                mine = mine or f"RAY_TMPDIR={self.temp_dir}".encode() in proc.joinpath("environ").read_bytes()
                mine = mine or any(os.readlink(fd).startswith(root) for fd in proc.joinpath("fd").iterdir())
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if mine:
                found.append(int(entry))
        return found

    def stop(self) -> None:
        """End this cluster's processes (by id: SIGTERM, then SIGKILL) and remove its folder."""
        pids = self.pids()
        for pid in pids:
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pids and time.monotonic() < deadline:
            time.sleep(0.5)
            pids = self.pids()
        for _ in range(3):
            for pid in pids:
                _kill(pid)
            time.sleep(0.5)
            pids = self.pids()
            if not pids:
                break
        shutil.rmtree(self.root, ignore_errors=True)


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(children.get(child, []))
    return out


def _kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
