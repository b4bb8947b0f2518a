"""Re-sanitise a rendered HTML email with an allow-list (nh3), whatever the template did.

Owns the allow-list: the tags, attributes, CSS properties and URL schemes an email body
may keep. No script, iframe, form, meta, base, img or event attribute survives, and links
are http(s) or mailto only. The document head is rebuilt in code. Must not render, inline
CSS or decide what the email says.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "li", "mark", "ol", "p", "pre", "small", "span",
        "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
        "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "lang", "dir", "align"},
    "a": {"href"},
    "table": {"width", "cellpadding", "cellspacing", "border", "role"},
    "td": {"width", "valign", "colspan", "rowspan"},
    "th": {"width", "valign", "colspan", "rowspan", "scope"},
}
# Layout and typography only: no position (overlays), no background images or other url().
ALLOWED_CSS_PROPERTIES = frozenset(
    {
        "background-color", "border", "border-bottom", "border-collapse", "border-color",
        "border-left", "border-radius", "border-right", "border-spacing", "border-style",
        "border-top", "border-width", "color", "display", "font", "font-family", "font-size",
        "font-style", "font-weight", "height", "letter-spacing", "line-height", "list-style",
        "list-style-type", "margin", "margin-bottom", "margin-left", "margin-right",
        "margin-top", "max-width", "min-width", "overflow-wrap", "padding", "padding-bottom",
        "padding-left", "padding-right", "padding-top", "text-align", "text-decoration",
        "text-transform", "vertical-align", "white-space", "width", "word-break",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto"})

_BODY = re.compile(r"<body(?P<attributes>[^>]*)>(?P<inner>.*)</body>", re.DOTALL | re.IGNORECASE)
# The style nh3 kept on the wrapper: already allow-listed, and quotes inside are escaped.
_WRAPPER_STYLE = re.compile(r'<div style="(?P<style>[^"]*)">')
_LANG = re.compile(r"<html[^>]*\slang=\"(?P<lang>[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\"", re.I)


def clean_fragment(fragment: str) -> str:
    """`fragment` with everything outside the allow-list removed."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative="deny",
        filter_style_properties=set(ALLOWED_CSS_PROPERTIES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def clean_document(document: str, *, title: str) -> str:
    """A whole email document: a head made here and the document's body, sanitised.

    The body's own attributes go through the allow-list on a wrapping <div>; its cleaned
    style is then given back to <body> too, so a page background fills the window while
    an `onload` is gone.
    """
    found = _BODY.search(document)
    attributes, inner = (found["attributes"], found["inner"]) if found else ("", document)
    body = clean_fragment(f"<div{attributes}>{inner}</div>")
    kept_style = _WRAPPER_STYLE.match(body)
    body_style = kept_style["style"] if kept_style else ""
    lang_found = _LANG.search(document)
    lang = lang_found["lang"] if lang_found else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n"
        f'<body style="margin:0;padding:0;{body_style}">\n{body}\n</body>\n</html>\n'
    )
