"""The lifecycle tests' platform (the API over a fresh world) for every test module of this folder."""

from tests.projects.test_lifecycle_api import platform  # noqa: F401 (a fixture)
