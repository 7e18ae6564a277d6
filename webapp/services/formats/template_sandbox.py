"""The Jinja sandbox of custom templates, with hard limits on what a template can build.

The stock sandbox stops attribute escapes (`''.__class__`), not memory bombs: one C call such
as `'1'.zfill(10**9)` allocates a gigabyte before any time budget can interrupt it, and
`{% set b = a ~ a %}` repeated doubles a string per line. So every way a template makes a
string, a list or a number is checked *before* the call that would make it:

- methods of text, lists and objects are an allow-list; those that can grow their result
  (`zfill`, `ljust`, `replace`, `join`, `expandtabs`…) have their result's size computed first;
- the operators `*`, `+`, `**`, `%` and the concatenation `~` are checked the same way, and so
  is every list, tuple and dict a template writes (`[a, a, a]`): a value's size is its
  *weight*, every character and item it holds counted as often as it is referenced, so a list
  of ten thousand references to one long list is as large as what printing it would make;
- filters are an allow-list, with the growing ones (`replace`, `join`, `center`, `indent`,
  `format`) checked; the globals are `range` (the sandbox caps it) and `dict` only.

No string or list a template builds can exceed MAX_SEQUENCE items, and no number
MAX_INTEGER_BITS bits, whatever it calls; time is bounded separately (`template.py`).
"""
import re

from jinja2.compiler import CodeGenerator
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_SEQUENCE = 10_000  # longest string or list a template may build
MAX_INTEGER_BITS = 4_096

_WIDE_FORMAT = (
    re.compile(r"%[-#0 +]*(\*|\d{4,})"),            # '%999999d' or '%*d'
    re.compile(r"%[-#0 +]*\d*\.(\*|\d{4,})"),       # '%.999999f'
    re.compile(r"\{[^{}]*:[^{}]*(\d{4,}|\{)"),       # '{:999999}' or '{:{width}}'
)

# Methods a template may call. Those mapped to a function have the size of their result
# checked first: (the object, its arguments) → the size the result would have.
_PLAIN = None


def _width(value, width, *_):
    return max(len(value), int(width))


def _replacement(value, old, new, count=-1):
    occurrences = value.count(old) if old else len(value) + 1
    if count is not None and int(count) >= 0:
        occurrences = min(occurrences, int(count))
    return len(value) + occurrences * (len(new) - len(old))


def _joined(separator, items):
    items = list(items)
    return sum(len(str(item)) for item in items) + len(separator) * max(len(items) - 1, 0)


def _expanded(value, tabsize=8):
    return len(value) + value.count("\t") * max(int(tabsize), 0)


STR_METHODS = {
    **dict.fromkeys(("capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
                     "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
                     "lower", "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex",
                     "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase",
                     "title", "upper", "format"), _PLAIN),
    "center": _width, "ljust": _width, "rjust": _width, "zfill": _width,
    "replace": _replacement, "join": _joined, "expandtabs": _expanded,
}
SEQUENCE_METHODS = dict.fromkeys(("count", "index"), _PLAIN)
MAPPING_METHODS = dict.fromkeys(("get", "items", "keys", "values"), _PLAIN)

# `batch` and `slice` are left out: their fill value is repeated without a bound.
SAFE_FILTERS = ("abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
                "float", "forceescape", "groupby", "int", "items", "last", "length", "list", "lower", "map", "max",
                "min", "pprint", "reject", "rejectattr", "reverse", "round", "safe", "select", "selectattr",
                "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique",
                "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr", "filesizeformat")


def check_size(size: int) -> None:
    if size > MAX_SEQUENCE:
        raise SecurityError(f"templates may not build strings or lists longer than {MAX_SEQUENCE}")


