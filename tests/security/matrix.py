"""The declared permission matrix: for every URL of the project, what each role may do with it.

The expectations hold for the world `test_permission_matrix` builds: a published challenge of
society `jrs` whose hidden phase `test` has a live leaderboard, two teams with a finished
submission on it, team-a's queued submission, team-a's open uploads and API token. URL kwargs name
values of that world (`MatrixWorld.url_values`), so every request targets the hidden phase's
objects and the owning team's (team-a's) submission; variants repeat a URL on the phase whose
results are not published yet and on a draft (unpublished) challenge.

Outcomes are classes, not status codes: pages answer "login required" with a redirect to the
sign-in page and APIs with 401; "denied" is 403 or 404, or, for a write whose page answers with a
message, a write that changed nothing. A write with an effect probe counts as allowed only when
its effect is seen, and a write that is refused must have no effect.

A new URL, a new API operation or a removed one makes the matrix test fail until this file says
who may use it.
"""

from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    ALLOWED = "allowed"
    DENIED = "forbidden or not found"
    LOGIN = "login required"
    METHOD = "method not allowed"
    REDIRECT = "sent elsewhere"  # a GET answered with a redirect that is not the sign-in page


ALLOWED, DENIED, LOGIN = Outcome.ALLOWED, Outcome.DENIED, Outcome.LOGIN
METHOD, REDIRECT = Outcome.METHOD, Outcome.REDIRECT

ANONYMOUS = "anonymous"
OTHER_TEAM = "other-team-member"
TEAM = "team-member"
OTHER_PHYSICIAN = "other-society-physician"
PHYSICIAN = "physician"
STEWARD = "data-steward"
SOCIETY_ADMIN = "society-admin"
OPERATOR = "operator"

ROLES = (ANONYMOUS, OTHER_TEAM, TEAM, OTHER_PHYSICIAN, PHYSICIAN, STEWARD, SOCIETY_ADMIN, OPERATOR)
# Nothing hidden may reach these roles: no page, API answer, export, header or message.
NO_HIDDEN_DATA = frozenset({ANONYMOUS, OTHER_TEAM, TEAM, OTHER_PHYSICIAN})
# The owning society's roles and operators: they may see hidden data of the challenge.
SOCIETY_SIDE = frozenset({PHYSICIAN, STEWARD, SOCIETY_ADMIN, OPERATOR})
MANAGERS = frozenset({SOCIETY_ADMIN, OPERATOR})
OWNERS = frozenset({TEAM})

Expect = dict[str, Outcome]


def everyone(outcome: Outcome = ALLOWED) -> Expect:
    return dict.fromkeys(ROLES, outcome)


def signed_in(outcome: Outcome = ALLOWED, *, anonymous: Outcome = LOGIN) -> Expect:
    """`outcome` for every signed-in role; anonymous visitors must sign in first."""
    return {**dict.fromkeys(ROLES, outcome), ANONYMOUS: anonymous}


def only(allowed: frozenset[str], *, anonymous: Outcome = LOGIN) -> Expect:
    """`allowed` may; every other signed-in role is denied."""
    return {role: ALLOWED if role in allowed else DENIED for role in ROLES} | {ANONYMOUS: anonymous}


@dataclass(frozen=True)
class Op:
    """One request to make as each role. `body` and `effect` name the request body and the
    effect probe the test module defines; `query` is appended to the URL."""

    method: str
    expect: Expect
    body: str | None = None
    effect: str | None = None
    query: str = ""


@dataclass(frozen=True)
class Variant:
    """The same URL on another object of the world, with its own expectations."""

    label: str
    kwargs: dict[str, str]
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class Entry:
    """A URL: its route, the kwargs naming the hidden phase's objects, the requests to make, and
    variants on other objects (the unpublished phase, the draft challenge)."""

    route: str
    kwargs: dict[str, str]
    ops: tuple[Op, ...]
    variants: tuple[Variant, ...] = ()

    def targets(self) -> list[Variant]:
        return [Variant("hidden", self.kwargs, self.ops), *self.variants]


def get(expect: Expect) -> Op:
    return Op("GET", expect)


# GET on a view that only takes POST: 405, after the sign-in check when the view has one.
POST_ONLY = get(signed_in(METHOD))

