"""Study material: flashcards, distractors and skill trees.

Writes happen only inside the queue's fenced completion transaction (``write_outcome`` turns
a handler's outcome into statements and the job's result); reads serve the API, always
scoped to the user, so another user's row is indistinguishable from a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from handlers.context import FlashcardRef
from handlers.models import (
    DeckDistractorResult,
    DeckDistractors,
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
from server.store import scheduling
from server.store.models import (
    Deck,
    DeckWithCards,
    Flashcard,
    ReviewOutcome,
    ReviewRecord,
    SkillTree,
    SkillTreeSummary,
    StudySettings,
)

DEFAULT_RETENTION = 0.90
# A deck page lists at most this many cards (a generated deck has at most 50 per job).
MAX_DECK_CARDS = 5_000

Statement = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class ReviewTurn:
    """What a review session shows next: the most overdue card with the interval each
    rating would give it (seconds), how many are due, and, once none is, when one will be."""

    card: Flashcard | None
    intervals: dict[str, float]
    due_count: int
    next_due_at: datetime | None


def write_outcome(
    job_id: UUID, user_id: UUID, outcome: Outcome, *, provider: str
) -> tuple[list[Statement], dict[str, Any]]:
    """Statements that persist ``outcome`` and the job result that names what they wrote.

    Ids are minted here, before the transaction, so the result and the rows are written in
    one pass; the unique (job_id, position) constraints back up the fence against doubles.
    """
    if isinstance(outcome, FlashcardDeck):
        return _deck_statements(job_id, user_id, outcome, provider)
    if isinstance(outcome, DeckDistractors):
        return _deck_distractor_statements(job_id, outcome, provider)
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


def _deck_statements(
    job_id: UUID, user_id: UUID, deck: FlashcardDeck, provider: str
) -> tuple[list[Statement], dict[str, Any]]:
    """A new deck (or the named one touched) and its cards, in that order."""
    deck_id = deck.deck_id or uuid4()
    statements: list[Statement] = [
        (q.TOUCH_DECK, (deck_id, user_id)) if deck.deck_id is not None
        else (q.INSERT_DECK, (deck_id, user_id, job_id, deck.title))
    ]
    ids = [uuid4() for _ in deck.cards]
    statements.append((
        q.INSERT_FLASHCARDS,
        (
            user_id, job_id, deck_id, deck.goal_id, deck.node_id, deck.message_id, ids,
            [c.question for c in deck.cards], [c.answer for c in deck.cards],
            [c.source or None for c in deck.cards], list(range(len(ids))),
        ),
    ))
    result = FlashcardResult(
        deck_id=deck_id, flashcard_ids=ids, count=len(ids),
        skipped_duplicates=deck.skipped_duplicates,
        dropped_unsupported=deck.dropped_unsupported, provider=provider,
    )
    return statements, result.model_dump(mode="json", by_alias=True)


def _deck_distractor_statements(
    job_id: UUID, outcome: DeckDistractors, provider: str
) -> tuple[list[Statement], dict[str, Any]]:
    """Every card's choices in one insert; positions run across the job (unique per job)."""
    card_ids: list[UUID] = []
    texts: list[str] = []
    for choice_set in outcome.sets:
        card_ids.extend(choice_set.flashcard_id for _ in choice_set.distractors)
        texts.extend(choice_set.distractors)
    ids = [uuid4() for _ in texts]
    statement: Statement = (
        q.INSERT_DECK_DISTRACTORS, (job_id, ids, card_ids, texts, list(range(len(ids))))
    )
    result = DeckDistractorResult(
        deck_id=outcome.deck_id, card_count=sum(1 for s in outcome.sets if s.distractors),
        distractor_count=len(ids), provider=provider,
    )
    return [statement], result.model_dump(mode="json", by_alias=True)


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
    # Cards made from a node's section: the tree is their goal, the node their nodeId, and
    # they form one deck named after the goal (a card always belongs to a deck).
    deck_id = uuid4()
    if tree.cards:
        statements.append((q.INSERT_DECK, (deck_id, user_id, job_id, tree.goal[:200])))
    position = 0
    for node in nodes:
        cards = [c.card for c in tree.cards if c.node == node.key]
        if not cards:
            continue
        statements.append((
            q.INSERT_FLASHCARDS,
            (
                user_id, job_id, deck_id, tree_id, node_ids[node.key], None,
                [uuid4() for _ in cards], [c.question for c in cards],
                [c.answer for c in cards], [c.source or None for c in cards],
                list(range(position, position + len(cards))),
            ),
        ))
        position += len(cards)
    result = SkillTreeResult(
        tree_id=tree_id, node_count=len(nodes), depth=tree.depth, provider=provider
    )
    return statements, result.model_dump(mode="json", by_alias=True)


