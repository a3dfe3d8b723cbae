import pytest

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def test_tcp(attack, listeners):
    run = attack("tcp")
    open("/tmp/adv-debug.txt", "a").write(repr((run.final, run.report, run.logs[:3000])) + "\n")
    assert run.final["status"] == "succeeded"
