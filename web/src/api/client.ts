// One way to call the server: the admin key from sessionStorage, JSON in and out, and the
// server's own error message (OpenAI-shaped) in every failure, never "[object Object]".
const KEY = "429chain.adminKey";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Listener = (message: string) => void;
const unauthorized = new Set<Listener>();

export const session = {
  key(): string | null {
    return sessionStorage.getItem(KEY);
  },
  login(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  logout(): void {
    sessionStorage.removeItem(KEY);
  },
  /** Told when the server answers 401: the key no longer works. */
  onUnauthorized(listener: Listener): () => void {
    unauthorized.add(listener);
    return () => unauthorized.delete(listener);
  },
};

export function authHeaders(key = session.key()): Record<string, string> {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The message of an OpenAI-shaped error body, or a plain description of the failure. */
export async function errorOf(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`.trim();
  let code: string | null = null;
  try {
    const body = (await response.json()) as { error?: { message?: string; code?: string | null } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code ?? null;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(message, response.status, code);
}

/**
 * `key`: this key instead of the session's, or null for none (a public route). Only a call
 * made with the session's key logs the user out on a 401; with its own key, the 401 is the
 * caller's to report.
 */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; key?: string | null; signal?: AbortSignal } = {},
): Promise<T> {
  const headers: Record<string, string> = authHeaders(init.key); // undefined: the session's
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? "GET",
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError("The proxy cannot be reached. Is it running?", 0);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && init.key === undefined) {
      unauthorized.forEach((listener) => listener(error.message));
    }
    throw error;
  }
  return (await response.json()) as T;
}

/** Query string from the non-empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
