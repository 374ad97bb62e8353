// tickcast client library for JavaScript: subscribe to a tickcast server from a browser or
// Node 20+ and receive every message exactly once, or an announced gap.
//
//   import { connect } from "./clients/js/index.js";
//   const feed = await connect("ws://127.0.0.1:8080/ws");
//   for await (const msg of feed.subscribe("ticks.AAPL")) console.log(msg.type, msg.topic, msg.seq);
//
// This file owns only the public API: it re-exports it from the modules that implement it
// (proto/PROTOCOL.md sections 8, 9, 12, 13 and 14):
//   feed.js          connect() and Feed: the connection, reconnect, liveness, dispatch
//   routing.js       the feed's subscriptions: routing, subscribe/unsubscribe, pattern changes
//   subscription.js  Subscription: the async-iterable stream and its buffer
//   recovery.js      per-topic [epoch, seq], duplicate/gap verdicts, `resume` pieces
//   books.js         the order books of book.* topics: prev_seq chain, checksum, resync verdicts
//   orderbook.js     OrderBook: one book to a depth (apply, sides best first, checksum)
//   crc32.js         CRC-32 (IEEE), the hash of a book's checksum text
//   requests.js      publish/list/ping in flight: ids, answers, timeouts
//   history.js       GET /history/{topic} over HTTP: typed messages, errors with status and code
//   errors.js        TickcastError, close-code and HTTP-status advice
//   messages.js      subprotocol, topic patterns, frame decoding, outgoing messages
//   transport.js     opening a WebSocket in browsers and Node, probing a refused upgrade
//   msgpack.js       the MessagePack codec (also served by the server to its web page)
//
// Plain ES modules, no build step, no runtime dependency. Types and the API reference are in
// index.d.ts; the README explains every option.

export { connect, Feed } from "./feed.js";
export { Subscription } from "./subscription.js";
export { TickcastError, FATAL_HTTP_STATUSES, closeAdvice } from "./errors.js";
export { SUBPROTOCOL, matches } from "./messages.js";
export { history, httpBase } from "./history.js";
export { OrderBook, DEPTHS, CHECKSUM_LEVELS } from "./orderbook.js";
export { crc32 } from "./crc32.js";
