// Zero-overhead models of the two ways to count a window, on the same latency distribution as the
// API double, to separate what the design costs from what the implementation costs.
//
// - completion-anchored (ratewindow's rule): a slot is taken at send and frees `windowMs` (+ the
//   1 ms safety margin) after the answer comes back; calls go first come, first served.
// - send-anchored (a perfect sliding log of send times): call i is sent at send(i - L) + W. Fast,
//   but not safe: with varying latency the server can see more than L arrivals in a window.

const sample = ([lo, hi]) => lo + Math.random() * (hi - lo);

/** A binary min-heap of numbers. */
class MinHeap {
  constructor() {
    this.a = [];
  }
  push(x) {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop() {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** Total time (first send to last answer) of one simulated run of each rule. */
/** With `measuredRtts` (round trips seen by a real client), round trips are drawn from them. */
export function simulateOnce({ n, limit, windowMs, uplinkMs, downlinkMs, marginMs = 1, measuredRtts = null }) {
  const up = Array.isArray(uplinkMs) ? uplinkMs : [uplinkMs, uplinkMs];
  const down = Array.isArray(downlinkMs) ? downlinkMs : [downlinkMs, downlinkMs];
  const rtts = Array.from({ length: n }, () =>
    measuredRtts?.length
      ? measuredRtts[Math.floor(Math.random() * measuredRtts.length)]
      : sample(up) + sample(down),
  );

  const free = new MinHeap();
  for (let i = 0; i < limit; i++) free.push(0);
  let lastSend = 0;
  let completion = 0;
  for (let i = 0; i < n; i++) {
    const send = Math.max(free.pop(), lastSend);
    lastSend = send;
    const done = send + rtts[i];
    completion = Math.max(completion, done);
    free.push(done + marginMs + windowMs);
  }

  const sends = new Array(n);
  let sendAnchored = 0;
  for (let i = 0; i < n; i++) {
    sends[i] = i < limit ? 0 : sends[i - limit] + windowMs;
    sendAnchored = Math.max(sendAnchored, sends[i] + rtts[i]);
  }
  return { completionAnchoredMs: completion, sendAnchoredMs: sendAnchored };
}

/** Medians over `runs` simulated runs. */
export function simulate(setting, runs = 201) {
  const c = [];
  const s = [];
  for (let i = 0; i < runs; i++) {
    const r = simulateOnce(setting);
    c.push(r.completionAnchoredMs);
    s.push(r.sendAnchoredMs);
  }
  const med = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  return { completionAnchoredMs: med(c), sendAnchoredMs: med(s), runs };
}
