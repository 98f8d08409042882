import { describe, expect, it } from "vitest";
import { screen } from "@testing-library/react";
import { renderUi } from "../test/render";
import { Trail } from "./Trail";

describe("Trail", () => {
  it("renders provider names as text, never as markup", () => {
    const { container } = renderUi(
      <Trail attempts={[{ seq: 0, provider_id: "<img src=x onerror=alert(1)>", model: "m", outcome: "success", http_status: 200, latency_ms: 1, reason: "", skipped: false }]} />,
    );
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByTestId("trail").textContent).toContain("<img src=x onerror=alert(1)> 200");
  });
});

describe("Trail text", () => {
  it("is the trail as one line", () => {
    renderUi(
      <Trail
        attempts={[
          { seq: 1, provider_id: "beta", model: "m", outcome: "success", http_status: 200, latency_ms: 1, reason: "", skipped: false },
          { seq: 0, provider_id: "alpha", model: "m", outcome: "rate_limited", http_status: 429, latency_ms: 1, reason: "429 rate limited (retry in 40s)", skipped: false },
        ]}
      />,
    );
    expect(screen.getByTestId("trail").textContent?.replace(/\s+/g, " ").trim()).toBe("alpha 429 (retry 40s) → beta 200");
  });
});
