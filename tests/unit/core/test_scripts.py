"""Script detection: which writing systems a domain's labels mix (homograph names)."""

from __future__ import annotations

import pytest

from bot.core.indicators import parse_indicator
from bot.core.scripts import domain_to_unicode, label_scripts, mixed_scripts


@pytest.mark.parametrize(
    ("name", "mixed"),
    [
        ("еvil.com", ["Latin", "Cyrillic"]),  # Cyrillic е
        ("pаypal.com", ["Latin", "Cyrillic"]),  # Cyrillic а
        ("аpple.com", ["Latin", "Cyrillic"]),
        ("gοogle.com", ["Latin", "Greek"]),  # Greek ο
        ("login.micrоsoft.com", ["Latin", "Cyrillic"]),  # in a subdomain label too
        ("ѕесurе.example.org", ["Latin", "Cyrillic"]),
        ("bаnk-ηome.com", ["Latin", "Cyrillic", "Greek"]),
        ("пример.рф", []),  # Cyrillic throughout
        ("пример.com", []),  # one script per label: not mixed
        ("інтерфакс.рф", []),
        ("παράδειγμα.gr", []),
        ("münchen.de", []),  # Latin with diacritics is Latin
        ("straße.de", []),
        ("例え.jp", []),  # Han + Hiragana: how Japanese is written
        ("ドメイン名例.jp", []),  # Katakana + Han, with the prolonged sound mark
        ("한국어.kr", []),
        ("中国abc.cn", []),  # Han + Latin is allowed with Han
        ("مثال.إختبار", []),
        ("evil.com", []),
        ("xn--80ak6aa92e.com", []),
        ("1-2-3.com", []),  # digits and hyphens belong to no script
    ],
)
def test_mixed_scripts(name: str, mixed: list[str]) -> None:
    value = parse_indicator(name).value
    assert mixed_scripts(value) == mixed


def test_label_scripts_puts_latin_first() -> None:
    assert label_scripts("раypal") == ["Latin", "Cyrillic"]
    assert label_scripts("123-") == []


def test_domain_to_unicode_keeps_what_is_not_punycode() -> None:
    assert domain_to_unicode("xn--e1afmkfd.xn--p1ai") == "пример.рф"
    assert domain_to_unicode("xn--zz.com") == "xn--zz.com"
    assert domain_to_unicode("evil.com") == "evil.com"
