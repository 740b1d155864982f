"""Customers' private data kept out of logs (and, where the shop wants it, out of stored
conversations): e-mail addresses, phone numbers, mainland ID card numbers and bank card
numbers are masked before a line is written.

    mask("my card 6222 0212 3456 7890 128, call 138-1234-5678")
    -> "my card [bank card], call [phone]"

An 18-digit run is an ID card number only when its birth date is a date; a run of 16 to 19
digits is a bank card number only when its Luhn check digit is right, so order numbers
and amounts stay readable.
"""

from __future__ import annotations

import logging
import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ID_CARD = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                     r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){15,18}(?![\d-])")
PHONE = re.compile(
    r"(?<![\d+])(?:"
    r"(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}"  # mainland mobile
    r"|0\d{2,3}-?\d{7,8}"  # mainland landline with its area code
    r"|\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{2,4}){2,4}"  # international
    r")(?!\d)")


def mask(text: str) -> str:
    """text with every e-mail address, ID card, bank card and phone number replaced by its
    kind in brackets."""
    text = EMAIL.sub("[email]", text)
    text = ID_CARD.sub("[id card]", text)
    text = CARD.sub(lambda m: "[bank card]" if _luhn(m.group()) else m.group(), text)
    return PHONE.sub("[phone]", text)


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2)
                for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


class MaskingFormatter(logging.Formatter):
    """A log formatter that masks private data in the whole line, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))
