import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import type { ConfigView } from "../api/types";

/** The served config (keys masked); every page that edits it shares this one query. */
export function useConfig() {
  return useQuery({ queryKey: ["config"], queryFn: () => api<ConfigView>("/v1/admin/config") });
}
