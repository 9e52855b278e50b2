// CPU pinning for the load runs: on a machine with at least two CPUs, workerd runs on CPU 0 and wrk on
// CPU 1 (util-linux `taskset`, which execs the command, so the process id — used for the CPU time from
// /proc — is the command's own). Without pinning, the scheduler's placement of the two busy processes
// changes from run to run and moves the results by several percent. BENCH_NO_PIN=1 turns it off.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

let available;
function canPin() {
  if (available === undefined) {
    available = false;
    if (!process.env.BENCH_NO_PIN && os.cpus().length >= 2) {
      try {
        execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
        available = true;
      } catch {
        available = false;
      }
    }
  }
  return available;
}

/** [command, args] to spawn `bin args` pinned to `cpu` when pinning is available. */
export function pinned(cpu, bin, args) {
  return canPin() ? ['taskset', ['-c', String(cpu), bin, ...args]] : [bin, args];
}

/** How the load runs are placed, for the report. */
export function pinningDescription() {
  return canPin() ? 'workerd pinned to CPU 0, wrk to CPU 1 (taskset)' : 'not pinned';
}
