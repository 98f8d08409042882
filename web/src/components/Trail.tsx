import { Fragment } from "react";
import { Text } from "@mantine/core";
import type { LoggedAttempt } from "../api/types";
import { stepText } from "./trail";

function color(a: LoggedAttempt): string {
  if (a.skipped) return "dimmed";
  if (a.outcome === "success") return "green";
  if (a.outcome === "rate_limited" || a.http_status === 429) return "orange";
  return "red";
}

/** The attempt trail, each step coloured by its fate; its text is `trailText`, to copy or read. */
export function Trail({ attempts }: { attempts: readonly LoggedAttempt[] }) {
  if (!attempts.length) return <Text size="sm" c="dimmed">no upstream call</Text>;
  const steps = [...attempts].sort((x, y) => x.seq - y.seq);
  return (
    <Text size="sm" ff="monospace" data-testid="trail">
      {steps.map((a, i) => (
        <Fragment key={a.seq}>
          {i > 0 && " → "}
          <Text span inherit c={color(a)} title={a.reason}>
            {stepText(a)}
          </Text>
        </Fragment>
      ))}
    </Text>
  );
}
