// Time: this page's wall clock in ms, and the estimate of the server's clock offset
// from protocol ping/pong round trips (latency and the chart's time axis use it).

/** Wall-clock ms since 1970 with sub-ms resolution. */
export const nowWallMs = () => performance.timeOrigin + performance.now();

/** How far the server's clock is ahead of ours, from the fastest of the last 8 round trips. */
class ServerClock {
  constructor() {
    this.offsetMs = 0;
    this.samples = [];
    this.lastRttMs = undefined;
  }

  /** One ping/pong: sent and received on our clock, the pong's `ts` on the server's (all ms). */
  addRoundTrip(sentMs, recvMs, serverTsMs) {
    const rttMs = recvMs - sentMs;
    // Server clock at the midpoint of the round trip; keep the estimate from the fastest of
    // the last 8 round trips (least queueing, so the least error).
    this.samples.push({ rttMs, offsetMs: serverTsMs - (sentMs + recvMs) / 2 });
    if (this.samples.length > 8) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rttMs < a.rttMs ? b : a));
    // The estimate is only good to +-rtt/2: within that the clocks agree (same host, NTP),
    // and correcting would only add noise.
    this.offsetMs = Math.abs(best.offsetMs) > best.rttMs / 2 + 1 ? best.offsetMs : 0;
    this.lastRttMs = rttMs;
    return rttMs;
  }
}

/** The page's one estimate of the server's clock. */
export const serverClock = new ServerClock();
