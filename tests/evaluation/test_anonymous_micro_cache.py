"""The anonymous readers' 1 s copy of public leaderboards (config/microcache.py).

An anonymous reader is answered from the worker's copy for at most ANONYMOUS_CACHE_SECONDS; a
signed-in reader, a token client and anything but a 200 always go through the view; every visitor
gets CSRF tokens of their own cookie.
"""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from challenges.models import Challenge, Phase
from config import microcache
from tests import factories
from tests.evaluation.test_leaderboard_cache import add_result, urls
from tests.evaluation.test_leaderboard_queries import scored_board


class Clock:
    """Stands in for time.monotonic in config.microcache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(settings, monkeypatch):
    settings.ANONYMOUS_CACHE_SECONDS = 1.0
    fake = Clock()
    monkeypatch.setattr(microcache.time, "monotonic", fake)
    microcache.forget_all()
    yield fake
    microcache.forget_all()


def queries_of(client: Client, url: str, **extra) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.content[:300]
    return len(queries), response.content


def teams_in(api_body: bytes) -> int:
    found = re.search(rb'"count":(\d+)', api_body)
    assert found is not None
    return int(found.group(1))


@pytest.mark.django_db
def test_anonymous_readers_get_the_copy_for_at_most_the_configured_seconds(clock, world):
    slug, phase_id = scored_board(world, 2)
    page_url, api_url = urls(slug)
    client = Client()
    for url in (page_url, api_url):
        first, _ = queries_of(client, url)
        again, _ = queries_of(client, url)
        assert first > 0 and again == 0  # the copy: no session, no view, no database

    add_result(world, Phase.objects.get(pk=phase_id), "late")
    clock.now += 0.5
    assert teams_in(queries_of(client, api_url)[1]) == 2  # still the copy, at most 1 s old
    clock.now += 0.6
    assert teams_in(queries_of(client, api_url)[1]) == 3  # older than 1 s: the view again


@pytest.mark.django_db
def test_signed_in_readers_and_token_clients_always_reach_the_view(clock, world, client):
    slug, _ = scored_board(world, 2)
    page_url, api_url = urls(slug)
    queries_of(Client(), page_url)  # an anonymous copy exists
    factories.login_verified(client, world.member)
    for _ in range(2):
        count, body = queries_of(client, page_url)
        assert count > 0 and b"alice" in body  # the member's own page, not the anonymous copy
    token = factories.api_token_for(world.member)
    for _ in range(2):
        count, _ = queries_of(Client(), api_url, HTTP_AUTHORIZATION=f"Token {token}")
        assert count > 0


@pytest.mark.django_db
def test_refusals_are_not_kept(clock, world):
    slug, _ = scored_board(world, 2)
    page_url, _ = urls(slug)
    Challenge.objects.filter(slug=slug).update(is_published=False)
    client = Client()
    assert client.get(page_url).status_code == 404
    Challenge.objects.filter(slug=slug).update(is_published=True)
    assert client.get(page_url).status_code == 200  # the 404 was not kept


@pytest.mark.django_db
def test_each_visitor_gets_working_csrf_tokens_of_their_own(clock, world):
    slug, _ = scored_board(world, 2)
    page_url, _ = urls(slug)
    queries_of(Client(), page_url)  # the copy is made for someone else
    seen = set()
    for _ in range(2):
        visitor = Client(enforce_csrf_checks=True)
        count, body = queries_of(visitor, page_url)
        assert count == 0
        tokens = re.findall(rb'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', body)
        assert tokens and b"\x00" not in body
        seen.update(tokens)
        answer = visitor.post("/i18n/setlang/", {"language": "ja", "next": page_url,
                                                 "csrfmiddlewaretoken": tokens[0].decode()})
        assert answer.status_code == 302  # accepted: the token matches this visitor's cookie
    assert len(seen) >= 2
    forged = Client(enforce_csrf_checks=True)
    assert forged.post("/i18n/setlang/", {"language": "ja",
                                          "csrfmiddlewaretoken": seen.pop().decode()}
                       ).status_code == 403  # another visitor's token is worth nothing


@pytest.mark.django_db
def test_each_language_has_its_own_copy(clock, world):
    slug, _ = scored_board(world, 2)
    page_url, _ = urls(slug)
    client = Client()
    _, english = queries_of(client, page_url, HTTP_ACCEPT_LANGUAGE="en")
    _, japanese = queries_of(client, page_url, HTTP_ACCEPT_LANGUAGE="ja")
    assert english != japanese
    assert queries_of(client, page_url, HTTP_ACCEPT_LANGUAGE="ja")[0] == 0


def test_it_is_off_when_the_setting_is_zero(settings, world, db):
    settings.ANONYMOUS_CACHE_SECONDS = 0
    slug, _ = scored_board(world, 1)
    page_url, _ = urls(slug)
    client = Client()
    queries_of(client, page_url)
    assert queries_of(client, page_url)[0] > 0


@pytest.mark.django_db
def test_a_visitor_with_any_other_cookie_reaches_the_view(clock, world):
    slug, _ = scored_board(world, 1)
    page_url, _ = urls(slug)
    queries_of(Client(), page_url)
    visitor = Client()
    visitor.cookies["messages"] = "something for this visitor only"
    assert queries_of(visitor, page_url)[0] > 0


@pytest.mark.django_db
def test_made_up_query_parameters_reach_the_view_and_are_not_kept(clock, world):
    slug, _ = scored_board(world, 1)
    page_url, api_url = urls(slug)
    client = Client()
    for url in (f"{page_url}?page=1", f"{api_url}?offset=0&limit=5"):
        queries_of(client, url)
        assert queries_of(client, url)[0] == 0  # the view's own parameters: kept
    for url in (f"{page_url}?x=1", f"{api_url}?offset=0&junk=2"):
        queries_of(client, url)
        assert queries_of(client, url)[0] > 0  # anything else: never kept
