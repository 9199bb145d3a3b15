"""Reading YAML the project does not trust: data only, one-line errors, and ``_BASE_`` for configs.

Every YAML file the project reads (detectron2 configs, space files, cluster files) goes through
:func:`read_yaml`: ``yaml.SafeLoader`` (a file can hold data, never construct Python objects), a
duplicate key is an error (PyYAML would silently keep the last one), and every failure -- not
found, not UTF-8, not YAML, nested too deep -- is a :class:`YamlFileError` whose one-line message
names the file.

:func:`load_config_yaml` adds detectron2's ``_BASE_`` inheritance on top of it. It replaces
``CfgNode.merge_from_file``, which falls back to ``yaml.unsafe_load`` when the safe loader meets a
Python tag (``!!python/object/apply:os.system``): that fallback is the reason this module exists.
No detectron2 import here, so space validation stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_BASE_DEPTH", "MAX_YAML_BYTES", "MAX_YAML_VALUES", "YamlFileError", "load_config_yaml", "read_yaml"]

# A config and its chain of _BASE_ files: detectron2's own model zoo goes 2 deep; 16 is plenty.
MAX_BASE_DEPTH = 16
# The project's YAML files are a few KB (the largest packaged config is ~5 KB); 1 MiB leaves room.
MAX_YAML_BYTES = 1 << 20
# YAML aliases make one object appear in many places: a 1 KB file of 24 nested aliases expands to 2**24
# values for whoever walks it (the _BASE_ merge, yacs), and a self-referencing one never ends. The
# largest packaged config has a few hundred values.
MAX_YAML_VALUES = 1_000_000
# The tag of a YAML merge key (``<<: *defaults``), which the base loader resolves itself.
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlFileError(ValueError):
    """A YAML file that cannot be read as plain data; the message names the file."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # merged keys may be overridden by the mapping's own ones, as YAML intends
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (the second would silently replace the first)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(
    path: str | Path, what: str = "YAML file", error: type[Exception] = YamlFileError, max_bytes: int = MAX_YAML_BYTES
) -> Any:
    """The parsed content of ``path`` (plain data: dicts, lists, str, numbers, bools, None, dates).

    Raises ``error`` with one line naming ``path``: ``{path}: {what} not found``, ``larger than
    max_bytes`` (PyYAML parses ~0.2 MB/s: a 50 MB file would take minutes), ``not UTF-8 text``,
    ``not valid YAML (line N): ...`` (a Python tag, a duplicate key, a syntax error) or ``nested too deep``.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise error(f"{path}: {what} is {size} bytes, more than the {max_bytes} a {what} may have")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise error(f"{path}: not valid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise error(f"{path}: {what} is nested too deep to read") from None
    if _expands_past(data, MAX_YAML_VALUES):
        raise error(f"{path}: {what} expands to more than {MAX_YAML_VALUES} values (YAML aliases that repeat "
                    "a part many times, or refer to themselves)")
    return data


def _expands_past(data: Any, budget: int) -> bool:
    """Whether walking ``data`` as its readers will (shared parts once per reference) visits more than
    ``budget`` values; stops as soon as it does, so a self-reference ends too."""
    stack = [data]
    while stack:
        budget -= 1
        if budget < 0:
            return True
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def load_config_yaml(path: str | Path, packaged: Callable[[str], Path] | None = None) -> dict[str, Any]:
    """A detectron2 config file as a dict, its ``_BASE_`` files merged in (the file's values win).

    ``_BASE_`` is a path or a list of paths, relative to the file's folder (as in detectron2); a
    bare name not found there (``Base-Attribute-RCNN-FPN.yaml``) is looked up with ``packaged``
    (a packaged config by name). Remote bases (``https://``) are refused: download and review them.

    Raises:
        YamlFileError: one line naming the file (and the ``_BASE_`` entry) that is wrong.
    """
    return _load(Path(path), packaged, ())


def _load(path: Path, packaged: Callable[[str], Path] | None, chain: tuple[Path, ...]) -> dict[str, Any]:
    if len(chain) > MAX_BASE_DEPTH:
        raise YamlFileError(f"{chain[0]}: _BASE_ chain deeper than {MAX_BASE_DEPTH} files")
    loaded = read_yaml(path, "config file")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise YamlFileError(f"{path}: a config file holds a mapping of keys, got a {type(loaded).__name__}")
    bases = loaded.pop("_BASE_", None)
    if bases is None:
        return loaded
    entries = bases if isinstance(bases, list) else [bases]
    merged: dict[str, Any] = {}
    for entry in entries:
        base = _resolve_base(path, entry, packaged)
        if base.resolve() in {p.resolve() for p in (*chain, path)}:
            raise YamlFileError(f"{path}: _BASE_ {entry!r} includes itself (a cycle)")
        _merge_into(_load(base, packaged, (*chain, path)), merged, base)
    _merge_into(loaded, merged, path)
    return merged


def _resolve_base(path: Path, entry: Any, packaged: Callable[[str], Path] | None) -> Path:
    if not isinstance(entry, str) or not entry:
        raise YamlFileError(f"{path}: _BASE_ must be a file name or a list of them, got {entry!r}")
    if "://" in entry:
        raise YamlFileError(f"{path}: _BASE_ {entry!r} is remote; download it, review it and name the local copy")
    candidate = Path(entry).expanduser()
    if not candidate.is_absolute():
        candidate = path.parent / candidate
    if candidate.is_file():
        return candidate
    if packaged is not None and "/" not in entry:
        try:
            return packaged(entry if entry.endswith((".yaml", ".yml")) else f"{entry}.yaml")
        except FileNotFoundError:
            pass
    raise YamlFileError(f"{path}: _BASE_ {entry!r} not found (looked at {candidate} and the packaged configs)")


def _merge_into(src: dict[str, Any], dst: dict[str, Any], source: Path) -> None:
    """detectron2's ``_BASE_`` merge: nested mappings merge key by key, anything else replaces."""
    for key, value in src.items():
        if isinstance(value, dict) and key in dst:
            if not isinstance(dst[key], dict):
                raise YamlFileError(f"{source}: {key} is a mapping here but not in its _BASE_")
            _merge_into(value, dst[key], source)
        else:
            dst[key] = value