class StudyLibrary:
    """The user's decks, cards, reviews and settings. Every read and write is scoped to the
    user: another user's deck or card is indistinguishable from a missing one (NotFound)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -------------------------------------------------------------- cards

    async def flashcards(
        self, user_id: UUID, *, job_id: UUID | None, goal_id: UUID | None, limit: int = 500
    ) -> list[Flashcard]:
        rows = await self.pool.fetch(q.LIST_FLASHCARDS, user_id, job_id, goal_id, limit)
        return [Flashcard.from_row(r) for r in rows]

    async def flashcard(self, user_id: UUID, card_id: UUID) -> Flashcard:
        row = await self.pool.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id)
        if row is None:
            raise NotFound("No such flashcard.")
        return Flashcard.from_row(row)

    async def flashcard_exists(self, user_id: UUID, card_id: UUID) -> bool:
        return await self.pool.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id) is not None

    async def edit_flashcard(
        self, user_id: UUID, card_id: UUID, *, question: str | None, answer: str | None
    ) -> Flashcard:
        async with self.pool.acquire() as conn, conn.transaction():
            deck_id = await conn.fetchval(q.UPDATE_FLASHCARD, card_id, user_id, question, answer)
            if deck_id is None:
                raise NotFound("No such flashcard.")
            await conn.execute(q.TOUCH_DECK_OF_CARD, deck_id)
            row = await conn.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id)
        return Flashcard.from_row(row)

    async def delete_flashcard(self, user_id: UUID, card_id: UUID) -> None:
        """The card, its answer choices and its review log (ON DELETE CASCADE)."""
        async with self.pool.acquire() as conn, conn.transaction():
            deck_id = await conn.fetchval(q.DELETE_FLASHCARD, card_id, user_id)
            if deck_id is None:
                raise NotFound("No such flashcard.")
            await conn.execute(q.TOUCH_DECK_OF_CARD, deck_id)

    # -------------------------------------------------------------- decks

    async def decks(
        self, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None
    ) -> list[Deck]:
        before_at, before_id = before if before else (None, None)
        rows = await self.pool.fetch(q.LIST_DECKS, user_id, before_at, before_id, limit)
        return [Deck.from_row(r) for r in rows]

    async def deck(self, user_id: UUID, deck_id: UUID) -> DeckWithCards:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(q.DECK_FOR_USER, deck_id, user_id)
            if row is None:
                raise NotFound("No such deck.")
            cards = await conn.fetch(q.DECK_CARDS, deck_id, user_id, MAX_DECK_CARDS)
        return DeckWithCards.model_validate(
            {**dict(row), "cards": [Flashcard.from_row(c) for c in cards]}
        )

    async def deck_summary(self, user_id: UUID, deck_id: UUID) -> Deck:
        row = await self.pool.fetchrow(q.DECK_FOR_USER, deck_id, user_id)
        if row is None:
            raise NotFound("No such deck.")
        return Deck.from_row(row)

    async def deck_exists(self, user_id: UUID, deck_id: UUID) -> bool:
        return bool(await self.pool.fetchval(q.DECK_EXISTS, deck_id, user_id))

    async def rename_deck(self, user_id: UUID, deck_id: UUID, title: str) -> Deck:
        if await self.pool.fetchval(q.RENAME_DECK, deck_id, user_id, title) is None:
            raise NotFound("No such deck.")
        return await self.deck_summary(user_id, deck_id)

    async def delete_deck(self, user_id: UUID, deck_id: UUID) -> None:
        """The deck, its cards, their answer choices and reviews (ON DELETE CASCADE)."""
        if await self.pool.fetchval(q.DELETE_DECK, deck_id, user_id) is None:
            raise NotFound("No such deck.")

    # -------------------------------------------------------------- review

    async def due(
        self, user_id: UUID, *, deck_id: UUID | None, limit: int
    ) -> tuple[list[Flashcard], int]:
        """Cards due now (new cards are due at once), most overdue first, and how many."""
        async with self.pool.acquire() as conn:
            if deck_id is not None and not await conn.fetchval(q.DECK_EXISTS, deck_id, user_id):
                raise NotFound("No such deck.")
            rows = await conn.fetch(q.DUE_CARDS, user_id, deck_id, limit)
            count = await conn.fetchval(q.DUE_COUNT, user_id, deck_id)
        return [Flashcard.from_row(r) for r in rows], int(count)

    async def review_turn(self, user_id: UUID, deck_id: UUID | None) -> ReviewTurn:
        """The next card of a review session (of one deck, or of the whole library)."""
        async with self.pool.acquire() as conn:
            if deck_id is not None and not await conn.fetchval(q.DECK_EXISTS, deck_id, user_id):
                raise NotFound("No such deck.")
            row = await conn.fetchrow(q.DUE_CARDS, user_id, deck_id, 1)
            count = int(await conn.fetchval(q.DUE_COUNT, user_id, deck_id))
            if row is None:
                next_due = await conn.fetchval(q.NEXT_DUE_AT, user_id, deck_id)
                return ReviewTurn(card=None, intervals={}, due_count=0, next_due_at=next_due)
            retention = await conn.fetchval(q.DESIRED_RETENTION, user_id)
        intervals = scheduling.preview(row, desired_retention=retention or DEFAULT_RETENTION)
        return ReviewTurn(card=Flashcard.from_row(row), intervals=intervals,
                          due_count=max(count, 1), next_due_at=None)

    async def review(self, user_id: UUID, card_id: UUID, rating: str) -> ReviewOutcome:
        """Rate a card: reschedule it with FSRS and log the review, in one transaction.

        The card's row is locked first, so two reviews of one card at once are applied one
        after the other, the second from the state the first left (neither is lost).
        """
        outcome = await self._review(user_id, card_id, rating, seen_reps=None)
        assert outcome is not None  # only a seen_reps mismatch skips the review
        return outcome

    async def review_as_seen(
        self, user_id: UUID, card_id: UUID, rating: str, *, seen_reps: int
    ) -> ReviewOutcome | None:
        """Rate the card as the learner saw it (after ``seen_reps`` reviews), or do nothing
        and return None if it has been rated since: a double submit, a second tab or a
        replayed form rates a card once, not twice."""
        return await self._review(user_id, card_id, rating, seen_reps=seen_reps)

    async def _review(
        self, user_id: UUID, card_id: UUID, rating: str, *, seen_reps: int | None
    ) -> ReviewOutcome | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.LOCK_CARD_FOR_REVIEW, card_id, user_id)
            if row is None:
                raise NotFound("No such flashcard.")
            if seen_reps is not None and row["reps"] != seen_reps:
                return None
            retention = await conn.fetchval(q.DESIRED_RETENTION, user_id)
            scheduled = scheduling.review(
                row, rating, desired_retention=retention or DEFAULT_RETENTION
            )
            await conn.execute(
                q.APPLY_REVIEW, card_id, scheduled.state, scheduled.learning_step,
                scheduled.stability, scheduled.difficulty, scheduled.due, scheduled.reps,
                scheduled.lapses, scheduled.reviewed_at,
            )
            log_id = await conn.fetchval(
                q.INSERT_REVIEW_LOG, card_id, user_id, rating, scheduled.reviewed_at,
                row["review_state"], scheduled.state, scheduled.stability,
                scheduled.difficulty, scheduled.due, scheduled.scheduled_days,
            )
            card = await conn.fetchrow(q.FLASHCARD_FOR_USER, card_id, user_id)
        return ReviewOutcome(
            card=Flashcard.from_row(card),
            review=ReviewRecord(
                id=log_id, rating=rating,  # type: ignore[arg-type]  # checked by the view
                reviewed_at=scheduled.reviewed_at,
                scheduled_days=round(scheduled.scheduled_days, 6),
            ),
        )

    # -------------------------------------------------------------- settings

    async def settings(self, user_id: UUID) -> StudySettings:
        retention = await self.pool.fetchval(q.DESIRED_RETENTION, user_id)
        return StudySettings(desired_retention=retention or DEFAULT_RETENTION)

    async def save_settings(self, user_id: UUID, settings: StudySettings) -> StudySettings:
        saved = await self.pool.fetchval(
            q.SET_DESIRED_RETENTION, user_id, settings.desired_retention
        )
        return StudySettings(desired_retention=saved)

    # -------------------------------------------------------------- skill trees

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

    async def deck_exists(self, deck_id: UUID) -> bool:
        return bool(await self.pool.fetchval(q.DECK_EXISTS, deck_id, self.user_id))

    async def library_cards(self, limit: int) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(q.LIBRARY_CARDS, self.user_id, limit)
        return [(r["question"], r["answer"]) for r in rows]

    async def deck_cards(self, deck_id: UUID) -> list[FlashcardRef]:
        rows = await self.pool.fetch(q.DECK_CARD_REFS, deck_id, self.user_id)
        return [
            FlashcardRef(id=r["id"], question=r["question"], answer=r["answer"],
                         source_text=r["source"])
            for r in rows
        ]

    async def deck_material(self, deck_id: UUID) -> str | None:
        rows = await self.pool.fetch(q.DECK_MATERIAL, deck_id, self.user_id)
        texts = [r["content"] for r in rows if r["content"]]
        return "\n\n".join(texts) if texts else None
