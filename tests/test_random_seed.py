"""The suite's random seed (tests/conftest.py `rng`): a failing test's report names it, and setting it replays."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

DRAWING_TEST = "def test_draw(rng):\n    print('drew', rng.random())\n    assert False\n"


def _run(pytester: pytest.Pytester) -> str:
    result = pytester.runpytest_inprocess("-q", "-s", "-p", "no:cacheprovider")
    assert result.ret == 1  # the test failed, as it must
    return result.stdout.str()


def test_a_failing_test_reports_its_seed_and_the_seed_replays_its_draws(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport, rng")
    pytester.makepyfile(test_draw=DRAWING_TEST)
    monkeypatch.delenv("HERALD_TEST_SEED", raising=False)
    first = _run(pytester)
    assert "random seed" in first
    (seed,) = re.findall(r"HERALD_TEST_SEED=(\d+)", first)
    (drawn,) = re.findall(r"drew (\S+)", first)

    monkeypatch.setenv("HERALD_TEST_SEED", seed)
    replay = _run(pytester)
    assert re.findall(r"drew (\S+)", replay) == [drawn]
    assert f"HERALD_TEST_SEED={seed}" in replay
