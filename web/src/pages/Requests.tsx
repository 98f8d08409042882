// The request log: filters, paging (the server pages; 100,000 rows stay on the server).
import { useState } from "react";
import { Autocomplete, Button, Card, Group, Pagination, Select, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, qs } from "../api/client";
import type { LoggedRequest, RequestLogQuery, RequestOutcome, RequestPage } from "../api/types";
import { OutcomeBadge, RequestDrawer } from "../components/RequestDrawer";
import { clientApi, ms, num, outcomeLabel } from "../components/format";
import { useConfig } from "../components/useConfig";
import { useFeed } from "../components/feed";
import { Trail } from "../components/Trail";

const PAGE = 50;
// Every outcome the server logs, keyed by the generated enum: tsc fails when the server adds,
// drops or renames one (the schema is regenerated from the server and checked in CI).
const LOGGED: Record<RequestOutcome, true> = {
  success: true,
  stream_failed: true,
  exhausted: true,
  upstream_rejected: true,
  bad_request: true,
  auth_failed: true,
  client_disconnect: true,
  shutdown: true,
  internal_error: true,
};
const OUTCOMES = (Object.keys(LOGGED) as RequestOutcome[]).map((value) => ({ value, label: outcomeLabel(value) }));
// Suggestions only: any status can be typed (an upstream's own 4xx passes through).
const STATUSES = ["200", "400", "401", "404", "408", "413", "429", "499", "500", "502", "503", "504"];
// The log's query as this page holds it: a cleared filter is null, and qs leaves it out.
type LogFilters = { [K in keyof RequestLogQuery]: RequestLogQuery[K] | null };
const SINCE: Record<string, number> = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

function AttemptCount({ r }: { r: LoggedRequest }) {
  return (
    <Text size="sm">
      {r.attempts}
      {r.skipped ? ` (+${r.skipped} skipped)` : ""}
    </Text>
  );
}

export function Requests() {
  const config = useConfig();
  // The log's page has no attempts; requests this tab saw live have theirs: show them inline.
  const { requests: live } = useFeed();
  const trails = new Map(live.map((r) => [r.id, r.attempt_log]));
  const [chain, setChain] = useState<string | null>(null);
  const [provider, setProvider] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [statusText, setStatusText] = useState("");
  const [period, setPeriod] = useState<string | null>("24h");
  const [q, setQ] = useState("");
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<string | null>(null);
  const [sinceAt, setSinceAt] = useState(() => Math.floor(Date.now() / 1000));
  // The status filter applies once it is a whole status (three digits); a partial one waits,
  // without an error while it can still become one (the start of 100-599).
  const typed = statusText.trim();
  const status = /^[1-5]\d\d$/.test(typed) ? Number(typed) : undefined;
  const statusError = /^([1-5]\d{0,2})?$/.test(typed) ? null : "An HTTP status, e.g. 429";
  const params = qs({
    chain,
    provider,
    outcome,
    status,
    since: period ? String(sinceAt - SINCE[period]) : undefined,
    q,
    limit: PAGE,
    offset: (page - 1) * PAGE,
  } satisfies LogFilters);
  const log = useQuery({
    queryKey: ["live", "requests", params],
    queryFn: () => api<RequestPage>(`/v1/stats/requests${params}`),
    placeholderData: keepPreviousData,
  });
  const reset = <T,>(set: (v: T) => void) => (v: T) => {
    set(v);
    setPage(1);
  };
  const pages = Math.max(1, Math.ceil((log.data?.total ?? 0) / PAGE));
  return (
    <Stack>
      <Title order={1} size="h2">
        Request log
      </Title>
      <Card withBorder>
        <Group align="end" wrap="wrap">
          <Select label="Chain" clearable placeholder="any" data={(config.data?.chains ?? []).map((c) => c.name)} value={chain} onChange={reset(setChain)} w={160} />
          <Select label="Provider" clearable placeholder="any" data={(config.data?.providers ?? []).map((p) => p.id)} value={provider} onChange={reset(setProvider)} w={160} />
          <Select label="Outcome" clearable placeholder="any" data={OUTCOMES} value={outcome} onChange={reset(setOutcome)} w={180} />
          <Autocomplete label="Status" placeholder="any" data={STATUSES} value={statusText} onChange={reset(setStatusText)} error={statusError} inputMode="numeric" w={110} />
          <Select label="Time" clearable placeholder="all" data={[{ value: "1h", label: "last hour" }, { value: "24h", label: "last 24 h" }, { value: "7d", label: "last 7 days" }, { value: "30d", label: "last 30 days" }]} value={period} onChange={reset(setPeriod)} w={150} />
          <TextInput label="Error contains" value={q} onChange={(e) => reset(setQ)(e.currentTarget.value)} w={180} />
          <Button variant="default" onClick={() => setSinceAt(Math.floor(Date.now() / 1000))}>
            Refresh
          </Button>
        </Group>
      </Card>
      {log.error && <Text c="red">{log.error.message}</Text>}
      <Text size="sm" c="dimmed" aria-live="polite">
        {num(log.data?.total)} requests
      </Text>
      <Table.ScrollContainer minWidth={760}>
        <Table striped highlightOnHover data-testid="request-log">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Time</Table.Th>
              <Table.Th>Chain</Table.Th>
              <Table.Th>Outcome</Table.Th>
              <Table.Th>Served by</Table.Th>
              <Table.Th>Calls</Table.Th>
              <Table.Th>Tokens</Table.Th>
              <Table.Th>Latency</Table.Th>
              <Table.Th>
                <span className="visually-hidden">Details</span>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(log.data?.requests ?? []).map((r) => (
              <Table.Tr key={r.id} data-testid="log-row">
                <Table.Td>{new Date(r.timestamp).toLocaleString()}</Table.Td>
                <Table.Td>
                  {r.chain_name ?? "—"}
                  {clientApi(r.endpoint) && <Text span size="xs" c="dimmed"> via {clientApi(r.endpoint)}</Text>}
                </Table.Td>
                <Table.Td>
                  <OutcomeBadge outcome={r.outcome} status={r.http_status} />
                  {r.fallback && <Text span size="xs" c="violet"> fallback</Text>}
                </Table.Td>
                <Table.Td>
                  <Text size="sm" ff="monospace">
                    {r.provider_id ? `${r.provider_id}/${r.model}` : "—"}
                  </Text>
                  {trails.has(r.id) && <Trail attempts={trails.get(r.id)!} />}
                </Table.Td>
                <Table.Td>
                  <AttemptCount r={r} />
                </Table.Td>
                <Table.Td>{num(r.total_tokens)}</Table.Td>
                <Table.Td>{ms(r.latency_ms)}</Table.Td>
                <Table.Td>
                  <Button size="compact-sm" variant="subtle" onClick={() => setOpen(r.id)} aria-label={`Show request ${r.id.slice(0, 8)} with its attempt trail`}>
                    Trail
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Pagination total={pages} value={page} onChange={setPage} getControlProps={(c) => ({ "aria-label": `${c} page` })} />
      <RequestDrawer id={open} onClose={() => setOpen(null)} />
    </Stack>
  );
}
