"""Sentences and proximity windows end where the document's structure does.

Block elements, `<br>`, table cells and plain-text line breaks become line breaks in the
normalised text.
"""

import pytest

from monitor.ingest.normalize import html_to_text


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<table><tr><th>Pays</th><th>Or</th></tr><tr><td>a</td><td>b</td></tr></table>",
         "Pays\nOr\n\na\nb"),
        ("Les JO\nLa sécurité\r\n  inquiète", "Les JO\nLa sécurité\ninquiète"),
        ("un\n \n deux", "un\n\ndeux"),
        ("<b>gras</b>\nsuite", "gras\nsuite"),
        ("<p>mise\n  en page</p>", "mise en page"),
        ("<p>avant</p><pre>ligne 1\nligne 2</pre>", "avant\n\nligne 1\nligne 2"),
        ("a</br>b", "a\nb"),
        ("<p>un</p><p>&lt;b&gt;deux&lt;/b&gt; trois</p>", "un\n\ndeux trois"),
    ],
)  # fmt: skip
def test_html_to_text_writes_a_line_break_wherever_a_block_ends(html, text):
    assert html_to_text(html) == text
