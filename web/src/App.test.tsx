import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Login, VersionFooter } from "./App";
import { api, session } from "./api/client";
import { fakeFetch, renderUi } from "./test/render";

afterEach(() => vi.unstubAllGlobals());

describe("Login", () => {
  it("shows the server's refusal for a wrong key, in a password field", async () => {
    vi.stubGlobal("fetch", fakeFetch({ "/v1/admin/config": { status: 401, body: { error: { message: "Invalid API key.", type: "authentication_error", code: "invalid_api_key", param: null } } } }).fetch);
    const onLogin = vi.fn();
    renderUi(<Login onLogin={onLogin} notice={null} />);
    const field = screen.getByLabelText(/Admin key/);
    expect(field).toHaveAttribute("type", "password");
    await userEvent.type(field, "sk-wrong");
    await userEvent.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByText(/That key was refused: Invalid API key\./)).toBeInTheDocument();
    expect(onLogin).not.toHaveBeenCalled();
  });

  it("logs in with a key the server accepts, sending it as a bearer token", async () => {
    const fake = fakeFetch({ "/v1/admin/config": { settings: {} } });
    vi.stubGlobal("fetch", fake.fetch);
    const onLogin = vi.fn();
    renderUi(<Login onLogin={onLogin} notice="Logged out." />);
    expect(screen.getByText("Logged out.")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText(/Admin key/), "sk-good-key");
    await userEvent.click(screen.getByRole("button", { name: "Log in" }));
    await waitFor(() => expect(onLogin).toHaveBeenCalledWith("sk-good-key"));
    expect((fake.calls[0].init?.headers as Record<string, string>).Authorization).toBe("Bearer sk-good-key");
  });
});

describe("api", () => {
  it("tells listeners of a 401 and throws the server's message", async () => {
    vi.stubGlobal("fetch", fakeFetch({ "/v1/stats/summary": { status: 401, body: { error: { message: "Invalid API key." } } } }).fetch);
    session.login("sk-old");
    const told = vi.fn();
    const stop = session.onUnauthorized(told);
    await expect(api("/v1/stats/summary")).rejects.toThrow("Invalid API key.");
    expect(told).toHaveBeenCalledWith("Invalid API key.");
    stop();
  });

  it("sends no key with key: null, and a 401 then logs nobody out", async () => {
    const fake = fakeFetch({ "/health": { status: 401, body: { error: { message: "Invalid API key." } } } });
    vi.stubGlobal("fetch", fake.fetch);
    session.login("sk-admin");
    const told = vi.fn();
    const stop = session.onUnauthorized(told);
    await expect(api("/health", { key: null })).rejects.toThrow("Invalid API key.");
    expect(fake.calls[0].init?.headers).not.toHaveProperty("Authorization");
    expect(told).not.toHaveBeenCalled();
    stop();
  });

  it("never reports an error as [object Object]", async () => {
    vi.stubGlobal("fetch", fakeFetch({ "/v1/admin/chains/x": { status: 409, body: { error: { message: "The default chain cannot be deleted." } } } }).fetch);
    await expect(api("/v1/admin/chains/x", { method: "DELETE" })).rejects.toThrow("The default chain cannot be deleted.");
  });
});

describe("VersionFooter", () => {
  it("shows the version the server reports on /health", async () => {
    vi.stubGlobal("fetch", fakeFetch({ "/health": { status: 200, body: { status: "ok", version: "9.8.7" } } }).fetch);
    renderUi(<VersionFooter />);
    expect(await screen.findByText("429chain 9.8.7")).toBeInTheDocument();
  });

  it("asks /health without the admin key: the answer anyone gets", async () => {
    const fake = fakeFetch({ "/health": { status: 200, body: { status: "ok", version: "9.8.7" } } });
    vi.stubGlobal("fetch", fake.fetch);
    session.login("sk-admin");
    renderUi(<VersionFooter />);
    expect(await screen.findByText("429chain 9.8.7")).toBeInTheDocument();
    expect(fake.calls[0].init?.headers).not.toHaveProperty("Authorization");
  });
});
