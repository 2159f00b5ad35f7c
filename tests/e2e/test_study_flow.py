"""What a person sees in a real browser: generation goes live without reloads, survives a
blocked event stream, recovers from a failure, and renders LLM output as text only."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, Response, Route, expect

from tests.e2e.conftest import SCREENSHOTS, LiveServer, StartServer, ThreadedFakeAnthropic

MATERIAL = """# Photosynthesis

Photosynthesis is the process by which plants convert light energy into chemical energy.
The chloroplast is the organelle in which photosynthesis takes place. Chlorophyll is the
green pigment that absorbs mostly red and blue light. Stomata are pores in the leaf
surface through which carbon dioxide enters.

## The Light-Dependent Reactions

The light-dependent reactions take place in the thylakoid membranes. ATP synthase is an
enzyme that uses a proton gradient to make ATP. NADPH is a reduced electron carrier.

## The Calvin Cycle

The Calvin cycle is a series of light-independent reactions that fix carbon dioxide into
sugar. Rubisco is the enzyme that fixes carbon dioxide to ribulose bisphosphate.
"""

OUTLINE = """# Photosynthesis

Photosynthesis is the process by which plants convert light energy into chemical energy.

## Where It Happens

### The Chloroplast

The chloroplast is the organelle in which photosynthesis takes place.

### Stomata

Stomata are pores in the leaf surface through which carbon dioxide enters.

## The Light-Dependent Reactions

### Photolysis

Photolysis splits water molecules and releases oxygen.

### ATP Synthase

ATP synthase is an enzyme that uses a proton gradient to make ATP.

## The Calvin Cycle

