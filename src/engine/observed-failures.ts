/**
 * A failure sink that also tells an observer of each entry's class: every failure a run records
 * (a rejected document, a shape error, a missing id, ...) reaches the observer exactly once, as
 * it reaches the ledger.
 */
import type { FailureEntry, FailureSink, RunObserver } from './ports.js';

export function observedFailures(failures: FailureSink, observer: RunObserver | undefined): FailureSink {
  if (!observer) return failures;
  return {
    record(entry: FailureEntry) {
      failures.record(entry);
      observer.failure(entry.errorClass);
    },
    close: () => failures.close(),
  };
}
