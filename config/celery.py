"""The Celery application. Queues: `default` (scoring, bookkeeping), one per sandbox resource class,
and `imaging` (de-identification of large case imports, `challenges.tasks`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("enclave")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
