"""Distributed profiling: two gloo processes on CPU give rank 0 the totals of a single-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import syops
from syops.distributed import ExactShardSampler

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    sys.path.insert(0, {tests!r})
    import syops
    from distributed_model import build
    model, loader = build()
    report = syops.profile(model, dataloader=loader)
    if int(os.environ["RANK"]) == 0:
        print("REPORT" + report.to_json(indent=None))
    """
)


def test_exact_shards_cover_the_dataset_once():
    data = list(range(11))
    shards = [list(ExactShardSampler(data, 3, r)) for r in range(3)]
    assert sorted(i for shard in shards for i in shard) == data and [len(s) for s in shards] == [4, 4, 3]


def test_two_processes_match_one(tmp_path):
    tests = os.path.dirname(__file__)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=tests))
    # the syops under test (this checkout), not whichever one is installed
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([tests, os.path.dirname(tests)]))
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPORT"))
    distributed = json.loads(line[len("REPORT") :])

    sys.path.insert(0, tests)
    from distributed_model import build

    model, loader = build()
    single = syops.profile(model, dataloader=loader).to_dict()
    assert distributed["samples"] == single["samples"] == 11
    assert distributed["totals"] == single["totals"]
    assert distributed["layers"] == single["layers"]
    assert single["totals"]["acs"] > 0 and single["totals"]["macs"] > 0


def test_command_line_under_torchrun_prints_once_and_matches_one_process():
    tests = os.path.dirname(__file__)
    # the syops under test (this checkout), not whichever one is installed
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([tests, os.path.dirname(tests)]))
    args = ["profile", "distributed_model:model", "--data", "distributed_model:data", "--format", "json"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = subprocess.run(
        [*launcher, "-m", "syops.cli.main", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run(
        [sys.executable, "-m", "syops.cli.main", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.stdout.count('"syops_version"') == 1  # rank 0 alone prints
    distributed, single = json.loads(two.stdout), json.loads(one.stdout)
    assert distributed["samples"] == single["samples"] == 11
    assert distributed["totals"] == single["totals"] and distributed["layers"] == single["layers"]
