/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes straight into the Python package, which serves it at `/`.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/chain429/web/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // No inline script anywhere: the CSP is `script-src 'self'`.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 800, // the budget that matters is checked by scripts/size.mjs
  },
  server: {
    proxy: { "/v1": "http://127.0.0.1:3429", "/health": "http://127.0.0.1:3429" },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    css: false,
  },
});
