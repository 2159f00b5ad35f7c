"""Every SQL statement of the user store and the study library, named. ``server.store`` is the
only caller."""

from __future__ import annotations

# ------------------------------------------------------------------ users and sessions

CREATE_USER = "INSERT INTO users (name, token_hash, is_demo) VALUES ($1, $2, $3) RETURNING id"
USER_BY_TOKEN_HASH = "SELECT id, name, is_demo FROM users WHERE token_hash = $1"
FIRST_DEMO_USER = "SELECT id, name, is_demo FROM users WHERE is_demo ORDER BY created_at LIMIT 1"
SET_USER_TOKEN = "UPDATE users SET token_hash = $2 WHERE id = $1"
CREATE_SESSION = """
INSERT INTO sessions (id_hash, user_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
USER_BY_SESSION = """
SELECT u.id, u.name, u.is_demo FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id_hash = $1 AND s.expires_at > now()
"""
DELETE_SESSION = "DELETE FROM sessions WHERE id_hash = $1"
PRUNE_SESSIONS = "DELETE FROM sessions WHERE expires_at < now()"

# ------------------------------------------------------------------ study material

INSERT_FLASHCARDS = """
INSERT INTO flashcards (id, user_id, job_id, deck_id, question, answer, source, goal_id, node_id,
                        message_id, position)
SELECT u.id, $1, $2, $3, u.question, u.answer, u.source, $4, $5, $6, u.position
FROM unnest($7::uuid[], $8::text[], $9::text[], $10::text[], $11::int[])
    AS u(id, question, answer, source, position)
"""

# A new deck for the job's cards; the unique index on job_id backs up the fence.
INSERT_DECK = "INSERT INTO decks (id, user_id, job_id, title) VALUES ($1, $2, $3, $4)"
# Appending to a deck: it must still be the user's (deleted since the job was created:
# the FK on the cards would refuse them anyway, and the job fails instead).
TOUCH_DECK = "UPDATE decks SET updated_at = now() WHERE id = $1 AND user_id = $2"

INSERT_DISTRACTORS = """
INSERT INTO distractors (id, flashcard_id, job_id, text, position)
SELECT u.id, $1, $2, u.text, u.position
FROM unnest($3::uuid[], $4::text[], $5::int[]) AS u(id, text, position)
"""

INSERT_DECK_DISTRACTORS = """
INSERT INTO distractors (id, flashcard_id, job_id, text, position)
SELECT u.id, u.flashcard_id, $1, u.text, u.position
FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::int[]) AS u(id, flashcard_id, text, position)
"""

INSERT_SKILL_TREE = """
INSERT INTO skill_trees (id, user_id, job_id, goal, description, depth, node_count)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

INSERT_SKILL_NODES = """
INSERT INTO skill_nodes (id, tree_id, parent_id, title, description, depth, position)
SELECT u.id, $1, u.parent_id, u.title, u.description, u.depth, u.position
FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::int[], $7::int[])
    AS u(id, parent_id, title, description, depth, position)
"""

# A card as the API shows it: its FSRS state and its newest set of answer choices (a card
# may have been given choices more than once).
FLASHCARD_SELECT = """
SELECT f.id, f.job_id, f.deck_id, f.question, f.answer, f.source, f.goal_id, f.node_id,
       f.message_id, f.created_at, f.review_state, f.learning_step, f.stability, f.difficulty,
       f.due, f.reps, f.lapses, f.last_reviewed_at,
       (SELECT coalesce(json_agg(json_build_object('id', d.id, 'text', d.text)
                                 ORDER BY d.position), '[]'::json)
        FROM distractors d
        WHERE d.flashcard_id = f.id AND d.job_id = (
            SELECT newest.job_id FROM distractors newest WHERE newest.flashcard_id = f.id
            ORDER BY newest.created_at DESC, newest.job_id LIMIT 1)) AS distractors
FROM flashcards f
"""

FLASHCARD_FOR_USER = FLASHCARD_SELECT + "WHERE f.id = $1 AND f.user_id = $2"

FLASHCARD_SOURCE = """
SELECT f.id, f.question, f.answer, j.payload->>'content' AS source_text
FROM flashcards f LEFT JOIN background_jobs j ON j.id = f.job_id
WHERE f.id = $1 AND f.user_id = $2
"""

# Other answers of the card's own deck: borrowing answers from another deck would offer a
# choice from another topic, which no one would pick.
OTHER_ANSWERS = """
SELECT DISTINCT answer FROM (
    SELECT o.answer FROM flashcards o JOIN flashcards f ON f.deck_id = o.deck_id
    WHERE f.id = $2 AND f.user_id = $1 AND o.id <> $2
    ORDER BY o.created_at DESC, o.position LIMIT $3
) recent
"""

LIST_FLASHCARDS = FLASHCARD_SELECT + """
WHERE f.user_id = $1 AND ($2::uuid IS NULL OR f.job_id = $2)
  AND ($3::uuid IS NULL OR f.goal_id = $3)
ORDER BY f.created_at DESC, f.job_id, f.position
LIMIT $4
"""

