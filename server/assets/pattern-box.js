// The "Topics" box: the initial patterns (`?topics=` or the box's value), validating what
// the user types, the URL that remembers it, and the message under the box.
import { parsePatterns, patternError } from "./patterns.js";
import { state } from "./state.js";
import { refilterRows } from "./table.js";

const TYPING_PAUSE_MS = 400;

const form = document.getElementById("sub-form");
const input = document.getElementById("pattern");
const message = document.getElementById("pattern-msg");

/** The note under the box; kind "ok" or "error". */
export function setPatternMsg(text, kind) {
  message.textContent = text;
  message.className = `hint ${kind}`;
}

/** Marks the box's text as refused (or accepted). */
export function markPatternInvalid(invalid) {
  if (invalid) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/**
 * Sets state.patterns from `?topics=` or the box, and applies what the user enters:
 * `subscribe(patterns)` is called for valid new patterns (while disconnected, the next
 * connection subscribes them).
 */
export function initPatternBox(subscribe) {
  state.patterns = parsePatterns(new URLSearchParams(location.search).get("topics") || input.value);
  input.value = state.patterns.join(" ");

  const apply = () => {
    const patterns = parsePatterns(input.value);
    if (patterns.length === 0) {
      setPatternMsg("enter at least one pattern, e.g. ticks.*", "error");
      markPatternInvalid(true);
      return;
    }
    for (const p of patterns) {
      const err = patternError(p);
      if (err) {
        setPatternMsg(`${p}: ${err}`, "error");
        markPatternInvalid(true);
        return;
      }
    }
    markPatternInvalid(false);
    const same = patterns.length === state.patterns.length && patterns.every((p, i) => p === state.patterns[i]);
    if (same) return;
    state.patterns = patterns;
    const url = new URL(location.href);
    url.searchParams.set("topics", patterns.join(" "));
    history.replaceState(null, "", url);
    refilterRows();
    if (state.conn === "live") setPatternMsg(`subscribing to ${patterns.join(" ")}…`, "ok");
    else setPatternMsg(`will subscribe to ${patterns.join(" ")} when connected`, "ok");
    subscribe(patterns);
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    apply();
  });
  let typingTimer = 0;
  input.addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(apply, TYPING_PAUSE_MS);
  });
}
