/**
 * Dead letters: lines that should have been access logs but could not be read, kept with the reason,
 * where they came from and the original bytes, so nothing is dropped silently. The delivery stage
 * wires the sinks (a Kafka topic in production); this module gives the record, the writer interface
 * and a JSON-lines file writer for the embedded mode.
 */

import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface DeadLetter {
  readonly reason: string;
  /** `file:/path`, `stdin`, `kafka:topic`. */
  readonly source: string;
  /** 1-based line number, or `partition/offset`. */
  readonly position: string;
  /** The original input; base64 (with `rawEncoding: "base64"`) when it was not valid UTF-8. */
  readonly raw: string;
  readonly rawEncoding: 'utf8' | 'base64';
  /** When it was dead-lettered, ISO 8601. */
  readonly at: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function deadLetter(
  reason: string,
  source: string,
  position: string,
  raw: string | Buffer,
  now = new Date(),
): DeadLetter {
  let text: string;
  let rawEncoding: 'utf8' | 'base64' = 'utf8';
  if (typeof raw === 'string') {
    // A string decoded from invalid UTF-8 carries U+FFFD; lone surrogates are not representable either.
    text = raw;
    if (LONE_SURROGATE.test(raw)) {
      text = Buffer.from(raw, 'utf16le').toString('base64');
      rawEncoding = 'base64';
    }
  } else {
    const decoded = raw.toString('utf8');
    if (Buffer.from(decoded, 'utf8').equals(raw)) text = decoded;
    else {
      text = raw.toString('base64');
      rawEncoding = 'base64';
    }
  }
  return { reason, source, position, raw: text, rawEncoding, at: now.toISOString() };
}

export interface DeadLetterWriter {
  /** Buffers one dead letter; never throws for the record's content. */
  write(letter: DeadLetter): void;
  /** Resolves once everything written so far is durable (called before a batch is acked). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** One JSON object per line, appended to a file. */
export class JsonLinesDeadLetterWriter implements DeadLetterWriter {
  private readonly stream: WriteStream;
  private pending = '';

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'a' });
  }

  write(letter: DeadLetter): void {
    this.pending += `${JSON.stringify(letter)}\n`;
  }

  async flush(): Promise<void> {
    if (this.pending === '') return;
    const chunk = this.pending;
    this.pending = '';
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) =>
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
}

/** Collects in memory (tests, and the embedded demo). */
export class MemoryDeadLetterWriter implements DeadLetterWriter {
  readonly letters: DeadLetter[] = [];
  write(letter: DeadLetter): void {
    this.letters.push(letter);
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
