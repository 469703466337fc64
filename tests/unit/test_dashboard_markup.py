"""The dashboard's templates escape every value unless it is already Markup."""
import pytest

from functions.dashboard.markup import Markup, join, render, when
from functions.dashboard.signin import safe_next

pytestmark = pytest.mark.unit


def test_values_are_escaped_and_markup_is_kept():
    out = render("<p>{tag}{ok}</p>", tag="<script>alert(1)</script>", ok=Markup("<b>x</b>"))
    assert out == "<p>&lt;script&gt;alert(1)&lt;/script&gt;<b>x</b></p>" and isinstance(out, Markup)


def test_adding_text_to_markup_escapes_the_text_and_stays_markup():
    both = Markup("<i>a</i>") + '"><img src=x onerror=alert(1)>'
    assert isinstance(both, Markup) and "<img" not in both and "&quot;&gt;&lt;img" in both
    assert ("<x>" + Markup("<i>")) == "&lt;x&gt;<i>"
    assert join(["<a>", Markup("<br>")], "<") == "&lt;a&gt;&lt;<br>"


def test_times_carry_their_iso_value_for_the_browser():
    assert when("2026-11-25T10:00:00.000Z") == \
        '<time datetime="2026-11-25T10:00:00.000Z">2026-11-25T10:00:00.000Z</time>'
    assert when(None) == "&ndash;"


@pytest.mark.parametrize("target,kept", [
    ("/jobs/1", True), ("/jobs?app=blog&state=failed", True), ("/apps#top", True), ("/jobs/a%2Fb", True),
    ("//evil.example", False), ("https://evil", False), ("/\\evil", False), ("", False),
    ("/\t/evil.example", False),   # next=/%09/evil.example: browsers drop the tab and read //evil.example
    ("/\n/evil.example", False), ("/\r/evil.example", False), ("/\x00/x", False), ("/\x7f/x", False),
    (" /jobs", False), ("/ /evil", False), ("/jobs//x", False), ("/\u3000/evil.example", False),
    ("javascript:alert(1)", False), ("\t//evil.example", False), ("/\\/evil.example", False)])
def test_sign_in_only_returns_to_a_path_of_this_site(target, kept):
    assert safe_next(target) == (target if kept else "/")
