"""Raw Fashionpedia attribute ids <-> the contiguous index 0..A-1 of the model's attribute outputs.

The mapping is "the sorted list of raw ids": index ``i`` stands for raw id ``attribute_ids[i]``.
Only :func:`load_attribute_ids` knows where that list comes from (the data layer's packaged
taxonomy); everything else takes the list.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["decode_attributes", "encode_attributes", "load_attribute_ids"]


def load_attribute_ids() -> list[int]:
    """Sorted raw attribute ids of the packaged Fashionpedia taxonomy (294 ids in 0..340)."""
    from fashion_core.data import load_taxonomy

    return sorted(int(i) for i in load_taxonomy().attribute_ids)


def _lookup(attribute_ids: Sequence[int]) -> torch.Tensor:
    """(max id + 1,) int64 table: raw id -> contiguous index, -1 for ids outside the vocabulary."""
    ids = torch.as_tensor(list(attribute_ids), dtype=torch.int64)
    if ids.numel() == 0 or bool((ids[1:] <= ids[:-1]).any()) or int(ids.min()) < 0:
        raise ValueError("attribute_ids must be non-empty, non-negative and strictly increasing.")
    table = torch.full((int(ids.max()) + 1,), -1, dtype=torch.int64)
    table[ids] = torch.arange(ids.numel())
    return table


def encode_attributes(per_object_ids: Sequence[Sequence[int]], attribute_ids: Sequence[int]) -> torch.Tensor:
    """Multi-hot targets: (N, A) float32, N = len(per_object_ids), A = len(attribute_ids).

    Raises ``ValueError`` naming the raw id when one is not in ``attribute_ids``.
    """
    table = _lookup(attribute_ids)
    out = torch.zeros((len(per_object_ids), len(attribute_ids)), dtype=torch.float32)
    rows = [torch.full((len(ids),), i, dtype=torch.int64) for i, ids in enumerate(per_object_ids)]
    raw = torch.as_tensor([int(a) for ids in per_object_ids for a in ids], dtype=torch.int64)
    if raw.numel() == 0:
        return out
    known = (raw >= 0) & (raw < table.numel())
    cols = torch.where(known, table[raw.clamp(0, table.numel() - 1)], -1)
    if bool((cols < 0).any()):
        bad = sorted({int(a) for a in raw[cols < 0]})
        raise ValueError(f"attribute ids {bad} are not in the attribute vocabulary of {len(attribute_ids)} ids.")
    out[torch.cat(rows), cols] = 1.0
    return out


def decode_attributes(mask: torch.Tensor, attribute_ids: Sequence[int]) -> list[list[int]]:
    """(N, A) bool (e.g. ``pred_attributes``) -> N sorted lists of raw attribute ids; one host copy."""
    ids = torch.as_tensor(list(attribute_ids), dtype=torch.int64)
    mask = mask.detach().to("cpu", torch.bool)
    return [ids[row].tolist() for row in mask]
