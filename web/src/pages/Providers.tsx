// Providers: health and today's usage against known limits; add from a preset, edit, delete,
// test the connection and pick a model from the provider's own list.
import { useState } from "react";
import { Badge, Button, Card, Group, Modal, NumberInput, PasswordInput, Select, SimpleGrid, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, qs } from "../api/client";
import type { HealthReply, PresetsReply, PresetView, ProviderConfig, ProviderModels, ProviderProbe, ProvidersReply } from "../api/types";
import { Status, type Outcome } from "../components/Status";
import { messageOf } from "../components/notify";
import { num } from "../components/format";
import { useConfig } from "../components/useConfig";

const HEALTH_COLOR: Record<string, string> = { healthy: "green", degraded: "orange", failing: "red", idle: "gray" };
const LIMITS = [
  ["requests_per_minute", "Requests / minute"],
  ["requests_per_day", "Requests / day"],
  ["tokens_per_minute", "Tokens / minute"],
  ["tokens_per_day", "Tokens / day"],
] as const;
type LimitName = (typeof LIMITS)[number][0];

interface Form {
  id: string;
  type: string;
  name: string;
  base_url: string;
  api_key: string;
  limits: Partial<Record<LimitName, number | "">>;
}

function formFor(p: ProviderConfig | null): Form {
  return {
    id: p?.id ?? "",
    type: p?.type ?? "",
    name: p?.name ?? "",
    base_url: p?.base_url ?? "",
    api_key: "",
    limits: Object.fromEntries(LIMITS.map(([k]) => [k, p?.rate_limits?.[k] ?? ""])),
  };
}

function ProviderForm({ editing, presets, onDone }: { editing: ProviderConfig | null; presets: PresetView[]; onDone: (text: string) => void }) {
  const [form, setForm] = useState<Form>(() => formFor(editing));
  const [error, setError] = useState<string | null>(null);
  const preset = presets.find((p) => p.name === form.type);
  const client = useQueryClient();
  const save = useMutation({
    mutationFn: () => {
      const rate_limits = Object.fromEntries(Object.entries(form.limits).filter(([, v]) => v !== "" && v !== undefined));
      const body: Record<string, unknown> = { type: form.type, base_url: form.base_url || null, name: form.name || null, rate_limits: Object.keys(rate_limits).length ? rate_limits : null };
      if (form.api_key) body.api_key = form.api_key;
      return editing
        ? api(`/v1/admin/providers/${encodeURIComponent(editing.id)}`, { method: "PATCH", body })
        : api(`/v1/admin/providers/${encodeURIComponent(form.id)}`, { method: "PUT", body: Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null)) });
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["config"] });
      onDone(editing ? `Saved provider ${editing.id}.` : `Added provider ${form.id}.`);
    },
    onError: (e) => setError(messageOf(e)),
  });
  const pick = (name: string | null) => {
    const p = presets.find((x) => x.name === name);
    setForm((f) => ({ ...f, type: name ?? "", id: f.id || (name ?? ""), base_url: p?.base_url ?? "" }));
  };
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        save.mutate();
      }}
    >
      <Stack>
        <Select
          label="Preset"
          description="Base URL, header dialect and free-tier limits come from the preset."
          searchable
          required
          data={presets.map((p) => ({ value: p.name, label: p.base_url ? `${p.name} — ${p.base_url}` : `${p.name} (your base URL)` }))}
          value={form.type || null}
          onChange={pick}
          disabled={!!editing}
        />
        {preset && (
          <Text size="xs" c="dimmed" data-testid="preset-facts">
            Dialect {preset.dialect}, auth {preset.auth}, quota per {preset.quota_scope}, resets {preset.daily_reset}. Free tier:{" "}
            {LIMITS.filter(([k]) => preset.limits[k]).map(([k, label]) => `${label} ${num(preset.limits[k])}`).join(", ") || "not documented"}.
          </Text>
        )}
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <TextInput label="Id" required value={form.id} onChange={(e) => setForm({ ...form, id: e.currentTarget.value })} disabled={!!editing} />
          <TextInput label="Display name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </SimpleGrid>
        <TextInput label="Base URL" value={form.base_url} placeholder={preset?.base_url ?? "https://…/v1"} onChange={(e) => setForm({ ...form, base_url: e.currentTarget.value })} />
        <PasswordInput
          label="API key"
          description={editing ? `Leave empty to keep the current key (${editing.api_key ?? "none"}).` : "Stored in the config file (0600). Never shown again."}
          value={form.api_key}
          autoComplete="new-password"
          onChange={(e) => setForm({ ...form, api_key: e.currentTarget.value })}
        />
        <SimpleGrid cols={{ base: 2, sm: 4 }}>
          {LIMITS.map(([k, label]) => (
            <NumberInput
              key={k}
              label={label}
              min={1}
              allowDecimal={false}
              placeholder={preset?.limits[k] ? `preset ${preset.limits[k]}` : "none"}
              value={form.limits[k] ?? ""}
              onChange={(v) => setForm({ ...form, limits: { ...form.limits, [k]: typeof v === "number" ? v : "" } })}
            />
          ))}
        </SimpleGrid>
        {error && <Status outcome={{ ok: false, text: error }} />}
        <Group justify="end">
          <Button type="submit" loading={save.isPending}>
            {editing ? "Save" : "Add provider"}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function Probe({ provider }: { provider: ProviderConfig }) {
  const [model, setModel] = useState<string | null>(null);
  const [result, setResult] = useState<Outcome>(null);
  const test = useMutation({
    mutationFn: (m: string | null) => api<ProviderProbe>(`/v1/admin/providers/${encodeURIComponent(provider.id)}/test`, { method: "POST", body: m ? { model: m } : {} }),
    onSuccess: (r) =>
      setResult(
        r.ok
          ? { ok: true, text: r.method === "models" ? `Connected: ${r.models ?? 0} models listed in ${Math.round(r.latency_ms)} ms.` : `${r.model} answered in ${Math.round(r.latency_ms)} ms.` }
          : { ok: false, text: `Failed${r.status ? ` (${r.status})` : ""}: ${r.error ?? "no answer"}` },
      ),
    onError: (e) => setResult({ ok: false, text: messageOf(e) }),
  });
  const models = useQuery({
    queryKey: ["models", provider.id],
    queryFn: () => api<ProviderModels>(`/v1/admin/providers/${encodeURIComponent(provider.id)}/models`),
    enabled: false,
    retry: false,
  });
  return (
    <Stack gap="xs">
      <Group wrap="wrap">
        <Button variant="light" onClick={() => test.mutate(null)} loading={test.isPending && !test.variables}>
          Test connection
        </Button>
        <Button variant="default" onClick={() => void models.refetch()} loading={models.isFetching}>
          Fetch models
        </Button>
        {models.data && (
          <Select
            label="Model"
            searchable
            data={models.data.models}
            value={model}
            onChange={setModel}
            w={260}
            aria-label={`Model of ${provider.id}`}
          />
        )}
        {model && (
          <Button variant="light" onClick={() => test.mutate(model)} loading={test.isPending && !!test.variables}>
            Test {model}
          </Button>
        )}
      </Group>
      {models.error && <Status outcome={{ ok: false, text: messageOf(models.error) }} />}
      <Status outcome={result} />
    </Stack>
  );
}

export function Providers() {
  const config = useConfig();
  const client = useQueryClient();
  const presets = useQuery({ queryKey: ["presets"], queryFn: () => api<PresetsReply>("/v1/admin/presets"), staleTime: Infinity });
  const today = Math.floor(new Date().setUTCHours(0, 0, 0, 0) / 1000);
  const usage = useQuery({ queryKey: ["live", "providers", "today"], queryFn: () => api<ProvidersReply>(`/v1/stats/providers${qs({ since: today })}`) });
  const health = useQuery({ queryKey: ["live", "health"], queryFn: () => api<HealthReply>("/v1/stats/health") });
  const [editing, setEditing] = useState<ProviderConfig | "new" | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const remove = useMutation({
    mutationFn: (id: string) => api(`/v1/admin/providers/${encodeURIComponent(id)}`, { method: "DELETE" }),
    onSuccess: (_r, id) => {
      setOutcome({ ok: true, text: `Deleted provider ${id}.` });
      void client.invalidateQueries({ queryKey: ["config"] });
    },
    onError: (e) => setOutcome({ ok: false, text: messageOf(e) }),
  });
  const allPresets = presets.data?.presets ?? [];
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1} size="h2">
          Providers
        </Title>
        <Button onClick={() => setEditing("new")}>Add provider</Button>
      </Group>
      <Status outcome={outcome} />
      {config.error && <Text c="red">{config.error.message}</Text>}
      {(config.data?.providers ?? []).map((p) => {
        const used = usage.data?.providers.find((u) => u.provider_id === p.id);
        const h = health.data?.providers.find((x) => x.provider_id === p.id);
        const preset = allPresets.find((x) => x.name === p.type);
        const rpd = p.rate_limits?.requests_per_day ?? preset?.limits.requests_per_day ?? null;
        const disabled = config.data?.disabled_providers[p.id];
        return (
          <Card withBorder key={p.id} data-testid="provider-card" data-provider={p.id}>
            <Group justify="space-between" wrap="wrap">
              <Group gap="xs">
                <Title order={2} size="h4">
                  {p.name ?? p.id}
                </Title>
                <Badge variant="outline">{p.type}</Badge>
                {disabled ? <Badge color="gray">off: {disabled}</Badge> : <Badge color={HEALTH_COLOR[h?.status ?? "idle"]}>{h?.status ?? "idle"}</Badge>}
              </Group>
              <Group gap="xs">
                <Button variant="default" size="xs" onClick={() => setEditing(p)}>
                  Edit
                </Button>
                <Button
                  color="red"
                  variant="light"
                  size="xs"
                  onClick={() => {
                    if (window.confirm(`Delete provider ${p.id}?`)) remove.mutate(p.id);
                  }}
                >
                  Delete
                </Button>
              </Group>
            </Group>
            <Text size="sm" c="dimmed" ff="monospace">
              {p.base_url ?? preset?.base_url ?? "—"} · key {p.api_key ?? "none"}
            </Text>
            <Text size="sm">
              Today: {num(used?.total_requests ?? 0)} requests{rpd ? ` of ${num(rpd)} a day` : ""}, {num(used?.total_tokens ?? 0)} tokens
              {p.rate_limits?.tokens_per_day ? ` of ${num(p.rate_limits.tokens_per_day)}` : ""}.
            </Text>
            <Probe provider={p} />
          </Card>
        );
      })}
      <Modal opened={editing !== null} onClose={() => setEditing(null)} title={editing === "new" ? "Add a provider" : `Edit ${editing?.id ?? ""}`} size="lg">
        {editing !== null && (
          <ProviderForm
            editing={editing === "new" ? null : editing}
            presets={allPresets}
            onDone={(text) => {
              setEditing(null);
              setOutcome({ ok: true, text });
            }}
          />
        )}
      </Modal>
    </Stack>
  );
}
