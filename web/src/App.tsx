import { useEffect, useState, type FormEvent } from "react";
import {
  ActionIcon,
  Alert,
  AppShell,
  Burger,
  Button,
  Card,
  Center,
  Group,
  NavLink,
  PasswordInput,
  Stack,
  Text,
  Title,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, Route, Switch, useLocation } from "wouter";
import { ApiError, api, session } from "./api/client";
import type { ServerVersion } from "./api/types";
import { FeedProvider } from "./components/feed";
import { Dashboard } from "./pages/Dashboard";
import { Requests } from "./pages/Requests";
import { Providers } from "./pages/Providers";
import { Chains } from "./pages/Chains";
import { Playground } from "./pages/Playground";
import { SettingsPage } from "./pages/Settings";

const PAGES = [
  { path: "/", label: "Dashboard" },
  { path: "/requests", label: "Requests" },
  { path: "/providers", label: "Providers" },
  { path: "/chains", label: "Chains" },
  { path: "/playground", label: "Playground" },
  { path: "/settings", label: "Settings" },
];

export function Login({ onLogin, notice }: { onLogin: (key: string) => void; notice: string | null }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      // Any admin route tells whether the key is an admin key.
      await api("/v1/admin/config", { key });
      onLogin(key);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? `That key was refused: ${err.message}`
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" p="md">
      <Card withBorder shadow="sm" w={400} maw="100%" p="lg" component="main">
        <form onSubmit={submit} aria-labelledby="login-title">
          <Stack>
            <Title order={1} size="h2" id="login-title">
              429chain
            </Title>
            <Text size="sm" c="dimmed">
              Enter an admin key (settings.admin_keys, or a proxy key when none are set). It is
              kept in this tab only.
            </Text>
            {notice && (
              <Alert color="orange" role="status">
                {notice}
              </Alert>
            )}
            <PasswordInput
              label="Admin key"
              value={key}
              onChange={(e) => setKey(e.currentTarget.value)}
              autoComplete="current-password"
              data-autofocus
              autoFocus
              required
              error={error}
            />
            <Button type="submit" loading={busy}>
              Log in
            </Button>
          </Stack>
        </form>
      </Card>
    </Center>
  );
}

function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const dark = useComputedColorScheme("light") === "dark";
  return (
    <Tooltip label={dark ? "Light theme" : "Dark theme"}>
      <ActionIcon
        variant="default"
        size="lg"
        aria-label={dark ? "Switch to the light theme" : "Switch to the dark theme"}
        onClick={() => setColorScheme(dark ? "light" : "dark")}
      >
        <span aria-hidden="true">{dark ? "☀" : "☾"}</span>
      </ActionIcon>
    </Tooltip>
  );
}

/** The server's version, as `429chain --version` and `/health` say it: one version, one place. */
export function VersionFooter() {
  // /health is public: asked without the admin key, so the server answers as to anyone and a
  // refusal there can never log the user out.
  const server = useQuery({ queryKey: ["server-version"], queryFn: () => api<ServerVersion>("/health", { key: null }), staleTime: 300000 });
  return (
    <Text component="footer" size="xs" c="dimmed" mt="xl" data-testid="version">
      429chain{server.data ? ` ${server.data.version}` : ""}
    </Text>
  );
}

function Shell({ onLogout }: { onLogout: () => void }) {
  const [opened, { toggle, close }] = useDisclosure();
  const [location] = useLocation();
  useEffect(() => {
    const page = PAGES.find((p) => p.path === location);
    document.title = page ? `${page.label} · 429chain` : "429chain";
  }, [location]);
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 200, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <Text fw={700} size="lg">
              429chain
            </Text>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <ThemeToggle />
            <Button variant="default" onClick={onLogout}>
              Log out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Pages">
        {PAGES.map((page) => (
          <NavLink
            key={page.path}
            component={Link}
            href={page.path}
            label={page.label}
            active={location === page.path}
            aria-current={location === page.path ? "page" : undefined}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main">
        <Switch>
          <Route path="/" component={Dashboard} />
          <Route path="/requests" component={Requests} />
          <Route path="/providers" component={Providers} />
          <Route path="/chains" component={Chains} />
          <Route path="/playground" component={Playground} />
          <Route path="/settings" component={SettingsPage} />
          <Route>
            <Title order={1}>Not found</Title>
            <Text>
              There is no such page. <Link href="/">Go to the dashboard</Link>.
            </Text>
          </Route>
        </Switch>
        <VersionFooter />
      </AppShell.Main>
    </AppShell>
  );
}

export function App() {
  const [key, setKey] = useState(session.key());
  const [notice, setNotice] = useState<string | null>(null);
  const client = useQueryClient();

  useEffect(
    () =>
      session.onUnauthorized((message) => {
        session.logout();
        client.clear();
        setNotice(`You were logged out: the server refused the key (${message}).`);
        setKey(null);
      }),
    [client],
  );

  if (!key) {
    return (
      <Login
        notice={notice}
        onLogin={(k) => {
          session.login(k);
          setNotice(null);
          setKey(k);
        }}
      />
    );
  }
  return (
    <FeedProvider key={key}>
      <Shell
        onLogout={() => {
          session.logout();
          client.clear();
          setNotice("Logged out.");
          setKey(null);
        }}
      />
    </FeedProvider>
  );
}