CHALLENGE = {"slug": "challenge"}
PHASE = {"slug": "challenge", "phase": "hidden_phase"}
SUBMISSION = {"pk": "submission"}
QUEUED = {"pk": "queued_submission"}
FAILED = {"pk": "failed_submission"}  # team-a's, failed for the platform's reason
# Phase `final` of the same challenge: hidden, its leaderboard held back until the society
# publishes results (not yet). Challenge `draft-lesions` of the same society is not published.
UNPUBLISHED = {"slug": "challenge", "phase": "unpublished_phase"}
DRAFT = {"slug": "draft_challenge"}
DRAFT_PHASE = {"slug": "draft_challenge", "phase": "draft_phase"}
SOCIETY_ONLY = only(SOCIETY_SIDE, anonymous=DENIED)
SANITY = {"slug": "challenge", "phase": "sanity_phase"}
HIDDEN_FILE = {**PHASE, "case_id": "hidden_case_id", "name": "hidden_file_name"}
SANITY_FILE = {**SANITY, "case_id": "sanity_case_id", "name": "sanity_file_name"}
TOKEN = {"pk": "api_token"}  # the team member's
# Team registrations: team-a's (approved) registration for `lesions`; `atlas` is a second
# published challenge no team is registered for. TEAM_PAGE is team-a's; dave is its second lead.
SECOND = {"slug": "second_challenge"}
REGISTRATION = {"pk": "registration"}
CHALLENGE_REGISTRATION = {**CHALLENGE, **REGISTRATION}
TEAM_PAGE = {"slug": "team"}
COLLEAGUE = {**TEAM_PAGE, "username": "team_colleague"}

