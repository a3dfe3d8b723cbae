"""factory_boy factories for the models tests build on."""

import hashlib

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import Society, SocietyMembership, Team, TeamMembership, User
from challenges.models import Case, CaseFile, Challenge, GroundTruth, Phase
from evaluation.metrics.spec import default_binary_spec
from evaluation.models import AlgorithmImage


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


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
    key = default_storage.save(f"images/{image_id[7:]}.tar", ContentFile(b"not used by fakes"))
    return AlgorithmImage.objects.create(
        team=team, uploaded_by=user, image_id=image_id, user="1000", size_bytes=1,
        tarball_sha256=image_id[7:], storage_key=key,
    )