The Calvin cycle fixes carbon dioxide into sugar. Rubisco is the enzyme that fixes it.
"""

LIVE_TIMEOUT_MS = 20_000
Screenshot = Callable[[str], None]


def job_url(server: LiveServer) -> re.Pattern[str]:
    return re.compile(re.escape(server.url) + r"/jobs/[0-9a-f-]{36}$")


def generate_flashcards(page: Page, server: LiveServer, material: str = MATERIAL) -> str:
    page.get_by_label("Study material").fill(material)
    page.get_by_role("button", name="Generate flashcards").click()
    page.wait_for_url(job_url(server))
    return page.url.rsplit("/", 1)[-1]


def record_dialogs(page: Page) -> list[str]:
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return dialogs


def test_generated_cards_appear_live_without_a_reload_and_stay_in_the_html(
    page: Page, browser: Browser, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(2.0))  # long enough to see the placeholder
    page.goto(server.url + "/login")
    screenshot("login")
    server.sign_in(page)
    screenshot("dashboard-empty")

    job_id = generate_flashcards(page, server)

    expect(page.locator(".placeholder-title")).to_have_text("Generating flashcards...")
    expect(page.locator("#job-body .spinner")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    screenshot("job-placeholder")
    page.evaluate("window.__sameDocument = true")

    cards = page.locator("#job-body .flashcard")
    expect(cards.first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(page.locator("#job-status")).to_contain_text("flashcard")
    expect(page.locator('[data-role="status-badge"]')).to_have_text("Done")
    screenshot("job-cards")
    count = cards.count()
    assert count >= 3

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator(f'.job-row[data-job-id="{job_id}"] .badge')).to_have_text("Done")
    expect(page.locator('a.deck[href^="/decks/"]')).to_be_visible()
    screenshot("dashboard-with-deck")
    page.go_back()
    expect(page.locator("#job-body .flashcard")).to_have_count(count)

    # the cards are in the HTML itself: a browser with scripts off sees them too
    context = browser.new_context(java_script_enabled=False)
    try:
        context.add_cookies(page.context.cookies())
        no_js = context.new_page()
        no_js.goto(f"{server.url}/jobs/{job_id}")
        expect(no_js.locator(".flashcard")).to_have_count(count)
        expect(no_js.locator(".face-back").first).to_be_visible()  # answers readable
        expect(no_js.get_by_text("Generating flashcards...")).to_have_count(0)
        no_js.screenshot(path=str(SCREENSHOTS / "job-cards-no-script.png"), full_page=True)
    finally:
        context.close()


def test_polling_fallback_shows_the_cards_when_the_event_stream_is_blocked(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(1.0))
    polls: list[str] = []
    # polling fetches the job's fragment (server/http/fragments.py), not the JSON job
    page.on("request", lambda r: polls.append(r.url) if re.search(
        r"/fragments/jobs/[0-9a-f-]{36}$", r.url) else None)
    page.route("**/events*", lambda route: route.abort())
    server.sign_in(page)

    job_id = generate_flashcards(page, server)

    expect(page.locator("#job-body .flashcard").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert any(url.endswith(f"/fragments/jobs/{job_id}") for url in polls)
    screenshot("job-cards-by-polling")


def test_a_failed_job_shows_the_error_and_try_again_succeeds(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_error(401, message="invalid x-api-key"))
    server.sign_in(page)

    first_id = generate_flashcards(page, server)

    expect(page.get_by_role("heading", name="Generation failed")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    expect(page.locator('[data-role="error-text"]')).to_contain_text("API key")
    expect(page.locator('[data-role="status-badge"]')).to_have_text("Failed")
    screenshot("job-failed-try-again")

    page.get_by_role("button", name="Try again").click()

    page.wait_for_url(lambda url: job_url(server).search(url) is not None
                      and not url.endswith(first_id))
    expect(page.locator("#job-body .flashcard").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    retried = server.api("GET", "/api/jobs/" + page.url.rsplit("/", 1)[-1])
    assert retried["retryOf"] == first_id
    assert retried["status"] == "completed"


def test_quiz_from_generated_answer_choices_gives_feedback_by_mouse_and_keyboard(
    page: Page, start_server: StartServer, screenshot: Screenshot,
) -> None:
    server = start_server()  # the offline provider
    server.sign_in(page)
    generate_flashcards(page, server)
    cards = page.locator("#job-body .flashcard")
    expect(cards.first).to_be_visible(timeout=LIVE_TIMEOUT_MS)

    first = cards.nth(0)
    flip = first.get_by_role("button", name="Show answer")
    flip.focus()
    page.keyboard.press("Enter")
    expect(first.get_by_role("button", name="Show question")).to_have_attribute(
        "aria-pressed", "true")
    page.wait_for_timeout(600)  # let the turn-over finish for the picture
    screenshot("card-flipped")

    answer = first.locator('[data-role="answer"]').inner_text()
    first.get_by_role("button", name="Generate answer choices").click()
    choices = first.locator(".choice")
    expect(choices.first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert choices.count() >= 2
    wrong = first.locator('.choice[data-correct="false"]').first
    wrong.click()
    feedback = first.locator('[data-role="feedback"]')
    expect(feedback).to_contain_text("Incorrect")
    expect(feedback).to_contain_text(answer)
    expect(first.locator(".choice.is-correct")).to_have_text(answer)
    first.scroll_into_view_if_needed()
    screenshot("quiz-wrong")

    second = cards.nth(1)
    second.get_by_role("button", name="Generate answer choices").click()
    expect(second.locator(".choice").first).to_be_focused(timeout=LIVE_TIMEOUT_MS)
    # keyboard only: arrow to the right answer, press Enter
    for _ in range(second.locator(".choice").count()):
        if page.evaluate("document.activeElement.dataset.correct") == "true":
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(second.locator('[data-role="feedback"]')).to_have_text("Correct!")
    screenshot("quiz-correct")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("phone-quiz")
    page.get_by_role("link", name="Dashboard").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("phone-dashboard")


def test_skill_tree_is_a_collapsible_outline(
    page: Page, start_server: StartServer, screenshot: Screenshot,
) -> None:
    server = start_server()
    server.sign_in(page)
    page.get_by_label("Goal").fill("Understand photosynthesis")
    page.get_by_label("Material (optional)").fill(OUTLINE)
    page.get_by_role("button", name="Generate skill tree").click()
    page.wait_for_url(job_url(server))

    tree = page.locator('#job-body [data-role="tree"]')
    expect(tree).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    root = tree.locator("details").first
    expect(root).to_have_attribute("open", "")
    branch = tree.locator("details details", has_text="Where It Happens").first
    expect(branch.locator(".tree-leaf", has_text="The Chloroplast")).to_be_visible()
    screenshot("skill-tree")

    branch.locator(":scope > summary").press("Enter")  # keyboard: collapse one branch
    expect(branch.locator(".tree-leaf").first).to_be_hidden()
    page.get_by_role("button", name="Collapse all").click()
    expect(tree.locator(".tree-leaf").first).to_be_hidden()
    page.get_by_role("button", name="Expand all").click()
    expect(branch.locator(".tree-leaf").first).to_be_visible()

    page.get_by_role("link", name="Open this tree on its own page").click()
    expect(page.locator('[data-role="tree"] details').first).to_be_visible()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("a.deck-tree")).to_be_visible()


def test_llm_markup_renders_as_text_in_cards_and_in_the_quiz(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    server = start_server(llm=fake_llm)
    question = "<script>alert(1)</script> Which tag runs script?"
    answer = "<img src=x onerror=alert(1)>"
    distractors = ["<svg onload=alert(2)>", "<b onmouseover=alert(3)>bold</b>",
                   '"><script>alert(4)</script>']

    def script(fake: Any) -> None:
        fake.push_slow(0.5)  # the page subscribes first: the cards arrive through the stream
        fake.push_tool_output({"cards": [
            {"question": question, "answer": answer},
            {"question": "What is the <iframe> element for?", "answer": "Embedding a page"},
        ]})
        fake.push_tool_output({"distractors": distractors})

    fake_llm.do(script)
    dialogs = record_dialogs(page)
    server.sign_in(page)

    generate_flashcards(page, server, "Markup in, text out.")

    card = page.locator("#job-body .flashcard").first
    expect(card.locator('[data-role="question"]')).to_have_text(question,
                                                               timeout=LIVE_TIMEOUT_MS)
    expect(card.locator('[data-role="answer"]')).to_have_text(answer)
    card.get_by_role("button", name="Generate answer choices").click()
    expect(card.locator(".choice")).to_have_count(4, timeout=LIVE_TIMEOUT_MS)
    texts = sorted(card.locator(".choice").all_inner_texts())
    assert texts == sorted([answer, *distractors])
    card.locator(".choice", has_text="<svg").click()
    page.wait_for_timeout(300)

    assert page.locator("#job-body img, #job-body svg, #job-body iframe, #job-body b").count() == 0
    assert page.locator("#job-body script").count() == 0
    screenshot("markup-as-text")
    page.reload()  # and the server-rendered page escapes it the same way
    expect(page.locator('#job-body [data-role="question"]').first).to_have_text(question)
    assert page.locator("#job-body img").count() == 0
    assert dialogs == []


def test_dashboard_shows_new_jobs_and_their_status_live(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(2.0))
    server.sign_in(page)
    page.evaluate("window.__sameDocument = true")

    # started elsewhere (another tab, the API): the open dashboard hears of it
    job = server.api("POST", "/api/jobs", {"type": "flashcard_generation",
                                           "payload": {"content": MATERIAL}})

    row = page.locator(f'.job-row[data-job-id="{job["id"]}"]')
    expect(row.locator(".badge")).to_have_text(re.compile("Queued|Working"))
    expect(row.locator(".job-title")).to_have_text("Photosynthesis")
    screenshot("dashboard-job-working")
    expect(row.locator(".badge")).to_have_text("Done", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"


def test_cancel_stops_a_running_job_and_offers_to_start_again(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_hang())  # the model never answers
    server.sign_in(page)
    generate_flashcards(page, server)
    expect(page.locator('[data-role="status-badge"]')).to_have_text("Working")

    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#job-body").get_by_text("You cancelled this.")).to_be_visible(
        timeout=LIVE_TIMEOUT_MS)
    expect(page.locator('[data-role="status-badge"]')).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Start again")).to_be_visible()


# ---------------------------------------------------------------- fragments swapped in live

FRAGMENT_OF_A_JOB = re.compile(r"/fragments/jobs/[0-9a-f-]{36}$")
# three chunks and more (16,000 characters each): a burst of progress events
LONG_MATERIAL = "\n\n".join(
    f"Concept {i} is the idea, numbered {i}, that this long chapter on photosynthesis "
    f"explains after concept {i - 1} and before concept {i + 1}." for i in range(1, 520)
)


def wait_until_finished(server: LiveServer, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        job: dict[str, Any] = server.api("GET", f"/api/jobs/{job_id}")
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.parametrize("transport", ["events", "polling"])
def test_a_job_finishing_while_the_page_is_open_swaps_in_the_server_rendered_cards(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot, transport: str,
) -> None:
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(1.5))  # the page is open while the job works
    stream: list[int] = []
    page.on("response", lambda r: stream.append(r.status) if "/api/events" in r.url else None)
    if transport == "polling":
        page.route("**/api/events*", lambda route: route.abort())
    fragments: list[Response] = []
    page.on("response", lambda r: fragments.append(r) if FRAGMENT_OF_A_JOB.search(r.url)
            else None)
    server.sign_in(page)

    job_id = generate_flashcards(page, server)
    page.evaluate("window.__sameDocument = true")

    expect(page.locator("#job-body .flashcard").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    expect(page.locator("#job[data-live]")).to_have_count(0)  # finished: no longer followed
    cards = server.api("GET", f"/api/flashcards?jobId={job_id}")["flashcards"]
    shown = page.locator("#job-body .flashcard").evaluate_all(
        "cards => cards.map(card => card.dataset.cardId)")
    assert shown == [card["id"] for card in cards]
    # what the page shows is the server's fragment: the last one fetched has every card
    swapped = [r for r in fragments if r.status == 200]
    assert swapped, "no fragment was fetched"
    assert all(r.url.endswith(f"/fragments/jobs/{job_id}") for r in swapped)
    html = swapped[-1].text()
    assert html.lstrip().startswith('<section class="job" id="job"')
    assert [f'data-card-id="{card["id"]}"' in html for card in cards] == [True] * len(cards)
    if transport == "events":
        assert 200 in stream, "the event stream never answered"
    else:
        assert stream == [], "the event stream was not blocked"
    expect(page.locator("#job-status")).to_contain_text("flashcard")
    screenshot(f"job-cards-swapped-in-by-{transport}")


def test_a_progress_storm_costs_one_fragment_fetch_in_flight(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
) -> None:
    """Every progress event names the job again; the page must not fetch once per event.
    The first fetch is held (the route does not answer) while the rest of the job's events
    arrive: none of them may start a second fetch of the same element."""
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(2.0))  # the first chunk: the page opens meanwhile
    held: list[Route] = []
    page.route(FRAGMENT_OF_A_JOB, lambda route: held.append(route))
    server.sign_in(page)

    job_id = generate_flashcards(page, server, LONG_MATERIAL)
    expect(page.locator("#job[data-live]")).to_have_count(1)
    done = wait_until_finished(server, job_id)
    assert done["status"] == "completed", done
    assert done["progress"]["chunks"] >= 3  # a progress event per chunk, and status changes
    page.wait_for_timeout(1000)  # every event of the job has reached the page by now

    assert len(held) == 1, [route.request.url for route in held]
    held[0].continue_()  # it reaches the server now, which renders the finished job

    expect(page.locator("#job-body .flashcard").first).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    page.wait_for_timeout(500)
    assert len(held) == 1  # the finished section is not followed, so nothing was refetched


def test_signing_out_in_another_tab_stops_live_updates_with_the_servers_notice(
    page: Page, start_server: StartServer, fake_llm: ThreadedFakeAnthropic,
    screenshot: Screenshot,
) -> None:
    """A fragment fetched after the session ended is a 401 notice, never the sign-in page
    swapped into the job: the page says so and stops following the job."""
    server = start_server(llm=fake_llm)
    fake_llm.do(lambda fake: fake.push_slow(3.0))
    server.sign_in(page)
    generate_flashcards(page, server)
    expect(page.locator("#job[data-live]")).to_have_count(1)

    other = page.context.new_page()
    other.goto(server.url + "/")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(server.url + "/login")
    other.close()

    notice = page.locator("#live-notice")
    expect(notice).to_contain_text("Your session has ended.", timeout=LIVE_TIMEOUT_MS)
    expect(notice.get_by_role("link", name="Sign in again")).to_have_attribute("href", "/login")
    expect(page.locator("#job[data-live]")).to_have_count(0)
    expect(page.locator('input[name="token"]')).to_have_count(0)  # no login page inside
    expect(page.locator(".placeholder-title")).to_have_text("Generating flashcards...")
    screenshot("job-signed-out-notice")


def test_polling_keeps_the_seed_schedule_and_gives_up_after_ten_minutes_with_a_notice(
    page: Page, start_server: StartServer, screenshot: Screenshot,
) -> None:
    """Polling the fragment: every 3 s, every 5 s after 30 s, then (10 s after two
    minutes) it stops at ten minutes and says so. The page's clock is Playwright's, run
    forward a second at a time; the job never runs (an API-only replica)."""
    server = start_server(workers="0")
    page.clock.install()
    page.route("**/api/events*", lambda route: route.abort())
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if FRAGMENT_OF_A_JOB.search(r.url)
            else None)
    server.sign_in(page)
    generate_flashcards(page, server)
    expect(page.locator("#job[data-live]")).to_have_count(1)

    def polls_during(seconds: int) -> int:
        before = len(polls)
        for _ in range(seconds):
            page.clock.run_for(1000)
            page.wait_for_timeout(40)  # real time for the fetch the timer started
        return len(polls) - before

    # the page's clock also flows in real time, so a window may catch one poll more
    first = polls_during(29)  # the first poll, then every 3 s: 0, 3 .. 27
    assert 9 <= first <= 10, first
    second = polls_during(30)  # every 5 s after half a minute: 30, 35 .. 55
    assert 6 <= second <= 7, second
    page.clock.fast_forward(65_000)  # past two minutes
    third = polls_during(40)  # every 10 s
    assert 4 <= third <= 5, third
    page.clock.fast_forward("10:00")
    page.clock.run_for(1000)
    expect(page.locator("#live-notice")).to_have_text(
        "Still working — refresh the page to check again.")
    assert polls_during(30) == 0  # it stopped
    expect(page.locator(".placeholder-title")).to_have_text("Generating flashcards...")
    screenshot("job-polling-gave-up")