MATRIX: dict[str, Entry] = {
    # --- web pages -------------------------------------------------------------------------
    "challenges:list": Entry("", {}, (get(everyone()),)),
    "challenges:detail": Entry("challenges/<slug:slug>/", CHALLENGE, (get(everyone()),), (
        Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    # The society's data report (counts, truth coverage, labels, de-identification): the owning
    # society's hidden-data roles and operators; a 404 for everyone else, anonymous included.
    "challenges:data": Entry("challenges/<slug:slug>/data/", CHALLENGE, (get(SOCIETY_ONLY),), (
        Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    # The page itself is open; what it shows of an unpublished phase is checked by the markers.
    "evaluation:leaderboard": Entry(
        "challenges/<slug:slug>/<slug:phase>/leaderboard/", PHASE, (get(everyone()),), (
            Variant("unpublished", UNPUBLISHED, (get(everyone()),)),
            Variant("draft", DRAFT_PHASE, (get(SOCIETY_ONLY),)))),
    "evaluation:leaderboard-export": Entry(
        "challenges/<slug:slug>/<slug:phase>/leaderboard.<str:fmt>",
        {**PHASE, "fmt": "export_format"}, (get(everyone()),), (
            Variant("unpublished", {**UNPUBLISHED, "fmt": "export_format"}, (get(SOCIETY_ONLY),)),
            Variant("draft", {**DRAFT_PHASE, "fmt": "export_format"}, (get(SOCIETY_ONLY),)))),
    "evaluation:leaderboard-plot": Entry(
        "challenges/<slug:slug>/<slug:phase>/leaderboard/<str:kind>.svg",
        {**PHASE, "kind": "plot_kind"}, (get(everyone()),), (
            Variant("unpublished", {**UNPUBLISHED, "kind": "plot_kind"}, (get(SOCIETY_ONLY),)),)),
    "evaluation:publish": Entry("challenges/<slug:slug>/<slug:phase>/publish/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="snapshot_added"))),
    "evaluation:reevaluate": Entry("challenges/<slug:slug>/<slug:phase>/reevaluate/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="reevaluation_queued"))),
    # Hiding published results again (the hidden phase's were published once).
    "evaluation:unpublish": Entry("challenges/<slug:slug>/<slug:phase>/unpublish/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="results_hidden"))),
    "evaluation:submit": Entry("challenges/<slug:slug>/<slug:phase>/submit/", PHASE, (
        get(signed_in()),
        Op("POST", only(OWNERS), body="submit_form", effect="submission_created")), (
            Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)),)),
    # Every run of a phase, with full (hidden-phase) logs: the owning society and operators only;
    # everyone else gets a 404, never a 403, and anonymous visitors the sign-in page first.
    "evaluation:phase-runs": Entry("challenges/<slug:slug>/<slug:phase>/runs/", PHASE, (
        get(only(SOCIETY_SIDE)),), (
            Variant("unpublished", UNPUBLISHED, (get(only(SOCIETY_SIDE)),)),
            Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)))),
    "evaluation:run-detail": Entry(
        "challenges/<slug:slug>/<slug:phase>/runs/<int:pk>/", {**PHASE, **SUBMISSION}, (
            get(only(SOCIETY_SIDE)),)),
    "evaluation:run-rerun": Entry(
        "challenges/<slug:slug>/<slug:phase>/runs/<int:pk>/rerun/", {**PHASE, **FAILED}, (
            POST_ONLY, Op("POST", only(MANAGERS), effect="submission_rerun"))),
    "evaluation:my-submissions": Entry("submissions/", {}, (get(signed_in()),)),
    "evaluation:submission-detail": Entry("submissions/<int:pk>/", SUBMISSION, (
        get(only(OWNERS | SOCIETY_SIDE)),)),
    # The submission page's status panel, fetched by static/enclave.js: who sees the page.
    "evaluation:submission-status": Entry("submissions/<int:pk>/status/", QUEUED, (
        get(only(OWNERS | SOCIETY_SIDE)),)),
    "evaluation:submission-cancel": Entry("submissions/<int:pk>/cancel/", QUEUED, (
        POST_ONLY, Op("POST", only(OWNERS), effect="submission_cancelled"))),
    "evaluation:image-upload": Entry("images/upload/", {}, (
        get(signed_in()), Op("POST", only(OWNERS), body="image_upload", effect="image_stored"))),
    # The guided challenge set-up: the society's admins and operators only. Other signed-in
    # roles get a 403 where no challenge is named and a 404 where one is; anonymous visitors
    # are sent to sign in. The preview stores nothing (no effect to probe).
    "challenges:manage": Entry("society/challenges/", {}, (get(only(MANAGERS)),)),
    "challenges:wizard-new": Entry("society/challenges/new/", {}, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="challenge_basics", effect="challenge_created"))),
    "challenges:wizard-basics": Entry("society/challenges/<slug:slug>/edit/basics/", CHALLENGE, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="basics_edit", effect="challenge_title")), (
            Variant("draft", DRAFT, (get(only(MANAGERS)),)),)),
    "evaluation:wizard-metrics": Entry("society/challenges/<slug:slug>/edit/metrics/", CHALLENGE, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="metrics_form", effect="spec_replaced"))),
    "challenges:wizard-phases": Entry("society/challenges/<slug:slug>/edit/phases/", CHALLENGE, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="phase_form", effect="phase_added"))),
    "challenges:wizard-phase": Entry(
        "society/challenges/<slug:slug>/edit/phases/<slug:phase>/", PHASE, (
            get(only(MANAGERS)),
            Op("POST", only(MANAGERS), body="phase_edit", effect="phase_title"))),
    "challenges:wizard-data": Entry("society/challenges/<slug:slug>/edit/data/", CHALLENGE, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="cases_zip", effect="cases_imported"))),
    "evaluation:wizard-preview": Entry("society/challenges/<slug:slug>/edit/preview/", CHALLENGE, (
        get(only(MANAGERS)), Op("POST", only(MANAGERS), body="preview_json"))),
    "evaluation:wizard-review": Entry("society/challenges/<slug:slug>/edit/review/", CHALLENGE, (
        get(only(MANAGERS)),), (
            Variant("draft", DRAFT, (
                get(only(MANAGERS)), Op("POST", only(MANAGERS), effect="draft_published"))),)),
    "login": Entry("accounts/login/", {}, (get(everyone()),)),
    # Signing out is open to all (it only ends the caller's own session); GET is refused.
    "logout": Entry("accounts/logout/", {}, (get(everyone(METHOD)), Op("POST", everyone()))),
    "schema": Entry("api/schema/", {}, (get(everyone()),)),
    # Two-factor pages act on the caller's own device and session only. The signed-in roles here
    # are verified already (or, for teams, have no device and need none), so both pages send
    # them on; a wrong code confirms nothing for anyone.
    "accounts:otp-setup": Entry("accounts/two-factor/setup/", {}, (
        get({**signed_in(REDIRECT), OTHER_TEAM: ALLOWED, TEAM: ALLOWED}),
        Op("POST", signed_in(DENIED), body="wrong_code", effect="device_confirmed"))),
    "accounts:otp-verify": Entry("accounts/two-factor/verify/", {}, (
        get(signed_in(REDIRECT)),
        Op("POST", signed_in(DENIED), body="wrong_code", effect="device_confirmed"))),
    # Resetting the physician's device: operators, and the admins of the physician's society.
    "accounts:otp-reset": Entry("accounts/two-factor/reset/", {}, (
        get(only(MANAGERS)),
        Op("POST", only(MANAGERS), body="reset_physician", effect="physician_device_reset"))),
    # Everyone signed in lists and creates their own tokens; only its owner revokes one.
    "accounts:api-tokens": Entry("accounts/tokens/", {}, (
        get(signed_in()), Op("POST", signed_in(), body="token_form", effect="token_created"))),
    "accounts:api-token-revoke": Entry("accounts/tokens/<int:pk>/revoke/", TOKEN, (
        get(everyone(METHOD)),
        Op("POST", only(OWNERS), effect="token_revoked"))),
    # Team registration pages. A member asks for their team (team-a is registered for `lesions`
    # already, so the request is made on `atlas`) and withdraws it; the society's roles list the
    # requests (others get a 404), its admins and operators decide.
    "challenges:register": Entry("challenges/<slug:slug>/register/", CHALLENGE, (POST_ONLY,), (
        Variant("second", SECOND, (
            POST_ONLY, Op("POST", only(OWNERS), body="register_form",
                          effect="registration_created"))),)),
    "challenges:registrations": Entry("challenges/<slug:slug>/registrations/", CHALLENGE, (
        get(only(SOCIETY_SIDE)),), (Variant("draft", DRAFT, (get(only(SOCIETY_SIDE)),)),)),
    "challenges:registration-decide": Entry(
        "challenges/<slug:slug>/registrations/<int:pk>/decide/", CHALLENGE_REGISTRATION, (
            POST_ONLY, Op("POST", only(MANAGERS), body="reject_form",
                          effect="registration_status"))),
    "challenges:registration-withdraw": Entry(
        "challenges/<slug:slug>/registrations/<int:pk>/withdraw/", CHALLENGE_REGISTRATION, (
            POST_ONLY, Op("POST", only(OWNERS), effect="registration_status"))),
    # The user's teams: only members see a team's page; only its leads (alice, dave) change
    # its members, and any member may leave (alice may: dave stays lead).
    "accounts:teams": Entry("accounts/teams/", {}, (get(signed_in()),)),
    "accounts:team-detail": Entry("accounts/teams/<slug:slug>/", TEAM_PAGE, (
        get(only(OWNERS)),)),
    "accounts:team-member-role": Entry(
        "accounts/teams/<slug:slug>/members/<str:username>/role/", COLLEAGUE, (
            get(everyone(METHOD)),
            Op("POST", only(OWNERS), body="role_form", effect="colleague_role"))),
    "accounts:team-member-remove": Entry(
        "accounts/teams/<slug:slug>/members/<str:username>/remove/", COLLEAGUE, (
            get(everyone(METHOD)), Op("POST", only(OWNERS), effect="team_members"))),
    "accounts:team-leave": Entry("accounts/teams/<slug:slug>/leave/", TEAM_PAGE, (
        get(everyone(METHOD)), Op("POST", only(OWNERS), effect="team_members"))),
    # --- REST API v1 ---------------------------------------------------------------------
    # A token for a password: no session of any role stands in for the password.
    "api:auth-token": Entry("api/v1/auth/token/", {}, (
        get(everyone(METHOD)),
        Op("POST", everyone(LOGIN), body="wrong_password", effect="token_created"))),
    "api:token-list": Entry("api/v1/tokens/", {}, (get(signed_in()),)),
    "api:token-detail": Entry("api/v1/tokens/<int:pk>/", TOKEN, (
        get(signed_in(METHOD)), Op("DELETE", only(OWNERS), effect="token_revoked"))),
    # Teams: everyone lists their own; a team's members are for its members, changed by leads.
    "api:team-list": Entry("api/v1/teams/", {}, (get(signed_in()),)),
    "api:team-members": Entry("api/v1/teams/<slug:slug>/members/", TEAM_PAGE, (
        get(only(OWNERS)),)),
    "api:team-member-detail": Entry(
        "api/v1/teams/<slug:slug>/members/<str:username>/", COLLEAGUE, (
            get(signed_in(METHOD)),
            Op("PATCH", only(OWNERS), body="role_json", effect="colleague_role"),
            Op("DELETE", only(OWNERS), effect="team_members"))),
    # Registrations: every signed-in role lists those it may see of a published challenge (a
    # team its own, the society all); a request is made for team-a on `atlas`.
    "api:registration-list": Entry("api/v1/challenges/<slug:slug>/registrations/", CHALLENGE, (
        get(signed_in()),), (
            Variant("second", SECOND, (
                get(signed_in()),
                Op("POST", only(OWNERS), body="register_json", effect="registration_created"))),
            Variant("draft", DRAFT, (get(only(SOCIETY_SIDE)),)))),
    "api:registration-decision": Entry("api/v1/registrations/<int:pk>/decision/", REGISTRATION, (
        POST_ONLY,
        Op("POST", only(MANAGERS), body="reject_json", effect="registration_status"))),
    "api:registration-withdraw": Entry("api/v1/registrations/<int:pk>/withdraw/", REGISTRATION, (
        POST_ONLY, Op("POST", only(OWNERS), effect="registration_status"))),
    # Creating a draft: admins (for their society) and operators; others manage no society (403).
    "api:challenge-list": Entry("api/v1/challenges/", {}, (
        get(everyone()),
        Op("POST", only(MANAGERS), body="challenge_create_json", effect="challenge_created"))),
    "api:challenge-detail": Entry("api/v1/challenges/<slug:slug>/", CHALLENGE, (
        get(everyone()),
        Op("PATCH", only(MANAGERS), body="basics_patch_json", effect="challenge_title")), (
            Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    "api:leaderboard": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/leaderboard/", PHASE,
        (get(everyone()),), (
            Variant("unpublished", UNPUBLISHED, (get(SOCIETY_ONLY),)),
            Variant("draft", DRAFT_PHASE, (get(SOCIETY_ONLY),)))),
    # Anyone may read the metric spec; the view itself refuses a replacement (403, not 401).
    "api:spec": Entry("api/v1/challenges/<slug:slug>/spec/", CHALLENGE, (
        get(everyone()),
        Op("PUT", only(MANAGERS, anonymous=DENIED), body="spec_json", effect="spec_replaced")), (
            Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    # Case downloads for local validation: a public (sanity) phase's cases for anyone signed in;
    # a hidden phase's to no one through this API, not even its society (even given the ids).
    "api:public-cases": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/cases/", PHASE,
        (get(signed_in(DENIED)),), (Variant("sanity", SANITY, (get(signed_in()),)),)),
    "api:public-case-file": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/cases/<str:case_id>/files/<str:name>",
        HIDDEN_FILE, (get(signed_in(DENIED)),), (
            Variant("sanity", SANITY_FILE, (get(signed_in()),)),)),
    "api:snapshots": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/snapshots/", PHASE,
        (get(everyone()),), (Variant("draft", DRAFT_PHASE, (get(SOCIETY_ONLY),)),)),
    "api:publish": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/publish/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="snapshot_added"))),
    "api:reevaluate": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/reevaluate/", PHASE, (
            POST_ONLY, Op("POST", only(MANAGERS), effect="reevaluation_queued"))),
    # The guided set-up through the API: the society's admins and operators; everyone else is
    # told the challenge does not exist (404). The preview stores nothing (no effect to probe).
    "api:challenge-publish": Entry("api/v1/challenges/<slug:slug>/publish/", CHALLENGE, (
        POST_ONLY,), (
            Variant("draft", DRAFT, (Op("POST", only(MANAGERS), effect="draft_published"),)),)),
    "api:phase-list": Entry("api/v1/challenges/<slug:slug>/phases/", CHALLENGE, (
        get(everyone()),
        Op("POST", only(MANAGERS), body="phase_create_json", effect="phase_added")), (
            Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    "api:phase-detail": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/", PHASE, (
        get(signed_in(METHOD)),
        Op("PATCH", only(MANAGERS), body="phase_patch_json", effect="phase_title"))),
    "api:case-import": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/cases/import/", PHASE, (
            POST_ONLY,
            Op("POST", only(MANAGERS), body="cases_zip_api", effect="cases_imported"))),
    "api:preview": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/preview/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), body="preview_file_api"))),
    "api:unpublish": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/unpublish/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="results_hidden"))),
    # The society's run pages through the API: its hidden-data roles and operators (404 for
    # everyone else); re-running a failed run is for its admins and operators.
    "api:phase-runs": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/runs/", PHASE, (
        get(only(SOCIETY_SIDE)),), (
            Variant("unpublished", UNPUBLISHED, (get(only(SOCIETY_SIDE)),)),
            Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)))),
    "api:phase-run-detail": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/runs/<int:pk>/",
        {**PHASE, **SUBMISSION}, (get(only(SOCIETY_SIDE)),)),
    "api:phase-run-rerun": Entry(
        "api/v1/challenges/<slug:slug>/phases/<slug:phase>/runs/<int:pk>/rerun/",
        {**PHASE, **FAILED}, (
            POST_ONLY, Op("POST", only(MANAGERS), effect="submission_rerun"))),
    "api:upload-start": Entry("api/v1/uploads/", {}, (
        POST_ONLY,
        Op("POST", only(OWNERS), body="upload_start_json", effect="upload_started"))),
    # An upload session is its uploader's alone (not even their team's or an operator's).
    "api:upload-chunk": Entry("api/v1/uploads/<uuid:pk>/", {"pk": "chunk_upload"}, (
        get(only(OWNERS)),
        Op("PUT", only(OWNERS), body="chunk_bytes", effect="chunk_appended", query="offset=0"))),
    "api:upload-complete": Entry(
        "api/v1/uploads/<uuid:pk>/complete/", {"pk": "complete_upload"}, (
            POST_ONLY, Op("POST", only(OWNERS), effect="upload_completed"))),
    "api:image-list": Entry("api/v1/images/", {}, (
        get(signed_in()),
        Op("POST", only(OWNERS), body="image_upload", effect="image_stored"))),
    "api:submission-list": Entry("api/v1/submissions/", {}, (
        get(signed_in()),
        Op("POST", only(OWNERS), body="submission_json", effect="submission_created"))),
    "api:submission-detail": Entry("api/v1/submissions/<int:pk>/", SUBMISSION, (
        get(only(OWNERS | SOCIETY_SIDE)),)),
    # A team's quota on a phase: its members only (?team= names the team).
    "api:quota": Entry("api/v1/challenges/<slug:slug>/phases/<slug:phase>/quota/", PHASE, (
        Op("GET", only(OWNERS), query="team=team-a"),), (
            Variant("draft", DRAFT_PHASE, (Op("GET", only(frozenset()), query="team=team-a"),)),)),
    "api:challenge-data": Entry("api/v1/challenges/<slug:slug>/data/", CHALLENGE, (
        get(SOCIETY_ONLY),), (Variant("draft", DRAFT, (get(SOCIETY_ONLY),)),)),
    "api:submission-cancel": Entry("api/v1/submissions/<int:pk>/cancel/", QUEUED, (
        POST_ONLY, Op("POST", only(OWNERS), effect="submission_cancelled"))),
}

