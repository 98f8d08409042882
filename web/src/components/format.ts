import type { RequestOutcome } from "../api/types";

export const num = (n: number | null | undefined): string =>
  n === null || n === undefined ? "—" : n.toLocaleString("en-US");
export const pct = (r: number | null | undefined): string =>
  r === null || r === undefined ? "—" : `${(r * 100).toFixed(1)}%`;
export const ms = (n: number | null | undefined): string =>
  n === null || n === undefined ? "—" : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`;
export const usd = (n: number): string => `$${n < 1 ? n.toFixed(4) : n.toFixed(2)}`;
export const clock = (seconds: number): string => {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
};
export const time = (epochMs: number): string => new Date(epochMs).toLocaleTimeString();
/** The client API a request came in on, when it is not OpenAI chat: a short label, else null. */
export const clientApi = (endpoint: string | null | undefined): string | null => {
  if (!endpoint || endpoint === "/v1/chat/completions") return null;
  if (endpoint.startsWith("/v1/messages")) return "anthropic";
  return endpoint.replace(/^\/v1\//, "");
};
/** How a request's outcome reads: its name with spaces ("upstream rejected"). */
export const outcomeLabel = (o: RequestOutcome): string => o.replace(/_/g, " ");
