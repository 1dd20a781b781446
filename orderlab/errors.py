"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class OrderlabError(Exception):
    """A problem with the user's input or environment, with a message that names the fix."""


def counted(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one ("1 network", "3 networks")."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def kept_clause(n: int, when: str) -> str:
    """"; 3 networks finished {when} are kept" for an interrupted command's line ("" for none)."""
    return f"; {counted(n, 'network')} finished {when} {'is' if n == 1 else 'are'} kept" if n else ""


def name_list(names: list[str], most: int = 4) -> str:
    """Names for a message: the first ``most``, then how many more ("a, b, c, d and 3 more")."""
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def unsigned_zero(text: str) -> str:
    """A formatted number without the sign of a value that rounds to zero: a gap of -0.00004 reads
    "0.000", not "-0.000" (Python's "z" format option needs 3.11)."""
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def epoch_text(x: float) -> str:
    """An epoch (or stage) as the user wrote it: two decimals at most from 1 on (12.25, not the
    "12.2" of 3 significant digits, which stood for 12.25 beside 12.5), 3 significant digits below
    (0.512; a checkpoint every 0.005 epochs stays told apart), no trailing zeros (3, 0.25)."""
    x = float(x)
    if abs(x) >= 1e7:                   # not a line of digits (an absurd --epochs 1e300)
        return f"{x:.6g}"
    text = f"{x:.2f}" if abs(x) >= 1 else f"{x:.3g}"
    if "e" in text:                     # below 0.0001: too small for a decimal point to read well
        return text
    return unsigned_zero(text.rstrip("0").rstrip(".") if "." in text else text)


def share_text(x: float) -> str:
    """A share as a whole percentage, except where that would read as all or none of it: 0.9954 is
    "99.5%", not the "100%" that said the CNN gets right every example the MLP does (2 it misses)."""
    x = float(x)
    text = f"{x:.0%}"
    if 0 < x < 1 and text in ("0%", "100%"):
        text = f"{x:.1%}"
        if text in ("0.0%", "100.0%"):
            text = "under 0.1%" if x < 0.5 else "over 99.9%"
    return text