# --- review of leaderboard cases (review/urls.py) --------------------------------------------
# The owning society's hidden-data roles and operators review a phase; everyone else gets a 404
# (anonymous visitors the sign-in page). Corrections, blinding and re-evaluation are for its
# admins and operators. The review index (and declaring a conflict of interest) is for anyone
# with a hidden-data role in some society, so the other society's physician too.
REVIEWERS = SOCIETY_SIDE | {OTHER_PHYSICIAN}
REVIEW_CASE = {**PHASE, "case_id": "hidden_case_id"}
_REVIEW = "review/challenges/<slug:slug>/<slug:phase>/"
_REVIEW_CASE = _REVIEW + "cases/<str:case_id>/"
MATRIX |= {
    "review:index": Entry("review/", {}, (get(only(REVIEWERS)),)),
    "review:conflict-declare": Entry("review/conflicts/", {}, (
        POST_ONLY, Op("POST", only(REVIEWERS), body="conflict_form", effect="conflicts"))),
    "review:phase": Entry(_REVIEW, PHASE, (get(only(SOCIETY_SIDE)),), (
        Variant("unpublished", UNPUBLISHED, (get(only(SOCIETY_SIDE)),)),
        Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)))),
    "review:settings": Entry(_REVIEW + "settings/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), body="unblind_form", effect="review_blinded"))),
    "review:flags": Entry(_REVIEW + "flags/", PHASE, (get(only(SOCIETY_SIDE)),)),
    "review:flag-resolve": Entry(_REVIEW + "flags/<int:pk>/resolve/",
                                 {**PHASE, "pk": "review_flag"}, (
        POST_ONLY, Op("POST", only(MANAGERS), body="dismiss_form", effect="flag_status"))),
    "review:reevaluate": Entry(_REVIEW + "reevaluate/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="reevaluation_queued"))),
    "review:case": Entry(_REVIEW_CASE, REVIEW_CASE, (get(only(SOCIETY_SIDE)),)),
    # The world's case files are not images: the rendering answers its placeholder (200).
    "review:case-image": Entry(_REVIEW_CASE + "image.png", REVIEW_CASE, (
        get(only(SOCIETY_SIDE)),)),
    # A binary task has no masks: a 404 for every role (tests/review test the positive case).
    "review:case-overlay": Entry(_REVIEW_CASE + "overlays/<str:source>.png",
                                 {**REVIEW_CASE, "source": "overlay_source"}, (
        get(only(frozenset())),)),
    "review:verdict": Entry(_REVIEW_CASE + "verdicts/", REVIEW_CASE, (
        POST_ONLY, Op("POST", only(SOCIETY_SIDE), body="verdict_form", effect="verdicts"))),
    "review:flag": Entry(_REVIEW_CASE + "flags/", REVIEW_CASE, (
        POST_ONLY, Op("POST", only(SOCIETY_SIDE), body="flag_form", effect="flags_raised"))),
}

# Team invitations: alice (team-a's lead) has invited bob (the other team's member). Only
# team-a's leads invite, list and revoke; only bob answers; nobody joins without accepting.
INVITED = frozenset({OTHER_TEAM})
INVITATION = {"pk": "invitation"}
TEAM_INVITATION = {**TEAM_PAGE, **INVITATION}
MATRIX |= {
    "accounts:team-invite": Entry("accounts/teams/<slug:slug>/invitations/", TEAM_PAGE, (
        get(everyone(METHOD)),
        Op("POST", only(OWNERS), body="invite_form", effect="invitations"))),
    "accounts:team-invitation-revoke": Entry(
        "accounts/teams/<slug:slug>/invitations/<int:pk>/revoke/", TEAM_INVITATION, (
            get(everyone(METHOD)), Op("POST", only(OWNERS), effect="invitation_status"))),
    "accounts:invitations": Entry("accounts/invitations/", {}, (get(signed_in()),)),
    "accounts:invitation-accept": Entry("accounts/invitations/<int:pk>/accept/", INVITATION, (
        get(everyone(METHOD)), Op("POST", only(INVITED), effect="team_members"))),
    "accounts:invitation-decline": Entry("accounts/invitations/<int:pk>/decline/", INVITATION, (
        get(everyone(METHOD)), Op("POST", only(INVITED), effect="invitation_status"))),
    "api:team-invitations": Entry("api/v1/teams/<slug:slug>/invitations/", TEAM_PAGE, (
        get(only(OWNERS)),
        Op("POST", only(OWNERS), body="invite_json", effect="invitations"))),
    "api:team-invitation-detail": Entry(
        "api/v1/teams/<slug:slug>/invitations/<int:pk>/", TEAM_INVITATION, (
            get(signed_in(METHOD)), Op("DELETE", only(OWNERS), effect="invitation_status"))),
    "api:invitation-list": Entry("api/v1/invitations/", {}, (get(signed_in()),)),
    "api:invitation-accept": Entry("api/v1/invitations/<int:pk>/accept/", INVITATION, (
        get(signed_in(METHOD)), Op("POST", only(INVITED), effect="team_members"))),
    "api:invitation-decline": Entry("api/v1/invitations/<int:pk>/decline/", INVITATION, (
        get(signed_in(METHOD)), Op("POST", only(INVITED), effect="invitation_status"))),
}

# Patterns the matrix leaves alone, by route prefix; each must still match a pattern.
SKIPPED: dict[str, str] = {
    "admin/": "Django's own admin site: AdminSite.has_permission admits active staff only, and "
              "its routes are generated per registered model, not written by this project.",
    "i18n/": "Django's set_language plumbing: it stores a language choice in the session or a "
             "cookie and redirects; it reads no object.",
}

# --- reader studies (review/urls.py, views_reading.py) ----------------------------------------
# A phase's reading lists: the owning society's hidden-data roles and operators see them; its
# admins and operators create, assign, merge and score. Only a list's assigned reader (the
# world's physician) opens its cases to read; everyone else gets a 404. "My reading lists" is for
# anyone with a hidden-data role in some society.
READING_LIST = {**PHASE, "pk": "reading_list"}
READING_CASE = {**READING_LIST, "case_id": "hidden_case_id"}
READER = frozenset({PHYSICIAN})
_READING = _REVIEW + "reading/<int:pk>/"
MATRIX |= {
    "review:my-reading": Entry("review/reading/", {}, (get(only(REVIEWERS)),)),
    "review:reading-lists": Entry(_REVIEW + "reading/", PHASE, (get(only(SOCIETY_SIDE)),), (
        Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)),)),
    "review:reading-create": Entry(_REVIEW + "reading/new/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), body="reading_list_form", effect="reading_lists"))),
    "review:reading-list": Entry(_READING, READING_LIST, (get(only(SOCIETY_SIDE)),)),
    "review:reading-assign": Entry(_READING + "readers/", READING_LIST, (
        POST_ONLY, Op("POST", only(MANAGERS), body="assign_form", effect="reading_readers"))),
    # The reader is sent on to their next unread case.
    "review:reading-next": Entry(_READING + "next/", READING_LIST, (
        get({**only(READER), PHYSICIAN: REDIRECT}),)),
    "review:reading-case": Entry(_READING + "cases/<str:case_id>/", READING_CASE, (
        get(only(READER)), Op("POST", only(READER), body="read_form", effect="reads"))),
    "review:reading-merge": Entry(_READING + "merge/", READING_LIST, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="truth_version"))),
    "review:reading-references": Entry(_READING + "references/", READING_LIST, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="reference_rows"))),
    "review:reading-reference-publish": Entry(
        _READING + "references/<int:row>/", {**READING_LIST, "row": "reference_row"}, (
            POST_ONLY, Op("POST", only(MANAGERS), body="publish_form",
                          effect="reference_published"))),
}

