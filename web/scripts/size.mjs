// Print the first-load size (gzip) of the build and fail above the budget. It also writes a
// `.gz` beside each asset: the proxy's file responses send it to browsers that accept gzip.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 350 * 1024;
const dist = new URL("../../src/chain429/web/dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
// First load: index.html and every script and stylesheet it links.
const linked = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
let total = gzipSync(html).length;
const rows = [["index.html", total]];
for (const file of linked) {
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  rows.push([file, size]);
  total += size;
}
for (const file of readdirSync(join(dist, "assets"))) {
  if (/\.(js|css|svg)$/.test(file)) {
    const path = join(dist, "assets", file);
    writeFileSync(path + ".gz", gzipSync(readFileSync(path), { level: 9 }));
  }
}
for (const [file, size] of rows) console.log(`  ${(size / 1024).toFixed(1).padStart(7)} KB  ${file}`);
console.log(`first load (gzip): ${(total / 1024).toFixed(1)} KB of ${BUDGET / 1024} KB budget`);
if (total > BUDGET) {
  console.error("over the first-load budget");
  process.exit(1);
}
