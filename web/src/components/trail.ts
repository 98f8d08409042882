// The attempt trail as one line of text: `groq 429 (retry 42s) → openrouter timeout → cerebras 200`.
import type { LoggedAttempt } from "../api/types";

// "retry in 5m", "retry after 42s", "Retry-After 42 s": how long the provider asked us to wait.
const RETRY = /retry(?:-after)?(?: in| after)?\s+(\d+(?:\.\d+)?)\s*(ms|s|m|h)\b/i;

export function stepText(a: LoggedAttempt): string {
  if (a.skipped) return `${a.provider_id} skipped (${a.outcome.replace(/_/g, " ")})`;
  if (a.outcome === "success") return `${a.provider_id} ${a.http_status ?? 200}`;
  if (a.outcome === "rate_limited" || a.http_status === 429) {
    const retry = RETRY.exec(a.reason);
    const status = a.http_status ?? 429;
    return retry ? `${a.provider_id} ${status} (retry ${Math.round(Number(retry[1]))}${retry[2]})` : `${a.provider_id} ${status}`;
  }
  if (a.outcome === "timeout") return `${a.provider_id} timeout`;
  if (a.http_status) return `${a.provider_id} ${a.http_status}`;
  return `${a.provider_id} ${a.outcome.replace(/_/g, " ")}`;
}

export function trailText(attempts: readonly LoggedAttempt[]): string {
  return attempts.length ? [...attempts].sort((x, y) => x.seq - y.seq).map(stepText).join(" → ") : "—";
}
