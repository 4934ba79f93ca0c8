"""Profiling a dataset on several processes (torchrun): shard the data, profile each shard, all-reduce.

Under torchrun (RANK and WORLD_SIZE set, WORLD_SIZE > 1) a DataLoader is re-built around an exact
shard sampler: rank r takes samples r, r + W, r + 2W, ... with no padding (DistributedSampler pads the
last round with repeated samples, which would count them twice). Every count of the profile is an exact
sum over samples, so after an all-reduce every rank holds the same totals as a single-process run over
the same samples.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import fields

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from .accumulate import Counts

_SUMMED = [f.name for f in fields(Counts) if f.name not in ("neurons", "spike_map", "traffic_terms", "step_spikes")]


class ExactShardSampler(DistributedSampler):
    """Samples ``rank::num_replicas`` of the dataset, in order, without the padding of
    DistributedSampler, so that the shards of all ranks are exactly the dataset."""

    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))


class Group:
    """The process group syops profiles in: an existing one, or one made from torchrun's environment."""

    def __init__(self, device: torch.device) -> None:
        self.created = False
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
            dist.init_process_group(backend)
            self.created = True
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.device = device if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.created and dist.is_initialized():
            dist.destroy_process_group()


def active_group(device: torch.device) -> Group | None:
    """A process group of more than one process, when running under torchrun or one already exists."""
    if dist.is_available() and dist.is_initialized():
        return Group(device) if dist.get_world_size() > 1 else None
    if not dist.is_available() or int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return None
    return Group(device)


def is_secondary_rank() -> bool:
    """Running as a rank other than 0 of a multi-process job (which prints nothing)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1 and dist.get_rank() != 0
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(os.environ.get("RANK", "0")) != 0


def shard(dataloader: Iterable, group: Group) -> Iterable:
    """This rank's part of ``dataloader``: an exact sample shard of a DataLoader's dataset, or every
    W-th batch of any other iterable."""
    if isinstance(dataloader, DataLoader):
        if isinstance(dataloader.sampler, DistributedSampler):
            return dataloader  # already sharded by the caller
        if not hasattr(dataloader.dataset, "__len__"):
            return _every_nth(dataloader, group)
        return DataLoader(
            dataloader.dataset,
            batch_size=dataloader.batch_size,
            sampler=ExactShardSampler(dataloader.dataset, group.world, group.rank),
            num_workers=dataloader.num_workers,
            collate_fn=dataloader.collate_fn,
            pin_memory=dataloader.pin_memory,
            drop_last=dataloader.drop_last,
        )
    return _every_nth(dataloader, group)


class _every_nth:
    def __init__(self, iterable: Iterable, group: Group) -> None:
        self.iterable, self.group = iterable, group

    def __iter__(self):
        for index, item in enumerate(self.iterable):
            if index % self.group.world == self.group.rank:
                yield item

    def __len__(self) -> int:
        return math.ceil((len(self.iterable) - self.group.rank) / self.group.world)  # type: ignore[arg-type]


def all_reduce_results(group: Group, keyed: dict[tuple, Counts], samples: int, flags: list[bool]):
    """Sum every rank's counts (rows matched by key), samples and flags; every rank gets the totals.
    Returns (counts by key, in a common order; samples; flags)."""
    gathered: list[list[tuple]] = [None] * group.world  # type: ignore[list-item]
    dist.all_gather_object(gathered, list(keyed))
    order: list[tuple] = []
    seen: set[tuple] = set()
    for keys in gathered:
        for key in keys:
            if key not in seen:
                seen.add(key)
                order.append(key)
    empty = Counts()
    values = torch.tensor(
        [[float(getattr(keyed.get(key, empty), name)) for name in _SUMMED] for key in order]
        + [[float(samples)] + [0.0] * (len(_SUMMED) - 1)]
        + [[float(f) for f in flags] + [0.0] * (len(_SUMMED) - len(flags))],
        dtype=torch.float64,
        device=group.device,
    )
    dist.all_reduce(values)
    # per row: neurons, time steps of its per-step spikes, and whether a rank that ran it has none
    shapes = torch.tensor([_shape_of(keyed.get(key)) for key in order], dtype=torch.int64, device=group.device)
    dist.all_reduce(shapes, op=dist.ReduceOp.MAX)
    neurons = shapes[:, 0] if len(order) else shapes
    rows = values.cpu().tolist()
    merged: dict[tuple, Counts] = {}
    for index, key in enumerate(order):
        counts = Counts(**{name: rows[index][i] for i, name in enumerate(_SUMMED)})
        counts.calls = int(counts.calls)
        counts.neurons = int(neurons[index]) or None
        counts.traffic_terms = None  # each rank's terms stay on that rank: no repricing of a merged report
        local = keyed.get(key)
        if counts.neurons:
            spike_map = local.spike_map if local is not None and local.spike_map is not None else None
            mine = spike_map is not None and spike_map.numel() == counts.neurons
            buffer = (
                spike_map.reshape(-1).to(group.device, torch.float64).clone()
                if mine
                else torch.zeros(counts.neurons, dtype=torch.float64, device=group.device)
            )
            dist.all_reduce(buffer)
            counts.spike_map = buffer.view(spike_map.shape) if mine else buffer
        steps, missing = int(shapes[index, 1]), bool(shapes[index, 2])
        if steps and not missing:
            given = local.step_spikes if local is not None and local.step_spikes is not None else [0.0] * steps
            per_step = torch.tensor(given, dtype=torch.float64, device=group.device)
            dist.all_reduce(per_step)
            counts.step_spikes = per_step.cpu().tolist()
        merged[key] = counts
    total_samples = int(rows[len(order)][0])
    total_flags = [rows[len(order) + 1][i] > 0 for i in range(len(flags))]
    return merged, total_samples, total_flags


def _shape_of(counts: Counts | None) -> list[int]:
    if counts is None:
        return [0, 0, 0]
    steps = counts.step_spikes
    return [counts.neurons or 0, len(steps) if steps else 0, int(bool(counts.neurons) and steps is None)]
