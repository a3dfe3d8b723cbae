"""Celery tasks: each takes an id and calls a service. Enqueue them only after commit."""

from celery import shared_task

from evaluation import services

RUN_TASK = "evaluation.submission_run"
SCORE_TASK = "evaluation.submission_score"


@shared_task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True)
def submission_run(submission_id: int) -> None:
    services.submission_execute(submission_id=submission_id)


@shared_task(name=SCORE_TASK, acks_late=True, reject_on_worker_lost=True)
def submission_score(submission_id: int) -> None:
    services.submission_score(submission_id=submission_id)


def enqueue_run(submission_id: int, queue: str) -> None:
    submission_run.apply_async(args=[submission_id], queue=queue)


def enqueue_score(submission_id: int) -> None:
    submission_score.apply_async(args=[submission_id], queue="default")