# Images held for pixel review (burned-in text risk): only the owning society's data stewards
# and admins, and operators, see or decide them; physicians included, everyone else gets a 404.
HELD = {**CHALLENGE, "pk": "held_image"}
DATA_STEWARDS = frozenset({STEWARD, SOCIETY_ADMIN, OPERATOR})
_STEWARDS_ONLY = only(DATA_STEWARDS)
MATRIX |= {
    "challenges:held": Entry("challenges/<slug:slug>/data/held/", CHALLENGE, (
        get(_STEWARDS_ONLY),), (Variant("draft", DRAFT, (get(_STEWARDS_ONLY),)),)),
    "challenges:held-image": Entry("challenges/<slug:slug>/data/held/<int:pk>/image.png", HELD, (
        get(_STEWARDS_ONLY),)),
    "challenges:held-decide": Entry("challenges/<slug:slug>/data/held/<int:pk>/decide/", HELD, (
        POST_ONLY, Op("POST", _STEWARDS_ONLY, body="held_reject_form", effect="held_status"))),
    "api:held-list": Entry("api/v1/challenges/<slug:slug>/held/", CHALLENGE, (
        get(_STEWARDS_ONLY),)),
    "api:held-image": Entry("api/v1/challenges/<slug:slug>/held/<int:pk>/image/", HELD, (
        get(_STEWARDS_ONLY),)),
    "api:held-decision": Entry("api/v1/challenges/<slug:slug>/held/<int:pk>/decision/", HELD, (
        POST_ONLY, Op("POST", _STEWARDS_ONLY, body="held_reject_json", effect="held_status"))),
}

