"""factory_boy factories for the models tests build on."""

import functools
import hashlib
from typing import Any

import factory
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Society, SocietyMembership, Team, TeamMembership, User
from accounts.services import api_token_create
from challenges.models import (
    Case,
    CaseFile,
    Challenge,
    GroundTruth,
    Phase,
    Registration,
    RegistrationStatus,
)
from evaluation.metrics.spec import default_binary_spec
from evaluation.models import AlgorithmImage

PASSWORD = "pw-for-tests"  # noqa: S105 - every factory user's password


@functools.cache
def _password_hash(hasher: str) -> str:
    """`hasher` (the default one) keys the cache; make_password uses it."""
    return make_password(PASSWORD)


def password_hash() -> str:
    """PASSWORD hashed once per hasher setting and shared by every factory user: a real hash that
    any process verifies (browser sign-ins go through gunicorn), without paying the hasher's
    deliberate slowness (about 0.5 s here) for each of the thousands of users tests create."""
    return _password_hash(settings.PASSWORD_HASHERS[0])


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.LazyFunction(password_hash)


class SocietyFactory(factory.django.DjangoModelFactory[Society]):
    class Meta:
        model = Society
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"society{n}")
    name = factory.LazyAttribute(lambda o: o.slug.upper())


class TeamFactory(factory.django.DjangoModelFactory[Team]):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"team{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class ChallengeFactory(factory.django.DjangoModelFactory[Challenge]):
    class Meta:
        model = Challenge

    society = factory.SubFactory(SocietyFactory)
    slug = factory.Sequence(lambda n: f"challenge{n}")
    title = "A challenge"
    labels = ["absent", "present"]
    positive_label = "present"
    is_published = True
    metric_spec = factory.LazyAttribute(lambda o: {
        **default_binary_spec(o.labels, o.positive_label),
        "bootstrap": {"resamples": 500, "confidence": 0.95, "seed": 0},
    })


class PhaseFactory(factory.django.DjangoModelFactory[Phase]):
    class Meta:
        model = Phase

    challenge = factory.SubFactory(ChallengeFactory)
    slug = "test"
    title = "Test"
    is_hidden = True


def society_member(society: Society, role: str, username: str | None = None) -> User:
    user = UserFactory(**({"username": username} if username else {}))
    SocietyMembership.objects.create(user=user, society=society, role=role)
    return user


def team_member(team: Team, username: str | None = None) -> User:
    user = UserFactory(**({"username": username} if username else {}))
    TeamMembership.objects.create(user=user, team=team, role="lead")
    return user


def register_team(challenge: Challenge, team: Team,
                  status: str = RegistrationStatus.APPROVED) -> Registration:
    """The team's registration for the challenge (approved unless told otherwise): only an
    approved team may submit."""
    registration, _created = Registration.objects.update_or_create(
        challenge=challenge, team=team, defaults={"status": status})
    return registration


def add_cases(phase: Phase, labels: list[str], *, prefix: str = "case") -> list[Case]:
    """Cases with one small stored file each and the given ground-truth labels."""
    cases = []
    for i, label in enumerate(labels):
        data = f"{prefix}-{i}".encode()
        sha = hashlib.sha256(data).hexdigest()
        key = f"cases/{sha[:2]}/{sha}"
        if not default_storage.exists(key):
            default_storage.save(key, ContentFile(data))
        case = Case.objects.create(phase=phase, case_id=f"{prefix}-{i:03d}", modality="CT")
        CaseFile.objects.create(case=case, name="image.dcm", kind="dicom", sha256=sha,
                                size_bytes=len(data), storage_key=key)
        GroundTruth.objects.create(case=case, version=phase.truth_version, value=label)
        cases.append(case)
    return cases


def image_record(team: Team, user: User, image_id: str = "sha256:" + "ab" * 32) -> AlgorithmImage:
    tarball = b"not used by fakes"
    key = default_storage.save(f"images/{image_id[7:]}.tar", ContentFile(tarball))
    return AlgorithmImage.objects.create(
        team=team, uploaded_by=user, image_id=image_id, user="1000", size_bytes=len(tarball),
        tarball_sha256=hashlib.sha256(tarball).hexdigest(), storage_key=key,
    )


def api_token_for(user: User, *, days: int | None = None) -> str:
    """A new API token for `user`; returns the raw key for `Authorization: Token <key>`."""
    _token, key = api_token_create(user=user, name="tests", days=days)
    return key


def api_client_for(user: User) -> Any:
    """A DRF test client that sends a fresh API token of `user`."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client


def refused(code: str, call: Any, **kwargs: Any) -> Any:
    """Call the service `call(**kwargs)`, which must refuse with a DomainError of `code`."""
    import pytest

    from config.errors import DomainError

    with pytest.raises(DomainError) as error:
        call(**kwargs)
    assert error.value.code == code, error.value.message
    return error.value


def login_verified(client: Any, user: User) -> TOTPDevice:
    """Log `client` in as `user` with a confirmed TOTP device, already verified for the session.

    Users with a society role or operators must pass two-factor authentication before any page
    works; this stands in for the password + code sign-in in tests about something else.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or (
        TOTPDevice.objects.create(user=user, name="default", confirmed=True))
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
