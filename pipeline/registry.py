"""Name -> class registries that fill themselves: a class registers by being defined.

Stage and Selector subclasses that set `name` register in `__init_subclass__`. To find a name that is not
registered yet, a registry imports every module of the packages listed under its entry-point group (the
built-in ones come from gristmill's own pyproject.toml; a plugin package adds its own the same way), once.
Nothing here names a module, so an editor or an import graph follows a stage's name to its class.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from importlib import metadata
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str):
        self.kind, self.group = kind, group
        self._classes: dict[str, type[T]] = {}
        self._scanned = False
        self._broken: dict[str, str] = {}  # module -> why it could not be imported
        self._lock = threading.RLock()

    def add(self, cls: type[T]) -> None:
        name = cls.__dict__.get("name")
        if not isinstance(name, str):
            return
        old = self._classes.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"{self.kind} name '{name}' is defined twice: {old.__module__}.{old.__qualname__} "
                            f"and {cls.__module__}.{cls.__qualname__}")
        self._classes[name] = cls

    def get(self, name: str) -> type[T] | None:
        if name not in self._classes:
            self.scan()
        return self._classes.get(name)

    def names(self) -> list[str]:
        self.scan()
        return sorted(self._classes)

    def problems(self) -> str:
        if not self._broken:
            return ""
        return "; modules that could not be imported: " + ", ".join(f"{m} ({why})" for m, why in self._broken.items())

    def scan(self) -> None:
        with self._lock:
            if self._scanned:
                return
            self._scanned = True
            for ep in metadata.entry_points(group=self.group):
                self._import_tree(ep.value)

    def _import_tree(self, package: str) -> None:
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError as e:
            self._broken[package] = f"no module named {e.name}"
            return
        for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as e:  # an optional dependency is not installed
                self._broken[info.name] = f"no module named {e.name}"
