"""`enclave validate` passes the segmentation and detection example images out of the box, on a
challenge's public phantom cases with their exact masks and lesion centres."""

import subprocess

import pytest

from challenges.models import Challenge
from challenges.services import cases_import, phase_create
from challenges.truths import lesions_import, masks_import
from evaluation.services.specs import default_spec
from examples.phantom import build_phantom
from examples.phantom_truth import write_truth
from tests import factories
from tests.e2e.conftest import ROOT


@pytest.fixture(scope="session")
def example_image():
    built: set[str] = set()

    def build(name: str) -> str:
        if name not in built:
            subprocess.run([str(ROOT / "examples" / "build.sh"), name], check=True)
            built.add(name)
        return f"enclave-example/{name}:latest"

    return build


@pytest.fixture
def phantom_sanity(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    built = build_phantom(out, n_sanity=3, n_test=0)
    return built.sanity_dir, write_truth(out, "sanity")


@pytest.mark.docker
@pytest.mark.parametrize(("task_type", "labels"), [
    ("segmentation", ["background", "lesion"]), ("detection", ["lesion"])])
def test_the_example_passes_validate_on_the_public_cases(signed_in, world, cli, example_image,
                                                        phantom_sanity, task_type, labels):
    cases, truth = phantom_sanity
    challenge = factories.ChallengeFactory(
        society=world.society, slug=f"phantom-{task_type}", task_type=task_type, labels=labels,
        positive_label="", metric_spec=default_spec(task_type, labels))
    phase = phase_create(challenge=Challenge.objects.get(slug=f"phantom-{task_type}"), slug="sanity",
                         title="Sanity", is_hidden=False, wall_seconds=120, memory_mb=512)
    cases_import(phase=phase, path=cases)
    if task_type == "segmentation":
        masks_import(phase=phase, path=truth.masks_dir)
    else:
        lesions_import(phase=phase, path=truth.points)

    result = cli("validate", example_image(task_type), "--challenge", challenge.slug)

    assert result.code == 0, result.out + result.err
    what = "the masks are" if task_type == "segmentation" else "predictions.json is"
    assert f"{what} valid for all 3 cases ({task_type})" in result.out