def weight(value, memo: dict | None = None) -> int:
    """Characters and items in `value`, each counted as often as it is referenced (each object
    is walked once: `memo` keeps its weight); stops counting once past MAX_SEQUENCE."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list | tuple | dict):
        return 1
    memo = {} if memo is None else memo
    known = memo.get(id(value))
    if known is not None:
        return known
    memo[id(value)] = MAX_SEQUENCE + 1  # a structure that holds itself is too large
    items = [item for pair in value.items() for item in pair] if isinstance(value, dict) else value
    total = len(items)
    for item in items:
        total += weight(item, memo)
        if total > MAX_SEQUENCE:
            break
    memo[id(value)] = total
    return total


def check_literal(value):
    """What a list, tuple or dict written in a template compiles to: the value, once its
    weight is checked."""
    check_size(weight(value))
    return value


def check_format(text) -> None:
    if isinstance(text, str) and any(pattern.search(text) for pattern in _WIDE_FORMAT):
        raise SecurityError("format widths over 999 are not allowed in templates")


def _check_bits(bits: int) -> None:
    if bits > MAX_INTEGER_BITS:
        raise SecurityError(f"templates may not build numbers larger than {MAX_INTEGER_BITS} bits")


def _is_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_concat(parts) -> str:
    """What `a ~ b ~ c` compiles to (see `_CheckedCodeGenerator`): the joined text, its size
    checked before it is built."""
    check_size(sum(weight(part) for part in parts))
    texts = [str(part) for part in parts]
    check_size(sum(len(text) for text in texts))
    return "".join(texts)


class _CheckedCodeGenerator(CodeGenerator):
    """Jinja compiles `~` to a plain join and list, tuple and dict literals to Python displays,
    which no sandbox hook sees; this routes them through `check_concat` and `check_literal`
    (the compiled module sees the environment as `environment`)."""

    def visit_Concat(self, node, frame) -> None:
        self.write("environment.check_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")

    def _checked(self, visit, node, frame) -> None:
        if getattr(node, "ctx", "load") != "load":  # `{% for a, b in … %}`: a target, not a value
            visit(node, frame)
            return
        self.write("environment.check_literal(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Tuple(self, node, frame) -> None:
        self._checked(super().visit_Tuple, node, frame)

    def visit_Dict(self, node, frame) -> None:
        self._checked(super().visit_Dict, node, frame)


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """Immutable sandbox (no `append`, `update`…) with the limits of this module."""

    code_generator_class = _CheckedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    check_concat = staticmethod(check_concat)
    check_literal = staticmethod(check_literal)

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and _is_number(count):
                    check_size(weight(sequence) * count)
            if _is_number(left) and _is_number(right):
                _check_bits(left.bit_length() + right.bit_length())
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                check_size(weight(left) + weight(right))
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponents over 100 are not allowed in templates")
            if _is_number(left) and _is_number(right) and right > 0:
                _check_bits(left.bit_length() * right)
        elif operator == "%":
            check_format(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805  (the sandbox's own signature)
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if type(__obj).__name__ == "builtin_function_or_method" and owner is not None:
            allowed = (STR_METHODS if isinstance(owner, str) else
                       SEQUENCE_METHODS if isinstance(owner, list | tuple) else
                       MAPPING_METHODS if isinstance(owner, dict) else {})
            if name not in allowed:
                raise SecurityError(f"the method {name!r} is not allowed in templates")
            size_of = allowed[name]
            if size_of is not None:
                try:
                    check_size(size_of(owner, *args, **kwargs))
                except (TypeError, ValueError):
                    pass  # wrong arguments: the call itself raises the user's error
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value):
        formatter = super().wrap_str_format(value)
        if formatter is not None:
            check_format(value.__self__)
        return formatter


def _center(value, width=80):
    check_size(int(width))
    return str(value).center(int(width))


def _format(value, *args, **kwargs):
    """Jinja's `format` filter (`value % args`), with the same width check as the operator."""
    check_format(str(value))
    return str(value) % (kwargs or args)


def make_environment(undefined) -> TemplateEnvironment:
    """The environment with the allow-listed filters and globals."""
    environment = TemplateEnvironment(undefined=undefined, autoescape=False, keep_trailing_newline=True)
    stock = environment.filters

    def _indent(value, width=4, first=False, blank=False):
        check_size(len(width) if isinstance(width, str) else int(width))
        text = stock["indent"](value, width, first, blank)
        check_size(len(text))
        return text

    def _replace(eval_ctx, value, old, new, count=None):
        text = str(value)
        check_size(_replacement(text, str(old), str(new), -1 if count is None else count))
        return stock["replace"](eval_ctx, value, old, new, count)

    def _join(eval_ctx, value, d="", attribute=None):
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(environment, attribute), items))
        check_size(sum(weight(item) for item in items) + len(str(d)) * max(len(items) - 1, 0))
        return stock["join"](eval_ctx, items, d)

    _replace.jinja_pass_arg = stock["replace"].jinja_pass_arg
    _join.jinja_pass_arg = stock["join"].jinja_pass_arg
    filters = {name: stock[name] for name in SAFE_FILTERS}
    filters.update(center=_center, indent=_indent, format=_format, replace=_replace, join=_join)
    environment.filters = filters
    environment.globals = {"range": environment.globals["range"], "dict": dict}
    return environment
