"""One real spaCy annotator for the whole test session (the model loads in a second or two).

A test module wraps it in its own fixture:

    @pytest.fixture(scope="module")
    def annotator():
        return shared_annotator()

Tests that change `annotator.with_entities` must set it back.
"""

import functools

from monitor.nlp import Annotator


@functools.cache
def shared_annotator() -> Annotator:
    """The same in-process Annotator for every test module."""
    return Annotator()
