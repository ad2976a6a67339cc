import pytest

from tests.helpers.net import free_port, loopback_address


@pytest.fixture
def loopback():
    """A 127.x.y.z address of this test's own."""
    return loopback_address()


@pytest.fixture
def port():
    return free_port()
