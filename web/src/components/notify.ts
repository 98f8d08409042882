// Save results, said clearly: the server's own message on failure.
import { ApiError } from "../api/client";

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
