"""Study material: flashcards, distractors and skill trees.

Writes happen only inside the queue's fenced completion transaction (``write_outcome`` turns
a handler's outcome into statements and the job's result); reads serve the API, always
scoped to the user, so another user's row is indistinguishable from a missing one.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import asyncpg

from handlers.context import FlashcardRef
from handlers.models import (
    DistractorItem,
    DistractorResult,
    DistractorSet,
    FlashcardDeck,
    FlashcardResult,
    Outcome,
    PlainResult,
    SkillTreeResult,
    ValidatedTree,
)
from server.errors import NotFound
from server.store import queries as q
from server.store.models import Flashcard, FlashcardWithChoices, SkillTree, SkillTreeSummary

Statement = tuple[str, tuple[Any, ...]]


def write_outcome(
    job_id: UUID, user_id: UUID, outcome: Outcome, *, provider: str
) -> tuple[list[Statement], dict[str, Any]]:
    """Statements that persist ``outcome`` and the job result that names what they wrote.

    Ids are minted here, before the transaction, so the result and the rows are written in
    one pass; the unique (job_id, position) constraints back up the fence against doubles.
    """
    if isinstance(outcome, FlashcardDeck):
        ids = [uuid4() for _ in outcome.cards]
        statement: Statement = (
            q.INSERT_FLASHCARDS,
            (
                user_id, job_id, outcome.goal_id, outcome.node_id, outcome.message_id, ids,
                [c.question for c in outcome.cards], [c.answer for c in outcome.cards],
                list(range(len(ids))),
            ),
        )
        result = FlashcardResult(flashcard_ids=ids, count=len(ids), provider=provider)
        return [statement], result.model_dump(mode="json", by_alias=True)
    if isinstance(outcome, DistractorSet):
        ids = [uuid4() for _ in outcome.distractors]
        distractor_statement: Statement = (
            q.INSERT_DISTRACTORS,
            (outcome.flashcard_id, job_id, ids, outcome.distractors, list(range(len(ids)))),
        )
        distractor_result = DistractorResult(
            flashcard_id=outcome.flashcard_id,
            distractors=[
                DistractorItem(id=i, text=t)
                for i, t in zip(ids, outcome.distractors, strict=True)
            ],
            provider=provider,
        )
        return [distractor_statement], distractor_result.model_dump(mode="json", by_alias=True)
    if isinstance(outcome, ValidatedTree):
        return _tree_statements(job_id, user_id, outcome, provider)
    if isinstance(outcome, PlainResult):
        return [], dict(outcome.data)
    raise TypeError(f"unknown outcome {type(outcome).__name__}")


def _tree_statements(
    job_id: UUID, user_id: UUID, tree: ValidatedTree, provider: str
) -> tuple[list[Statement], dict[str, Any]]:
    tree_id = uuid4()
    node_ids = {node.key: uuid4() for node in tree.nodes}
    depth_of: dict[str, int] = {}
    for node in tree.nodes:  # pre-order: a parent's depth is known before its children's
        depth_of[node.key] = 1 if node.parent is None else depth_of[node.parent] + 1
    nodes = tree.nodes
    statements: list[Statement] = [
        (
            q.INSERT_SKILL_TREE,
            (tree_id, user_id, job_id, tree.goal, tree.description, tree.depth, len(nodes)),
        ),
        (
            q.INSERT_SKILL_NODES,
            (
                tree_id,
                [node_ids[n.key] for n in nodes],
                [node_ids[n.parent] if n.parent else None for n in nodes],
                [n.title for n in nodes],
                [n.description for n in nodes],
                [depth_of[n.key] for n in nodes],
                list(range(len(nodes))),
            ),
        ),
    ]
    # Cards made from a node's section: the tree is their goal, the node their nodeId.
    position = 0
    for node in nodes:
        cards = [c.card for c in tree.cards if c.node == node.key]
        if not cards:
            continue
        statements.append((
            q.INSERT_FLASHCARDS,
            (
                user_id, job_id, tree_id, node_ids[node.key], None, [uuid4() for _ in cards],
                [c.question for c in cards], [c.answer for c in cards],
                list(range(position, position + len(cards))),
            ),
        ))
        position += len(cards)
    result = SkillTreeResult(
        tree_id=tree_id, node_count=len(nodes), depth=tree.depth, provider=provider
    )
    return statements, result.model_dump(mode="json", by_alias=True)


class StudyLibrary:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def flashcards(
        self, user_id: UUID, *, job_id: UUID | None, goal_id: UUID | None, limit: int = 500
    ) -> list[Flashcard]:
        rows = await self.pool.fetch(q.LIST_FLASHCARDS, user_id, job_id, goal_id, limit)
        return [Flashcard.from_row(r) for r in rows]

    async def flashcard(self, user_id: UUID, card_id: UUID) -> FlashcardWithChoices:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id)
            if row is None:
                raise NotFound("No such flashcard.")
            distractors = await conn.fetch(q.DISTRACTORS_FOR_CARD, card_id)
        return FlashcardWithChoices.from_rows(row, distractors)

    async def flashcard_exists(self, user_id: UUID, card_id: UUID) -> bool:
        return await self.pool.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id) is not None

    async def skill_tree(self, user_id: UUID, tree_id: UUID) -> SkillTree:
        async with self.pool.acquire() as conn:
            tree = await conn.fetchrow(q.SKILL_TREE_FOR_USER, tree_id, user_id)
            if tree is None:
                raise NotFound("No such skill tree.")
            nodes = await conn.fetch(q.SKILL_NODES, tree_id)
        return SkillTree.from_rows(tree, nodes)

    async def skill_trees(self, user_id: UUID, limit: int = 50) -> list[SkillTreeSummary]:
        rows = await self.pool.fetch(q.LIST_SKILL_TREES, user_id, limit)
        return [SkillTreeSummary.from_row(r) for r in rows]


class UserLookups:
    """The read-only, user-scoped queries a handler may make (handlers.context.Lookups)."""

    def __init__(self, pool: asyncpg.Pool, user_id: UUID) -> None:
        self.pool = pool
        self.user_id = user_id

    async def flashcard(self, flashcard_id: UUID) -> FlashcardRef | None:
        row = await self.pool.fetchrow(q.FLASHCARD_SOURCE, flashcard_id, self.user_id)
        if row is None:
            return None
        return FlashcardRef(
            id=row["id"], question=row["question"], answer=row["answer"],
            source_text=row["source_text"],
        )

    async def other_answers(self, exclude: UUID, limit: int) -> list[str]:
        rows = await self.pool.fetch(q.OTHER_ANSWERS, self.user_id, exclude, limit)
        return [r["answer"] for r in rows]
