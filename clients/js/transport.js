// Opening a WebSocket in browsers and in Node: the default factory (the global WebSocket;
// Node's takes headers), and, in Node only, asking the server why an upgrade failed (the
// WebSocket API hides the HTTP status), so that feed.js can tell a refusal from an outage.

import { TickcastError } from "./errors.js";
import { SUBPROTOCOL } from "./messages.js";

/** Whether this runs in Node (not a browser, where `window` exists). */
export const IS_NODE =
  typeof globalThis.process !== "undefined" && !!globalThis.process.versions?.node && typeof globalThis.window === "undefined";

/** Opens a WebSocket with the global constructor; a TickcastError (environment) if there is none. */
export function defaultWebSocketFactory(url, protocols, headers) {
  const WS = globalThis.WebSocket;
  if (typeof WS !== "function") {
    throw new TickcastError(
      "there is no global WebSocket: on Node 20 run with `node --experimental-websocket` (Node 22 and newer have it by default), or pass the `webSocketFactory` option",
      { kind: "environment" },
    );
  }
  // Node's WebSocket (undici) takes headers in an options object; the browser API takes none.
  if (headers && Object.keys(headers).length) return new WS(url, { protocols, headers });
  return new WS(url, protocols);
}

/** Node only: ask the server itself why the upgrade failed (the WebSocket API hides the status). */
export async function probeUpgrade(url, headers, timeoutMs) {
  try {
    const u = new URL(url);
    const http = await import(u.protocol === "wss:" ? "node:https" : "node:http");
    const key = btoa(String.fromCharCode(...globalThis.crypto.getRandomValues(new Uint8Array(16))));
    return await new Promise((resolve) => {
      const req = http.request({
        hostname: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || (u.protocol === "wss:" ? 443 : 80),
        path: u.pathname + u.search,
        method: "GET",
        timeout: timeoutMs,
        headers: {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": key,
          "Sec-WebSocket-Protocol": SUBPROTOCOL,
          ...headers,
        },
      });
      req.on("upgrade", (_res, socket) => {
        socket.destroy();
        resolve({ status: 101 });
      });
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          if (body.length < 500) body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode, body: body.trim().slice(0, 500) }));
        res.on("error", () => resolve({ status: res.statusCode, body: body.trim() }));
      });
      req.on("timeout", () => {
        req.destroy();
        resolve({ status: 0, error: "timeout" });
      });
      req.on("error", (e) => resolve({ status: 0, error: e.message }));
      req.end();
    });
  } catch (e) {
    return { status: 0, error: String(e?.message ?? e) };
  }
}
