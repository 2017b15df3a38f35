/** System stats of agent.md §8.4 from Node's os module and /proc (no psutil). */
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem, uptime } from 'node:os';

const r1 = (n: number) => Math.round(n * 10) / 10;
const r2 = (n: number) => Math.round(n * 100) / 100;
const GB = 1024 ** 3;

function cpuTimes() {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

export async function systemStats(diskPath: string): Promise<Record<string, number | number[]>> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, 100));
  const b = cpuTimes();
  const dt = b.total - a.total;
  const out: Record<string, number | number[]> = {
    cpu_percent: dt > 0 ? r1(100 * (1 - (b.idle - a.idle) / dt)) : 0,
    load_avg: loadavg().map(r2),
    memory_percent: r1(100 * (1 - freemem() / totalmem())),
    memory_used_gb: r2((totalmem() - freemem()) / GB),
    memory_total_gb: r2(totalmem() / GB),
    uptime_seconds: Math.floor(uptime()),
  };
  try {
    const s = statfsSync(diskPath);
    const total = s.blocks * s.bsize;
    const used = (s.blocks - s.bfree) * s.bsize;
    Object.assign(out, {
      disk_percent: r1((100 * used) / total),
      disk_used_gb: r2(used / GB),
      disk_total_gb: r2(total / GB),
    });
  } catch {
    // no such path yet
  }
  try {
    let sent = 0;
    let recv = 0;
    for (const line of readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2)) {
      const [iface, rest] = line.split(':');
      if (!rest || iface?.trim() === 'lo') continue;
      const f = rest.trim().split(/\s+/).map(Number);
      recv += f[0] ?? 0;
      sent += f[8] ?? 0;
    }
    Object.assign(out, { net_bytes_sent: sent, net_bytes_recv: recv });
  } catch {
    // not Linux
  }
  return out;
}
