"""Writing the config file back: round-trip YAML edits that keep comments, and atomic saves.

An edit changes the parsed YAML tree in place, so everything it does not touch (comments, key
order, quoting, blank lines, `${VAR}` references) is written back as it was. Values are stored
exactly as given: a `${VAR}` stays a reference, and a field that was not edited keeps its text.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from chain429.config.load import ConfigError, LoadedConfig, parse_config
from chain429.config.schema import (
    ChainConfig,
    Config,
    EntryConfig,
    ProviderConfig,
    RateLimits,
    Settings,
)
from chain429.errors import ProxyError

Model = type[BaseModel]
Node = CommentedMap | CommentedSeq
Path_ = tuple[str | int, ...]

# Which schema model describes the mappings under each field (lists: their items).
_CHILDREN: dict[Model, dict[str, Model]] = {
    Config: {"settings": Settings, "providers": ProviderConfig, "chains": ChainConfig},
    ProviderConfig: {"rate_limits": RateLimits},
    ChainConfig: {"entries": EntryConfig},
    EntryConfig: {"rate_limits": RateLimits},
}
_SEGMENT = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


# -- spellings --------------------------------------------------------------------------------


@functools.cache
def _spellings(model: Model) -> dict[str, str]:
    """Every accepted spelling of a model's keys (snake, camel, legacy) -> its field name."""
    table: dict[str, str] = {}
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        legacy = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        for spelling in (name, to_camel(name), *legacy):
            table.setdefault(spelling, name)
    return table


def field_name(model: Model | None, key: str) -> str:
    """`apiKey` -> `api_key`; keys the model does not know are returned unchanged."""
    return _spellings(model).get(key, key) if model is not None else key


def child_model(model: Model | None, name: str) -> Model | None:
    return _CHILDREN.get(model, {}).get(name) if model is not None else None


