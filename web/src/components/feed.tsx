// The live request feed: one SSE connection for the whole app, shared by every page.
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { authHeaders } from "../api/client";
import { readSse } from "../api/sse";
import type { RequestDetail } from "../api/types";

const KEEP = 200;

export interface FeedState {
  requests: RequestDetail[];
  connected: boolean;
  dropped: number;
}

const FeedContext = createContext<FeedState>({ requests: [], connected: false, dropped: 0 });

export function useFeed(): FeedState {
  return useContext(FeedContext);
}

export function FeedProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<FeedState>({ requests: [], connected: false, dropped: 0 });
  const client = useQueryClient();
  const refresh = useRef<number | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    let delay = 1000;
    // A finished request changes the stats: refetch them, at most once a second.
    const staleSoon = () => {
      if (refresh.current !== null) return;
      refresh.current = window.setTimeout(() => {
        refresh.current = null;
        void client.invalidateQueries({ queryKey: ["live"] });
      }, 1000);
    };
    async function run() {
      while (!abort.signal.aborted) {
        try {
          const response = await fetch("/v1/admin/events", {
            headers: authHeaders(),
            signal: abort.signal,
          });
          if (!response.ok) throw new Error(String(response.status));
          delay = 1000;
          setState((s) => ({ ...s, connected: true }));
          for await (const event of readSse(response)) {
            if (event.event === "request") {
              const request = JSON.parse(event.data) as RequestDetail;
              // A reconnect sends the server's backlog again: keep each request once.
              setState((s) => (s.requests.some((r) => r.id === request.id) ? s : { ...s, requests: [request, ...s.requests].slice(0, KEEP) }));
              staleSoon();
            } else if (event.event === "dropped") {
              const { dropped } = JSON.parse(event.data) as { dropped: number };
              setState((s) => ({ ...s, dropped }));
            }
          }
        } catch {
          // reconnect below
        }
        if (abort.signal.aborted) return;
        setState((s) => ({ ...s, connected: false }));
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
    void run();
    return () => {
      abort.abort();
      if (refresh.current !== null) window.clearTimeout(refresh.current);
    };
  }, [client]);

  return <FeedContext.Provider value={state}>{children}</FeedContext.Provider>;
}
