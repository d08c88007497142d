"""How the wake-phrase clips are shared out among the TTS engines (data.engine_weights).

A module of its own so that only generate_positive depends on it: a change here rebuilds the positives and what
follows them, not the negatives or the test set."""


def split_by_weight(items: list, names: list[str], weights: list[float]) -> dict[str, list]:
    """Deal items to names in proportion to weights, interleaved (smooth weighted round robin: each turn every
    name gains its weight and the richest takes the item, then pays the total). Equal weights deal in turn,
    items[i::len(names)], the split every run made before weights existed; ties go to the earlier name."""
    if len(names) != len(weights) or any(w <= 0 for w in weights):
        raise ValueError(f"split_by_weight: one positive weight per name, got {names} and {weights}")
    credit = [0.0] * len(names)
    total = float(sum(weights))
    dealt: dict[str, list] = {name: [] for name in names}
    for item in items:
        credit = [c + w for c, w in zip(credit, weights)]
        pick = max(range(len(names)), key=lambda i: (credit[i], -i))
        credit[pick] -= total
        dealt[names[pick]].append(item)
    return dealt
