import pytest
from signals import programme


@pytest.fixture
def music():
    return programme()
