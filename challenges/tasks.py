"""Celery tasks of case imports, on the `imaging` queue: one per batch of files (one per series
for multi-file cases), run by imaging workers beside the importing processes
(`challenges.services_import`). They take ids and names and call a service."""

from celery import shared_task

IMPORT_BATCH_TASK = "challenges.import_batch"
IMPORT_SWEEP_TASK = "challenges.import_batches_sweep"
IMAGING_QUEUE = "imaging"


@shared_task(name=IMPORT_BATCH_TASK, acks_late=True, reject_on_worker_lost=True)
def import_batch(job: str, phase_pk: int, path: str, index: int, cases: list[list]) -> None:
    from challenges.services_import import import_batch_execute

    import_batch_execute(job=job, phase_pk=phase_pk, path=path, index=index, cases=cases)


@shared_task(name=IMPORT_SWEEP_TASK, acks_late=True)
def import_batches_sweep() -> None:
    from challenges.services_import import import_batches_sweep as sweep

    sweep()


def enqueue_import_batch(*, job: str, phase_pk: int, path: str, index: int,
                         cases: list[list]) -> None:
    import_batch.apply_async(args=[job, phase_pk, path, index, cases], queue=IMAGING_QUEUE)
