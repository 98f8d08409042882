// The attempt trail as one line of text: `groq 429 (retry 42s) → openrouter timeout → cerebras 200`.
import type { LoggedAttempt } from "../api/types";

const SECONDS = /(\d+(?:\.\d+)?)\s*s\b/;

export function stepText(a: LoggedAttempt): string {
  if (a.skipped) return `${a.provider_id} skipped (${a.outcome.replace(/_/g, " ")})`;
  if (a.outcome === "success") return `${a.provider_id} ${a.http_status ?? 200}`;
  if (a.outcome === "rate_limited" || a.http_status === 429) {
    const retry = SECONDS.exec(a.reason);
    const status = a.http_status ?? 429;
    return retry ? `${a.provider_id} ${status} (retry ${Math.round(Number(retry[1]))}s)` : `${a.provider_id} ${status}`;
  }
  if (a.outcome === "timeout") return `${a.provider_id} timeout`;
  if (a.http_status) return `${a.provider_id} ${a.http_status}`;
  return `${a.provider_id} ${a.outcome.replace(/_/g, " ")}`;
}

export function trailText(attempts: readonly LoggedAttempt[]): string {
  return attempts.length ? [...attempts].sort((x, y) => x.seq - y.seq).map(stepText).join(" → ") : "—";
}
