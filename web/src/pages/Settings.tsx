// Settings: proxy keys (masked; add and revoke), timeouts, retention, the default chain, and
// the config file as it is on disk (keys masked).
import { useState } from "react";
import { Button, Card, Code, Group, NumberInput, PasswordInput, Select, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../api/client";
import type { ConfigFileView, Settings } from "../api/types";
import { Status, type Outcome } from "../components/Status";
import { messageOf } from "../components/notify";
import { useConfig } from "../components/useConfig";

const TIMEOUTS = [
  ["connect_timeout_ms", "Connect timeout (ms)"],
  ["first_byte_timeout_ms", "First byte timeout (ms)"],
  ["request_timeout_ms", "Request timeout (ms)"],
  ["stream_idle_timeout_ms", "Stream idle timeout (ms)"],
  ["deadline_ms", "Whole-request deadline (ms)"],
] as const;

function useSave(setOutcome: (o: Outcome) => void) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ body }: { body: Partial<Record<keyof Settings, unknown>>; done: string }) => api<{ restart_required: string[] }>("/v1/admin/settings", { method: "PATCH", body }),
    onSuccess: (r, v) => setOutcome({ ok: true, text: v.done + (r.restart_required.length ? ` Takes effect after a restart: ${r.restart_required.join(", ")}.` : "") }),
    onError: (e) => setOutcome({ ok: false, text: messageOf(e) }),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["config"] });
      void client.invalidateQueries({ queryKey: ["config-file"] });
    },
  });
}

function Keys({ settings }: { settings: Settings }) {
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [fresh, setFresh] = useState("");
  const save = useSave(setOutcome);
  const keys: string[] = settings.api_keys ?? [];
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">
        Proxy keys
      </Title>
      <Table>
        <Table.Tbody>
          {keys.length === 0 && (
            <Table.Tr>
              <Table.Td>No keys: the proxy is open (loopback only).</Table.Td>
            </Table.Tr>
          )}
          {keys.map((k, i) => (
            <Table.Tr key={`${k}-${i}`}>
              <Table.Td ff="monospace">{k}</Table.Td>
              <Table.Td align="right">
                <Button
                  size="compact-sm"
                  color="red"
                  variant="light"
                  aria-label={`Revoke key ${k}`}
                  onClick={() => {
                    if (window.confirm(`Revoke ${k}? Clients using it get 401 at once.`)) save.mutate({ body: { api_keys: keys.filter((_, j) => j !== i) }, done: `Revoked ${k}.` });
                  }}
                >
                  Revoke
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <Group align="end" mt="sm">
        <PasswordInput label="New proxy key" value={fresh} onChange={(e) => setFresh(e.currentTarget.value)} w={280} autoComplete="new-password" />
        <Button
          disabled={fresh.trim().length < 8}
          onClick={() => {
            save.mutate({ body: { api_keys: [...keys, fresh.trim()] }, done: "Added the key." });
            setFresh("");
          }}
        >
          Add key
        </Button>
      </Group>
      <Stack mt="xs">
        <Status outcome={outcome} />
      </Stack>
    </Card>
  );
}

function General({ settings, chains }: { settings: Settings; chains: string[] }) {
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [draft, setDraft] = useState<Record<string, number | string | null>>({});
  const save = useSave(setOutcome);
  const value = (k: string) => (k in draft ? draft[k] : ((settings as Record<string, unknown>)[k] as number | string | null));
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">
        Timeouts, retention and the default chain
      </Title>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate({ body: draft, done: "Saved the settings." });
          setDraft({});
        }}
      >
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }}>
          {TIMEOUTS.map(([k, label]) => (
            <NumberInput key={k} label={label} min={1} allowDecimal={false} value={value(k) ?? ""} onChange={(v) => setDraft({ ...draft, [k]: typeof v === "number" ? v : null })} />
          ))}
          <NumberInput label="Keep the request log (days)" min={1} max={3650} value={value("log_retention_days") ?? ""} onChange={(v) => setDraft({ ...draft, log_retention_days: typeof v === "number" ? v : null })} />
          <Select label="Default chain" data={chains} value={(value("default_chain") as string | null) ?? null} onChange={(v) => setDraft({ ...draft, default_chain: v })} clearable />
        </SimpleGrid>
        <Group mt="md">
          <Button type="submit" disabled={Object.keys(draft).length === 0} loading={save.isPending}>
            Save settings
          </Button>
        </Group>
      </form>
      <Stack mt="xs">
        <Status outcome={outcome} />
      </Stack>
    </Card>
  );
}

export function SettingsPage() {
  const config = useConfig();
  const file = useQuery({ queryKey: ["config-file"], queryFn: () => api<ConfigFileView>("/v1/admin/config/file") });
  const settings = config.data?.settings;
  return (
    <Stack>
      <Title order={1} size="h2">
        Settings
      </Title>
      {config.error && <Text c="red">{config.error.message}</Text>}
      {settings && <Keys settings={settings} />}
      {/* Not keyed by the refetch time: a refetch (another save) must not discard an edit or
          the last save's message; the draft overrides the server's values until saved. */}
      {settings && <General settings={settings} chains={(config.data?.chains ?? []).map((c) => c.name)} />}
      <Card withBorder>
        <Title order={2} size="h4" mb="xs">
          Config file
        </Title>
        <Text size="sm" c="dimmed" mb="xs">
          {file.data?.path ?? "not from a file"} · as on disk, keys masked, read-only
          {config.data?.file.error ? ` · not served: ${config.data.file.error}` : ""}
        </Text>
        <Code block className="yaml" data-testid="config-file" tabIndex={0} aria-label="The config file">
          {file.data?.text ?? (file.error ? messageOf(file.error) : "…")}
        </Code>
      </Card>
    </Stack>
  );
}
