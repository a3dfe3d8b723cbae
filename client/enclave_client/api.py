"""A thin client of the Enclave REST API v1 (`/api/v1/`), with `Authorization: Token <key>`.

Every refusal of the server is `{"code": ..., "detail": ...}`; `ApiError` carries both and the
HTTP status. Network failures stay `requests` exceptions, so that callers that can resume (the
upload) tell them apart from refusals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from enclave_client import __version__

DEFAULT_TIMEOUT_S = 60.0
# Completing an upload runs the server's intake over the whole tarball: minutes for large images.
COMPLETE_TIMEOUT_S = 3600.0
LEADERBOARD_PAGE = 1000  # the API's largest page


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, *, retry_after: float | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.detail} ({self.code}, HTTP {self.status})"


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


class Api:
    def __init__(self, server: str, token: str = "", *, session: requests.Session | None = None,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.server = server.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"enclave-client/{__version__}"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout

    def url(self, path: str) -> str:
        """`path` under /api/v1/, or an absolute server path (starting with /)."""
        return f"{self.server}{path}" if path.startswith("/") else f"{self.server}/api/v1/{path}"

    def request(self, method: str, path: str, *, timeout: float | None = None,
                **kwargs: Any) -> requests.Response:
        response = self.session.request(method, self.url(path), timeout=timeout or self.timeout,
                                        **kwargs)
        if response.status_code >= 400:
            raise _error_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # accounts
    def obtain_token(self, *, username: str, password: str, otp: str = "",
                     name: str = "enclave login") -> dict[str, Any]:
        return self.json("POST", "auth/token/", json={
            "username": username, "password": password, "otp": otp, "name": name})

    # challenges
    def challenge(self, slug: str) -> dict[str, Any]:
        return self.json("GET", f"challenges/{_path(slug)}/")

    def spec(self, slug: str) -> dict[str, Any]:
        return self.json("GET", f"challenges/{_path(slug)}/spec/")

    def public_cases(self, slug: str, phase: str) -> dict[str, Any]:
        return self.json("GET", f"challenges/{_path(slug, 'phases', phase)}/cases/")

    def case_file(self, slug: str, phase: str, case_id: str, name: str) -> Iterator[bytes]:
        """The bytes of one public case file, streamed."""
        response = self.request(
            "GET", f"challenges/{_path(slug, 'phases', phase, 'cases', case_id, 'files', name)}",
            stream=True)
        return response.iter_content(chunk_size=1024 * 1024)

    def leaderboard(self, slug: str, phase: str, top: int | None = None) -> dict[str, Any]:
        """The board with all its entries (or the first `top`), fetched page by page."""
        url = f"challenges/{_path(slug, 'phases', phase)}/leaderboard/"
        wanted = top if top is not None else float("inf")
        board = self.json("GET", url, params={"offset": 0, "limit": LEADERBOARD_PAGE})
        entries = list(board["entries"])
        while len(entries) < min(board.get("count", 0), wanted):
            page = self.json("GET", url, params={"offset": len(entries),
                                                 "limit": LEADERBOARD_PAGE})
            if not page["entries"]:
                break  # the board shrank meanwhile
            entries += page["entries"]
        board["entries"] = entries[:top] if top is not None else entries
        return board

    # images and uploads
    def images(self) -> list[dict[str, Any]]:
        return self.json("GET", "images/")

    def upload_start(self, team: str, size: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"team": team}
        if size is not None:
            body["size"] = size
        return self.json("POST", "uploads/", json=body)

    def upload_status(self, upload_id: str) -> dict[str, Any]:
        return self.json("GET", f"uploads/{_path(upload_id)}/")

    def upload_chunk(self, upload_id: str, offset: int, data: bytes) -> dict[str, Any]:
        return self.json("PUT", f"uploads/{_path(upload_id)}/", params={"offset": offset},
                         data=data, headers={"Content-Type": "application/octet-stream"})

    def upload_complete(self, upload_id: str) -> dict[str, Any]:
        return self.json("POST", f"uploads/{_path(upload_id)}/complete/",
                         timeout=COMPLETE_TIMEOUT_S)

    # submissions
    def submit(self, *, challenge: str, phase: str, team: str, image: str) -> dict[str, Any]:
        return self.json("POST", "submissions/", json={
            "challenge": challenge, "phase": phase, "team": team, "image": image})

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self.json("GET", f"submissions/{int(submission_id)}/")

    def submissions(self) -> list[dict[str, Any]]:
        return self.json("GET", "submissions/")

    def register(self, slug: str, team: str, message: str = "") -> dict[str, Any]:
        return self.json("POST", f"challenges/{_path(slug)}/registrations/",
                         json={"team": team, "message": message})

    def registrations(self, slug: str) -> list[dict[str, Any]]:
        return self.json("GET", f"challenges/{_path(slug)}/registrations/")

    def quota(self, slug: str, phase: str, team: str) -> dict[str, Any]:
        return self.json("GET", f"challenges/{_path(slug, 'phases', phase)}/quota/",
                         params={"team": team})


def _error_of(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        code, detail = str(body.get("code") or "error"), str(body["detail"])
    else:
        code, detail = "http_error", f"The server answered {response.status_code} {response.reason}."
    retry_after = response.headers.get("Retry-After")
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    return ApiError(response.status_code, code, detail, retry_after=wait)
