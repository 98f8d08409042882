import { describe, expect, it } from "vitest";
import { parseSse } from "./sse";

describe("parseSse", () => {
  it("splits events, keeps the unfinished rest, skips comments", () => {
    const { events, rest } = parseSse('event: request\ndata: {"a":1}\n\n: ping\n\ndata: x\r\n\r\ndata: par');
    expect(events).toEqual([
      { event: "request", data: '{"a":1}' },
      { event: "message", data: "x" },
    ]);
    expect(rest).toBe("data: par");
  });

  it("joins multi-line data", () => {
    expect(parseSse("data: a\ndata: b\n\n").events[0].data).toBe("a\nb");
  });
});