# ------------------------------------------------------------------ decks

DECK_SELECT = """
SELECT d.id, d.title, d.job_id, d.created_at, d.updated_at,
       (SELECT count(*) FROM flashcards f WHERE f.deck_id = d.id) AS card_count,
       (SELECT count(*) FROM flashcards f WHERE f.deck_id = d.id AND f.due <= now())
           AS due_count
FROM decks d
"""

DECK_FOR_USER = DECK_SELECT + "WHERE d.id = $1 AND d.user_id = $2"

LIST_DECKS = DECK_SELECT + """
WHERE d.user_id = $1 AND ($2::timestamptz IS NULL OR (d.created_at, d.id) < ($2, $3))
ORDER BY d.created_at DESC, d.id DESC
LIMIT $4
"""

DECK_CARDS = FLASHCARD_SELECT + """
WHERE f.deck_id = $1 AND f.user_id = $2
ORDER BY f.created_at, f.position, f.id
LIMIT $3
"""

RENAME_DECK = """
UPDATE decks SET title = $3, updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING id
"""

# Its cards, their answer choices and reviews go by ON DELETE CASCADE.
DELETE_DECK = "DELETE FROM decks WHERE id = $1 AND user_id = $2 RETURNING id"

DECK_EXISTS = "SELECT EXISTS (SELECT 1 FROM decks WHERE id = $1 AND user_id = $2)"

# The material a deck's cards came from, as far as its jobs are retained, in deck order.
DECK_MATERIAL = """
SELECT j.payload->>'content' AS content
FROM (SELECT job_id, min(created_at) AS first FROM flashcards
      WHERE deck_id = $1 AND user_id = $2 GROUP BY job_id) d
JOIN background_jobs j ON j.id = d.job_id AND j.user_id = $2
ORDER BY d.first
"""

DECK_CARD_REFS = """
SELECT f.id, f.question, f.answer, f.source FROM flashcards f
WHERE f.deck_id = $1 AND f.user_id = $2 ORDER BY f.created_at, f.position, f.id
"""

LIBRARY_CARDS = """
SELECT question, answer FROM flashcards WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2
"""

# ------------------------------------------------------------------ editing cards

UPDATE_FLASHCARD = """
UPDATE flashcards SET question = coalesce($3, question), answer = coalesce($4, answer),
                      updated_at = now()
WHERE id = $1 AND user_id = $2 RETURNING deck_id
"""

DELETE_FLASHCARD = "DELETE FROM flashcards WHERE id = $1 AND user_id = $2 RETURNING deck_id"

TOUCH_DECK_OF_CARD = "UPDATE decks SET updated_at = now() WHERE id = $1"

# ------------------------------------------------------------------ review

DUE_CARDS = FLASHCARD_SELECT + """
WHERE f.user_id = $1 AND ($2::uuid IS NULL OR f.deck_id = $2) AND f.due <= now()
ORDER BY f.due, f.created_at, f.position, f.id
LIMIT $3
"""

DUE_COUNT = """
SELECT count(*) FROM flashcards
WHERE user_id = $1 AND ($2::uuid IS NULL OR deck_id = $2) AND due <= now()
"""

# When the next card of the user (or of one deck) falls due, once none is due now.
NEXT_DUE_AT = """
SELECT min(due) FROM flashcards
WHERE user_id = $1 AND ($2::uuid IS NULL OR deck_id = $2) AND due > now()
"""

# The row lock makes two reviews of one card at once apply one after the other: each
# schedules from the state the other left, and neither is lost.
LOCK_CARD_FOR_REVIEW = """
SELECT id, review_state, learning_step, stability, difficulty, due, reps, lapses,
       last_reviewed_at
FROM flashcards WHERE id = $1 AND user_id = $2 FOR UPDATE
"""

APPLY_REVIEW = """
UPDATE flashcards SET review_state = $2, learning_step = $3, stability = $4, difficulty = $5,
                      due = $6, reps = $7, lapses = $8, last_reviewed_at = $9
WHERE id = $1
"""

INSERT_REVIEW_LOG = """
INSERT INTO review_logs (flashcard_id, user_id, rating, reviewed_at, state_before, state_after,
                         stability, difficulty, due, scheduled_days)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id
"""

# ------------------------------------------------------------------ settings

DESIRED_RETENTION = "SELECT desired_retention FROM user_settings WHERE user_id = $1"

SET_DESIRED_RETENTION = """
INSERT INTO user_settings (user_id, desired_retention) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET desired_retention = EXCLUDED.desired_retention,
                                    updated_at = now()
RETURNING desired_retention
"""

SKILL_TREE_FOR_USER = """
SELECT id, job_id, goal, description, depth, node_count, created_at
FROM skill_trees WHERE id = $1 AND user_id = $2
"""

SKILL_NODES = """
SELECT id, parent_id, title, description, depth, position
FROM skill_nodes WHERE tree_id = $1 ORDER BY position
"""

LIST_SKILL_TREES = """
SELECT id, job_id, goal, description, depth, node_count, created_at
FROM skill_trees WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2
"""
