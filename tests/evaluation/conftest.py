import pytest

from challenges.models import Phase
from evaluation import services


@pytest.fixture
def fake_sandbox(settings, monkeypatch):
    """The fake sandbox, and the Celery hand-offs replaced by direct calls (unit tests only;
    tests/e2e runs the real worker and docker engine)."""
    from evaluation.services.ranking import phase_ranking_update
    from evaluation.services.scoring import phase_reevaluate
    from evaluation.services.shards import shard_execute

    settings.SANDBOX_BACKEND = "sandbox.backends.fake.FakeBackend"
    monkeypatch.setattr("evaluation.tasks.enqueue_run",
                        lambda pk, queue, **_: services.submission_execute(submission_id=pk))
    monkeypatch.setattr("evaluation.tasks.enqueue_shard",
                        lambda pk, queue, **_: shard_execute(shard_id=pk))
    monkeypatch.setattr("evaluation.tasks.enqueue_score",
                        lambda pk: services.submission_score(submission_id=pk))
    monkeypatch.setattr("evaluation.tasks.enqueue_ranking",
                        lambda pk: phase_ranking_update(phase_id=pk))
    monkeypatch.setattr("evaluation.tasks.enqueue_reevaluate",
                        lambda pk, actor: phase_reevaluate(phase=Phase.objects.get(pk=pk)))
