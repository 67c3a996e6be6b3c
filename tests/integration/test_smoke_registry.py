"""The registry fixtures start real registries that answer the distribution API."""

import httpx

from fixtures.registry import AUTH_PASSWORD, AUTH_USER, Registry


def test_anonymous_registry_answers(registry: Registry) -> None:
    assert httpx.get(f"{registry.url}/v2/").status_code == 200


def test_htpasswd_registry_requires_credentials(auth_registry: Registry) -> None:
    assert httpx.get(f"{auth_registry.url}/v2/").status_code == 401
    assert httpx.get(f"{auth_registry.url}/v2/", auth=(AUTH_USER, AUTH_PASSWORD)).status_code == 200
    assert httpx.get(f"{auth_registry.url}/v2/", auth=(AUTH_USER, "wrong")).status_code == 401
