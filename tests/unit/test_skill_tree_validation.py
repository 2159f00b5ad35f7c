"""A skill tree is accepted only with one root, known parents, no cycle, bounded size."""

from __future__ import annotations

import pytest

from handlers.errors import RetryableError
from handlers.models import MAX_TREE_NODES, NodeDraft, SkillTreePayload
from handlers.skill_trees import InvalidTree, generate_skill_tree, validate_tree
from tests.support.generators import RecordingGenerator, make_context


def node(key: str, parent: str | None = None) -> NodeDraft:
    return NodeDraft(key=key, parent=parent, title=f"Title {key}")


def test_a_valid_tree_comes_back_in_preorder_with_its_depth() -> None:
    nodes = [node("b2", "b"), node("a", "r"), node("r"), node("b", "r"), node("b1", "b")]
    tree = validate_tree(nodes, goal="Goal", max_depth=3)
    assert [n.key for n in tree.nodes] == ["r", "a", "b", "b2", "b1"]
    assert tree.depth == 3
    assert tree.goal == "Goal"


def test_a_single_root_is_a_tree_of_depth_one() -> None:
    assert validate_tree([node("r")], goal="G", max_depth=1).depth == 1


def test_no_nodes_is_rejected() -> None:
    with pytest.raises(InvalidTree, match="no skills"):
        validate_tree([], goal="G", max_depth=3)


def test_two_roots_are_rejected() -> None:
    with pytest.raises(InvalidTree, match="2 top skills"):
        validate_tree([node("r"), node("s"), node("a", "r")], goal="G", max_depth=3)


def test_a_tree_where_every_node_has_a_parent_has_no_root() -> None:
    with pytest.raises(InvalidTree, match="no top skill"):
        validate_tree([node("a", "b"), node("b", "a")], goal="G", max_depth=3)


def test_a_cycle_beside_the_root_is_rejected() -> None:
    nodes = [node("r"), node("a", "r"), node("x", "y"), node("y", "x")]
    with pytest.raises(InvalidTree, match=r"circle: 'Title x', 'Title y' cannot be reached"):
        validate_tree(nodes, goal="G", max_depth=5)


def test_a_node_that_is_its_own_parent_is_a_cycle() -> None:
    with pytest.raises(InvalidTree, match="circle"):
        validate_tree([node("r"), node("a", "a")], goal="G", max_depth=5)


def test_an_unknown_parent_is_rejected() -> None:
    with pytest.raises(InvalidTree, match="put 'Title a' under a skill that is not in the tree"):
        validate_tree([node("r"), node("a", "ghost")], goal="G", max_depth=3)


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(InvalidTree, match="gave 'Title a' and 'Title a' the same label"):
        validate_tree([node("r"), node("a", "r"), node("a", "r")], goal="G", max_depth=3)


def test_a_tree_deeper_than_max_depth_is_rejected() -> None:
    chain = [node("n0")] + [node(f"n{i}", f"n{i - 1}") for i in range(1, 4)]
    assert validate_tree(chain, goal="G", max_depth=4).depth == 4
    with pytest.raises(InvalidTree, match="4 levels deep; at most 3"):
        validate_tree(chain, goal="G", max_depth=3)


def test_more_nodes_than_the_cap_are_rejected() -> None:
    nodes = [node("r")] + [node(f"c{i}", "r") for i in range(MAX_TREE_NODES)]
    with pytest.raises(InvalidTree, match=f"{MAX_TREE_NODES + 1} skills; at most {MAX_TREE_NODES}"):
        validate_tree(nodes, goal="G", max_depth=2)
    assert len(validate_tree(nodes[:-1], goal="G", max_depth=2).nodes) == MAX_TREE_NODES


def test_an_invalid_tree_is_retryable_because_a_model_may_do_better() -> None:
    assert issubclass(InvalidTree, RetryableError)


async def test_handler_validates_what_the_generator_proposes() -> None:
    generator = RecordingGenerator(nodes=[node("r"), node("a", "r"), node("b", "a")])
    ctx, _ = make_context(generator)
    payload = SkillTreePayload(goal="Learn", description="why", max_depth=2)
    with pytest.raises(InvalidTree, match="3 levels deep"):
        await generate_skill_tree(payload, ctx)
    tree = await generate_skill_tree(payload.model_copy(update={"max_depth": 3}), ctx)
    assert (tree.goal, tree.description, tree.depth) == ("Learn", "why", 3)
