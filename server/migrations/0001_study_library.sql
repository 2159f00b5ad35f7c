-- The learner's library (issue 9): decks that outlive their jobs, FSRS review state on every
-- card, a review log, per-user settings, and the passage each card was made from.

-- A deck is what a completed flashcard job leaves behind. job_id names the job that created
-- it and has no FK: retention prunes jobs, never decks.
CREATE TABLE decks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_id      uuid,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- the user's list, newest first, with a (created_at, id) cursor
CREATE INDEX decks_user_list_idx ON decks (user_id, created_at DESC, id DESC);
-- one deck per creating job: backs up the fence against a re-run creating a second deck
CREATE UNIQUE INDEX decks_job_idx ON decks (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE user_settings (
    user_id            uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- FSRS desired retention; double precision so that 0.97 passes its own bound
    desired_retention  double precision NOT NULL DEFAULT 0.90
                       CHECK (desired_retention BETWEEN 0.70 AND 0.97),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- FSRS state (py-fsrs 6): 'new' is a card never reviewed (fsrs's Learning at step 0 with no
-- stability); the other states are fsrs.State. A new card is due at once.
ALTER TABLE flashcards
    ADD COLUMN deck_id           uuid REFERENCES decks (id) ON DELETE CASCADE,
    ADD COLUMN source            text CHECK (length(source) BETWEEN 1 AND 1000),
    ADD COLUMN updated_at        timestamptz,
    ADD COLUMN review_state      text NOT NULL DEFAULT 'new'
                                 CHECK (review_state IN ('new', 'learning', 'review', 'relearning')),
    ADD COLUMN learning_step     integer CHECK (learning_step >= 0),
    ADD COLUMN stability         double precision CHECK (stability > 0),
    ADD COLUMN difficulty        double precision CHECK (difficulty BETWEEN 1 AND 10),
    ADD COLUMN due               timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_reviewed_at  timestamptz,
    ADD COLUMN reps              integer NOT NULL DEFAULT 0 CHECK (reps >= 0),
    ADD COLUMN lapses            integer NOT NULL DEFAULT 0 CHECK (lapses >= 0);

-- Existing cards get one deck per job, titled as a new deck would be: the material's first
-- Markdown heading, else its first non-blank line (the job may be pruned: then the first
-- question), cut to 200 characters.
INSERT INTO decks (user_id, job_id, title, created_at, updated_at)
SELECT f.user_id, f.job_id,
       left(coalesce(
           nullif(btrim(substring(j.payload->>'content' from '(?n)^#{1,6}[ \t]+([^\n]*)')), ''),
           nullif(btrim(regexp_replace(
               substring(j.payload->>'content' from '(?n)^[ \t]*([^\n]*[^\s][^\n]*)'),
               '^#+[ \t]*', '')), ''),
           (SELECT first.question FROM flashcards first
            WHERE first.job_id = f.job_id ORDER BY first.position LIMIT 1)
       ), 200),
       min(f.created_at), min(f.created_at)
FROM flashcards f LEFT JOIN background_jobs j ON j.id = f.job_id
GROUP BY f.user_id, f.job_id, j.payload;

UPDATE flashcards f SET deck_id = d.id FROM decks d WHERE d.job_id = f.job_id;

-- Cards a job no longer retained never had a material passage: source stays null.
ALTER TABLE flashcards ALTER COLUMN deck_id SET NOT NULL;

-- a deck's cards in deck order (a later job's cards after an earlier job's)
CREATE INDEX flashcards_deck_idx ON flashcards (deck_id, created_at, position);
-- what is due: per user and per deck, most overdue first
CREATE INDEX flashcards_user_due_idx ON flashcards (user_id, due);
CREATE INDEX flashcards_deck_due_idx ON flashcards (deck_id, due);

-- Every review, as the FSRS optimizer needs it (card, rating, time) plus what it scheduled.
CREATE TABLE review_logs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    flashcard_id    uuid NOT NULL REFERENCES flashcards (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rating          text NOT NULL CHECK (rating IN ('again', 'hard', 'good', 'easy')),
    reviewed_at     timestamptz NOT NULL,
    state_before    text NOT NULL,
    state_after     text NOT NULL,
    stability       double precision,
    difficulty      double precision,
    due             timestamptz NOT NULL,
    scheduled_days  double precision NOT NULL CHECK (scheduled_days >= 0)
);
CREATE INDEX review_logs_card_idx ON review_logs (flashcard_id, reviewed_at);
CREATE INDEX review_logs_user_idx ON review_logs (user_id, reviewed_at);
