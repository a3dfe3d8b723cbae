"""Long leaderboards come in pages: the API by `offset`/`limit`, the web page by `?page=`; both
keep the board's ranked order and say how many entries there are in all."""

import pytest
from rest_framework.test import APIClient

from tests.evaluation.test_leaderboard_queries import scored_board


@pytest.fixture
def board(world):
    slug, _ = scored_board(world, 5)
    return slug


def api(slug: str, query: str = ""):
    return APIClient().get(f"/api/v1/challenges/{slug}/phases/test/leaderboard/{query}")


def test_the_api_hands_out_the_ranked_board_in_pages(board):
    whole = api(board).json()
    assert (whole["count"], whole["offset"], whole["limit"], len(whole["entries"])) == (5, 0, 100, 5)
    ranked = [e["team"] for e in whole["entries"]]

    first, rest = api(board, "?limit=2").json(), api(board, "?offset=2&limit=2").json()
    last = api(board, "?offset=4&limit=2").json()

    assert [e["team"] for e in first["entries"] + rest["entries"] + last["entries"]] == ranked
    assert (first["count"], len(last["entries"]), api(board, "?offset=9").json()["entries"]) == (
        5, 1, [])


@pytest.mark.parametrize("query", ["?limit=0", "?limit=1001", "?offset=-1", "?limit=abc",
                                   "?offset=%C2%B2"])
def test_a_bad_page_is_a_clear_400(board, query):
    response = api(board, query)
    assert response.status_code == 400
    assert response.json()["code"] and response.json()["detail"]


def test_the_web_page_shows_one_page_of_teams_with_links(board, client, monkeypatch):
    monkeypatch.setattr("evaluation.views.LEADERBOARD_PAGE_SIZE", 2)
    ranked = [e["team_name"] for e in api(board).json()["entries"]]
    url = f"/challenges/{board}/test/leaderboard/"

    first, second, past_the_end = (client.get(url).content.decode(),
                                   client.get(url + "?page=2").content.decode(),
                                   client.get(url + "?page=99").content.decode())

    assert first.count("<tr>") == 3 and ranked[0] in first and ranked[2] not in first
    assert ranked[2] in second and ranked[3] in second and ranked[0] not in second
    assert 'href="?page=3"' in second and 'href="?page=1"' in second
    assert ranked[4] in past_the_end and ranked[3] not in past_the_end
    assert client.get(url + "?page=x").status_code == 200