# The reader-study API: the same people as the pages (API clients sign in: anonymous gets 401).
_READING_API = "api/v1/challenges/<slug:slug>/phases/<slug:phase>/reading-lists/"
MATRIX |= {
    "api:reading-lists": Entry(_READING_API, PHASE, (get(only(SOCIETY_SIDE)),)),
    "api:reading-list": Entry(_READING_API + "<int:pk>/", READING_LIST, (
        get(only(SOCIETY_SIDE)),)),
    "api:reading-reads": Entry(_READING_API + "<int:pk>/reads/", READING_LIST, (
        get(only(READER)), Op("POST", only(READER), body="read_json", effect="reads"))),
}

# The reader-study API's writes: the same people as the pages' (review/apis_reading_admin.py).
# The society's other hidden-data roles see the list, its services refuse their writes (403).
# "api:reading-lists" is declared again here: it gained POST.
_READING_API_LIST = _READING_API + "<int:pk>/"
MATRIX |= {
    "api:reading-lists": Entry(_READING_API, PHASE, (
        get(only(SOCIETY_SIDE)),
        Op("POST", only(MANAGERS), body="reading_list_json", effect="reading_lists"))),
    "api:reading-readers": Entry(_READING_API_LIST + "readers/", READING_LIST, (
        POST_ONLY, Op("POST", only(MANAGERS), body="assign_json", effect="reading_readers"),)),
    "api:reading-merge": Entry(_READING_API_LIST + "merge/", READING_LIST, (
        POST_ONLY, Op("POST", only(MANAGERS), body="merge_json", effect="truth_version"),)),
    "api:reading-references": Entry(_READING_API_LIST + "references/", READING_LIST, (
        get(only(SOCIETY_SIDE)), Op("POST", only(MANAGERS), effect="reference_rows"))),
    "api:reading-reference": Entry(
        _READING_API_LIST + "references/<int:row>/", {**READING_LIST, "row": "reference_row"}, (
            POST_ONLY,
            Op("PATCH", only(MANAGERS), body="publish_json", effect="reference_published"))),
}

