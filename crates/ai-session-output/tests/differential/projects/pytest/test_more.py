import pytest


@pytest.mark.parametrize("n", [1, 2, 3])
def test_positive(n):
    assert n > 0


def test_lookup():
    assert {"a": 1}["b"] == 1
