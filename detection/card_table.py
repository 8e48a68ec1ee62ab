"""A model card (the JSON a checkpoint carries) as an HTML table for the admin (a job's card here, the registry's
versions in registry.admin), instead of a wall of JSON."""
from __future__ import annotations

import json

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)[:400]
    return "—" if value in (None, "") else str(value)


def card_rows(card: dict, prefix: tuple[str, ...] = (), depth: int = 3) -> list[tuple[str, str]]:
    """(key path in words, value) for every leaf of the card, nested dicts flattened up to ``depth``."""
    rows: list[tuple[str, str]] = []
    for key, value in card.items():
        path = (*prefix, str(key).replace("_", " "))
        if isinstance(value, dict) and value and len(path) < depth:
            rows += card_rows(value, path, depth)
        else:
            rows.append((" › ".join(path), _value(value)))
    return rows


def card_table(card: dict | None) -> SafeString:
    """The card as a two-column table (section › field, value); "—" for an empty card."""
    if not card:
        return mark_safe("—")
    body = format_html_join("", "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", card_rows(card))
    # Long values (hashes, paths) wrap inside the admin's column instead of widening the page.
    return format_html('<table class="model-card" style="width: 100%; overflow-wrap: anywhere"><tbody>{}</tbody></table>',
                       body)
