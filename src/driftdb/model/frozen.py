"""Value classes without `dataclasses`: `Frozen` (immutable, hashable) and `Record` (mutable).

Both behave as `@dataclass(frozen=True)` and `@dataclass` would for the classes DriftDB writes
(keyword defaults, equal by type and field values, the dataclass repr), but a dataclass compiles
its methods with `exec` when its module is imported, and `import dataclasses` itself loads
`inspect`, `ast` and `tokenize`: together about a third of a cold `driftdb select`. A subclass
lists its fields in constructor order as `__slots__ = __match_args__ = (...)`, annotates them,
and fills them in a hand-written `__init__` (a `Frozen` one with `object.__setattr__`).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

set_field = object.__setattr__  # how a `Frozen` __init__ fills its slots; `obj.x = v` raises


def _getter(fields: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A fast `obj -> (obj.f1, obj.f2, ...)`, always a tuple (attrgetter alone is not)."""
    if len(fields) > 1:
        return attrgetter(*fields)
    if fields:
        one = attrgetter(fields[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


class _Fields:
    """What both bases derive from `__match_args__`: equality, repr, copy and pickle."""

    __slots__: tuple[str, ...] = ()
    __match_args__: tuple[str, ...] = ()  # the fields in constructor order, as in a dataclass
    _get_values: ClassVar[Callable[[Any], tuple[Any, ...]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._get_values = staticmethod(_getter(cls.__match_args__))

    def _values(self) -> tuple[Any, ...]:
        """The field values, in constructor order."""
        return type(self)._get_values(self)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        values = type(self)._get_values
        return values(self) == values(other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{self.__class__.__qualname__}({fields})"

    def __reduce__(self) -> tuple[type[_Fields], tuple[Any, ...]]:
        return self.__class__, self._values()


class Frozen(_Fields):
    """An immutable value: equal and hashed by its fields; setting or deleting an attribute
    raises `dataclasses.FrozenInstanceError`, as on a frozen dataclass."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(type(self)._get_values(self))

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise _frozen(f"cannot delete field {name!r}")


class Record(_Fields):
    """A mutable value: equal by its fields, unhashable (as a dataclass with `eq=True`)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


V = TypeVar("V", bound=_Fields)


def replace(value: V, **changes: Any) -> V:
    """A copy of `value` with some fields changed, as `dataclasses.replace` makes one."""
    fields = dict(zip(value.__match_args__, value._values(), strict=True))
    unknown = changes.keys() - fields.keys()
    if unknown:
        raise TypeError(f"{type(value).__name__} has no field {sorted(unknown)[0]!r}")
    return type(value)(**{**fields, **changes})


def _frozen(message: str) -> AttributeError:
    from dataclasses import FrozenInstanceError  # only on misuse: keeps dataclasses off startup

    return FrozenInstanceError(message)
