"""A Jinja2 sandbox with a time budget and a size budget, for operator-edited templates.

Owns the limits: a render stops with RenderLimitError when it runs past `timeout_s` or
produces more than `max_output_chars`. The deadline is checked on every loop iteration,
call, attribute lookup and output chunk, so a runaway loop cannot stall the daemon; `*`,
`**`, `%` and the growing filters refuse results past the size budget before building them
(a repeated list: at most 100,000 items, nested ones included). It stops with
NoTextFormError before printing an object's repr (`<X object at 0x…>`) through `{{ }}`,
`~`, `%`, a filter, `format` or `format_map`.
Must not know what a digest is: `render` decides which template gets which variables.
"""

from __future__ import annotations

import contextvars
import functools
import math
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markupsafe import EscapeFormatter, Markup

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_OUTPUT_CHARS = 16_000_000  # ~5,000 entries of the shipped HTML
_MAX_FORMAT_WIDTH = 1000
_TICKS_PER_CLOCK_READ = 32
_MAX_POWER_BITS = 4096
# A list costs ~8 bytes an item and prints as 3 or more characters: a digest template has
# no use for a repeated list anywhere near the text budget, so lists get their own.
_MAX_REPEATED_ITEMS = 100_000
# How many values of a container are looked at for a value with no text form.
_MAX_ITEMS_INSPECTED = 1000
_TEXT_FORMS: dict[type, bool] = {}  # a class's answer never changes: ask it once
_NO_TEXT_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
)
# `%d`, `%-20s`, `%(name)08.3f`: the width and precision of printf-style conversions.
_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class RenderLimitError(jinja2.TemplateRuntimeError):
    """A template ran too long or produced (or tried to build) too much text."""


class NoTextFormError(SecurityError):
    """A template tried to print a value whose text would be its repr (a memory address)."""


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
            finalize=_printable,
            # `{% trans %}`, `_()` and `ngettext`: render.install_language gives the words.
            extensions=["jinja2.ext.i18n"],
        )
        self.timeout_s = timeout_s
        self.max_output_chars = max_output_chars
        self._clock = clock
        # lipsum() writes any amount of text; nothing a digest needs.
        self.globals.pop("lipsum", None)
        self._bound_growing_filters()
        # Filters turn their input into text (`string`, `e`, `upper`, `join`...): none may
        # take a value whose text would be an object's repr.
        self.filters = {name: _printable_input(one) for name, one in self.filters.items()}

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
            _printable(right)
        return super().call_binop(context, operator, left, right)

    def printable(self, value: Any) -> Any:
        """Every operand of `~` passes through here (see _generate)."""
        return _printable(value)

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
        # The same hook: `~` turns its operands into text without `finalize`, so check them.
        for concat in source.find_all(nodes.Concat):
            concat.nodes = [
                nodes.Call(nodes.EnvironmentAttribute("printable"), [part], [], None, None)
                for part in concat.nodes
            ]
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
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            return
        if isinstance(sequence, str):
            if len(sequence) * count > self.max_output_chars:
                raise RenderLimitError(
                    f"repeating would build more than {self.max_output_chars} characters"
                )
        # Nested lists count their items: [[1] * 1000] * 1000 prints a million.
        elif (
            isinstance(sequence, list | tuple)
            and _item_count(sequence, _MAX_REPEATED_ITEMS) * count > _MAX_REPEATED_ITEMS
        ):
            raise RenderLimitError(f"repeating would build more than {_MAX_REPEATED_ITEMS} items")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map` as Jinja2 sandboxes them, with widths bounded and
        no value printed that has no text form (its repr would show a memory address)."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        formatter: SandboxedFormatter = (
            _BoundedEscapeFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _BoundedFormatter(self)
        )
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one mapping")
                return type(text)(formatter.vformat(text, (), args[0]))
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(wrapper, value)

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
        _printable((args, kwargs))
        return format_filter(value, *args, **kwargs)

    return bounded_format


def _printable_input(template_filter: Callable[..., Any]) -> Callable[..., Any]:
    # Jinja2 passes the context, eval context or environment first when a filter asks
    # (its `jinja_pass_arg`, which update_wrapper copies onto the wrapper).
    value_at = 0 if getattr(template_filter, "jinja_pass_arg", None) is None else 1

    def checked(*args: Any, **kwargs: Any) -> Any:
        if len(args) > value_at:
            _printable(args[value_at])
        return template_filter(*args, **kwargs)

    return functools.update_wrapper(checked, template_filter)


class _BoundedFormatter(SandboxedFormatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return super().convert_field(_printable(value), conversion)  # '{0!r}' included

    def format_field(self, value: Any, format_spec: str) -> Any:
        _check_format_spec(format_spec)
        return super().format_field(_printable(value), format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


def _check_format_spec(format_spec: str) -> None:
    # '{:>99999999}' pads to any width, like '%99999999s'; nested '{:{w}}' is filled in first.
    parsed = list(string.Formatter().parse(format_spec))
    widths = re.findall(r"\d+", "".join(literal for literal, *_ in parsed))
    if any(int(width) > _MAX_FORMAT_WIDTH for width in widths):
        raise RenderLimitError(f"format width or precision over {_MAX_FORMAT_WIDTH} is not allowed")


def _printable(value: Any) -> Any:
    """`value` itself, unless printing it would show an object's repr: refused then."""
    culprit = _without_text_form(value, [_MAX_ITEMS_INSPECTED])
    if culprit is not None:
        raise NoTextFormError(
            f"a {type(culprit).__name__!r} object has no text form to print "
            "(print one of its fields instead)"
        )
    return value


def _without_text_form(value: Any, budget: list[int]) -> Any:
    """The first value inside `value` whose text would be a bare repr, or None."""
    budget[0] -= 1
    if budget[0] < 0 or isinstance(value, str | int | float | bool | None):
        return None
    if isinstance(value, _NO_TEXT_TYPES):
        return value
    if not _has_text_form(type(value)):
        return value
    if isinstance(value, Mapping):
        items: Iterable[Any] = (part for pair in value.items() for part in pair)
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return None
    for item in items:
        found = _without_text_form(item, budget)
        if found is not None or budget[0] < 0:
            return found
    return None


def _has_text_form(kind: type) -> bool:
    """Whether some class of `kind` other than `object` says how it prints."""
    known = _TEXT_FORMS.get(kind)
    if known is None:
        mro = kind.__mro__[:-1]
        known = _TEXT_FORMS[kind] = any("__repr__" in vars(c) or "__str__" in vars(c) for c in mro)
    return known


def _item_count(sequence: Sequence[Any], limit: int) -> int:
    """Items in `sequence`, nested lists and tuples included (stops past `limit`)."""
    total = 0
    for item in sequence:
        total += _item_count(item, limit - total) if isinstance(item, list | tuple) else 1
        if total > limit:
            break
    return total


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