def canonical(model: Model, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with every key spelled as the schema's field name, nested models included."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = field_name(model, str(key))
        if name in out:
            raise ProxyError(
                400, f"'{name}' is given twice, in two spellings.", code="invalid_config", param=key
            )
        child = child_model(model, name)
        if child is not None and isinstance(value, Mapping):
            value = canonical(child, value)
        elif child is not None and isinstance(value, list):
            value = [canonical(child, v) if isinstance(v, Mapping) else v for v in value]
        out[name] = value
    return out


def camelized(model: Model, data: Mapping[str, Any]) -> dict[str, Any]:
    """Field-named `data` respelled in camelCase, as the TypeScript original wrote its keys."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        child = child_model(model, name)
        if child is not None and isinstance(value, Mapping):
            value = camelized(child, value)
        elif child is not None and isinstance(value, list):
            value = [camelized(child, v) if isinstance(v, Mapping) else v for v in value]
        out[to_camel(name) if name in model.model_fields else name] = value
    return out


def canonical_path(display_path: str) -> Path_:
    """A loader path as written (`providers[0].apiKey`) -> field names (`providers, 0, api_key`)."""
    model: Model | None = Config
    parts: list[str | int] = []
    for match in _SEGMENT.finditer(display_path):
        if match[1] is not None:
            parts.append(int(match[1]))
            continue
        name = field_name(model, match[2])
        parts.append(name)
        model = child_model(model, name)
    return tuple(parts)


# -- the document -----------------------------------------------------------------------------


class ConfigDocument:
    """The config file as a round-trip YAML tree, with the edits the management API makes."""

    def __init__(self, text: str) -> None:
        self._yaml = _yaml_like(text)
        try:
            root = self._yaml.load(text)
        except YAMLError:
            raise ProxyError(
                409,
                "The config file on disk is not valid YAML, so it cannot be edited; "
                "fix it by hand first (GET /health shows the problem).",
                code="config_unreadable",
            ) from None
        if root is None:
            root = CommentedMap()
        if not isinstance(root, CommentedMap):
            raise ProxyError(
                409, "The config file's top level is not a mapping.", code="config_unreadable"
            )
        self.root = root
        self._crlf = "\r\n" in text
        self._camel = _uses_camel(root, Config)

    def dump(self) -> str:
        out = io.StringIO()
        self._yaml.dump(self.root, out)
        text = out.getvalue()
        # ruamel keeps a comment's own "\r"; write every line end the way the file did.
        return text.replace("\r\n", "\n").replace("\n", "\r\n") if self._crlf else text

    # -- lookups -----------------------------------------------------------------------------

    def value(self, node: CommentedMap, model: Model | None, name: str) -> Any:
        """`node`'s value for field `name`, however the file spells the key."""
        key = _key_of(node, model, name)
        return None if key is None else node[key]

    def provider(self, provider_id: str) -> CommentedMap | None:
        return _find(self._list("providers"), ProviderConfig, "id", provider_id)[1]

    def chain(self, name: str) -> CommentedMap | None:
        return _find(self._list("chains"), ChainConfig, "name", name)[1]

    def settings(self) -> CommentedMap:
        node = self.value(self.root, Config, "settings")
        if node is None:
            node = self._new({}, Settings, self.root)
            _append_key(self.root, self._new_key(self.root, Config, "settings"), node)
        if not isinstance(node, CommentedMap):
            raise ProxyError(
                409, "'settings' in the config file is not a mapping.", code="conflict"
            )
        return node

    def _parent(self, section: str) -> tuple[CommentedMap, Any]:
        return self.root, _key_of(self.root, Config, section)

    def _list(self, section: str) -> CommentedSeq:
        node = self.value(self.root, Config, section)
        if node is None:
            node = self._new([], None, self.root)
            _append_key(self.root, self._new_key(self.root, Config, section), node)
        if not isinstance(node, CommentedSeq):
            raise ProxyError(409, f"'{section}' in the config file is not a list.", code="conflict")
        return node

    # -- edits (fields are keyed by schema field names: see `canonical`) ----------------------

    def put_provider(
        self,
        provider_id: str,
        fields: Mapping[str, Any],
        *,
        replace: bool,
        keep: Collection[str] = (),
    ) -> bool:
        """Create or update a provider; True if it was created. `keep`: fields left as they are."""
        providers = self._list("providers")
        node = _find(providers, ProviderConfig, "id", provider_id)[1]
        fields = {"id": provider_id, **{k: v for k, v in fields.items() if k != "id"}}
        if node is None:
            _append(providers, self._new(fields, ProviderConfig, providers))
            return True
        self._merge(node, ProviderConfig, fields, replace=replace, keep=keep)
        return False

    def delete_provider(self, provider_id: str, *, force: bool) -> list[str]:
        """Remove a provider; with `force`, also its entries in chains. Returns chains edited."""
        providers = self._list("providers")
        index, node = _find(providers, ProviderConfig, "id", provider_id)
        if node is None:
            raise _not_found("provider", provider_id)
        users = [
            (str(self.value(chain, ChainConfig, "name")), chain, entries)
            for chain in self._list("chains")
            if _is_map(chain)
            and isinstance(entries := self.value(chain, ChainConfig, "entries"), CommentedSeq)
            and any(self._uses(entry, provider_id) for entry in entries)
        ]
        names = [name for name, _, _ in users]
        if users and not force:
            raise ProxyError(
                409,
                f"The provider '{provider_id}' is used by chains: {', '.join(names)}. Remove it "
                "from them first, or send ?force=true to remove its entries from them too.",
                code="provider_in_use",
            )
        for name, chain, entries in users:
            if all(self._uses(entry, provider_id) for entry in entries):
                raise ProxyError(
                    409,
                    f"Removing the provider '{provider_id}' would leave the chain '{name}' "
                    "with no entries; delete or edit that chain first.",
                    code="provider_in_use",
                )
            parent = (chain, _key_of(chain, ChainConfig, "entries"))
            for i in reversed(range(len(entries))):
                if self._uses(entries[i], provider_id):
                    _remove(entries, i, parent)
        _remove(providers, index, self._parent("providers"))
        return names

    def _uses(self, entry: Any, provider_id: str) -> bool:
        return _is_map(entry) and self.value(entry, EntryConfig, "provider") == provider_id

    def put_chain(self, name: str, fields: Mapping[str, Any]) -> bool:
        """Create or replace a chain; True if it was created."""
        chains = self._list("chains")
        node = _find(chains, ChainConfig, "name", name)[1]
        fields = {"name": name, **{k: v for k, v in fields.items() if k != "name"}}
        if node is None:
            _append(chains, self._new(fields, ChainConfig, chains))
            return True
        self._merge(node, ChainConfig, fields, replace=True)
        return False

    def delete_chain(self, name: str) -> None:
        """Remove a chain; the default chain is refused (another must be made default first)."""
        chains = self._list("chains")
        index, node = _find(chains, ChainConfig, "name", name)
        if node is None:
            raise _not_found("chain", name)
        if name == self.default_chain():
            raise ProxyError(
                409,
                f"The chain '{name}' is the default chain and cannot be deleted; set "
                "settings.default_chain to another chain first.",
                code="default_chain",
            )
        _remove(chains, index, self._parent("chains"))

    def default_chain(self) -> str | None:
        """`settings.default_chain`, else the first chain's name (as `Config` decides)."""
        settings = self.value(self.root, Config, "settings")
        named = self.value(settings, Settings, "default_chain") if _is_map(settings) else None
        if named is not None:
            return str(named)
        chains = self.value(self.root, Config, "chains")
        first = chains[0] if isinstance(chains, CommentedSeq) and chains else None
        return (
            str(self.value(first, ChainConfig, "name")) if isinstance(first, CommentedMap) else None
        )

    def patch_settings(self, fields: Mapping[str, Any]) -> None:
        """Merge into `settings` (JSON merge-patch: a null value removes the key)."""
        self._merge(self.settings(), Settings, fields, replace=False)

    # -- tree surgery ------------------------------------------------------------------------

    def _merge(
        self,
        node: CommentedMap,
        model: Model | None,
        fields: Mapping[str, Any],
        *,
        replace: bool,
        keep: Collection[str] = (),
    ) -> None:
        present: dict[str, Any] = {}
        for key in node:
            present.setdefault(field_name(model, str(key)), key)
        for name, value in fields.items():
            key = present.get(name)
            child = child_model(model, name)
            if value is None:
                if key is not None:
                    _remove(node, key)
            elif key is None:
                _append_key(node, self._new_key(node, model, name), self._new(value, child, node))
            else:
                _set(node, key, self._merged(node[key], value, child, replace=replace))
        if replace:
            for name, key in present.items():
                if name not in fields and name not in keep and key in node:
                    _remove(node, key)

    def _merged(self, old: Any, new: Any, model: Model | None, *, replace: bool) -> Any:
        """`old` updated to `new`, in place where possible so its comments stay."""
        if isinstance(new, Mapping) and isinstance(old, CommentedMap):
            self._merge(old, model, new, replace=replace)
            return old
        if isinstance(new, list) and isinstance(old, CommentedSeq):
            for i, item in enumerate(new):
                if i < len(old):
                    _set(old, i, self._merged(old[i], item, model, replace=True))
                else:
                    _append(old, self._new(item, model, old))
            for i in reversed(range(len(new), len(old))):
                _remove(old, i)
            return old
        if _same(old, new):
            return old
        if isinstance(old, ScalarString) and isinstance(new, str):
            return type(old)(new)  # keep the quoting (or block style) the file used
        return self._new(new, model, None)

    def _new(self, value: Any, model: Model | None, parent: Node | None) -> Any:
        """Plain JSON data as YAML nodes, keys spelled like the file, styled like `parent`."""
        flow = parent is not None and bool(parent.fa.flow_style())
        if isinstance(value, Mapping):
            node = CommentedMap()
            if flow:
                node.fa.set_flow_style()
            for key, item in value.items():
                if item is not None:
                    name = str(key)
                    node[self._new_key(node, model, name)] = self._new(
                        item, child_model(model, name), node
                    )
            return node if flow else _block(node)
        if isinstance(value, list):
            seq = CommentedSeq()
            if flow:
                seq.fa.set_flow_style()
            seq.extend(self._new(item, model, seq) for item in value)
            return seq if flow or not any(isinstance(v, CommentedMap) for v in seq) else _block(seq)
        # Inside a JSON-style (flow) file, new strings are double-quoted so it stays JSON.
        return DoubleQuotedScalarString(value) if flow and isinstance(value, str) else value

    def _new_key(self, node: CommentedMap, model: Model | None, name: str) -> str:
        """A key to add to `node`: spelled like its siblings, quoted in a JSON-style file."""
        spelled = self._spell(node, model, name)
        return DoubleQuotedScalarString(spelled) if node.fa.flow_style() else spelled

    def _spell(self, node: CommentedMap, model: Model | None, name: str) -> str:
        """Spell a new key the way its mapping (else the whole file) spells keys."""
        if model is None or name not in model.model_fields:
            return name
        keys = [str(k) for k in node if str(k) in _spellings(model)]
        if any(k != k.lower() for k in keys):
            camel = True
        elif any("_" in k for k in keys):
            camel = False
        else:
            camel = self._camel
        return to_camel(name) if camel else name


# -- validate and save ------------------------------------------------------------------------


def validate_text(text: str, env: Mapping[str, str], source: str) -> LoadedConfig:
    """Check edited config text with the normal loader; an invalid edit is a 400."""
    try:
        return parse_config(text, env, source=source)
    except ConfigError as err:
        raise ProxyError(
            400,
            "The edit was not saved; the config would be invalid: " + "; ".join(err.problems),
            code="invalid_config",
        ) from None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_text(path: Path) -> str:
    """The config file's text, or a 409 saying why it cannot be edited."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ProxyError(
            409, f"The config file cannot be read: {reason}.", code="config_unreadable"
        ) from None


def write_atomic(path: Path, text: str) -> str:
    """Replace the file with `text`: temp file beside it, fsync, rename, mode 0600; its hash.

    A crash at any point leaves either the old file or the new one, never a mix. A symlinked
    config is written through to its target, so the link stays.
    """
    target = Path(os.path.realpath(path))
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # keys live in this file
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return content_hash(data)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (not supported everywhere; best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- helpers ----------------------------------------------------------------------------------


def _yaml_like(text: str) -> YAML:
    """A round-trip YAML that writes with the file's own indentation and never re-wraps."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 16
    try:
        _, indent, offset = load_yaml_guess_indent(text)
    except YAMLError:
        indent, offset = None, None
    if indent is None or offset is None:
        indent, offset = 4, 2  # no block list to learn from: the shipped example's style
    yaml.indent(mapping=2, sequence=indent, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _uses_camel(node: Any, model: Model | None) -> bool:
    """Does the file spell schema keys in camelCase (a config from the TypeScript original)?"""
    if isinstance(node, CommentedSeq):
        return any(_uses_camel(item, model) for item in node)
    if not isinstance(node, CommentedMap) or model is None:
        return False
    table = _spellings(model)
    for key, value in node.items():
        key = str(key)
        if key in table and key != key.lower():
            return True
        if _uses_camel(value, child_model(model, field_name(model, key))):
            return True
    return False


def _key_of(node: CommentedMap, model: Model | None, name: str) -> Any:
    return next((k for k in node if field_name(model, str(k)) == name), None)


def _is_map(node: Any) -> bool:
    return isinstance(node, CommentedMap)


def _find(
    seq: CommentedSeq, model: Model, field: str, value: str
) -> tuple[int, CommentedMap | None]:
    for index, item in enumerate(seq):
        if _is_map(item):
            key = _key_of(item, model, field)
            if key is not None and str(item[key]) == value:
                return index, item
    return -1, None


def _not_found(kind: str, name: str) -> ProxyError:
    return ProxyError(404, f"There is no {kind} '{name}'.", code=f"{kind}_not_found")


def _block(node: Node) -> Node:
    node.fa.set_block_style()
    return node


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, bool) or isinstance(old, ScalarBoolean | bool):
        both = isinstance(new, bool) and isinstance(old, ScalarBoolean | bool)
        return both and bool(old) == new
    return type(new) is not float and old == new and isinstance(old, str) == isinstance(new, str)


# Comments: ruamel keeps the lines after an element (its end-of-line comment, then any blank
# and comment lines before the next element) in one token on the element's deepest last
# scalar. Moving, adding or removing elements must move that token's tail along, or the
# comment above the next element (or the next section) would vanish or land in the wrong place.


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


def _set(container: Node, key: Any, value: Any) -> None:
    if container[key] is value:
        return
    tail = _take_tail(container, key)
    container[key] = value
    _put_tail(container, key, tail)


def _append(seq: CommentedSeq, value: Any) -> None:
    _insert_last(seq, len(seq), value)


def _append_key(node: CommentedMap, key: str, value: Any) -> None:
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


def _remove(container: Node, key: Any, parent: tuple[CommentedMap, Any] | None = None) -> None:
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
