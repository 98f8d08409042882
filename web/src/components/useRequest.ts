import { useQuery } from "@tanstack/react-query";
import { ApiError, api } from "../api/client";
import type { RequestDetail } from "../api/types";

/**
 * One request from the log with its attempts (`GET /v1/stats/requests/{id}`), asked only when
 * `enabled`. The log is written in batches, so a request that has just finished may not be
 * there yet: `awaitWrite` asks again on a 404 for a few seconds instead of failing at once.
 */
export function useRequest(id: string | null, { enabled = true, awaitWrite = false } = {}) {
  return useQuery({
    queryKey: ["request", id],
    queryFn: () => api<RequestDetail>(`/v1/stats/requests/${id}`),
    enabled: id !== null && enabled,
    retry: awaitWrite ? (failures, error) => failures < 10 && error instanceof ApiError && error.status === 404 : false,
    retryDelay: 500,
  });
}
