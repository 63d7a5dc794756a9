import Bottleneck from "bottleneck";
import { performance } from "node:perf_hooks";
const stub = async () => 1;
for (const opts of [{}, { reservoir: 1e6, reservoirRefreshAmount: 1e6, reservoirRefreshInterval: 1000 }, { minTime: 0.001 }, {maxConcurrent: 1e6}]) {
  for (const n of [1000, 4000]) {
    const l = new Bottleneck(opts);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: n }, () => l.schedule(stub)));
    const t1 = performance.now();
    let k = 0; const t2 = performance.now();
    for (; k < 200; k++) await l.schedule(stub);
    const t3 = performance.now();
    console.log(JSON.stringify(opts), n, ((t1 - t0) * 1000 / n).toFixed(1), "us/call burst", ((t3 - t2) * 1000 / 200).toFixed(1), "us serial");
    l.disconnect();
  }
}
