// The demo server: the page of www/ at /, the built package (pkg/) at /pkg/, and the API double
// at /api/ with its control routes /__stats, /__reset and /__config.
//
//   node www/server.mjs            # PORT=8080 by default, always on 127.0.0.1
//
// Only Node built-ins are used.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createApiDouble } from "./api-double.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");

/** Where the demo looks by default: the repo's www/ and pkg/. */
export const DEFAULT_WWW_DIR = HERE;
export const DEFAULT_PKG_DIR = path.join(REPO, "pkg");

/**
 * The API double's settings in the demo: compressed time, so a job finishes in seconds, and GET
 * answers a client may cache for a minute (the page's "Fewer requests" toggle caches what rarely
 * changes; the browser's own HTTP cache is kept out by the page).
 */
export const DEMO_API_OPTIONS = Object.freeze({
  limit: 20,
  windowMs: 3000,
  downlinkMs: [20, 120],
  cacheControl: "private, max-age=60",
});

export const MIME_TYPES = Object.freeze({
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
});

const API_CONTROL_ROUTES = new Set(["/__stats", "/__reset", "/__config"]);

function plain(res, status, text, extra = {}) {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...extra,
  });
  res.end(text);
}

/**
 * Resolves `rel` (a decoded URL path, starting with "/") inside `root`, or returns null if it would
 * leave it (also through a symlink). Resolves to the file, or to index.html for a directory.
 */
async function resolveStatic(root, rel) {
  if (rel.includes("\0")) return null;
  const rootReal = await fs.promises.realpath(root).catch(() => null);
  if (!rootReal) return null;
  const candidate = path.resolve(rootReal, "." + path.posix.normalize("/" + rel));
  const inside = (p) => p === rootReal || p.startsWith(rootReal + path.sep);
  if (!inside(candidate)) return null;
  let real = await fs.promises.realpath(candidate).catch(() => null);
  if (!real || !inside(real)) return null;
  let st = await fs.promises.stat(real).catch(() => null);
  if (st?.isDirectory()) {
    real = path.join(real, "index.html");
    st = await fs.promises.stat(real).catch(() => null);
  }
  if (!st?.isFile()) return null;
  return { file: real, size: st.size };
}

async function serveStatic(req, res, root, rel) {
  if (req.method !== "GET" && req.method !== "HEAD") {
    return plain(res, 405, "method not allowed\n", { allow: "GET, HEAD" });
  }
  const found = await resolveStatic(root, rel);
  if (!found) return plain(res, 404, "not found\n");
  const type = MIME_TYPES[path.extname(found.file).toLowerCase()] ?? "application/octet-stream";
  res.writeHead(200, {
    "content-type": type,
    "content-length": found.size,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  if (req.method === "HEAD") return res.end();
  const stream = fs.createReadStream(found.file);
  stream.on("error", () => res.destroy());
  stream.pipe(res);
}

/**
 * Starts the demo server.
 * - `port` (0: any free port; the CLI passes $PORT or 8080), `host` ("127.0.0.1").
 * - `api`: an API double (anything with a `handler(req, res)`) to mount (the caller closes it),
 *   or options for a new one, merged over DEMO_API_OPTIONS (limit 20, window 3 s, downlink
 *   20–120 ms, GET answers `Cache-Control: private, max-age=60`); a double made here is closed
 *   by close().
 * - `wwwDir` (the repo's www/), `pkgDir` (the repo's pkg/): the folders served at / and /pkg/.
 * Resolves `{ server, api, port, url, close() }`; `url` is `http://<host>:<port>/`.
 */
export async function startDemoServer({
  port = 0,
  host = "127.0.0.1",
  api = DEMO_API_OPTIONS,
  wwwDir = DEFAULT_WWW_DIR,
  pkgDir = DEFAULT_PKG_DIR,
} = {}) {
  const double =
    typeof api?.handler === "function" ? api : createApiDouble({ ...DEMO_API_OPTIONS, ...(api ?? {}) });
  const ownsDouble = double !== api;

  const server = http.createServer((req, res) => {
    let pathname;
    try {
      pathname = new URL(req.url ?? "/", "http://demo.invalid").pathname;
    } catch {
      return plain(res, 400, "bad request\n");
    }
    if (pathname.startsWith("/api/") || API_CONTROL_ROUTES.has(pathname)) {
      return double.handler(req, res);
    }
    let decoded;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return plain(res, 400, "bad request\n");
    }
    req.resume();
    const [root, rel] =
      decoded === "/pkg" || decoded.startsWith("/pkg/")
        ? [pkgDir, decoded.slice("/pkg".length) || "/"]
        : [wwwDir, decoded];
    serveStatic(req, res, root, rel).catch(() => {
      if (!res.headersSent) plain(res, 500, "internal error\n");
      else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  let closing = null;
  return {
    server,
    api: double,
    port: actualPort,
    url: `http://${shownHost}:${actualPort}/`,
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => (ownsDouble ? double.close() : undefined));
      return closing;
    },
  };
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return pathToFileURL(process.argv[1]).href === import.meta.url;
  }
}

async function main() {
  const raw = process.env.PORT ?? "8080";
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535) {
    process.stderr.write(`ratewindow demo: PORT must be an integer 0-65535, got ${JSON.stringify(raw)}\n`);
    process.exit(1);
  }
  let demo;
  try {
    demo = await startDemoServer({ port, host: "127.0.0.1" });
  } catch (err) {
    process.stderr.write(`ratewindow demo: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ratewindow demo: ${demo.url}\n`);
  const stop = () => {
    setTimeout(() => process.exit(0), 2000).unref();
    demo.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (isMain()) main();
