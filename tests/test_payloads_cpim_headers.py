"""sipsimple.payloads.cpim.headers: MultilingualText, the Subject with its translations."""

from __future__ import annotations

from sipsimple.payloads.cpim import CPIMMessage, MultilingualText


def test_multilingual_text() -> None:
    text = MultilingualText("colour", {"en-US": "color"}, language="en-GB", fr="couleur")
    assert text == "colour"
    assert text.translations == {"en-US": "color", "fr": "couleur"}
    assert text.get_translation("en-us") == "color"
    assert text.get_translation("EN-gb") == "colour"
    assert text.get_translation("de") is None
    assert text != MultilingualText("colour")
    assert text == MultilingualText("colour", {"en-US": "color", "fr": "couleur"}, language="en-GB")
    assert hash(text) == hash("colour")
    message = CPIMMessage(b"", subject=text)
    assert CPIMMessage.decode(message.encode()).subject == text
    assert CPIMMessage(b"", subject="plain").subject == MultilingualText("plain")  # type: ignore[arg-type]
