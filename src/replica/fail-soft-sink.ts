// A writable that forwards to another until that one fails, then takes and drops the rest, so the
// stream feeding it is read to its end. Used for a COPY into row_image that may meet a stored key
// (23505): the source's `COPY ... TO STDOUT` must still be read whole, or its connection is left in
// copy mode for the next chunk. Postgres drops CopyData that arrives after it failed a COPY, so the
// writes already under way are harmless. Invariant: it finishes once the inner stream has finished
// or failed, and `failure` then holds the inner stream's error (null: it finished).
import { Writable } from 'node:stream';

export class FailSoftSink extends Writable {
  failure: Error | null = null;
  private onSettled: (() => void) | null = null;

  constructor(private readonly inner: Writable) {
    super();
    inner.on('error', (error: Error) => {
      this.failure ??= error;
      this.settle();
    });
    inner.on('drain', () => this.settle());
    inner.on('finish', () => this.settle());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure !== null || this.inner.write(chunk)) {
      callback();
      return;
    }
    this.onSettled = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.failure !== null || this.inner.writableFinished) {
      callback();
      return;
    }
    // A drain while ending is not the end: wait for finish or error.
    const check = () => {
      if (this.failure !== null || this.inner.writableFinished) callback();
      else this.onSettled = check;
    };
    this.onSettled = check;
    this.inner.end();
  }

  private settle(): void {
    const waiting = this.onSettled;
    this.onSettled = null;
    waiting?.();
  }
}
