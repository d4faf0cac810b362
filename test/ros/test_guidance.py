"""Pure step tracking (assist mode)."""
import pytest

from vstream_ros.guidance import StepTracker, goal_prompt
from vstream_ros.guidance.tracker import DONE, IN_PROGRESS, MISTAKE, PENDING

STEPS = ["Boil the water", "Put the tea bag in the cup", "Pour the hot water into the cup", "Remove the tea bag"]


def test_goal_prompt_contains_goal_and_numbered_steps():
    p = goal_prompt("Make a cup of tea", STEPS)
    assert "make a cup of tea" in p and "1. Boil the water." in p and "4. Remove the tea bag." in p
    with pytest.raises(ValueError):
        goal_prompt("  ")


def test_progress_through_steps_mistake_and_done():
    tr = StepTracker("make tea", STEPS)
    assert tr.current().status == PENDING and tr.current().step_count == 4
    u = tr.update("Now boil some water in the kettle.", "u0")
    assert (u.step_index, u.status, u.progress) == (0, IN_PROGRESS, 0.0)
    u = tr.update("Place a tea bag into your cup.", "u1")
    assert (u.step_index, u.progress) == (1, 0.25) and u.instruction == STEPS[1]
    u = tr.update("Oops, that is the wrong cup.", "u2")
    assert u.status == MISTAKE and u.step_index == 1 and "wrong" in u.feedback
    u = tr.update("Remove the tea bag. Well done, all set.", "u3")
    assert (u.step_index, u.status, u.progress) == (3, DONE, 1.0) and u.utterance_id == "u3"


def test_earlier_step_does_not_move_back_and_unmatched_is_feedback():
    tr = StepTracker("make tea", STEPS)
    tr.update("Pour the hot water into the cup.")
    u = tr.update("Boil the water again.")
    assert u.step_index == 2 and "earlier step 1" in u.feedback
    u = tr.update("Looks great so far")
    assert u.step_index == 2 and u.feedback == "Looks great so far"


def test_without_steps_every_utterance_is_the_instruction():
    tr = StepTracker("cooking")
    u = tr.update("Stir the sauce slowly.", "x")
    assert u.step_count == 0 and u.instruction == "Stir the sauce slowly." and u.status == IN_PROGRESS
    assert tr.task_id == "cooking"
