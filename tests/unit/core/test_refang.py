"""Defanged indicators as analysts and feeds write them: each form and the host it must
give, or the refusal it must get. The rule under test above all: never a wrong host."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import IndicatorError
from bot.core.indicators import parse_indicator, parse_indicators
from bot.core.refanging import join_spaced_notation, readings


@dataclass(frozen=True)
class Refused:
    """The form must be refused with a message containing `reason`."""

    reason: str


AMBIGUOUS = Refused("is ambiguous")

# (as pasted, the indicator's value or the refusal)
TABLE: list[tuple[str, str | Refused]] = [
    # dots in brackets, parentheses, braces
    ("example[.]com", "example.com"),
    ("example(.)com", "example.com"),
    ("example{.}com", "example.com"),
    ("www[.]example[.]co[.]uk", "www.example.co.uk"),
    ("example[.]com.", "example.com"),
    ("sub.example[.]com", "sub.example.com"),
    ("example[ . ]com", "example.com"),
    ("example( . )com", "example.com"),
    ("example{ .}com", "example.com"),
    ("EXAMPLE[.]COM", "example.com"),
    # dots as words
    ("example[dot]com", "example.com"),
    ("example(dot)com", "example.com"),
    ("example{dot}com", "example.com"),
    ("example[DOT]com", "example.com"),
    ("example(DOT)com", "example.com"),
    ("example[ dot ]com", "example.com"),
    ("example[punkt]com", "example.com"),
    ("example(punkt)de", "example.de"),
    ("fooDOTcom", "foo.com"),
    ("wwwDOTexampleDOTcom", "www.example.com"),
    ("1DOT1DOT1DOT1", "1.1.1.1"),
    ("bad-dot-com", "bad.com"),
    ("www-dot-example-dot-org", "www.example.org"),
    ("BAD-DOT-COM", "bad.com"),
    # half brackets and bracketed labels
    ("foo].[com", "foo.com"),
    ("www[.[example[.]com", "www.example.com"),
    ("example].com", "example.com"),
    ("example.[com", "example.com"),
    ("example[.com", "example.com"),
    ("example).(com", "example.com"),
    ("[www].example.com", "www.example.com"),
    ("(www).example[.]com", "www.example.com"),
    ("[www][.]example[.]com", "www.example.com"),
    ("example(punto)com", "example.com"),
    ("foo[-]bar[.]com", "foo-bar.com"),
    ("diota[-]ar.com:80/.well-known/x.pdf", "diota-ar.com"),
    ("98[,]126[,]38[,]107", "98.126.38.107"),
    # backslash-escaped dots
    ("example\\.com", "example.com"),
    ("www\\.example\\.com", "www.example.com"),
    ("hxxps://example\\.com/a", "example.com"),
    # schemes
    ("hxxp://example[.]com", "example.com"),
    ("hxxps://example[.]com/path", "example.com"),
    ("hXXp://example.com", "example.com"),
    ("hXXps://example.com", "example.com"),
    ("HXXPS://EXAMPLE.COM", "example.com"),
    ("hxtp://example.com", "example.com"),
    ("h**p://example.com", "example.com"),
    ("h**ps://example.com/x", "example.com"),
    ("h__p://example.com", "example.com"),
    ("fxp://files.example.com/pub", "files.example.com"),
    ("xxxx://example.com", "example.com"),
    ("xxxxx://example.com", "example.com"),
    ("xxxxs://example.com", "example.com"),
    ("****://example.com", "example.com"),
    ("[http]://example.com", "example.com"),
    ("[https]://example.com", "example.com"),
    ("(http)://example.com", "example.com"),
    ("{hxxps}://example.com", "example.com"),
    ("http[s]://example.com", "example.com"),
    ("http//example.com", "example.com"),
    ("https//example.com/x", "example.com"),
    ("hxxp//example[.]com", "example.com"),
    ("http:\\\\example.com\\x", "example.com"),
    ("http:///example.com/x", "example.com"),
    ("http!://example.com", "example.com"),
    ("https&://example.com", "example.com"),
    ("xXxXx://example.com", "example.com"),
    # colons and slashes in brackets
    ("hxxps[:]//example[.]com", "example.com"),
    ("hxxps[://]example[.]com", "example.com"),
    ("http(:)//example.com", "example.com"),
    ("http{:}//example.com", "example.com"),
    ("hxxp[:]//example[.]com[:]8080/x", "example.com"),
    ("hxxp[:]//example[.]com[/]path", "example.com"),
    ("example[.]com[/]path", "example.com"),
    ("example.com(/)path", "example.com"),
    ("example.com{/}path", "example.com"),
    ("https:[//]example.com", "example.com"),
    ("hxxps[:][//]example[.]com", "example.com"),
    ("example[.]com[:]443", "example.com"),
    ("hxxps[:]//example[.]com[/]a[/]b?c=d", "example.com"),
    # __ for //, only where the name as written could not be meant
    ("http__example.com/test", "example.com"),
    ("http:__example.com/test", "example.com"),
    ("https__example.com", "example.com"),
    ("hxxp__example[.]com/x", "example.com"),
    ("hxxps:__example[.]com", "example.com"),
    ("http__www.example.com/x", AMBIGUOUS),
    ("http:__www.example.com/x", "www.example.com"),
    # @ in brackets
    ("https://user[@]example[.]com/", "example.com"),
    ("hxxps://user[at]example[.]com/", "example.com"),
    ("hxxps://user(at)example(.)com/", "example.com"),
    ("hxxps://user{@}example{.}com/", "example.com"),
    ("user[@]example[.]com", Refused("monitor the domain `example[.]com` instead")),
    ("user[at]example[.]com", Refused("monitor the domain `example[.]com` instead")),
    ("user(AT)example.com", Refused("looks like an email address")),
    ("user(arroba)example.com", Refused("looks like an email address")),
    ("user[et]example[.]com", Refused("looks like an email address")),
    ("fooATbar.com", Refused("reading `AT` as `@` it is an email address")),
    ("fooMATbar.com", "foomatbar.com"),
    # IP addresses
    ("98.126.38[.]107", "98.126.38.107"),
    ("98[.]126[.]38[.]107", "98.126.38.107"),
    ("98(.)126(.)38(.)107", "98.126.38.107"),
    ("98{.}126{.}38{.}107", "98.126.38.107"),
    ("98[dot]126[dot]38[dot]107", "98.126.38.107"),
    ("98\\.126\\.38\\.107", "98.126.38.107"),
    ("hxxp://98.126.38[.]107:8080/x", "98.126.38.107"),
    ("hxxp[:]//98[.]126[.]38[.]107/", "98.126.38.107"),
    ("2606[:]4700[:]4700[:][:]1111", "2606:4700:4700::1111"),
    ("hxxp://[2606:4700:4700::1111]:80/", "2606:4700:4700::1111"),
    ("10[.]0[.]0[.]1", Refused("is a private address")),
    ("hxxp://192[.]168[.]1[.]1/", Refused("is a private address")),
    # internationalised names
    ("münchen[.]de", "xn--mnchen-3ya.de"),
    ("hxxps://пример[.]рф/", "xn--e1afmkfd.xn--p1ai"),
    ("xn--mnchen-3ya[.]de", "xn--mnchen-3ya.de"),
    # wrapped in backticks, quotes or parentheses
    ("(evil[.]com)", "evil.com"),
    ("(hxxps://evil[.]com/x)", "evil.com"),
    ("((evil.com))", "evil.com"),
    ("(www).example(.)com", "www.example.com"),
    ("`example[.]com`", "example.com"),
    ('"hxxps://example[.]com/x"', "example.com"),
    # valid names that look defanged stay as they are
    ("hxxp.com", "hxxp.com"),
    ("xxxx.com", "xxxx.com"),
    ("dotcom.com", "dotcom.com"),
    ("polkadot.network", "polkadot.network"),
    ("www.dotster.com", "www.dotster.com"),
    ("accounts.dot-star.online", "accounts.dot-star.online"),
    ("WWW.MDOT.JXCSF.VIP", "www.mdot.jxcsf.vip"),
    ("DOTS.COM", "dots.com"),
    ("hxxpwn.example.com", "hxxpwn.example.com"),
    ("treff-punkt-berlin.de", "treff-punkt-berlin.de"),
    # (ioc-fanger turns the next three into other, valid hosts)
    ("shOPping.com", "shopping.com"),
    ("hxxp://shOPping[.]com", "shopping.com"),
    ("MY-DOTCOM.COM", "my-dotcom.com"),
    ("WWW.hUGpage.com", "www.hugpage.com"),
    ("_dmarc.example.com", "_dmarc.example.com"),
    ("http.example.com", "http.example.com"),
    ("evil.com/hxxp://x", "evil.com"),
    # two different hosts both make sense: refused, both shown
    ("my-dot-com.net", AMBIGUOUS),
    ("wwwDOTexample.com", AMBIGUOUS),
    ("evil-dot-example.co.uk", AMBIGUOUS),
    ("http__login.example.com", AMBIGUOUS),
    # nothing that makes sense
    ("evil[.]", Refused("is a top-level domain or a bare host name")),
    ("[.]com", Refused("starts with a dot")),
    ("example[.][.]com", Refused("has an empty label")),
    ("hxxp://", Refused("has no host name")),
    ("hxxp[:]//", Refused("has no host name")),
    ("fooDOT", Refused("is a top-level domain or a bare host name")),
    ("ssh://example[.]com", Refused("only http, https and ftp URLs are understood")),
    ("http:example.com", Refused("is not a domain, IP address or URL")),
    ("example[.]test", Refused("is a special-use name (.test)")),
    ("*[.]example[.]com", Refused("wildcards are not supported")),
]


def _outcome(form: str) -> str | Refused:
    try:
        return parse_indicator(form).value
    except IndicatorError as error:
        return Refused(str(error))


@pytest.mark.parametrize(("form", "expected"), TABLE)
def test_refang_table(form: str, expected: str | Refused) -> None:
    outcome = _outcome(form)
    if isinstance(expected, Refused):
        assert isinstance(outcome, Refused), f"{form!r} gave the host {outcome!r}"
        assert expected.reason in outcome.reason
    else:
        assert outcome == expected


def test_refang_table_is_large_and_mostly_refangs() -> None:
    refanged = [form for form, expected in TABLE if not isinstance(expected, Refused)]
    assert len(TABLE) >= 100
    assert len(refanged) >= 0.8 * len(TABLE)
    assert len({form for form, _ in TABLE}) == len(TABLE), "a form is listed twice"


@pytest.mark.parametrize(
    ("form", "shown"),
    [
        (
            "my-dot-com.net",
            "`my-dot-com[.]net` is ambiguous: as written it is `my-dot-com[.]net`, "
            "reading `-dot-` as a dot it is `my[.]com[.]net`",
        ),
        (
            "http__www.example.com/x",
            "`http__www[.]example[.]com/x` is ambiguous: as written it is `http__www[.]example[.]com`, "
            "reading `__` as `//` it is `www[.]example[.]com`",
        ),
    ],
)
def test_ambiguous_forms_show_both_readings(form: str, shown: str) -> None:
    outcome = _outcome(form)
    assert isinstance(outcome, Refused)
    assert outcome.reason.startswith(shown)


@pytest.mark.parametrize(
    ("paste", "values"),
    [
        ("example [.] com", ["example.com"]),
        ("example [ . ] com, evil(.)net", ["example.com", "evil.net"]),
        ("example dot com", ["example.com"]),
        ("www dot example dot com 1.1.1[.]1", ["www.example.com", "1.1.1.1"]),
        ("www DOT example DOT org", ["www.example.org"]),
        ("hxxps [:] //example [.] com/x", ["example.com"]),
        ("example punkt de", ["example.de"]),
        ("5[,]6[,]7(,)8", ["5.6.7.8"]),
        ("http :// example.com/x, hxxps:// evil[.]net", ["example.com", "evil.net"]),
        ("http// example.com", ["example.com"]),
    ],
)
def test_spaced_notation_in_a_paste(paste: str, values: list[str]) -> None:
    assert [indicator.value for indicator in parse_indicators(paste)] == values


def test_spaced_word_dot_does_not_glue_real_names() -> None:
    # `evil.com` stands alone; `dot` and `com` are then refused, nothing is glued to it.
    assert join_spaced_notation("evil.com dot com") == "evil.com dot com"
    with pytest.raises(IndicatorError, match="2 of the indicators given cannot be used"):
        parse_indicators("evil.com dot com")


def test_readings_name_the_notations_undone() -> None:
    found = readings("hxxp__my-dot-site[.]com")
    assert [r.text for r in found] == [
        "hxxp__my-dot-site[.]com",
        "hxxp__my-dot-site.com",
        "http://my.site.com",
    ]
    assert found[1].notations == ("a bracketed dot",)
    assert found[2].notations == ("a bracketed dot", "`-dot-` as a dot", "`hxxp` as http", "`__` as `//`")


def test_spaced_at_is_joined_only_inside_its_brackets() -> None:
    assert join_spaced_notation("user[ @ ]example[.]com") == "user[@]example[.]com"
    assert join_spaced_notation("evil[.]com (at) 10:00") == "evil[.]com (at) 10:00"


# --- properties: any sure defanging of a valid name gives that name back --------------

_DOTS = ["[.]", "(.)", "{.}", "[dot]", "(DOT)", "{ dot }", "[ . ]", "\\.", "].[", "[.[", "[punkt]", "."]
_SCHEMES = ["", "hxxp://", "hXXps://", "h**p://", "hxxps[:]//", "[https]://", "http//", "fxp://", "xxxx://"]
_PATHS = ["", "/", "[/]x", "(/)a/b", ":8443/x?q=1", "[:]443"]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        [
            "evil.com",
            "login.evil.co.uk",
            "a-b.example.org",
            "xn--mnchen-3ya.de",
            "münchen.de",
            "пример.рф",
            "_dmarc.example.net",
            "1.2.3.com",
            "98.126.38.107",
            "hxxp.com",
            "dotcom.net",
            "shopping.com",
        ]
    ),
    st.lists(st.sampled_from(_DOTS), min_size=4, max_size=4),
    st.sampled_from(_SCHEMES),
    st.sampled_from(_PATHS),
)
def test_sure_defanging_never_gives_another_host(name: str, dots: list[str], scheme: str, path: str) -> None:
    labels = name.split(".")
    defanged = labels[0] + "".join(dot + label for dot, label in zip(dots, labels[1:], strict=False))
    assert parse_indicator(scheme + defanged + path) == parse_indicator(name)
