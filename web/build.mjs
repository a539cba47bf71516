// Bundles the dashboard into chalicelib/static/dashboard/, the directory the API serves /dashboard
// from and `chalice package` ships in the Lambda bundle. Fixed file names: the API serves them with
// Cache-Control no-cache, so a new build is picked up without hashed names.
import { build } from "esbuild";
import { copyFile, mkdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "chalicelib", "static", "dashboard");
const started = Date.now();

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir: out,
  legalComments: "eof",
  logLevel: "warning",
});
await copyFile(join(here, "src", "index.html"), join(out, "index.html"));

const sizes = [];
for (const name of ["index.html", "app.js", "app.css"]) {
  sizes.push(`${name} ${((await stat(join(out, name))).size / 1024).toFixed(1)} KiB`);
}
console.log(`dashboard built into ${out} in ${Date.now() - started} ms: ${sizes.join(", ")}`);
