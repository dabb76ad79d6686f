import { randomBytes } from 'node:crypto';

// Protocol v8 resume: a map stream that broke for a short while reconnects naming the
// last change it saw (epoch + seq), and gets one delta with only what changed since
// instead of a full netmap. This log remembers, per change, which node it was about;
// the hub turns "changed since" into upserts/removals for the resuming node.
// Bounded in entries and age: a gap older than either gets a full netmap, as does a gap
// that holds a policy edit (anyone's visibility may have moved).

/** How far back a stream can resume. */
export const RESUME_WINDOW_MS = 5 * 60_000;
export const MAX_LOG_ENTRIES = 200_000;

interface Entry {
  seq: number;
  at: number;
  /** The node the change was about; null: a policy edit. */
  key: string | null;
  /** The node's policy membership changed (its own visibility of everyone may differ). */
  wide: boolean;
}

export interface ResumePoint {
  epoch: string;
  seq: number;
}

/** `<epoch>.<seq>`: what RESUME_HEADER carries and a netmap's `epoch` + `seq` make. */
export function parseResumePoint(text: string): ResumePoint | null {
  const m = /^([0-9a-f]{16})\.(\d{1,15})$/.exec(text);
  return m ? { epoch: m[1], seq: Number(m[2]) } : null;
}

export class ChangeLog {
  /** Names this instance's seq numbering: another instance (or a restart) never resumes it. */
  readonly epoch = randomBytes(8).toString('hex');
  private readonly entries: Entry[] = [];
  private head = 0;

  record(seq: number, key: string | null, wide: boolean, now: number): void {
    this.entries.push({ seq, at: now, key, wide });
    if (this.entries.length - this.head > MAX_LOG_ENTRIES || now - this.entries[this.head].at > RESUME_WINDOW_MS) this.trim(now);
  }

  /**
   * The nodes changed after `from.seq` as seen by `self`: null when the stream must get a
   * full netmap (other epoch, gap too old, a policy edit or `self`'s own membership moved).
   */
  since(from: ResumePoint, current: number, self: string, now: number): Set<string> | null {
    if (from.epoch !== this.epoch || from.seq > current) return null;
    this.trim(now);
    const first = this.entries[this.head];
    // Nothing logged past the window: resumable only if nothing happened at all since.
    if (!first) return from.seq === current ? new Set() : null;
    if (first.seq > from.seq + 1) return null;
    const out = new Set<string>();
    for (let i = this.entries.length - 1; i >= this.head && this.entries[i].seq > from.seq; i--) {
      const e = this.entries[i];
      if (e.key === null || (e.wide && e.key === self)) return null;
      out.add(e.key);
    }
    return out;
  }

  private trim(now: number): void {
    while (this.head < this.entries.length && (this.entries.length - this.head > MAX_LOG_ENTRIES || now - this.entries[this.head].at > RESUME_WINDOW_MS)) this.head++;
    // Compact once the dead prefix dominates (amortized O(1) per entry).
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }
}
