"""The one policy for characters in user-written text (handlers.models)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.models import FlashcardPayload, SkillTreePayload, refuse_control_characters

ALLOWED_CONTROLS = {"\t", "\n", "\r"}


def test_every_c0_c1_control_and_del_is_refused_except_tab_and_line_breaks() -> None:
    for code in range(0x100):
        char = chr(code)
        refused = code < 0x20 or 0x7F <= code <= 0x9F
        if char in ALLOWED_CONTROLS or not refused:
            assert refuse_control_characters(f"a{char}b") == f"a{char}b"
        else:
            with pytest.raises(ValueError, match="control characters"):
                refuse_control_characters(f"a{char}b")


@pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udc00", "\udfff"])
def test_a_lone_surrogate_is_refused_because_it_is_not_utf8(surrogate: str) -> None:
    with pytest.raises(ValueError):
        refuse_control_characters(f"x{surrogate}")


def test_letters_of_every_script_and_emoji_stay_allowed() -> None:
    text = "Ünïcødé ½ — 漢字 العربية 🧪 \u200b \u2028 \ufeff"
    assert refuse_control_characters(text) == text


def test_the_payload_models_apply_the_policy_and_name_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        FlashcardPayload.model_validate({"content": "a\x00b"})
    assert err.value.errors()[0]["loc"] == ("content",)
    with pytest.raises(ValidationError) as err:
        SkillTreePayload.model_validate({"goal": "ok", "description": "x\x1b[2J"})
    assert err.value.errors()[0]["loc"] == ("description",)
