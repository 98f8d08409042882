// Playground: one chat request through a chain, streamed token by token, with who served it,
// its attempt trail, time to first token, latency and tokens; or each entry once, side by side.
import { useEffect, useRef, useState } from "react";
import { Badge, Button, Card, Group, PasswordInput, Select, SimpleGrid, Stack, Switch, Text, Textarea, Title } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { api, errorOf, session } from "../api/client";
import { readSse } from "../api/sse";
import type { ChainProbe, RequestDetail } from "../api/types";
import { useFeed } from "../components/feed";
import { ms, num } from "../components/format";
import { messageOf } from "../components/notify";
import { Trail } from "../components/Trail";
import { useConfig } from "../components/useConfig";
import { useRequest } from "../components/useRequest";

interface Run {
  /** The request's id in the log (`X-429chain-Request-Id`): its record on the live feed. */
  requestId: string | null;
  output: string;
  servedBy: string | null;
  ttft: number | null;
  latency: number | null;
  tokens: { prompt: number; completion: number } | null;
  error: string | null;
  done: boolean;
}

interface Chunk {
  choices?: { delta?: { content?: string | null }; message?: { content?: string | null } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

async function send(chain: string, system: string, prompt: string, stream: boolean, key: string, update: (f: (r: Run) => Run) => void, signal: AbortSignal) {
  const started = performance.now();
  const messages = [...(system.trim() ? [{ role: "system", content: system }] : []), { role: "user", content: prompt }];
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: chain, messages, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
    signal,
  });
  // Known even when the request failed: its trail says why.
  const requestId = response.headers.get("X-429chain-Request-Id");
  update((r) => ({ ...r, requestId }));
  if (!response.ok) throw await errorOf(response);
  const provider = response.headers.get("X-429chain-Provider");
  const model = response.headers.get("X-429chain-Model");
  update((r) => ({ ...r, servedBy: provider ? `${provider}/${model}` : null }));
  const usage = (u: Chunk["usage"]) => (u ? { prompt: u.prompt_tokens ?? 0, completion: u.completion_tokens ?? 0 } : null);
  if (!stream) {
    const body = (await response.json()) as Chunk;
    const at = performance.now() - started;
    update((r) => ({ ...r, output: body.choices?.[0]?.message?.content ?? "", ttft: at, tokens: usage(body.usage) }));
  } else {
    for await (const event of readSse(response)) {
      if (event.data === "[DONE]") break;
      const chunk = JSON.parse(event.data) as Chunk;
      const piece = chunk.choices?.[0]?.delta?.content ?? "";
      update((r) => ({
        ...r,
        output: r.output + piece,
        ttft: r.ttft ?? (piece ? performance.now() - started : null),
        tokens: usage(chunk.usage) ?? r.tokens,
      }));
    }
  }
  update((r) => ({ ...r, latency: performance.now() - started, done: true }));
}

function EachEntry({ chain, prompt }: { chain: string; prompt: string }) {
  const probe = useMutation({
    mutationFn: () => api<ChainProbe>(`/v1/test/chain/${encodeURIComponent(chain)}`, { method: "POST", body: { prompt: prompt || undefined, per_entry: true } }),
  });
  return (
    <Stack>
      <Group>
        <Button variant="default" onClick={() => probe.mutate()} loading={probe.isPending} disabled={!chain}>
          Test each entry
        </Button>
        {probe.data && (
          <Text size="sm">
            {probe.data.summary.ok} of {probe.data.summary.total} entries answered.
          </Text>
        )}
      </Group>
      {probe.error && <Text c="red">{messageOf(probe.error)}</Text>}
      {probe.data && (
        <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} data-testid="each-entry">
          {probe.data.results.map((r, i) => (
            <Card withBorder key={`${r.provider}/${r.model}/${i}`}>
              <Group justify="space-between">
                <Text ff="monospace" size="sm" fw={600}>
                  {r.provider}/{r.model}
                </Text>
                <Badge color={r.ok ? "green" : r.status === "skipped" ? "gray" : "red"}>{r.status}</Badge>
              </Group>
              <Text size="xs" c="dimmed">
                {ms(r.latencyMs)}
                {r.tokens ? ` · ${r.tokens.total} tokens` : ""}
              </Text>
              <div className="output">{r.response ?? r.error ?? ""}</div>
            </Card>
          ))}
        </SimpleGrid>
      )}
    </Stack>
  );
}

