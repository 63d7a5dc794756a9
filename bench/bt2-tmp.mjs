import Bottleneck from "bottleneck";
import PQueue from "p-queue";
import { performance } from "node:perf_hooks";
let release; const gate = new Promise(r => release = r);
let open = false;
const stub = async () => { if (!open) await gate; return 1; };
for (const n of [2000, 10000]) {
  open = false;
  const l = new Bottleneck({ maxConcurrent: 1 });
  const t0 = performance.now();
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(l.schedule(stub));
  const t1 = performance.now();
  while (l.counts().QUEUED < n - 1) await new Promise(r => setImmediate(r));
  const t2 = performance.now();
  console.log(n, "sync loop", ((t1 - t0) * 1000 / n).toFixed(2), "us; until queued", ((t2 - t0) * 1000 / n).toFixed(2), "us", l.counts());
  open = true; release();
  const t3 = performance.now();
  await Promise.all(ps.slice(0, 300));
  console.log("drain 300", ((performance.now() - t3) * 1000 / 300).toFixed(0), "us per");
  l.stop({dropWaitingJobs: true}).catch(()=>{}); 
  await Promise.allSettled(ps);
}
