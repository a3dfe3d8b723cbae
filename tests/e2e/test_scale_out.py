"""Scale-out for real: two worker nodes share the queue, and a node killed mid-run (SIGKILL)
loses nothing — the sweeper requeues its run, the other node runs it, it is scored once."""

import io
import time

import pytest
from django.core.management import call_command

from evaluation.models import Result, Status, Submission
from evaluation.services.runs import runs_sweep
from tests.e2e.conftest import _save, upload_and_submit

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

SLOW_DOCKERFILE = """FROM enclave/base:bookworm
USER 1000:1000
CMD ["python3", "-c", "import json, time; time.sleep({seconds}); \\
m = json.load(open('/input/manifest.json')); \\
json.dump({{c['id']: {{'score': 0.5}} for c in m['cases']}}, open('/output/predictions.json', 'w'))"]
"""


def slow_image(docker_client, tmp_path_factory, seconds: int):
    tag = f"enclave-test/e2e-sleep-{seconds}:latest"
    dockerfile = SLOW_DOCKERFILE.format(seconds=seconds).encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return _save(docker_client, tag, tmp_path_factory.mktemp("slow") / f"sleep-{seconds}.tar")


@pytest.fixture(scope="module")
def sleep_2(docker_client, tmp_path_factory):
    return slow_image(docker_client, tmp_path_factory, 2)


@pytest.fixture(scope="module")
def sleep_15(docker_client, tmp_path_factory):
    return slow_image(docker_client, tmp_path_factory, 15)


@pytest.fixture
def two_nodes(workers, phantom_world, settings):
    for name in ("node-a", "node-b"):
        workers.start(name, ENCLAVE_HEARTBEAT_SECONDS="1")
    return workers


def wait_for(predicate, timeout: float = 300, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError("condition not met in time")


def test_runs_spread_over_two_nodes(two_nodes, phantom_world, sleep_2):
    ids = [upload_and_submit(phantom_world, sleep_2, "test") for _ in range(4)]

    wait_for(lambda: Submission.objects.filter(pk__in=ids, status=Status.SUCCEEDED).count() == 4)

    nodes = set(Submission.objects.filter(pk__in=ids).values_list("node", flat=True))
    assert nodes == {"node-a", "node-b"}


def leftovers(docker_client, work_root: str, node: str) -> tuple[int, list[str]]:
    """The node's run containers and mounted output areas."""
    containers = docker_client.containers.list(
        all=True, filters={"label": ["enclave.sandbox=run", f"enclave.node={node}"]})
    with open("/proc/mounts") as mounts:
        mounted = [line.split()[1] for line in mounts
                   if line.split()[1].startswith(f"{work_root}/enclave-run-{node}-")]
    return len(containers), mounted


def test_a_node_killed_mid_run_loses_nothing(two_nodes, phantom_world, sleep_15, docker_client,
                                             settings):
    submission_id = upload_and_submit(phantom_world, sleep_15, "test")
    wait_for(lambda: Submission.objects.get(pk=submission_id).status == Status.RUNNING)
    victim = Submission.objects.get(pk=submission_id).node
    # claimed is not yet started: kill the node once its container runs
    wait_for(lambda: leftovers(docker_client, settings.SANDBOX_WORK_ROOT, victim)[0] == 1)

    two_nodes.kill(victim)
    # The beat schedule runs the sweeper each minute; here it runs until the heartbeat is stale.
    wait_for(lambda: runs_sweep(stale_after_s=3)["requeued"] == 1, timeout=60, poll=1)
    wait_for(lambda: Submission.objects.get(pk=submission_id).status in (
        Status.SUCCEEDED, Status.FAILED), timeout=300)

    submission = Submission.objects.get(pk=submission_id)
    assert submission.status == Status.SUCCEEDED
    assert submission.attempts == 2
    assert submission.node != victim and submission.run.node == submission.node
    assert Result.objects.filter(submission=submission).count() == 1
    out = io.StringIO()
    call_command("sweep_runs", stdout=out)
    assert out.getvalue().strip() == "requeued 0, failed 0"
    # The dead node left its container and /output mount; restarting it reaps them.
    assert leftovers(docker_client, settings.SANDBOX_WORK_ROOT, victim)[0] == 1
    two_nodes.start(victim, ENCLAVE_HEARTBEAT_SECONDS="1")
    wait_for(lambda: leftovers(docker_client, settings.SANDBOX_WORK_ROOT, victim) == (0, []),
             timeout=60)


def test_a_sharded_run_spreads_over_nodes_and_survives_losing_one(two_nodes, phantom_world,
                                                                   sleep_15, docker_client,
                                                                   settings):
    from challenges.models import Phase
    from evaluation.models import RunShard

    Phase.objects.filter(slug="test").update(shards=2)
    submission_id = upload_and_submit(phantom_world, sleep_15, "test")
    shards = RunShard.objects.filter(submission_id=submission_id)
    wait_for(lambda: shards.filter(state=RunShard.State.RUNNING).count() == 2)
    nodes = set(shards.values_list("node", flat=True))
    assert nodes == {"node-a", "node-b"}  # one part per worker, in parallel

    victim = shards.get(index=0).node
    two_nodes.kill(victim)
    wait_for(lambda: runs_sweep(stale_after_s=3)["requeued"] == 1, timeout=60, poll=1)
    wait_for(lambda: Submission.objects.get(pk=submission_id).status in (
        Status.SUCCEEDED, Status.FAILED), timeout=300)

    submission = Submission.objects.get(pk=submission_id)
    assert submission.status == Status.SUCCEEDED
    assert submission.attempts == 1
    assert sorted(shards.values_list("index", "attempts")) == [(0, 2), (1, 1)]
    assert set(shards.values_list("node", flat=True)) == nodes - {victim}
    assert Result.objects.filter(submission=submission).count() == 1
    assert submission.case_results.count() == 24
    two_nodes.start(victim, ENCLAVE_HEARTBEAT_SECONDS="1")  # it reaps what its death left
    wait_for(lambda: leftovers(docker_client, settings.SANDBOX_WORK_ROOT, victim) == (0, []),
             timeout=60)
