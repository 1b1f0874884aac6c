/**
 * Checkpoints of a full sync, per token span. A span's progress moves past a batch only when
 * every write planned from that batch and from every earlier batch of the span has an outcome
 * from the target (acknowledged, refused as older, or rejected into the ledger). So a checkpoint
 * never runs ahead of acknowledged writes, whatever order bulk requests complete in.
 */
import type { SpanProgress } from './ports.js';
import type { ScanPosition } from './record.js';

export interface BatchTicket {
  readonly span: number;
  pending: number;
  sealed: boolean;
  readonly position: ScanPosition;
}

export class SpanCheckpoints {
  private readonly progress: SpanProgress[];
  private readonly queues: BatchTicket[][];

  constructor(spans: readonly SpanProgress[]) {
    this.progress = spans.map((s) => ({ ...s }));
    this.queues = spans.map(() => []);
  }

  /** A batch of `position.span` starts; writes planned from it are counted on its ticket. */
  begin(position: ScanPosition): BatchTicket {
    const ticket: BatchTicket = { span: position.span, pending: 0, sealed: false, position };
    this.queues[position.span]!.push(ticket);
    return ticket;
  }

  /** Every write of the batch has been handed to the sink. */
  seal(ticket: BatchTicket): void {
    ticket.sealed = true;
    this.advance(ticket.span);
  }

  /** One write of the batch has its outcome. */
  settle(ticket: BatchTicket): void {
    ticket.pending -= 1;
    this.advance(ticket.span);
  }

  /** Current progress of every span. */
  snapshot(): SpanProgress[] {
    return this.progress.map((s) => ({ ...s }));
  }

  private advance(span: number): void {
    const q = this.queues[span]!;
    while (q.length > 0 && q[0]!.sealed && q[0]!.pending === 0) {
      const { position } = q.shift()!;
      const cur = this.progress[span]!;
      this.progress[span] = position.last ? { start: cur.start, end: cur.end, done: true } : { ...cur, after: position.after };
    }
  }
}