# The review API (review/apis.py, review/apis_cases.py): the same people as the review pages
# (API clients sign in: anonymous gets 401). The society's other hidden-data roles see
# everything, the services refuse them what is for its admins (403).
_REVIEW_API = "api/v1/challenges/<slug:slug>/phases/<slug:phase>/review/"
_REVIEW_API_CASE = _REVIEW_API + "cases/<str:case_id>/"
MATRIX |= {
    "api:review-conflicts": Entry("api/v1/review/conflicts/", {}, (
        POST_ONLY, Op("POST", only(REVIEWERS), body="conflict_json", effect="conflicts"))),
    "api:review-queues": Entry(_REVIEW_API + "queues/", PHASE, (get(only(SOCIETY_SIDE)),), (
        Variant("unpublished", UNPUBLISHED, (get(only(SOCIETY_SIDE)),)),
        Variant("draft", DRAFT_PHASE, (get(only(SOCIETY_SIDE)),)))),
    "api:review-flags": Entry(_REVIEW_API + "flags/", PHASE, (get(only(SOCIETY_SIDE)),)),
    "api:review-flag-resolve": Entry(_REVIEW_API + "flags/<int:pk>/resolve/",
                                     {**PHASE, "pk": "review_flag"}, (
        POST_ONLY, Op("POST", only(MANAGERS), body="dismiss_json", effect="flag_status"))),
    "api:review-settings": Entry(_REVIEW_API + "settings/", PHASE, (
        get(only(SOCIETY_SIDE)),
        Op("PATCH", only(MANAGERS), body="unblind_json", effect="review_blinded"))),
    "api:review-reevaluate": Entry(_REVIEW_API + "reevaluate/", PHASE, (
        POST_ONLY, Op("POST", only(MANAGERS), effect="reevaluation_queued"))),
    "api:review-case": Entry(_REVIEW_API_CASE, REVIEW_CASE, (get(only(SOCIETY_SIDE)),)),
    # The world's case files are not images: the rendering answers its placeholder (200).
    "api:review-case-image": Entry(_REVIEW_API_CASE + "image/", REVIEW_CASE, (
        get(only(SOCIETY_SIDE)),)),
    "api:review-verdicts": Entry(_REVIEW_API_CASE + "verdicts/", REVIEW_CASE, (
        POST_ONLY, Op("POST", only(SOCIETY_SIDE), body="verdict_json", effect="verdicts"))),
    "api:review-case-flags": Entry(_REVIEW_API_CASE + "flags/", REVIEW_CASE, (
        POST_ONLY, Op("POST", only(SOCIETY_SIDE), body="flag_json", effect="flags_raised"))),
}
