from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO.parent / "shared" / "fixtures" / "torchlogix_digits_s1"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    if not FIXTURE.is_dir():
        pytest.fail(f"shared fixtures not found at {FIXTURE}: clone next to ../shared")
    return FIXTURE
