"""A Jinja2 sandbox with a time budget and a size budget, for operator-edited templates.

Owns the limits: a render stops with RenderLimitError when it runs past `timeout_s` or
produces more than `max_output_chars`. The deadline is checked on every loop iteration,
call, attribute lookup and output chunk, so a runaway loop cannot stall the daemon; `*`,
`**`, `%` and the growing filters refuse results past the size budget before building them.
Must not know what a digest is: `render` decides which template gets which variables.
"""

from __future__ import annotations

import contextvars
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_OUTPUT_CHARS = 16_000_000  # ~5,000 entries of the shipped HTML
_MAX_FORMAT_WIDTH = 1000
_TICKS_PER_CLOCK_READ = 32
_MAX_POWER_BITS = 4096
# `%d`, `%-20s`, `%(name)08.3f`: the width and precision of printf-style conversions.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class RenderLimitError(jinja2.TemplateRuntimeError):
    """A template ran too long or produced (or tried to build) too much text."""


@dataclass(slots=True)
class _Budget:
    deadline: float
    timeout_s: float
    max_chars: int
    ticks: int = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Sandboxed (and unable to mutate lists or dicts) with render-time budgets.

    Autoescape is given explicitly, never guessed from the template's file name.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(
        self,
        loader: jinja2.BaseLoader,
        *,
        autoescape: bool,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            loader=loader,
            autoescape=autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.timeout_s = timeout_s
        self.max_output_chars = max_output_chars
        self._clock = clock
        # lipsum() writes any amount of text; nothing a digest needs.
        self.globals.pop("lipsum", None)
        self._bound_growing_filters()

    def render_bounded(self, name: str, **variables: Any) -> str:
        """Render template `name`; raise RenderLimitError past either budget."""
        template = self.get_template(name)
        budget = _Budget(self._clock() + self.timeout_s, self.timeout_s, self.max_output_chars)
        token = _BUDGET.set(budget)
        try:
            chunks: list[str] = []
            size = 0
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > budget.max_chars:
                    raise RenderLimitError(
                        f"output is longer than {budget.max_chars} characters "
                        "(a loop that never ends, or too many items?)"
                    )
                self._check_time()
                chunks.append(chunk)
            return "".join(chunks)
        finally:
            _BUDGET.reset(token)

    # --- hooks the compiled template calls ------------------------------------------

    def bounded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Every `{% for %}` iterates through this (see _generate), one deadline check per item."""
        for item in iterable:
            self._check_time()
            yield item

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Every call a template makes (functions, macros, methods) comes through here."""
        self._check_time()
        for value in (*args, *kwargs.values()):
            self._check_size(value, "an argument")
        result = super().call(context, obj, *args, **kwargs)
        self._check_size(result, "a call's result")
        return result

    def getattr(self, obj: Any, attribute: str) -> Any:
        self._check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self._check_time()
        return super().getitem(obj, argument)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "*":
            self._check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return super().call_binop(context, operator, left, right)

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        # Jinja2's documented hook between parsing and code generation: wrap the iterable of
        # every for loop, so even a loop with an empty body checks the deadline.
        for loop in source.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("bounded_iter"), [loop.iter], [], None, None
            ).set_lineno(loop.lineno)
        return super()._generate(source, name, filename, defer_init=defer_init)

    # --- the checks -----------------------------------------------------------------

    def _check_time(self) -> None:
        budget = _BUDGET.get()
        if budget is None:
            return
        # Reading the clock on every attribute lookup would double the render time; every
        # 32nd step is fine-grained enough (steps take microseconds).
        budget.ticks += 1
        if budget.ticks % _TICKS_PER_CLOCK_READ == 0 and self._clock() > budget.deadline:
            raise RenderLimitError(f"rendering took longer than {budget.timeout_s:g} s")

    def _check_size(self, value: Any, what: str) -> None:
        budget = _BUDGET.get()
        if budget is not None and isinstance(value, str) and len(value) > budget.max_chars:
            raise RenderLimitError(f"{what} is longer than {budget.max_chars} characters")

    def _check_repeat(self, left: Any, right: Any) -> None:
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            limit = self.max_output_chars
            if count > 0 and len(sequence) * count > limit:
                raise RenderLimitError(f"repeating would build more than {limit} items")

    def _bound_growing_filters(self) -> None:
        limit = self.max_output_chars
        center, indent, replace = (self.filters[name] for name in ("center", "indent", "replace"))

        def bounded_center(value: Any, width: int = 80) -> Any:
            if width > limit:
                raise RenderLimitError(f"center width {width} is over {limit}")
            return center(value, width)

        def bounded_indent(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
            if isinstance(width, int) and width > _MAX_FORMAT_WIDTH:
                raise RenderLimitError(f"indent width {width} is over {_MAX_FORMAT_WIDTH}")
            if isinstance(width, str) and len(width) > _MAX_FORMAT_WIDTH:
                raise RenderLimitError(f"indent text is longer than {_MAX_FORMAT_WIDTH}")
            return indent(value, width, *args, **kwargs)

        def bounded_replace(
            eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None
        ) -> Any:
            text = str(value)
            found = len(text) + 1 if old == "" else text.count(old)
            found = found if count is None else min(found, max(count, 0))
            if len(text) + found * (len(str(new)) - len(old)) > limit:
                raise RenderLimitError(f"replace would build more than {limit} characters")
            return replace(eval_ctx, value, old, new, count)

        bounded_replace.jinja_pass_arg = replace.jinja_pass_arg  # type: ignore[attr-defined]
        self.filters.update(center=bounded_center, indent=bounded_indent, replace=bounded_replace)
        self.filters["format"] = _bounded_format(self.filters["format"])


def _bounded_format(format_filter: Callable[..., str]) -> Callable[..., str]:
    def bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
        _check_printf(str(value))
        return format_filter(value, *args, **kwargs)

    return bounded_format


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        bits = exponent * max(1, abs(base).bit_length())
        if abs(base) > 1 and bits > _MAX_POWER_BITS:
            raise RenderLimitError(f"{base} ** {exponent} is too large a number")
    elif isinstance(exponent, int | float) and math.isfinite(exponent) and abs(exponent) > 1e6:
        raise RenderLimitError(f"exponent {exponent} is too large")


def _check_printf(template: str) -> None:
    for width, precision in _PRINTF_SPEC.findall(template):
        for number in (width, precision):
            if number == "*" or (number and int(number) > _MAX_FORMAT_WIDTH):
                raise RenderLimitError(
                    f"format width or precision over {_MAX_FORMAT_WIDTH} (or '*') is not allowed"
                )
