"""The local Prefect server (`make up`'s, locked as the chart's) admits only callers with its credential;
state changes need a CSRF token too, and a browser page of another origin may not call it. Each refusal has
its positive control: the same request with the right credential succeeds."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from devenv.services import LocalServices
from tests.prefect_http import PrefectHttp

Call = tuple[str, str, dict[str, Any] | None]
FILTER: Call = ("POST", "work_pools/filter", {})
READ: Call = ("GET", "admin/version", None)


def test_health_is_open_for_probes(services: LocalServices) -> None:
    assert PrefectHttp(services.prefect_api_url, None).status("GET", "health") == 200


@pytest.mark.parametrize("call", [READ, FILTER], ids=["read", "write"])
@pytest.mark.parametrize(
    "credential", [None, "admin:wrong", "nobody:{password}"], ids=["none", "wrong", "user"]
)
def test_a_call_without_the_credential_is_refused(
    services: LocalServices, call: Call, credential: str | None
) -> None:
    password = services.prefect_auth_string().split(":", 1)[1]
    caller = None if credential is None else credential.format(password=password)
    method, path, body = call
    assert PrefectHttp(services.prefect_api_url, caller).status(method, path, body) == 401
    assert (
        PrefectHttp(services.prefect_api_url, services.prefect_auth_string()).status(method, path, body)
        == 200
    )


def test_a_state_change_without_a_csrf_token_is_refused(services: LocalServices) -> None:
    no_token = PrefectHttp(services.prefect_api_url, services.prefect_auth_string(), csrf=False)
    assert no_token.status(*FILTER) == 403
    forged = {"Prefect-Csrf-Token": "forged", "Prefect-Csrf-Client": no_token.client_id}
    assert no_token.status(*FILTER, headers=forged) == 403
    assert PrefectHttp(services.prefect_api_url, services.prefect_auth_string()).status(*FILTER) == 200


def preflight(services: LocalServices, origin: str) -> tuple[int, str | None]:
    """A browser's CORS preflight of a POST from a page of `origin`: status and the origin allowed."""
    request = urllib.request.Request(
        f"{services.prefect_api_url}/work_pools/filter",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Access-Control-Allow-Origin")


def test_only_the_uis_own_origin_may_call_it_from_a_browser(services: LocalServices) -> None:
    ui = services.prefect_api_url.removesuffix("/api")
    assert preflight(services, ui) == (200, ui)
    status, allowed = preflight(services, "http://evil.example")
    assert status >= 400 and allowed is None
