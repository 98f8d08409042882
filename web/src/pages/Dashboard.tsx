// Cards, charts over a range, per-provider and per-chain tables, health, live quota and feed.
// Everything here reads the server's aggregates (/v1/stats/*), never raw rows.
import { useMemo, useState } from "react";
import { Badge, Card, Grid, Group, SegmentedControl, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQueries, useQuery } from "@tanstack/react-query";
import { api, qs } from "../api/client";
import type { Capacity, ChainsReply, HealthReply, ProvidersReply, Savings, SummaryReply, Timeseries } from "../api/types";
import { Chart, type Series } from "../components/Chart";
import { LiveFeed } from "../components/LiveFeed";
import { QuotaPanel } from "../components/QuotaPanel";
import { ms, num, pct, usd } from "../components/format";

const RANGES = { "1h": { seconds: 3600, bucket: "minute" }, "24h": { seconds: 86400, bucket: "hour" }, "7d": { seconds: 7 * 86400, bucket: "hour" } } as const;
type Range = keyof typeof RANGES;
const PALETTE = ["#1c7ed6", "#f76707", "#37b24d", "#ae3ec9", "#f59f00", "#0ca678", "#e03131", "#4263eb"];

function StatCard({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <Card withBorder padding="sm" data-testid={`card-${label.toLowerCase().replace(/\W+/g, "-")}`}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text size="xl" fw={700} data-testid="card-value">
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Card>
  );
}

const HEALTH_COLOR: Record<string, string> = { healthy: "green", degraded: "orange", failing: "red", idle: "gray" };

