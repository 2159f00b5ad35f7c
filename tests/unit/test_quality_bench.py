"""``cardforge bench --quality`` on a small part of the held-out set (the full run is the
bench's; this keeps its scoring and the generator's floor honest in every test run)."""

from __future__ import annotations

from server.bench.quality import HELD_OUT, KeyFact, report, run_quality, totals

SMALL_SET = {"printing_press", "water_cycle_lecture", "economics_glossary", "roman_republic"}


async def test_quality_bench_scores_a_small_held_out_set() -> None:
    scores = await run_quality(HELD_OUT, max_cards=20, only=SMALL_SET)
    assert {s.name for s in scores} == SMALL_SET
    table = report(scores)
    assert all(name in table for name in SMALL_SET) and "overall" in table
    overall = totals(scores)
    # The targets, on this part of the set: the gate leaves no flagged card and
    # no duplicate; recall and same-kind choices stay above their floors.
    assert overall["flaw_rate"] <= 0.10 and overall["near_duplicates"] == 0
    assert overall["recall"] >= 0.70
    assert overall["same_kind"] >= 0.80
    # What the gate catches is reported, not only what it lets through: the candidates it
    # dropped per check, and the deck the rules would make with it off.
    assert "gate dropped" in table and "ungated flaws" in table
    assert sum(s.candidates for s in scores) > sum(s.gated for s in scores) > 0
    assert all(sum(s.gate_by_check.values()) >= s.gated for s in scores)
    assert overall["ungated_flaw_rate"] >= overall["flaw_rate"]
    assert 0 < overall["pre_gate_flaw_rate"] < 1


def test_a_key_fact_counts_when_an_answer_names_its_term() -> None:
    fact = KeyFact("Groundwater collects in aquifers", ("aquifer",))
    assert fact.asked_by(["layers of porous rock called aquifers"])
    assert not fact.asked_by(["aquiferous rock"])  # a whole word, not a piece of one
