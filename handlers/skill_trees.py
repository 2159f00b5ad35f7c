"""skill_tree_generation: a goal (and material) in, a validated tree of skills out."""

from __future__ import annotations

from collections import defaultdict

from handlers.context import JobContext
from handlers.errors import RetryableError
from handlers.models import (
    MAX_TREE_NODES,
    CardDraft,
    JobType,
    NodeCard,
    NodeDraft,
    SkillTreePayload,
    ValidatedTree,
)
from handlers.registry import JobHandler

CARDS_PER_TREE = 30


class InvalidTree(RetryableError):
    """The generator proposed a tree of the wrong shape; a model may get it right next time."""


async def generate_skill_tree(payload: SkillTreePayload, ctx: JobContext) -> ValidatedTree:
    nodes = await ctx.generator.skill_tree(
        goal=payload.goal,
        description=payload.description,
        material=payload.content,
        max_depth=payload.max_depth,
        usage=ctx.usage,
    )
    tree = validate_tree(
        nodes, goal=payload.goal, description=payload.description, max_depth=payload.max_depth
    )
    return tree.model_copy(update={"cards": await _node_cards(payload, ctx, tree)})


async def _node_cards(
    payload: SkillTreePayload, ctx: JobContext, tree: ValidatedTree
) -> list[NodeCard]:
    """Cards linked to the nodes that teach their section, from a generator that can say
    which section a card came from (the offline one); others leave the tree card-less."""
    cards_for_tree = getattr(ctx.generator, "cards_for_tree", None)
    if cards_for_tree is None or not payload.content or not payload.content.strip():
        return []
    by_node: dict[str, list[CardDraft]] = await cards_for_tree(
        goal=payload.goal, description=payload.description, material=payload.content,
        max_depth=payload.max_depth, max_cards=CARDS_PER_TREE,
    )
    keys = {n.key for n in tree.nodes}
    return [
        NodeCard(node=key, card=card)
        for key in (n.key for n in tree.nodes)
        for card in by_node.get(key, [])
        if key in keys
    ]


def validate_tree(
    nodes: list[NodeDraft], *, goal: str, description: str | None = None, max_depth: int
) -> ValidatedTree:
    """The tree in pre-order (parents first, siblings in the generator's order).

    Raises :class:`InvalidTree` unless: there are 1..MAX_TREE_NODES nodes with unique keys,
    exactly one root, every parent exists, every node is reachable from the root (so there
    is no cycle), and no node is deeper than ``max_depth`` (the root is depth 1).
    """
    if not nodes:
        raise InvalidTree("The AI's skill tree had no skills in it.")
    if len(nodes) > MAX_TREE_NODES:
        raise InvalidTree(
            f"The AI's skill tree had {len(nodes)} skills; at most {MAX_TREE_NODES} are allowed."
        )
    by_key = _unique_keys(nodes)
    root = _single_root(nodes)
    children: defaultdict[str, list[NodeDraft]] = defaultdict(list)
    for node in nodes:
        if node.parent is None:
            continue
        if node.parent not in by_key:
            raise InvalidTree(
                f"The AI's skill tree put {_named(node)} under a skill that is not in the tree."
            )
        children[node.parent].append(node)
    ordered, depth = _preorder(root, children)
    if len(ordered) < len(nodes):
        reached = {n.key for n in ordered}
        stranded = sorted((n for n in nodes if n.key not in reached), key=lambda n: n.key)
        raise InvalidTree(
            "The AI's skill tree went in a circle: " + ", ".join(map(_named, stranded))
            + " cannot be reached from the goal."
        )
    if depth > max_depth:
        raise InvalidTree(
            f"The AI's skill tree was {depth} levels deep; at most {max_depth} are allowed."
        )
    return ValidatedTree(goal=goal, description=description, nodes=ordered, depth=depth)


NAMED_CHARS = 60


def _named(node: NodeDraft) -> str:
    """A node as a learner knows it, by its title (the key is the model's own label)."""
    title = node.title if len(node.title) <= NAMED_CHARS else node.title[: NAMED_CHARS - 1] + "…"
    return f"'{title}'"


def _unique_keys(nodes: list[NodeDraft]) -> dict[str, NodeDraft]:
    by_key: dict[str, NodeDraft] = {}
    for node in nodes:
        if node.key in by_key:
            raise InvalidTree(
                f"The AI's skill tree gave {_named(by_key[node.key])} and {_named(node)} the "
                "same label."
            )
        by_key[node.key] = node
    return by_key


def _single_root(nodes: list[NodeDraft]) -> NodeDraft:
    roots = [n for n in nodes if n.parent is None]
    if not roots:
        raise InvalidTree("The AI's skill tree had no top skill: every skill was under another.")
    if len(roots) > 1:
        raise InvalidTree(
            f"The AI's skill tree had {len(roots)} top skills; exactly one is required."
        )
    return roots[0]


def _preorder(root: NodeDraft, children: dict[str, list[NodeDraft]]) -> tuple[list[NodeDraft], int]:
    """Nodes reachable from the root, parents before children, and the deepest depth."""
    ordered: list[NodeDraft] = []
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        ordered.append(node)
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in reversed(children.get(node.key, [])))
    return ordered, deepest


HANDLER = JobHandler(
    job_type=JobType.SKILL_TREE_GENERATION,
    payload_model=SkillTreePayload,
    run=generate_skill_tree,
)
