// The whole request: its fields and every entry it tried or skipped, with why.
import { Badge, Code, Drawer, Group, Stack, Table, Text } from "@mantine/core";
import type { RequestDetail, RequestOutcome } from "../api/types";
import { ms, num, outcomeLabel } from "./format";
import { Trail } from "./Trail";
import { useRequest } from "./useRequest";

export function OutcomeBadge({ outcome, status }: { outcome: RequestOutcome; status: number }) {
  const color = outcome === "success" ? "green" : status === 429 ? "orange" : "red";
  return (
    <Badge color={color} variant="light">
      {status} {outcomeLabel(outcome)}
    </Badge>
  );
}

export function RequestDrawer({ id, initial, onClose }: { id: string | null; initial?: RequestDetail; onClose: () => void }) {
  const query = useRequest(id);
  // A request just finished may not be written to the log yet: show the feed's copy.
  const r = query.data ?? initial;
  return (
    <Drawer opened={id !== null} onClose={onClose} position="right" size="lg" title={<Text fw={700}>Request {id?.slice(0, 12)}…</Text>}>
      {r && (
        <Stack>
          <Group gap="xs">
            <OutcomeBadge outcome={r.outcome} status={r.http_status} />
            {r.fallback && <Badge color="violet">fallback</Badge>}
            {r.stream && <Badge variant="outline">stream</Badge>}
          </Group>
          <Trail attempts={r.attempt_log} />
          <Table>
            <Table.Tbody>
              {(
                [
                  ["Time", r.time],
                  ["Chain", r.chain_name ?? "—"],
                  ["Asked for", r.requested_model ?? "—"],
                  ["Endpoint", r.endpoint ?? "—"],
                  ["Served by", r.provider_id ? `${r.provider_id}/${r.model}` : "nobody"],
                  ["Key", r.key_label],
                  ["Latency", ms(r.latency_ms)],
                  ["Time to first token", ms(r.ttft_ms)],
                  ["Tokens", `${num(r.prompt_tokens)} in, ${num(r.completion_tokens)} out${r.tokens_estimated ? " (estimated)" : ""}`],
                  ["Upstream calls", `${r.attempts} (skipped ${r.skipped}, 429s met ${r.rate_limited})`],
                ] as const
              ).map(([k, v]) => (
                <Table.Tr key={k}>
                  <Table.Th w={160}>{k}</Table.Th>
                  <Table.Td>{v}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
          {r.error && <Code block>{r.error}</Code>}
          <Text fw={600}>Attempts</Text>
          <Table.ScrollContainer minWidth={480}>
            <Table striped>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>#</Table.Th>
                  <Table.Th>Entry</Table.Th>
                  <Table.Th>Outcome</Table.Th>
                  <Table.Th>Latency</Table.Th>
                  <Table.Th>Why</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {r.attempt_log.map((a) => (
                  <Table.Tr key={a.seq}>
                    <Table.Td>{a.seq + 1}</Table.Td>
                    <Table.Td ff="monospace">
                      {a.provider_id}/{a.model}
                    </Table.Td>
                    <Table.Td>
                      {a.skipped ? "skipped" : a.http_status ?? "—"} {a.outcome.replace(/_/g, " ")}
                    </Table.Td>
                    <Table.Td>{a.skipped ? "—" : ms(a.latency_ms)}</Table.Td>
                    <Table.Td>{a.reason}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Stack>
      )}
      {!r && query.error && <Text c="red">{query.error.message}</Text>}
    </Drawer>
  );
}
