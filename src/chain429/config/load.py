"""Reading a config file: YAML with line numbers, ${VAR} interpolation, readable errors."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ValidationError
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from chain429.config.schema import (
    ChainConfig,
    Config,
    EntryConfig,
    Loc,
    ProviderConfig,
    RateLimits,
    Settings,
    format_loc,
)
from chain429.providers.presets import canonical_type, load_presets
from chain429.redact import mask_secret

_MAX_SHOWN = 25  # problems listed before "... and N more", to stay on one screen
# A config is a few KB; parsing and validating one of megabytes stalls whatever waits on it.
MAX_CONFIG_BYTES = 1024 * 1024
_SCHEMA_MODELS: tuple[type[BaseModel], ...] = (
    Config,
    Settings,
    ProviderConfig,
    EntryConfig,
    ChainConfig,
    RateLimits,
)
# "$${X}" is an escaped literal "${X}"; "${X:-text}" falls back to text when X is unset or empty.
_REF_RE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_API_KEY_FIELDS = ("api_key", "apiKey")
# What the management API may write as `${VAR}`: a key field, naming a key-like variable. A
# reference elsewhere (a name, a header, a URL) would let an admin read or send out any secret
# of the server's environment; hand-written files are trusted and may use any variable.
# A bare `*_KEY` is not key-like enough: AWS_SECRET_ACCESS_KEY, SECRET_KEY, SSH_KEY... The one
# such name the example config gives a provider key is allowed by name.
_KEY_VARIABLE_RE = re.compile(r"^[A-Za-z0-9_]*_(API_KEY|TOKEN)$", re.IGNORECASE)
_KEY_VARIABLES = frozenset({"LOCAL_LLM_KEY"})  # config/example.yaml's local provider


def referenced_names(text: str) -> list[str]:
    """The variables `text` reads (`${A}`, `${B:-x}`); an escaped `$${C}` reads none."""
    return [m.group(2) for m in _REF_RE.finditer(text) if not m.group(1)]


def key_like(name: str) -> bool:
    """May an edit through the API name this variable (in an api_key)?"""
    return bool(_KEY_VARIABLE_RE.match(name)) or name.upper() in _KEY_VARIABLES


def api_reference_problem(path: str, text: str) -> str | None:
    """Why an edit through the API may not write `text` (holding `${...}`) at `path`, or None."""
    names = referenced_names(text)
    if not names:
        return None
    field = path.rsplit(".", 1)[-1]
    if field not in _API_KEY_FIELDS:
        return (
            f"{path}: ${{VAR}} references may be written through the API only in api_key; "
            "write the value itself (or edit the file by hand)"
        )
    bad = [name for name in names if not key_like(name)]
    if bad:
        return (
            f"{path}: ${{{bad[0]}}} is not allowed through the API; only variables named "
            "*_API_KEY or *_TOKEN may be referenced (or edit the file by hand)"
        )
    return None


class ConfigError(Exception):
    """A config that cannot be used; `str()` is a one-screen explanation for a human."""

    def __init__(self, problems: list[str], source: str | None = None, hint: str | None = None):
        self.problems = problems
        self.source = source
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"config {self.source}" if self.source else "config"
        count = len(self.problems)
        lines = [f"{where}: {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems[:_MAX_SHOWN]]
        if count > _MAX_SHOWN:
            lines.append(f"  … and {count - _MAX_SHOWN} more")
        lines.append(self.hint or _default_hint(self.source))
        return "\n".join(lines)


def _default_hint(source: str | None) -> str:
    target = source if source and not source.startswith("<") else "PATH"
    return (
        f"Fix the lines above, then run `429chain check -c {target}` to re-check "
        "(`429chain init` writes a commented example config)."
    )


@dataclass
class LoadedConfig:
    """A validated config plus what the loader learned on the way."""

    config: Config
    warnings: list[str] = field(default_factory=list)
    path: Path | None = None
    # provider id -> why it is off, e.g. "GROQ_API_KEY is not set"
    disabled_providers: dict[str, str] = field(default_factory=dict)
    # display path (keys as written, e.g. "providers[0].apiKey") -> original "${...}" text,
    # so write-back can keep references unresolved
    env_refs: dict[str, str] = field(default_factory=dict)

    def is_enabled(self, provider_id: str) -> bool:
        return provider_id not in self.disabled_providers


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read, interpolate and validate the config file at `path` (env defaults to os.environ)."""
    file = Path(path).expanduser()
    text = _read_text(file)
    loaded = parse_config(text, os.environ if env is None else env, source=str(file))
    require_chains(loaded, str(file))
    loaded.path = file
    return loaded


def require_chains(loaded: LoadedConfig, source: str | None) -> None:
    """A config to serve from must define a chain: an empty file would serve nothing.

    Checked where a file is loaded to be served (start, `check`, reload, edits), not in
    `parse_config`, which also validates fragments.
    """
    if not loaded.config.chains:
        raise ConfigError(
            [
                "chains: none are defined, so the proxy would serve nothing; add a provider "
                "and a chain"
            ],
            source,
        )


def too_large(size: int) -> str | None:
    """Why a config of `size` bytes is refused, or None."""
    if size <= MAX_CONFIG_BYTES:
        return None
    return f"the file is {size} bytes, over the limit of {MAX_CONFIG_BYTES} bytes (1 MB)"


def _read_text(file: Path) -> str:
    init_hint = f"`429chain init -c {file}` writes a commented example config there."
    try:
        data = file.read_bytes()
        if problem := too_large(len(data)):
            raise ConfigError([problem], str(file))
        return data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"file not found: {file}"], str(file), init_hint) from None
    except IsADirectoryError:
        raise ConfigError([f"is a directory, not a file: {file}"], str(file)) from None
    except UnicodeDecodeError:
        raise ConfigError(["not UTF-8 text"], str(file)) from None
    except OSError as exc:
        raise ConfigError([f"cannot read: {exc.strerror}"], str(file)) from None


def parse_config(text: str, env: Mapping[str, str], source: str = "<string>") -> LoadedConfig:
    """Validate config YAML text; raise ConfigError listing every problem with path and line."""
    tree = _parse_yaml(text, source)
    locator = _Locator(tree)
    resolved = _Interpolation(env)
    plain = resolved.walk(tree, ())
    secrets = _secrets(plain)
    problems: list[tuple[int | None, str]] = []
    warnings: list[str] = []

    disabled = _disable_providers(plain, resolved, locator, warnings)
    bad_paths: set[str] = set()
    for loc, var in resolved.unset:
        if loc in disabled.locs:
            continue
        path, line = locator.find(loc)
        bad_paths.add(path)
        msg = f"environment variable {var} is not set (write ${{{var}:-default}} for a fallback)"
        problems.append((line, _with_line(f"{path}: {msg}", line)))

    config = _validate(plain, locator, bad_paths, problems)
    if problems or config is None:
        ordered = [msg for _, msg in sorted(problems, key=lambda p: p[0] or 0)]
        raise ConfigError([_scrub(msg, secrets) for msg in ordered], source)
    warnings += _unknown_key_warnings(config, locator)
    warnings += _dead_chain_warnings(config, disabled.reasons, locator)
    env_refs = {locator.find(loc)[0]: original for loc, original in resolved.refs.items()}
    return LoadedConfig(
        config=config,
        warnings=[_scrub(w, secrets) for w in warnings],
        disabled_providers=disabled.reasons,
        env_refs=env_refs,
    )


def _parse_yaml(text: str, source: str) -> CommentedMap:
    try:
        tree = YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:
        # ruamel's message quotes both values, which may be API keys.
        match = re.search(r'found duplicate key "(.*?)"', exc.problem or "")
        key = f" {match.group(1)!r}" if match else ""
        raise ConfigError([_with_line(f"duplicate key{key}", _mark_line(exc))], source) from None
    except MarkedYAMLError as exc:
        problem, line = _syntax_problem(exc)
        raise ConfigError(
            [_with_line(f"YAML syntax error: {_mask_tokens(problem)}", line)], source
        ) from None
    except YAMLError as exc:
        raise ConfigError([f"YAML error: {_mask_tokens(str(exc))}"], source) from None
    if tree is None:
        return CommentedMap()  # an empty file is an empty (all-defaults) config
    if not isinstance(tree, CommentedMap):
        raise ConfigError(
            ["the top level must be a mapping (version:, settings:, providers:, chains:)"], source
        )
    return tree


def _syntax_problem(exc: MarkedYAMLError) -> tuple[str, int | None]:
    """What went wrong, and the line where it started.

    ruamel marks where it gave up (`problem_mark`) and the construct it was in
    (`context_mark`). For an unterminated quote or bracket it gives up far below, often at
    the end of the file; the cause is where that quote or bracket was opened.
    """
    problem = exc.problem or exc.context or "invalid YAML"
    context = exc.context or ""
    unclosed = "quoted scalar" in context or "flow" in context or "end of stream" in problem
    if exc.context_mark is not None and exc.context and unclosed:
        return f"{problem} {context} that starts here", exc.context_mark.line + 1
    return problem, _mark_line(exc)


def _mark_line(exc: MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return mark.line + 1 if mark is not None else None


def _with_line(text: str, line: int | None) -> str:
    return f"{text} (line {line})" if line is not None else text


def _mask_tokens(text: str) -> str:
    """YAML errors may quote source text; hide anything that looks like a key."""
    return re.sub(r"[A-Za-z0-9_\-]{16,}", lambda m: mask_secret(m.group(0)), text)


class _Interpolation:
    """Turns the ruamel tree into plain data, resolving ${VAR} in string values."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.refs: dict[Loc, str] = {}  # loc -> original text with ${...}
        self.unset: list[tuple[Loc, str]] = []  # (loc, first unset variable)

    def walk(self, node: Any, loc: Loc) -> Any:
        if isinstance(node, dict):
            return {str(k): self.walk(v, (*loc, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(item, (*loc, i)) for i, item in enumerate(node)]
        if isinstance(node, str):
            return self._resolve(str(node), loc)
        if isinstance(node, ScalarBoolean):
            return bool(node)
        if isinstance(node, TaggedScalar):
            return self._resolve(str(node.value), loc)
        return node

    def _resolve(self, text: str, loc: Loc) -> str:
        if "${" not in text:
            return text
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            escaped, var, default = match.groups()
            if escaped:
                return match.group(0)[1:]
            value = self.env.get(var)
            if default is not None and not value:
                return default
            if value is None:
                missing.append(var)
                return ""
            return value

        result = _REF_RE.sub(substitute, text)
        if result != text:
            self.refs[loc] = text
        if missing:
            self.unset.append((loc, missing[0]))
        return result


@dataclass
class _Disabled:
    reasons: dict[str, str] = field(default_factory=dict)  # provider id -> reason
    locs: set[Loc] = field(default_factory=set)  # api_key locs whose unset vars are excused


def _disable_providers(
    plain: dict[str, Any], resolved: _Interpolation, locator: _Locator, warnings: list[str]
) -> _Disabled:
    """Providers without a usable key are switched off, not fatal, so partial setups still run."""
    disabled = _Disabled()
    providers = plain.get("providers")
    for i, provider in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(provider, dict):
            continue
        reason, loc = _why_disabled(provider, ("providers", i), resolved)
        if reason is None:
            continue
        for key in _API_KEY_FIELDS:
            if key in provider:
                provider[key] = None
        if loc is not None:
            disabled.locs.add(loc)
        pid = str(provider.get("id", f"providers[{i}]"))
        disabled.reasons[pid] = reason
        path, line = locator.find(("providers", i))
        warnings.append(_with_line(f"{path} ({pid}): disabled, {reason}", line))
    return disabled


def _why_disabled(
    provider: dict[str, Any], loc: Loc, resolved: _Interpolation
) -> tuple[str | None, Loc | None]:
    """Why this provider cannot be used (None if it can), and the api_key loc to excuse."""
    key_field = next((k for k in _API_KEY_FIELDS if k in provider), None)
    if key_field is not None:
        key_loc: Loc = (*loc, key_field)
        unset = dict(resolved.unset)
        if key_loc in unset:
            return f"{unset[key_loc]} is not set", key_loc
        value = provider[key_field]
        if isinstance(value, str) and value.strip():
            return None, None
        if isinstance(value, str):
            ref = _REF_RE.search(resolved.refs.get(key_loc, ""))
            return (f"{ref.group(2)} is empty" if ref else "its api_key is empty"), None
    if _needs_key(provider):
        return "it has no api_key", None
    return None, None


def _needs_key(provider: Mapping[str, Any]) -> bool:
    """Bearer-auth presets with a fixed endpoint cannot work without a key."""
    preset = load_presets().get(canonical_type(str(provider.get("type", ""))))
    return preset is not None and preset.auth == "bearer" and preset.base_url is not None


def _secrets(plain: Mapping[str, Any]) -> list[str]:
    """Every key value in the config, so messages can be scrubbed of them."""
    found: list[str] = []
    providers = plain.get("providers")
    for provider in providers if isinstance(providers, list) else []:
        if isinstance(provider, dict):
            found += [provider[k] for k in _API_KEY_FIELDS if isinstance(provider.get(k), str)]
    settings = plain.get("settings")
    if isinstance(settings, dict):
        for key in ("api_keys", "apiKeys", "admin_keys", "adminKeys"):
            values = settings.get(key)
            if isinstance(values, list):
                found += [v for v in values if isinstance(v, str)]
    return [s for s in found if len(s) >= 4]


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, mask_secret(secret))
    return text


def _validate(
    plain: dict[str, Any],
    locator: _Locator,
    skip_paths: set[str],
    problems: list[tuple[int | None, str]],
) -> Config | None:
    try:
        config = Config.model_validate(plain, context={"defer_cross_checks": True})
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            path, line = locator.find(err["loc"])
            if any(path == p or path.startswith((p + ".", p + "[")) for p in skip_paths):
                continue  # already reported as an unset variable
            problems.append((line, _with_line(f"{path}: {_message(err)}", line)))
        # The cross-checks need a valid config; run what can be run on the raw data, so
        # one `check` still lists every problem.
        reported = {msg.split(":", 1)[0] for _, msg in problems}
        for loc, msg in _raw_cross_checks(plain):
            path, line = locator.find(loc)
            if path not in reported:
                problems.append((line, _with_line(f"{path}: {msg}", line)))
        return None
    for loc, msg in config.cross_check():
        path, line = locator.find(loc)
        problems.append((line, _with_line(f"{path}: {msg}", line)))
    return config


def _raw_cross_checks(plain: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Duplicate ids and names, unknown entry providers, a missing default chain: on raw data."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    providers = _items(plain.get("providers"))
    chains = _items(plain.get("chains"))
    ids = [p.get("id") for p in providers]
    names = [c.get("name") for c in chains]
    for section, key, values in (("providers", "id", ids), ("chains", "name", names)):
        for i, value in enumerate(values):
            if isinstance(value, str) and value in values[:i]:
                found.append(((section, i, key), f"duplicate {key} {value!r}"))
    for c, chain in enumerate(chains):
        for e, entry in enumerate(_items(chain.get("entries"))):
            provider = entry.get("provider")
            if isinstance(provider, str) and provider not in ids:
                loc: tuple[str | int, ...] = ("chains", c, "entries", e, "provider")
                found.append((loc, f"unknown provider {provider!r}"))
    settings = plain.get("settings")
    if isinstance(settings, dict):
        spelled = "defaultChain" if "defaultChain" in settings else "default_chain"
        name = settings.get(spelled)
        if isinstance(name, str) and name not in names:
            found.append((("settings", spelled), f"chain {name!r} does not exist"))
    return found


def _items(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _message(err: ErrorDetails) -> str:
    """Pydantic's message, reworded where its wording is about internals."""
    ctx = err.get("ctx", {})
    if err["type"] == "missing":
        return "required"
    if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return "should be a mapping of key: value pairs"
    if err["type"] == "too_short" and "min_length" in ctx:
        return f"needs at least {ctx['min_length']} item(s)"
    return err["msg"].removeprefix("Value error, ")


def _unknown_key_warnings(config: Config, locator: _Locator) -> list[str]:
    warnings = []
    for model, loc in _walk_models(config, ()):
        for key in model.model_extra or {}:
            if key.startswith("x-"):
                continue  # extension fields, e.g. a home for YAML anchors (as in compose files)
            path, line = locator.find((*loc, key))
            hint = _closest_field(key, type(model))
            warnings.append(_with_line(f"{path}: unknown key, ignored{hint}", line))
    return warnings


def _walk_models(model: BaseModel, loc: Loc) -> Iterator[tuple[BaseModel, Loc]]:
    yield model, loc
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from _walk_models(value, (*loc, name))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _walk_models(item, (*loc, name, i))


def _closest_field(key: str, model: type[BaseModel]) -> str:
    names = [n for name in model.model_fields for n in (name, to_camel(name))]
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _dead_chain_warnings(
    config: Config, disabled: Mapping[str, str], locator: _Locator
) -> list[str]:
    warnings = []
    for c, chain in enumerate(config.chains):
        if all(entry.provider in disabled for entry in chain.entries):
            path, line = locator.find(("chains", c))
            msg = f"{path} ({chain.name}): every provider in this chain is disabled; it will fail"
            warnings.append(_with_line(msg, line))
    return warnings


def _alias_table() -> dict[str, tuple[str, ...]]:
    """Field name or alias -> every spelling of that field (e.g. timeout_ms <-> timeout)."""
    table: dict[str, tuple[str, ...]] = {}
    for model in _SCHEMA_MODELS:
        for info in model.model_fields.values():
            if isinstance(info.validation_alias, AliasChoices):
                choices = tuple(str(c) for c in info.validation_alias.choices)
                table.update(dict.fromkeys(choices, choices))
    return table


class _Locator:
    """Maps a validation loc back to the YAML node: display path (keys as written) and line."""

    def __init__(self, root: CommentedMap) -> None:
        self.root = root
        self.aliases = _alias_table()

    def find(self, loc: Sequence[str | int]) -> tuple[str, int | None]:
        node: Any = self.root
        path = ""
        line: int | None = None
        for i, part in enumerate(loc):
            step = self._step(node, part)
            if step is None:
                rest = format_loc(self._spell(node, p) for p in loc[i:])
                return (
                    path + "." + rest if path and not rest.startswith("[") else path + rest
                ), line
            key, node, found_line = step
            path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else key)
            line = found_line if found_line is not None else line
        return path, line

    def _step(self, node: Any, part: str | int) -> tuple[str | int, Any, int | None] | None:
        if isinstance(part, int) and isinstance(node, CommentedSeq) and 0 <= part < len(node):
            return part, node[part], _line(node, part)
        if isinstance(part, str) and isinstance(node, CommentedMap):
            key = self._match_key(node, part)
            if key is not None:
                return key, node[key], _line(node, key)
        return None

    def _match_key(self, node: CommentedMap, part: str) -> str | None:
        candidates = (part, to_camel(part), to_snake(part), *self.aliases.get(part, ()))
        return next((c for c in candidates if c in node), None)

    @staticmethod
    def _spell(node: Any, part: str | int) -> str | int:
        """Spell a missing key the way the surrounding mapping does (camelCase or snake_case)."""
        camel = isinstance(node, CommentedMap) and any(str(k) != str(k).lower() for k in node)
        return to_camel(part) if camel and isinstance(part, str) else part


def _line(node: CommentedMap | CommentedSeq, key: str | int) -> int | None:
    """1-based line of a mapping key or sequence item (merged keys have no position)."""
    try:
        pos = node.lc.item(key) if isinstance(node, CommentedSeq) else node.lc.key(key)
    except (KeyError, IndexError, TypeError):
        pos = None
    if pos is not None:
        return int(pos[0]) + 1
    return node.lc.line + 1 if node.lc.line is not None else None
