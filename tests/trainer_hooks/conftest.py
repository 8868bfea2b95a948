"""Fixtures for the trainer-hook tests: mixtures built from token arrays through the one mixture writer."""
from __future__ import annotations

import pytest
from helpers import build_mixture


@pytest.fixture(scope="session")
def make_mixture():
    return build_mixture
