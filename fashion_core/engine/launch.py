"""Multi-process training with detectron2's ``launch``: DDP over the GPUs of one or several machines.

On GPUs this is detectron2's ``launch`` unchanged (NCCL). Without CUDA, detectron2 0.6's worker
refuses to start (it asserts CUDA and picks NCCL), and its ``create_ddp_model`` passes
``device_ids`` that DDP rejects for CPU modules; ``--num-gpus N`` then starts N CPU processes with
the gloo backend instead, so the distributed path is tested on any machine (tests/engine/test_launch.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from detectron2.engine import launch
from detectron2.utils import comm

TIMEOUT = timedelta(minutes=30)


def launch_training(
    main_func: Callable[..., Any],
    *,
    num_gpus: int = 1,
    num_machines: int = 1,
    machine_rank: int = 0,
    dist_url: str = "auto",
    args: tuple[Any, ...] = (),
) -> None:
    """Run ``main_func(*args)`` in ``num_gpus`` processes on each of ``num_machines`` machines.

    ``dist_url``: ``tcp://host:port`` of machine 0 (the same on every machine), or ``auto`` (a free
    local port; one machine only). One process in all: ``main_func`` runs in this process.
    """
    if num_gpus < 1 or num_machines < 1 or not 0 <= machine_rank < num_machines:
        raise ValueError(
            f"--num-gpus and --num-machines must be >= 1 and --machine-rank in [0, {num_machines}) but got "
            f"{num_gpus}, {num_machines} and {machine_rank}"
        )
    if num_machines > 1 and dist_url == "auto":
        raise ValueError("--dist-url auto works on one machine; give tcp://<machine 0>:<port> on every machine")
    world_size = num_gpus * num_machines
    if world_size == 1 or torch.cuda.is_available():
        launch(main_func, num_gpus, num_machines, machine_rank, dist_url, args=args, timeout=TIMEOUT)
        return
    if dist_url == "auto":
        dist_url = f"tcp://127.0.0.1:{_free_port()}"
    mp.spawn(
        _cpu_worker,
        nprocs=num_gpus,
        args=(main_func, world_size, num_gpus, machine_rank, dist_url, args),
        daemon=False,
    )


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_worker(
    local_rank: int,
    main_func: Callable[..., Any],
    world_size: int,
    num_per_machine: int,
    machine_rank: int,
    dist_url: str,
    args: tuple[Any, ...],
) -> None:
    """detectron2's ``_distributed_worker`` with gloo and no CUDA: same process groups, same barrier."""
    import detectron2.engine.defaults as d2_defaults

    global_rank = machine_rank * num_per_machine + local_rank
    dist.init_process_group("gloo", init_method=dist_url, world_size=world_size, rank=global_rank, timeout=TIMEOUT)
    for i in range(world_size // num_per_machine):
        group = dist.new_group(list(range(i * num_per_machine, (i + 1) * num_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    # DefaultTrainer wraps the model with create_ddp_model, which sets device_ids=[local rank]; DDP
    # takes device_ids=None for a CPU module. This worker process only exists for CPU training.
    create_ddp_model = d2_defaults.create_ddp_model
    d2_defaults.create_ddp_model = lambda model, **kw: create_ddp_model(model, device_ids=None, **kw)
    comm.synchronize()
    try:
        main_func(*args)
    finally:
        dist.destroy_process_group()
