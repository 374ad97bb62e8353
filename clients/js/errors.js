// Errors of the JavaScript client and the advice they carry: TickcastError, what to do after
// a close code (PROTOCOL.md §12), which HTTP answers to the upgrade are final (§2, §14), and
// the texts that tell a person why a feed ended and what to do about it.

import { SUBPROTOCOL } from "./messages.js";

/** HTTP answers to the upgrade after which retrying cannot help (PROTOCOL.md §2, §14). */
export const FATAL_HTTP_STATUSES = Object.freeze([400, 401, 403, 405, 426]);

/** An error that ends a feed, a subscription or a request; `message` says why and what to do. */
export class TickcastError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = "TickcastError";
    /** "http" | "close" | "server" | "timeout" | "connection" | "environment" | "closed" */
    this.kind = details.kind ?? "connection";
    /** HTTP status of a refused upgrade (Node only: browsers hide it). */
    this.status = details.status;
    /** WebSocket close code. */
    this.closeCode = details.closeCode;
    /** The server's `error.code` (bad_topic, forbidden, ...). */
    this.code = details.code;
    /** The server's text: HTTP body, close reason or `error.message`. */
    this.reason = details.reason;
  }
}

/**
 * What to do after the connection closed with `code` (PROTOCOL.md §12):
 * "stop" (reconnecting would fail the same way), "now" (4200-4299) or "backoff".
 */
export function closeAdvice(code) {
  if (code === 1002 || code === 1003 || code === 1007 || code === 1009) return "stop";
  if (code >= 4000 && code <= 4099) return "stop";
  if (code >= 4200 && code <= 4299) return "now";
  return "backoff";
}

/** Why a final close code (closeAdvice "stop") ended the feed, and what to do. */
export function closeMessage(code, reason) {
  const said = reason ? ` (${reason})` : "";
  if (code === 4001) {
    return `the server closed the connection with 4001${said}: the signed token expired. Get a new token and connect again with it.`;
  }
  if (code >= 4000 && code <= 4099) {
    return `the server refused this client with close code ${code}${said}. Reconnecting would fail the same way: fix the cause (e.g. get a new token) and connect again.`;
  }
  const what = {
    1002: "a protocol error (the client broke RFC 6455)",
    1003: "unsupported data (a frame kind the server does not accept)",
    1007: "invalid payload (a text frame or close reason that is not valid UTF-8)",
    1009: "message too big (a message larger than welcome.max_message_bytes: subscribe fewer patterns per call)",
  }[code];
  return `the server closed the connection with ${code}${said}: ${what}. Reconnecting would fail the same way: fix the program first.`;
}

/** Why the server's HTTP answer `status` (one of FATAL_HTTP_STATUSES) ended the feed. */
export function httpMessage(url, status, body) {
  const said = body ? `: ${body}` : "";
  switch (status) {
    case 401:
      return `the server refused the connection to ${url} with HTTP 401${said}. It needs a valid access token: pass { token } (a wrong or expired token is refused; do not retry with the same one).`;
    case 403:
      return `the server refused the connection to ${url} with HTTP 403${said}. This page's origin is not allowed: serve the page from the server's own origin, or have the operator add it with --allowed-origin.`;
    case 405:
    case 426:
      return `the server answered ${url} with HTTP ${status}${said}: that is not a WebSocket upgrade it accepts. Check that the URL points at the server's /ws endpoint (ws:// or wss://).`;
    default:
      return `the server refused the connection to ${url} with HTTP ${status}${said}: the upgrade request was malformed or offered no supported subprotocol (this client offers ${SUBPROTOCOL}). Fix the client or the URL; retrying as is will not help.`;
  }
}
