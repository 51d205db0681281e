"""Flag values turned into query values, without click: shared by the click commands and the
fast path of `driftdb select`.

An option's value is not query text: an error in it names the option and the value, never a
caret under a query the user did not type (an --as-of value reaches the engine as an AS OF)."""

from __future__ import annotations

from typing import Any

from driftdb.errors import InvalidInputError, QuerySyntaxError

TIMEPOINT_FORMS = "use @seq:N, @now or an RFC 3339 time such as 2025-01-01T00:00:00Z"


def timepoint_option(option: str, text: str | None, absent: str | None = None) -> Any:
    """The timepoint an option gives (None when the option is not given). An empty value is
    an error: read as "no timepoint" it would silently mean `absent` instead (None: the
    option is required)."""
    if text is None:
        return None
    if not text.strip():
        leave_out = f" (or leave {option} out {absent})" if absent else ""
        raise InvalidInputError(
            f"{option} is empty; give a timepoint: @seq:N, @now or an RFC 3339 time such as "
            f"2025-01-01T00:00:00Z{leave_out}"
        )
    from driftdb.model.timepoint import parse_timepoint as resolve
    from driftdb.query.parser import parse_timepoint

    try:
        point = parse_timepoint(text)
        resolve(point)  # a time is checked now, not as the AS OF of a query never typed
    except InvalidInputError as exc:
        raise InvalidInputError(
            f'{option}: cannot read "{text}" as a timepoint{_why(exc)}; {TIMEPOINT_FORMS}'
        ) from None
    return point


def _why(exc: InvalidInputError) -> str:
    """What was wrong with a timepoint, in parentheses ("" when it is just not one)."""
    if isinstance(exc, QuerySyntaxError):
        reason = exc.message
    else:
        reason = str(exc).partition('": ')[2] or str(exc)
    if not reason or reason.startswith("not a timepoint"):
        return ""
    return f" ({reason[0].lower()}{reason[1:]})"


def where_option(option: str, text: str | None) -> Any:
    """The condition an option gives (None when not given); a syntax error names the option
    (its caret is under the condition, which the user did type)."""
    if not text:
        return None
    from driftdb.query.parser import parse_expression

    try:
        return parse_expression(text)
    except QuerySyntaxError as exc:
        raise QuerySyntaxError(
            f"{option}: {exc.message}",
            source=exc.source,
            line=exc.line,
            column=exc.column,
            length=exc.length,
            hint=exc.hint,
        ) from None


def order_by_option(text: str | None) -> Any:
    """The ORDER BY items `--order-by "total DESC,id"` gives (() when not given)."""
    if not text:
        return ()
    from driftdb.query.engine import order_items

    try:
        return order_items([s.strip() for s in text.split(",")])
    except InvalidInputError as exc:
        raise InvalidInputError(f"--order-by: {str(exc).removeprefix('order_by ')}") from None


def chosen_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt
