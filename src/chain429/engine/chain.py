"""The chain table: every chain and entry of one config, and which chain a `model` selects."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from urllib.parse import quote

from chain429.config.schema import ChainConfig, Config, RateLimits
from chain429.errors import ProxyError
from chain429.providers.presets import Preset, get_preset
from chain429.vocabulary import Chain, ChainKind, Entry, Strategy


def merge_limits(base: RateLimits | None, override: RateLimits | None) -> RateLimits | None:
    """Entry-level limits override the provider's, field by field."""
    if base is None or override is None:
        return override or base
    merged = base.model_dump(exclude_none=True) | override.model_dump(exclude_none=True)
    return RateLimits.model_validate(merged)


def preset_limits(preset: Preset, model: str) -> RateLimits | None:
    """The documented free-tier limits of the preset, as defaults under the config's own."""
    documented = asdict(preset.limits_for(model))
    if not any(value is not None for value in documented.values()):
        return None
    return RateLimits.model_validate(documented)


class ChainTable:
    """Every chain and provider of one config, and the rules for picking a chain."""

    def __init__(
        self,
        config: Config,
        disabled: Mapping[str, str] | None = None,
        user_agent: str = "429chain",
        preset_for: Callable[[str], Preset] = get_preset,
    ) -> None:
        self._config = config
        self._preset_for = preset_for
        self._disabled = dict(disabled or {})
        self._user_agent = user_agent
        self.chains: dict[str, Chain] = {chain.name: self._chain(chain) for chain in config.chains}
        self.default_chain = config.default_chain_name

    def _chain(self, chain: ChainConfig) -> Chain:
        settings = self._config.settings
        cache = settings.cache
        enabled = chain.cache.enabled if chain.cache is not None else cache.enabled
        ttl = chain.cache.ttl_s if chain.cache is not None else None
        nondeterministic = chain.cache.cache_nondeterministic if chain.cache is not None else None
        return Chain(
            chain.name,
            tuple(self._entry(e.provider, e.model, e.rate_limits) for e in chain.entries),
            chain.max_wait_ms / 1000 if chain.max_wait_ms else None,
            Strategy(chain.strategy or settings.strategy),
            ChainKind(self._config.chain_kind(chain)),
            float(ttl or cache.ttl_s) if enabled else None,
            cache.cache_nondeterministic if nondeterministic is None else nondeterministic,
        )

    def _ad_hoc(self, provider_id: str, model: str) -> Chain:
        """One client-named pair, cached as the settings say."""
        cache = self._config.settings.cache
        entry = self._entry(provider_id, model, ad_hoc=True)
        return Chain(
            f"{provider_id}/{model}",
            (entry,),
            cache_ttl_s=float(cache.ttl_s) if cache.enabled else None,
            cache_nondeterministic=cache.cache_nondeterministic,
        )

    def _entry(
        self,
        provider_id: str,
        model: str,
        limits: RateLimits | None = None,
        *,
        ad_hoc: bool = False,
    ) -> Entry:
        provider = self._config.provider(provider_id)
        assert provider is not None  # the config's cross-checks guarantee it
        preset = self._preset_for(provider.type)
        base_url = (provider.base_url or preset.base_url or "").rstrip("/")
        headers = {"Content-Type": "application/json", "User-Agent": self._user_agent}
        headers.update(preset.headers)
        headers.update(provider.headers)
        query = ""
        if provider.api_key:
            if preset.auth == "bearer":
                headers["Authorization"] = f"Bearer {provider.api_key}"
            elif preset.auth == "x-api-key":
                headers["X-Api-Key"] = provider.api_key
            elif preset.auth == "query":
                query = f"?{preset.auth_param}={quote(provider.api_key, safe='')}"
        timeout_ms = provider.timeout_ms or self._config.settings.request_timeout_ms
        return Entry(
            provider=provider_id,
            model=model,
            preset=preset,
            base_url=base_url,
            headers=headers,
            timeout_s=timeout_ms / 1000,
            limits=merge_limits(
                preset_limits(preset, model), merge_limits(provider.rate_limits, limits)
            ),
            disabled=self._disabled.get(provider_id),
            api_key=provider.api_key,
            ad_hoc=ad_hoc,
            query=query,
        )

    def resolve(
        self,
        model: str | None,
        chain_header: str | None = None,
        kind: ChainKind = ChainKind.CHAT,
    ) -> Chain:
        """The chain a request asked for, by header, chain name or `<provider>/<model>`.

        An unknown model falls back to the default chain, or for an embeddings request to the
        first embeddings chain (the default chain is usually a chat chain).
        """
        if chain_header:
            chain = self.chains.get(chain_header)
            if chain is None:
                raise ProxyError(
                    404,
                    f"The chain '{chain_header}' named by X-429chain-Chain does not exist.",
                    code="chain_not_found",
                    param="X-429chain-Chain",
                )
            return chain
        if model and model in self.chains:
            return self.chains[model]
        if model and "/" in model:
            provider_id, _, upstream_model = model.partition("/")
            if upstream_model and self._config.provider(provider_id) is not None:
                return self._ad_hoc(provider_id, upstream_model)
        if self._config.settings.unknown_model == "default_chain" and self.default_chain:
            default = self.chains[self.default_chain]
            if default.kind is not kind:
                return next((c for c in self.chains.values() if c.kind is kind), default)
            return default
        raise ProxyError(
            404,
            f"The model '{model}' is neither a chain nor a '<provider>/<model>' pair. "
            f"Chains: {', '.join(self.chains) or 'none'}.",
            code="model_not_found",
            param="model",
        )

    def kind_of(self, model_id: str) -> ChainKind:
        """What a listed model id serves: its chain's kind (an entry: its first chain's)."""
        chain = self.chains.get(model_id)
        if chain is not None:
            return chain.kind
        for chain in self.chains.values():
            if any(entry.key == model_id for entry in chain.entries):
                return chain.kind
        return ChainKind.CHAT

    def model_ids(self) -> list[str]:
        """Chain names first, then every `<provider>/<model>` the chains use."""
        ids = list(self.chains)
        for chain in self.chains.values():
            for entry in chain.entries:
                if entry.key not in ids:
                    ids.append(entry.key)
        return ids
