// Topic patterns as proto/src/topic.rs defines them: validation, NATS-style matching
// (`*` one token, `>` the rest) and parsing the pattern box's text.

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/** Validates a subscription pattern like proto/src/topic.rs; returns an error text or null. */
export function patternError(p) {
  const bytes = new TextEncoder().encode(p).length;
  if (bytes === 0) return "pattern is empty";
  if (bytes > 128) return `pattern is ${bytes} bytes long; the limit is 128`;
  const tokens = p.split(".");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === "*") continue;
    if (t === ">") {
      if (i !== tokens.length - 1) return "`>` must be the last token";
      continue;
    }
    if (t === "") return "empty token (leading, trailing or double dot)";
    if (!TOKEN_RE.test(t)) {
      const bad = [...t].find((c) => !/[A-Za-z0-9_-]/.test(c));
      if (bad === "*" || bad === ">") return "`*` and `>` must be whole tokens";
      return `invalid character ${JSON.stringify(bad)}; tokens use A-Z a-z 0-9 _ -`;
    }
  }
  return null;
}

/** NATS-style match: `*` one token, `>` one or more trailing tokens. */
export function patternMatches(pattern, topic) {
  const pt = pattern.split(".");
  const tt = topic.split(".");
  for (let i = 0; i < pt.length; i++) {
    if (pt[i] === ">") return i < tt.length;
    if (i >= tt.length) return false;
    if (pt[i] !== "*" && pt[i] !== tt[i]) return false;
  }
  return pt.length === tt.length;
}

/** The distinct patterns in a text separated by spaces or commas, in order. */
export const parsePatterns = (text) => [...new Set(text.split(/[\s,]+/).filter(Boolean))];
