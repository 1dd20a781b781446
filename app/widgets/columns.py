"""Table column widths fitted to the screen (no NumPy: the studies list imports it before the
first paint)."""
from __future__ import annotations


def fit_columns(widths: dict[str, int], screen: int, shrinkable: dict[str, tuple[int, float]],
                padding: int = 1) -> dict[str, int]:
    """Column widths that fit ``screen`` cells (each column has ``padding`` on both sides, and a
    table keeps a column for its scroll bar), narrowing the widest of the ``shrinkable`` columns
    (name -> (narrowest width, weight): a column of twice the weight keeps twice the share) a cell
    at a time; the others keep their widths. Narrower than that, the table scrolls sideways."""
    out = dict(widths)
    excess = sum(out.values()) + 2 * padding * len(out) + 2 - screen
    while excess > 0:
        key = max((k for k, (least, _) in shrinkable.items() if k in out and out[k] > least),
                  key=lambda k: out[k] / shrinkable[k][1], default=None)
        if key is None:
            break
        out[key] -= 1
        excess -= 1
    return out
