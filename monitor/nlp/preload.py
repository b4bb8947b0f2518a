"""What the worker pool's fork server imports before it forks: every trained model, loaded.

Workers forked afterwards find the models in `engine`'s per-process cache and share their
memory pages with the server and each other, copy-on-write. Importing this module anywhere
else only costs the load, which every annotating process pays anyway.
"""

from __future__ import annotations

import gc

from monitor.nlp.engine import MODELS, load_pipeline

for _language in MODELS:
    load_pipeline(_language)
# Moves everything loaded so far out of the collector's reach: a collection in a worker would
# otherwise write to the objects' headers and copy the shared pages it touches.
gc.freeze()
