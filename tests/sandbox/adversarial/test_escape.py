"""Attacks on the network, the host's files and privileges: each one fails inside the sandbox.

Every attack here is harmless once contained, so its run succeeds; the attack's own report (in the
society-only logs) shows that it tried and how it was stopped. The conftest's `attack` fixture has
already checked the host and the team's views.
"""

import pytest

from tests.sandbox.adversarial.conftest import HOST_SECRET, assert_platform_still_serves

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
UNREACHABLE = {"OSError:ENETUNREACH", "OSError:EHOSTUNREACH", "TimeoutError", "OSError:EPERM"}


def test_tcp_to_loopback_and_to_a_bridge_gateway_never_arrives(attack, listeners):
    run = attack("tcp")

    assert run.final["status"] == "succeeded"
    assert run.report["interfaces"] == ["lo"]
    for (host, port) in listeners.tcp:
        tried = run.report["tcp"][f"{host}:{port}"]
        # the container's loopback is its own: nothing listens there
        expected = {"ConnectionRefusedError:ECONNREFUSED"} if host == "127.0.0.1" else UNREACHABLE
        assert tried in expected, (host, tried)
    assert listeners.hits == []


def test_udp_to_loopback_and_to_a_bridge_gateway_never_arrives(attack, listeners):
    run = attack("udp")

    assert run.final["status"] == "succeeded"
    sent = run.report["udp"]
    assert set(sent[f"{listeners.gateway}:{listeners.udp[1][1]}"]) <= UNREACHABLE
    # sent into the container's own loopback, where nothing listens
    assert set(sent[f"127.0.0.1:{listeners.udp[0][1]}"]) <= {"ok", "ConnectionRefusedError"}
    assert len(sent) == 2
    assert listeners.hits == []


def test_dns_lookups_resolve_nothing(attack):
    run = attack("dns")

    assert run.final["status"] == "succeeded"
    assert run.report["dns"]
    assert all(result.startswith("gaierror") for result in run.report["dns"].values())


def test_raw_and_packet_sockets_are_refused(attack, listeners):
    run = attack("raw_sockets")

    assert run.final["status"] == "succeeded"
    raw = run.report["raw"]
    assert raw["inet_raw_icmp"] == raw["inet_raw_tcp"] == raw["packet_raw"] == (
        "PermissionError:EPERM")
    # docker >= 20.10 lets any user open ICMP datagram ("ping") sockets: only loopback answers
    assert raw["inet_ping"] in {"ok", "PermissionError:EACCES"}
    assert run.report["ping"][listeners.gateway] in UNREACHABLE | {"PermissionError:EACCES"}
    assert listeners.hits == []


def test_the_inputs_are_read_only(attack):
    run = attack("write_input")  # the conftest checks the stored case files are unchanged

    assert run.final["status"] == "succeeded"
    assert set(run.report["input"].values()) <= {"OSError:EROFS", "PermissionError:EACCES",
                                                 "PermissionError:EPERM"}


def test_proc_and_sys_show_only_the_container_and_cannot_be_written(attack):
    run = attack("proc_and_sys")

    assert run.final["status"] == "succeeded"
    assert HOST_SECRET not in run.logs  # in the worker's environment, not in any /proc/*/environ
    assert len(run.report["pids"]) <= 3  # its own processes only
    assert all("attack.py" in cmd or cmd.startswith("FileNotFound") for cmd in
               run.report["cmdlines"])
    assert set(run.report["writes"].values()) <= {"OSError:EROFS", "PermissionError:EACCES",
                                                  "FileNotFoundError:ENOENT"}


def test_mount_unshare_chroot_setns_fail_and_ptrace_stays_inside(attack):
    run = attack("mount_unshare_ptrace")

    assert run.final["status"] == "succeeded"
    tries = run.report["tries"]
    for name in ("mount_tmpfs", "mount_proc", "remount_root_rw", "unshare_user", "unshare_mount",
                 "unshare_net", "chroot", "setns_pid1_mnt", "setuid_0"):
        assert tries[name] in {"OSError:EPERM", "PermissionError:EPERM"}, (name, tries[name])
    assert tries["mount_binary"] == "CalledProcessError"  # setuid mount(8): no privileges
    assert len(run.report["pids"]) <= 3  # whatever ptrace reaches is inside the sandbox


def test_there_is_no_docker_socket_to_find(attack):
    run = attack("docker_socket")

    assert run.final["status"] == "succeeded"
    assert run.report["sockets"] == []
    assert not any(run.report["known"].values())
    assert set(run.report["tcp"].values()) == {"ConnectionRefusedError:ECONNREFUSED"}
    assert run.report["docker_host"] is None


def test_a_setuid_root_binary_gains_nothing(attack):
    run = attack("setuid_binary")

    assert run.final["status"] == "succeeded"
    assert (run.report["suid_mode"], run.report["suid_owner"]) == ("0o104755", 0)  # really suid
    assert run.report["ids"] == ["1000", "1000"]  # no-new-privileges: euid stays the user's
    assert "PermissionError" in run.report["setuid_error"][0]
    assert run.report["shadow"] == "PermissionError:EACCES"
    assert run.report["su"] != 0


def test_the_platform_still_serves_a_well_behaved_submission(attack):
    assert_platform_still_serves(attack)
