// Preloaded into the cesync child (`node --import ./bench/child-usage.ts bin/cesync.js ...`): when
// the process exits, writes its own resource usage (CPU time, peak RSS) and V8 heap figures to the
// file named by CESYNC_BENCH_USAGE. Nothing else changes in the child.
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const file = process.env['CESYNC_BENCH_USAGE'];
if (file) {
  let peakHeapUsed = 0;
  const timer = setInterval(() => {
    peakHeapUsed = Math.max(peakHeapUsed, process.memoryUsage().heapUsed);
  }, 100);
  timer.unref();
  process.on('exit', () => {
    const u = process.resourceUsage();
    const heap = v8.getHeapStatistics();
    writeFileSync(
      file,
      JSON.stringify({
        userCpuSeconds: u.userCPUTime / 1e6,
        systemCpuSeconds: u.systemCPUTime / 1e6,
        maxRssBytes: u.maxRSS * 1024,
        peakHeapUsedBytes: Math.max(peakHeapUsed, process.memoryUsage().heapUsed),
        heapSizeLimitBytes: heap.heap_size_limit,
      }),
    );
  });
}
