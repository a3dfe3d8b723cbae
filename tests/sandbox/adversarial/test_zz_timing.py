import time, pytest
from tests.sandbox.adversarial import conftest as c
pytestmark = [pytest.mark.docker, pytest.mark.e2e]

def test_t(celery_worker, attack_tarball, phantom):
    t=[time.monotonic()]
    tar = attack_tarball("well_behaved"); t.append(time.monotonic())
    w = c.build_world(phantom, c.DEFAULT_LIMITS); t.append(time.monotonic())
    sid = c.submit(w, tar); t.append(time.monotonic())
    f = c.wait_until_final(w.api, sid); t.append(time.monotonic())
    sid = c.submit(w, attack_tarball("tcp")); t.append(time.monotonic())
    f = c.wait_until_final(w.api, sid); t.append(time.monotonic())
    open("/tmp/adv-debug.txt","a").write(repr([round(b-a,2) for a,b in zip(t,t[1:])])+"\n")
