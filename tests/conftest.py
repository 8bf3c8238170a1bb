"""Shared test fixtures: where the real data lives, fresh loopback ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (read-only real recordings; see its README)."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.fail(f"real test data not found at {SHARED_DATA_DIR}: the repo must sit beside ../shared")
    return SHARED_DATA_DIR


@pytest.fixture(scope="session")
def fsdd_dir(shared_data_dir: Path) -> Path:
    return shared_data_dir / "fsdd"


@pytest.fixture(scope="session")
def dvs_dir(shared_data_dir: Path) -> Path:
    return shared_data_dir / "dvs"


@pytest.fixture
def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to right now (aestream cannot reopen a port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