export function Playground() {
  const config = useConfig();
  const chains = (config.data?.chains ?? []).map((c) => c.name);
  const [chain, setChain] = useState<string | null>(null);
  const [system, setSystem] = useState("");
  const [prompt, setPrompt] = useState("Say hello in five words.");
  const [stream, setStream] = useState(true);
  const [proxyKey, setProxyKey] = useState(session.key() ?? "");
  const [run, setRun] = useState<Run | null>(null);
  const abort = useRef<AbortController | null>(null);
  const { requests } = useFeed();
  const chosen = chain ?? chains[0] ?? null;
  // The request's own record arrives on the live feed, found by the id the proxy answered with
  // (other traffic on the same chain at the same time has its own). When the run is over and
  // the feed has not brought it (disconnected, or the event was dropped), the log has it.
  const requestId = run?.requestId ?? null;
  const live: RequestDetail | undefined = requestId ? requests.find((r) => r.id === requestId) : undefined;
  const logged = useRequest(requestId, { enabled: !!run?.done && !live, awaitWrite: true });
  const record = live ?? logged.data;
  useEffect(() => () => abort.current?.abort(), []);

  async function go() {
    if (!chosen) return;
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setRun({ requestId: null, output: "", servedBy: null, ttft: null, latency: null, tokens: null, error: null, done: false });
    try {
      await send(chosen, system, prompt, stream, proxyKey, (f) => setRun((r) => (r ? f(r) : r)), controller.signal);
    } catch (err) {
      // Stopped by the user: the run is over. Replaced by a newer run: that one owns the result.
      if (controller.signal.aborted) {
        if (abort.current === controller) setRun((r) => (r ? { ...r, error: "Stopped.", done: true } : r));
        return;
      }
      setRun((r) => (r ? { ...r, error: messageOf(err), done: true } : r));
    }
  }

  return (
    <Stack>
      <Title order={1} size="h2">
        Playground
      </Title>
      <Card withBorder>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void go();
          }}
        >
          <Stack>
            <Group align="end" wrap="wrap">
              <Select label="Chain" data={chains} value={chosen} onChange={setChain} w={200} allowDeselect={false} />
              <Switch label="Stream" checked={stream} onChange={(e) => setStream(e.currentTarget.checked)} />
              <PasswordInput label="Proxy key" description="Defaults to your admin key" value={proxyKey} onChange={(e) => setProxyKey(e.currentTarget.value)} w={240} autoComplete="off" />
            </Group>
            <Textarea label="System prompt" autosize minRows={1} maxRows={6} value={system} onChange={(e) => setSystem(e.currentTarget.value)} />
            <Textarea label="Prompt" autosize minRows={2} maxRows={12} value={prompt} onChange={(e) => setPrompt(e.currentTarget.value)} required />
            <Group>
              <Button type="submit" disabled={!chosen || !prompt.trim()} loading={run !== null && !run.done}>
                Send
              </Button>
              {run && !run.done && (
                <Button variant="default" onClick={() => abort.current?.abort()}>
                  Stop
                </Button>
              )}
            </Group>
          </Stack>
        </form>
      </Card>
      {run && (
        <Card withBorder data-testid="playground-result" data-request-id={run.requestId ?? undefined}>
          <Group gap="lg" wrap="wrap" mb="xs">
            <Text size="sm">
              Served by <b data-testid="served-by">{run.servedBy ?? (run.done ? "nobody" : "…")}</b>
            </Text>
            <Text size="sm">First token {ms(run.ttft)}</Text>
            <Text size="sm">Total {ms(run.latency)}</Text>
            <Text size="sm">
              Tokens {run.tokens ? `${num(run.tokens.prompt)} in, ${num(run.tokens.completion)} out` : "—"}
            </Text>
          </Group>
          <div data-testid="playground-trail">
            {record ? (
              <Trail attempts={record.attempt_log} />
            ) : (
              <Text size="sm" c="dimmed">
                {!run.done
                  ? "streaming…"
                  : !run.requestId
                    ? "no record: the proxy did not answer"
                    : logged.error
                      ? `no record: ${messageOf(logged.error)}`
                      : "waiting for the request's record…"}
              </Text>
            )}
          </div>
          {run.error && (
            <Text c="red" role="alert">
              {run.error}
            </Text>
          )}
          {/* Model output is text: React escapes it; nothing here is ever parsed as HTML. */}
          <div className="output" data-testid="playground-output" aria-live="polite">
            {run.output}
          </div>
        </Card>
      )}
      {chosen && <EachEntry chain={chosen} prompt={prompt} />}
    </Stack>
  );
}
