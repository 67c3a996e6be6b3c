"""Shared test configuration: every real service is a fixture plugin under tests/fixtures/."""

pytest_plugins = [
    "fixtures.registry",
    "fixtures.peers",
    "fixtures.images",
    "fixtures.faults",
    "fixtures.tokenserver",
]
