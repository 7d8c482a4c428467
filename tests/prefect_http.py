"""The Prefect REST API spoken as any HTTP client would (not Prefect's own client): with or without the
basic-auth credential and the CSRF token, so tests can show what the server refuses and admits."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from devenv.services import basic_auth_header


@dataclass
class PrefectHttp:
    api_url: str  # http://host:port/api
    auth_string: str | None  # `user:password`, or None for an anonymous caller
    csrf: bool = True  # fetch and send a CSRF token on state-changing requests, as Prefect's client does
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def headers(self) -> dict[str, str]:
        return basic_auth_header(self.auth_string) if self.auth_string is not None else {}

    def status(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> int:
        """The HTTP status of one request (no exception for 4xx)."""
        try:
            self.request(method, path, body, headers)
        except urllib.error.HTTPError as error:
            return error.code
        return 200

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Content-Type": "application/json", **self.headers(), **(headers or {})}
        if method != "GET" and self.csrf:
            all_headers |= self.csrf_headers()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}/{path}", data=data, method=method, headers=all_headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
            return json.loads(content) if content else None

    def csrf_headers(self) -> dict[str, str]:
        token = self.request("GET", f"csrf-token?client={self.client_id}")["token"]
        return {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": self.client_id}

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)
