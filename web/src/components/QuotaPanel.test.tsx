import { afterEach, describe, expect, it, vi } from "vitest";
import { act, screen } from "@testing-library/react";
import { fakeFetch, renderUi } from "../test/render";
import { QuotaPanel } from "./QuotaPanel";

const entry = (id: string, state: string, cooldown: number | null, reason: string | null) => ({
  entry: id,
  provider: id.split("/")[0],
  model: id.split("/")[1],
  quota_scope: id,
  state,
  reason,
  available_at: null,
  cooldown_left_s: cooldown,
  in_flight: 0,
  consecutive_failures: 0,
  latency_ms: null,
  learned: { "requests/minute": { limit: 30, remaining: 12, resets_at: "", resets_in_s: 10 } },
  manual: {},
  status: state,
  cooldownUntil: null,
  quota: null,
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("QuotaPanel", () => {
  it("shows badges, who serves next, remaining bars and a countdown that ticks", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    vi.stubGlobal(
      "fetch",
      fakeFetch({
        "/v1/ratelimits": {
          ratelimits: [entry("groq/llama", "cooling", 42, "429 rate limited (retry in 42s)"), entry("cerebras/qwen", "available", null, null)],
          chains: [
            {
              name: "fast",
              strategy: "fastest",
              kind: "chat",
              entries: ["groq/llama", "cerebras/qwen"],
              order: ["cerebras/qwen", "groq/llama"],
              next: "cerebras/qwen",
            },
          ],
        },
      }).fetch,
    );
    renderUi(<QuotaPanel />);
    const timer = await screen.findByRole("timer");
    expect(timer).toHaveTextContent("back in 42s — 429 rate limited (retry in 42s)");
    expect(screen.getByText("cooling")).toBeInTheDocument();
    expect(screen.getByText("ready")).toBeInTheDocument();
    expect(screen.getByText("serves next")).toBeInTheDocument();
    expect(screen.getByText(/fastest · next: cerebras\/qwen/)).toBeInTheDocument();
    // Entries show in the order the chain would try them now, not config order.
    const names = screen.getAllByText(/^(groq\/llama|cerebras\/qwen)$/).map((e) => e.textContent);
    expect(names).toEqual(["cerebras/qwen", "groq/llama"]);
    expect(screen.getAllByRole("progressbar", { name: /requests\/minute: 12 of 30 left/ })).toHaveLength(2);
    await act(async () => {
      vi.advanceTimersByTime(3000);
    });
    expect(screen.getByRole("timer").textContent).toMatch(/back in (39|40)s/);
  });
});