export function Dashboard() {
  const [range, setRange] = useState<Range>("24h");
  // The window's start, fixed when the range is picked (a moving `since` would refetch forever).
  const since = useMemo(() => Math.floor(Date.now() / 1000) - RANGES[range].seconds, [range]);
  const filter = qs({ since });
  const summary = useQuery({ queryKey: ["live", "summary", since], queryFn: () => api<SummaryReply>(`/v1/stats/summary${filter}`), refetchInterval: 30000 });
  const savings = useQuery({ queryKey: ["live", "savings", since], queryFn: () => api<Savings>(`/v1/stats/savings${filter}`) });
  const capacity = useQuery({ queryKey: ["live", "capacity"], queryFn: () => api<Capacity>("/v1/stats/capacity"), refetchInterval: 30000 });
  const providers = useQuery({ queryKey: ["live", "providers", since], queryFn: () => api<ProvidersReply>(`/v1/stats/providers${filter}`) });
  const chains = useQuery({ queryKey: ["live", "chains", since], queryFn: () => api<ChainsReply>(`/v1/stats/chains${filter}`) });
  const health = useQuery({ queryKey: ["live", "health"], queryFn: () => api<HealthReply>("/v1/stats/health"), refetchInterval: 30000 });
  const bucket = RANGES[range].bucket;
  const series = useQuery({
    queryKey: ["live", "timeseries", since, bucket],
    queryFn: () => api<Timeseries>(`/v1/stats/timeseries${qs({ since, bucket })}`),
  });
  const providerIds = (providers.data?.providers ?? []).map((p) => p.provider_id).slice(0, PALETTE.length);
  // Requests per provider: one aggregate per provider, stacked.
  const perProvider = useQueries({
    queries: providerIds.map((id) => ({
      queryKey: ["live", "timeseries", since, bucket, id],
      queryFn: () => api<Timeseries>(`/v1/stats/timeseries${qs({ since, bucket, provider: id })}`),
    })),
  });

  const s = summary.data?.summary;
  const points = useMemo(() => series.data?.points ?? [], [series.data]);
  const times = useMemo(() => points.map((p) => p.timestamp / 1000), [points]);
  const charts = useMemo(() => {
    const tpl = (label: string, values: (number | null)[], color: string): Series => ({ label, values, color });
    return {
      errors: [tpl("429s met", points.map((p) => p.rate_limited), PALETTE[1]), tpl("fallbacks", points.map((p) => p.fallbacks), PALETTE[3]), tpl("errors", points.map((p) => p.errors), PALETTE[6])],
      tokens: [tpl("prompt", points.map((p) => p.prompt_tokens), PALETTE[0]), tpl("completion", points.map((p) => p.completion_tokens), PALETTE[2])],
      latency: [tpl("p50", points.map((p) => p.latency_p50_ms ?? null), PALETTE[0]), tpl("p95", points.map((p) => p.latency_p95_ms ?? null), PALETTE[1])],
    };
  }, [points]);
  const stacked = useMemo(
    () =>
      perProvider
        .map((q, i) => ({ id: providerIds[i], data: q.data }))
        .filter((x) => x.data)
        .map((x, i) => ({ label: x.id, color: PALETTE[i % PALETTE.length], values: x.data!.points.map((p) => p.requests) })),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [perProvider.map((q) => q.dataUpdatedAt).join(), providerIds.join()],
  );
  // Free requests left today, over the limits that are known (null: no daily limit known).
  const capacityChains = capacity.data?.chains ?? [];
  const capacityLeft = capacityChains.some((c) => c.requests_left_known > 0 || c.requests_left !== null)
    ? capacityChains.reduce((sum, c) => sum + c.requests_left_known, 0)
    : undefined;
  const stackTimes = perProvider[0]?.data?.points.map((p) => p.timestamp / 1000) ?? [];

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1} size="h2">
          Dashboard
        </Title>
        <SegmentedControl
          aria-label="Time range"
          value={range}
          onChange={(v) => setRange(v as Range)}
          data={[
            { value: "1h", label: "1 h" },
            { value: "24h", label: "24 h" },
            { value: "7d", label: "7 d" },
          ]}
        />
      </Group>
      {summary.error && <Text c="red">{summary.error.message}</Text>}
      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }}>
        <StatCard label="Requests" value={num(s?.total_requests)} hint={`${num(s?.failed_requests)} failed`} />
        <StatCard label="Success rate" value={pct(s?.success_rate)} />
        <StatCard label="Fallback rate" value={pct(s?.waterfall_rate)} hint={`${num(s?.waterfall_requests)} served after a failure`} />
        <StatCard label="Tokens" value={num(s?.total_tokens)} hint={`${num(s?.total_prompt_tokens)} in / ${num(s?.total_completion_tokens)} out`} />
        <StatCard label="Money saved" value={savings.data ? usd(savings.data.total_saved) : "—"} hint="at paid list prices" />
        <StatCard label="Free capacity today" value={capacityLeft === undefined ? "—" : `${num(capacityLeft)} req`} hint={capacityLeft === undefined ? "no daily limit known yet" : "requests left under known daily limits"} />
      </SimpleGrid>
      <Grid>
        <Grid.Col span={{ base: 12, lg: 8 }}>
          <Stack>
            <SimpleGrid cols={{ base: 1, md: 2 }}>
              <Card withBorder>
                <Text fw={600} size="sm">Requests per provider</Text>
                <Chart title="Requests per provider over time, stacked" times={stackTimes} series={stacked} stacked />
              </Card>
              <Card withBorder>
                <Text fw={600} size="sm">429s and fallbacks</Text>
                <Chart title="429s met, fallbacks and errors over time" times={times} series={charts.errors} />
              </Card>
              <Card withBorder>
                <Text fw={600} size="sm">Tokens</Text>
                <Chart title="Prompt and completion tokens over time" times={times} series={charts.tokens} stacked />
              </Card>
              <Card withBorder>
                <Text fw={600} size="sm">Latency</Text>
                <Chart title="Latency p50 and p95 over time" times={times} series={charts.latency} unit="ms" />
              </Card>
            </SimpleGrid>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Providers</Title>
              <Table.ScrollContainer minWidth={560}>
                <Table striped data-testid="provider-table">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Provider</Table.Th>
                      <Table.Th>Health</Table.Th>
                      <Table.Th>Requests</Table.Th>
                      <Table.Th>Success</Table.Th>
                      <Table.Th>Error rate (5 min)</Table.Th>
                      <Table.Th>Latency</Table.Th>
                      <Table.Th>Trend</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {(providers.data?.providers ?? []).map((p) => {
                      const h = health.data?.providers.find((x) => x.provider_id === p.provider_id);
                      return (
                        <Table.Tr key={p.provider_id} data-testid="provider-row">
                          <Table.Td>{p.provider_id}</Table.Td>
                          <Table.Td>{h ? <Badge color={HEALTH_COLOR[h.status]} tt="none" style={{ minWidth: "max-content" }}>{h.status}</Badge> : "—"}</Table.Td>
                          <Table.Td>{num(p.total_requests)}</Table.Td>
                          <Table.Td>{pct(p.success_rate)}</Table.Td>
                          <Table.Td>{pct(h?.last_5m?.error_rate)}</Table.Td>
                          <Table.Td>{ms(p.avg_latency_ms)}</Table.Td>
                          <Table.Td>{h?.latency_trend.direction ?? "—"}</Table.Td>
                        </Table.Tr>
                      );
                    })}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Card>
            <Card withBorder>
              <Title order={2} size="h4" mb="xs">Chains</Title>
              <Table.ScrollContainer minWidth={480}>
                <Table striped data-testid="chain-table">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Chain</Table.Th>
                      <Table.Th>Requests</Table.Th>
                      <Table.Th>Success</Table.Th>
                      <Table.Th>Fallback rate</Table.Th>
                      <Table.Th>Tokens</Table.Th>
                      <Table.Th>Latency</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {(chains.data?.chains ?? []).map((c) => (
                      <Table.Tr key={c.chain_name} data-testid="chain-row">
                        <Table.Td>{c.chain_name}</Table.Td>
                        <Table.Td>{num(c.total_requests)}</Table.Td>
                        <Table.Td>{pct(c.success_rate)}</Table.Td>
                        <Table.Td>{pct(c.waterfall_rate)}</Table.Td>
                        <Table.Td>{num(c.total_tokens)}</Table.Td>
                        <Table.Td>{ms(c.avg_latency_ms)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Card>
          </Stack>
        </Grid.Col>
        <Grid.Col span={{ base: 12, lg: 4 }}>
          <Stack>
            <QuotaPanel />
            <LiveFeed />
          </Stack>
        </Grid.Col>
      </Grid>
    </Stack>
  );
}
