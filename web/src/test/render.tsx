import type { ReactNode } from "react";
import { render } from "@testing-library/react";
import { MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";

export function renderUi(ui: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <MantineProvider>
      <QueryClientProvider client={client}>{ui}</QueryClientProvider>
    </MantineProvider>,
  );
}

/** A fetch that answers each path with the JSON given (status 200 unless said). */
export function fakeFetch(routes: Record<string, unknown | { status: number; body: unknown }>) {
  const calls: { url: string; init?: RequestInit }[] = [];
  const fetch = async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    const path = url.split("?")[0];
    const found = routes[path];
    if (found === undefined) return new Response(JSON.stringify({ error: { message: `no route ${path}` } }), { status: 404 });
    const { status, body } = typeof found === "object" && found !== null && "status" in found ? (found as { status: number; body: unknown }) : { status: 200, body: found };
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}
