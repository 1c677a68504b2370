/**
 * The server's log destination: pino's own (sonic-boom, which writes asynchronously and handles
 * `EAGAIN` on pipes and the flush at exit), with the lines of one event-loop turn handed to it as
 * one string.
 *
 * Why: sonic-boom measures its pending text with `Buffer.byteLength` on every write, which makes
 * V8 flatten the text accumulated so far. With the 4 KiB minimum write the server uses, every
 * access-log line copied up to 4 KB: under single-event load that was a seventh of all the bytes
 * the main thread allocated per request (≈ 5 KB of ≈ 35 KB), and the garbage collector's time with
 * it. Joining a turn's lines once costs one copy of each line.
 */
import { type DestinationStream, pino } from 'pino';

/** What the batcher writes to (sonic-boom, as `pino.destination` returns it). */
export interface LogSink {
  write(text: string): boolean;
  flush(cb?: (err?: Error | null) => void): void;
  flushSync(): void;
}

/** Text held for one hand-over at most (UTF-16 units); a turn that logs more hands it over at once. */
const MAX_HELD = 64 * 1024;

export class TurnBatchedDestination implements DestinationStream {
  #parts: string[] = [];
  #held = 0;
  #scheduled = false;

  constructor(private readonly sink: LogSink) {}

  write(line: string): void {
    this.#parts.push(line);
    this.#held += line.length;
    if (this.#held >= MAX_HELD) {
      this.#hand();
      return;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#hand);
    }
  }

  /**
   * Hands what is pending to the sink, then flushes the sink (pino's `logger.flush`). Without `cb`,
   * sonic-boom only starts writing what it buffers; with one it also waits for the write and fsyncs.
   */
  flush(cb?: (err?: Error | null) => void): void {
    this.#hand();
    this.sink.flush(cb);
  }

  flushSync(): void {
    this.#hand();
    this.sink.flushSync();
  }

  readonly #hand = (): void => {
    this.#scheduled = false;
    const parts = this.#parts;
    if (parts.length === 0) return;
    this.#parts = [];
    this.#held = 0;
    this.sink.write(parts.length === 1 ? parts[0]! : parts.join(''));
  };
}

/**
 * The server's destination: stdout through sonic-boom, asynchronous, in writes of at least 4 KiB
 * (one write per access-log line cost ≈ 3% of a busy server's main thread), batched per turn. Lines
 * logged in the turn the process exits in (an uncaught error, say) are written before it ends, as
 * pino does for its own destinations.
 */
export function serverLogDestination(fd = 1): TurnBatchedDestination {
  const sink = pino.destination({ dest: fd, sync: false, minLength: 4096 });
  const destination = new TurnBatchedDestination(sink);
  process.once('exit', () => {
    try {
      // No callback runs once the process exits, so an asynchronous write of the last lines could
      // be cut short on a non-blocking pipe (EAGAIN, or a partial write: seen with a 2.5 MB last
      // turn before hand-overs were capped at 64 KiB). sonic-boom reads `sync` on every write: from
      // here on it writes synchronously, retrying EAGAIN.
      (sink as unknown as { sync: boolean }).sync = true;
      destination.flushSync();
    } catch {
      // Nothing more can be done while exiting (stdout closed, say).
    }
  });
  return destination;
}
