import { useState } from "react";
import { Badge, Card, Group, Stack, Text, Title } from "@mantine/core";
import type { RequestDetail } from "../api/types";
import { useFeed } from "./feed";
import { clientApi, ms, time } from "./format";
import { OutcomeBadge, RequestDrawer } from "./RequestDrawer";
import { Trail } from "./Trail";

export function LiveFeed() {
  const { requests, connected, dropped } = useFeed();
  const [open, setOpen] = useState<RequestDetail | null>(null);
  return (
    <section aria-labelledby="feed-title">
      <Group justify="space-between" mb="xs">
        <Title order={2} size="h4" id="feed-title">
          Live requests
        </Title>
        <Badge color={connected ? "green" : "gray"} variant="dot">
          {connected ? "live" : "connecting…"}
        </Badge>
      </Group>
      {dropped > 0 && (
        <Text size="xs" c="orange">
          {dropped} events dropped while this tab was behind.
        </Text>
      )}
      <Stack gap={6} data-testid="live-feed" aria-live="polite" aria-relevant="additions">
        {requests.length === 0 && (
          <Text c="dimmed" size="sm">
            Requests appear here as they finish.
          </Text>
        )}
        {requests.slice(0, 30).map((r) => (
          <Card
            key={r.id}
            withBorder
            padding="xs"
            className="clickable"
            role="button"
            tabIndex={0}
            aria-label={`Request ${r.id.slice(0, 8)} on ${r.chain_name ?? "no chain"}: ${r.outcome}`}
            onClick={() => setOpen(r)}
            onKeyDown={(e) => {
              if (e.key === "Enter" || e.key === " ") {
                e.preventDefault();
                setOpen(r);
              }
            }}
            data-testid="feed-row"
          >
            <Group justify="space-between" gap="xs" wrap="wrap">
              <Group gap="xs">
                <Text size="xs" c="dimmed">
                  {time(r.timestamp)}
                </Text>
                <Text size="sm" fw={500}>
                  {r.chain_name ?? r.requested_model ?? "—"}
                </Text>
                <OutcomeBadge outcome={r.outcome} status={r.http_status} />
                {clientApi(r.endpoint) && (
                  <Badge size="xs" variant="outline" data-testid="feed-api">
                    {clientApi(r.endpoint)}
                  </Badge>
                )}
              </Group>
              <Text size="xs" c="dimmed">
                {ms(r.latency_ms)}
              </Text>
            </Group>
            <Trail attempts={r.attempt_log} />
          </Card>
        ))}
      </Stack>
      <RequestDrawer id={open?.id ?? null} initial={open ?? undefined} onClose={() => setOpen(null)} />
    </section>
  );
}
