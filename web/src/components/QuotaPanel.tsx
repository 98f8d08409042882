// Live quota state: per chain, each entry's badge, remaining bars, cooldown countdown, and
// who serves next. Polled every few seconds and after each finished request (feed).
import { useEffect, useState } from "react";
import { Badge, Card, Group, Progress, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import type { EntryRateLimit, RateLimitsReply } from "../api/types";
import { clock, num } from "./format";

export const STATE_BADGE: Record<string, { label: string; color: string }> = {
  available: { label: "ready", color: "green" },
  tracking: { label: "ready", color: "green" },
  cooling: { label: "cooling", color: "orange" },
  "exhausted-until-daily-reset": { label: "exhausted for the day", color: "red" },
  "breaker-open": { label: "breaker open", color: "red" },
  "auth-failed": { label: "auth failed", color: "red" },
  disabled: { label: "disabled", color: "gray" },
};

function Remaining({ label, remaining, limit }: { label: string; remaining: number; limit: number }) {
  const value = limit > 0 ? (remaining / limit) * 100 : 0;
  return (
    <div>
      <Group justify="space-between" gap={4}>
        <Text size="xs">{label}</Text>
        <Text size="xs" c="dimmed">
          {num(remaining)} / {num(limit)} left
        </Text>
      </Group>
      <Progress value={value} size="sm" aria-label={`${label}: ${remaining} of ${limit} left`} color={value < 15 ? "red" : "blue"} />
    </div>
  );
}

function windows(e: EntryRateLimit): { label: string; remaining: number; limit: number }[] {
  const out: { label: string; remaining: number; limit: number }[] = [];
  for (const [name, w] of Object.entries(e.learned)) {
    if (w.limit) out.push({ label: name, remaining: w.remaining, limit: w.limit });
  }
  for (const [name, w] of Object.entries(e.manual)) {
    out.push({ label: name.replace(/_/g, " "), remaining: Math.max(0, w.limit - w.used), limit: w.limit });
  }
  return out.slice(0, 4);
}

function EntryRow({ entry, next, fetchedAt, now }: { entry: EntryRateLimit; next: boolean; fetchedAt: number; now: number }) {
  const badge = STATE_BADGE[entry.state] ?? { label: entry.state, color: "gray" };
  const left = entry.cooldown_left_s === null ? null : entry.cooldown_left_s - (now - fetchedAt) / 1000;
  return (
    <Card withBorder padding="xs" data-testid="quota-entry" data-entry={entry.entry} data-state={entry.state}>
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Text size="sm" ff="monospace" fw={500}>
          {entry.entry}
        </Text>
        <Group gap={6}>
          {next && (
            <Badge variant="outline" color="blue">
              serves next
            </Badge>
          )}
          <Badge color={badge.color}>{badge.label}</Badge>
        </Group>
      </Group>
      {left !== null && left > 0 && (
        <Text size="sm" c="orange" data-testid="cooldown" role="timer" aria-live="off">
          back in {clock(left)}
          {entry.reason ? ` — ${entry.reason}` : ""}
        </Text>
      )}
      {left === null && entry.reason && entry.state !== "available" && (
        <Text size="xs" c="dimmed">
          {entry.reason}
        </Text>
      )}
      <Stack gap={4} mt={4}>
        {windows(entry).map((w) => (
          <Remaining key={w.label} {...w} />
        ))}
      </Stack>
    </Card>
  );
}

export function QuotaPanel() {
  const query = useQuery({
    queryKey: ["live", "ratelimits"],
    queryFn: () => api<RateLimitsReply>("/v1/ratelimits"),
    refetchInterval: 5000,
  });
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, []);
  const data = query.data;
  const byId = new Map((data?.ratelimits ?? []).map((e) => [e.entry, e]));
  return (
    <section aria-labelledby="quota-title">
      <Title order={2} size="h4" id="quota-title" mb="xs">
        Live quota
      </Title>
      {query.error && <Text c="red">{query.error.message}</Text>}
      <Stack gap="sm">
        {data?.chains.map((chain) => (
          <Card withBorder key={chain.name} data-testid="quota-chain">
            <Text fw={600} mb={4}>
              {chain.name}
              <Text span c="dimmed" size="sm">
                {" "}
                · {chain.strategy} · next: {chain.next ?? "nobody (all cooling)"}
              </Text>
            </Text>
            <Stack gap={6}>
              {/* In the order the chain would try them now (its strategy ranks them). */}
              {chain.order.map((id) => {
                const entry = byId.get(id);
                return entry ? (
                  <EntryRow key={id} entry={entry} next={chain.next === id} fetchedAt={query.dataUpdatedAt} now={now} />
                ) : null;
              })}
            </Stack>
          </Card>
        ))}
      </Stack>
    </section>
  );
}
