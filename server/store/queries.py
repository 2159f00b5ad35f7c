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
INSERT INTO flashcards (id, user_id, job_id, question, answer, goal_id, node_id, message_id,
                        position)
SELECT u.id, $1, $2, u.question, u.answer, $3, $4, $5, u.position
FROM unnest($6::uuid[], $7::text[], $8::text[], $9::int[]) AS u(id, question, answer, position)
"""

INSERT_DISTRACTORS = """
INSERT INTO distractors (id, flashcard_id, job_id, text, position)
SELECT u.id, $1, $2, u.text, u.position
FROM unnest($3::uuid[], $4::text[], $5::int[]) AS u(id, text, position)
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

FLASHCARD_COLUMNS = "id, job_id, question, answer, goal_id, node_id, message_id, created_at"

FLASHCARD_FOR_USER = f"SELECT {FLASHCARD_COLUMNS} FROM flashcards WHERE id = $1 AND user_id = $2"

FLASHCARD_SOURCE = """
SELECT f.id, f.question, f.answer, j.payload->>'content' AS source_text
FROM flashcards f LEFT JOIN background_jobs j ON j.id = f.job_id
WHERE f.id = $1 AND f.user_id = $2
"""

OTHER_ANSWERS = """
SELECT DISTINCT answer FROM (
    SELECT answer FROM flashcards WHERE user_id = $1 AND id <> $2
    ORDER BY created_at DESC LIMIT $3
) recent
"""

LIST_FLASHCARDS = f"""
SELECT {FLASHCARD_COLUMNS} FROM flashcards
WHERE user_id = $1 AND ($2::uuid IS NULL OR job_id = $2) AND ($3::uuid IS NULL OR goal_id = $3)
ORDER BY created_at DESC, job_id, position
LIMIT $4
"""

# A card may have been given answer choices more than once: show the newest set.
DISTRACTORS_FOR_CARD = """
SELECT id, text FROM distractors
WHERE flashcard_id = $1 AND job_id = (
    SELECT job_id FROM distractors WHERE flashcard_id = $1 ORDER BY created_at DESC LIMIT 1)
ORDER BY position
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
