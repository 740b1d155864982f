"""The figures a text states, written in digits: what a reply built on it may state
(guard.unsupported_numbers).

A translation writes some figures differently from its source, and the check must not
take that for an invented figure: 七天 becomes "7 days", "thirty days" 30天, 95折 "5 % off"
(a price at 95 % of the list price), 21:00 "9 p.m."; each form is read here. A sum of money
keeps its currency (¥1,000 must not become $1,000), and the shop's prices and ranges keep
the shop's spelling (a model's "¥90 to ¥150", "1000 yuan" are written back as ¥90–¥150,
¥1,000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

# Currencies by the ways a price writes them: a sign or code before the amount, a word after
# ("pounds" left out: it weighs as often as it pays).
_SIGNS = {"US$": "USD", "HK$": "HKD", "S$": "SGD", "RMB": "CNY", "CNY": "CNY", "USD": "USD",
          "GBP": "GBP", "EUR": "EUR", "HKD": "HKD", "¥": "CNY", "￥": "CNY", "$": "USD",
          "£": "GBP", "€": "EUR"}
_WORDS = {"元": "CNY", "块": "CNY", "人民币": "CNY", "yuan": "CNY", "RMB": "CNY", "CNY": "CNY",
          "美元": "USD", "美金": "USD", "dollars": "USD", "USD": "USD", "英镑": "GBP",
          "GBP": "GBP", "欧元": "EUR", "euros": "EUR", "EUR": "EUR",
          "港元": "HKD", "港币": "HKD", "HKD": "HKD"}


def _alternation(names: dict[str, str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


_SIGN = f"(?:{_alternation(_SIGNS)})"
_WORD = f"(?:{_alternation(_WORDS)})"
_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_BEFORE = r"(?<![A-Za-z0-9.,$¥￥£€])"  # not inside a word, a number or after a sign
_DASH = r"\s*[-–—~～]\s*"
_SEPARATOR = r"(?:\s*[-–—~～至到]\s*|\s+to\s+)"
# A price or a range as the shop writes it: ¥1,000 · US$25 · ¥90–¥150 · 3–7 · 1000元
_WRITTEN = re.compile(rf"{_BEFORE}(?P<sign>{_SIGN}\s?)?(?P<low>{_AMOUNT})"
                      rf"(?:{_DASH}(?:{_SIGN}\s?)?(?P<high>{_AMOUNT}))?"
                      rf"(?:\s?(?P<word>{_WORD})(?![A-Za-z]))?(?![\d])")


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
    found |= {_twelve_hour(hour) for hour in map(int, _CLOCK.findall(text))}
    return found


def _twelve_hour(hour: int) -> str:
    """An hour of the 24-hour clock on the 12-hour clock: 21 -> '9', 0 -> '12'."""
    return str(hour - 12 if hour > 12 else 12 if hour == 0 else hour)


def discounts(text: str) -> list[tuple[str, str, str]]:
    """The discounts text states: (as written, the share paid, the share off), in percent:
    95折 -> ("95折", "95", "5")."""
    out = []
    for tenths in _DISCOUNT.findall(text):
        paid = _paid_percent(tenths)
        out.append((f"{tenths}折", _plain(paid), _plain(100 - paid)))
    return out


def discounts_as_off(text: str) -> str:
    """text with each discount written as the share off (享92折 -> 享8% off), as a Chinese
    text is given to the LLM to put into English: the 1.5B model reads 92折 as "a 92%
    discount" nearly every time, named rule or not, and copies "8% off" as written."""
    return _DISCOUNT.sub(lambda m: f"{_plain(100 - _paid_percent(m.group(1)))}% off", text)


