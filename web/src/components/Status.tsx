import { Alert } from "@mantine/core";

export type Outcome = { ok: true; text: string } | { ok: false; text: string } | null;

/** The result of the last save, announced to screen readers. */
export function Status({ outcome }: { outcome: Outcome }) {
  if (!outcome) return null;
  return (
    <Alert color={outcome.ok ? "green" : "red"} role={outcome.ok ? "status" : "alert"} data-testid={outcome.ok ? "save-ok" : "save-error"}>
      {outcome.text}
    </Alert>
  );
}
