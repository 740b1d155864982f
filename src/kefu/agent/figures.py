"""The figures a text states, written in digits: what a reply built on it may state
(guard.unsupported_numbers).

A translation writes some figures differently from its source, and the check must not
take that for an invented figure: 七天 becomes "7 days", "thirty days" 30天, 95折 "5 % off"
(a price at 95 % of the list price), 21:00 "9 p.m."; each form is read here.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_ZH_DIGITS = dict(zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9),
                      strict=True))
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_ZH_NUMERAL = re.compile(f"[{''.join(_ZH_DIGITS)}{''.join(_ZH_UNITS)}]+")
_EN_NUMBERS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_EN_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
                    "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
                    "once": 1, "twice": 2, "dozen": 12})
_EN_NUMBER = re.compile(r"\b(" + "|".join(_EN_NUMBERS) + r")\b", re.IGNORECASE)
_DISCOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*折")  # 95折: pay 95 %, 5 % off; 9折: 90 %, 10 % off
_CLOCK = re.compile(r"(?<![\d.:])(\d{1,2}):[0-5]\d(?!\d)")


def figures(text: str) -> set[str]:
    """Every figure text states, in digits, without thousands separators: the digits it
    writes, its Chinese and English number words, and the other ways of writing its
    discounts (折) and times of day (the 12-hour clock)."""
    found = {n.replace(",", "") for n in NUMBER.findall(text)}
    found |= {str(_zh_value(numeral)) for numeral in _ZH_NUMERAL.findall(text)}
    found |= {str(_EN_NUMBERS[word.lower()]) for word in _EN_NUMBER.findall(text)}
    for tenths in _DISCOUNT.findall(text):
        paid = _paid_percent(tenths)
        found |= {_plain(paid), _plain(100 - paid)}
    for hour in map(int, _CLOCK.findall(text)):
        found.add(str(hour - 12 if hour > 12 else 12 if hour == 0 else hour))
    return found


def misread_discounts(reply: str, source: str) -> list[str]:
    """The discounts of source (95折: the customer pays 95 %) that reply states as that much
    off ("a 95% discount", "95% off"): a translation that would give nearly everything away."""
    wrong = []
    for tenths in _DISCOUNT.findall(source):
        paid = _plain(_paid_percent(tenths))
        if re.search(rf"(?<![\d.]){re.escape(paid)}\s*%\s*(off|discount)", reply, re.IGNORECASE):
            wrong.append(f"{tenths}折")
    return wrong


def _paid_percent(tenths: str) -> float:
    """The share of the price paid at a discount of tenths折: 9 and 90 are 90 %, 95 is 95 %,
    8.5 is 85 %."""
    value = float(tenths)
    return value * 10 if value < 10 else value


def _zh_value(numeral: str) -> int:
    """二十五 -> 25, 两千 -> 2000, 十五 -> 15, 三万五千 -> 35000, 七 -> 7."""
    total = section = digit = 0
    for char in numeral:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        elif char == "万":
            total += (section + digit) * 10_000
            section = digit = 0
        else:
            section += (digit or 1) * _ZH_UNITS[char]
            digit = 0
    return total + section + digit


def _plain(value: float) -> str:
    """95.0 -> '95', 8.5 -> '8.5'."""
    return f"{value:g}"
