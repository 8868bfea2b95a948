import doctest

import pytest

from gristmill.stages.rephrase import backends, checks, chunking


@pytest.mark.parametrize("module", [backends, checks, chunking], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
