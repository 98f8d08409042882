"""Writing the config file back: round-trip YAML edits that keep comments, and atomic saves.

An edit changes the parsed YAML tree in place, so everything it does not touch (comments, key
order, quoting, blank lines, `${VAR}` references) is written back as it was. Values are stored
exactly as given: a `${VAR}` stays a reference, and a field that was not edited keeps its text.

The key spellings live in `spellings`, the comment-keeping edits in `yaml_comments`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from chain429.config.load import (
    ConfigError,
    LoadedConfig,
    parse_config,
    require_chains,
    too_large,
)
from chain429.config.schema import ChainConfig, Config, EntryConfig, ProviderConfig, Settings
from chain429.config.spellings import (
    Model,
    camelized,
    canonical,
    canonical_path,
    child_model,
    field_name,
    spellings,
)
from chain429.config.yaml_comments import Node, append_item, append_key, remove_item, set_item
from chain429.errors import ProxyError

__all__ = [
    "ConfigDocument",
    "FileChanged",
    "camelized",
    "canonical",
    "canonical_path",
    "content_hash",
    "read_config",
    "read_text",
    "validate_text",
    "write_atomic",
]


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
            append_key(self.root, self._new_key(self.root, Config, "settings"), node)
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
            append_key(self.root, self._new_key(self.root, Config, section), node)
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
            append_item(providers, self._new(fields, ProviderConfig, providers))
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
                    remove_item(entries, i, parent)
        remove_item(providers, index, self._parent("providers"))
        return names

    def _uses(self, entry: Any, provider_id: str) -> bool:
        return _is_map(entry) and self.value(entry, EntryConfig, "provider") == provider_id

    def put_chain(self, name: str, fields: Mapping[str, Any]) -> bool:
        """Create or replace a chain; True if it was created."""
        chains = self._list("chains")
        node = _find(chains, ChainConfig, "name", name)[1]
        fields = {"name": name, **{k: v for k, v in fields.items() if k != "name"}}
        if node is None:
            append_item(chains, self._new(fields, ChainConfig, chains))
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
        remove_item(chains, index, self._parent("chains"))

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
                    remove_item(node, key)
            elif key is None:
                append_key(node, self._new_key(node, model, name), self._new(value, child, node))
            else:
                set_item(node, key, self._merged(node[key], value, child, replace=replace))
        if replace:
            for name, key in present.items():
                if name not in fields and name not in keep and key in node:
                    remove_item(node, key)

    def _merged(self, old: Any, new: Any, model: Model | None, *, replace: bool) -> Any:
        """`old` updated to `new`, in place where possible so its comments stay."""
        if isinstance(new, Mapping) and isinstance(old, CommentedMap):
            self._merge(old, model, new, replace=replace)
            return old
        if isinstance(new, list) and isinstance(old, CommentedSeq):
            for i, item in enumerate(new):
                if i < len(old):
                    set_item(old, i, self._merged(old[i], item, model, replace=True))
                else:
                    append_item(old, self._new(item, model, old))
            for i in reversed(range(len(new), len(old))):
                remove_item(old, i)
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
        keys = [str(k) for k in node if str(k) in spellings(model)]
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
    problem = too_large(len(text.encode("utf-8")))
    if problem:
        raise ProxyError(413, f"The edit was not saved: {problem}.", code="config_too_large")
    try:
        loaded = parse_config(text, env, source=source)
        require_chains(loaded, source)
        return loaded
    except ConfigError as err:
        raise ProxyError(
            400,
            "The edit was not saved; the config would be invalid: " + "; ".join(err.problems),
            code="invalid_config",
        ) from None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileChanged(Exception):
    """The file is no longer the version an edit was made from (someone else wrote it)."""


def read_config(path: Path) -> tuple[str, str]:
    """The config file's text and the hash of its bytes, or a 409 saying why it cannot be read."""
    try:
        data = path.read_bytes()
        # Newlines as `Path.read_text` gives them, so the document sees what it always saw.
        text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ProxyError(
            409, f"The config file cannot be read: {reason}.", code="config_unreadable"
        ) from None
    return text, content_hash(data)


def read_text(path: Path) -> str:
    """The config file's text, or a 409 saying why it cannot be edited."""
    return read_config(path)[0]


def write_atomic(path: Path, text: str, expect: str | None = None) -> str:
    """Replace the file with `text`: temp file beside it, fsync, rename, mode 0600; its hash.

    A crash at any point leaves either the old file or the new one, never a mix. A symlinked
    config is written through to its target, so the link stays. With `expect` (the hash of the
    version the edit was made from), raises FileChanged instead of replacing a file that was
    changed meanwhile, e.g. saved from an editor: that edit must not be lost.
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
        if expect is not None and _hash_of(target) != expect:
            raise FileChanged(str(path))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)
    return content_hash(data)


def _hash_of(path: Path) -> str | None:
    try:
        return content_hash(path.read_bytes())
    except FileNotFoundError:
        return None


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
    table = spellings(model)
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
