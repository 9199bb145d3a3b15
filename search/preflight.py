"""Checks of a search's detectron2 configs in the driver, before Ray starts.

A config file that cannot be read (not YAML data, a ``!!python`` tag, a missing ``_BASE_``) or an
override of a key that does not exist would otherwise fail every trial, one by one, on the workers.
"""

from __future__ import annotations

from search.space import CONFIG_KEY, SearchSpec, SpaceError


def check_configs(spec: SearchSpec) -> None:
    """Build every base config the search can use, with the fixed overrides; check every searched key exists.

    Raises:
        SpaceError: one line naming the space file, the config and what is wrong.
    """
    from fashion_core.engine.setup import _coerce_numbers, resolve_config
    from fashion_core.modeling import build_attribute_cfg

    bases = [spec.train.config]
    bases += [str(v) for p in spec.params if p.key == CONFIG_KEY for v in p.values]
    searched = [(p.key, None) for p in spec.params if p.key != CONFIG_KEY]
    for base in dict.fromkeys(bases):
        try:
            path = resolve_config(base)
            fixed = _coerce_numbers(build_attribute_cfg(path), spec.train.opts)  # unknown keys fail here, named
            cfg = build_attribute_cfg(path, [x for pair in fixed for x in pair])  # types, head values
            _coerce_numbers(cfg, searched)
        except (ValueError, KeyError, AssertionError, FileNotFoundError) as exc:
            raise SpaceError(f"{spec.source}: config {base!r}: {exc}") from None
