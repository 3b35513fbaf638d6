"""Wrapping methods and module functions in place with wrapt, and restoring them exactly.

A method is wrapped on the class (or module) whose ``__dict__`` holds it, and
:meth:`Patcher.restore` puts back the very object that was there. A bound
wrapped method pickles as ``getattr(owner, name)`` (wrapt's proxies refuse to
pickle, and joblib sends bound methods to worker processes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import wrapt

__all__ = ["Patcher", "WrapperFunction"]

_LOG = logging.getLogger(__name__)

WrapperFunction = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""A wrapt wrapper: ``wrapper(wrapped, instance, args, kwargs) -> result``."""

if TYPE_CHECKING:  # wrapt's classes are generic in its stubs only
    _BoundBase = wrapt.BoundFunctionWrapper[..., Any]
    _FunctionBase = wrapt.FunctionWrapper[..., Any]
else:
    _BoundBase = wrapt.BoundFunctionWrapper
    _FunctionBase = wrapt.FunctionWrapper


class _BoundMethodWrapper(_BoundBase):
    """A bound wrapped method that pickles as ``getattr(owner, name)``."""

    def __reduce_ex__(self, protocol: object) -> tuple[Any, tuple[Any, str]]:
        owner = self._self_instance if self._self_instance is not None else self._self_owner
        return getattr, (owner, self._self_parent._self_attribute)

    def __reduce__(self) -> tuple[Any, tuple[Any, str]]:
        return self.__reduce_ex__(2)


class _MethodWrapper(_FunctionBase):
    """The wrapt ``FunctionWrapper`` otel_ml installs on a class or module."""

    __bound_function_wrapper__ = _BoundMethodWrapper

    def __init__(self, wrapped: object, wrapper: WrapperFunction, attribute: str) -> None:
        super().__init__(cast(Callable[..., Any], wrapped), wrapper)
        self._self_attribute = attribute


@dataclass(frozen=True)
class _Patch:
    owner: object
    attribute: str
    original: object


class Patcher:
    """Installs wrappers on classes (or modules) and restores the originals exactly.

    Examples
    --------
    >>> class Model:
    ...     def predict(self, x):
    ...         return x + 1
    >>> seen = []
    >>> def wrapper(wrapped, instance, args, kwargs):
    ...     seen.append(type(instance).__name__)
    ...     return wrapped(*args, **kwargs)
    >>> original = Model.__dict__["predict"]
    >>> patcher = Patcher()
    >>> patcher.wrap(Model, "predict", wrapper)
    True
    >>> Model().predict(1), seen
    (2, ['Model'])
    >>> patcher.restore()
    >>> Model.__dict__["predict"] is original
    True
    """

    def __init__(self) -> None:
        self._patches: list[_Patch] = []

    def __len__(self) -> int:
        return len(self._patches)

    def wrap(self, owner: object, attribute: str, wrapper: WrapperFunction) -> bool:
        """Wrap ``owner.<attribute>`` (in ``vars(owner)``); False if already wrapped or absent."""
        original = vars(owner).get(attribute)
        if original is None or isinstance(original, _MethodWrapper):
            return False
        wrapt.wrap_object(owner, attribute, _MethodWrapper, (wrapper, attribute))
        self._patches.append(_Patch(owner, attribute, original))
        return True

    def wrap_defined(self, classes: Iterable[type], names: Iterable[str], wrapper: WrapperFunction,
                     *, package: str) -> None:
        """Wrap each method of ``names`` on the class of ``package`` that defines it."""
        wanted = tuple(names)
        for cls in classes:
            for name in wanted:
                for owner in cls.__mro__:
                    if name in vars(owner):
                        if owner.__module__.split(".", 1)[0] == package:
                            self.wrap(owner, name, wrapper)
                        break

    def restore(self) -> None:
        """Put every original back where it was, newest first."""
        while self._patches:
            patch = self._patches.pop()
            current = vars(patch.owner).get(patch.attribute)
            if isinstance(current, _MethodWrapper) and current.__wrapped__ is patch.original:
                setattr(patch.owner, patch.attribute, patch.original)
            else:
                # Someone wrapped on top of us: removing ours would drop theirs. Our
                # wrapper stays, and passes calls straight through once uninstrumented.
                _LOG.debug(
                    "otel_ml: %s.%s was re-wrapped; left in place", patch.owner, patch.attribute
                )
