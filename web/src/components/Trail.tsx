import { Group, Text } from "@mantine/core";
import type { LoggedAttempt } from "../api/types";
import { stepText } from "./trail";

function color(a: LoggedAttempt): string {
  if (a.skipped) return "dimmed";
  if (a.outcome === "success") return "green";
  if (a.outcome === "rate_limited" || a.http_status === 429) return "orange";
  return "red";
}

/** The attempt trail, each step coloured by its fate; plain text for copy and screen readers. */
export function Trail({ attempts }: { attempts: readonly LoggedAttempt[] }) {
  if (!attempts.length) return <Text size="sm" c="dimmed">no upstream call</Text>;
  const steps = [...attempts].sort((x, y) => x.seq - y.seq);
  return (
    <Group gap={4} wrap="wrap" data-testid="trail">
      {steps.map((a, i) => (
        <Text key={a.seq} size="sm" component="span" ff="monospace">
          {i > 0 && <span aria-hidden="true">→ </span>}
          {i > 0 && <span className="visually-hidden">then </span>}
          <Text span c={color(a)} ff="monospace" size="sm" title={a.reason}>
            {stepText(a)}
          </Text>
        </Text>
      ))}
    </Group>
  );
}
