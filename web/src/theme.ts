// The kit's theme, with colours that pass WCAG AA contrast (4.5:1 for small text; checked by
// tests/ui/test_accessibility.py). Mantine's default shades are too light for small text and
// for white text on filled badges, so every colour we use gets an accessible value per scheme.
import { createTheme, type CSSVariablesResolver } from "@mantine/core";

export const theme = createTheme({
  primaryColor: "blue",
  fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  fontFamilyMonospace: "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace",
});

// name: [filled (white text on it, both schemes), text on light, text on dark]
const COLORS: Record<string, [string, string, string]> = {
  blue: ["#1864ab", "#1864ab", "#a5d8ff"],
  green: ["#1e6b30", "#1e6b30", "#8ce99a"],
  orange: ["#a4400a", "#a4400a", "#ffc078"],
  red: ["#b02525", "#b02525", "#ffa8a8"],
  violet: ["#5f3dc4", "#5f3dc4", "#d0bfff"],
  gray: ["#495057", "#495057", "#ced4da"],
};

export const contrast: CSSVariablesResolver = () => {
  const light: Record<string, string> = { "--mantine-color-dimmed": "#5c636a", "--mantine-color-anchor": "#1864ab" };
  const dark: Record<string, string> = { "--mantine-color-dimmed": "#b0b2b6", "--mantine-color-anchor": "#a5d8ff" };
  for (const [name, [filled, onLight, onDark]] of Object.entries(COLORS)) {
    const names = name === "blue" ? [name, "primary"] : [name];
    for (const n of names) {
      const color = n === "primary" ? "--mantine-primary-color" : `--mantine-color-${n}`;
      // Mantine sets `filled` per scheme, so ours must be per scheme too to win.
      for (const scheme of [light, dark]) {
        scheme[`${color}-filled`] = filled;
        scheme[`${color}-filled-hover`] = filled;
      }
      for (const part of ["text", "light-color", "outline"]) {
        light[`${color}-${part}`] = onLight;
        dark[`${color}-${part}`] = onDark;
      }
    }
  }
  return { variables: {}, light, dark };
};
