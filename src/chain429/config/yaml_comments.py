"""Editing a round-trip YAML tree without losing its comments or blank lines.

ruamel keeps the lines after an element (its end-of-line comment, then any blank and comment
lines before the next element) in one token on the element's deepest last scalar. Moving,
adding or removing elements must move that token's tail along, or the comment above the next
element (or the next section) would vanish or land in the wrong place. Every change to a
mapping or list in the config tree goes through the four edits here.
"""

from __future__ import annotations

import copy
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

Node = CommentedMap | CommentedSeq


def _is_block(node: Any) -> bool:
    return (
        isinstance(node, CommentedMap | CommentedSeq) and len(node) > 0 and not node.fa.flow_style()
    )


def _tail_slot(container: Node, key: Any) -> tuple[Node, Any, int]:
    """Where the comment lines after `container[key]` live: (holder, key, slot)."""
    value = container[key]
    while _is_block(value):
        container = value
        key = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        value = container[key]
    return container, key, 2 if isinstance(container, CommentedMap) else 0


def _take_tail(container: Node, key: Any) -> CommentToken | None:
    holder, hkey, slot = _tail_slot(container, key)
    items = holder.ca.items.get(hkey)
    if not items or len(items) <= slot or items[slot] is None:
        return None
    token: CommentToken = items[slot]
    items[slot] = None
    return token


def _put_tail(container: Node, key: Any, token: CommentToken | None) -> None:
    if token is None:
        return
    holder, hkey, slot = _tail_slot(container, key)
    size = 4 if isinstance(holder, CommentedMap) else 2
    items = holder.ca.items.setdefault(hkey, [None] * size)
    items[slot] = token


def _eol(token: CommentToken | None) -> str:
    """The end-of-line part of a tail: `# comment\\n`, or just `\\n`."""
    if token is None:
        return "\n"
    head, newline, _ = str(token.value).partition("\n")
    return head + newline if newline else head + "\n"


def _rest(token: CommentToken | None) -> str:
    """The lines after the end of line: blank lines and comments before the next element."""
    return "" if token is None else str(token.value).partition("\n")[2]


def _token(value: str, like: CommentToken | None) -> CommentToken | None:
    if value in ("", "\n"):
        return None
    if like is not None:
        token = copy.copy(like)
        token.value = value
        return token
    return CommentToken(value, CommentMark(0))


def set_item(container: Node, key: Any, value: Any) -> None:
    if container[key] is value:
        return
    tail = _take_tail(container, key)
    container[key] = value
    _put_tail(container, key, tail)


def append_item(seq: CommentedSeq, value: Any) -> None:
    _insert_last(seq, len(seq), value)


def append_key(node: CommentedMap, key: str, value: Any) -> None:
    _insert_last(node, key, value)


def _insert_last(container: Node, key: Any, value: Any) -> None:
    """Add an element at the end; the lines that followed the old last element follow it."""
    keys = list(container) if isinstance(container, CommentedMap) else list(range(len(container)))
    moved: CommentToken | None = None
    if keys and not container.fa.flow_style():
        token = _take_tail(container, keys[-1])
        rest = _rest(token)
        before = _take_tail(container, keys[-2]) if len(keys) > 1 else None
        if len(keys) > 1:
            _put_tail(container, keys[-2], before)
        # Siblings separated by a blank line keep that separation.
        gap = "\n" if len(keys) > 1 and _rest(before).startswith("\n") else ""
        _put_tail(container, keys[-1], _token(_eol(token) + gap, token))
        moved = _token("\n" + rest, token) if rest else None
    if isinstance(container, CommentedSeq):
        container.append(value)
    else:
        container[key] = value
    _put_tail(container, key, moved)


def remove_item(container: Node, key: Any, parent: tuple[CommentedMap, Any] | None = None) -> None:
    """Delete an element; the lines that followed it now follow its predecessor.

    `parent` (the mapping and key holding `container`) lets the lines move above the new
    first element when the first one is removed.
    """
    keys = list(container) if isinstance(container, CommentedMap) else list(range(len(container)))
    index = keys.index(key)
    token = _take_tail(container, key)
    rest = _rest(token)
    del container[key]  # a sequence renumbers its own comments
    if not rest:
        return
    if index > 0:
        previous = keys[index - 1]
        old = _take_tail(container, previous)
        # The old tail's rest was the comment above the removed element: it goes with it.
        _put_tail(container, previous, _token(_eol(old) + rest, old or token))
    elif parent is not None and len(container) == 0:
        owner, owner_key = parent
        old = _take_tail(owner, owner_key)
        _put_tail(owner, owner_key, _token(_eol(old) + rest, old or token))
    elif parent is not None:
        _set_lead(container, parent, rest)


def _set_lead(container: Node, parent: tuple[CommentedMap, Any], text: str) -> None:
    """Make `text` (comment lines) the comment above the first element of `container`."""
    owner, owner_key = parent
    lines = text.lstrip("\n")
    slots = owner.ca.items.setdefault(owner_key, [None] * 4)
    if not lines.strip():
        slots[3] = None
        container.ca.comment = None
        return
    first, _, more = lines.partition("\n")
    column = len(first) - len(first.lstrip())
    lead = [CommentToken(first.lstrip() + "\n" + more, CommentMark(column))]
    slots[3] = lead
    container.ca.comment = [None, lead]
