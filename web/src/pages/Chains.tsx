// Chains: create, rename, delete (not the default), reorder entries by mouse or keyboard,
// add an entry by provider then model, per-entry limits. Every save says how it went.
import { useState } from "react";
import { ActionIcon, Autocomplete, Badge, Button, Card, Group, NumberInput, Select, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import type { ChainConfig, ProviderModels } from "../api/types";
import { SortableEntries, arrayMove } from "../components/SortableEntries";
import { Status, type Outcome } from "../components/Status";
import { messageOf } from "../components/notify";
import { useConfig } from "../components/useConfig";

type LimitName = "requests_per_minute" | "requests_per_day" | "tokens_per_minute";
type Limits = Partial<Record<LimitName, number | null>>;
/** An entry as edited here: only the fields this page sends. */
interface EntryConfig {
  provider: string;
  model: string;
  rate_limits?: Limits | null;
}
const ENTRY_LIMITS = [
  ["requests_per_minute", "RPM"],
  ["requests_per_day", "RPD"],
  ["tokens_per_minute", "TPM"],
] as const;

function entryBody(e: EntryConfig): Record<string, unknown> {
  const limits = Object.fromEntries(Object.entries(e.rate_limits ?? {}).filter(([, v]) => v !== null && v !== undefined));
  return { provider: e.provider, model: e.model, ...(Object.keys(limits).length ? { rate_limits: limits } : {}) };
}

function AddEntry({ providers, onAdd }: { providers: string[]; onAdd: (provider: string, model: string) => void }) {
  const [provider, setProvider] = useState<string | null>(null);
  const [model, setModel] = useState("");
  const models = useQuery({
    queryKey: ["models", provider],
    queryFn: () => api<ProviderModels>(`/v1/admin/providers/${encodeURIComponent(provider!)}/models`),
    enabled: provider !== null,
    retry: false,
    staleTime: 60000,
  });
  return (
    <Group align="end" wrap="wrap">
      <Select label="Provider" data={providers} value={provider} onChange={setProvider} w={170} />
      <Autocomplete
        label="Model"
        description={models.error ? "Model list unavailable; type one." : models.isFetching ? "Loading the provider's models…" : undefined}
        data={models.data?.models ?? []}
        value={model}
        onChange={setModel}
        disabled={!provider}
        w={260}
        limit={50}
      />
      <Button
        variant="light"
        disabled={!provider || !model.trim()}
        onClick={() => {
          onAdd(provider!, model.trim());
          setModel("");
        }}
      >
        Add entry
      </Button>
    </Group>
  );
}

function ChainCard({ chain, isDefault, providers }: { chain: ChainConfig; isDefault: boolean; providers: string[] }) {
  const client = useQueryClient();
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [name, setName] = useState(chain.name);
  const [limitsOpen, setLimitsOpen] = useState<number | null>(null);
  const save = useMutation({
    mutationFn: async ({ entries, rename }: { entries: EntryConfig[]; rename?: string; done: string }) => {
      const target = rename ?? chain.name;
      await api(`/v1/admin/chains/${encodeURIComponent(target)}`, { method: "PUT", body: { entries: entries.map(entryBody), ...(chain.max_wait_ms ? { max_wait_ms: chain.max_wait_ms } : {}) } });
      if (rename) {
        if (isDefault) await api("/v1/admin/settings", { method: "PATCH", body: { default_chain: rename } });
        await api(`/v1/admin/chains/${encodeURIComponent(chain.name)}`, { method: "DELETE" });
      }
    },
    onSuccess: (_r, v) => setOutcome({ ok: true, text: v.done }),
    onError: (e) => setOutcome({ ok: false, text: messageOf(e) }),
    onSettled: () => client.invalidateQueries({ queryKey: ["config"] }),
  });
  const remove = useMutation({
    mutationFn: () => api(`/v1/admin/chains/${encodeURIComponent(chain.name)}`, { method: "DELETE" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["config"] }),
    onError: (e) => setOutcome({ ok: false, text: messageOf(e) }),
  });
  // Ids that stay stable while the list moves: provider/model, made unique by position.
  const items = chain.entries.map((e, i) => ({ id: `${e.provider}/${e.model}#${chain.entries.slice(0, i).filter((x) => x.provider === e.provider && x.model === e.model).length}`, label: `${e.provider}/${e.model}` }));
  const setLimit = (index: number, key: LimitName, value: number | string) => {
    const entries = (chain.entries as EntryConfig[]).map((e, i) => (i === index ? { ...e, rate_limits: { ...(e.rate_limits ?? {}), [key]: typeof value === "number" ? value : null } } : e));
    save.mutate({ entries, done: `Saved the limits of ${items[index].label}.` });
  };
  return (
    <Card withBorder data-testid="chain-card" data-chain={chain.name}>
      <Group justify="space-between" wrap="wrap" mb="xs">
        <Group gap="xs">
          <Title order={2} size="h4">
            {chain.name}
          </Title>
          {isDefault && <Badge>default</Badge>}
        </Group>
        <Group gap="xs" align="end">
          <TextInput aria-label={`New name for ${chain.name}`} value={name} onChange={(e) => setName(e.currentTarget.value)} size="xs" w={140} />
          <Button size="xs" variant="default" disabled={!name.trim() || name === chain.name} onClick={() => save.mutate({ entries: chain.entries, rename: name.trim(), done: `Renamed ${chain.name} to ${name.trim()}.` })}>
            Rename
          </Button>
          <Button
            size="xs"
            color="red"
            variant="light"
            disabled={isDefault}
            title={isDefault ? "The default chain cannot be deleted" : undefined}
            onClick={() => {
              if (window.confirm(`Delete chain ${chain.name}?`)) remove.mutate();
            }}
          >
            Delete
          </Button>
        </Group>
      </Group>
      <SortableEntries
        items={items}
        onReorder={(from, to) => save.mutate({ entries: arrayMove(chain.entries as EntryConfig[], from, to), done: `Saved the order of ${chain.name}.` })}
        render={(item, index) => {
          const entry = chain.entries[index] as EntryConfig;
          return (
            <Stack gap={4} style={{ flex: 1 }}>
              <Group justify="space-between" wrap="wrap" gap="xs">
                <Text ff="monospace" size="sm">
                  {index + 1}. {item.label}
                  {entry.rate_limits && Object.values(entry.rate_limits).some((v) => v) && (
                    <Text span size="xs" c="dimmed">
                      {" "}
                      ({ENTRY_LIMITS.filter(([k]) => entry.rate_limits?.[k]).map(([k, l]) => `${l} ${entry.rate_limits?.[k]}`).join(", ")})
                    </Text>
                  )}
                </Text>
                <Group gap={4}>
                  <Button size="compact-xs" variant="subtle" onClick={() => setLimitsOpen(limitsOpen === index ? null : index)} aria-expanded={limitsOpen === index}>
                    Limits
                  </Button>
                  <ActionIcon
                    size="sm"
                    variant="subtle"
                    color="red"
                    aria-label={`Remove ${item.label}`}
                    disabled={chain.entries.length === 1}
                    onClick={() => save.mutate({ entries: chain.entries.filter((_, i) => i !== index), done: `Removed ${item.label}.` })}
                  >
                    <span aria-hidden="true">✕</span>
                  </ActionIcon>
                </Group>
              </Group>
              {limitsOpen === index && (
                <Group gap="xs">
                  {ENTRY_LIMITS.map(([k, l]) => (
                    <NumberInput key={k} size="xs" w={110} label={l} min={1} allowDecimal={false} defaultValue={entry.rate_limits?.[k] ?? ""} onBlur={(e) => setLimit(index, k, e.currentTarget.value ? Number(e.currentTarget.value) : "")} />
                  ))}
                </Group>
              )}
            </Stack>
          );
        }}
      />
      <AddEntry providers={providers} onAdd={(provider, model) => save.mutate({ entries: [...(chain.entries as EntryConfig[]), { provider, model }], done: `Added ${provider}/${model}.` })} />
      <Stack mt="xs">
        <Status outcome={outcome} />
      </Stack>
    </Card>
  );
}

function NewChain({ providers }: { providers: string[] }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [provider, setProvider] = useState<string | null>(null);
  const [model, setModel] = useState("");
  const [outcome, setOutcome] = useState<Outcome>(null);
  const create = useMutation({
    mutationFn: () => api(`/v1/admin/chains/${encodeURIComponent(name.trim())}`, { method: "PUT", body: { entries: [{ provider, model: model.trim() }] } }),
    onSuccess: () => {
      setOutcome({ ok: true, text: `Created chain ${name.trim()}.` });
      setName("");
      setModel("");
      void client.invalidateQueries({ queryKey: ["config"] });
    },
    onError: (e) => setOutcome({ ok: false, text: messageOf(e) }),
  });
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">
        New chain
      </Title>
      <Group align="end" wrap="wrap">
        <TextInput label="Name" value={name} onChange={(e) => setName(e.currentTarget.value)} w={160} />
        <Select label="First provider" data={providers} value={provider} onChange={setProvider} w={170} />
        <TextInput label="First model" value={model} onChange={(e) => setModel(e.currentTarget.value)} w={220} />
        <Button disabled={!name.trim() || !provider || !model.trim()} onClick={() => create.mutate()} loading={create.isPending}>
          Create
        </Button>
      </Group>
      <Stack mt="xs">
        <Status outcome={outcome} />
      </Stack>
    </Card>
  );
}

export function Chains() {
  const config = useConfig();
  const providers = (config.data?.providers ?? []).map((p) => p.id);
  const defaultChain = config.data?.settings.default_chain ?? config.data?.chains[0]?.name;
  return (
    <Stack>
      <Title order={1} size="h2">
        Chains
      </Title>
      <Text size="sm" c="dimmed">
        Requests try the entries from the top. Drag a handle, or focus it and press Space, the arrow keys, then Space again.
      </Text>
      {config.error && <Text c="red">{config.error.message}</Text>}
      {(config.data?.chains ?? []).map((chain) => (
        <ChainCard key={chain.name} chain={chain} isDefault={chain.name === defaultChain} providers={providers} />
      ))}
      <NewChain providers={providers} />
    </Stack>
  );
}