def misread_discounts(reply: str, source: str) -> list[str]:
    """The discounts of source (95折: the customer pays 95 %) that reply states as that much
    off ("a 95% discount", "95% off", "a discount of 95%"): a translation that would give
    nearly everything away."""
    wrong = []
    for tenths in _DISCOUNT.findall(source):
        paid = re.escape(_plain(_paid_percent(tenths)))
        if re.search(rf"(?<![\d.]){paid}\s*%\s*(off|discount)|discount of\s*{paid}\s*%",
                     reply, re.IGNORECASE):
            wrong.append(f"{tenths}折")
    return wrong


def dropped_figures(reply: str, source: str) -> list[str]:
    """The figures source writes in digits that reply (its translation) states in no form: a
    sum, a count or a time left out (¥2,000 missing), a discount stated neither as the share
    paid nor as the share off (95折: 95 or 5), a time of day neither on the 24-hour nor on the
    12-hour clock (21:00: 21:00, 21 or 9). A translation that drops one tells the customer
    less than the shop does, and a reply of names alone drops them all."""
    said = figures(reply)
    dropped = [written for written, paid, off in discounts(source) if not {paid, off} & said]
    for number in NUMBER.findall(_DISCOUNT.sub(" ", source)):
        forms = {number.replace(",", "")}
        for hour in map(int, _CLOCK.findall(number)):  # 21:00 also as 21 or 9
            forms |= {str(hour), _twelve_hour(hour)}
        if not forms & said:
            dropped.append(number)
    return list(dict.fromkeys(dropped))


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


@dataclass(frozen=True)
class _Written:
    """One price or range of a text: its spelling, its amounts without thousands
    separators, and its currency ('' when it names none)."""

    text: str
    amounts: tuple[str, ...]
    currency: str


def _written(text: str) -> list[_Written]:
    out = []
    for match in _WRITTEN.finditer(text):
        sign = (match["sign"] or "").strip()
        currency = _SIGNS.get(sign, "") or _WORDS.get(match["word"] or "", "")
        amounts = tuple(a.replace(",", "") for a in (match["low"], match["high"]) if a)
        out.append(_Written(match[0].strip(), amounts, currency))
    return out


def prices(text: str) -> list[str]:
    """The sums of money of text as it writes them (¥1,000, US$25, ¥90–¥150)."""
    return list(dict.fromkeys(w.text for w in _written(text) if w.currency))


def changed_currencies(reply: str, source: str) -> list[str]:
    """The sums of money reply states in a currency in which source does not state them
    (source: ¥1,000; reply: $1,000)."""
    stated = {(amount, w.currency) for w in _written(source) for amount in w.amounts}
    return [w.text for w in _written(reply) if w.currency
            and any((amount, w.currency) not in stated for amount in w.amounts)]


def respelled(reply: str, source: str) -> str:
    """reply with each price and range of source that it states in other words (the same
    amounts, in the same currency) written back as source writes it: "3-7 days" as 3–7 days
    where source writes 3–7, "1000 yuan" as ¥1,000. A sum in another currency is left for
    changed_currencies to refuse."""
    for shop in _written(source):
        if len(shop.amounts) == 1 and not shop.currency:
            continue  # a bare number: nothing to spell differently

        def as_shop_writes(said: re.Match[str], shop: _Written = shop) -> str:
            currency = next((w.currency for w in _written(said[0]) if w.currency), "")
            return shop.text if currency in ("", shop.currency) else said[0]

        reply = _loose(shop).sub(as_shop_writes, reply)
    return reply


def _loose(shop: _Written) -> re.Pattern[str]:
    """The amounts of shop in any spelling: any currency sign or word, thousands separator
    or none, any range separator."""
    numbers = [",?".join(re.escape(c) for c in amount.split(".")[0]) +
               (re.escape("." + amount.split(".")[1]) if "." in amount else "")
               for amount in shop.amounts]
    sign, word = rf"(?:{_SIGN}\s?)?", rf"(?:\s?{_WORD}(?![A-Za-z]))?"
    body = _SEPARATOR.join(f"{sign}{n}{word}" for n in numbers)
    return re.compile(rf"{_BEFORE}{body}(?![\d])")
