"""The reporter (``reporter.py``): a step's reporter forwards to its parent and remembers what it said."""

from __future__ import annotations

from cdk_native_python.core.reporter import silent


def test_a_reporter_for_one_step_forwards_and_remembers() -> None:
    parent = silent()
    parent.warn("before", "said before the step")
    step = parent.child()
    step.warn("before", "said before the step")  # said again by the step: it is the step's too
    step.info("during", "said by the step")
    assert [n.code for n in parent.notices] == ["before", "during"]  # forwarded, each once
    assert [n.code for n in step.notices] == ["before", "during"]
