import { describe, expect, it } from "vitest";
import type { LoggedAttempt } from "../api/types";
import { trailText } from "./trail";

const step = (seq: number, provider_id: string, outcome: string, http_status: number | null, reason = "", skipped = false): LoggedAttempt => ({
  seq,
  provider_id,
  model: "m",
  outcome,
  http_status,
  latency_ms: 10,
  reason,
  skipped,
});

describe("trailText", () => {
  it("reads like the issue's example", () => {
    expect(
      trailText([
        step(2, "cerebras", "success", 200),
        step(0, "groq", "rate_limited", 429, "429 rate limited (retry in 42s)"),
        step(1, "openrouter", "timeout", null, "no first byte in 60s"),
      ]),
    ).toBe("groq 429 (retry 42s) → openrouter timeout → cerebras 200");
  });

  it("names skips and their reason, and other failures by status", () => {
    expect(trailText([step(0, "a", "cooling", null, "cooling down", true), step(1, "b", "upstream_error", 503), step(2, "c", "connection_error", null)])).toBe(
      "a skipped (cooling) → b 503 → c connection error",
    );
  });

  it("says when nothing was tried", () => {
    expect(trailText([])).toBe("—");
  });
});
