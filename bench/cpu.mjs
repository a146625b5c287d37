// CPU time by process group, read from /proc: what the benchmarks charge to the local runtime (Miniflare's node and
// workerd's threads) and to themselves.
import { readdirSync, readFileSync } from "node:fs";

const statOf = (path) => {
  const stat = readFileSync(path, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), pgrp: Number(fields[2]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
};

/** CPU seconds used so far by the threads of a process group (Miniflare's node, workerd's threads), keyed
 *  "process/thread" by their names. */
export function groupCpuByProcess(pgid) {
  const by = {};
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const process = statOf(`/proc/${pid}/stat`);
      if (process.pgrp !== pgid) continue;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const thread = statOf(`/proc/${pid}/task/${tid}/stat`);
        const key = `${process.name}/${thread.name}`;
        by[key] = (by[key] ?? 0) + thread.cpu;
      }
    } catch {}
  }
  return by;
}
export const groupCpuSeconds = (pgid) => Object.values(groupCpuByProcess(pgid)).reduce((a, b) => a + b, 0);
export const selfCpuSeconds = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };

