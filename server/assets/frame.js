// The once-per-animation-frame render: scheduleRender() from anywhere asks for one
// frame; main.js registers the work the frame does (onFrame). Model updates only set
// dirty flags, so thousands of ticks per second cost one render per frame.

let queued = false;
let renderFrame = () => {};

/** Sets the function each animation frame runs (given the frame's timestamp). */
export function onFrame(fn) {
  renderFrame = fn;
}

/** Asks for one render at the next animation frame (repeated calls before it: no-ops). */
export function scheduleRender() {
  if (queued) return;
  queued = true;
  requestAnimationFrame((now) => {
    queued = false;
    renderFrame(now);
  });
}
